package promote

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

// DefaultRolloutTimeout is spec.rollout.timeout when it is not set.
const DefaultRolloutTimeout = 10 * time.Minute

// RolloutTimeout is how long a delivered Promotion waits for its rollout.
func RolloutTimeout(env *batonv1alpha1.Environment) time.Duration {
	if t := env.Spec.Rollout.Timeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return DefaultRolloutTimeout
}

// deliveredRef is the reference written to the target: pinned to the
// digest when the Environment asks for it.
func deliveredRef(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) string {
	if !env.Spec.Delivery.PinDigest {
		return p.Status.Image
	}
	return image.Pin(p.Status.Image, p.Status.Digest)
}

// promoting asks for the delivery, then records its outcome.
func (x *decider) promoting() {
	p, env := x.p, x.env
	if !x.holdsLease() {
		x.d.Err = fmt.Errorf("promotion is Promoting but Environment %s is leased to %v", env.Name, env.Status.ActivePromotion)
		return
	}
	out := x.in.Delivery
	if out == nil {
		if v := x.checks(); !v.ok {
			reason := v.reason
			if v.waiting {
				reason = batonv1alpha1.NotApprovedReason
			}
			x.closeOut(batonv1alpha1.PromotionFailed, reason, v.message+"; checked again right before delivery, nothing was changed")
			return
		}
		x.d.Action = Deliver
		x.d.Image = deliveredRef(p, env)
		return
	}
	x.d.Events = append(x.d.Events, out.Warnings...)
	// A tag that already ran here may name other bytes now than the digest
	// this Promotion froze: only the Pods can tell, so the rollout watch
	// judges it.
	if out.Err == nil && out.Found && image.Same(p.Status.PreviousImage, "", p.Status.Image, p.Status.Digest) && !ChecksPodDigest(p, env) {
		x.closeOut(batonv1alpha1.PromotionSucceeded, batonv1alpha1.AlreadyAtImageReason,
			fmt.Sprintf("Environment %q already runs %s; nothing was changed", env.Name, p.Status.Image))
		return
	}
	if w, ok := outcome.AsWaiting(out.Err); ok {
		// Delivered but not complete, such as a commit awaiting a merge:
		// stay Promoting, holding the lease, and look again later.
		p.Status.Commit = out.Record.Commit
		x.setPhase(batonv1alpha1.PromotionPromoting, w.Reason, w.Message)
		x.d.RequeueAfter = w.RequeueAfter
		return
	}
	if s, ok := outcome.AsStalled(out.Err); ok {
		x.closeOut(batonv1alpha1.PromotionFailed, s.Reason, s.Message)
		return
	}
	if out.Err != nil {
		x.d.Err = fmt.Errorf("deliver %s to Environment %s: %w", p.Status.Image, env.Name, out.Err)
		return
	}
	x.delivered(out)
}

func (x *decider) delivered(out *DeliveryOutcome) {
	p, env := x.p, x.env
	p.Status.Commit, p.Status.CommitURL, p.Status.Patch = out.Record.Commit, out.CommitURL, out.Record.Patch
	p.Status.DeliveredAt = x.now()
	ref := deliveredRef(p, env)
	x.setPhase(batonv1alpha1.PromotionRollingOut, batonv1alpha1.RolloutInProgressReason,
		fmt.Sprintf("Delivered %s to Environment %q; watching the rollout", ref, env.Name))
	what := out.Record.Commit
	if what == "" {
		what = out.Record.Patch
	}
	x.event(corev1.EventTypeNormal, batonv1alpha1.RolloutInProgressReason, "Deliver",
		"Delivered %s to %s as revision %d (%s)", ref, env.Name, p.Status.Revision, what)
	x.d.RequeueAfter = RolloutTimeout(env)
}

// Rollout is the verdict on a delivered Promotion's rollout.
type Rollout struct {
	// Phase is Succeeded or Failed once decided, "" while it goes on.
	Phase   batonv1alpha1.PromotionPhase
	Reason  string
	Message string
	// RequeueAfter is the time left before the timeout, while it goes on.
	RequeueAfter time.Duration
}

