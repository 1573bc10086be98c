// Command remotemem measures what remote clusters (spec.cluster) cost the
// manager: its heap after GC and its RSS with no remote cluster, with 1 and
// with 10 remote clusters of 500 workloads each (an Environment per
// workload), and how long a change of a remote workload takes to reach its
// Environment's status, against the same change of a local workload.
//
// It starts a management control plane (envtest, with Baton's CRDs) and a
// second one for the remote workloads. Each remote "cluster" is one
// kubeconfig Secret whose user is bound to config/remote-cluster's Role in
// one namespace of that second control plane: the manager runs one cache,
// one HTTP client and one set of watches per Secret, exactly as for
// separate clusters, while the machine runs two API servers instead of
// eleven. -servers N spreads the clusters over N remote control planes.
// Each measurement runs the Environment reconciler in a fresh child
// process.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s/v1.37.2-etcd-v3.7.0 go run ./hack/remotemem
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/controllers"
	"github.com/baton-dev/baton/hack/internal/fleet"
	"github.com/baton-dev/baton/hack/internal/measure"
	"github.com/baton-dev/baton/internal/testenv"
)

func main() {
	clusters := flag.Int("clusters", 10, "how many remote clusters (kubeconfig Secrets)")
	workloads := flag.Int("workloads", 500, "how many workloads, and Environments, per remote cluster")
	servers := flag.Int("servers", 1, "how many remote control planes the clusters are spread over")
	samples := flag.Int("samples", 20, "how many changes to time, remote and local each")
	local := flag.Bool("local", false, "the same fleet in the management cluster, without spec.cluster: the baseline the remote figures compare to")
	child := flag.Int("measure", -1, "internal: measure with this many remote clusters' Environments")
	kubeconfig := flag.String("management-kubeconfig", "", "internal: the management cluster's kubeconfig")
	remotes := flag.String("remotes", "", "internal: the remote control planes' kubeconfigs, comma-separated")
	flag.Parse()
	var err error
	if *child >= 0 {
		err = measureChild(*child, *workloads, *samples, *kubeconfig, strings.Split(*remotes, ","), *local)
	} else {
		err = run(*clusters, *workloads, *servers, *samples, *local)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "remotemem:", err)
		os.Exit(1)
	}
}

// result is one child's measurement.
type result struct {
	heap, rss     uint64
	caches        int
	adopt         time.Duration
	remote, local []time.Duration
}

func run(clusters, workloads, servers, samples int, local bool) error {
	ctx := context.Background()
	mgmt, err := testenv.Start()
	if err != nil {
		return fmt.Errorf("start the management control plane: %w", err)
	}
	defer func() { _ = mgmt.Stop() }()
	dir, err := os.MkdirTemp("", "remotemem")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	mgmtKubeconfig, err := adminKubeconfig(mgmt.Environment, dir, "management")
	if err != nil {
		return err
	}
	mc := fast(mgmt.Config)

	var remoteFiles []string
	var remoteClients []client.WithWatch
	var others []*testenv.Remote
	defer func() {
		for _, o := range others {
			_ = o.Stop()
		}
	}()
	for i := range servers {
		o, err := testenv.StartRemote()
		if err != nil {
			return fmt.Errorf("start remote control plane %d: %w", i, err)
		}
		others = append(others, o)
		path, err := adminKubeconfig(o.Environment, dir, fmt.Sprintf("remote-%d", i))
		if err != nil {
			return err
		}
		remoteFiles = append(remoteFiles, path)
		remoteClients = append(remoteClients, fast(o.Config))
	}

	// The local baseline: one Deployment and Environment in the management
	// cluster, for the latency ratio.
	if err := fleet.Create(ctx, mc, "local", 1, 1, complete(mc)); err != nil {
		return err
	}
	if err := createEnvironments(ctx, mc, "local", 1, false); err != nil {
		return err
	}
	start := time.Now()
	for i := range clusters {
		ns, o := team(i), others[i%servers]
		if local {
			if err := fleet.Create(ctx, mc, ns, workloads, 1, complete(mc)); err != nil {
				return err
			}
			continue
		}
		kc, err := o.KubeConfig(ctx, "baton-"+ns, ns)
		if err != nil {
			return err
		}
		if err := fleet.Create(ctx, remoteClients[i%servers], ns, workloads, 1, complete(remoteClients[i%servers])); err != nil {
			return err
		}
		if err := mc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		if err := mc.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cluster", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
			Data:       map[string][]byte{batonv1alpha1.KubeConfigKey: kc},
		}); err != nil {
			return err
		}
	}
	where := "remote clusters"
	if local {
		where = "namespaces of the manager's cluster"
	}
	fmt.Fprintf(os.Stderr, "created %d %s of %d workloads in %s\n", clusters, where, workloads, time.Since(start).Round(time.Second))

	results := map[int]result{}
	with := []int{0, 1, clusters}
	with = slices.Compact(with)
	created := 0
	for _, n := range with {
		for i := created; i < n; i++ {
			if err := createEnvironments(ctx, mc, team(i), workloads, !local); err != nil {
				return err
			}
		}
		created = n
		out, err := exec.Command(os.Args[0], "-measure="+strconv.Itoa(n), "-local="+strconv.FormatBool(local), "-workloads="+strconv.Itoa(workloads), "-samples="+strconv.Itoa(samples),
			"-management-kubeconfig="+mgmtKubeconfig, "-remotes="+strings.Join(remoteFiles, ",")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("measure with %d remote clusters: %w\n%s", n, err, out)
		}
		r, err := parse(measure.LastLine(out))
		if err != nil {
			return fmt.Errorf("read the measurement with %d remote clusters: %w\n%s", n, err, out)
		}
		results[n] = r
	}
	print(results, with, workloads, servers, local)
	return nil
}

