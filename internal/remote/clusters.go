package remote

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// SecretTTL is how long a kubeconfig Secret read is trusted. The manager
// may get Secrets but not watch them (its ClusterRole reads Secrets one by
// one), so a rotated kubeconfig is read again at the first reconcile a
// minute after the last read, and at once when the API server stops
// accepting the old credentials.
const SecretTTL = time.Minute

// RetryAfter is how long an Environment whose cluster cannot be reached
// waits before it looks again, at most: a cluster that comes back wakes
// its Environments at once.
const RetryAfter = 30 * time.Second

// Clusters keeps one cache per remote cluster (per kubeconfig Secret),
// started by the first Environment that names it and stopped when the last
// one stops naming it. Every change of a workload there, or of its Pods,
// wakes the Environments that name the workload, through Notify.
type Clusters struct {
	// Secrets reads kubeconfig Secrets uncached: the manager's API reader.
	Secrets client.Reader
	// Environments lists the manager's Environments by workload.IndexField.
	Environments client.Reader
	// Scheme has the workload kinds and Pods.
	Scheme *runtime.Scheme
	// AllowExec accepts kubeconfigs with exec or auth-provider plugins
	// (--insecure-kubeconfig-exec).
	AllowExec bool
	// Notify wakes an Environment.
	Notify func(types.NamespacedName)
	// NotifyPromotion wakes a Promotion, whose release Job in a remote
	// cluster changed; nil wakes none.
	NotifyPromotion func(types.NamespacedName)
	// SyncTimeout bounds how long a new cache may take to list the
	// workloads; 30 s when zero.
	SyncTimeout time.Duration
	// Log gets the caches' connection errors, with the server's address.
	Log logr.Logger

	mu      sync.Mutex
	entries map[string]*entry
	// users maps an Environment to the cluster key it last used.
	users map[types.NamespacedName]string
	// stopped: Start's context ended; no cache starts any more.
	stopped bool
}

// entry is one remote cluster and the Environments that use it.
type entry struct {
	key string
	// users are the Environments using it, with what they need of it
	// (guarded by Clusters.mu).
	users map[types.NamespacedName]use

	// mu serializes starting and stopping; the fields below are guarded
	// by it.
	mu          sync.Mutex
	readAt      time.Time
	fingerprint [sha256.Size]byte
	server      string
	namespaces  []string
	jobs        bool
	running     *running

	// health is guarded by healthMu: watches report into it from the
	// informers' goroutines.
	healthMu  sync.Mutex
	lastError error
	forbidden error
	probing   bool
	// generation counts the caches started; a probe of an earlier one
	// ends.
	generation int
	// live: a cache runs, so baton_remote_cluster_up has a series.
	live atomic.Bool
}

// up sets baton_remote_cluster_up for e.
func (e *entry) up(v float64) {
	if !e.live.Load() {
		return // a late answer of a stopped cache
	}
	ns, name := e.secret()
	metrics.RemoteClusterUp.WithLabelValues(ns, name).Set(v)
}

// secret is the namespace and name of e's kubeconfig Secret.
func (e *entry) secret() (string, string) {
	ref, _ := strings.CutPrefix(e.key, "kubeconfig:")
	ns, name, _ := strings.Cut(ref, "/")
	return ns, name
}

// running is a started cache of one remote cluster.
type running struct {
	cluster  cluster.Cluster
	accessor *workload.Cluster
	config   *rest.Config
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start implements manager.Runnable: it stops every cache when ctx ends.
func (c *Clusters) Start(ctx context.Context) error {
	<-ctx.Done()
	c.mu.Lock()
	c.stopped = true
	entries := slices.Collect(maps.Values(c.entries))
	c.entries = nil
	c.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		e.stop()
		e.mu.Unlock()
	}
	return nil
}

// NeedLeaderElection: caches start on the reconcilers' demand, so on the
// leader only; the stop must run on every replica.
func (c *Clusters) NeedLeaderElection() bool { return false }

