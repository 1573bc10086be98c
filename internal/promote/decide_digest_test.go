package promote

import (
	"errors"
	"strings"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/registry"
)

// TestDecideRegistryDigest: with pinDigest, a tag is resolved to the digest
// the registry gives at that moment, and a registry that gives none never
// lets the tag through.
func TestDecideRegistryDigest(t *testing.T) {
	digest := "sha256:" + strings.Repeat("b", 64)
	pinned := func(e *batonv1alpha1.Environment) { e.Spec.Delivery.PinDigest = true }
	fresh := promotion("p", "")
	answer := func(img string, d string, err error) *DigestOutcome {
		return &DigestOutcome{Image: img, Digest: d, Err: err}
	}
	failed := func(kind registry.Kind) *DigestOutcome {
		return answer(web2, "", &registry.Error{Kind: kind, Image: web2, Err: errors.New("the registry said no")})
	}
	frozen := func(want string) func(t *testing.T, d Decision) {
		return func(t *testing.T, d Decision) {
			t.Helper()
			if d.Status.Image != web2 || d.Status.Digest != want {
				t.Errorf("status image, digest = %q, %q; want %q, %q", d.Status.Image, d.Status.Digest, web2, want)
			}
		}
	}
	unresolved := func(t *testing.T, d Decision) {
		t.Helper()
		frozenNothing(t, d)
		stalled(t, d)
	}
	waits := func(t *testing.T, d Decision) {
		t.Helper()
		frozenNothing(t, d)
		if d.RequeueAfter <= 0 {
			t.Errorf("RequeueAfter = %s, want the registry asked again", d.RequeueAfter)
		}
	}
	cases := []decideCase{
		{"pinDigest: a tag asks the registry first", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging()},
			want{action: LookupDigest, check: func(t *testing.T, d Decision) {
				if d.Image != web2 {
					t.Errorf("looks up %q, want %q", d.Image, web2)
				}
				frozenNothing(t, d)
			}}},
		{"pinDigest: the registry's digest is frozen", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: answer(web2, digest, nil)},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, check: frozen(digest)}},
		{"pinDigest: an answer for another image is asked again", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: answer(web3, digest, nil)},
			want{action: LookupDigest}},
		{"pinDigest: the upstream's verified digest is used, the registry not asked", Input{Promotion: fresh, Environment: production(pinned), Upstream: verifyingDigest(web2, digest)},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, check: frozen(digest)}},
		{"no pinDigest: the tag alone, the registry not asked", Input{Promotion: fresh, Environment: production(), Upstream: staging()},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, check: frozen("")}},
		{"a rollback asks no registry", Input{Promotion: promotion("p", "", func(p *batonv1alpha1.Promotion) { p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 1} }), Environment: production(pinned)},
			want{phase: batonv1alpha1.PromotionWaitingForApproval}},
		{"not found: stalls, named", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: failed(registry.NotFound)},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.ImageNotFoundReason, mentions: []string{web2, "pinDigest", "push the image"}, check: unresolved}},
		{"unauthorized: stalls, pointing at the pull secrets", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: failed(registry.Unauthorized)},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.RegistryUnauthorizedReason, mentions: []string{web2, "imagePullSecrets"}, check: unresolved}},
		{"unreachable: waits and asks again", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: failed(registry.Unreachable)},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.RegistryUnreachableReason, mentions: []string{web2, "does not fall back to the tag"}, check: waits}},
		{"rate limited: waits longer", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: failed(registry.RateLimited)},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.RegistryRateLimitedReason, mentions: []string{"slow down"}, check: waits}},
		{"any other error: unreachable", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: answer(web2, "", errors.New("no manager"))},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.RegistryUnreachableReason, check: waits}},
		{"an invalid reference fails", Input{Promotion: fresh, Environment: production(pinned), Upstream: staging(), Digest: failed(registry.Invalid)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.InvalidImageReason, finished: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
}

func frozenNothing(t *testing.T, d Decision) {
	t.Helper()
	if d.Status.Image != "" || d.Status.Digest != "" {
		t.Errorf("status image, digest = %q, %q; want nothing frozen", d.Status.Image, d.Status.Digest)
	}
}

// verifyingDigest is staging having verified img with the digest its Pods
// ran.
func verifyingDigest(img, digest string) *batonv1alpha1.Environment {
	env := staging()
	env.Status.VerifiedImages[0].Image, env.Status.VerifiedImages[0].Digest = img, digest
	return env
}
