// Command promqlcheck parses every PromQL query in Baton's shipped alerts
// (PrometheusRule YAML) and Grafana dashboards (JSON) with Prometheus's own
// parser, and prints one line per query. It is its own module so that
// Prometheus's dependencies never reach the manager's go.mod.
//
//	go run . ../../config/prometheus/prometheusrule.yaml ../../config/grafana/baton-delivery.json
//
// With -prometheus URL it also asks that Prometheus, and fails a query
// that finds no data there: every series it selects must exist, and a
// query that is not a filter (a comparison without bool, which is empty
// while all is well, as an alert is) must return a sample.
//
//	go run . -prometheus http://127.0.0.1:17417 ../../config/prometheus/prometheusrule.yaml ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// grafanaVariables stand for what Grafana substitutes before it sends a
// query; any valid value will do for parsing.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"$namespace", ".*", "$environment", ".*")

func main() {
	address := flag.String("prometheus", "", "a Prometheus to run every query against: each must find data there")
	flag.Parse()
	bad := 0
	for _, file := range flag.Args() {
		qs, err := queries(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			os.Exit(2)
		}
		names := make([]string, 0, len(qs))
		for n := range qs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVariables.Replace(qs[n]))
			if err != nil {
				fmt.Printf("FAIL  %s  %s: %v\n", filepath.Base(file), n, err)
				bad++
				continue
			}
			if *address != "" {
				if err := hasData(*address, expr); err != nil {
					fmt.Printf("FAIL  %s  %s: %v\n", filepath.Base(file), n, err)
					bad++
					continue
				}
			}
			fmt.Printf("ok    %s  %s\n", filepath.Base(file), n)
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// queries reads the expressions of a PrometheusRule or a dashboard.
func queries(file string) (map[string]string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if strings.HasSuffix(file, ".json") {
		var dash struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					RefID string `json:"refId"`
					Expr  string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			return nil, err
		}
		for _, p := range dash.Panels {
			for _, t := range p.Targets {
				out["panel "+p.Title+" "+t.RefID] = t.Expr
			}
		}
		return out, nil
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Record, Expr string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		return nil, err
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	return out, nil
}
