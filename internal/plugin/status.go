package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/dora"
	"github.com/baton-dev/baton/internal/identity"
)

func newStatusCommand(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status ENV|PROMOTION",
		Short: "Show an Environment's current image and its Promotions, or one Promotion, and why each waits",
		Long: `Show what an Environment runs (image and revision), the Promotion holding
its lease and the ones queued behind it, and why each one waits: the image is
not verified upstream yet, approvals are missing, or another Promotion holds
the lease. Given a Promotion instead, show it in detail.

A name is looked up as an Environment first, then as a Promotion.`,
		Example: `  # What runs in production, and what is on its way
  kubectl promote status production

  # One Promotion in detail
  kubectl promote status production-20261126-101500-k3x9

  # The Environment and its unfinished Promotions as YAML
  kubectl promote status production -o yaml`,
		Args: exactArgs("ENV|PROMOTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return o.status(cmd.Context(), args[0], output)
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func (o *Options) status(ctx context.Context, name, output string) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	env := &batonv1alpha1.Environment{}
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, env)
	if err == nil {
		promos, err := ListPromotions(ctx, c, ns, env.Name)
		if err != nil {
			return err
		}
		unfinished := unfinishedPromotions(promos)
		if output != "" {
			objs := []runtime.Object{env}
			for i := range unfinished {
				objs = append(objs, &unfinished[i])
			}
			return o.printList(objs, output)
		}
		if err := writeEnvironmentStatus(o.Out, env, o.upstream(ctx, c, env), unfinished, readRollouts(ctx, c, env), o.Now()); err != nil {
			return err
		}
		return writeGuardrails(o.Out, readGuardrails(ctx, c, ns), env, o.Now())
	}
	if !apierrors.IsNotFound(err) {
		return denied(fmt.Errorf("read Environment %s: %w", name, err), readHint("environments", ns))
	}
	promo := &batonv1alpha1.Promotion{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, promo); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("there is no Environment nor Promotion named %q in namespace %s; list them with `kubectl get environments,promotions -n %s`", name, ns, ns)
		}
		return denied(fmt.Errorf("read Promotion %s: %w", name, err), readHint("promotions", ns))
	}
	if output != "" {
		return o.printObject(promo, output)
	}
	penv := &batonv1alpha1.Environment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: promo.Spec.Environment}, penv); err != nil {
		penv = nil
	}
	return writePromotionStatus(o.Out, promo, penv, o.Now())
}

// upstream reads env's upstream for the lead time of the delivery summary;
// nil for an entry Environment, or when it cannot be read.
func (o *Options) upstream(ctx context.Context, c client.Client, env *batonv1alpha1.Environment) *batonv1alpha1.Environment {
	if env.Spec.Upstream == "" {
		return nil
	}
	up := &batonv1alpha1.Environment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: env.Spec.Upstream}, up); err != nil {
		return nil
	}
	return up
}

// unfinishedPromotions keeps the Promotions that are not terminal, in queue
// order.
func unfinishedPromotions(promos []batonv1alpha1.Promotion) []batonv1alpha1.Promotion {
	var out []batonv1alpha1.Promotion
	for _, p := range promos {
		if !p.Status.Phase.IsTerminal() {
			out = append(out, p)
		}
	}
	return out
}

