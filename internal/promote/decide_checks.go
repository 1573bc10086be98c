package promote

import (
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

// checkVerdict is what the checks concluded: go on, wait for approvals, or fail.
type checkVerdict struct {
	ok, waiting     bool
	reason, message string
}

// checks is every check a resolved Promotion must pass to move on, in one
// place, run on the Input this reconcile read uncached: before it is queued,
// again when the lease is granted, and again right before delivery. Nothing
// decided at an earlier step is trusted at a later one: not a status written
// by someone else (phase Queued and an image), nor approvals counted under a
// policy since raised, nor an Environment since deleted and created again.
func (x *decider) checks() checkVerdict {
	p, env := x.p, x.env
	if p.Status.EnvironmentUID != string(env.UID) {
		return checkVerdict{reason: batonv1alpha1.EnvironmentReplacedReason, message: fmt.Sprintf(
			"spec.environment: Environment %q was deleted and created again since this Promotion resolved %s; its approvals and checks were for the old one. Create a new Promotion",
			env.Name, p.Status.Image)}
	}
	if err := Recheck(p, env, x.in.Upstream); err != nil {
		s, _ := outcome.AsStalled(err)
		return checkVerdict{reason: s.Reason, message: s.Message}
	}
	if x.handedOver() {
		return checkVerdict{ok: true}
	}
	ok, _, _, message := identity.ApprovalState(env, p)
	return checkVerdict{ok: ok, waiting: !ok, reason: batonv1alpha1.WaitingForApprovalReason, message: message}
}

// handedOver: an automatic rollback, which the failed Promotion's close-out
// handed the lease in the same write. It never went through the queue, and,
// as the manager's own decision, needs no approval; the lease proves it,
// since only Baton grants it.
func (x *decider) handedOver() bool {
	return IsRollback(x.p) && x.p.Status.QueuedAt == nil && x.holdsLease()
}

// Recheck tells whether a Promotion's frozen status.image may still move
// env: what Resolve accepted, judged again now. upstream is env's upstream
// as read now (nil when it does not exist); it is ignored for a rollback and
// an entry environment.
func Recheck(p *batonv1alpha1.Promotion, env, upstream *batonv1alpha1.Environment) error {
	img, digest := p.Status.Image, p.Status.Digest
	if c := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.StalledCondition); c != nil &&
		c.Status == metav1.ConditionTrue && (c.Reason == batonv1alpha1.WorkloadClaimedReason || c.Reason == batonv1alpha1.WorkloadListedTwiceReason) {
		// Another Environment moves that workload; in git mode nothing
		// else would stop this one from committing for it too.
		return outcome.Stall(c.Reason, "Environment %q: %s; nothing is delivered", env.Name, c.Message)
	}
	if IsRollback(p) {
		return recheckRollback(p, env)
	}
	if p.Spec.Image != "" && !sameImage(p.Spec.Image, img, digest) {
		return outcome.Stall(batonv1alpha1.ImageMismatchReason,
			"status.image %s is not spec.image %s: the status was written outside Baton, and nothing is delivered", img, p.Spec.Image)
	}
	if IsRejected(env, img, digest) && !IsDeliberate(p) {
		return outcome.Stall(batonv1alpha1.ImageRejectedReason,
			"%s was rolled back away from in Environment %q while this Promotion waited; to ship it again on purpose, create a Promotion that names it in spec.image and says why in spec.reason",
			img, env.Name)
	}
	if env.Spec.Upstream == "" {
		if p.Spec.Image == "" {
			return outcome.Stall(batonv1alpha1.ImageMismatchReason,
				"status.image %s was not resolved by Baton: Environment %q has no upstream, and spec.image is empty", img, env.Name)
		}
		return nil
	}
	if upstream == nil {
		return outcome.Stall(batonv1alpha1.UpstreamNotFoundReason,
			"upstream Environment %q of %q no longer exists, so nothing can show that %s is verified", env.Spec.Upstream, env.Name, img)
	}
	if !verifiedIn(upstream, img, digest) {
		return outcome.Stall(batonv1alpha1.UpstreamNotVerifiedReason,
			"status.image %s is not verified in upstream Environment %q (any more); nothing is delivered", img, upstream.Name)
	}
	return nil
}

// recheckRollback: the image is still that of a revision a rollback may
// return to, and a rollback that re-ships says why.
func recheckRollback(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) error {
	target := rollbackTarget(p, env)
	if target == nil {
		return outcome.Stall(batonv1alpha1.RevisionNotFoundReason,
			"spec.rollback: status.image %s is not the image of a Succeeded or Adopted revision of Environment %q (any more); nothing is delivered", p.Status.Image, env.Name)
	}
	return reshipNeedsReason(p, env, *target)
}

// rollbackTarget is the usable revision a rollback's status.image returns
// to: spec.rollback.toRevision, or, for 0, the newest with that image.
func rollbackTarget(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) *batonv1alpha1.Revision {
	for i := len(env.Status.History) - 1; i >= 0; i-- {
		r := env.Status.History[i]
		if !usableForRollback(r) || !sameImage(r.Image, p.Status.Image, p.Status.Digest) {
			continue
		}
		if n := p.Spec.Rollback.ToRevision; n == 0 || n == r.Revision {
			return &r
		}
	}
	return nil
}

// Reships reports whether a Promotion ships again what a person must decide
// on: an image this Environment rejected (rolled back away from), or, for a
// rollback, the adopted revision, which no Promotion ever approved.
func Reships(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	if IsRejected(env, p.Status.Image, p.Status.Digest) {
		return true
	}
	if !IsRollback(p) {
		return false
	}
	t := rollbackTarget(p, env)
	return t != nil && t.Result == batonv1alpha1.RevisionAdopted
}

// reshipNeedsReason: a rollback to a rejected image or to the adopted
// revision is a re-ship, and like a deliberate forward re-ship it says why in
// spec.reason; its approvals are those of any rollback (requireForRollback).
func reshipNeedsReason(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, target batonv1alpha1.Revision) error {
	if p.Spec.Reason != "" || !Reships(p, env) {
		return nil
	}
	why := "was rolled back away from here"
	if !IsRejected(env, target.Image, target.Digest) {
		why = "was adopted, and no Promotion ever approved it"
	}
	return outcome.Stall(batonv1alpha1.ImageRejectedReason,
		"spec.reason is required: revision %d runs %s, which %s; a rollback to it ships it again on purpose, so say why in spec.reason",
		target.Revision, target.Image, why)
}

func usableForRollback(r batonv1alpha1.Revision) bool {
	return r.Result == batonv1alpha1.RevisionSucceeded || r.Result == batonv1alpha1.RevisionAdopted
}

func sameImage(ref, img, digest string) bool { return image.Same(ref, "", img, digest) }

// verifiedIn: env verified the image.
func verifiedIn(env *batonv1alpha1.Environment, img, digest string) bool {
	for _, v := range env.Status.VerifiedImages {
		if image.Same(img, digest, v.Image, v.Digest) {
			return true
		}
	}
	return false
}
