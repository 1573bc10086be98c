package promote

import (
	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
)

// NextRevision is the number the next history entry gets.
func NextRevision(env *batonv1alpha1.Environment) int64 {
	var n int64
	for _, r := range env.Status.History {
		n = max(n, r.Revision)
	}
	if env.Status.Current != nil {
		n = max(n, env.Status.Current.Revision)
	}
	return n + 1
}

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

// AppendRevision appends r and drops the oldest entries beyond limit.
func AppendRevision(env *batonv1alpha1.Environment, r batonv1alpha1.Revision) {
	env.Status.History = append(env.Status.History, r)
	if over := len(env.Status.History) - HistoryLimit(env); over > 0 {
		env.Status.History = append([]batonv1alpha1.Revision(nil), env.Status.History[over:]...)
	}
}

// DefaultHistoryLimit is spec.historyLimit when it is not set.
const DefaultHistoryLimit = 10

// HistoryLimit is how many history entries the Environment keeps.
func HistoryLimit(env *batonv1alpha1.Environment) int {
	if env.Spec.HistoryLimit > 0 {
		return int(env.Spec.HistoryLimit)
	}
	return DefaultHistoryLimit
}

// maxRevisionMessage bounds a history entry's message.
const maxRevisionMessage = 1024

// closeRevision sets the result of the open history entry promo made and
// takes the lease back from it.
func (x *decider) closeRevision(promo *batonv1alpha1.Promotion, result batonv1alpha1.RevisionResult, message string) {
	env := x.env
	if i := FindRevision(env, string(promo.UID)); i >= 0 && env.Status.History[i].Result == "" {
		h := &env.Status.History[i]
		h.Result, h.Message, h.FinishedAt = result, Truncate(message, maxRevisionMessage), x.now()
	}
	if a := env.Status.ActivePromotion; a != nil && a.UID == string(promo.UID) {
		env.Status.ActivePromotion = nil
	}
	x.envChanged = true
}

// markRolledBack records, on the Succeeded revision a rollback moved away
// from, that it was rolled back: the newest Succeeded entry before the
// rollback's own that ran the image the rollback replaced.
func markRolledBack(env *batonv1alpha1.Environment, rollback *batonv1alpha1.Promotion) {
	own := FindRevision(env, string(rollback.UID))
	for i := own - 1; i >= 0; i-- {
		h := &env.Status.History[i]
		if !image.Same(h.Image, h.Digest, rollback.Status.PreviousImage, "") {
			continue
		}
		if h.Result == batonv1alpha1.RevisionSucceeded {
			h.Result = batonv1alpha1.RevisionRolledBack
		}
		return
	}
}
