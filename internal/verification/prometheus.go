package verification

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/netpolicy"
)

// MaxResponseBytes caps a Prometheus answer: a check needs one sample, and a
// query that matches every series of a large Prometheus must not fill the
// manager's memory.
const MaxResponseBytes = 1 << 20

// Credentials are what secretRef holds; empty sends none.
type Credentials struct {
	Token              string
	Username, Password string
	// CA is a PEM bundle (the Secret's key ca.crt) that replaces the
	// system's roots for this Prometheus.
	CA []byte
}

// QueryError is a query that could not be evaluated, with the condition
// reason that says what a person can do about it.
type QueryError struct {
	Reason  string
	Message string
}

func (e *QueryError) Error() string { return e.Message }

// Querier runs one instant query against a Prometheus HTTP API.
type Querier interface {
	Query(ctx context.Context, address string, creds Credentials, query string) (model.Value, error)
}

// PrometheusQuerier queries through client_golang's API client, over a
// transport that adds the credentials and caps the response. It follows
// redirects only to the same host, never down to plain http.
type PrometheusQuerier struct {
	// Transport is the base transport; http.DefaultTransport when nil.
	Transport http.RoundTripper
	// AllowedHosts, when not empty, are the only hosts an address may name
	// (the manager's --allowed-prometheus-hosts; netpolicy.Allows). Any
	// other is refused before a connection is made.
	AllowedHosts []string
}

// Query evaluates query at Prometheus' present time (the manager's clock
// may differ from it). The caller bounds ctx with the check's timeout.
// Errors are *QueryError.
func (q PrometheusQuerier) Query(ctx context.Context, address string, creds Credentials, query string) (model.Value, error) {
	u, err := url.Parse(address)
	if err != nil || u.Hostname() == "" {
		return nil, &QueryError{Reason: batonv1alpha1.InvalidCheckReason, Message: fmt.Sprintf("address %q is not a URL with a host", address)}
	}
	if len(q.AllowedHosts) > 0 && !netpolicy.Allows(q.AllowedHosts, u.Hostname()) {
		return nil, &QueryError{Reason: batonv1alpha1.HostNotAllowedReason, Message: fmt.Sprintf(
			"address names host %q, which is not in the manager's --allowed-prometheus-hosts (%s); Baton connects to no other host",
			u.Hostname(), strings.Join(q.AllowedHosts, ","))}
	}
	base, own, err := q.base(creds.CA)
	if err != nil {
		return nil, &QueryError{Reason: batonv1alpha1.InvalidCheckReason, Message: err.Error()}
	}
	if own != nil {
		defer own.CloseIdleConnections() // made for this query only
	}
	rt := &transport{base: base, creds: creds}
	client, err := api.NewClient(api.Config{Address: address, Client: &http.Client{Transport: rt, CheckRedirect: sameHost}})
	if err != nil {
		return nil, &QueryError{Reason: batonv1alpha1.InvalidCheckReason, Message: fmt.Sprintf("address %q is not a URL: %v", address, err)}
	}
	opts := []promv1.Option{}
	if d, ok := ctx.Deadline(); ok {
		// Whole seconds: client_golang sends Go's "9.99s", which
		// Prometheus' duration parser refuses.
		opts = append(opts, promv1.WithTimeout(max(time.Until(d).Truncate(time.Second), time.Second)))
	}
	value, _, err := promv1.NewAPI(client).Query(ctx, query, time.Time{}, opts...)
	if err != nil {
		return nil, classify(address, rt.status, err)
	}
	return value, nil
}

// base is the transport to send through: q.Transport, or with a CA bundle
// a copy of it (or of http.DefaultTransport) that trusts only that bundle,
// which is also returned as own: it serves this query only.
func (q PrometheusQuerier) base(ca []byte) (rt http.RoundTripper, own *http.Transport, err error) {
	base := q.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if len(ca) == 0 {
		return base, nil, nil
	}
	t, ok := base.(*http.Transport)
	if !ok {
		return nil, nil, errors.New("secretRef has ca.crt, but the manager's transport cannot take a CA bundle")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, nil, errors.New("secretRef: key ca.crt holds no PEM certificate")
	}
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	return t, t, nil
}

// errRedirect is the refusal of a redirect to another host or scheme.
var errRedirect = errors.New("Prometheus redirected to another host or to plain http; Baton does not follow it")

func sameHost(req *http.Request, via []*http.Request) error {
	if !netpolicy.SameHost(req, via) {
		return errRedirect
	}
	return nil
}

// classify turns a client error into a reason a person can act on. The
// message never carries the credentials: they travel in a header only.
func classify(address string, status int, err error) *QueryError {
	var apiErr *promv1.Error
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &QueryError{Reason: batonv1alpha1.UnauthorizedReason, Message: fmt.Sprintf(
			"Prometheus at %s answered %d %s: check prometheus.secretRef", address, status, http.StatusText(status))}
	case errors.Is(err, errRedirect):
		return &QueryError{Reason: batonv1alpha1.PrometheusUnreachableReason, Message: fmt.Sprintf(
			"Prometheus at %s: %v", address, errRedirect)}
	case errors.Is(err, errTooLarge):
		return &QueryError{Reason: batonv1alpha1.QueryFailedReason, Message: fmt.Sprintf(
			"Prometheus at %s answered more than %d bytes: the query must return one sample", address, MaxResponseBytes)}
	case errors.As(err, &apiErr) && (apiErr.Type == promv1.ErrBadData || apiErr.Type == promv1.ErrExec):
		return &QueryError{Reason: batonv1alpha1.QueryFailedReason, Message: fmt.Sprintf(
			"Prometheus at %s rejected prometheus.query: %s", address, apiErr.Msg)}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout(),
		errors.As(err, &apiErr) && apiErr.Type == promv1.ErrTimeout:
		return &QueryError{Reason: batonv1alpha1.PrometheusUnreachableReason, Message: fmt.Sprintf(
			"Prometheus at %s did not answer within the check's timeout", address)}
	case errors.As(err, &apiErr):
		return &QueryError{Reason: batonv1alpha1.QueryFailedReason, Message: fmt.Sprintf(
			"Prometheus at %s failed the query (%s): %s", address, apiErr.Type, apiErr.Msg)}
	case errors.As(err, &urlErr):
		return &QueryError{Reason: batonv1alpha1.PrometheusUnreachableReason, Message: fmt.Sprintf(
			"Prometheus at %s cannot be reached: %v", address, urlErr.Err)}
	}
	return &QueryError{Reason: batonv1alpha1.PrometheusUnreachableReason, Message: fmt.Sprintf(
		"Prometheus at %s cannot be reached: %v", address, err)}
}

var errTooLarge = errors.New("response too large")

// transport adds the credentials, records the status code and caps the
// body. One is made per query, so status is that query's.
type transport struct {
	base   http.RoundTripper
	creds  Credentials
	status int
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case t.creds.Token != "":
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.creds.Token)
	case t.creds.Username != "":
		req = req.Clone(req.Context())
		req.SetBasicAuth(t.creds.Username, t.creds.Password)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.status = resp.StatusCode
	resp.Body = &capped{ReadCloser: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// capped fails a read past the limit, so that io.ReadAll stops there.
type capped struct {
	io.ReadCloser
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.ReadCloser.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
