package git

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/netpolicy"
	"github.com/baton-dev/baton/internal/outcome"
)

// MaxErrorBody bounds what is read of a Git server's answer that is not a
// success. go-git reads such a body whole into its error message; a server
// that streams gigabytes would otherwise take the manager's memory, and the
// admission webhook with it.
const MaxErrorBody = 4 << 10

// Network is the manager's policy for the hosts a Git URL may name. The
// zero value allows every host and sends credentials only over TLS or SSH.
type Network struct {
	// AllowedHosts, when not empty, are the only hosts a Git URL may name:
	// a host name or address, or ".example.com" for every host under
	// example.com. Ports are not compared.
	AllowedHosts []string
	// PlainHTTPHosts may be sent credentials over plain http://. Only for a
	// development cluster whose Git server listens on the loopback.
	PlainHTTPHosts []string
}

// urlHost is the host of an https://, http://, ssh:// or scp-like
// (git@host:org/repo) URL, without port or brackets.
func urlHost(rawURL string) (scheme, host string, err error) {
	scheme, host, _, err = SplitURL(rawURL)
	return scheme, host, err
}

// SplitURL is the scheme ("ssh" for scp-like), host (without port or
// brackets) and path of an https://, http://, ssh:// or scp-like
// (git@host:org/repo) URL.
func SplitURL(rawURL string) (scheme, host, path string, err error) {
	if !strings.Contains(rawURL, "://") {
		// scp-like: [user@]host:path
		rest := rawURL
		if i := strings.Index(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		h, p, ok := strings.Cut(rest, ":")
		if !ok || h == "" {
			return "", "", "", fmt.Errorf("want https://host/path, ssh://host/path or user@host:path")
		}
		return "ssh", strings.Trim(h, "[]"), p, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", "", err
	}
	return strings.ToLower(u.Scheme), u.Hostname(), u.Path, nil
}

// check refuses a URL whose host the policy does not allow, and
// plain http:// when the Secret's credentials would travel over it. Both
// are checked before any connection is made.
func (n Network) check(r Remote) error {
	scheme, host, err := urlHost(r.URL)
	if err != nil {
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"%s.url %q cannot be parsed: %s", r.Field, RedactURLs(r.URL), RedactURLs(err.Error()))
	}
	switch scheme {
	case "https", "ssh", "http":
	default:
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"%s.url %q: scheme %q is not supported; use https://, ssh:// or user@host:path", r.Field, RedactURLs(r.URL), scheme)
	}
	if host == "" {
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason, "%s.url %q has no host", r.Field, RedactURLs(r.URL))
	}
	if len(n.AllowedHosts) > 0 && !netpolicy.Allows(n.AllowedHosts, host) {
		return outcome.Stall(batonv1alpha1.HostNotAllowedReason,
			"%s.url names host %q, which is not in the manager's --allowed-git-hosts (%s); Baton connects to no other host",
			r.Field, host, strings.Join(n.AllowedHosts, ","))
	}
	if scheme == "http" && r.SecretRef != nil && !netpolicy.Allows(n.PlainHTTPHosts, host) {
		return outcome.Stall(batonv1alpha1.InsecureTransportReason,
			"%s.url %s is plain http://, and Baton never sends the credentials of %s.secretRef (Secret %s) without TLS; use https:// or ssh://",
			r.Field, RedactURLs(r.URL), r.Field, r.secretName())
	}
	return nil
}

func init() {
	// Every HTTP(S) Git transport of the process caps error bodies and
	// follows no redirect to another host or down to plain HTTP, so that a
	// server cannot move credentials, or the allow-list, elsewhere.
	c := NewHTTPClient(http.DefaultTransport)
	client.InstallProtocol("https", githttp.NewClient(c))
	client.InstallProtocol("http", githttp.NewClient(c))
}

// NewHTTPClient is the HTTP client of Baton's Git transports over rt.
// go-git needs an *http.Transport only for per-remote TLS and proxy options,
// which Baton does not set.
func NewHTTPClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: cappedTransport{rt}, CheckRedirect: sameHostRedirect}
}

// errRedirect is the refusal of a redirect to another host or scheme.
var errRedirect = errors.New("the Git server redirected to another host or to plain HTTP; Baton does not follow it")

func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if !netpolicy.SameHost(req, via) {
		return errRedirect
	}
	return nil
}

// cappedTransport limits the body of every answer that is not a success.
type cappedTransport struct{ next http.RoundTripper }

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err != nil || res.StatusCode < http.StatusMultipleChoices || res.Body == nil {
		return res, err
	}
	res.Body = limitedBody{Reader: io.LimitReader(res.Body, MaxErrorBody), Closer: res.Body}
	return res, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// IsLoopback reports whether host is a loopback name or address, for the
// manager's start-up checks of --insecure-http-git-hosts.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
