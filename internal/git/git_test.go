package git

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

func TestRedact(t *testing.T) {
	secrets := secretFragments([]byte("-----BEGIN KEY-----\nAAAABBBBCCCCDDDDEEEE\nFFFFGGGGHHHHIIIIJJJJ\n-----END KEY-----\n"))
	secrets = append(secrets, secretFragments([]byte("hunter2-password"))...)
	cases := []struct{ in, want string }{
		{`Get "https://bot:hunter2-password@git.example.com/x.git/info/refs": 401`, `Get "https://git.example.com/x.git/info/refs": 401`},
		{"ssh://git@host:22/x.git failed", "ssh://host:22/x.git failed"},
		{"key line FFFFGGGGHHHHIIIIJJJJ leaked", "key line [redacted] leaked"},
		{"token hunter2-password leaked", "token [redacted] leaked"},
		{"nothing to hide", "nothing to hide"},
	}
	for _, tc := range cases {
		if got := redact(tc.in, secrets); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWrapRedactsAndKeepsTheCause(t *testing.T) {
	c := &Credentials{secrets: secretFragments([]byte("hunter2-password"))}
	err := c.Wrap(fmt.Errorf("server said hunter2-password: %w", transport.ErrAuthorizationFailed), "push to %s", "https://bot:x@h/r.git")
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "bot:x") {
		t.Errorf("Wrap leaked a credential: %s", err)
	}
	if !errors.Is(err, transport.ErrAuthorizationFailed) {
		t.Errorf("Wrap lost the cause: %v", err)
	}
}

func TestClassify(t *testing.T) {
	withSecret := Remote{Namespace: "team-a", URL: "https://bot@git.example.com/app.git", Field: "spec.source.git",
		SecretRef: &batonv1alpha1.LocalObjectReference{Name: "app-git"}}
	anonymous := Remote{URL: "https://git.example.com/config.git", Field: "delivery.git", Push: true}
	already := outcome.Stall(batonv1alpha1.PushRejectedReason, "refused")
	cases := []struct {
		name   string
		remote Remote
		err    error
		reason string // empty: retryable
		want   []string
	}{
		{"refused credentials", withSecret, fmt.Errorf("list: %w", transport.ErrAuthenticationRequired), batonv1alpha1.AuthenticationFailedReason,
			[]string{"https://git.example.com/app.git refused the credentials in Secret team-a/app-git (spec.source.git.secretRef)", "may read the repository"}},
		{"refused anonymous access", anonymous, transport.ErrAuthorizationFailed, batonv1alpha1.AuthenticationFailedReason,
			[]string{"refused anonymous access; set delivery.git.secretRef", "may push to the repository"}},
		{"ssh refused the key", withSecret, errors.New("ssh: handshake failed: ssh: unable to authenticate"), batonv1alpha1.AuthenticationFailedReason, nil},
		{"unknown host key", withSecret, errors.New("ssh: handshake failed: knownhosts: key is unknown"), batonv1alpha1.HostKeyUnknownReason,
			[]string{"is not in known_hosts of Secret team-a/app-git"}},
		{"missing repository", withSecret, transport.ErrRepositoryNotFound, batonv1alpha1.RepositoryNotFoundReason,
			[]string{"spec.source.git.url: https://git.example.com/app.git does not exist"}},
		{"empty repository", anonymous, transport.ErrEmptyRemoteRepository, batonv1alpha1.RepositoryNotFoundReason, []string{"has no commits"}},
		{"already stalled", anonymous, fmt.Errorf("push: %w", already), batonv1alpha1.PushRejectedReason, nil},
		{"a network error is retryable", anonymous, errors.New("dial tcp 127.0.0.1:1: connection refused"), "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Credentials{remote: tc.remote}).Classify(tc.err)
			if tc.reason == "" {
				if got != nil {
					t.Fatalf("Classify = %v, want nil (retryable)", got)
				}
				return
			}
			s, ok := outcome.AsStalled(got)
			if !ok || s.Reason != tc.reason {
				t.Fatalf("Classify = %#v, want Stalled %s", got, tc.reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(s.Message, w) {
					t.Errorf("message %q lacks %q", s.Message, w)
				}
			}
			if strings.Contains(s.Message, "bot@") {
				t.Errorf("message %q shows the URL's userinfo", s.Message)
			}
		})
	}
}

func TestReadCredentialsRefusesAPasswordInTheURL(t *testing.T) {
	_, err := ReadCredentials(t.Context(), nil, Remote{URL: "https://bot:hunter2@git.example.com/x.git", Field: "delivery.git"}, t.TempDir())
	s, ok := outcome.AsStalled(err)
	if !ok || s.Reason != batonv1alpha1.GitCredentialsInvalidReason || strings.Contains(s.Message, "hunter2") {
		t.Fatalf("ReadCredentials = %v, want GitCredentialsInvalid without the password", err)
	}
}

func TestSSHUser(t *testing.T) {
	for url, want := range map[string]string{
		"ssh://deploy@host/x.git": "deploy", "ssh://host/x.git": "git", "git@github.com:a/b.git": "git", "gitea@h:a/b.git": "gitea",
	} {
		if got := sshUser(url); got != want || !isSSH(url) {
			t.Errorf("sshUser(%q) = %q (ssh %v), want %q", url, got, isSSH(url), want)
		}
	}
	if isSSH("https://h/x.git") {
		t.Error("an https URL is not SSH")
	}
}
