package promote

import (
	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
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
	limit := int(env.Spec.HistoryLimit)
	if limit <= 0 {
		limit = 10
	}
	if over := len(env.Status.History) - limit; over > 0 {
		env.Status.History = append([]batonv1alpha1.Revision(nil), env.Status.History[over:]...)
	}
}