// Caches is how many remote caches run now.
func (c *Clusters) Caches() int {
	c.mu.Lock()
	entries := slices.Collect(maps.Values(c.entries))
	c.mu.Unlock()
	n := 0
	for _, e := range entries {
		e.mu.Lock()
		if e.running != nil {
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// Forget says that an Environment no longer uses a remote cluster (it was
// deleted, or its spec.cluster changed); the cache stops with its last
// user.
func (c *Clusters) Forget(env types.NamespacedName) {
	if c == nil {
		return
	}
	c.mu.Lock()
	key, ok := c.users[env]
	if !ok {
		c.mu.Unlock()
		return
	}
	delete(c.users, env)
	e := c.entries[key]
	if e == nil {
		c.mu.Unlock()
		return
	}
	delete(e.users, env)
	idle := len(e.users) == 0
	if idle {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	if idle {
		e.mu.Lock()
		e.stop()
		e.mu.Unlock()
	}
}

// Server is the API server address of env's cluster, as last read from its
// kubeconfig; "" when unknown.
func (c *Clusters) Server(env *batonv1alpha1.Environment) string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	e := c.entries[workload.ClusterKey(env)]
	c.mu.Unlock()
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.server
}

// For returns the workload accessor of env's remote cluster, starting its
// cache when env is the first to use it. Errors are *outcome.Stalled for a
// kubeconfig a person must fix (KubeConfigNotFound, KubeConfigKeyNotFound,
// KubeConfigInvalid, KubeConfigExecRefused, WorkloadNotAuthorized) and
// *outcome.Waiting for a cluster that does not answer (ClusterUnreachable,
// ClusterNotTrusted): Baton tries again.
func (c *Clusters) For(ctx context.Context, env *batonv1alpha1.Environment) (*workload.Cluster, error) {
	key := workload.ClusterKey(env)
	if key == "" {
		return nil, fmt.Errorf("Environment %s/%s has no spec.cluster", env.Namespace, env.Name)
	}
	nn := client.ObjectKeyFromObject(env)
	ref := types.NamespacedName{Namespace: env.Namespace, Name: env.Spec.Cluster.KubeConfig.SecretRef.Name}

	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, fmt.Errorf("the manager is stopping")
	}
	if old, ok := c.users[nn]; ok && old != key {
		c.mu.Unlock()
		c.Forget(nn)
		c.mu.Lock()
	}
	if c.entries == nil {
		c.entries, c.users = map[string]*entry{}, map[types.NamespacedName]string{}
	}
	e := c.entries[key]
	if e == nil {
		e = &entry{key: key, users: map[types.NamespacedName]use{}}
		c.entries[key] = e
	}
	e.users[nn] = use{namespaces: namespacesOf(env), jobs: runsJobs(env)}
	c.users[nn] = key
	want := e.wanted()
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deniedNow() {
		// The identity lost a permission while the cache ran: start again,
		// so that the preflight says where, and a restored Role is seen.
		e.stop()
	}
	if e.running != nil && e.healthy() && time.Since(e.readAt) < SecretTTL && e.covers(want) {
		return e.running.accessor, nil
	}
	// First use, a Secret read long enough ago, or a cluster that does not
	// answer (its credentials may have been rotated): read the kubeconfig.
	data, err := c.kubeconfig(ctx, ref)
	if err != nil {
		if _, stalled := outcome.AsStalled(err); stalled {
			e.stop()
		}
		return nil, err
	}
	fp := sha256.Sum256(data)
	if e.running != nil && e.fingerprint == fp && e.covers(want) {
		e.readAt = time.Now()
		return e.accessorIfHealthy()
	}
	config, server, err := Parse(data, ref.String(), c.AllowExec)
	e.server = server
	e.stop()
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, e, config, want); err != nil {
		return nil, err
	}
	if !c.current(e) {
		// Its last Environment let go of it while it started (Forget).
		e.stop()
		return nil, fmt.Errorf("Environment %s stopped using the cluster of Secret %s while its cache started", nn, ref)
	}
	e.readAt, e.fingerprint = time.Now(), fp
	return e.running.accessor, nil
}

// kubeconfig is the kubeconfig in the Secret ref, refused with an
// *outcome.Stalled when the Secret is missing, lacks
// batonv1alpha1.CredentialsLabel or has no batonv1alpha1.KubeConfigKey.
func (c *Clusters) kubeconfig(ctx context.Context, ref types.NamespacedName) ([]byte, error) {
	secret := &corev1.Secret{}
	if err := c.Secrets.Get(ctx, ref, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound(ref)
		}
		return nil, fmt.Errorf("read Secret %s: %w", ref, err)
	}
	if secret.Labels[batonv1alpha1.CredentialsLabel] != "true" {
		// Without this rule, anyone who may edit an Environment could name
		// a kubeconfig the namespace keeps for something else (Flux's, a
		// cluster admin's) and move workloads with it.
		return nil, outcome.Stall(batonv1alpha1.KubeConfigInvalidReason,
			"spec.cluster.kubeConfig.secretRef: Secret %s lacks the label %s=true; label it, so that only Secrets meant for Baton give it a cluster's credentials",
			ref, batonv1alpha1.CredentialsLabel)
	}
	data, ok := secret.Data[batonv1alpha1.KubeConfigKey]
	if !ok || len(data) == 0 {
		return nil, outcome.Stall(batonv1alpha1.KubeConfigKeyNotFoundReason,
			"Secret %s has no key %q: put the kubeconfig of the cluster under it (spec.cluster.kubeConfig.secretRef)", ref, batonv1alpha1.KubeConfigKey)
	}
	return data, nil
}

