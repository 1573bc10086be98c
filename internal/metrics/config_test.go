package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"
)

// exported is the name of every metric family Baton registers, with the
// series names a histogram adds.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range all {
		ch := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			names[m[1]] = true
			if _, ok := c.(*prometheus.HistogramVec); ok {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					names[m[1]+suffix] = true
				}
			}
		}
	}
	return names
}

// metricName finds the metric names in a query: identifiers that start
// with baton_ (label values and Grafana variables never do).
var metricName = regexp.MustCompile(`\bbaton_[a-z_]+\b`)

// queries is every PromQL expression in the shipped alerts and dashboard,
// by where it is.
func queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "prometheus", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if rule.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml is a %q", rule.Kind)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	raw, err = os.ReadFile(filepath.Join("..", "..", "config", "grafana", "baton-delivery.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("baton-delivery.json does not parse: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, q := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = q.Expr
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			out["variable "+v.Name], _ = q["query"].(string)
		}
	}
	return out
}

func TestDashboardAndAlertsNameOnlyExportedMetrics(t *testing.T) {
	names := exported(t)
	qs := queries(t)
	for _, want := range []string{"alert BatonPromotionStuck", "alert BatonRepeatedAutoRollbacks", "alert BatonEnvironmentNotVerified", "alert BatonGitPushConflictRate"} {
		if _, ok := qs[want]; !ok {
			t.Errorf("%s is missing", want)
		}
	}
	for where, q := range qs {
		found := metricName.FindAllString(q, -1)
		if len(found) == 0 {
			t.Errorf("%s names no Baton metric: %s", where, q)
		}
		for _, name := range found {
			if !names[name] {
				t.Errorf("%s names %s, which the manager does not export", where, name)
			}
		}
	}
}
