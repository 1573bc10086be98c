// Package forgetest is a local HTTPS server that answers the commit-status
// endpoints of GitHub, GitLab and Gitea as each documents them, and records
// what Baton sent. A real Gitea could not be built here; see
// docs/observability.md.
package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Received is one commit status the server accepted.
type Received struct {
	Forge       string
	Repository  string
	SHA         string
	State       string
	Context     string
	Description string
}

// Server is one forge's API.
type Server struct {
	*httptest.Server
	// Forge is github, gitlab or gitea.
	Forge string
	// Token is the only token it accepts.
	Token string

	mu       sync.Mutex
	received []Received
	// RateLimited answers every call with the forge's rate-limit answer.
	rateLimited bool
	// Down answers every call 503.
	down  bool
	calls int
}

var paths = map[string]*regexp.Regexp{
	"github": regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$`),
	"gitlab": regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40})$`),
	"gitea":  regexp.MustCompile(`^/api/v1/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$`),
}

// Start serves forge's API over TLS with its own certificate; the client
// of s.Server trusts it.
func Start(forge, token string) *Server {
	s := &Server{Forge: forge, Token: token}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Address is what spec.source.commitStatus.address names for this forge.
func (s *Server) Address() string {
	if s.Forge == "github" {
		return s.URL + "/api/v3"
	}
	return s.URL
}

// Received is what it accepted, in order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Calls counts every request, accepted or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// SetRateLimited and SetDown change how it answers.
func (s *Server) SetRateLimited(v bool) { s.mu.Lock(); s.rateLimited = v; s.mu.Unlock() }

// SetDown makes it answer 503 Service Unavailable.
func (s *Server) SetDown(v bool) { s.mu.Lock(); s.down = v; s.mu.Unlock() }

func (s *Server) authorized(r *http.Request) bool {
	switch s.Forge {
	case "github":
		return r.Header.Get("Authorization") == "Bearer "+s.Token
	case "gitlab":
		return r.Header.Get("PRIVATE-TOKEN") == s.Token
	}
	return r.Header.Get("Authorization") == "token "+s.Token
}

func answer(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m := paths[s.Forge].FindStringSubmatch(r.URL.EscapedPath())
	switch {
	case s.down:
		answer(w, http.StatusServiceUnavailable, map[string]string{"message": "unavailable"})
		return
	case r.Method != http.MethodPost || m == nil:
		answer(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	case !s.authorized(r):
		msg := map[string]string{"github": "Bad credentials", "gitlab": "401 Unauthorized", "gitea": "token is required"}[s.Forge]
		answer(w, http.StatusUnauthorized, map[string]string{"message": msg})
		return
	case s.rateLimited:
		s.limit(w)
		return
	case r.Header.Get("Content-Type") != "application/json":
		answer(w, http.StatusUnsupportedMediaType, map[string]string{"message": "want application/json"})
		return
	}
	var body struct {
		State       string `json:"state"`
		Context     string `json:"context"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	ctx := body.Context
	if s.Forge == "gitlab" {
		ctx = body.Name
	}
	if !validState(s.Forge, body.State) || ctx == "" {
		answer(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed: state " + body.State})
		return
	}
	repo := m[1]
	if s.Forge == "gitlab" {
		repo = unescape(repo)
		// GitLab refuses a transition to the state a status already has.
		for i := len(s.received) - 1; i >= 0; i-- {
			if p := s.received[i]; p.SHA == m[2] && p.Context == ctx {
				if p.State == body.State {
					answer(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("Cannot transition status via :%s from :%s", body.State, p.State)})
					return
				}
				break
			}
		}
	}
	s.received = append(s.received, Received{Forge: s.Forge, Repository: repo, SHA: m[2], State: body.State, Context: ctx, Description: body.Description})
	answer(w, http.StatusCreated, map[string]any{"id": len(s.received), "state": body.State, "context": ctx, "description": body.Description})
}

// limit is each forge's documented rate-limit answer.
func (s *Server) limit(w http.ResponseWriter) {
	reset := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	switch s.Forge {
	case "github":
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", reset)
		answer(w, http.StatusForbidden, map[string]string{"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})
	case "gitlab":
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", reset)
		w.Header().Set("Retry-After", "3600")
		answer(w, http.StatusTooManyRequests, map[string]string{"message": "Retry later"})
	default:
		w.Header().Set("Retry-After", "3600")
		answer(w, http.StatusTooManyRequests, map[string]string{"message": "rate limit exceeded"})
	}
}

func validState(forge, state string) bool {
	valid := map[string][]string{
		"github": {"error", "failure", "pending", "success"},
		"gitlab": {"pending", "running", "success", "failed", "canceled", "skipped"},
		"gitea":  {"pending", "success", "error", "failure", "warning"},
	}[forge]
	for _, v := range valid {
		if v == state {
			return true
		}
	}
	return false
}

func unescape(s string) string {
	out, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return out
}
