package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/baton-dev/baton/internal/testing/registrytest"
)

// Distinctive, so that a leak into an error text cannot be missed.
const (
	user     = "ci-puller"
	password = "reg-Pa55word-3c9e1f7a"
)

// newServer is a real OCI registry over TLS (registrytest), behind basic
// auth when auth is set.
func newServer(t *testing.T, auth bool) *registrytest.Server {
	t.Helper()
	var basic *authn.Basic
	if auth {
		basic = &authn.Basic{Username: user, Password: password}
	}
	s := registrytest.New(basic)
	t.Cleanup(s.Close)
	return s
}

// push writes a new random image under repo:tag and returns its digest.
func push(t *testing.T, s *registrytest.Server, repoTag string) string {
	t.Helper()
	d, err := s.Push(repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func pullSecret(host, username, pw string) corev1.Secret {
	return registrytest.PullSecret("web", "pull", host, username, pw)
}

func TestDigestOfATag(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, true)
	first := push(t, s, "web:1.0")
	kc, err := Keychain(ctx, []corev1.Secret{pullSecret(s.Host(), user, password)})
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Transport: s.Client().Transport}
	got, err := r.Digest(ctx, s.Host()+"/web:1.0", kc)
	if err != nil || got != first {
		t.Fatalf("Digest = %q, %v; want %s", got, err, first)
	}

	// The tag is pushed again: the registry's answer is the new bytes.
	second := push(t, s, "web:1.0")
	if second == first {
		t.Fatal("two random images with one digest")
	}
	if got, err := r.Digest(ctx, s.Host()+"/web:1.0", kc); err != nil || got != second {
		t.Fatalf("after the re-push, Digest = %q, %v; want %s", got, err, second)
	}

	// A reference by digest is its own answer: no request at all.
	before := s.Requests.Load()
	if got, err := r.Digest(ctx, s.Host()+"/web@"+first, kc); err != nil || got != first {
		t.Fatalf("Digest of a digest reference = %q, %v; want %s", got, err, first)
	}
	if n := s.Requests.Load() - before; n != 0 {
		t.Fatalf("a digest reference made %d requests; want 0", n)
	}
}

func TestDigestFailures(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, true)
	push(t, s, "web:1.0")
	good := []corev1.Secret{pullSecret(s.Host(), user, password)}
	wrong := []corev1.Secret{pullSecret(s.Host(), user, "not-"+password)}
	down := newServer(t, false)
	down.Close()

	tests := []struct {
		name    string
		srv     *registrytest.Server
		ref     string
		secrets []corev1.Secret
		answer  func(http.ResponseWriter, *http.Request)
		timeout time.Duration
		want    Kind
		says    string
	}{
		{name: "a tag that was never pushed", srv: s, ref: "/web:9.9", secrets: good, want: NotFound, says: "the registry has no image"},
		{name: "a repository that does not exist", srv: s, ref: "/nothing:1.0", secrets: good, want: NotFound},
		{name: "no pull secret for a private registry", srv: s, ref: "/web:1.0", want: Unauthorized, says: "imagePullSecrets"},
		{name: "a pull secret with a wrong password", srv: s, ref: "/web:1.0", secrets: wrong, want: Unauthorized, says: "refused the credentials"},
		{name: "a registry that is down", srv: down, ref: "/web:1.0", secrets: good, want: Unreachable, says: "did not answer"},
		{name: "a rate limit", srv: s, ref: "/web:1.0", secrets: good, want: RateLimited, says: "slow down",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			}},
		{name: "a registry that fails", srv: s, ref: "/web:1.0", secrets: good, want: Unreachable,
			answer: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "upstream", http.StatusBadGateway) }},
		{name: "a registry slower than the timeout", srv: s, ref: "/web:1.0", secrets: good, want: Unreachable, timeout: 200 * time.Millisecond,
			answer: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			}},
		{name: "a reference that does not parse", srv: s, ref: "/Web:::", secrets: good, want: Invalid, says: "is not an image reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.answer != nil {
				tc.srv.Answer.Store(&tc.answer)
				defer tc.srv.Answer.Store(nil)
			}
			kc, err := Keychain(ctx, tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			r := &Resolver{Transport: s.Client().Transport, Timeout: tc.timeout}
			got, err := r.Digest(ctx, tc.srv.Host()+tc.ref, kc)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Digest = %q, %v; want an *Error of kind %s", got, err, tc.want)
			}
			if re.Kind != tc.want || got != "" {
				t.Fatalf("Digest = %q, kind %s (%v); want kind %s", got, re.Kind, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error %q holds the password", err)
			}
			if want := tc.want == Unreachable || tc.want == RateLimited; re.Retryable() != want {
				t.Fatalf("Retryable() = %v for %s", re.Retryable(), tc.want)
			}
		})
	}
}

