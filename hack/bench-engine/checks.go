package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
)

// checkQuery is the dev cluster's error-rate check (config/dev/app).
const checkQuery = `(sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}",code=~"5.."}[15s])) or vector(0))
/ sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}"}[15s]))`

// checks measures the load verification puts on Prometheus and on the
// manager: Environments with one check each, every checkInterval, against
// the dev cluster's Prometheus. The expected load is one query per check
// per interval, however many Environments there are.
func (b *bench) checks(ctx context.Context) error {
	const ns = "bench-checks"
	check := batonv1alpha1.VerificationCheck{
		Name:     "error-rate",
		Interval: &metav1.Duration{Duration: b.o.checkInterval},
		Prometheus: &batonv1alpha1.PrometheusCheck{
			Address: "http://" + b.ports.Addr(procs.Prometheus), Query: checkQuery, Below: ptr.To("0.05"),
		},
	}
	fmt.Printf("| Environments with one check (every %s) | Prometheus queries a second | expected | ratio | manager CPU | manager API requests a second | Prometheus CPU |\n|---|---:|---:|---:|---:|---:|---:|\n", b.o.checkInterval)
	have := 0
	for _, n := range b.o.checkEnvs {
		if err := b.seedEnvironments(ctx, ns, have, n, check); err != nil {
			return err
		}
		have = n
		if err := b.allEvaluated(ctx, ns, n); err != nil {
			return err
		}
		row, err := b.checkLoad(n)
		if err != nil {
			return err
		}
		fmt.Println(row)
	}
	fmt.Println()
	return nil
}

// allEvaluated waits until every Environment in ns has a result for its
// check, so that the window measures the steady state.
func (b *bench) allEvaluated(ctx context.Context, ns string, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var list batonv1alpha1.EnvironmentList
		if err := b.admin.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		done := 0
		for _, e := range list.Items {
			if v := e.Status.Verification; v != nil && len(v.Checks) > 0 && v.Checks[0].LastEvaluated != nil {
				done++
			}
		}
		if done >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d Environments evaluated their check within 10 minutes", done, n)
		}
		time.Sleep(2 * time.Second)
	}
}

// checkLoad measures, over the window, the queries Prometheus answered, the
// manager's and Prometheus' CPU and the manager's API requests.
func (b *bench) checkLoad(n int) (string, error) {
	mpid, err := b.managerPID()
	if err != nil {
		return "", err
	}
	ppid, ok := procs.Background{Dir: b.o.dir, Name: "prometheus"}.PID()
	if !ok {
		return "", fmt.Errorf("the dev cluster's Prometheus is not running (make dev starts it)")
	}
	type sample struct{ queries, requests, mcpu, pcpu float64 }
	read := func() (s sample, err error) {
		pm, err := b.scrape(procs.Prometheus)
		if err != nil {
			return s, err
		}
		mm, err := b.managerMetrics()
		if err != nil {
			return s, err
		}
		if s.mcpu, err = cpuSeconds(mpid); err != nil {
			return s, err
		}
		if s.pcpu, err = cpuSeconds(ppid); err != nil {
			return s, err
		}
		s.queries = sum(pm, "prometheus_http_requests_total", map[string]string{"handler": "/api/v1/query"})
		s.requests = sum(mm, "rest_client_requests_total", nil)
		return s, nil
	}
	s0, err := read()
	if err != nil {
		return "", err
	}
	start := time.Now()
	time.Sleep(b.o.checkWindow)
	s1, err := read()
	if err != nil {
		return "", err
	}
	secs := time.Since(start).Seconds()
	qps, want := (s1.queries-s0.queries)/secs, float64(n)/b.o.checkInterval.Seconds()
	return fmt.Sprintf("| %d | %.1f | %.1f | %.2f | %.0f%% of a core | %.1f | %.0f%% of a core |", n, qps, want, qps/want,
		100*(s1.mcpu-s0.mcpu)/secs, (s1.requests-s0.requests)/secs, 100*(s1.pcpu-s0.pcpu)/secs), nil
}
