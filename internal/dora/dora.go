package dora

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/promote"
)

// LeadTimeStart is when the change a forward Promotion delivers began: the
// source commit's time for a Promotion spec.source created (an annotation
// only the manager may write, as promote.SourceCommit says), else the time upstream
// verified the image. ok is false when neither is known, or for a rollback.
func LeadTimeStart(p *batonv1alpha1.Promotion, upstream *batonv1alpha1.Environment) (time.Time, bool) {
	if promote.IsRollback(p) {
		return time.Time{}, false
	}
	if at, ok := p.Annotations[batonv1alpha1.SourceCommittedAtAnnotation]; ok {
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			return t, true
		}
	}
	if upstream == nil {
		return time.Time{}, false
	}
	return firstVerified(upstream, p.Status.Image, p.Status.Digest)
}

// firstVerified is when env first verified img.
func firstVerified(env *batonv1alpha1.Environment, img, digest string) (time.Time, bool) {
	for _, v := range env.Status.VerifiedImages {
		if image.Same(v.Image, v.Digest, img, digest) {
			return v.VerifiedAt.Time, true
		}
	}
	return time.Time{}, false
}

// RestoreStart is when the Environment stopped being healthy before the
// success recorded at history[i]: the finish of the first Failed change
// since the previous success, or, for a manual rollback with no failure
// recorded (a bad release that rolled out fine), when the rollback began.
// ok is false when the success restored nothing.
func RestoreStart(history []batonv1alpha1.Revision, i int, manualRollback bool) (time.Time, bool) {
	var first *metav1.Time
	for j := i - 1; j >= 0 && !healthy(history[j].Result); j-- {
		if history[j].Result == batonv1alpha1.RevisionFailed && history[j].FinishedAt != nil {
			first = history[j].FinishedAt
		}
	}
	switch {
	case first != nil:
		return first.Time, true
	case manualRollback && history[i].StartedAt != nil:
		return history[i].StartedAt.Time, true
	}
	return time.Time{}, false
}

// healthy results end the walk back to the last good state; RolledBack
// was a success until a rollback undid it.
func healthy(r batonv1alpha1.RevisionResult) bool {
	switch r {
	case batonv1alpha1.RevisionSucceeded, batonv1alpha1.RevisionAdopted, batonv1alpha1.RevisionRolledBack, batonv1alpha1.RevisionAlreadyAtImage:
		return true
	}
	return false
}
