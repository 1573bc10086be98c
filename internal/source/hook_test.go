package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

const testSecret = "webhook-secret-for-tests"

func hexMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := hexMAC(testSecret, body)
	tests := []struct {
		name     string
		header   http.Header
		provider Provider
		valid    bool
		parseErr string
	}{
		{"GitHub, valid", headers(GitHubSignatureHeader, "sha256="+good), GitHub, true, ""},
		{"GitHub, other secret", headers(GitHubSignatureHeader, "sha256="+hexMAC("other", body)), GitHub, false, ""},
		{"GitHub, sha1 prefix", headers(GitHubSignatureHeader, "sha1="+good), "", false, `must start with "sha256="`},
		{"GitHub, short", headers(GitHubSignatureHeader, "sha256=abcd"), "", false, "4 characters, want 64"},
		{"GitHub, not hex", headers(GitHubSignatureHeader, "sha256="+strings.Repeat("zz", 32)), "", false, "not a hex HMAC-SHA256"},
		{"Gitea, valid", headers(GiteaSignatureHeader, good), Gitea, true, ""},
		{"Gitea wins over its GitHub header", headers(GiteaSignatureHeader, good, GitHubSignatureHeader, "sha256="+strings.Repeat("0", 64)), Gitea, true, ""},
		{"Gitea, bad", headers(GiteaSignatureHeader, strings.Repeat("0", 64)), Gitea, false, ""},
		{"GitLab, valid", headers(GitLabTokenHeader, testSecret), GitLab, true, ""},
		{"GitLab, prefix of the secret", headers(GitLabTokenHeader, testSecret[:5]), GitLab, false, ""},
		{"GitLab, wrong", headers(GitLabTokenHeader, "nope"), GitLab, false, ""},
		{"unsigned", headers("X-GitHub-Event", "push"), "", false, "the hook is not signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := ParseSignature(tt.header)
			if tt.parseErr != "" {
				he, ok := err.(*HookError)
				if !ok || he.Status != http.StatusUnauthorized || !strings.Contains(he.Message, tt.parseErr) {
					t.Fatalf("ParseSignature: got %v, want a 401 containing %q", err, tt.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			if sig.Provider != tt.provider {
				t.Errorf("provider %q, want %q", sig.Provider, tt.provider)
			}
			if got := sig.Verify(body, []byte(testSecret)); got != tt.valid {
				t.Errorf("Verify = %v, want %v", got, tt.valid)
			}
			if sig.Verify(body, nil) {
				t.Error("an empty secret verified")
			}
			if tt.valid && sig.Provider != GitLab && sig.Verify(append(body, ' '), []byte(testSecret)) {
				t.Error("a changed body verified")
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name     string
		provider Provider
		header   http.Header
		body     string
		triggers bool
		answer   string // reason it is ignored, or the error
		status   int
	}{
		{"GitHub push to main", GitHub, headers("X-GitHub-Event", "push"), `{"ref":"refs/heads/main","after":"x"}`, true, "", 0},
		{"Gitea push to main", Gitea, headers("X-Gitea-Event", "push", "Content-Type", "application/json"), `{"ref":"refs/heads/main"}`, true, "", 0},
		{"GitLab push to main", GitLab, headers("X-Gitlab-Event", "Push Hook"), `{"ref":"refs/heads/main"}`, true, "", 0},
		{"other branch", GitHub, headers("X-GitHub-Event", "push"), `{"ref":"refs/heads/feature"}`, false, "push to refs/heads/feature: this Environment follows branch main", 0},
		{"tag", GitLab, headers("X-Gitlab-Event", "Push Hook"), `{"ref":"refs/tags/v1"}`, false, "push to refs/tags/v1", 0},
		{"ping", GitHub, headers("X-GitHub-Event", "ping"), `{"zen":"x"}`, false, "ping received", 0},
		{"pull request", GitHub, headers("X-GitHub-Event", "pull_request"), `{}`, false, `event "pull_request" is not a push`, 0},
		{"GitLab tag hook", GitLab, headers("X-Gitlab-Event", "Tag Push Hook"), `{"ref":"refs/tags/v1"}`, false, `event "Tag Push Hook" is not a push`, 0},
		{"no event header", GitHub, headers(), `{"ref":"refs/heads/main"}`, false, "the hook has no X-GitHub-Event header", http.StatusBadRequest},
		{"form encoded", GitHub, headers("X-GitHub-Event", "push", "Content-Type", "application/x-www-form-urlencoded"), `payload=%7B%7D`, false, "set the webhook's content type to application/json", http.StatusUnsupportedMediaType},
		{"not JSON", Gitea, headers("X-Gitea-Event", "push"), `<xml/>`, false, "the push payload is not a JSON object", http.StatusBadRequest},
		{"JSON array", Gitea, headers("X-Gitea-Event", "push"), `[1]`, false, "the push payload is not a JSON object", http.StatusBadRequest},
		{"no ref", GitHub, headers("X-GitHub-Event", "push"), `{"after":"abc"}`, false, `the push payload has no "ref"`, http.StatusBadRequest},
		{"ref not a string", GitHub, headers("X-GitHub-Event", "push"), `{"ref":1}`, false, "the push payload is not a JSON object", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent(tt.provider, tt.header, []byte(tt.body))
			if tt.status != 0 {
				he, ok := err.(*HookError)
				if !ok || he.Status != tt.status || !strings.Contains(he.Message, tt.answer) {
					t.Fatalf("got %v, want %d containing %q", err, tt.status, tt.answer)
				}
				if strings.Contains(he.Message, "\n") {
					t.Errorf("answer is not one line: %q", he.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			ok, why := ev.Triggers("main")
			if ok != tt.triggers || !strings.Contains(why, tt.answer) {
				t.Errorf("Triggers = %v, %q; want %v, %q", ok, why, tt.triggers, tt.answer)
			}
		})
	}
}
