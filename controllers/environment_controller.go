package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/statuspatch"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

const (
	// upstreamIndex maps an Environment to "<namespace>/<name>" of its
	// upstream, so creating the upstream clears UpstreamNotFound.
	upstreamIndex = "spec.upstream"

	defaultSoakTime = 5 * time.Minute
)

// EnvironmentReconciler keeps an Environment's status in step with its
// workload: what it runs, whether the rollout is healthy, which images are
// verified, and the revision history. It only reads the workload.
type EnvironmentReconciler struct {
	client.Client
	// Recorder emits Events; reasons are condition reason constants.
	Recorder events.EventRecorder
	// Clock is "now" for the soak time; a fake clock in tests.
	Clock clock.PassiveClock
	// Workloads reads the workloads; remote.Workloads over the manager's
	// client and Clusters when nil.
	Workloads workload.Accessor
	// Clusters serves the Environments with spec.cluster; one over the
	// manager's clients when nil. The reconciler wakes Environments for it
	// (Notify), and tells it when one stops using a cluster.
	Clusters *remote.Clusters
	// Jobs says where an Environment's job checks run; Workloads, when it
	// can say, and the manager's cluster otherwise.
	Jobs JobTargets
	// APIReader reads the lease holder uncached before the lease is
	// released for it, and the Secrets of checks; the manager's API reader
	// when nil.
	APIReader client.Reader
	// Querier runs the checks' Prometheus queries; client_golang's when nil.
	Querier verification.Querier
}

// SetupIndexes registers the field indexes every Baton controller lists by.
// Call it once per manager, before the controllers' SetupWithManager.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &batonv1alpha1.Environment{}, workload.IndexField, func(o client.Object) []string {
		env, ok := o.(*batonv1alpha1.Environment)
		if !ok {
			return nil
		}
		return workload.IndexKeys(env)
	}); err != nil {
		return fmt.Errorf("index Environments by %s: %w", workload.IndexField, err)
	}
	if err := indexer.IndexField(ctx, &batonv1alpha1.Environment{}, upstreamIndex, func(o client.Object) []string {
		env, ok := o.(*batonv1alpha1.Environment)
		if !ok || env.Spec.Upstream == "" {
			return nil
		}
		return []string{env.Namespace + "/" + env.Spec.Upstream}
	}); err != nil {
		return fmt.Errorf("index Environments by %s: %w", upstreamIndex, err)
	}
	if err := indexer.IndexField(ctx, &batonv1alpha1.Promotion{}, promotionEnvironmentIndex, func(o client.Object) []string {
		if p, ok := o.(*batonv1alpha1.Promotion); ok && !p.Status.Phase.IsTerminal() {
			return []string{p.Spec.Environment}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Promotions by %s: %w", promotionEnvironmentIndex, err)
	}
	return nil
}

// SetupWithManager registers the watches; SetupIndexes must have run.
func (r *EnvironmentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clusters == nil {
		r.Clusters = NewClusters(mgr, false)
	}
	if r.Workloads == nil {
		r.Workloads = &remote.Workloads{Local: workload.NewLocal(mgr.GetClient(), mgr.GetAPIReader()), Clusters: r.Clusters}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if jt, ok := r.Workloads.(JobTargets); ok && r.Jobs == nil {
		r.Jobs = jt
	}
	// A remote cluster's cache wakes the Environments of its workloads
	// through this channel.
	wake := make(chan event.GenericEvent, 1024)
	r.Clusters.Notify = func(nn types.NamespacedName) {
		wake <- event.GenericEvent{Object: &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}}
	}
	if err := mgr.Add(r.Clusters); err != nil {
		return fmt.Errorf("add the remote clusters: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&batonv1alpha1.Environment{}).
		// The Jobs of job checks: a Job that finishes reconciles its
		// Environment.
		Owns(&batchv1.Job{}).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.environmentsOf(batonv1alpha1.WorkloadKindDeployment))).
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.environmentsOf(batonv1alpha1.WorkloadKindStatefulSet))).
		Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.environmentsOf(batonv1alpha1.WorkloadKindDaemonSet))).
		// The digests the kubelets report (status.current.digest).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.environmentsOfPod),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: podDigestChanged})).
		Watches(&batonv1alpha1.Environment{}, enqueueDownstreams(r.Client)).
		// Remote clusters: their workloads' changes, and their comings and
		// goings.
		WatchesRawSource(source.Channel(wake, &handler.EnqueueRequestForObject{})).
		// A deleted Promotion may have held the lease without releasing it.
		Watches(&batonv1alpha1.Promotion{}, handler.EnqueueRequestsFromMapFunc(environmentOfPromotion),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Named("environment").
		Complete(r)
}

