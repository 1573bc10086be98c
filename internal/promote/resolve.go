package promote

import (
	"fmt"
	"slices"
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

// Resolution is the image a Promotion moves its Environment to.
type Resolution struct {
	Image  string
	Digest string
	// Revision is the history revision a rollback returns to.
	Revision int64
}

// Resolve decides which image a Promotion moves its Environment to. upstream
// is nil for an entry environment; the caller has already checked that a
// named upstream exists. The error is an *outcome.Waiting when the image is
// not resolvable yet (the upstream has not verified it: try again when the
// upstream changes), or an *outcome.Stalled when the request can never be
// satisfied as written (the Promotion fails with its reason and message).
func Resolve(p *batonv1alpha1.Promotion, env, upstream *batonv1alpha1.Environment) (Resolution, error) {
	if p.Spec.Rollback != nil {
		return resolveRollback(p.Spec.Rollback.ToRevision, env)
	}
	if p.Spec.Image != "" {
		if _, err := image.Parse(p.Spec.Image); err != nil {
			return Resolution{}, &outcome.Stalled{Reason: batonv1alpha1.InvalidImageReason,
				Message: fmt.Sprintf("spec.image: %v; write it as registry/repository:tag or registry/repository@sha256:digest", err)}
		}
		if IsRejected(env, p.Spec.Image, "") && !IsDeliberate(p) {
			return Resolution{}, &outcome.Stalled{Reason: batonv1alpha1.ImageRejectedReason,
				Message: fmt.Sprintf("spec.image %s was rolled back away from in Environment %q; to ship it again on purpose, create a Promotion that names it in spec.image and says why in spec.reason", p.Spec.Image, env.Name)}
		}
	}
	if upstream == nil {
		if p.Spec.Image == "" {
			return Resolution{}, &outcome.Stalled{Reason: batonv1alpha1.NoImageReason,
				Message: fmt.Sprintf("spec.image is required: Environment %q has no upstream to take a verified image from", env.Name)}
		}
		return Resolution{Image: p.Spec.Image, Digest: image.DigestOf(p.Spec.Image)}, nil
	}

	if p.Spec.Image != "" {
		for _, v := range upstream.Status.VerifiedImages {
			if image.Same(p.Spec.Image, "", v.Image, v.Digest) {
				return Resolution{Image: p.Spec.Image, Digest: firstNonEmpty(v.Digest, image.DigestOf(p.Spec.Image))}, nil
			}
		}
		return Resolution{}, &outcome.Waiting{Reason: batonv1alpha1.UpstreamNotVerifiedReason,
			Message: fmt.Sprintf("spec.image %s is not verified in upstream Environment %q, which runs %s; the Promotion goes ahead once it is verified there",
				p.Spec.Image, upstream.Name, describeCurrent(upstream))}
	}

	// Newest verified first; skip what this environment rejected.
	for _, v := range newestFirst(upstream) {
		if !IsRejected(env, v.Image, v.Digest) {
			return Resolution{Image: v.Image, Digest: v.Digest}, nil
		}
	}
	return Resolution{}, &outcome.Waiting{Reason: batonv1alpha1.UpstreamNotVerifiedReason,
		Message: fmt.Sprintf("upstream Environment %q has verified no image that is not rejected here yet (it runs %s); the Promotion goes ahead once it verifies one",
			upstream.Name, describeCurrent(upstream))}
}

// newestFirst orders an Environment's verified images newest first; the list
// is appended to, so a later entry wins a tie.
func newestFirst(env *batonv1alpha1.Environment) []batonv1alpha1.VerifiedImage {
	verified := slices.Clone(env.Status.VerifiedImages)
	slices.Reverse(verified)
	slices.SortStableFunc(verified, func(a, b batonv1alpha1.VerifiedImage) int {
		return b.VerifiedAt.Compare(a.VerifiedAt.Time)
	})
	return verified
}

// NewestVerified returns the image env verified last, if any.
func NewestVerified(env *batonv1alpha1.Environment) (batonv1alpha1.VerifiedImage, bool) {
	if v := newestFirst(env); len(v) > 0 {
		return v[0], true
	}
	return batonv1alpha1.VerifiedImage{}, false
}

// resolveRollback finds the revision a rollback returns to: revision n, or
// for n == 0 the newest successful revision before the current one.
func resolveRollback(n int64, env *batonv1alpha1.Environment) (Resolution, error) {
	usable := usableForRollback
	var current int64
	if env.Status.Current != nil {
		current = env.Status.Current.Revision
	}
	for i := len(env.Status.History) - 1; i >= 0; i-- {
		r := env.Status.History[i]
		if !usable(r) {
			continue
		}
		if (n == 0 && r.Revision != current && !runsNow(env, r)) || (n != 0 && r.Revision == n) {
			return Resolution{Image: r.Image, Digest: r.Digest, Revision: r.Revision}, nil
		}
	}
	what := "the previous successful revision with another image"
	if n != 0 {
		what = fmt.Sprintf("revision %d", n)
	}
	return Resolution{}, &outcome.Stalled{Reason: batonv1alpha1.RevisionNotFoundReason,
		Message: fmt.Sprintf("spec.rollback.toRevision: %s is not in the history of Environment %q as Succeeded or Adopted; revisions available: %s",
			what, env.Name, availableRevisions(env, usable, current))}
}

// runsNow: the Environment runs r's image now. Like `kubectl rollout undo`,
// which goes to the previous different template, the previous revision is
// the newest one with another image: after a no-op Promotion
// (AlreadyAtImage), the Succeeded entry before it carries the image that
// runs now, and returning to it would change nothing.
func runsNow(env *batonv1alpha1.Environment, r batonv1alpha1.Revision) bool {
	cur := env.Status.Current
	return cur != nil && cur.Image != "" && image.Same(cur.Image, cur.Digest, r.Image, r.Digest)
}

func availableRevisions(env *batonv1alpha1.Environment, usable func(batonv1alpha1.Revision) bool, current int64) string {
	var parts []string
	for _, r := range env.Status.History {
		if usable(r) {
			s := fmt.Sprintf("%d (%s)", r.Revision, r.Image)
			if r.Revision == current {
				s += " current"
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// IsDeliberate reports whether a Promotion is a person's explicit re-ship:
// it names its image and gives a reason, and autoPromote did not create it.
func IsDeliberate(p *batonv1alpha1.Promotion) bool {
	return p.Spec.Image != "" && p.Spec.Reason != "" && p.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation] == ""
}

// Reject records that env was rolled back away from an image, once.
func Reject(env *batonv1alpha1.Environment, r batonv1alpha1.RejectedImage) {
	if IsRejected(env, r.Image, r.Digest) {
		return
	}
	env.Status.RejectedImages = append(env.Status.RejectedImages, r)
	if over := len(env.Status.RejectedImages) - MaxRejectedImages; over > 0 {
		env.Status.RejectedImages = append([]batonv1alpha1.RejectedImage(nil), env.Status.RejectedImages[over:]...)
	}
}

// Unreject clears a rejection: the image is being shipped again on purpose.
func Unreject(env *batonv1alpha1.Environment, ref, digest string) {
	env.Status.RejectedImages = slices.DeleteFunc(env.Status.RejectedImages, func(r batonv1alpha1.RejectedImage) bool {
		return image.Same(ref, digest, r.Image, r.Digest)
	})
}

// MaxRejectedImages bounds status.rejectedImages; the oldest goes first.
const MaxRejectedImages = 50

// IsRejected reports whether env was rolled back away from the image.
func IsRejected(env *batonv1alpha1.Environment, ref, digest string) bool {
	for _, r := range env.Status.RejectedImages {
		if image.Same(ref, digest, r.Image, r.Digest) {
			return true
		}
	}
	return false
}

func describeCurrent(env *batonv1alpha1.Environment) string {
	if env.Status.Current == nil || env.Status.Current.Image == "" {
		return "nothing known yet"
	}
	return env.Status.Current.Image
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
