package promote

import (
	"errors"
	"fmt"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/registry"
)

// DigestOutcome is the registry's answer to the LookupDigest a previous
// Decide asked for.
type DigestOutcome struct {
	// Image is the reference that was looked up.
	Image string
	// Digest is what its tag names now, when Err is nil.
	Digest string
	// Err is why there is no digest: a *registry.Error says which kind.
	Err error
}

// How long a Promotion waits before it asks the registry again.
const (
	registryRetryUnreachable = 15 * time.Second
	registryRetrySlow        = time.Minute
)

// DefaultWaitForImageTimeout is spec.source.waitForImage.timeout when it is
// not set.
const DefaultWaitForImageTimeout = 30 * time.Minute

// waitsForImage reports whether p is a Promotion spec.source created into
// an Environment that waits for the registry to have its image.
func waitsForImage(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return env.Spec.Source != nil && env.Spec.Source.WaitForImage != nil && SourceCommit(p) != ""
}

func waitForImageTimeout(env *batonv1alpha1.Environment) time.Duration {
	if t := env.Spec.Source.WaitForImage.Timeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return DefaultWaitForImageTimeout
}

// imagePoll is how long a Promotion that has waited for its image for
// waited waits before it asks again: a tenth of that, from 2 s to 1 min.
func imagePoll(waited time.Duration) time.Duration {
	return min(max(waited/10, 2*time.Second), time.Minute)
}

// needsRegistryDigest reports whether resolving res must ask the registry:
// nothing upstream or in the reference itself says which bytes res names,
// and the Environment writes digests (pinDigest) or p is a merge's
// Promotion that waits for its image. A rollback returns to what its
// revision recorded and asks nothing.
func needsRegistryDigest(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, res Resolution) bool {
	return res.Digest == "" && !IsRollback(p) && (env.Spec.Delivery.PinDigest || waitsForImage(p, env))
}

// registryDigest is the digest the registry gave for res.Image, or false
// when Decide asked for the lookup or the Promotion waits (or failed)
// because the registry gave none. It never lets the tag through instead.
func (x *decider) registryDigest(res Resolution) (string, bool) {
	digest, re, asked := x.askRegistry(res)
	switch {
	case !asked:
		return "", false
	case re == nil:
		return digest, true
	case re.Kind == registry.NotAllowed:
		x.finish(batonv1alpha1.PromotionFailed, batonv1alpha1.HostNotAllowedReason, re.Error())
		return "", false
	case waitsForImage(x.p, x.env):
		x.waitForImage(res, re)
		return "", false
	}
	const pin = "delivery.pinDigest needs the digest, and Baton does not fall back to the tag"
	switch re.Kind {
	case registry.Invalid:
		x.finish(batonv1alpha1.PromotionFailed, batonv1alpha1.InvalidImageReason,
			fmt.Sprintf("%v; write it as registry/repository:tag or registry/repository@sha256:digest", re))
	case registry.NotFound:
		x.stall(batonv1alpha1.ImageNotFoundReason,
			fmt.Sprintf("%v; %s: push the image, or cancel the Promotion (asked again every %s)", re, pin, registryRetrySlow))
		x.d.RequeueAfter = registryRetrySlow
	case registry.Unauthorized:
		x.stall(batonv1alpha1.RegistryUnauthorizedReason,
			fmt.Sprintf("%v; %s (asked again every %s)", re, pin, registryRetrySlow))
		x.d.RequeueAfter = registryRetrySlow
	case registry.RateLimited:
		x.setPhase(batonv1alpha1.PromotionPending, batonv1alpha1.RegistryRateLimitedReason,
			fmt.Sprintf("%v; asking again in %s", re, registryRetrySlow))
		x.d.RequeueAfter = registryRetrySlow
	default:
		x.setPhase(batonv1alpha1.PromotionPending, batonv1alpha1.RegistryUnreachableReason,
			fmt.Sprintf("%v; %s: asking again in %s", re, pin, registryRetryUnreachable))
		x.d.RequeueAfter = registryRetryUnreachable
	}
	return "", false
}

// askRegistry is the registry's answer for res.Image: its digest, or re,
// why it gave none. asked is false when Decide asks for the lookup now.
func (x *decider) askRegistry(res Resolution) (digest string, re *registry.Error, asked bool) {
	out := x.in.Digest
	if out == nil || out.Image != res.Image {
		x.d.Action = LookupDigest
		x.d.Image = res.Image
		return "", nil, false
	}
	if out.Err == nil {
		return out.Digest, nil, true
	}
	if !errors.As(out.Err, &re) {
		re = &registry.Error{Kind: registry.Unreachable, Image: res.Image, Err: out.Err}
	}
	return "", re, true
}

// waitForImage handles re for a merge's Promotion under
// spec.source.waitForImage: whatever keeps the registry from giving the
// digest, it waits, asking again with a growing interval, and fails only
// at the timeout.
func (x *decider) waitForImage(res Resolution, re *registry.Error) {
	reason := map[registry.Kind]string{
		registry.NotFound: batonv1alpha1.ImageNotFoundReason, registry.Unauthorized: batonv1alpha1.RegistryUnauthorizedReason,
		registry.RateLimited: batonv1alpha1.RegistryRateLimitedReason, registry.Unreachable: batonv1alpha1.RegistryUnreachableReason,
	}[re.Kind]
	if reason == "" {
		x.finish(batonv1alpha1.PromotionFailed, batonv1alpha1.InvalidImageReason,
			fmt.Sprintf("%v; check spec.source.image of Environment %q", re, x.env.Name))
		return
	}
	// The wait began when the Promotion became Pending, by the engine's
	// clock.
	start := x.in.Now
	if x.p.Status.Phase == batonv1alpha1.PromotionPending && x.p.Status.PhaseSince != nil {
		start = x.p.Status.PhaseSince.Time
	}
	timeout := waitForImageTimeout(x.env)
	waited := max(x.in.Now.Sub(start), 0)
	if waited >= timeout {
		x.finish(batonv1alpha1.PromotionFailed, reason,
			fmt.Sprintf("image %s did not appear in its registry within spec.source.waitForImage.timeout (%s): %v", res.Image, timeout, re))
		return
	}
	next := imagePoll(waited)
	if re.Kind == registry.RateLimited {
		next = registryRetrySlow
	}
	// The message stays the same from one poll to the next: a status
	// that changes would bring the next reconcile at once, not after
	// RequeueAfter.
	x.setPhase(batonv1alpha1.PromotionPending, reason,
		fmt.Sprintf("waiting for image %s (spec.source.waitForImage, until %s): %v",
			res.Image, start.Add(timeout).UTC().Format(time.RFC3339), re))
	x.d.RequeueAfter = next
}