func team(i int) string { return fmt.Sprintf("team-%02d", i) }

// fast is a client that does not wait on client-side rate limits.
func fast(cfg *rest.Config) client.WithWatch {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 2000, 4000
	cl, err := client.NewWithWatch(c, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		panic(err) // a config envtest just started with
	}
	return cl
}

// complete writes the finished rollout of each created Deployment.
func complete(c client.Client) func(*appsv1.Deployment) error {
	return func(d *appsv1.Deployment) error { return testenv.RolloutComplete(context.Background(), c, d) }
}

// createEnvironments creates an Environment per fleet Deployment of ns,
// in ns of the management cluster; remote ones reach them through Secret
// "cluster".
func createEnvironments(ctx context.Context, c client.Client, ns string, n int, remote bool) error {
	const workers = 16
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				env := &batonv1alpha1.Environment{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleet.Deployment(ns, i).Name},
					Spec: batonv1alpha1.EnvironmentSpec{
						Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: fleet.Deployment(ns, i).Name, Container: "web"},
						Delivery: batonv1alpha1.Delivery{Direct: &batonv1alpha1.DirectDelivery{}},
					},
				}
				if remote {
					env.Spec.Cluster = &batonv1alpha1.ClusterReference{KubeConfig: batonv1alpha1.KubeConfigReference{
						SecretRef: batonv1alpha1.LocalObjectReference{Name: "cluster"}}}
				}
				if err := c.Create(ctx, env); err != nil {
					errs <- fmt.Errorf("create Environment %s/%s: %w", ns, env.Name, err)
					return
				}
			}
		})
	}
	var err error
	for i := 0; i < n && err == nil; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func adminKubeconfig(te *envtest.Environment, dir, name string) (string, error) {
	u, err := te.AddUser(envtest.User{Name: "remotemem", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, kc, 0o600)
}

// measureChild runs the Environment reconciler until the Environments of the
// first n remote clusters (and the local one) have adopted their workloads,
// then prints the heap after GC, the RSS, and the change latencies.
func measureChild(n, workloads, samples int, kubeconfig string, remotes []string, local bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := load(kubeconfig)
	if err != nil {
		return err
	}
	// The manager's client waits at 20 requests a second (ctrl.GetConfig's
	// default): adopting 5,000 Environments would take minutes of it. The
	// memory does not depend on it; the adoption time does.
	cfg.QPS, cfg.Burst = 500, 1000
	if err := batonv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return err
	}
	ctrl.SetLogger(logr.Discard())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
		// The manager's default --concurrency.
		Controller: config.Controller{MaxConcurrentReconciles: 4},
	})
	if err != nil {
		return err
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	clusters := controllers.NewClusters(mgr, false)
	if err := (&controllers.EnvironmentReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("environment-controller"), Clock: clock.RealClock{}, Clusters: clusters,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	started := time.Now()
	go func() { _ = mgr.Start(ctx) }()
	admin := fast(cfg)
	want := 1 + n*workloads
	if err := waitAdopted(ctx, admin, want); err != nil {
		return err
	}
	r := result{adopt: time.Since(started)}
	// Let the queues drain before the heap is read.
	time.Sleep(5 * time.Second)
	r.heap, r.rss, r.caches = measure.HeapInUse(), measure.RSS(), clusters.Caches()

	if n > 0 {
		rc, err := load(remotes[0])
		if err != nil {
			return err
		}
		var remote client.Client = fast(rc)
		if local {
			remote = admin
		}
		for i := range samples {
			d, err := changeTime(ctx, admin, remote, team(0), fleet.Deployment(team(0), i).Name, i)
			if err != nil {
				return fmt.Errorf("remote sample %d: %w", i, err)
			}
			r.remote = append(r.remote, d)
			d, err = changeTime(ctx, admin, admin, "local", fleet.Deployment("local", 0).Name, i)
			if err != nil {
				return fmt.Errorf("local sample %d: %w", i, err)
			}
			r.local = append(r.local, d)
		}
	}
	fmt.Println(r.String())
	return nil
}

func load(path string) (*rest.Config, error) {
	kc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return clientcmd.RESTConfigFromKubeConfig(kc)
}

func waitAdopted(ctx context.Context, c client.Client, want int) error {
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) {
		var list batonv1alpha1.EnvironmentList
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		adopted := 0
		for _, e := range list.Items {
			if len(e.Status.History) > 0 {
				adopted++
			}
		}
		if adopted >= want {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("fewer than %d Environments adopted their workloads within 15 minutes", want)
}

// changeTime sets a new image on the Deployment (in the cluster c), plays
// its finished rollout, and times until the Environment of the same name,
// in the management cluster, records it as its current image.
func changeTime(ctx context.Context, mgmt client.WithWatch, c client.Client, ns, name string, i int) (time.Duration, error) {
	w, err := mgmt.Watch(ctx, &batonv1alpha1.EnvironmentList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": name})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return 0, err
	}
	image := fmt.Sprintf("registry.example.com/shop/%s:2.%d.%d", name, i, time.Now().UnixNano()%1000)
	start := time.Now()
	d.Spec.Template.Spec.Containers[0].Image = image
	if err := c.Update(ctx, d); err != nil {
		return 0, err
	}
	if err := testenv.RolloutComplete(ctx, c, d); err != nil {
		return 0, err
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, errors.New("the watch ended")
			}
			if ev.Type != watch.Modified {
				continue
			}
			if e, ok := ev.Object.(*batonv1alpha1.Environment); ok && e.Status.Current != nil && e.Status.Current.Image == image {
				return time.Since(start), nil
			}
		case <-timeout:
			return 0, fmt.Errorf("Environment %s/%s did not record %s within 30 s", ns, name, image)
		}
	}
}

