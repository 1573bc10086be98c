// Package registrytest runs a real OCI registry in the test's process:
// go-containerregistry's, over TLS, optionally behind basic auth, with
// images pushed by remote.Write.
package registrytest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Server is the registry. Its TLS certificate is httptest's: trust it with
// Client().Transport.
type Server struct {
	*httptest.Server
	// Requests counts every request.
	Requests atomic.Int64
	// Answer, when set, answers instead of the registry (a rate limit, a
	// failure, a hang).
	Answer atomic.Pointer[func(http.ResponseWriter, *http.Request)]
	auth   *authn.Basic
	// transport trusts the server's certificate, for Push.
	transport http.RoundTripper
}

// New starts a registry; with auth it refuses every request without
// those credentials, as a private registry does.
func New(auth *authn.Basic) *Server {
	s := &Server{auth: auth}
	s.Server = httptest.NewTLSServer(s.handler())
	s.transport = s.Client().Transport
	return s
}

// NewOn starts a registry on addr (host:port) that serves cert, which a
// CA in roots signed: a registry on a port of its own that a manager
// trusting roots can reach.
func NewOn(addr string, cert tls.Certificate, roots *x509.CertPool, auth *authn.Basic) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{auth: auth}
	s.Server = httptest.NewUnstartedServer(s.handler())
	_ = s.Listener.Close()
	s.Listener = l
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.StartTLS()
	s.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return s, nil
}

func (s *Server) handler() http.Handler {
	auth := s.auth
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		if f := s.Answer.Load(); f != nil {
			(*f)(w, r)
			return
		}
		if auth != nil {
			if u, p, ok := r.BasicAuth(); !ok || u != auth.Username || p != auth.Password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, r)
	})
}

// Host is the registry's host:port, as image references name it.
func (s *Server) Host() string { return strings.TrimPrefix(s.URL, "https://") }

// Push writes a new random image under repo:tag (pushing the tag again
// moves it) and returns the image's digest.
func (s *Server) Push(repoTag string) (string, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	ref, err := name.ParseReference(s.Host() + "/" + repoTag)
	if err != nil {
		return "", err
	}
	opts := []remote.Option{remote.WithTransport(s.transport)}
	if s.auth != nil {
		opts = append(opts, remote.WithAuth(s.auth))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// PullSecret is a kubernetes.io/dockerconfigjson Secret namespace/name
// that logs in to host, as `kubectl create secret docker-registry` makes it.
func PullSecret(namespace, name, host, username, password string) corev1.Secret {
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"username": username, "password": password, "auth": base64.StdEncoding.EncodeToString([]byte(username + ":" + password)),
	}}})
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
}
