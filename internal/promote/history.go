package promote

import (
	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
)

// FindRevision returns the index of the history entry the Promotion with uid
// made, or -1.
func FindRevision(env *batonv1alpha1.Environment, uid string) int {
	for i, r := range env.Status.History {
		if r.Promotion != nil && r.Promotion.UID == uid {
			return i
		}
	}
	return -1
}

// closeRevision sets the result of the open history entry promo made and
// takes the lease back from it.
func (x *decider) closeRevision(promo *batonv1alpha1.Promotion, result batonv1alpha1.RevisionResult, message string) {
	env := x.env
	if i := FindRevision(env, string(promo.UID)); i >= 0 && env.Status.History[i].Result == "" {
		h := &env.Status.History[i]
		h.Result, h.Message, h.FinishedAt = result, batonv1alpha1.RevisionMessage(message), x.now()
		if h.Commit == "" {
			// The commit that delivered it, for git delivery: the history
			// says where the revision is in the repository.
			h.Commit = promo.Status.Commit
		}
	}
	if a := env.Status.ActivePromotion; a != nil && a.UID == string(promo.UID) {
		env.Status.ActivePromotion = nil
	}
	x.envChanged = true
}

// markRolledBack records, on the Succeeded revision a rollback moved away
// from, that it was rolled back: the newest Succeeded entry before the
// rollback's own that ran the image the rollback replaced. It returns the
// Promotion that made that revision, or nil when it marked none.
func markRolledBack(env *batonv1alpha1.Environment, rollback *batonv1alpha1.Promotion) *batonv1alpha1.ObjectRef {
	own := FindRevision(env, string(rollback.UID))
	for i := own - 1; i >= 0; i-- {
		h := &env.Status.History[i]
		if !image.Same(h.Image, h.Digest, rollback.Status.PreviousImage, "") {
			continue
		}
		if h.Result != batonv1alpha1.RevisionSucceeded {
			return nil
		}
		h.Result = batonv1alpha1.RevisionRolledBack
		return h.Promotion
	}
	return nil
}
