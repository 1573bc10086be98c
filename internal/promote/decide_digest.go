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

// needsRegistryDigest reports whether resolving res must ask the registry:
// the Environment writes digests (pinDigest), and nothing upstream or in
// the reference itself says which bytes res names. A rollback returns to
// what its revision recorded and asks nothing.
func needsRegistryDigest(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, res Resolution) bool {
	return env.Spec.Delivery.PinDigest && res.Digest == "" && !IsRollback(p)
}

// registryDigest is the digest the registry gave for res.Image, or false
// when Decide asked for the lookup or the Promotion waits (or failed)
// because the registry gave none. It never lets the tag through instead.
func (x *decider) registryDigest(res Resolution) (string, bool) {
	out := x.in.Digest
	if out == nil || out.Image != res.Image {
		x.d.Action = LookupDigest
		x.d.Image = res.Image
		return "", false
	}
	if out.Err == nil {
		return out.Digest, true
	}
	var re *registry.Error
	if !errors.As(out.Err, &re) {
		re = &registry.Error{Kind: registry.Unreachable, Image: res.Image, Err: out.Err}
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
