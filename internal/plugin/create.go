package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// createFlags are the flags shared by promote and undo.
type createFlags struct {
	reason   string
	override string
	wait     bool
	timeout  time.Duration
	output   string
}

func (f *createFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.reason, "reason", "", "Why, in a few words; recorded in the history and the commit.")
	cmd.Flags().StringVar(&f.override, "override", "", "Break glass: start even during a freeze or outside the deploy windows, saying why (needs the override verb; docs/windows.md).")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "Follow the Promotion until it ends, printing each change of phase, the rollout progress and missing approvals.")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "With --wait, give up waiting after this long (0 waits forever). The Promotion carries on in the cluster.")
	outputFlag(cmd.Flags(), &f.output)
}

func (f *createFlags) validate() error {
	if f.timeout < 0 {
		return usageErrorf("--timeout must not be negative, got %s", f.timeout)
	}
	if f.wait && f.output != "" {
		return usageErrorf("--wait prints progress as text and cannot be combined with -o %s; drop one of them", f.output)
	}
	return checkOutput(f.output)
}

func newPromoteCommand(o *Options) *cobra.Command {
	var (
		image string
		flags createFlags
	)
	cmd := &cobra.Command{
		Use:   "promote ENV [--image IMAGE] [--reason TEXT] [--wait]",
		Short: "Promote an image into a Baton Environment, and approve, follow, cancel or undo Promotions",
		Long: `Create a Promotion into the Environment ENV and print its name.

Without --image, Baton promotes the newest image that ENV's upstream has
verified. The admission webhook records you as the requester; depending on
ENV's approval policy, someone else then approves with 'kubectl promote approve'.`,
		Example: `  # Promote what staging has verified into production
  kubectl promote production --reason "ship the new checkout"

  # Promote a given (verified) image and follow it to the end
  kubectl promote production --image registry.example.com/web:1.4.2 --wait

  # Print the created Promotion as YAML
  kubectl promote production -o yaml`,
		Args: exactArgs("ENV"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flags.validate(); err != nil {
				return err
			}
			if strings.ContainsAny(image, " \t\n") {
				return usageErrorf("--image %q contains whitespace; pass one image reference such as registry.example.com/web:1.4.2", image)
			}
			spec := batonv1alpha1.PromotionSpec{Environment: args[0], Image: image, Reason: flags.reason}
			return o.create(cmd.Context(), spec, flags)
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "Image to promote; it must be verified in the upstream Environment. Default: the upstream's newest verified image.")
	flags.add(cmd)
	return cmd
}

func newUndoCommand(o *Options) *cobra.Command {
	var (
		toRevision int64
		flags      createFlags
	)
	cmd := &cobra.Command{
		Use:   "undo ENV [--to-revision N] [--reason TEXT] [--wait]",
		Short: "Roll an Environment back to an earlier revision",
		Long: `Create a rollback Promotion into ENV, the way 'kubectl rollout undo' works:
back to the previous successful revision with another image than the one
running now, or to --to-revision N from
'kubectl promote history ENV'. A rollback goes ahead of every queued
Promotion and needs the rollback verb on the Environment.`,
		Example: `  # Roll production back to its previous successful revision
  kubectl promote undo production --reason "checkout errors"

  # Roll back to revision 3 and follow the rollout
  kubectl promote undo production --to-revision 3 --wait`,
		Args: exactArgs("ENV"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flags.validate(); err != nil {
				return err
			}
			if toRevision < 0 {
				return usageErrorf("--to-revision must be 0 (the previous successful revision) or a revision from 'kubectl promote history %s', got %d", args[0], toRevision)
			}
			spec := batonv1alpha1.PromotionSpec{
				Environment: args[0],
				Rollback:    &batonv1alpha1.RollbackSpec{ToRevision: toRevision},
				Reason:      flags.reason,
			}
			return o.create(cmd.Context(), spec, flags)
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to return to; 0 means the previous successful revision.")
	flags.add(cmd)
	return cmd
}

// create checks the Environment, creates the Promotion and, with --wait,
// follows it.
func (o *Options) create(ctx context.Context, spec batonv1alpha1.PromotionSpec, flags createFlags) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	if flags.override != "" {
		spec.Override = &batonv1alpha1.OverrideSpec{Reason: flags.override}
	}
	promo, env, err := CreatePromotion(ctx, c, ns, spec, o.Now())
	if err != nil {
		return err
	}
	if env.Spec.Suspend {
		fmt.Fprintf(o.ErrOut, "Warning: Environment %q is suspended: the Promotion will queue until spec.suspend is false (rollbacks still run).\n", env.Name)
	}
	if flags.output != "" {
		return o.printObject(promo, flags.output)
	}
	fmt.Fprintln(o.Out, promo.Name)
	if !flags.wait {
		fmt.Fprintf(o.ErrOut, "Follow it with: kubectl promote status %s -n %s\n", promo.Name, ns)
		return nil
	}
	return o.wait(ctx, c, promo, flags.timeout)
}

// CreatePromotion is what `kubectl promote ENV` and `kubectl promote undo
// ENV` do, and what the dashboard's Promote and Roll back buttons do: it
// reads the Environment, refuses what the engine would refuse anyway, and
// creates the Promotion under a fresh name, as the client's user. It returns
// the created Promotion (with what the webhook stamped) and the Environment.
// A refusal says what the action needs and how to check it.
func CreatePromotion(ctx context.Context, c client.Client, ns string, spec batonv1alpha1.PromotionSpec, now time.Time) (*batonv1alpha1.Promotion, *batonv1alpha1.Environment, error) {
	env, err := getEnvironment(ctx, c, ns, spec.Environment)
	if err != nil {
		return nil, nil, err
	}
	if err := checkCreate(env, spec); err != nil {
		return nil, nil, err
	}
	verb, kind := "promote", "promotion"
	if spec.Rollback != nil {
		verb, kind = "rollback", "rollback"
	}
	promo := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns}, Spec: spec}
	// The webhook refuses generateName, so the name is made here; a clash is
	// unlikely and simply retried with new random characters.
	for attempt := 0; ; attempt++ {
		promo.Name = promotionName(spec.Environment, kind, now, utilrand.String(4))
		err = c.Create(ctx, promo)
		if err == nil || !apierrors.IsAlreadyExists(err) || attempt == 2 {
			break
		}
	}
	if err != nil {
		err = denied(err, fmt.Sprintf("Creating it needs create on promotions and the %q verb on environments/%s; check with `kubectl auth can-i %s environments/%s -n %s`",
			verb, spec.Environment, verb, spec.Environment, ns))
		return nil, nil, fmt.Errorf("create a Promotion into Environment %q: %w", spec.Environment, err)
	}
	return promo, env, nil
}

