package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// freezeHint is what freezing needs, for a refusal.
const freezeHint = "Freezing and unfreezing need the freeze verb on environments (the baton-freezer role); check with `kubectl auth can-i freeze environments.promotion.baton.dev`"

// freezeScope is what a freeze command acts on: one Environment, the whole
// namespace (--all) or the cluster (--cluster).
type freezeScope struct {
	all, cluster bool
}

func (s *freezeScope) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&s.all, "all", false, "Every Environment in the namespace, instead of one.")
	cmd.Flags().BoolVar(&s.cluster, "cluster", false, "Every Environment in the cluster (a ClusterFreeze; needs the freeze verb cluster-wide).")
}

// env is the Environment argument, or "" for --all and --cluster.
func (s *freezeScope) env(cmd *cobra.Command, args []string) (string, error) {
	switch {
	case s.all && s.cluster:
		return "", usageErrorf("--all and --cluster are exclusive; see '%s --help'", cmd.CommandPath())
	case (s.all || s.cluster) && len(args) == 0:
		return "", nil
	case !s.all && !s.cluster && len(args) == 1:
		return args[0], nil
	}
	return "", usageErrorf("%s expects ENV, or --all, or --cluster; see '%s --help'", cmd.CommandPath(), cmd.CommandPath())
}

// arg is the command-line form of the scope, for a hint.
func (s *freezeScope) arg(env string) string {
	switch {
	case s.cluster:
		return "--cluster"
	case env == "":
		return "--all"
	}
	return env
}

func newFreezeCommand(o *Options) *cobra.Command {
	var (
		scope  freezeScope
		reason string
	)
	cmd := &cobra.Command{
		Use:   "freeze [ENV|--all|--cluster] --reason TEXT",
		Short: "Stop new Promotions at once, until unfrozen",
		Long: `Create a Freeze: no new Promotion into ENV (or any Environment in the
namespace with --all, or in the cluster with --cluster) starts until it is
lifted with 'kubectl promote unfreeze'. autoPromote and merges to main still
create their Promotions; they wait Queued and run when the freeze lifts. A
Promotion already rolling out finishes; rollbacks still run unless the
Environment sets freeze.blockRollbacks. The webhook records you as frozenBy.`,
		Example: `  # Stop deploys to production during an incident
  kubectl promote freeze production --reason "INC-4711: payments are down"

  # Stop every Environment in the namespace
  kubectl promote freeze --all --reason "DR drill until 14:00"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := scope.env(cmd, args)
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErrorf("--reason is required: say why deploys stop, for everyone whose Promotion waits")
			}
			return o.freeze(cmd.Context(), scope, env, reason)
		},
	}
	scope.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "Why deploys stop (required); shown on every Promotion that waits.")
	return cmd
}

func (o *Options) freeze(ctx context.Context, scope freezeScope, env, reason string) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	prefix := orText(env, "all")
	name := fmt.Sprintf("%s-%s-%s", prefix, o.Now().UTC().Format("20060102-150405"), utilrand.String(4))
	spec := batonv1alpha1.FreezeSpec{Environment: env, Reason: reason}
	var obj client.Object = &batonv1alpha1.Freeze{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if scope.cluster {
		obj = &batonv1alpha1.ClusterFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	if env != "" {
		if _, err := getEnvironment(ctx, c, ns, env); err != nil {
			return err
		}
	}
	if err := c.Create(ctx, obj); err != nil {
		return denied(fmt.Errorf("create the freeze: %w", err), freezeHint)
	}
	fmt.Fprintln(o.Out, name)
	fmt.Fprintf(o.ErrOut, "Frozen. Lift it with: kubectl promote unfreeze %s\n", scope.arg(env))
	return nil
}

func newUnfreezeCommand(o *Options) *cobra.Command {
	var scope freezeScope
	cmd := &cobra.Command{
		Use:   "unfreeze [ENV|--all|--cluster]",
		Short: "Lift the freezes of an Environment, the namespace or the cluster",
		Long: `Set spec.lifted on every freeze in force of ENV (those that name it), of the
namespace (--all: those that name no Environment) or of the cluster
(--cluster). The freezes stay as the record: the webhook stamps you as
liftedBy. Waiting Promotions then start, in queue order.`,
		Example: `  kubectl promote unfreeze production
  kubectl promote unfreeze --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := scope.env(cmd, args)
			if err != nil {
				return err
			}
			return o.unfreeze(cmd.Context(), scope, env)
		},
	}
	scope.add(cmd)
	return cmd
}

func (o *Options) unfreeze(ctx context.Context, scope freezeScope, env string) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	var targets []client.Object
	if scope.cluster {
		var list batonv1alpha1.ClusterFreezeList
		if err := c.List(ctx, &list); err != nil {
			return denied(fmt.Errorf("list ClusterFreezes: %w", err), freezeHint)
		}
		for i := range list.Items {
			if !list.Items[i].Spec.Lifted {
				targets = append(targets, &list.Items[i])
			}
		}
	} else {
		var list batonv1alpha1.FreezeList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return denied(fmt.Errorf("list Freezes: %w", err), freezeHint)
		}
		for i := range list.Items {
			if f := &list.Items[i]; !f.Spec.Lifted && f.Spec.Environment == env {
				targets = append(targets, f)
			}
		}
	}
	if len(targets) == 0 {
		return failedErrorf("no freeze in force for %s; see them with `kubectl get freezes,clusterfreezes`", orText(env, "this scope"))
	}
	for _, t := range targets {
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"lifted":true}}`))
		if err := c.Patch(ctx, t, patch); err != nil {
			return denied(fmt.Errorf("lift %s: %w", t.GetName(), err), freezeHint)
		}
		fmt.Fprintln(o.Out, t.GetName())
	}
	return nil
}
