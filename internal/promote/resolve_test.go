package promote

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

func verified(image string, minutesAgo int) batonv1alpha1.VerifiedImage {
	return batonv1alpha1.VerifiedImage{Image: image, VerifiedAt: metav1.NewTime(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(-time.Duration(minutesAgo) * time.Minute))}
}

// verdict is what Resolve's error means for the Promotion.
type verdict int

const (
	resolved verdict = iota
	wait
	invalid
)

func classify(err error) (v verdict, reason, message string) {
	if w, ok := outcome.AsWaiting(err); ok {
		return wait, w.Reason, w.Message
	}
	if s, ok := outcome.AsStalled(err); ok {
		return invalid, s.Reason, s.Message
	}
	return resolved, "", ""
}

func TestResolve(t *testing.T) {
	staging := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging"}}
	staging.Status.Current = &batonv1alpha1.CurrentImage{Image: "reg.example.com/web:3", Revision: 3}
	staging.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{verified("reg.example.com/web:1", 30), verified("reg.example.com/web:2", 10)}

	prod := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}, Spec: batonv1alpha1.EnvironmentSpec{Upstream: "staging"}}
	prod.Status.Current = &batonv1alpha1.CurrentImage{Image: "reg.example.com/web:1", Revision: 3}
	prod.Status.History = []batonv1alpha1.Revision{
		{Revision: 1, Image: "reg.example.com/web:0", Result: batonv1alpha1.RevisionAdopted},
		{Revision: 2, Image: "reg.example.com/web:bad", Result: batonv1alpha1.RevisionFailed},
		{Revision: 3, Image: "reg.example.com/web:1", Result: batonv1alpha1.RevisionSucceeded},
	}
	prodRejected2 := prod.DeepCopy()
	prodRejected2.Status.RejectedImages = []batonv1alpha1.RejectedImage{{Image: "reg.example.com/web:2"}}

	sameTime := staging.DeepCopy()
	sameTime.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{verified("reg.example.com/web:1", 5), verified("reg.example.com/web:2", 5)}

	entry := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging"}}

	entryRejected := entry.DeepCopy()
	entryRejected.Status.RejectedImages = []batonv1alpha1.RejectedImage{{Image: "reg.example.com/web:bad"}}
	withReason := func(p *batonv1alpha1.Promotion) *batonv1alpha1.Promotion {
		p.Spec.Reason = "fixed the config"
		return p
	}

	promo := func(image string, rollback *int64) *batonv1alpha1.Promotion {
		p := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{Environment: "production", Image: image}}
		if rollback != nil {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: *rollback}
		}
		return p
	}
	rev := func(n int64) *int64 { return &n }

	cases := []struct {
		name            string
		p               *batonv1alpha1.Promotion
		env, upstream   *batonv1alpha1.Environment
		verdict         verdict
		image, reason   string
		revision        int64
		messageMentions []string
	}{
		{name: "newest verified upstream image", p: promo("", nil), env: prod, upstream: staging, verdict: resolved, image: "reg.example.com/web:2"},
		{name: "an older verified image by name", p: promo("reg.example.com/web:1", nil), env: prod, upstream: staging, verdict: resolved, image: "reg.example.com/web:1"},
		{name: "a tie in verifiedAt goes to the later entry", p: promo("", nil), env: prod, upstream: sameTime, verdict: resolved, image: "reg.example.com/web:2"},
		{name: "newest skips an image rejected here", p: promo("", nil), env: prodRejected2, upstream: staging, verdict: resolved, image: "reg.example.com/web:1"},
		{name: "a named image rejected here", p: promo("reg.example.com/web:2", nil), env: prodRejected2, upstream: staging, verdict: invalid, reason: batonv1alpha1.ImageRejectedReason, messageMentions: []string{"rolled back", "production"}},
		{name: "an image the upstream runs but has not verified", p: promo("reg.example.com/web:3", nil), env: prod, upstream: staging, verdict: wait, reason: batonv1alpha1.UpstreamNotVerifiedReason, messageMentions: []string{`"staging"`, "runs reg.example.com/web:3"}},
		{name: "an upstream that verified nothing", p: promo("", nil), env: prod, upstream: entry, verdict: wait, reason: batonv1alpha1.UpstreamNotVerifiedReason, messageMentions: []string{"verified no image", "nothing known yet"}},
		{name: "an unparsable image", p: promo("reg.example.com/Web:1", nil), env: prod, upstream: staging, verdict: invalid, reason: batonv1alpha1.InvalidImageReason, messageMentions: []string{"spec.image"}},
		{name: "an entry environment takes any parsable image", p: promo("reg.example.com/web:9", nil), env: entry, verdict: resolved, image: "reg.example.com/web:9"},
		{name: "an entry environment refuses an image it rolled back away from", p: promo("reg.example.com/web:bad", nil), env: entryRejected, verdict: invalid, reason: batonv1alpha1.ImageRejectedReason, messageMentions: []string{"spec.reason"}},
		{name: "an entry environment re-ships a rejected image on purpose", p: withReason(promo("reg.example.com/web:bad", nil)), env: entryRejected, verdict: resolved, image: "reg.example.com/web:bad"},
		{name: "an entry environment needs an image", p: promo("", nil), env: entry, verdict: invalid, reason: batonv1alpha1.NoImageReason, messageMentions: []string{"spec.image is required"}},
		{name: "rollback to the previous successful revision", p: promo("", rev(0)), env: prod, verdict: resolved, image: "reg.example.com/web:0", revision: 1},
		{name: "rollback to a named revision", p: promo("", rev(3)), env: prod, verdict: resolved, image: "reg.example.com/web:1", revision: 3},
		{name: "rollback to a failed revision", p: promo("", rev(2)), env: prod, verdict: invalid, reason: batonv1alpha1.RevisionNotFoundReason, messageMentions: []string{"revision 2", "1 (reg.example.com/web:0), 3 (reg.example.com/web:1) current"}},
		{name: "rollback to a revision never made", p: promo("", rev(42)), env: prod, verdict: invalid, reason: batonv1alpha1.RevisionNotFoundReason, messageMentions: []string{"revision 42"}},
		{name: "rollback with no history", p: promo("", rev(0)), env: entry, verdict: invalid, reason: batonv1alpha1.RevisionNotFoundReason, messageMentions: []string{"revisions available: none"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.p, tc.env, tc.upstream)
			v, reason, message := classify(err)
			if v != tc.verdict || got.Image != tc.image || reason != tc.reason || got.Revision != tc.revision {
				t.Fatalf("Resolve = %+v, %v; want verdict %d image %q reason %q revision %d", got, err, tc.verdict, tc.image, tc.reason, tc.revision)
			}
			for _, m := range tc.messageMentions {
				if !strings.Contains(message, m) {
					t.Errorf("message %q does not mention %q", message, m)
				}
			}
		})
	}
}