func environmentOfPromotion(_ context.Context, o client.Object) []reconcile.Request {
	p, ok := o.(*batonv1alpha1.Promotion)
	if !ok || p.Spec.Environment == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Spec.Environment}}}
}

func (r *EnvironmentReconciler) environmentsOf(kind batonv1alpha1.WorkloadKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.requestsFor(ctx, client.MatchingFields{workload.IndexField: workload.IndexKey(kind, client.ObjectKeyFromObject(o))})
	}
}

// environmentsOfPod enqueues the Environments of the workload that
// controls the Pod.
func (r *EnvironmentReconciler) environmentsOfPod(ctx context.Context, o client.Object) []reconcile.Request {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	kind, name := workload.WorkloadOfPod(p)
	if kind == "" {
		return nil
	}
	return r.requestsFor(ctx, client.MatchingFields{workload.IndexField: workload.IndexKey(batonv1alpha1.WorkloadKind(kind), client.ObjectKey{Namespace: p.Namespace, Name: name})})
}

// podDigestChanged: a Pod update matters when it changes what Running
// reads, not at every status write of the kubelet.
func podDigestChanged(e event.UpdateEvent) bool {
	return workload.PodChanged(e.ObjectOld, e.ObjectNew)
}

func (r *EnvironmentReconciler) requestsFor(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list batonv1alpha1.EnvironmentList
	if err := r.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list Environments for a watch event")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// Reconcile reads the Environment and its workload, decides the new status
// with health.Decide, and writes it in one deferred, optimistically locked
// status patch.
func (r *EnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	env := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, req.NamespacedName, env); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetEnvironment(req.Namespace, req.Name)
			r.Clusters.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !env.DeletionTimestamp.IsZero() {
		// Baton owns nothing an Environment must clean up; its remote
		// cache may stop.
		r.Clusters.Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if env.Spec.Cluster == nil {
		r.Clusters.Forget(req.NamespacedName)
	}

	var evs []health.Event
	// Events only for what was written, so that a lost race does not
	// announce twice.
	defer statuspatch.New(r.Client, env).Finish(ctx, env, &result, &retErr, func() {
		for _, ev := range evs {
			r.event(ctx, env, ev)
		}
		metrics.ObserveEnvironment(env)
	})

	result, evs, retErr = r.reconcile(ctx, env)
	return result, retErr
}

func (r *EnvironmentReconciler) reconcile(ctx context.Context, env *batonv1alpha1.Environment) (ctrl.Result, []health.Event, error) {
	if env.Spec.Suspend {
		setCondition(env, batonv1alpha1.SuspendedCondition, metav1.ConditionTrue, batonv1alpha1.SuspendedReason,
			"spec.suspend is set: new Promotions and autoPromote wait; rollbacks still run")
	} else {
		apimeta.RemoveStatusCondition(&env.Status.Conditions, batonv1alpha1.SuspendedCondition)
	}

	set, err := r.Workloads.Get(ctx, env)
	setCluster(env, r.Clusters)
	var rollout workload.Rollout
	if err == nil {
		rollout, err = set.Rollout()
	}
	if s, ok := outcome.AsStalled(err); ok {
		var res ctrl.Result
		if env.Spec.Cluster != nil && remote.FixedInSecret(s.Reason) {
			// The fix is a Secret, which the manager does not watch.
			res.RequeueAfter = remote.RetryAfter
		}
		return res, stalled(env, s), nil
	}
	if w, ok := outcome.AsWaiting(err); ok {
		// A remote cluster that does not answer, or not to this identity:
		// nothing is judged, so the history has no entry for the outage,
		// and what changed meanwhile is recorded when it answers again.
		return ctrl.Result{RequeueAfter: w.RequeueAfter}, stalled(env, &outcome.Stalled{Reason: w.Reason, Message: w.Message}), nil
	}
	if err != nil {
		return ctrl.Result{}, nil, err
	}

	gone, err := r.holderGone(ctx, env)
	if err != nil {
		return ctrl.Result{}, nil, err
	}
	// The workloads run one image: the one the Environment recorded while
	// any of them still runs it (see workload.Set.Image).
	w := set.Primary()
	if env.Status.Current != nil {
		w.Image = set.Image(env.Status.Current.Image)
	}
	obs := health.Observation{Image: w.Image, Rollout: rollout, HolderGone: gone, Disagreement: set.Disagreement()}
	if rollout.Complete() && obs.Disagreement == "" {
		// The bytes the Pods run, once every Pod the rollout counts is seen.
		running, err := r.Workloads.Running(ctx, env, set)
		if err != nil {
			return ctrl.Result{}, nil, err
		}
		if running.Known() {
			obs.Digest = running.Digest
		}
		if running.Disagrees() {
			obs.DigestsDisagree = running.Disagreement
		}
	}
	checks, nextCheck := r.evaluateChecks(ctx, env, w, rollout)
	obs.Checks = checks
	decision := health.Decide(&env.Status, obs, policyOf(env), r.Clock.Now())
	decision.RequeueAfter = sooner(decision.RequeueAfter, nextCheck)

	if env.Spec.Upstream != "" {
		up := &batonv1alpha1.Environment{}
		err := r.Get(ctx, types.NamespacedName{Namespace: env.Namespace, Name: env.Spec.Upstream}, up)
		if apierrors.IsNotFound(err) {
			evs := append(decision.Events, stalled(env, &outcome.Stalled{Reason: batonv1alpha1.UpstreamNotFoundReason,
				Message: fmt.Sprintf("spec.upstream names Environment %q, which does not exist in namespace %s; create it or fix spec.upstream", env.Spec.Upstream, env.Namespace)})...)
			return ctrl.Result{RequeueAfter: decision.RequeueAfter}, evs, nil
		}
		if err != nil {
			return ctrl.Result{}, decision.Events, fmt.Errorf("get upstream Environment %s/%s: %w", env.Namespace, env.Spec.Upstream, err)
		}
	}

	setHeld(env)
	if s := failedRollback(env); s != nil {
		return ctrl.Result{RequeueAfter: decision.RequeueAfter}, append(decision.Events, stalled(env, s)...), nil
	}
	if c := sourceProblem(env); c != nil {
		// The workload itself is fine, so Ready stays as Decide set it; the
		// source controller already announced the problem.
		setCondition(env, batonv1alpha1.StalledCondition, metav1.ConditionTrue, c.Reason, c.Message)
		return ctrl.Result{RequeueAfter: decision.RequeueAfter}, decision.Events, nil
	}
	apimeta.RemoveStatusCondition(&env.Status.Conditions, batonv1alpha1.StalledCondition)
	env.Status.ObservedGeneration = env.Generation
	return ctrl.Result{RequeueAfter: decision.RequeueAfter}, decision.Events, nil
}

// holderGone reports, reading uncached, whether the Promotion that holds the
// lease is gone: not found, another object under its name, or deleted
// without Baton's finalizer, so that no Promotion reconcile will release the
// lease. The status write that releases it is optimistically locked: a lease
// granted since this Environment was read makes it a Conflict.
func (r *EnvironmentReconciler) holderGone(ctx context.Context, env *batonv1alpha1.Environment) (bool, error) {
	lease := env.Status.ActivePromotion
	if lease == nil {
		return false, nil
	}
	holder := &batonv1alpha1.Promotion{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: env.Namespace, Name: lease.Name}, holder)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read lease holder %s: %w", lease.Name, err)
	}
	return string(holder.UID) != lease.UID ||
		(!holder.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(holder, PromotionFinalizer)), nil
}

