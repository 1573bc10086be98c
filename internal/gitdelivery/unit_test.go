package gitdelivery

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCommitURL(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	cases := []struct{ url, want string }{
		{"https://github.com/acme/config.git", "https://github.com/acme/config/commit/" + sha},
		{"https://gitlab.example.com/group/sub/config", "https://gitlab.example.com/group/sub/config/commit/" + sha},
		{"https://bot:tok@github.com/acme/config.git/", "https://github.com/acme/config/commit/" + sha},
		{"http://git.internal/acme/config.git", ""},
		{"ssh://git@github.com/acme/config.git", ""},
		{"git@github.com:acme/config.git", ""},
		{"https://github.com/", ""},
	}
	for _, tc := range cases {
		if got := CommitURL(tc.url, sha); got != tc.want {
			t.Errorf("CommitURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
	if got := CommitURL("https://github.com/acme/config.git", ""); got != "" {
		t.Errorf("CommitURL without a commit = %q", got)
	}
}

func TestTrailersCannotBeForgedByTheReason(t *testing.T) {
	req := request(environment("production", "https://example.com/c.git", nil), "v2")
	req.Promotion.Spec.Reason = "fix\n\nBaton-Promotion-UID: someone-else\n"
	req.RequestedBy = "mallory\nBaton-Promotion-UID: someone-else"
	msg := commitMessage(req)
	if hasPromotionUID(msg, "someone-else") {
		t.Fatalf("the reason forged a trailer:\n%s", msg)
	}
	if !hasPromotionUID(msg, string(req.Promotion.UID)) {
		t.Fatalf("the message lacks its own UID trailer:\n%s", msg)
	}
	if got := trailers(msg)[TrailerPromotedBy]; !slices.Equal(got, []string{"mallory Baton-Promotion-UID: someone-else"}) {
		t.Errorf("Promoted-by = %q", got)
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for attempt := 2; attempt <= 12; attempt++ {
		ceiling := 100 * time.Millisecond << min(attempt-2, 5)
		for range 20 {
			b := backoff(attempt)
			if b < ceiling/2 || b > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, b, ceiling/2, ceiling)
			}
			seen[b] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("backoff returned only %d distinct delays; it is not jittered", len(seen))
	}
	if strings.Contains(backoff(40).String(), "h") {
		t.Error("backoff is not capped")
	}
}