// JudgeRollout reads the Environment's status, which the Environment
// reconciler keeps from the workload: the Promotion succeeded when the
// Environment runs its image and is Ready for the current generation, and
// failed when the rollout of that image failed or did not finish in time.
//
// A Promotion that froze a digest but delivered a tag (pinDigest false)
// checks the bytes too: it succeeds only once the Pods report that digest,
// and fails with DigestMismatch when they run another one.
func JudgeRollout(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, redactedURL string, now time.Time) Rollout {
	cur := env.Status.Current
	atImage := cur != nil && image.Same(cur.Image, cur.Digest, p.Status.Image, p.Status.Digest)
	ready := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.ReadyCondition)
	readyNow := ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == env.Generation
	checkBytes := ChecksPodDigest(p, env)
	atTag := cur != nil && image.Same(cur.Image, "", deliveredRef(p, env), "")
	if checkBytes && atTag && readyNow {
		if m := digestMismatch(p, env); m != "" {
			return Rollout{Phase: batonv1alpha1.PromotionFailed, Reason: batonv1alpha1.DigestMismatchReason, Message: m}
		}
	}
	// Until the Pods report it, the digest is not known to be the one.
	atImage = atImage && (!checkBytes || cur.Digest == p.Status.Digest)
	switch {
	case atImage && readyNow:
		return Rollout{Phase: batonv1alpha1.PromotionSucceeded, Reason: batonv1alpha1.SucceededReason,
			Message: fmt.Sprintf("Environment %q runs %s, complete and available, as revision %d", env.Name, p.Status.Image, p.Status.Revision)}
	case atImage && ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == batonv1alpha1.RolloutFailedReason:
		return Rollout{Phase: batonv1alpha1.PromotionFailed, Reason: batonv1alpha1.RolloutFailedReason,
			Message: fmt.Sprintf("The rollout of %s in Environment %q failed: %s", p.Status.Image, env.Name, ready.Message)}
	}
	deadline := p.Status.DeliveredAt.Add(RolloutTimeout(env))
	if now.Before(deadline) {
		return Rollout{RequeueAfter: deadline.Sub(now)}
	}
	detail := "the workload reported nothing"
	if ready != nil {
		detail = ready.Message
	}
	if checkBytes && atTag && readyNow {
		detail = fmt.Sprintf("the rollout is complete, but its Pods never reported the digest they run (status.containerStatuses[].imageID), so Baton cannot tell that they run %s", p.Status.Digest)
	}
	if g := env.Spec.Delivery.Git; g != nil && p.Status.Commit != "" && !atImage {
		// Baton's part is done; the GitOps engine never applied it.
		detail = fmt.Sprintf("commit %.12s was pushed to branch %s of %s but never applied: the workload does not run %s (is Argo CD or Flux running and following that branch?)",
			p.Status.Commit, g.Branch, redactedURL, p.Status.Image)
	}
	return Rollout{Phase: batonv1alpha1.PromotionFailed, Reason: batonv1alpha1.RolloutTimeoutReason,
		Message: fmt.Sprintf("The rollout of %s in Environment %q did not complete within spec.rollout.timeout (%s): %s",
			p.Status.Image, env.Name, RolloutTimeout(env), detail)}
}

// ChecksPodDigest reports whether the Promotion's rollout is judged by the
// bytes its Pods run: it froze a digest but delivered a reference without
// one (delivery.pinDigest false), so the node pulls whatever the tag names
// when it starts a Pod.
func ChecksPodDigest(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return p.Status.Digest != "" && image.DigestOf(deliveredRef(p, env)) == ""
}

// digestMismatch says how the Pods' bytes differ from the frozen digest,
// or "" when they do not (yet).
func digestMismatch(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) string {
	cur := env.Status.Current
	if c := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.DriftedCondition); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason == batonv1alpha1.DigestsDisagreeReason {
		return fmt.Sprintf("Environment %q runs %s, but not all as %s, the digest this Promotion froze when it resolved: %s", env.Name, p.Status.Image, p.Status.Digest, c.Message)
	}
	if cur.Digest == "" || cur.Digest == p.Status.Digest {
		return ""
	}
	return fmt.Sprintf("Environment %q runs %s as %s, not %s, the digest this Promotion froze when it resolved: the tag was pushed again since, and the nodes pulled the new bytes. Set delivery.pinDigest to deliver the digest itself, or promote again",
		env.Name, p.Status.Image, cur.Digest, p.Status.Digest)
}

