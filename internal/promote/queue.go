package promote

import (
	"slices"
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// IsRollback reports whether a Promotion is a rollback.
func IsRollback(p *batonv1alpha1.Promotion) bool { return p.Spec.Rollback != nil }

// QueueLess orders an Environment's queue: rollbacks first, then by
// creationTimestamp, then by name, so that two Promotions created in the
// same second still have one order every replica agrees on.
func QueueLess(a, b *batonv1alpha1.Promotion) int {
	if ra, rb := IsRollback(a), IsRollback(b); ra != rb {
		if ra {
			return -1
		}
		return 1
	}
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Waiting reports whether a Promotion is waiting for its Environment's lease:
// resolved and approved, but not yet started.
func Waiting(p *batonv1alpha1.Promotion) bool {
	return p.Status.Phase == batonv1alpha1.PromotionQueued
}

// Head returns the Promotion first in line among those Waiting, or nil.
func Head(promos []batonv1alpha1.Promotion) *batonv1alpha1.Promotion {
	var queue []*batonv1alpha1.Promotion
	for i := range promos {
		if Waiting(&promos[i]) && promos[i].DeletionTimestamp == nil && !promos[i].Spec.Cancel {
			queue = append(queue, &promos[i])
		}
	}
	if len(queue) == 0 {
		return nil
	}
	return slices.MinFunc(queue, QueueLess)
}

// SourceCommit is the application commit of a Promotion that spec.source
// created: its source-commit annotation, which only the manager may write
// (identity.CheckMetadata refuses it from anyone else, and the admission
// marker seals it). The requester is no proof: behind the webhook it is the
// manager's own user, not ControllerUser (see IsTrigger). Empty for a
// rollback and for any other Promotion.
func SourceCommit(p *batonv1alpha1.Promotion) string {
	if IsRollback(p) {
		return ""
	}
	return p.Annotations[batonv1alpha1.SourceCommitAnnotation]
}