func TestHeadOrdersRollbacksThenAgeThenName(t *testing.T) {
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Date(2026, 11, 26, 12, 0, sec, 0, time.UTC)) }
	mk := func(name string, sec int, phase batonv1alpha1.PromotionPhase, rollback bool) batonv1alpha1.Promotion {
		p := batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(sec)}}
		p.Status.Phase = phase
		if rollback {
			p.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		}
		return p
	}
	cases := []struct {
		name   string
		promos []batonv1alpha1.Promotion
		want   string
	}{
		{"oldest first", []batonv1alpha1.Promotion{mk("c", 3, "Queued", false), mk("a", 1, "Queued", false), mk("b", 2, "Queued", false)}, "a"},
		{"same second: by name", []batonv1alpha1.Promotion{mk("zeta", 1, "Queued", false), mk("alpha", 1, "Queued", false)}, "alpha"},
		{"a rollback jumps the queue", []batonv1alpha1.Promotion{mk("a", 1, "Queued", false), mk("undo", 9, "Queued", true)}, "undo"},
		{"only queued ones count", []batonv1alpha1.Promotion{mk("a", 1, "WaitingForApproval", false), mk("b", 2, "Queued", false), mk("c", 0, "Succeeded", false)}, "b"},
		{"nobody queued", []batonv1alpha1.Promotion{mk("a", 1, "Pending", false)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if h := Head(tc.promos); h != nil {
				got = h.Name
			}
			if got != tc.want {
				t.Errorf("Head = %q, want %q", got, tc.want)
			}
		})
	}
}

// After a no-op Promotion, the previous revision is the newest one with
// another image, as `kubectl rollout undo` goes to the previous different
// template.
func TestResolveRollbackSkipsTheImageThatRunsNow(t *testing.T) {
	env := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "production"}}
	env.Status.Current = &batonv1alpha1.CurrentImage{Image: "reg.example.com/web:1", Revision: 3}
	env.Status.History = []batonv1alpha1.Revision{
		{Revision: 1, Image: "reg.example.com/web:0", Result: batonv1alpha1.RevisionAdopted},
		{Revision: 2, Image: "reg.example.com/web:1", Result: batonv1alpha1.RevisionSucceeded},
		{Revision: 3, Image: "reg.example.com/web:1", Result: batonv1alpha1.RevisionAlreadyAtImage},
	}
	undo := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{Rollback: &batonv1alpha1.RollbackSpec{}}}
	got, err := Resolve(undo, env, nil)
	if err != nil || got.Image != "reg.example.com/web:0" || got.Revision != 1 {
		t.Fatalf("Resolve = %+v, want revision 1 (reg.example.com/web:0)", got)
	}
	named := &batonv1alpha1.Promotion{Spec: batonv1alpha1.PromotionSpec{Rollback: &batonv1alpha1.RollbackSpec{ToRevision: 2}}}
	if got, err := Resolve(named, env, nil); err != nil || got.Revision != 2 {
		t.Fatalf("a named revision is taken as named: Resolve = %+v", got)
	}
}
