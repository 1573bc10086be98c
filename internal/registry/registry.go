// Package registry asks an OCI registry for the digest a tag names now,
// with the credentials of a workload's imagePullSecrets, within a timeout,
// and says plainly why it could not: the image is not there, the
// credentials were refused, the registry is unreachable, or it asked Baton
// to slow down. No error text holds a credential.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	k8sauthn "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	"github.com/baton-dev/baton/internal/netpolicy"
)

// DefaultTimeout bounds one lookup, every request of it included.
const DefaultTimeout = 10 * time.Second

// Kind is why a lookup failed.
type Kind string

// Kinds of failure. Unreachable and RateLimited may pass when tried again.
const (
	NotFound     Kind = "NotFound"
	Unauthorized Kind = "Unauthorized"
	Unreachable  Kind = "Unreachable"
	RateLimited  Kind = "RateLimited"
	Invalid      Kind = "Invalid"
	// NotAllowed: the registry's host is outside Resolver.AllowedHosts;
	// nothing was sent.
	NotAllowed Kind = "NotAllowed"
)

// Error is a lookup that found no digest.
type Error struct {
	Kind  Kind
	Image string
	Err   error
}

func (e *Error) Error() string {
	switch e.Kind {
	case NotFound:
		return fmt.Sprintf("the registry has no image %s: %v", e.Image, e.Err)
	case Unauthorized:
		return fmt.Sprintf("the registry refused the credentials for %s (check the imagePullSecrets of the workload and of its ServiceAccount): %v", e.Image, e.Err)
	case RateLimited:
		return fmt.Sprintf("the registry asked to slow down while looking up %s: %v", e.Image, e.Err)
	case Invalid:
		return fmt.Sprintf("%s is not an image reference: %v", e.Image, e.Err)
	case NotAllowed:
		return fmt.Sprintf("the registry of %s is not allowed: %v", e.Image, e.Err)
	default:
		return fmt.Sprintf("the registry of %s did not answer: %v", e.Image, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again may succeed.
func (e *Error) Retryable() bool { return e.Kind == Unreachable || e.Kind == RateLimited }

// Resolver looks up digests. The zero value uses http.DefaultTransport
// (TLS verified) and DefaultTimeout.
type Resolver struct {
	// Transport makes the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds one lookup; zero means DefaultTimeout.
	Timeout time.Duration
	// AllowedHosts, when not empty, are the only registry hosts Baton asks
	// (the manager's --allowed-registry-hosts; ".example.com" for every
	// host under example.com). Any other is refused before a connection.
	AllowedHosts []string
	// Insecure allows plain http:// registries: only for a registry on
	// the loopback in tests.
	Insecure bool
}

// Keychain is the credentials of pull secrets (kubernetes.io/dockerconfigjson
// or kubernetes.io/dockercfg), as the kubelet would use them; none means
// anonymous.
func Keychain(ctx context.Context, secrets []corev1.Secret) (authn.Keychain, error) {
	if len(secrets) == 0 {
		return authn.NewMultiKeychain(), nil
	}
	return k8sauthn.NewFromPullSecrets(ctx, secrets)
}

// Digest is the digest ref names in its registry now: ref's own digest
// when it has one, else the tag's, from a HEAD of its manifest (a GET
// when the registry's HEAD gives no digest).
func (r *Resolver) Digest(ctx context.Context, ref string, keychain authn.Keychain) (string, error) {
	var opts []name.Option
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	parsed, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", &Error{Kind: Invalid, Image: ref, Err: err}
	}
	if d, ok := parsed.(name.Digest); ok {
		return d.DigestStr(), nil
	}
	if host := parsed.Context().RegistryStr(); len(r.AllowedHosts) > 0 && !netpolicy.Allows(r.AllowedHosts, hostOnly(host)) {
		return "", &Error{Kind: NotAllowed, Image: ref,
			Err: fmt.Errorf("host %s is outside the manager's --allowed-registry-hosts (%s); Baton made no connection", hostOnly(host), strings.Join(r.AllowedHosts, ","))}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rt := r.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !r.Insecure {
		// go-containerregistry falls back to plain http for registries on
		// the loopback and on private (RFC 1918) addresses when https
		// fails, and would send the pull secret's credentials there.
		rt = httpsOnly{rt}
	}
	if keychain == nil {
		keychain = authn.NewMultiKeychain()
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithAuthFromKeychain(keychain), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	desc, err := remote.Head(parsed, ropts...)
	if err == nil && desc.Digest.Hex != "" {
		return desc.Digest.String(), nil
	}
	if err != nil && !headUnsupported(err) {
		return "", classify(ref, err)
	}
	full, err := remote.Get(parsed, ropts...)
	if err != nil {
		return "", classify(ref, err)
	}
	return full.Digest.String(), nil
}

// hostOnly is host:port without the port.
func hostOnly(hostPort string) string {
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		return h
	}
	return hostPort
}

// httpsOnly refuses every request that is not https, before it is sent.
type httpsOnly struct{ next http.RoundTripper }

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing %s://%s: Baton asks registries over https only", req.URL.Scheme, req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// headUnsupported: some registries answer HEAD with 405 or without a
// body to classify; a GET may still work.
func headUnsupported(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed
}

// classify names why err found no digest. transport.Error's text holds
// the registry's diagnostics and the request's URL, never a credential:
// go-containerregistry sends them only in headers.
func classify(ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return &Error{Kind: NotFound, Image: ref, Err: err}
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &Error{Kind: Unauthorized, Image: ref, Err: err}
		case te.StatusCode == http.StatusTooManyRequests:
			return &Error{Kind: RateLimited, Image: ref, Err: err}
		case te.StatusCode >= 500:
			return &Error{Kind: Unreachable, Image: ref, Err: err}
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return &Error{Kind: NotFound, Image: ref, Err: err}
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return &Error{Kind: Unauthorized, Image: ref, Err: err}
			case transport.TooManyRequestsErrorCode:
				return &Error{Kind: RateLimited, Image: ref, Err: err}
			}
		}
		return &Error{Kind: Unreachable, Image: ref, Err: err}
	}
	// No answer: refused, reset, a name that does not resolve, or the
	// timeout.
	return &Error{Kind: Unreachable, Image: ref, Err: err}
}