func (r result) String() string {
	ms := func(ds []time.Duration) string {
		var out []string
		for _, d := range ds {
			out = append(out, strconv.FormatInt(d.Microseconds(), 10))
		}
		return strings.Join(out, ",")
	}
	return fmt.Sprintf("heap=%d rss=%d caches=%d adopt=%d remote=%s local=%s", r.heap, r.rss, r.caches, r.adopt.Milliseconds(), ms(r.remote), ms(r.local))
}

func parse(line []byte) (result, error) {
	var r result
	for _, f := range strings.Fields(string(line)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "heap":
			r.heap, _ = strconv.ParseUint(v, 10, 64)
		case "rss":
			r.rss, _ = strconv.ParseUint(v, 10, 64)
		case "caches":
			r.caches, _ = strconv.Atoi(v)
		case "adopt":
			ms, _ := strconv.ParseInt(v, 10, 64)
			r.adopt = time.Duration(ms) * time.Millisecond
		case "remote", "local":
			var ds []time.Duration
			for _, s := range strings.Split(v, ",") {
				if us, err := strconv.ParseInt(s, 10, 64); err == nil {
					ds = append(ds, time.Duration(us)*time.Microsecond)
				}
			}
			if k == "remote" {
				r.remote = ds
			} else {
				r.local = ds
			}
		}
	}
	if r.heap == 0 {
		return r, fmt.Errorf("no measurement in %q", line)
	}
	return r, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func print(results map[int]result, with []int, workloads, servers int, local bool) {
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	if local {
		fmt.Printf("The baseline: the same fleets in the manager's own cluster (no spec.cluster), %d workloads per namespace:\n\n", workloads)
		fmt.Printf("| Namespaces |")
	} else {
		fmt.Printf("The manager's Environment reconciler, %d workloads (one Deployment, one Pod, one Environment each) per remote cluster, %d remote control plane(s):\n\n", workloads, servers)
		fmt.Printf("| Remote clusters |")
	}
	fmt.Printf(" Environments | Remote caches | Go heap in use after GC | RSS | All adopted after |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, n := range with {
		r := results[n]
		fmt.Printf("| %d | %d | %d | %.1f MiB | %.1f MiB | %s |\n", n, 1+n*workloads, r.caches, mib(r.heap), mib(r.rss), r.adopt.Round(100*time.Millisecond))
	}
	last := results[with[len(with)-1]]
	if len(last.remote) > 0 {
		fmt.Printf("\nA workload's new image (template and finished rollout written) to its Environment's status.current.image, %d sequential changes each, with %d remote clusters running:\n\n", len(last.remote), with[len(with)-1])
		fmt.Printf("| Workload | p50 | p90 |\n| --- | --- | --- |\n")
		fmt.Printf("| local (the manager's cluster) | %s | %s |\n", percentile(last.local, 0.5).Round(time.Millisecond), percentile(last.local, 0.9).Round(time.Millisecond))
		fmt.Printf("| remote (spec.cluster) | %s | %s |\n", percentile(last.remote, 0.5).Round(time.Millisecond), percentile(last.remote, 0.9).Round(time.Millisecond))
		fmt.Printf("\nRatio remote / local, p50: %.2fx\n", float64(percentile(last.remote, 0.5))/float64(max(percentile(last.local, 0.5), 1)))
	}
}
