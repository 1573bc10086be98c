package git

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// TestNetworkPolicy: which URLs the manager's policy lets through, and the
// reason and field of each refusal.
func TestNetworkPolicy(t *testing.T) {
	secret := &batonv1alpha1.LocalObjectReference{Name: "creds"}
	allowList := Network{AllowedHosts: []string{"github.com", ".corp.example"}}
	cases := []struct {
		name    string
		network Network
		url     string
		secret  *batonv1alpha1.LocalObjectReference
		reason  string // empty: allowed
		says    string
	}{
		{"https with credentials", Network{}, "https://git.example.com/x.git", secret, "", ""},
		{"ssh with credentials", Network{}, "ssh://git@git.example.com/x.git", secret, "", ""},
		{"anonymous plain http", Network{}, "http://git.example.com/x.git", nil, "", ""},
		{"credentials over plain http", Network{}, "http://git.example.com/x.git", secret,
			batonv1alpha1.InsecureTransportReason, "delivery.git.url http://git.example.com/x.git is plain http://, and Baton never sends the credentials of delivery.git.secretRef (Secret team-a/creds) without TLS"},
		{"credentials over plain http to an allowed loopback", Network{PlainHTTPHosts: []string{"127.0.0.1"}}, "http://127.0.0.1:8080/x.git", secret, "", ""},
		{"credentials over plain http to another loopback name", Network{PlainHTTPHosts: []string{"127.0.0.1"}}, "http://localhost:8080/x.git", secret,
			batonv1alpha1.InsecureTransportReason, "plain http://"},
		{"allowed host", allowList, "https://github.com/acme/x.git", secret, "", ""},
		{"allowed subdomain", allowList, "git@git.corp.example:acme/x.git", secret, "", ""},
		{"host outside the allow-list", allowList, "https://attacker.example/x.git", nil,
			batonv1alpha1.HostNotAllowedReason, `delivery.git.url names host "attacker.example", which is not in the manager's --allowed-git-hosts (github.com,.corp.example)`},
		{"suffix that is not a subdomain", allowList, "https://evilcorp.example/x.git", nil, batonv1alpha1.HostNotAllowedReason, `"evilcorp.example"`},
		{"scp-like host outside the allow-list", allowList, "git@169.254.169.254:x.git", secret, batonv1alpha1.HostNotAllowedReason, `"169.254.169.254"`},
		{"file URL", Network{}, "file:///etc", nil, batonv1alpha1.RepositoryNotFoundReason, `scheme "file" is not supported`},
		{"git protocol", Network{}, "git://git.example.com/x.git", nil, batonv1alpha1.RepositoryNotFoundReason, `scheme "git" is not supported`},
		{"no host", Network{}, "https:///x.git", nil, batonv1alpha1.RepositoryNotFoundReason, "has no host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.network.check(Remote{Namespace: "team-a", URL: tc.url, SecretRef: tc.secret, Field: "delivery.git"})
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("check(%s) = %v, want allowed", tc.url, err)
				}
				return
			}
			st, ok := outcome.AsStalled(err)
			if !ok || st.Reason != tc.reason || !strings.Contains(st.Message, tc.says) {
				t.Fatalf("check(%s) = %v, want %s saying %q", tc.url, err, tc.reason, tc.says)
			}
		})
	}
}

// TestRedirectToAnotherHostIsNotFollowed: a Git server cannot move Baton,
// and the credentials it carries, to another host or down to plain HTTP.
func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	var reached int
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	defer other.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer first.Close()
	_, err := NewHTTPClient(http.DefaultTransport).Get(first.URL + "/x.git/info/refs")
	if !errors.Is(err, errRedirect) || reached != 0 {
		t.Fatalf("Get = %v, other server reached %d times; want errRedirect and none", err, reached)
	}
}

// TestErrorBodyIsCapped: an error answer's body reads as MaxErrorBody bytes
// at most, however much the server sends.
func TestErrorBodyIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(strings.Repeat("x", 10*MaxErrorBody)))
	}))
	defer srv.Close()
	res, err := NewHTTPClient(http.DefaultTransport).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n, _ := io.Copy(io.Discard, res.Body)
	if n != MaxErrorBody {
		t.Errorf("read %d bytes of the error body, want %d", n, MaxErrorBody)
	}
}
