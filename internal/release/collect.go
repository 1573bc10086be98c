package release

import (
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/baton-dev/baton/internal/verification"
)

// ToCollect are the release Jobs of one Environment beyond the keep newest
// (by creation, then name) that have finished: those Baton deletes. A Job
// still running is never among them, however old.
func ToCollect(jobs []batchv1.Job, keep int) []batchv1.Job {
	live := slices.DeleteFunc(slices.Clone(jobs), func(j batchv1.Job) bool { return !j.DeletionTimestamp.IsZero() })
	if len(live) <= keep {
		return nil
	}
	slices.SortFunc(live, func(a, b batchv1.Job) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return slices.DeleteFunc(live[keep:], func(j batchv1.Job) bool { return !verification.Finished(&j) })
}