// Client is a client of env's remote cluster that shares nothing with the
// caches, and that cluster's address: the admission webhook dry-runs an
// Environment's Jobs with it before the Environment is stored, so no cache
// starts for an Environment that may never exist. Its kubeconfig is read
// and checked as For reads and checks it, with For's errors.
func (c *Clusters) Client(ctx context.Context, env *batonv1alpha1.Environment) (client.Client, string, error) {
	if env.Spec.Cluster == nil {
		return nil, "", fmt.Errorf("Environment %s/%s has no spec.cluster", env.Namespace, env.Name)
	}
	ref := types.NamespacedName{Namespace: env.Namespace, Name: env.Spec.Cluster.KubeConfig.SecretRef.Name}
	data, err := c.kubeconfig(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	config, server, err := Parse(data, ref.String(), c.AllowExec)
	if err != nil {
		return nil, server, err
	}
	config.Timeout = dryRunTimeout
	cl, err := client.New(config, client.Options{Scheme: c.Scheme})
	if err != nil {
		return nil, server, fmt.Errorf("a client of %s: %w", server, err)
	}
	return cl, server, nil
}

// dryRunTimeout bounds each request of Client's clients: the webhook that
// makes them has 10 s in all.
const dryRunTimeout = 4 * time.Second

// current reports whether e is still the entry of its cluster.
func (c *Clusters) current(e *entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[e.key] == e && !c.stopped
}

// use is what one Environment needs of its cluster's cache.
type use struct {
	// namespaces are those of its workloads.
	namespaces []string
	// jobs: it runs release Jobs or job checks there.
	jobs bool
}

// runsJobs reports whether env runs Jobs in its workloads' cluster.
func runsJobs(env *batonv1alpha1.Environment) bool {
	if env.Spec.Release != nil {
		return true
	}
	return slices.ContainsFunc(env.Spec.Verification.Checks, func(c batonv1alpha1.VerificationCheck) bool { return c.Job != nil })
}

func notFound(ref types.NamespacedName) error {
	return outcome.Stall(batonv1alpha1.KubeConfigNotFoundReason,
		"spec.cluster.kubeConfig.secretRef: Secret %s does not exist; create it with the cluster's kubeconfig under key %q", ref, batonv1alpha1.KubeConfigKey)
}

// namespacesOf are the namespaces env's workloads are in.
func namespacesOf(env *batonv1alpha1.Environment) []string {
	var ns []string
	for _, ref := range env.WorkloadRefs() {
		ns = append(ns, workload.Key(env, ref).Namespace)
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// wanted is the union of the users' needs; Clusters.mu held.
func (e *entry) wanted() use {
	var all use
	for _, u := range e.users {
		all.namespaces = append(all.namespaces, u.namespaces...)
		all.jobs = all.jobs || u.jobs
	}
	slices.Sort(all.namespaces)
	all.namespaces = slices.Compact(all.namespaces)
	return all
}

// covers reports whether the running cache holds what want needs; e.mu
// held. A cache that holds more is kept: it stops with its last user.
func (e *entry) covers(want use) bool {
	if want.jobs && !e.jobs {
		return false
	}
	for _, ns := range want.namespaces {
		if !slices.Contains(e.namespaces, ns) {
			return false
		}
	}
	return true
}

func (e *entry) healthy() bool {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	return e.lastError == nil && e.forbidden == nil
}

func (e *entry) deniedNow() bool {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	return e.forbidden != nil
}

// accessorIfHealthy returns the running accessor, or why it cannot be
// trusted now; e.mu held.
func (e *entry) accessorIfHealthy() (*workload.Cluster, error) {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	if e.lastError != nil {
		return nil, Unreachable(e.server, e.lastError)
	}
	return e.running.accessor, nil
}

// start connects to the cluster, starts a cache of the workload kinds and
// Pods (and Baton's Jobs, when want.jobs) in want's namespaces, and waits
// for it to list them; e.mu held.
func (c *Clusters) start(ctx context.Context, e *entry, config *rest.Config, want use) error {
	namespaces := want.namespaces
	// The informers' and the observer's goroutines log this copy: e.server
	// is e.mu's.
	server := e.server
	if err := probe(ctx, config); err != nil {
		return Unreachable(e.server, err)
	}
	if err := preflight(ctx, config, c.Scheme, want); err != nil {
		if apierrors.IsForbidden(err) {
			return forbidden(e.server, err)
		}
		return Unreachable(e.server, err)
	}
	e.healthMu.Lock()
	e.lastError, e.forbidden = nil, nil
	e.generation++
	e.healthMu.Unlock()

	// Every request the cache and the clients make is observed: a
	// reflector retries a refused watch quietly, so the transport is where
	// a cluster that went away shows first.
	observed := rest.CopyConfig(config)
	observed.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &observer{next: rt, failed: func(err error) { c.unreachable(e, server, config, err) }, answered: func() { c.answered(e, server) }}
	})
	byObject := workload.CacheByObject()
	if want.jobs {
		byObject[&batchv1.Job{}] = cache.ByObject{Label: verification.JobSelector(), Transform: verification.SlimJob}
	}
	defaults := map[string]cache.Config{}
	for _, ns := range namespaces {
		defaults[ns] = cache.Config{}
	}
	cl, err := cluster.New(observed, func(o *cluster.Options) {
		o.Scheme = c.Scheme
		o.Logger = c.Log.WithValues("server", e.server)
		o.Cache = cache.Options{
			ByObject:                    byObject,
			DefaultNamespaces:           defaults,
			ReaderFailOnMissingInformer: true,
			DefaultWatchErrorHandler: func(_ context.Context, _ *toolscache.Reflector, err error) {
				c.watchFailed(e, server, err)
			},
		}
	})
	if err != nil {
		return fmt.Errorf("set up the cache of %s: %w", e.server, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r := &running{cluster: cl, config: config, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := cl.Start(runCtx); err != nil {
			c.Log.Error(err, "the cache of a remote cluster stopped", "server", server)
		}
	}()
	timeout := c.SyncTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, timeout)
	defer syncCancel()
	for obj := range byObject {
		inf, err := cl.GetCache().GetInformer(syncCtx, obj)
		if err == nil {
			_, err = inf.AddEventHandler(c.handler(e, obj))
		}
		if err != nil {
			cancel()
			<-r.done
			return Unreachable(e.server, fmt.Errorf("the cache did not list %T within %s: %w", obj, timeout, err))
		}
	}
	r.accessor = workload.NewRemote(cl.GetClient(), cl.GetAPIReader(), c.Environments)
	e.running, e.namespaces, e.jobs = r, namespaces, want.jobs
	e.live.Store(true)
	e.up(1)
	return nil
}

// stop ends the cache, if one runs; e.mu held.
func (e *entry) stop() {
	if e.running == nil {
		return
	}
	e.running.cancel()
	<-e.running.done
	e.running, e.namespaces, e.jobs, e.readAt = nil, nil, false, time.Time{}
	e.live.Store(false)
	ns, name := e.secret()
	metrics.RemoteClusterUp.DeleteLabelValues(ns, name)
}

// handler wakes the Environments that name the workload an event is
// about, in this cluster.
func (c *Clusters) handler(e *entry, obj client.Object) toolscache.ResourceEventHandler {
	if _, ok := obj.(*batchv1.Job); ok {
		return c.jobHandler(e)
	}
	kind := kindOf(obj)
	notify := func(o any) {
		if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = tomb.Obj
		}
		m, ok := o.(client.Object)
		if !ok {
			return
		}
		k, name := kind, m.GetName()
		if p, isPod := m.(*corev1.Pod); isPod {
			var owner string
			owner, name = workload.WorkloadOfPod(p)
			if owner == "" {
				return
			}
			k = batonv1alpha1.WorkloadKind(owner)
		}
		c.notifyUsers(workload.RemoteIndexKey(e.key, k, client.ObjectKey{Namespace: m.GetNamespace(), Name: name}))
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { notify(o) },
		UpdateFunc: func(old, cur any) {
			if kind == "" && !workload.PodChanged(old, cur) {
				return
			}
			notify(cur)
		},
		DeleteFunc: notify,
	}
}

// jobHandler wakes the Environment of a Job Baton runs in this cluster,
// and the Promotion of a release Job. Both are named by the Job's labels
// and annotations, which anyone who may create Jobs there can write: only
// an Environment that uses this cluster is woken, and a wake only makes a
// reconcile read what is true.
func (c *Clusters) jobHandler(e *entry) toolscache.ResourceEventHandler {
	notify := func(o any) {
		if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = tomb.Obj
		}
		job, ok := o.(*batchv1.Job)
		if !ok {
			return
		}
		ns := job.Labels[jobtemplate.EnvironmentNamespaceLabel]
		env := types.NamespacedName{Namespace: ns, Name: job.Labels[verification.JobEnvironmentLabel]}
		c.mu.Lock()
		user := ns != "" && c.users[env] == e.key
		c.mu.Unlock()
		if !user {
			return
		}
		c.Notify(env)
		if p := job.Annotations[release.PromotionAnnotation]; p != "" && c.NotifyPromotion != nil {
			c.NotifyPromotion(types.NamespacedName{Namespace: ns, Name: p})
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, cur any) { notify(cur) },
		DeleteFunc: notify,
	}
}

