package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Distinctive, so that a leak into an error text cannot be missed.
const (
	user     = "ci-puller"
	password = "reg-Pa55word-3c9e1f7a"
)

// server is a real OCI registry (go-containerregistry's, in process) over
// TLS, behind basic auth when auth is set, counting requests.
type server struct {
	*httptest.Server
	requests atomic.Int64
	// answer, when set, answers instead of the registry.
	answer atomic.Pointer[func(http.ResponseWriter, *http.Request)]
}

func newServer(t *testing.T, auth bool) *server {
	t.Helper()
	s := &server{}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if f := s.answer.Load(); f != nil {
			(*f)(w, r)
			return
		}
		if auth {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) host() string { return strings.TrimPrefix(s.URL, "https://") }

// push writes a new random image under repo:tag and returns its digest.
func (s *server) push(t *testing.T, repoTag string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(s.host() + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(s.Client().Transport), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// pullSecret is a kubernetes.io/dockerconfigjson Secret for host.
func pullSecret(host, username, pw string) corev1.Secret {
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"username": username, "password": pw, "auth": base64.StdEncoding.EncodeToString([]byte(username + ":" + pw)),
	}}})
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "web"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
}

func TestDigestOfATag(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, true)
	first := s.push(t, "web:1.0")
	kc, err := Keychain(ctx, []corev1.Secret{pullSecret(s.host(), user, password)})
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Transport: s.Client().Transport}
	got, err := r.Digest(ctx, s.host()+"/web:1.0", kc)
	if err != nil || got != first {
		t.Fatalf("Digest = %q, %v; want %s", got, err, first)
	}

	// The tag is pushed again: the registry's answer is the new bytes.
	second := s.push(t, "web:1.0")
	if second == first {
		t.Fatal("two random images with one digest")
	}
	if got, err := r.Digest(ctx, s.host()+"/web:1.0", kc); err != nil || got != second {
		t.Fatalf("after the re-push, Digest = %q, %v; want %s", got, err, second)
	}

	// A reference by digest is its own answer: no request at all.
	before := s.requests.Load()
	if got, err := r.Digest(ctx, s.host()+"/web@"+first, kc); err != nil || got != first {
		t.Fatalf("Digest of a digest reference = %q, %v; want %s", got, err, first)
	}
	if n := s.requests.Load() - before; n != 0 {
		t.Fatalf("a digest reference made %d requests; want 0", n)
	}
}

func TestDigestFailures(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, true)
	s.push(t, "web:1.0")
	good := []corev1.Secret{pullSecret(s.host(), user, password)}
	wrong := []corev1.Secret{pullSecret(s.host(), user, "not-"+password)}
	down := newServer(t, false)
	down.Close()

	tests := []struct {
		name    string
		srv     *server
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
				tc.srv.answer.Store(&tc.answer)
				defer tc.srv.answer.Store(nil)
			}
			kc, err := Keychain(ctx, tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			r := &Resolver{Transport: s.Client().Transport, Timeout: tc.timeout}
			got, err := r.Digest(ctx, tc.srv.host()+tc.ref, kc)
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
	ref, _ := name.ParseReference(s.host() + "/app:v2")
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
	got, err := (&Resolver{Transport: s.Client().Transport}).Digest(context.Background(), s.host()+"/app:v2", nil)
	if err != nil || got != want.String() {
		t.Fatalf("Digest = %q, %v; want %s", got, err, want)
	}
}
