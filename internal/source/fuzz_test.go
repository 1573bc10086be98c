package source

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzHook feeds untrusted headers and bodies to the signature and payload
// parsers: they must never panic, a signature must verify only for the
// body and secret it was made with, and every refusal is one line with an
// HTTP status.
func FuzzHook(f *testing.F) {
	body := `{"ref":"refs/heads/main","after":"0123"}`
	f.Add("github", "sha256="+hexMAC(testSecret, []byte(body)), "push", body, "application/json")
	f.Add("gitea", hexMAC(testSecret, []byte(body)), "push", body, "")
	f.Add("gitlab", testSecret, "Push Hook", body, "application/json; charset=utf-8")
	f.Add("github", "sha256=", "ping", `{"zen":"Keep it logically awesome."}`, "application/json")
	f.Add("github", "sha1=deadbeef", "push", `{"ref":`, "application/x-www-form-urlencoded")
	f.Add("gitea", strings.Repeat("g", 64), "push", `[]`, "text/plain;;")
	f.Fuzz(func(t *testing.T, provider, signature, event, payload, contentType string) {
		h := http.Header{}
		switch provider {
		case "github":
			h.Set(GitHubSignatureHeader, signature)
			h.Set("X-GitHub-Event", event)
		case "gitea":
			h.Set(GiteaSignatureHeader, signature)
			h.Set("X-Gitea-Event", event)
		default:
			h.Set(GitLabTokenHeader, signature)
			h.Set("X-Gitlab-Event", event)
		}
		h.Set("Content-Type", contentType)
		sig, err := ParseSignature(h)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if sig.Verify([]byte(payload), nil) {
			t.Fatal("verified with an empty secret")
		}
		if sig.Verify([]byte(payload), []byte(testSecret)) && sig.Provider != GitLab {
			if signature != "sha256="+hexMAC(testSecret, []byte(payload)) && signature != hexMAC(testSecret, []byte(payload)) {
				t.Fatalf("a signature that is not the body's HMAC verified: %q", signature)
			}
		}
		ev, err := ParseEvent(sig.Provider, h, []byte(payload))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		ok, why := ev.Triggers("main")
		if ok != (ev.Push && ev.Ref == "refs/heads/main") {
			t.Fatalf("Triggers = %v for %+v", ok, ev)
		}
		if !ok && (why == "" || strings.ContainsAny(why, "\r\n")) {
			t.Fatalf("ignored without a one-line reason: %q", why)
		}
	})
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	he, ok := err.(*HookError)
	if !ok {
		t.Fatalf("refusal is a %T, not a *HookError: %v", err, err)
	}
	if he.Status < 400 || he.Status > 499 || he.Message == "" || strings.ContainsAny(he.Message, "\r\n") {
		t.Fatalf("refusal %d %q is not a 4xx with a one-line reason", he.Status, he.Message)
	}
}