func kindOf(obj client.Object) batonv1alpha1.WorkloadKind {
	switch obj.(type) {
	case *appsv1.Deployment:
		return batonv1alpha1.WorkloadKindDeployment
	case *appsv1.StatefulSet:
		return batonv1alpha1.WorkloadKindStatefulSet
	case *appsv1.DaemonSet:
		return batonv1alpha1.WorkloadKindDaemonSet
	}
	return "" // Pods: their workload is found per Pod.
}

func (c *Clusters) notifyUsers(indexKey string) {
	var list batonv1alpha1.EnvironmentList
	if err := c.Environments.List(context.Background(), &list, client.MatchingFields{workload.IndexField: indexKey}); err != nil {
		c.Log.Error(err, "list the Environments of a remote workload")
		return
	}
	for i := range list.Items {
		c.Notify(client.ObjectKeyFromObject(&list.Items[i]))
	}
}

// notifyAll wakes every Environment that uses e.
func (c *Clusters) notifyAll(e *entry) {
	c.mu.Lock()
	users := slices.Collect(maps.Keys(e.users))
	c.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].String() < users[j].String() })
	for _, u := range users {
		c.Notify(u)
	}
}

// watchFailed records a list or watch of e's cache that the API server
// refused: an identity that lost its Role. Connection errors are seen by
// the observer.
func (c *Clusters) watchFailed(e *entry, server string, err error) {
	if !apierrors.IsForbidden(err) {
		return
	}
	e.healthMu.Lock()
	first := e.forbidden == nil
	e.forbidden = err
	e.healthMu.Unlock()
	if first {
		c.Log.Info("the kubeconfig's identity may not watch the workloads", "server", server, "error", err.Error())
		c.notifyAll(e)
	}
}