// checkCreate refuses what the engine would refuse anyway, before anything
// is created.
func checkCreate(env *batonv1alpha1.Environment, spec batonv1alpha1.PromotionSpec) error {
	if spec.Rollback == nil && spec.Image == "" && env.Spec.Upstream == "" {
		return usageErrorf("Environment %q has no upstream, so there is no verified image to promote by default; pass --image IMAGE", env.Name)
	}
	if spec.Rollback == nil || spec.Rollback.ToRevision == 0 || len(env.Status.History) == 0 {
		return nil
	}
	var kept []string
	for _, r := range env.Status.History {
		if r.Revision == spec.Rollback.ToRevision {
			return nil
		}
		kept = append(kept, fmt.Sprint(r.Revision))
	}
	return usageErrorf("revision %d is not in the history of Environment %q, which keeps revisions %s; pick one from 'kubectl promote history %s'",
		spec.Rollback.ToRevision, env.Name, strings.Join(kept, ", "), env.Name)
}

// promotionName is <env>-<yyyymmdd-hhmmss>-<rand> (with "rollback" after
// the Environment for a rollback), in UTC, shortened to a valid name.
func promotionName(env, kind string, now time.Time, random string) string {
	suffix := now.UTC().Format("20060102-150405") + "-" + random
	if kind == "rollback" {
		suffix = "rollback-" + suffix
	}
	maxEnv := validation.DNS1123SubdomainMaxLength - len(suffix) - 1
	if len(env) > maxEnv {
		env = strings.TrimRight(env[:maxEnv], "-.")
	}
	return env + "-" + suffix
}

// getEnvironment reads an Environment and says what to do when it cannot.
// connectEnvironment connects and reads the Environment name.
func (o *Options) connectEnvironment(ctx context.Context, name string) (client.Client, string, *batonv1alpha1.Environment, error) {
	c, ns, err := o.connect()
	if err != nil {
		return nil, "", nil, err
	}
	env, err := getEnvironment(ctx, c, ns, name)
	return c, ns, env, err
}

func getEnvironment(ctx context.Context, c client.Client, ns, name string) (*batonv1alpha1.Environment, error) {
	env := &batonv1alpha1.Environment{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, env)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("Environment %q not found in namespace %s; list them with `kubectl get environments -n %s`, or pass --namespace", name, ns, ns)
	case err != nil:
		return nil, denied(fmt.Errorf("read Environment %q: %w", name, err),
			readHint("environments", ns))
	}
	return env, nil
}
