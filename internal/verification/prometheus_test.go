package verification

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// prometheusAPI answers every query with one sample, and counts requests
// and the credentials they carried: the query API's documented shape, for
// the transport's unit tests (the envtest suite runs a real Prometheus).
type prometheusAPI struct {
	requests, withAuth atomic.Int64
}

func (p *prometheusAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Header.Get("Authorization") != "" {
		p.withAuth.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.01"]}}`))
}

func queryErr(t *testing.T, err error) *QueryError {
	t.Helper()
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("error %v (%T) is not a *QueryError", err, err)
	}
	return qe
}

func TestQueryRefusesAHostOutsideTheAllowListBeforeConnecting(t *testing.T) {
	api := &prometheusAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	q := PrometheusQuerier{AllowedHosts: []string{"localhost", ".monitoring.svc"}}
	_, err := q.Query(context.Background(), srv.URL, Credentials{Token: "t0ken"}, "up")
	qe := queryErr(t, err)
	if qe.Reason != batonv1alpha1.HostNotAllowedReason {
		t.Errorf("reason %s, want %s", qe.Reason, batonv1alpha1.HostNotAllowedReason)
	}
	want := `address names host "127.0.0.1", which is not in the manager's --allowed-prometheus-hosts (localhost,.monitoring.svc)`
	if !strings.Contains(qe.Message, want) {
		t.Errorf("message %q, want it to contain %q", qe.Message, want)
	}
	if n := api.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the host; want none", n)
	}

	q.AllowedHosts = []string{"127.0.0.1"}
	if _, err := q.Query(context.Background(), srv.URL, Credentials{}, "up"); err != nil {
		t.Fatalf("a listed host: %v", err)
	}
	if n := api.requests.Load(); n != 1 {
		t.Errorf("%d requests reached the listed host; want 1", n)
	}
}

func TestQueryFollowsRedirectsOnlyToTheSameHost(t *testing.T) {
	elsewhere := &prometheusAPI{}
	other := httptest.NewServer(elsewhere)
	defer other.Close()
	home := &prometheusAPI{}
	mux := http.NewServeMux()
	mux.Handle("/prometheus/", http.StripPrefix("/prometheus", home))
	mux.HandleFunc("/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		http.Redirect(w, r, strings.Replace(to, "PATH", r.URL.Path, 1), http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name, to string
		wantErr  bool
	}{
		// "localhost" is another host than 127.0.0.1, though the same
		// machine: the policy compares names, as the allow-list does.
		{"another host", strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "PATH", true},
		{"the same host", srv.URL + "/prometheusPATH", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := elsewhere.requests.Load()
			_, err := PrometheusQuerier{}.Query(context.Background(), srv.URL+"?to="+tc.to, Credentials{Token: "t0ken"}, "up")
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("same-host redirect: %v", err)
				}
				if home.withAuth.Load() == 0 {
					t.Error("the same host did not get the credentials after the redirect")
				}
				return
			}
			qe := queryErr(t, err)
			if qe.Reason != batonv1alpha1.PrometheusUnreachableReason || !strings.Contains(qe.Message, "redirected to another host") {
				t.Errorf("got %s %q, want PrometheusUnreachable naming the redirect", qe.Reason, qe.Message)
			}
			if elsewhere.requests.Load() != before {
				t.Error("the other host got a request")
			}
		})
	}
}

func TestQueryTrustsTheCAOfTheSecret(t *testing.T) {
	api := &prometheusAPI{}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	_, err := PrometheusQuerier{}.Query(context.Background(), srv.URL, Credentials{Token: "t0ken"}, "up")
	if qe := queryErr(t, err); qe.Reason != batonv1alpha1.PrometheusUnreachableReason || !strings.Contains(qe.Message, "certificate") {
		t.Errorf("without the CA: %s %q, want PrometheusUnreachable naming the certificate", qe.Reason, qe.Message)
	}
	if api.withAuth.Load() != 0 {
		t.Fatal("the token was sent to a server whose certificate failed")
	}
	if _, err := (PrometheusQuerier{}).Query(context.Background(), srv.URL, Credentials{Token: "t0ken", CA: ca}, "up"); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if api.withAuth.Load() != 1 {
		t.Errorf("%d requests carried the token; want 1", api.withAuth.Load())
	}
	_, err = PrometheusQuerier{}.Query(context.Background(), srv.URL, Credentials{CA: []byte("not pem")}, "up")
	if qe := queryErr(t, err); qe.Reason != batonv1alpha1.InvalidCheckReason {
		t.Errorf("a CA that is not PEM: %s %q, want InvalidCheck", qe.Reason, qe.Message)
	}
}
