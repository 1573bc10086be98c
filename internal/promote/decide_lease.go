package promote

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/workload"
)

// beforeLease: resolve, then the approval gate, then the queue.
func (x *decider) beforeLease() {
	p := x.p
	if x.holdsLease() {
		// The lease was taken, but the intent was not written yet. An
		// automatic rollback is handed the lease before it ever ran: its
		// history entry holds the image it resolved to.
		if i := FindRevision(x.env, string(p.UID)); i >= 0 && p.Status.Image == "" {
			rev := x.env.Status.History[i]
			p.Status.Image, p.Status.Digest = rev.Image, rev.Digest
			p.Status.EnvironmentUID = string(x.env.UID)
		}
		x.intent()
		return
	}
	switch {
	case p.Spec.Cancel:
		x.finish(batonv1alpha1.PromotionCanceled, batonv1alpha1.CanceledReason,
			fmt.Sprintf("Canceled by %s before it changed the target", userOf(p.Spec.CanceledBy)))
	case p.Status.Image == "":
		x.resolve()
	case p.Status.Phase != batonv1alpha1.PromotionQueued:
		x.gate()
	default:
		x.queue()
	}
}

// resolve freezes the image the Promotion moves to.
func (x *decider) resolve() {
	p, env := x.p, x.env
	upstream := x.in.Upstream
	if NeedsUpstream(p, env) && upstream == nil {
		x.setPhase(batonv1alpha1.PromotionPending, batonv1alpha1.UpstreamNotFoundReason,
			fmt.Sprintf("Environment %q names upstream %q, which does not exist; create it or fix spec.upstream of %q", env.Name, env.Spec.Upstream, env.Name))
		return
	}
	if !NeedsUpstream(p, env) {
		upstream = nil
	}
	res, err := Resolve(p, env, upstream)
	if w, ok := outcome.AsWaiting(err); ok {
		x.setPhase(batonv1alpha1.PromotionPending, w.Reason, w.Message)
		return
	}
	if s, ok := outcome.AsStalled(err); ok {
		x.finish(batonv1alpha1.PromotionFailed, s.Reason, s.Message)
		return
	}
	if needsRegistryDigest(p, env, res) {
		digest, ok := x.registryDigest(res)
		if !ok {
			return
		}
		res.Digest = digest
	}
	p.Status.Image, p.Status.Digest = res.Image, res.Digest
	p.Status.EnvironmentUID = string(env.UID)
	x.setPhase(batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason,
		fmt.Sprintf("Resolved %s; checking approvals", res.Image))
}

// gate holds the Promotion until it has the approvals its Environment
// needs, and fails it if its image may not move the Environment.
func (x *decider) gate() {
	p := x.p
	if !x.passes() {
		return
	}
	_, _, _, message := identity.ApprovalState(x.env, p)
	x.setCondition(batonv1alpha1.ApprovedCondition, metav1.ConditionTrue, batonv1alpha1.ApprovedReason, message)
	p.Status.QueuedAt = x.now()
	x.setPhase(batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason, "Waiting for the Environment's lease")
}

// passes runs the checks before the lease: a Promotion that fails them
// ends Failed, one that lacks approvals (again) waits for them.
func (x *decider) passes() bool {
	v := x.checks()
	switch {
	case v.waiting:
		x.setPhase(batonv1alpha1.PromotionWaitingForApproval, v.reason, v.message)
	case !v.ok:
		x.finish(batonv1alpha1.PromotionFailed, v.reason, v.message)
	}
	return v.ok
}

// queue takes the Environment's lease when this Promotion is first in line.
// A rollback first in line also preempts a Promotion that is RollingOut.
func (x *decider) queue() {
	p, env := x.p, x.env
	rollback := IsRollback(p)
	if env.Spec.Suspend && !rollback {
		x.setPhase(batonv1alpha1.PromotionQueued, batonv1alpha1.SuspendedReason,
			fmt.Sprintf("Environment %q is suspended: no new Promotion starts until spec.suspend is false (rollbacks still run)", env.Name))
		return
	}
	if h := x.held(p); h != nil {
		x.wait(h)
		return
	}
	// The cache may not have seen this Promotion's own Queued phase yet.
	// Those a window or freeze holds are not in line: an override or a
	// rollback goes past them.
	queue := slices.DeleteFunc(slices.Clone(x.in.Queue), func(q batonv1alpha1.Promotion) bool { return q.UID == p.UID || x.held(&q) != nil })
	queue = append(queue, *p)
	if head := Head(queue); head == nil || head.UID != p.UID {
		x.setPhase(batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
			fmt.Sprintf("Waiting behind Promotion %s in the queue of Environment %q", head.Name, env.Name))
		return
	}
	if !x.passes() {
		return
	}
	var preempted *batonv1alpha1.Promotion
	if holder := env.Status.ActivePromotion; holder != nil {
		if rollback {
			preempted = preemptible(x.in.Holder, holder)
		}
		if preempted == nil {
			x.setPhase(batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
				fmt.Sprintf("Waiting for Promotion %s, which holds the lease of Environment %q", holder.Name, env.Name))
			return
		}
		x.closeRevision(preempted, batonv1alpha1.RevisionSuperseded, fmt.Sprintf("Superseded by rollback Promotion %s", p.Name))
		x.event(corev1.EventTypeWarning, batonv1alpha1.SupersededReason, "Preempt",
			"Rollback %s preempted Promotion %s, which was rolling out %s", p.Name, preempted.Name, preempted.Status.Image)
	}
	x.grantLease(p)
	x.overridden(p)
	x.intent()
}

