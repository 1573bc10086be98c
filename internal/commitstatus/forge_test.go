package commitstatus

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

// TestRedirectElsewhere: a forge that redirects the call to another host
// does not get the token sent there, not even GitLab's PRIVATE-TOKEN
// header, which Go's client would carry along.
func TestRedirectElsewhere(t *testing.T) {
	for _, forge := range []string{"github", "gitlab", "gitea"} {
		t.Run(forge, func(t *testing.T) {
			other := forgetest.Start(forge, token)
			defer other.Close()
			redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			defer redirector.Close()
			addr, _ := url.Parse(redirector.URL)
			if forge == "github" {
				addr.Path = "/api/v3"
			}
			// httptest's servers share one certificate: the client trusts
			// both, so only the redirect policy keeps the call from other.
			hc := &http.Client{Transport: other.Client().Transport, CheckRedirect: sameHost}
			err := Send(context.Background(), hc, Target{Provider: batonv1alpha1.CommitStatusProvider(forge), Address: addr, Repository: "acme/web", Token: token},
				sha, Status{State: Success, Context: "baton/staging", Description: "staging: deployed and verified"})
			if err == nil || other.Calls() != 0 {
				t.Fatalf("Send = %v; the other host got %d calls", err, other.Calls())
			}
		})
	}
}