func (x *decider) rollingOut() {
	url := ""
	if g := x.env.Spec.Delivery.Git; g != nil {
		url = batongit.RedactURLs(g.URL)
	}
	v := JudgeRollout(x.p, x.env, url, x.in.Now)
	if v.Phase == "" {
		x.d.RequeueAfter = v.RequeueAfter
		return
	}
	if v.Phase == batonv1alpha1.PromotionSucceeded && watches(x.p, x.env) {
		x.startWatch(v.Message)
		return
	}
	x.closeOut(v.Phase, v.Reason, v.Message)
}

// closeOut ends a Promotion that holds the lease: it closes its history
// entry and releases the lease in one Environment write, then ends the
// Promotion. A forward Promotion whose rollout failed, in an Environment with
// autoRollback, hands the lease to its rollback in that same write: the
// first Decide asks for the rollback to be created, the next one, with
// Input.Rollback, hands it over.
func (x *decider) closeOut(phase batonv1alpha1.PromotionPhase, reason, message string) {
	p, env := x.p, x.env
	var rollback *batonv1alpha1.Promotion
	if wantsAutoRollback(p, env, phase) {
		rb, res, ok := autoRollbackFor(p, env, reason, message)
		switch {
		case !ok:
			message += ". autoRollback found no earlier Succeeded or Adopted revision to return to"
		default:
			if rollback = x.ownRollback(rb); rollback == nil {
				return
			}
			rollback.Status.Image, rollback.Status.Digest = res.Image, res.Digest
			message += fmt.Sprintf(". Rolling back to revision %d with Promotion %s", res.Revision, rollback.Name)
		}
	}
	result := revisionResult(phase, reason)
	x.closeRevision(p, result, message)
	if result == batonv1alpha1.RevisionFailed && !IsRollback(p) {
		x.pause(batonv1alpha1.ObjectRef{Name: p.Name, UID: string(p.UID)}, result, message)
	}
	if phase == batonv1alpha1.PromotionSucceeded && IsRollback(p) && reason != batonv1alpha1.AlreadyAtImageReason {
		if away := markRolledBack(env, p); away != nil {
			x.pause(*away, batonv1alpha1.RevisionRolledBack, "rolled back by Promotion "+p.Name)
		}
	}
	if rollback != nil {
		x.grantLease(rollback)
	}
	x.finish(phase, reason, message)
}

// wantsAutoRollback: a forward Promotion whose rollout failed, or whose
// checks breached during the watch, in an Environment that asks for it. A
// failed rollback never rolls back again.
func wantsAutoRollback(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, phase batonv1alpha1.PromotionPhase) bool {
	return env.Spec.Rollout.AutoRollback && phase == batonv1alpha1.PromotionFailed &&
		(p.Status.Phase == batonv1alpha1.PromotionRollingOut || p.Status.Phase == batonv1alpha1.PromotionVerifying) && !IsRollback(p)
}

// autoRollbackFor is the rollback Promotion for a failed one, resolved to
// the previous successful revision; ok is false when there is none. Its name
// is set by ownRollback.
func autoRollbackFor(failed *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, reason, message string) (*batonv1alpha1.Promotion, Resolution, bool) {
	rb := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: failed.Namespace},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: env.Name,
			Rollback:    &batonv1alpha1.RollbackSpec{},
			Reason:      Truncate(fmt.Sprintf("%s: Promotion %s failed (%s): %s", autoRollbackTag(failed), failed.Name, reason, message), 1024),
			RequestedBy: &batonv1alpha1.UserInfo{Username: ControllerUser},
		},
	}
	res, err := Resolve(rb, env, nil)
	if err != nil {
		return nil, res, false
	}
	rb.Spec.Rollback.ToRevision = res.Revision
	return rb, res, true
}

// autoRollbackTag starts the reason of the automatic rollback of failed:
// the reason is sealed by the admission marker, so it binds the rollback to
// this one failed Promotion (not one deleted and created again by name).
func autoRollbackTag(failed *batonv1alpha1.Promotion) string {
	return fmt.Sprintf("Automatic rollback of uid %s", failed.UID)
}