// unreachable records a request to e's API server that got no answer. The
// Environments are woken to say so, and a probe, with bounded backoff,
// says when it answers again.
func (c *Clusters) unreachable(e *entry, server string, config *rest.Config, err error) {
	e.healthMu.Lock()
	first := e.lastError == nil
	e.lastError = err
	start := !e.probing
	e.probing = true
	gen := e.generation
	e.healthMu.Unlock()
	if first {
		c.Log.Info("a remote cluster stopped answering", "server", server, "error", err.Error())
		e.up(0)
		c.notifyAll(e)
	}
	if start {
		go c.probeUntilBack(e, server, config, gen)
	}
}

// answered records an answer from e's API server.
func (c *Clusters) answered(e *entry, server string) {
	e.healthMu.Lock()
	was := e.lastError != nil
	e.lastError = nil
	e.healthMu.Unlock()
	if was {
		c.Log.Info("a remote cluster answers again", "server", server)
		e.up(1)
		c.notifyAll(e)
	}
}

// observer reports, for every request, whether the API server answered.
type observer struct {
	next     http.RoundTripper
	failed   func(error)
	answered func()
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	switch {
	case err != nil && req.Context().Err() == nil:
		o.failed(err)
	case err == nil && resp.StatusCode == http.StatusUnauthorized:
		// Credentials revoked or rotated: the Secret is read again.
		o.failed(apierrors.NewUnauthorized("the API server refused the kubeconfig's credentials"))
	case err == nil && resp.StatusCode < http.StatusInternalServerError:
		o.answered()
	}
	return resp, err
}

