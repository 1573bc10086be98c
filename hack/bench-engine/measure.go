package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// promote creates one Promotion into the bench Environment, to a new image,
// and waits until it has Succeeded; it returns the wall time.
func (b *bench) promote(ctx context.Context) (time.Duration, error) {
	b.image++
	p := builder.Promotion(namespace, fmt.Sprintf("bench-%d-%d", time.Now().Unix(), b.image)).Environment("bench").
		Image(fmt.Sprintf("registry.example.com/bench:%d", b.image)).Build()
	w, err := b.watchOne(ctx, &batonv1alpha1.PromotionList{}, p.Name)
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if err := b.admin.Create(ctx, p); err != nil {
		return 0, fmt.Errorf("create Promotion %s: %w", p.Name, err)
	}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, errors.New("the watch closed")
			}
			got, ok := ev.Object.(*batonv1alpha1.Promotion)
			if !ok {
				continue
			}
			switch got.Status.Phase {
			case batonv1alpha1.PromotionSucceeded:
				return time.Since(start), nil
			case batonv1alpha1.PromotionFailed, batonv1alpha1.PromotionCanceled, batonv1alpha1.PromotionSuperseded:
				return 0, fmt.Errorf("Promotion %s ended %s: %v", p.Name, got.Status.Phase, got.Status.Conditions)
			}
		case <-time.After(2 * time.Minute):
			return 0, fmt.Errorf("Promotion %s did not succeed in 2 minutes", p.Name)
		}
	}
}

// setImage patches the floor Deployment's image, as `kubectl set image`
// does, and waits for its rollout to complete.
func (b *bench) setImage(ctx context.Context) (time.Duration, error) {
	b.image++
	w, err := b.watchOne(ctx, &appsv1.DeploymentList{}, "bench-floor")
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/bench:%d"}]}}}}`, b.image)
	start := time.Now()
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = namespace, "bench-floor"
	if err := b.admin.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		return 0, err
	}
	gen := d.Generation
	for {
		select {
		case ev := <-w.ResultChan():
			if got, ok := ev.Object.(*appsv1.Deployment); ok && got.Generation >= gen && rolledOut(got) {
				return time.Since(start), nil
			}
		case <-time.After(2 * time.Minute):
			return 0, errors.New("the floor Deployment did not roll out in 2 minutes")
		}
	}
}