// ownRollback returns the automatic rollback to hand the lease to, once
// Baton created it and can prove it: under the name recorded in
// status.autoRollback (or <name>-rollback at first), asked for with
// CreateRollback, then checked. A Promotion someone else created under
// that name is never adopted: the next name, with a suffix no one can
// guess, is recorded first, then created. It returns nil after it asked
// for a step.
func (x *decider) ownRollback(want *batonv1alpha1.Promotion) *batonv1alpha1.Promotion {
	p := x.p
	want.Name = AutoRollbackName(p.Name, "")
	if p.Status.AutoRollback != nil {
		want.Name = p.Status.AutoRollback.Name
	}
	found := x.in.Rollback
	if found == nil || found.Name != want.Name {
		x.d.Action, x.d.Rollback = CreateRollback, want
		return nil
	}
	if err := provesOwn(found, want, x.in.RollbackNotAdmitted, x.in.Self); err != nil {
		next := AutoRollbackName(p.Name, x.in.Nonce)
		x.event(corev1.EventTypeWarning, batonv1alpha1.RollbackNameTakenReason, "AutoRollback",
			"Promotion %s was not created by Baton as the rollback of %s (%v): Baton does not adopt it, and rolls back with Promotion %s instead", found.Name, p.Name, err, next)
		p.Status.AutoRollback = &batonv1alpha1.ObjectRef{Name: next}
		return nil
	}
	p.Status.AutoRollback = &batonv1alpha1.ObjectRef{Name: found.Name, UID: string(found.UID)}
	return found.DeepCopy()
}

// provesOwn checks that found is the rollback Baton created for want: a
// rollback into the same Environment, to the same revision, for the same
// failed Promotion, requested by the manager itself as admission recorded
// it, with a marker that verifies.
func provesOwn(found, want *batonv1alpha1.Promotion, notAdmitted error, self string) error {
	requester := userOf(found.Spec.RequestedBy)
	switch {
	case notAdmitted != nil:
		return fmt.Errorf("its admission marker does not verify: %w", notAdmitted)
	case requester != ControllerUser && (self == "" || requester != self):
		return fmt.Errorf("it was requested by %s", requester)
	case found.Spec.Rollback == nil:
		return errors.New("it is not a rollback")
	case found.Spec.Environment != want.Spec.Environment:
		return fmt.Errorf("it is into Environment %q", found.Spec.Environment)
	case found.Spec.Rollback.ToRevision != want.Spec.Rollback.ToRevision:
		return fmt.Errorf("it returns to revision %d, not %d", found.Spec.Rollback.ToRevision, want.Spec.Rollback.ToRevision)
	case !strings.HasPrefix(found.Spec.Reason, strings.SplitN(want.Spec.Reason, ":", 2)[0]+":"):
		return errors.New("it is the rollback of another Promotion")
	}
	return nil
}

// AutoRollbackName is the name of the automatic rollback of the Promotion
// name: <name>-rollback, then <name>-rollback-<suffix> once that is taken,
// cut so that it is always a valid name.
func AutoRollbackName(name, suffix string) string {
	tail := "-rollback"
	if suffix != "" {
		tail += "-" + suffix
	}
	if max := validation.DNS1123SubdomainMaxLength - len(tail); len(name) > max {
		name = strings.TrimRight(name[:max], "-.")
	}
	return name + tail
}

func revisionResult(phase batonv1alpha1.PromotionPhase, reason string) batonv1alpha1.RevisionResult {
	switch {
	case reason == batonv1alpha1.AlreadyAtImageReason:
		return batonv1alpha1.RevisionAlreadyAtImage
	case phase == batonv1alpha1.PromotionSucceeded:
		return batonv1alpha1.RevisionSucceeded
	case phase == batonv1alpha1.PromotionSuperseded:
		return batonv1alpha1.RevisionSuperseded
	}
	return batonv1alpha1.RevisionFailed
}

// refuseCancel says why spec.cancel has no effect once the target changed.
func (x *decider) refuseCancel() {
	if !x.p.Spec.Cancel || x.p.Status.Phase.IsTerminal() {
		return
	}
	msg := "spec.cancel was refused: the target has already been changed. To undo it, create a rollback Promotion (spec.rollback: {})"
	if x.p.Status.Phase == batonv1alpha1.PromotionReleasing {
		msg = "spec.cancel was refused: the release Job runs, and may already have changed what it releases (a database migration, say), so Baton lets it finish. To undo a release that went through, create a rollback Promotion (spec.rollback: {})"
	}
	x.setCondition(batonv1alpha1.ReconcilingCondition, metav1.ConditionTrue, batonv1alpha1.CanceledReason, msg)
}
