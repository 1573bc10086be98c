// Package sampleapp is the dev and e2e clusters' stand-in for an
// application: kwok's Pods run nothing, so this one process serves real HTTP
// for every Deployment, with the behaviour of the image the Deployment runs
// now, sends itself steady traffic and exposes real client_golang metrics
// for Prometheus to scrape (docs/verification.md).
package sampleapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Image tag suffixes that change how an image behaves.
const (
	// ErrorsSuffix: 3 requests in 10 answer 500.
	ErrorsSuffix = "-errors"
	// SlowSuffix: every request takes SlowDelay longer.
	SlowSuffix = "-slow"
	// ErrorsInPrefix: a tag ending "-errors-in-<namespace>" behaves as
	// ErrorsSuffix only in that namespace, as a release does that works in
	// staging and fails on production's traffic or configuration.
	ErrorsInPrefix = "-errors-in-"
	// SlowDelay is what SlowSuffix adds.
	SlowDelay = 300 * time.Millisecond
	// BehaviourAnnotation on a Deployment, "errors" or "slow", makes it
	// behave so whatever its image: an incident in the middle of a soak.
	BehaviourAnnotation = "sampleapp.baton.dev/behaviour"
)

// App serves /<namespace>/<deployment> for every Deployment it sees, and
// /metrics.
type App struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu     sync.RWMutex
	images map[string]string // "<namespace>/<name>" -> image of its first container
	// behaviours are BehaviourAnnotation's values, by the same key.
	behaviours map[string]string
	served     atomic.Uint64
}

// New makes an App with its own metrics registry.
func New() *App {
	a := &App{registry: prometheus.NewRegistry(), images: map[string]string{}, behaviours: map[string]string{}}
	labels := []string{"namespace", "workload", "image"}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests served, by workload, image and status code.",
	}, append(labels, "code"))
	a.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request latency, by workload and image.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
	}, labels)
	a.registry.MustRegister(a.requests, a.latency)
	return a
}

// SetImage records what the Deployment namespace/name runs now; behaviour,
// when not empty, overrides the image's tag ("errors", "slow").
func (a *App) SetImage(namespace, name, image, behaviour string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if image == "" {
		delete(a.images, namespace+"/"+name)
		return
	}
	a.images[namespace+"/"+name] = image
	a.behaviours[namespace+"/"+name] = behaviour
}

// image is what key runs, and the tag suffix it behaves as.
func (a *App) image(key string) (string, string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	img, ok := a.images[key]
	if b := a.behaviours[key]; b != "" {
		return img, "-" + b, ok
	}
	ns, _, _ := strings.Cut(key, "/")
	return img, behaviourIn(tagOf(img), ns), ok
}

// behaviourIn is how a tag behaves in namespace: a tag ending in
// ErrorsInPrefix+namespace errs there and is well elsewhere.
func behaviourIn(tag, namespace string) string {
	i := strings.LastIndex(tag, ErrorsInPrefix)
	if i < 0 {
		return tag
	}
	if tag[i+len(ErrorsInPrefix):] == namespace {
		return ErrorsSuffix
	}
	return tag[:i]
}

func (a *App) keys() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	keys := make([]string, 0, len(a.images))
	for k := range a.images {
		keys = append(keys, k)
	}
	return keys
}

// Handler serves the workloads and /metrics.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", a.serve)
	return mux
}

// serve answers as the image the workload runs now: tag suffix -errors
// answers 3 in 10 requests with 500 (-errors-in-<namespace>: only there),
// -slow adds SlowDelay.
func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	key := strings.Trim(r.URL.Path, "/")
	img, tag, ok := a.image(key)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(tag, SlowSuffix) {
		time.Sleep(SlowDelay)
	}
	code := http.StatusOK
	if strings.HasSuffix(tag, ErrorsSuffix) && a.served.Add(1)%10 < 3 {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "%s runs %s\n", key, img)
	ns, name, _ := strings.Cut(key, "/")
	a.requests.WithLabelValues(ns, name, img, fmt.Sprint(code)).Inc()
	a.latency.WithLabelValues(ns, name, img).Observe(time.Since(start).Seconds())
}

func tagOf(img string) string {
	img, _, _ = strings.Cut(img, "@")
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		return img[i+1:]
	}
	return ""
}

// maxInFlight bounds the load's open requests, and so its sockets.
const maxInFlight = 32

// Load sends every workload rps requests a second through base until ctx
// ends. At most maxInFlight requests are open at once, over connections
// that are kept and reused; a request that finds them all busy is skipped,
// so a cluster with many workloads gets less traffic per workload rather
// than an unbounded number of sockets.
func (a *App) Load(ctx context.Context, base string, rps int) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, MaxConnsPerHost: maxInFlight,
	}}
	defer client.CloseIdleConnections()
	slots := make(chan struct{}, maxInFlight)
	tick := time.NewTicker(time.Second / time.Duration(max(rps, 1)))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, k := range a.keys() {
			select {
			case slots <- struct{}{}:
			default:
				continue
			}
			go func() {
				defer func() { <-slots }()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+k, nil)
				if err != nil {
					return
				}
				if resp, err := client.Do(req); err == nil {
					// Read to the end, so that the connection is reused.
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}()
		}
	}
}

// Watch follows every Deployment of the cluster cfg names, so that each
// serves as the image it runs now.
func (a *App) Watch(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for the cluster: %w", err)
	}
	factory := informers.NewSharedInformerFactory(cs, 30*time.Second)
	inf := factory.Apps().V1().Deployments().Informer()
	set := func(o any) {
		if d, ok := o.(*appsv1.Deployment); ok && len(d.Spec.Template.Spec.Containers) > 0 {
			a.SetImage(d.Namespace, d.Name, d.Spec.Template.Spec.Containers[0].Image, d.Annotations[BehaviourAnnotation])
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, o any) { set(o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(*appsv1.Deployment); ok {
				a.SetImage(d.Namespace, d.Name, "", "")
			}
		},
	}); err != nil {
		return fmt.Errorf("watch Deployments: %w", err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return nil
}

// Run serves on l, follows the cluster and sends rps requests a second to
// every workload until ctx ends.
func (a *App) Run(ctx context.Context, cfg *rest.Config, l net.Listener, rps int) error {
	if err := a.Watch(ctx, cfg); err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go a.Load(ctx, "http://"+l.Addr().String(), rps)
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
