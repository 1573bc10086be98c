package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// namespace is where `make dev` lets its users work; the bench's own
// Environments live there beside the sample app's.
const namespace = "web"

// bench holds the clients and the cluster's layout.
type bench struct {
	o     options
	ports procs.Ports
	// admin and bob are direct clients; own counts the bench's requests, so
	// that they can be taken out of the API server's totals.
	admin, bob client.WithWatch
	raw        kubernetes.Interface
	own        atomic.Int64
	image      int
}

func connect(o options) (*bench, error) {
	b := &bench{o: o, ports: procs.Ports(o.portBase)}
	if err := batonv1alpha1.AddToScheme(clientgoscheme.Scheme); err != nil {
		return nil, err
	}
	var err error
	if b.admin, err = b.client("admin"); err != nil {
		return nil, err
	}
	if b.bob, err = b.client("bob"); err != nil {
		return nil, err
	}
	cfg, err := b.config("admin")
	if err != nil {
		return nil, err
	}
	b.raw, err = kubernetes.NewForConfig(cfg)
	return b, err
}

func (b *bench) config(user string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(b.o.dir, user+".kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("the %s kubeconfig of the dev cluster: %w", user, err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			b.own.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return cfg, nil
}

func (b *bench) client(user string) (client.WithWatch, error) {
	cfg, err := b.config(user)
	if err != nil {
		return nil, err
	}
	return client.NewWithWatch(cfg, client.Options{Scheme: clientgoscheme.Scheme})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// setUp creates the bench's Environment and two Deployments: "bench-web",
// which Baton promotes (direct delivery, no approvals, no soak), and
// "bench-floor", which the floor patches directly.
func (b *bench) setUp(ctx context.Context) error {
	for _, name := range []string{"bench-web", "bench-floor"} {
		d := builder.Deployment(namespace, name).Replicas(1).Container("web", "registry.example.com/bench:0").Build()
		if err := b.admin.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Deployment %s: %w", name, err)
		}
	}
	env := builder.Environment(namespace, "bench").Deployment("bench-web", "web").Direct().SoakTime(0).Build()
	env.Spec.PromotionHistoryLimit = 1000
	if err := b.admin.Create(ctx, env); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Environment bench: %w", err)
	}
	return b.waitIdle(ctx)
}

func (b *bench) machine() string {
	return fmt.Sprintf("%d cores, %s", runtime.NumCPU(), runtime.Version())
}

// managerPID reads the manager's pid file (hack/dev/procs).
func (b *bench) managerPID() (int, error) {
	pid, ok := procs.Background{Dir: b.o.dir, Name: "manager"}.PID()
	if !ok {
		return 0, errors.New("the manager of the dev cluster is not running")
	}
	return pid, nil
}

// restartManager kills the manager and starts it again with the same
// command line, the way dev.sh starts it, and returns how long it took to
// be ready and to drain its queues.
func (b *bench) restartManager(ctx context.Context) (ready, drained time.Duration, err error) {
	pid, err := b.managerPID()
	if err != nil {
		return 0, 0, err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, 0, err
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, 0, err
	}
	for !procs.Exited(pid) {
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "bin", "dev-cluster"),
		append([]string{"--dir", b.o.dir, "--port-base", strconv.Itoa(b.o.portBase), "run", "manager", "--"}, argv...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(b.o.dir, "admin.kubeconfig"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("start the manager: %w\n%s", err, out)
	}
	readyz := "http://" + b.ports.Addr(procs.Probes) + "/readyz"
	for {
		if resp, err := http.Get(readyz); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 3*time.Minute {
			return 0, 0, errors.New("the manager did not become ready in 3 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ready = time.Since(start)
	if err := b.waitIdle(ctx); err != nil {
		return 0, 0, err
	}
	return ready, time.Since(start) - quiet, nil
}

func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}

// quiet is how long the manager must make no request, with every queue
// empty, to count as idle.
const quiet = 2 * time.Second

// waitIdle waits until the manager's work queues are empty and it has made
// no API request for quiet.
func (b *bench) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Minute)
	last, since := -1.0, time.Now()
	for time.Now().Before(deadline) {
		m, err := b.managerMetrics()
		if err == nil {
			reqs, depth := sum(m, "rest_client_requests_total", nil), sum(m, "workqueue_depth", nil)
			if reqs != last || depth > 0 {
				last, since = reqs, time.Now()
			} else if time.Since(since) >= quiet {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the manager did not go idle in 10 minutes")
}

func (b *bench) managerMetrics() (map[string]model.Vector, error) { return b.scrape(procs.Metrics) }

// scrape reads the Prometheus metrics served on the port at offset.
func (b *bench) scrape(offset int) (map[string]model.Vector, error) {
	resp, err := http.Get("http://" + b.ports.Addr(offset) + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return parse(resp.Body)
}

// apiServerRequests is the API server's apiserver_request_total, less the
// requests this program made (its own /metrics read included).
func (b *bench) apiServerRequests(ctx context.Context) (float64, error) {
	raw, err := b.raw.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	m, err := parse(strings.NewReader(string(raw)))
	if err != nil {
		return 0, err
	}
	return sum(m, "apiserver_request_total", nil) - float64(b.own.Load()), nil
}

func parse(r io.Reader) (map[string]model.Vector, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]model.Vector{}
	for name, f := range families {
		v := model.Vector{}
		for _, m := range f.Metric {
			s := &model.Sample{Metric: model.Metric{}}
			for _, l := range m.Label {
				s.Metric[model.LabelName(l.GetName())] = model.LabelValue(l.GetValue())
			}
			switch {
			case m.Counter != nil:
				s.Value = model.SampleValue(m.Counter.GetValue())
			case m.Gauge != nil:
				s.Value = model.SampleValue(m.Gauge.GetValue())
			case m.Untyped != nil:
				s.Value = model.SampleValue(m.Untyped.GetValue())
			}
			v = append(v, s)
		}
		out[name] = v
	}
	return out, nil
}

// sum adds the samples of a metric whose labels match every pair in where.
func sum(m map[string]model.Vector, name string, where map[string]string) float64 {
	v, ok := m[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, s := range v {
		match := true
		for k, want := range where {
			if string(s.Metric[model.LabelName(k)]) != want {
				match = false
			}
		}
		if match {
			total += float64(s.Value)
		}
	}
	return total
}

// cpuSeconds is the user and system CPU time of a process so far.
func cpuSeconds(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command (which may hold spaces) in parentheses.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// rolledOut tells whether a Deployment has finished rolling out its
// current generation.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
		s.AvailableReplicas == want && s.UnavailableReplicas == 0
}
