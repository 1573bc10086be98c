// Command bench-engine measures what one promotion costs the manager and the
// API server, and how that grows with history, against a running dev
// cluster (`make dev`): a real kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, and the manager as its own process with its
// admission webhooks. It prints one Markdown table per measurement:
//
//   - requests per promotion (manager and API server) with 100, 1,000 and
//     10,000 finished Promotions in the namespace, and the manager's
//     start-up in each state;
//   - create → Succeeded, p50 and p90 over sequential Promotions, against
//     the `kubectl set image` floor (a Deployment patched directly) in the
//     same run, interleaved;
//   - admission: the latency of 50 concurrent Promotion creates and
//     approvals, and creates per second for 1,000, against 1,000 plain
//     creates of a custom resource without a webhook (Environments);
//   - the manager's memory and start-up with 1,000 and 5,000 Environments,
//     each with its Deployment, and 50,000 finished Promotions;
//   - the cost of 5,000 idle Environments: requests and CPU;
//   - the load of verification checks on Prometheus and the manager: 100
//     and 1,000 Environments with one check each.
//
// It restarts the manager (as the e2e suite does) between states, and it
// seeds finished Promotions with the admission webhooks removed for the
// while (they refuse the finished label from anyone but the manager), then
// puts them back.
//
//	make dev DEV_DIR=/tmp/bench DEV_PORT_BASE=17300
//	go run ./hack/bench-engine -dir /tmp/bench -port-base 17300
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type options struct {
	dir        string
	portBase   int
	sizes      []int
	runs       int
	latency    int
	envs       []int
	promotions int
	settle     time.Duration
	idle       time.Duration
	only       string
	// checkEnvs, checkInterval and checkWindow shape the checks table.
	checkEnvs     []int
	checkInterval time.Duration
	checkWindow   time.Duration
}

func main() {
	var o options
	var sizes, envs, checkEnvs string
	flag.StringVar(&o.dir, "dir", "", "the dev cluster's DEV_DIR")
	flag.IntVar(&o.portBase, "port-base", 17400, "the dev cluster's DEV_PORT_BASE")
	flag.StringVar(&sizes, "history", "100,1000,10000", "finished Promotions in the namespace, one row each")
	flag.IntVar(&o.runs, "runs", 5, "promotions per history size (the median is reported)")
	flag.IntVar(&o.latency, "latency", 20, "sequential promotions, and as many floor rollouts, for the latency table")
	flag.StringVar(&envs, "environments", "1000,5000", "Environments (each with a Deployment) for the memory table")
	flag.IntVar(&o.promotions, "finished", 50000, "finished Promotions for the memory table")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "how long the manager runs, queues drained, before its memory is read")
	flag.DurationVar(&o.idle, "idle", 5*time.Minute, "how long the idle cost is measured")
	flag.StringVar(&checkEnvs, "check-environments", "100,1000", "Environments with one Prometheus check each, one row each, for the checks table")
	flag.DurationVar(&o.checkInterval, "check-interval", 30*time.Second, "the checks' interval")
	flag.DurationVar(&o.checkWindow, "check-window", 2*time.Minute, "how long the checks' load is measured")
	flag.StringVar(&o.only, "only", "", "comma-separated tables to run (history,latency,admission,memory,checks); empty runs all")
	flag.Parse()
	var err error
	if o.sizes, err = ints(sizes); err == nil {
		o.envs, err = ints(envs)
	}
	if err == nil {
		o.checkEnvs, err = ints(checkEnvs)
	}
	if err == nil && o.dir == "" {
		err = fmt.Errorf("-dir is required: the DEV_DIR of a running `make dev`")
	}
	if err == nil {
		err = run(context.Background(), o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	b, err := connect(o)
	if err != nil {
		return err
	}
	if err := b.setUp(ctx); err != nil {
		return err
	}
	fmt.Printf("bench-engine on %s, %s\n\n", time.Now().UTC().Format("2006-01-02"), b.machine())
	for _, t := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"history", b.history},
		{"latency", b.latency},
		{"admission", b.admission},
		{"memory", b.memory},
		{"checks", b.checks},
	} {
		if o.only != "" && !strings.Contains(","+o.only+",", ","+t.name+",") {
			continue
		}
		if err := t.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}