func (b *bench) watchOne(ctx context.Context, list client.ObjectList, name string) (watch.Interface, error) {
	return b.admin.Watch(ctx, list, client.InNamespace(namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
}

// requests counts the manager's and the API server's requests during f,
// until the manager is idle again.
func (b *bench) requests(ctx context.Context, f func() error) (manager, apiServer float64, err error) {
	m0, err := b.managerMetrics()
	if err != nil {
		return 0, 0, err
	}
	a0, err := b.apiServerRequests(ctx)
	if err != nil {
		return 0, 0, err
	}
	if err := f(); err != nil {
		return 0, 0, err
	}
	if err := b.waitIdle(ctx); err != nil {
		return 0, 0, err
	}
	m1, err := b.managerMetrics()
	if err != nil {
		return 0, 0, err
	}
	a1, err := b.apiServerRequests(ctx)
	if err != nil {
		return 0, 0, err
	}
	return sum(m1, "rest_client_requests_total", nil) - sum(m0, "rest_client_requests_total", nil), a1 - a0, nil
}

// history: requests per promotion with 100, 1,000 and 10,000 finished
// Promotions in the namespace, and the manager's start-up in that state.
func (b *bench) history(ctx context.Context) error {
	fmt.Println("| finished Promotions in the namespace | manager requests / promotion (median) | API server requests / promotion (median) | manager ready after restart | queues drained after restart | manager requests at start-up |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	have := 0
	for _, n := range b.o.sizes {
		if err := b.seedFinished(ctx, namespace, have, n); err != nil {
			return err
		}
		have = n
		var startup float64
		var ready, drained time.Duration
		if _, _, err := b.requests(ctx, func() error {
			var err error
			ready, drained, err = b.restartManager(ctx)
			return err
		}); err != nil {
			return err
		}
		if m, err := b.managerMetrics(); err == nil {
			startup = sum(m, "rest_client_requests_total", nil)
		}
		var mgr, api []float64
		for r := 0; r < b.o.runs; r++ {
			m, a, err := b.requests(ctx, func() error { _, err := b.promote(ctx); return err })
			if err != nil {
				return err
			}
			mgr, api = append(mgr, m), append(api, a)
		}
		fmt.Printf("| %d | %.0f | %.0f | %s | %s | %.0f |\n", n, median(mgr), median(api), ready.Round(10*time.Millisecond), drained.Round(10*time.Millisecond), startup)
	}
	fmt.Println()
	return nil
}

// latency: create → Succeeded against the floor, interleaved.
func (b *bench) latency(ctx context.Context) error {
	var baton, floor []time.Duration
	for i := 0; i < b.o.latency; i++ {
		t, err := b.promote(ctx)
		if err != nil {
			return err
		}
		baton = append(baton, t)
		if t, err = b.setImage(ctx); err != nil {
			return err
		}
		floor = append(floor, t)
		if err := b.waitIdle(ctx); err != nil {
			return err
		}
	}
	fmt.Printf("| %d sequential, interleaved | p50 | p90 | p50 / floor p50 |\n|---|---:|---:|---:|\n", b.o.latency)
	fmt.Printf("| Baton, Promotion create → Succeeded (direct, no approvals) | %s | %s | %.2f |\n", pct(baton, 50), pct(baton, 90), float64(pct(baton, 50))/float64(pct(floor, 50)))
	fmt.Printf("| floor, Deployment image patch → rollout complete | %s | %s | 1.00 |\n\n", pct(floor, 50), pct(floor, 90))
	return nil
}

// admission: webhook latency under 50 concurrent creates and approvals,
// and the create rate for 1,000 against a custom resource with no webhook.
func (b *bench) admission(ctx context.Context) error {
	// Two approvals required: bob's leaves every Promotion waiting, so
	// none of them rolls anything out during the measurement.
	hold := builder.Environment(namespace, "bench-hold").Deployment("bench-hold", "web").Direct().RequiredApprovals(2).Build()
	holdDep := builder.Deployment(namespace, "bench-hold").Replicas(0).Container("web", "registry.example.com/bench:0").Build()
	for _, o := range []client.Object{holdDep, hold} {
		if err := b.admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	defer func() {
		_ = b.admin.Delete(context.Background(), hold)
		_ = b.admin.Delete(context.Background(), holdDep)
	}()
	run := func(n int, f func(i int) error) ([]time.Duration, time.Duration, error) {
		lat := make([]time.Duration, n)
		start := time.Now()
		var mu sync.Mutex
		err := parallelN(50, 0, n, func(i int) error {
			t0 := time.Now()
			err := f(i)
			mu.Lock()
			lat[i] = time.Since(t0)
			mu.Unlock()
			return err
		})
		return lat, time.Since(start), err
	}
	promo := func(prefix string) func(i int) error {
		return func(i int) error {
			p := builder.Promotion(namespace, fmt.Sprintf("%s-%d", prefix, i)).Environment("bench-hold").Image("registry.example.com/bench:hold").Build()
			return b.admin.Create(ctx, p)
		}
	}
	defer func() {
		// 1,050 unfinished Promotions would weigh on every later table.
		for _, prefix := range []string{"hold-c", "hold-r"} {
			_ = parallelN(50, 0, 1000, func(i int) error {
				p := &batonv1alpha1.Promotion{}
				p.Namespace, p.Name = namespace, fmt.Sprintf("%s-%d", prefix, i)
				return client.IgnoreNotFound(b.admin.Delete(context.Background(), p))
			})
		}
		_ = b.admin.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-crd"}})
	}()
	if err := b.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-crd"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The first request of a client for a kind runs discovery: not the
	// webhook's latency.
	for _, c := range []client.Client{b.admin, b.bob} {
		_ = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "warm-up"}, &batonv1alpha1.Promotion{})
		_ = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "warm-up"}, &batonv1alpha1.Environment{})
	}
	creates, _, err := run(50, promo("hold-c"))
	if err != nil {
		return err
	}
	if err := b.waitResolved(ctx, "hold-c-", 50); err != nil {
		return err
	}
	approvals, _, err := run(50, func(i int) error {
		// The documented approval, as `kubectl promote approve` sends it.
		patch := `[{"op":"add","path":"/spec/approvals","value":[{}]}]`
		p := &batonv1alpha1.Promotion{}
		p.Namespace, p.Name = namespace, fmt.Sprintf("hold-c-%d", i)
		return b.bob.Patch(ctx, p, client.RawPatch(types.JSONPatchType, []byte(patch)))
	})
	if err != nil {
		return err
	}
	_, promoWall, err := run(1000, promo("hold-r"))
	if err != nil {
		return err
	}
	_, envWall, err := run(1000, func(i int) error {
		env := builder.Environment("bench-crd", fmt.Sprintf("plain-%d", i)).Deployment("none", "web").Direct().Suspend().Build()
		return b.admin.Create(ctx, env)
	})
	if err != nil {
		return err
	}
	fmt.Println("| admission, 50 at once | p50 | p99 |\n|---|---:|---:|")
	fmt.Printf("| Promotion create | %s | %s |\n| approval (bob, JSON patch) | %s | %s |\n\n", pct(creates, 50), pct(creates, 99), pct(approvals, 50), pct(approvals, 99))
	fmt.Println("| 1,000 creates, 50 at a time | per second | time / Environments' time |\n|---|---:|---:|")
	fmt.Printf("| Promotions, through the webhooks | %.0f | %.2f |\n", 1000/promoWall.Seconds(), promoWall.Seconds()/envWall.Seconds())
	fmt.Printf("| Environments, no webhook | %.0f | 1.00 |\n\n", 1000/envWall.Seconds())
	return nil
}

