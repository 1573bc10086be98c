package netpolicy

import (
	"net/http"
	"net/url"
	"testing"
)

func TestAllows(t *testing.T) {
	patterns := []string{"127.0.0.1", " .corp.example ", "Prometheus.Monitoring"}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"prometheus.monitoring", true},
		{"PROMETHEUS.monitoring.", true},
		{"thanos.corp.example", true},
		{"corp.example", false}, // ".corp.example" names the hosts under it
		{"evilcorp.example", false},
		{"127.0.0.2", false},
		{"169.254.169.254", false},
		{"", false},
	} {
		if got := Allows(patterns, tc.host); got != tc.want {
			t.Errorf("Allows(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	if Allows(nil, "127.0.0.1") {
		t.Error("an empty list allows nothing; callers skip the check when no list is set")
	}
}

func TestSameHost(t *testing.T) {
	req := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	first := []*http.Request{req("https://prom.example:9090/api/v1/query")}
	for _, tc := range []struct {
		to   string
		via  []*http.Request
		want bool
	}{
		{"https://prom.example:9090/prometheus/api/v1/query", first, true},
		{"https://PROM.example:9090/x", first, true},
		{"https://other.example:9090/x", first, false},
		{"https://prom.example:9091/x", first, false},
		{"http://prom.example:9090/x", first, false},
		{"https://prom.example:9090/x", append(first, first[0], first[0], first[0], first[0]), false},
		{"https://prom.example/x", []*http.Request{req("http://prom.example/")}, true},
	} {
		if got := SameHost(req(tc.to), tc.via); got != tc.want {
			t.Errorf("SameHost(%s after %d) = %v, want %v", tc.to, len(tc.via), got, tc.want)
		}
	}
}