// setHeld says which images autoPromote skips here, and why: the
// Environment was rolled back away from them.
func setHeld(env *batonv1alpha1.Environment) {
	if len(env.Status.RejectedImages) == 0 {
		apimeta.RemoveStatusCondition(&env.Status.Conditions, batonv1alpha1.HeldCondition)
		return
	}
	var held []string
	for _, r := range env.Status.RejectedImages {
		held = append(held, fmt.Sprintf("%s (rolled back by Promotion %s)", r.Image, r.Promotion))
	}
	setCondition(env, batonv1alpha1.HeldCondition, metav1.ConditionTrue, batonv1alpha1.ImageRejectedReason,
		fmt.Sprintf("Held: %s. autoPromote skips them; to ship one again on purpose, create a Promotion that names it in spec.image with a spec.reason",
			strings.Join(held, ", ")))
}

// failedRollback stalls the Environment when its newest revision is a
// rollback that failed: Baton never rolls back a rollback, so a person must
// decide what runs next.
func failedRollback(env *batonv1alpha1.Environment) *outcome.Stalled {
	h := env.Status.History
	if len(h) == 0 || !h[len(h)-1].Rollback || h[len(h)-1].Result != batonv1alpha1.RevisionFailed {
		return nil
	}
	last := h[len(h)-1]
	return &outcome.Stalled{Reason: batonv1alpha1.RollbackFailedReason, Message: fmt.Sprintf(
		"The rollback to %s (revision %d) failed: %s. Baton does not roll back a rollback: fix the workload, then promote a known-good image or roll back to another revision by hand",
		last.Image, last.Revision, last.Message)}
}