// probeUntilBack asks the API server for its version, backing off from 1 s
// to RetryAfter, until it answers; then the Environments are woken.
func (c *Clusters) probeUntilBack(e *entry, server string, config *rest.Config, gen int) {
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: RetryAfter}
	for {
		time.Sleep(backoff.Step())
		live := c.current(e)
		e.healthMu.Lock()
		current := e.generation == gen
		if !live || !current {
			// A new cache, with perhaps new credentials, has its own probe.
			e.probing = false
		}
		e.healthMu.Unlock()
		if !live || !current {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := probe(ctx, config)
		cancel()
		if err != nil {
			continue
		}
		e.healthMu.Lock()
		e.probing = false
		e.healthMu.Unlock()
		c.answered(e, server)
		return
	}
}

// probe asks the API server for its version, within 10 s.
func probe(ctx context.Context, config *rest.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	return dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}

// preflight lists one object of each cached kind in each namespace, so that
// an identity that may not read them is told so now, and where, rather than
// by a cache that never syncs.
func preflight(ctx context.Context, config *rest.Config, scheme *runtime.Scheme, want use) error {
	c, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &appsv1.DaemonSetList{}, &corev1.PodList{}}
	if want.jobs {
		lists = append(lists, &batchv1.JobList{})
	}
	for _, ns := range want.namespaces {
		for _, l := range lists {
			if err := c.List(ctx, l, client.InNamespace(ns), client.Limit(1)); err != nil {
				return err
			}
		}
	}
	return nil
}
