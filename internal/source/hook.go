package source

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Provider is the forge that sent a webhook.
type Provider string

// The forges whose push hooks Baton verifies.
const (
	GitHub Provider = "GitHub"
	GitLab Provider = "GitLab"
	Gitea  Provider = "Gitea"
)

// Signature headers.
const (
	// GitHubSignatureHeader is "sha256=" and the hex HMAC-SHA256 of the body.
	GitHubSignatureHeader = "X-Hub-Signature-256"
	// GiteaSignatureHeader is the hex HMAC-SHA256 of the body.
	GiteaSignatureHeader = "X-Gitea-Signature"
	// GitLabTokenHeader is the secret token itself.
	GitLabTokenHeader = "X-Gitlab-Token"
)

// HookError is a refused hook: the HTTP status and a one-line reason for
// the sender.
type HookError struct {
	Status  int
	Message string
}

func (e *HookError) Error() string { return e.Message }

func hookError(status int, format string, args ...any) *HookError {
	return &HookError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Signature is what a hook claims to prove with the shared secret.
type Signature struct {
	Provider Provider
	// mac is the decoded HMAC (GitHub, Gitea); token the GitLab token.
	mac   []byte
	token []byte
}

// ParseSignature reads the signature header. Gitea also sends GitHub's
// header with the same HMAC, so its own header is read first; a hook with
// none of them is refused with 401.
func ParseSignature(h http.Header) (Signature, error) {
	if v := h.Get(GiteaSignatureHeader); v != "" {
		mac, err := decodeMAC(v)
		if err != nil {
			return Signature{}, hookError(http.StatusUnauthorized, "%s is not a hex HMAC-SHA256: %v", GiteaSignatureHeader, err)
		}
		return Signature{Provider: Gitea, mac: mac}, nil
	}
	if v := h.Get(GitHubSignatureHeader); v != "" {
		hexMAC, ok := strings.CutPrefix(v, "sha256=")
		if !ok {
			return Signature{}, hookError(http.StatusUnauthorized, "%s must start with \"sha256=\"", GitHubSignatureHeader)
		}
		mac, err := decodeMAC(hexMAC)
		if err != nil {
			return Signature{}, hookError(http.StatusUnauthorized, "%s is not a hex HMAC-SHA256: %v", GitHubSignatureHeader, err)
		}
		return Signature{Provider: GitHub, mac: mac}, nil
	}
	if v := h.Get(GitLabTokenHeader); v != "" {
		return Signature{Provider: GitLab, token: []byte(v)}, nil
	}
	return Signature{}, hookError(http.StatusUnauthorized, "the hook is not signed: set a secret in the webhook so that it sends %s (GitHub), %s (Gitea) or %s (GitLab)",
		GitHubSignatureHeader, GiteaSignatureHeader, GitLabTokenHeader)
}

func decodeMAC(s string) ([]byte, error) {
	if len(s) != 2*sha256.Size {
		return nil, fmt.Errorf("%d characters, want %d", len(s), 2*sha256.Size)
	}
	return hex.DecodeString(s)
}

// Verify reports whether the signature proves knowledge of secret for body.
// Every comparison takes the same time whatever the inputs hold: HMACs with
// hmac.Equal, and GitLab's token through a SHA-256 of each side, so that
// not even its length shows.
func (s Signature) Verify(body, secret []byte) bool {
	if len(secret) == 0 {
		return false
	}
	if s.Provider == GitLab {
		a, b := sha256.Sum256(s.token), sha256.Sum256(secret)
		return hmac.Equal(a[:], b[:])
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(m.Sum(nil), s.mac)
}

// Event is a verified hook, reduced to what Baton acts on. It carries no
// commit: the SHA in a payload is never trusted, the controller reads the
// branch itself.
type Event struct {
	// Name is the forge's event name (push, ping, Push Hook...).
	Name string
	// Push is true for a push event; Ref is then the pushed reference.
	Push bool
	Ref  string
}

// event headers per forge, and the name of their push event.
var eventHeaders = map[Provider]struct{ header, push, ping string }{
	GitHub: {"X-GitHub-Event", "push", "ping"},
	Gitea:  {"X-Gitea-Event", "push", ""},
	GitLab: {"X-Gitlab-Event", "Push Hook", ""},
}

// IsPing reports whether the event is GitHub's ping, sent when a hook is
// created.
func (e Event) IsPing() bool { return e.Name == "ping" }

// ParseEvent reads the event name and, for a push, the pushed ref from a
// JSON body. Call it only on a verified body.
func ParseEvent(p Provider, h http.Header, body []byte) (Event, error) {
	eh, ok := eventHeaders[p]
	if !ok {
		return Event{}, hookError(http.StatusBadRequest, "unknown provider %q", p)
	}
	name := h.Get(eh.header)
	if name == "" {
		return Event{}, hookError(http.StatusBadRequest, "the hook has no %s header", eh.header)
	}
	ev := Event{Name: name}
	if name != eh.push {
		return ev, nil
	}
	if ct := h.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return Event{}, hookError(http.StatusUnsupportedMediaType, "content type %q: set the webhook's content type to application/json", Sanitize(ct, 64))
		}
	}
	var payload struct {
		Ref *string `json:"ref"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&payload); err != nil {
		return Event{}, hookError(http.StatusBadRequest, "the push payload is not a JSON object: %s", Sanitize(err.Error(), 120))
	}
	if payload.Ref == nil || *payload.Ref == "" {
		return Event{}, hookError(http.StatusBadRequest, "the push payload has no \"ref\"")
	}
	ev.Push, ev.Ref = true, *payload.Ref
	return ev, nil
}

// Triggers says whether ev asks for a read of branch, and if not, the
// one-line reason it is ignored.
func (e Event) Triggers(branch string) (bool, string) {
	switch {
	case e.IsPing():
		return false, "ping received; push events on branch " + branch + " trigger a read"
	case !e.Push:
		return false, fmt.Sprintf("event %q is not a push; only pushes to branch %s trigger a read", Sanitize(e.Name, 64), branch)
	case e.Ref != "refs/heads/"+branch:
		return false, fmt.Sprintf("push to %s: this Environment follows branch %s", Sanitize(e.Ref, 128), branch)
	}
	return true, ""
}
