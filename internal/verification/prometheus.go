package verification

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// MaxResponseBytes caps a Prometheus answer: a check needs one sample, and a
// query that matches every series of a large Prometheus must not fill the
// manager's memory.
const MaxResponseBytes = 1 << 20

// Credentials are what secretRef holds; empty sends none.
type Credentials struct {
	Token              string
	Username, Password string
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
// transport that adds the credentials and caps the response.
type PrometheusQuerier struct {
	// Transport is the base transport; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// Query evaluates query at Prometheus' present time (the manager's clock
// may differ from it). The caller bounds ctx with the check's timeout.
// Errors are *QueryError.
func (q PrometheusQuerier) Query(ctx context.Context, address string, creds Credentials, query string) (model.Value, error) {
	base := q.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	rt := &transport{base: base, creds: creds}
	client, err := api.NewClient(api.Config{Address: address, RoundTripper: rt})
	if err != nil {
		return nil, &QueryError{Reason: batonv1alpha1.InvalidCheckReason, Message: fmt.Sprintf("prometheus.address %q is not a URL: %v", address, err)}
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