// waitResolved waits until n Promotions named prefix<i> have resolved
// their image: only then may they be approved.
func (b *bench) waitResolved(ctx context.Context, prefix string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		resolved := 0
		for i := 0; i < n; i++ {
			p := &batonv1alpha1.Promotion{}
			if err := b.admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fmt.Sprintf("%s%d", prefix, i)}, p); err == nil && p.Status.Image != "" {
				resolved++
			}
		}
		if resolved == n {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the %s Promotions did not resolve their image in 5 minutes", prefix)
}

// memory: the manager's memory and start-up with many Environments and
// finished Promotions, then the cost of the idle Environments.
func (b *bench) memory(ctx context.Context) error {
	const ns = "bench-mem"
	if err := b.seedEnvironments(ctx, ns, 0, 0); err != nil {
		return err
	}
	have, err := b.seeded(ctx, ns)
	if err != nil {
		return err
	}
	// Workers run in parallel: the first names past the count may exist.
	if err := b.seedFinished(ctx, ns, max(0, have-64), b.o.promotions); err != nil {
		return err
	}
	fmt.Printf("| Environments (each with a Deployment) + finished Promotions | manager RSS | Go heap in use | ready after restart | queues drained after restart |\n|---|---:|---:|---:|---:|\n")
	have = 0
	for _, n := range b.o.envs {
		if err := b.seedEnvironments(ctx, ns, have, n); err != nil {
			return err
		}
		have = n
		if err := b.waitIdle(ctx); err != nil {
			return err
		}
		ready, drained, err := b.restartManager(ctx)
		if err != nil {
			return err
		}
		time.Sleep(b.o.settle)
		pid, err := b.managerPID()
		if err != nil {
			return err
		}
		m, err := b.managerMetrics()
		if err != nil {
			return err
		}
		fmt.Printf("| %d + %d | %d MiB | %.0f MiB | %s | %s |\n", n, b.o.promotions, procs.RSSKiB(pid)/1024, sum(m, "go_memstats_heap_inuse_bytes", nil)/(1<<20),
			ready.Round(10*time.Millisecond), drained.Round(10*time.Millisecond))
	}
	pid, err := b.managerPID()
	if err != nil {
		return err
	}
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	m0, err := b.managerMetrics()
	if err != nil {
		return err
	}
	time.Sleep(b.o.idle)
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	m1, err := b.managerMetrics()
	if err != nil {
		return err
	}
	reqs := sum(m1, "rest_client_requests_total", nil) - sum(m0, "rest_client_requests_total", nil)
	fmt.Printf("\n| %d idle Environments for %s | manager API requests | manager CPU |\n|---|---:|---:|\n| | %.0f | %.2f s |\n\n", have, b.o.idle, reqs, cpu1-cpu0)
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func pct(v []time.Duration, p int) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(time.Millisecond)
}