// writeEnvironmentStatus prints what an Environment runs, the Promotion
// holding its lease, and the ones waiting, each with why it waits. promos
// are the Environment's unfinished Promotions in queue order; upstream, when
// not nil, gives the delivery summary its lead time.
func writeEnvironmentStatus(out io.Writer, env, upstream *batonv1alpha1.Environment, promos []batonv1alpha1.Promotion, rollouts []string, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintf(w, "Environment:\t%s\n", env.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", env.Namespace)
	fmt.Fprintf(w, "Upstream:\t%s\n", orText(env.Spec.Upstream, "none (entry environment)"))
	if cur := env.Status.Current; cur != nil {
		fmt.Fprintf(w, "Image:\t%s\n", cur.Image)
		rev := "-"
		if cur.Revision > 0 {
			rev = fmt.Sprint(cur.Revision)
		}
		if cur.Since != nil {
			rev += fmt.Sprintf(" (running for %s)", age(cur.Since, now))
		}
		fmt.Fprintf(w, "Revision:\t%s\n", rev)
	} else {
		fmt.Fprintf(w, "Image:\tunknown: Baton has not observed the workload yet\n")
	}
	writeWorkloads(w, env, rollouts)
	fmt.Fprintf(w, "Approvals:\t%s\n", ApprovalPolicy(env))
	fmt.Fprintf(w, "Delivery:\t%s\n", dora.Summarize(env, upstream, now))
	if env.Spec.Suspend {
		fmt.Fprintf(w, "Suspended:\ttrue: new Promotions queue until spec.suspend is false\n")
	}
	writeConditions(w, env.Status.Conditions)
	writeChecks(w, env, now)

	var active *batonv1alpha1.Promotion
	var queued []batonv1alpha1.Promotion
	for i := range promos {
		p := &promos[i]
		if HoldsLease(env, p) {
			active = p
			continue
		}
		queued = append(queued, *p)
	}
	fmt.Fprintln(w)
	if active == nil {
		lease := "none"
		if ap := env.Status.ActivePromotion; ap != nil {
			lease = ap.Name + " (not found)"
		}
		fmt.Fprintf(w, "Active Promotion:\t%s\n", lease)
	} else {
		fmt.Fprintf(w, "Active Promotion:\n")
		writePromotionLine(w, "  ", active, env, now)
		writeRelease(w, "    ", active, env, now)
	}
	if len(queued) == 0 {
		fmt.Fprintf(w, "Waiting Promotions:\tnone\n")
	} else {
		fmt.Fprintf(w, "Waiting Promotions (%d), in the order Baton takes them:\n", len(queued))
		for i := range queued {
			writePromotionLine(w, fmt.Sprintf("  %d. ", i+1), &queued[i], env, now)
		}
	}
	return w.Flush()
}

func writePromotionLine(w io.Writer, prefix string, p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, now time.Time) {
	fmt.Fprintf(w, "%s%s  %s  %s  (requested by %s, %s ago)\n", prefix, p.Name, PhaseOf(p), TargetOf(p), requester(p), age(&p.CreationTimestamp, now))
	fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", len(prefix)+2), WaitingFor(p, env))
}

// writePromotionStatus prints one Promotion in detail. env may be nil when
// it cannot be read.
func writePromotionStatus(out io.Writer, p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintf(w, "Promotion:\t%s\n", p.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", p.Namespace)
	fmt.Fprintf(w, "Environment:\t%s\n", p.Spec.Environment)
	phase := PhaseOf(p)
	if p.Status.PhaseSince != nil {
		phase += fmt.Sprintf(" (for %s)", age(p.Status.PhaseSince, now))
	}
	fmt.Fprintf(w, "Phase:\t%s\n", phase)
	fmt.Fprintf(w, "Target:\t%s\n", TargetOf(p))
	if p.Status.Image != "" && p.Spec.Rollback != nil {
		fmt.Fprintf(w, "Image:\t%s\n", p.Status.Image)
	}
	if p.Status.PreviousImage != "" {
		fmt.Fprintf(w, "Previous image:\t%s\n", p.Status.PreviousImage)
	}
	if p.Spec.Reason != "" {
		fmt.Fprintf(w, "Reason:\t%s\n", p.Spec.Reason)
	}
	fmt.Fprintf(w, "Requested by:\t%s (%s ago)\n", requester(p), age(&p.CreationTimestamp, now))
	if len(p.Spec.Approvals) == 0 {
		fmt.Fprintf(w, "Approved by:\tnobody yet\n")
	}
	for i, a := range p.Spec.Approvals {
		label := ""
		if i == 0 {
			label = "Approved by:"
		}
		fmt.Fprintf(w, "%s\t%s for %s (%s ago)\n", label, a.Username, a.Image, age(&a.ApprovedAt, now))
	}
	if p.Spec.Cancel {
		by := "-"
		if p.Spec.CanceledBy != nil {
			by = p.Spec.CanceledBy.Username
		}
		fmt.Fprintf(w, "Canceled by:\t%s\n", by)
	}
	if p.Status.Revision > 0 {
		fmt.Fprintf(w, "Revision:\t%d\n", p.Status.Revision)
	}
	if p.Status.Commit != "" {
		fmt.Fprintf(w, "Commit:\t%s\n", p.Status.Commit)
	}
	if p.Status.Patch != "" {
		fmt.Fprintf(w, "Patch:\t%s\n", p.Status.Patch)
	}
	verb := "Waiting for:"
	if p.Status.Phase.IsTerminal() {
		verb = "Result:"
	} else if holdsTarget(p.Status.Phase) {
		verb = "Progress:"
	}
	fmt.Fprintf(w, "%s\t%s\n", verb, WaitingFor(p, env))
	writeRelease(w, "", p, env, now)
	writeConditions(w, p.Status.Conditions)
	return w.Flush()
}

func writeConditions(w io.Writer, conds []metav1.Condition) {
	if len(conds) == 0 {
		return
	}
	fmt.Fprintf(w, "Conditions:\n")
	for _, c := range conds {
		msg := c.Reason
		if c.Message != "" {
			msg += ": " + c.Message
		}
		fmt.Fprintf(w, "  %s=%s\t%s\n", c.Type, c.Status, msg)
	}
}

// WaitingFor says, in one line, why a Promotion is where it is: from its
// conditions, and for missing approvals from the Environment's policy.
func WaitingFor(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) string {
	ready := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition)
	describe := func(c *metav1.Condition) string {
		if c.Message == "" {
			return c.Reason
		}
		return c.Reason + ": " + c.Message
	}
	if p.Status.Phase.IsTerminal() {
		if ready != nil {
			return describe(ready)
		}
		return string(p.Status.Phase)
	}
	if stalled := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.StalledCondition); stalled != nil && stalled.Status == metav1.ConditionTrue {
		return "stalled, a person must act: " + describe(stalled)
	}
	if p.Status.Phase == batonv1alpha1.PromotionWaitingForApproval && env != nil {
		ok, have, need, _ := identity.ApprovalState(env, p)
		switch {
		case !ok && p.Status.Image == "":
			return fmt.Sprintf("the image is not resolved yet; then %d approval(s) are needed", need)
		case !ok:
			return fmt.Sprintf("%d more approval(s) (%d of %d for %s) from someone with the %q verb on environments/%s: kubectl promote approve %s",
				need-have, have, need, p.Status.Image, identity.VerbApprove, env.Name, p.Name)
		}
	}
	if p.Status.Phase == batonv1alpha1.PromotionQueued && env != nil && env.Status.ActivePromotion != nil &&
		env.Status.ActivePromotion.Name != p.Name && (ready == nil || ready.Message == "") {
		return fmt.Sprintf("the lease of Environment %q, held by Promotion %s", env.Name, env.Status.ActivePromotion.Name)
	}
	if ready != nil {
		return describe(ready)
	}
	return "Baton has not picked it up yet; check that the manager is running (kubectl get pods -n baton-system)"
}

