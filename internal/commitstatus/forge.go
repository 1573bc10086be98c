package commitstatus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Default API addresses for the two public forges.
const (
	GitHubAPI = "https://api.github.com"
	GitLabAPI = "https://gitlab.com"
)

// Target is one repository on one forge, and the token to call it with.
type Target struct {
	Provider batonv1alpha1.CommitStatusProvider
	// Address is the API base URL, https://.
	Address *url.URL
	// Repository is owner/name, or GitLab's project path or ID.
	Repository string
	Token      string
}

// Kind classifies a failed call for the condition and the metric.
type Kind string

// Kinds of failure. Only Unavailable and RateLimited are tried again.
const (
	RateLimited  Kind = "rate_limited"
	Unauthorized Kind = "unauthorized"
	Rejected     Kind = "rejected"
	Unavailable  Kind = "unavailable"
)

// Error is a call the forge did not accept. Its text never holds the
// token: the clients send it in a header, never in the URL.
type Error struct {
	Kind Kind
	// Code is the HTTP status, 0 when there was no answer.
	Code int
	// RetryAfter is how long the forge asked to wait, when it said.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again may succeed.
func (e *Error) Retryable() bool { return e.Kind == Unavailable || e.Kind == RateLimited }

// Send sets st on commit sha of t's repository through the forge's own Go
// client, over hc.
func Send(ctx context.Context, hc *http.Client, t Target, sha string, st Status) error {
	switch t.Provider {
	case batonv1alpha1.CommitStatusGitHub:
		return sendGitHub(ctx, hc, t, sha, st)
	case batonv1alpha1.CommitStatusGitLab:
		return sendGitLab(ctx, hc, t, sha, st)
	case batonv1alpha1.CommitStatusGitea:
		return sendGitea(ctx, hc, t, sha, st)
	}
	return &Error{Kind: Rejected, Err: fmt.Errorf("unknown provider %q", t.Provider)}
}

func sendGitHub(ctx context.Context, hc *http.Client, t Target, sha string, st Status) error {
	c := github.NewClient(hc).WithAuthToken(t.Token)
	base := *t.Address
	base.Path = strings.TrimSuffix(base.Path, "/") + "/"
	c.BaseURL = &base
	owner, repo, _ := strings.Cut(t.Repository, "/")
	state := map[State]string{Running: "pending", Canceled: "error"}[st.State]
	if state == "" {
		state = string(st.State)
	}
	_, res, err := c.Repositories.CreateStatus(ctx, owner, repo, sha, &github.RepoStatus{
		State: github.Ptr(state), Context: github.Ptr(st.Context), Description: github.Ptr(st.Description),
	})
	if err == nil {
		return nil
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return &Error{Kind: RateLimited, Code: codeOf(rl.Response), RetryAfter: time.Until(rl.Rate.Reset.Time), Err: errors.New(rl.Message)}
	case errors.As(err, &abuse):
		return &Error{Kind: RateLimited, Code: codeOf(abuse.Response), RetryAfter: abuse.GetRetryAfter(), Err: errors.New(abuse.Message)}
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return classify(er.Response, errors.New(er.Message))
	}
	return classify(resOf(res), err)
}

func resOf(r *github.Response) *http.Response {
	if r == nil {
		return nil
	}
	return r.Response
}

func sendGitLab(ctx context.Context, hc *http.Client, t Target, sha string, st Status) error {
	// No retries of its own (the reporter retries, and counts them), and no
	// probe of the rate limit before the first call.
	c, err := gitlab.NewClient(t.Token, gitlab.WithBaseURL(t.Address.String()), gitlab.WithHTTPClient(hc),
		gitlab.WithoutRetries(), gitlab.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)))
	if err != nil {
		return &Error{Kind: Rejected, Err: err}
	}
	state := map[State]gitlab.BuildStateValue{Pending: gitlab.Pending, Running: gitlab.Running, Success: gitlab.Success, Failure: gitlab.Failed, Canceled: gitlab.Canceled}[st.State]
	var pid any = t.Repository
	if id, err := strconv.Atoi(t.Repository); err == nil {
		pid = id
	}
	_, res, err := c.Commits.SetCommitStatus(pid, sha, &gitlab.SetCommitStatusOptions{
		State: state, Name: gitlab.Ptr(st.Context), Description: gitlab.Ptr(st.Description),
	}, gitlab.WithContext(ctx))
	if err == nil {
		return nil
	}
	var r *http.Response
	if res != nil {
		r = res.Response
	}
	// GitLab refuses to set a status to the state it has already
	// ("Cannot transition status via :run from :running"): the forge
	// shows what Baton meant.
	if codeOf(r) == http.StatusBadRequest && strings.Contains(err.Error(), "Cannot transition status") {
		return nil
	}
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		return classify(r, errors.New(er.Message))
	}
	return classify(r, err)
}

func sendGitea(ctx context.Context, hc *http.Client, t Target, sha string, st Status) error {
	c, err := gitea.NewClient(t.Address.String(), gitea.SetToken(t.Token), gitea.SetHTTPClient(hc),
		gitea.SetGiteaVersion(""), gitea.SetContext(ctx))
	if err != nil {
		return &Error{Kind: Rejected, Err: err}
	}
	state := map[State]gitea.StatusState{Pending: gitea.StatusPending, Running: gitea.StatusPending, Success: gitea.StatusSuccess, Failure: gitea.StatusFailure, Canceled: gitea.StatusError}[st.State]
	owner, repo, _ := strings.Cut(t.Repository, "/")
	_, res, err := c.CreateStatus(owner, repo, sha, gitea.CreateStatusOption{State: state, Context: st.Context, Description: st.Description})
	if err == nil {
		return nil
	}
	var r *http.Response
	if res != nil {
		r = res.Response
	}
	return classify(r, err)
}

func codeOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// classify turns an answer that is not a success into an Error: 429, or
// 403 with X-RateLimit-Remaining: 0 (GitHub's, Gitea's) or RateLimit-Remaining: 0
// (GitLab's), is a rate limit; 401 and other 403s refuse the token; 5xx or
// no answer may pass; anything else is the forge rejecting the call.
func classify(r *http.Response, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// Its URL names the API path, never the token; keep only why.
		err = uerr.Err
	}
	if r == nil {
		return &Error{Kind: Unavailable, Err: err}
	}
	e := &Error{Code: r.StatusCode, Err: err, RetryAfter: retryAfter(r.Header)}
	limited := r.Header.Get("X-RateLimit-Remaining") == "0" || r.Header.Get("RateLimit-Remaining") == "0"
	switch {
	case r.StatusCode == http.StatusTooManyRequests, r.StatusCode == http.StatusForbidden && limited:
		e.Kind = RateLimited
	case r.StatusCode == http.StatusUnauthorized, r.StatusCode == http.StatusForbidden:
		e.Kind = Unauthorized
	case r.StatusCode >= 500:
		e.Kind = Unavailable
	default:
		e.Kind = Rejected
	}
	return e
}

// retryAfter reads Retry-After (seconds), else a reset time in Unix
// seconds (X-RateLimit-Reset, RateLimit-Reset).
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	for _, k := range []string{"X-RateLimit-Reset", "RateLimit-Reset"} {
		if s, err := strconv.ParseInt(h.Get(k), 10, 64); err == nil {
			if d := time.Until(time.Unix(s, 0)); d > 0 {
				return d
			}
		}
	}
	return 0
}
