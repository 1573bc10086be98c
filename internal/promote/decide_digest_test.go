package promote

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// TestDecideWaitForImage: a merge's Promotion waits for the registry to
// have its image, asking again sooner at first, and fails at the timeout.
func TestDecideWaitForImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("c", 64)
	const img = "reg.example.com/web:abc1234"
	entry := func(timeout time.Duration) *batonv1alpha1.Environment {
		env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "staging", Generation: 1}}
		env.Spec.Source = &batonv1alpha1.Source{Image: "reg.example.com/web:{{ .ShortSHA }}", WaitForImage: &batonv1alpha1.WaitForImage{}}
		if timeout > 0 {
			env.Spec.Source.WaitForImage.Timeout = &metav1.Duration{Duration: timeout}
		}
		return env
	}
	merged := func(age time.Duration, fromSource bool) *batonv1alpha1.Promotion {
		return promotion("staging-src-abc1234", "", func(p *batonv1alpha1.Promotion) {
			p.Spec.Environment, p.Spec.Image = "staging", img
			if age > 0 { // waiting since
				p.Status.Phase, p.Status.PhaseSince = batonv1alpha1.PromotionPending, at(-age)
			}
			if fromSource {
				p.Annotations = map[string]string{batonv1alpha1.SourceCommitAnnotation: strings.Repeat("a", 40)}
			}
		})
	}
	notFound := &DigestOutcome{Image: img, Err: &registry.Error{Kind: registry.NotFound, Image: img, Err: errors.New("MANIFEST_UNKNOWN")}}
	requeue := func(want time.Duration) func(t *testing.T, d Decision) {
		return func(t *testing.T, d Decision) {
			t.Helper()
			frozenNothing(t, d)
			if d.RequeueAfter != want {
				t.Errorf("RequeueAfter = %s, want %s", d.RequeueAfter, want)
			}
		}
	}
	cases := []decideCase{
		{"a merge's Promotion asks the registry first", Input{Promotion: merged(0, true), Environment: entry(0)},
			want{action: LookupDigest}},
		{"someone's own Promotion does not wait", Input{Promotion: merged(0, false), Environment: entry(0)},
			want{phase: batonv1alpha1.PromotionWaitingForApproval}},
		{"not pushed yet: waits, naming the image, asking again in 2s", Input{Promotion: merged(5*time.Second, true), Environment: entry(0), Digest: notFound},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.ImageNotFoundReason, mentions: []string{img, "waitForImage", "until 2026-12-01T12:29:55Z"}, check: requeue(2 * time.Second)}},
		{"after 5 minutes: asks every 30s", Input{Promotion: merged(5*time.Minute, true), Environment: entry(0), Digest: notFound},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.ImageNotFoundReason, check: requeue(30 * time.Second)}},
		{"after 20 minutes: at most every minute", Input{Promotion: merged(20*time.Minute, true), Environment: entry(0), Digest: notFound},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.ImageNotFoundReason, check: requeue(time.Minute)}},
		{"at the default timeout: fails", Input{Promotion: merged(30*time.Minute, true), Environment: entry(0), Digest: notFound},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageNotFoundReason, mentions: []string{img, "within spec.source.waitForImage.timeout (30m0s)"}, finished: true}},
		{"at its own timeout: fails", Input{Promotion: merged(2*time.Minute, true), Environment: entry(time.Minute), Digest: notFound},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.ImageNotFoundReason, mentions: []string{"(1m0s)"}, finished: true}},
		{"an unreachable registry is waited for too", Input{Promotion: merged(time.Minute, true), Environment: entry(0),
			Digest: &DigestOutcome{Image: img, Err: &registry.Error{Kind: registry.Unreachable, Image: img, Err: errors.New("refused")}}},
			want{phase: batonv1alpha1.PromotionPending, reason: batonv1alpha1.RegistryUnreachableReason, check: requeue(6 * time.Second)}},
		{"pushed: the digest is frozen and it goes on", Input{Promotion: merged(time.Minute, true), Environment: entry(0), Digest: &DigestOutcome{Image: img, Digest: digest}},
			want{phase: batonv1alpha1.PromotionWaitingForApproval, check: func(t *testing.T, d Decision) {
				if d.Status.Image != img || d.Status.Digest != digest {
					t.Errorf("status image, digest = %q, %q; want %q, %q", d.Status.Image, d.Status.Digest, img, digest)
				}
			}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
}

// A registry outside --allowed-registry-hosts fails the Promotion at once,
// waitForImage or not: asking again cannot help.
func TestDecideRegistryNotAllowed(t *testing.T) {
	notAllowed := &DigestOutcome{Image: web2, Err: &registry.Error{Kind: registry.NotAllowed, Image: web2, Err: errors.New("host reg.example.com is outside the manager's --allowed-registry-hosts")}}
	env := production(func(e *batonv1alpha1.Environment) { e.Spec.Delivery.PinDigest = true })
	d := Decide(Input{Promotion: promotion("p", ""), Environment: env, Upstream: staging(), Digest: notAllowed, Now: now})
	want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.HostNotAllowedReason, mentions: []string{"--allowed-registry-hosts"}, finished: true}.assert(t, d)
	frozenNothing(t, d)
}