// HoldsLease reports whether p holds env's lease, or has already changed its
// target.
func HoldsLease(env *batonv1alpha1.Environment, p *batonv1alpha1.Promotion) bool {
	ap := env.Status.ActivePromotion
	if ap != nil && ap.Name == p.Name && (ap.UID == "" || ap.UID == string(p.UID)) {
		return true
	}
	return holdsTarget(p.Status.Phase)
}

// holdsTarget: a Promotion in this phase is changing its Environment, or
// watching what it changed.
func holdsTarget(phase batonv1alpha1.PromotionPhase) bool {
	switch phase {
	case batonv1alpha1.PromotionReleasing, batonv1alpha1.PromotionPromoting, batonv1alpha1.PromotionRollingOut, batonv1alpha1.PromotionVerifying:
		return true
	}
	return false
}

// PhaseOf is p's phase, "New" before Baton has picked it up.
func PhaseOf(p *batonv1alpha1.Promotion) string {
	if p.Status.Phase == "" {
		return "New"
	}
	return string(p.Status.Phase)
}

// TargetOf is what a Promotion moves to, as far as it is known.
func TargetOf(p *batonv1alpha1.Promotion) string {
	switch {
	case p.Spec.Rollback != nil && p.Spec.Rollback.ToRevision > 0:
		return fmt.Sprintf("rollback to revision %d", p.Spec.Rollback.ToRevision)
	case p.Spec.Rollback != nil:
		return "rollback to the previous successful revision"
	case p.Status.Image != "":
		return p.Status.Image
	case p.Spec.Image != "":
		return p.Spec.Image
	}
	return "the upstream's newest verified image"
}