// sourceProblem is the Source condition when it reports something only a
// person can fix (an invalid image template, credentials, a missing branch).
// A force-push is reported there too, but the next commit clears it.
func sourceProblem(env *batonv1alpha1.Environment) *metav1.Condition {
	c := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.SourceCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason == batonv1alpha1.ForcePushedReason {
		return nil
	}
	return c
}

// stalled records a problem a person must fix (health.Stall).
// setCluster records the API server of a remote Environment's cluster.
func setCluster(env *batonv1alpha1.Environment, clusters *remote.Clusters) {
	if env.Spec.Cluster == nil {
		env.Status.Cluster = nil
		return
	}
	if server := clusters.Server(env); server != "" {
		env.Status.Cluster = &batonv1alpha1.ClusterStatus{Server: server}
	}
}

func stalled(env *batonv1alpha1.Environment, s *outcome.Stalled) []health.Event {
	return health.Stall(&env.Status, env.Generation, s)
}

func setCondition(env *batonv1alpha1.Environment, conditionType string, s metav1.ConditionStatus, reason, message string) {
	health.SetCondition(&env.Status, env.Generation, conditionType, s, reason, message)
}

func policyOf(env *batonv1alpha1.Environment) health.Policy {
	p := health.Policy{Generation: env.Generation, SoakTime: defaultSoakTime, HistoryLimit: env.HistoryLimitOrDefault()}
	if env.Spec.Verification.SoakTime != nil {
		p.SoakTime = env.Spec.Verification.SoakTime.Duration
	}
	return p
}

// NewClusters returns the remote clusters over the manager's clients:
// kubeconfig Secrets read uncached, the Environments from the cache. allowExec accepts kubeconfigs that run a program
// (--insecure-kubeconfig-exec).
func NewClusters(mgr ctrl.Manager, allowExec bool) *remote.Clusters {
	return &remote.Clusters{
		Secrets:      mgr.GetAPIReader(),
		Environments: mgr.GetClient(),
		Scheme:       mgr.GetScheme(),
		AllowExec:    allowExec,
		Log:          ctrl.Log.WithName("remote"),
	}
}
