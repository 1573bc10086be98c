package commitstatus

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/forgetest"
)

const (
	token = "tok-0123456789-secret"
	sha   = "0123456789abcdef0123456789abcdef01234567"
)

// TestSend drives each forge's own Go client against a server that
// answers like the forge's API.
func TestSend(t *testing.T) {
	for _, forge := range []string{"github", "gitlab", "gitea"} {
		repo := "acme/web"
		if forge == "gitlab" {
			repo = "acme/platform/web"
		}
		for _, tc := range []struct {
			name      string
			token     string
			limited   bool
			down      bool
			kind      Kind // "" means accepted
			retryable bool
		}{
			{name: "accepted", token: token},
			{name: "a wrong token", token: "wrong", kind: Unauthorized},
			{name: "rate-limited", token: token, limited: true, kind: RateLimited, retryable: true},
			{name: "down", token: token, down: true, kind: Unavailable, retryable: true},
		} {
			t.Run(forge+"/"+tc.name, func(t *testing.T) {
				srv := forgetest.Start(forge, token)
				defer srv.Close()
				srv.SetRateLimited(tc.limited)
				srv.SetDown(tc.down)
				addr, _ := url.Parse(srv.Address())
				target := Target{Provider: batonv1alpha1.CommitStatusProvider(forge), Address: addr, Repository: repo, Token: tc.token}
				st := Status{State: Running, Context: "baton/staging", Description: "staging: rolling out"}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := Send(ctx, srv.Client(), target, sha, st)
				if tc.kind == "" {
					if err != nil {
						t.Fatalf("Send: %v", err)
					}
					got := srv.Received()
					want := map[string]string{"github": "pending", "gitlab": "running", "gitea": "pending"}[forge]
					if len(got) != 1 || got[0].State != want || got[0].Context != "baton/staging" || got[0].Description != st.Description || got[0].SHA != sha || got[0].Repository != repo {
						t.Fatalf("the forge received %+v; want one %s status on %s of %s", got, want, sha, repo)
					}
					return
				}
				var ferr *Error
				if !errors.As(err, &ferr) || ferr.Kind != tc.kind || ferr.Retryable() != tc.retryable {
					t.Fatalf("Send = %v (%#v); want a %s error", err, ferr, tc.kind)
				}
				if tc.kind == RateLimited && ferr.RetryAfter < 30*time.Minute {
					t.Fatalf("RetryAfter = %s; the forge said an hour", ferr.RetryAfter)
				}
				if strings.Contains(err.Error(), token) || len(srv.Received()) != 0 {
					t.Fatalf("error %q shows the token, or the forge recorded %v", err, srv.Received())
				}
			})
		}
	}
}

// TestGitLabSameState: GitLab refuses a status the commit already has;
// that is no failure.
func TestGitLabSameState(t *testing.T) {
	srv := forgetest.Start("gitlab", token)
	defer srv.Close()
	addr, _ := url.Parse(srv.Address())
	target := Target{Provider: batonv1alpha1.CommitStatusGitLab, Address: addr, Repository: "42", Token: token}
	st := Status{State: Pending, Context: "baton/production", Description: "production: waiting for 1 approval"}
	for range 2 {
		if err := Send(context.Background(), srv.Client(), target, sha, st); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := srv.Received(); len(got) != 1 || got[0].Repository != "42" || srv.Calls() != 2 {
		t.Fatalf("received %+v in %d calls; want one status in two calls", got, srv.Calls())
	}
}

// TestRedirectElsewhere: a forge that redirects to another host does not
// get the token sent there.
func TestRedirectElsewhere(t *testing.T) {
	other := forgetest.Start("github", token)
	defer other.Close()
	srv := forgetest.Start("github", token)
	defer srv.Close()
	hc := &http.Client{Transport: srv.Client().Transport, CheckRedirect: sameHost}
	// The second server answers at another port: another host for
	// SameHost, which compares host:port.
	req, _ := http.NewRequest(http.MethodPost, other.URL+"/x", nil)
	via, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", nil)
	if hc.CheckRedirect(req, []*http.Request{via}) == nil {
		t.Fatal("a redirect to another host is followed")
	}
}