// writeWorkloads prints the workload, or one line per workload, each with
// its rollout when it could be read (rollouts, in spec order).
func writeWorkloads(w io.Writer, env *batonv1alpha1.Environment, rollouts []string) {
	refs := env.WorkloadRefs()
	line := func(i int) string {
		s := workloadName(env, refs[i])
		if i < len(rollouts) && rollouts[i] != "" {
			s += ": " + rollouts[i]
		}
		return s
	}
	if c := env.Spec.Cluster; c != nil {
		server := "not reached yet"
		if env.Status.Cluster != nil && env.Status.Cluster.Server != "" {
			server = env.Status.Cluster.Server
		}
		fmt.Fprintf(w, "Cluster:\t%s (kubeconfig Secret %s)\n", server, c.KubeConfig.SecretRef.Name)
	}
	if len(refs) == 1 {
		fmt.Fprintf(w, "Workload:\t%s\n", line(0))
		return
	}
	fmt.Fprintf(w, "Workloads:\t%d, moved together\n", len(refs))
	for i := range refs {
		fmt.Fprintf(w, "  %s\n", line(i))
	}
}

// readRollouts reads each workload's rollout progress, in spec order; a
// workload the user may not read says so.
func readRollouts(ctx context.Context, c client.Client, env *batonv1alpha1.Environment) []string {
	if env.Spec.Cluster != nil {
		// They run in another cluster, which this kubeconfig may not reach:
		// the Environment's conditions say how they are.
		return nil
	}
	var out []string
	for _, ref := range env.WorkloadRefs() {
		progress, err := workloadProgress(ctx, c, env, ref)
		if err != nil {
			progress = "rollout not shown (" + string(apierrors.ReasonForError(err)) + ")"
		}
		out = append(out, progress)
	}
	return out
}

func workloadName(env *batonv1alpha1.Environment, wl batonv1alpha1.WorkloadReference) string {
	name := strings.ToLower(string(wl.Kind)) + "/" + wl.Name
	if wl.Namespace != "" && wl.Namespace != env.Namespace {
		name += " in namespace " + wl.Namespace
	}
	containers := wl.ContainerNames()
	if len(containers) == 1 {
		return name + ", container " + containers[0]
	}
	return name + ", containers " + strings.Join(containers, ", ")
}

// ApprovalPolicy says in words what an Environment's approval policy asks.
func ApprovalPolicy(env *batonv1alpha1.Environment) string {
	a := env.Spec.Approval
	if a.Required <= 0 {
		return "none required"
	}
	s := fmt.Sprintf("%d required", a.Required)
	if a.AllowSelfApproval {
		s += ", self-approval allowed"
	}
	if a.RequireForRollback {
		s += ", rollbacks too"
	}
	return s
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