// The registry's digest is the manifest's: what the kubelet reports in
// imageID for the bytes it pulled.
func TestDigestIsTheManifestDigest(t *testing.T) {
	s := newServer(t, false)
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(s.Host() + "/app:v2")
	if err := remote.Write(ref, img, remote.WithTransport(s.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Resolver{Transport: s.Client().Transport}).Digest(context.Background(), s.Host()+"/app:v2", nil)
	if err != nil || got != want.String() {
		t.Fatalf("Digest = %q, %v; want %s", got, err, want)
	}
}

// The attack: a registry on the loopback (or a private address) that makes
// https fail, hoping for go-containerregistry's fallback to plain http,
// where the pull secret's password would cross the network in the clear.
func TestCredentialsNeverGoOverPlainHTTP(t *testing.T) {
	var requests, withAuth atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			withAuth.Add(1)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="plain"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	defer plain.Close()
	host := strings.TrimPrefix(plain.URL, "http://")
	kc, err := Keychain(context.Background(), []corev1.Secret{pullSecret(host, user, password)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Resolver{}).Digest(context.Background(), host+"/web:1.0", kc)
	var re *Error
	if !errors.As(err, &re) || re.Kind != Unreachable || got != "" {
		t.Fatalf("Digest = %q, %v; want Unreachable", got, err)
	}
	if !strings.Contains(err.Error(), "https only") {
		t.Fatalf("error %q does not say that only https is used", err)
	}
	if requests.Load() != 0 || withAuth.Load() != 0 {
		t.Fatalf("the plain-http registry got %d requests, %d with credentials; want none", requests.Load(), withAuth.Load())
	}

	// Insecure (tests only) is the one way to ask a plain-http registry.
	if _, err := (&Resolver{Insecure: true}).Digest(context.Background(), host+"/web:1.0", kc); err == nil || requests.Load() == 0 {
		t.Fatalf("Insecure: Digest error %v after %d requests; want the registry asked (and refusing)", err, requests.Load())
	}
}

// BenchmarkDigest is what a registry lookup adds to a Promotion's resolve:
// a tag looked up in a registry on the loopback over TLS with basic auth,
// against a reference by digest, which asks nothing.
//
//	go test ./internal/registry/ -run '^$' -bench Digest -benchtime 200x
func BenchmarkDigest(b *testing.B) {
	s := registrytest.New(&authn.Basic{Username: user, Password: password})
	defer s.Close()
	d, err := s.Push("web:1.0")
	if err != nil {
		b.Fatal(err)
	}
	kc, err := Keychain(context.Background(), []corev1.Secret{pullSecret(s.Host(), user, password)})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, ref string }{
		{"by-digest", s.Host() + "/web@" + d},
		{"tag", s.Host() + "/web:1.0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// A fresh client each time, as each Promotion resolves once.
			for b.Loop() {
				tr := s.Client().Transport.(*http.Transport).Clone()
				if _, err := (&Resolver{Transport: tr}).Digest(context.Background(), bc.ref, kc); err != nil {
					b.Fatal(err)
				}
				tr.CloseIdleConnections()
			}
		})
	}
}

// --allowed-registry-hosts: a host outside the list is refused before any
// connection, with the pull secret or without; one inside it is asked.
func TestAllowedHosts(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, true)
	want := push(t, s, "web:1.0")
	kc, err := Keychain(ctx, []corev1.Secret{pullSecret(s.Host(), user, password)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		allowed []string
		ok      bool
	}{
		{"no list: every host", nil, true},
		{"the host itself (the port is not compared)", []string{"127.0.0.1"}, true},
		{"another host", []string{"registry.example.com"}, false},
		{"a suffix that does not cover it", []string{".example.com"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Requests.Load()
			got, err := (&Resolver{Transport: s.Client().Transport, AllowedHosts: tc.allowed}).Digest(ctx, s.Host()+"/web:1.0", kc)
			if tc.ok {
				if err != nil || got != want {
					t.Fatalf("Digest = %q, %v; want %s", got, err, want)
				}
				return
			}
			var re *Error
			if !errors.As(err, &re) || re.Kind != NotAllowed || got != "" {
				t.Fatalf("Digest = %q, %v; want NotAllowed", got, err)
			}
			if !strings.Contains(err.Error(), "--allowed-registry-hosts") || strings.Contains(err.Error(), password) {
				t.Fatalf("error %q: want it to name the flag, and no password", err)
			}
			if n := s.Requests.Load() - before; n != 0 {
				t.Fatalf("a refused host got %d requests; want none", n)
			}
		})
	}
}