// preemptible returns the lease holder when a rollback may take the lease
// from it: a forward Promotion that is RollingOut or Verifying. A Promotion still
// Promoting is changing the target right now; the rollback waits for it.
func preemptible(holder *batonv1alpha1.Promotion, lease *batonv1alpha1.ObjectRef) *batonv1alpha1.Promotion {
	if holder == nil || string(holder.UID) != lease.UID || IsRollback(holder) ||
		(holder.Status.Phase != batonv1alpha1.PromotionRollingOut && holder.Status.Phase != batonv1alpha1.PromotionVerifying) {
		return nil
	}
	return holder
}

// grantLease gives the Environment's lease to promo and opens its history
// entry. A rollback rejects the image it moves away from. A re-ship (of a
// rejected image, or a rollback to the adopted revision) is recorded as
// such, and only a re-ship clears a rejection: the checks have let through
// only a deliberate one.
func (x *decider) grantLease(promo *batonv1alpha1.Promotion) {
	env := x.env
	reship := Reships(promo, env)
	ref := &batonv1alpha1.ObjectRef{Name: promo.Name, UID: string(promo.UID)}
	env.Status.ActivePromotion = ref
	env.Status.AppendRevision(batonv1alpha1.Revision{
		Revision:    env.Status.NextRevision(),
		Image:       promo.Status.Image,
		Digest:      promo.Status.Digest,
		Promotion:   ref,
		RequestedBy: userOf(promo.Spec.RequestedBy),
		ApprovedBy:  ApprovedBy(promo),
		Rollback:    IsRollback(promo),
		Reship:      reship,
		// Downstream Environments find the commit of this image here.
		SourceCommit: SourceCommit(promo),
		StartedAt:    x.now(),
		// A break-glass start is on the record of the revision it made.
		OverriddenBy:   overriddenBy(promo),
		OverrideReason: overrideReason(promo),
		// The set this revision moves: every workload, together.
		Workloads: workload.RefNames(env),
	}, env.HistoryLimitOrDefault())
	if reship {
		Unreject(env, promo.Status.Image, promo.Status.Digest)
	}
	if current := env.Status.Current; IsRollback(promo) && current != nil && !image.Same(current.Image, current.Digest, promo.Status.Image, promo.Status.Digest) {
		Reject(env, batonv1alpha1.RejectedImage{
			Image: current.Image, Digest: current.Digest, RejectedAt: metav1.NewTime(x.in.Now), Promotion: promo.Name,
		})
	}
	x.envChanged = true
}

// intent records, before anything changes, that this Promotion holds the
// lease and which revision it is about to make.
func (x *decider) intent() {
	p, env := x.p, x.env
	i := FindRevision(env, string(p.UID))
	if i < 0 {
		x.d.Err = fmt.Errorf("environment %s is leased to this Promotion but has no history entry for it", env.Name)
		return
	}
	p.Status.Revision = env.Status.History[i].Revision
	p.Status.StartedAt = x.now()
	// What the Environment runs as this Promotion starts, recorded before
	// anything changes: a resumed delivery compares against it to tell
	// AlreadyAtImage from its own earlier patch.
	p.Status.PreviousImage = ""
	if cur := env.Status.Current; cur != nil {
		p.Status.PreviousImage = cur.Image
	}
	if release.Runs(p, env) {
		x.setPhase(batonv1alpha1.PromotionReleasing, batonv1alpha1.ReleasingReason,
			fmt.Sprintf("Holds the lease of Environment %q; running the release Job %s with %s before any workload changes, as revision %d",
				env.Name, release.JobName(p.Name), p.Status.Image, p.Status.Revision))
	} else {
		x.setPhase(batonv1alpha1.PromotionPromoting, batonv1alpha1.ProgressingReason,
			fmt.Sprintf("Holds the lease of Environment %q; delivering %s as revision %d", env.Name, p.Status.Image, p.Status.Revision))
	}
	x.event(corev1.EventTypeNormal, batonv1alpha1.ProgressingReason, "Promoting",
		"Promoting %s to %s as revision %d, requested by %s, approved by %s", env.Name, p.Status.Image, p.Status.Revision,
		userOf(p.Spec.RequestedBy), OrNobody(ApprovedBy(p)))
}
