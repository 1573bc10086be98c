package controllers

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/notify"
	"github.com/baton-dev/baton/internal/promote"
)

// PromotionFinalizer keeps a Promotion that holds its Environment's lease
// until its history entry is closed and the lease released.
const PromotionFinalizer = batonv1alpha1.PromotionFinalizer

// ControllerUser is the requester recorded on the Promotions Baton creates
// itself.
const ControllerUser = promote.ControllerUser

// promotionEnvironmentIndex maps an unfinished Promotion to its
// spec.environment. Finished ones are in no bucket, so neither the queue nor
// an Environment's change ever walks a namespace's past Promotions.
const promotionEnvironmentIndex = "spec.environment.unfinished"

// maxActions bounds the side effects one reconcile performs: a delivery,
// the creation of an automatic rollback, or the release Job's lookup (or
// creation) and its deletion after a timeout.
const maxActions = 2

// PromotionReconciler takes a Promotion from creation to a terminal phase.
// Each reconcile reads, calls promote.Decide, performs the one side effect
// the Decision asks for, writes the Environment's and then the Promotion's
// status, and only then emits Events and metrics.
type PromotionReconciler struct {
	client.Client
	// APIReader reads uncached, for every decision to act.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// Deliverer returns the delivery for an Environment.
	Deliverer func(env *batonv1alpha1.Environment) (delivery.Deliverer, error)
	// Admission verifies the marker the admission webhook signs each
	// Promotion with; the engine never acts on one that does not verify. It
	// also signs the Promotions Baton creates itself.
	Admission Admission
	// Self is the username the API server authenticates the manager as
	// (from a SelfSubjectReview at start-up); the admission webhook records
	// it as the requester of the Promotions the manager creates. "" when
	// unknown: then only ControllerUser proves a Promotion Baton's own.
	Self string
	// Notifier, when set, gets every phase change, after the write.
	Notifier Notifier
	// PromotionLink is where a person sees a Promotion (--promotion-url):
	// the notifications' promotionURL. Empty links nothing.
	PromotionLink notify.PromotionLink
	// CommitStatuses, when set, gets every phase change, after the write,
	// to report on the source commit (commitstatus.Reporter in the manager).
	CommitStatuses CommitStatusReporter
	// Freezes verifies freeze seals; nil trusts no freeze's frozenBy (each
	// still holds Promotions).
	Freezes FreezeVerifier
	// Concurrency is how many Promotions are reconciled in parallel; zero
	// leaves the manager's default.
	Concurrency int
	// Registry looks up the digest of a tag for an Environment that pins
	// digests (delivery.pinDigest); nil asks none, and such a Promotion
	// waits with RegistryUnreachable.
	Registry DigestResolver
	// DeliveryDone, when set, brings the Promotion of each finished
	// asynchronous delivery (delivery.Async) back to the queue at once.
	DeliveryDone <-chan event.GenericEvent
	// Jobs says where an Environment's release Jobs run; nil runs them
	// all in the manager's cluster.
	Jobs JobTargets
	// RemoteJobs, when set, brings back the Promotion of a release Job
	// that changed in a remote cluster (remote.Clusters.NotifyPromotion).
	RemoteJobs <-chan event.GenericEvent
}

// Admission checks and writes Promotions' admission markers
// (identity.KeyStore in the manager).
type Admission interface {
	Verify(ctx context.Context, promo *batonv1alpha1.Promotion) error
	Sign(ctx context.Context, promo *batonv1alpha1.Promotion) error
}

// SetupWithManager registers the reconciler and its watches; SetupIndexes
// must have run.
func (r *PromotionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Admission == nil || r.Deliverer == nil || r.APIReader == nil || r.Clock == nil {
		return errors.New("the Promotion reconciler needs APIReader, Clock, Deliverer and Admission")
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Concurrency > 0 {
		b = b.WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrency})
	}
	if r.DeliveryDone != nil {
		b = b.WatchesRawSource(source.Channel(r.DeliveryDone, &handler.EnqueueRequestForObject{}))
	}
	if r.RemoteJobs != nil {
		b = b.WatchesRawSource(source.Channel(r.RemoteJobs, &handler.EnqueueRequestForObject{}))
	}
	b = b.
		// Every change counts, status included: each reconcile takes one
		// step and writes it, and that write brings the next reconcile.
		// A finished Promotion the manager has let go of is not even in
		// the cache (CacheOptions); mayAct also leaves out one that a
		// cache without that selector holds.
		For(&batonv1alpha1.Promotion{}, builder.WithPredicates(predicate.NewPredicateFuncs(mayAct))).
		Watches(&batonv1alpha1.Environment{}, handler.EnqueueRequestsFromMapFunc(r.promotionsForEnvironment)).
		// A release Job that finishes brings its Promotion back.
		Owns(&batchv1.Job{})
	for _, w := range r.guardrailWatches() {
		b = b.Watches(w.obj, handler.EnqueueRequestsFromMapFunc(w.fn))
	}
	return b.Named("promotion").Complete(r)
}

// mayAct tells whether a Promotion may still have something to do: it is
// unfinished, or finished but not yet let go of (letGo).
func mayAct(o client.Object) bool {
	p, ok := o.(*batonv1alpha1.Promotion)
	return ok && (!p.Status.Phase.IsTerminal() || controllerutil.ContainsFinalizer(p, PromotionFinalizer) || !p.IsFinishedLabelled())
}

// promotionsForEnvironment enqueues the Promotions into an Environment and
// into the Environments downstream of it, which wait on its verified images.
func (r *PromotionReconciler) promotionsForEnvironment(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, env := range append([]string{o.GetName()}, downstreamNames(ctx, r.Client, o)...) {
		var promos batonv1alpha1.PromotionList
		if err := r.List(ctx, &promos, client.InNamespace(o.GetNamespace()), client.MatchingFields{promotionEnvironmentIndex: env}); err != nil {
			continue
		}
		for _, p := range promos.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
	}
	return reqs
}

// Reconcile moves one Promotion at most one phase forward.
func (r *PromotionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	promo := &batonv1alpha1.Promotion{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, promo); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("environment", promo.Spec.Environment))
	deleting := !promo.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(promo, PromotionFinalizer) {
		return ctrl.Result{}, nil
	}
	if !deleting && promo.Status.Phase.IsTerminal() {
		// One that an earlier Baton finished, with its finalizer still on
		// or without the finished label; or one whose spec.resume just
		// lifted the label (the admission webhook drops it).
		if !promo.IsFinishedLabelled() {
			if err := r.resume(ctx, promo); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, r.letGo(ctx, promo)
	}
	var notAdmitted error
	if !deleting {
		if notAdmitted = r.Admission.Verify(ctx, promo); notAdmitted != nil &&
			!errors.Is(notAdmitted, identity.ErrNotAdmitted) {
			return ctrl.Result{}, fmt.Errorf("verify the admission marker: %w", notAdmitted)
		}
		if notAdmitted == nil && !controllerutil.ContainsFinalizer(promo, PromotionFinalizer) {
			base := promo.DeepCopy()
			controllerutil.AddFinalizer(promo, PromotionFinalizer)
			return ctrl.Result{}, r.Patch(ctx, promo, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		}
	}
	in, err := r.read(ctx, promo)
	if err != nil {
		return ctrl.Result{}, err
	}
	in.NotAdmitted = notAdmitted
	d := promote.Decide(in)
	for i := 0; d.Action != promote.NoAction && i < maxActions; i++ {
		if in, err = r.act(ctx, in, d); err != nil {
			return ctrl.Result{}, err
		}
		d = promote.Decide(in)
	}
	if d.Action != promote.NoAction {
		return ctrl.Result{}, fmt.Errorf("promotion %s asked for more than %d actions in one reconcile", promo.Name, maxActions)
	}
	return r.write(ctx, in, d)
}

// read gathers what Decide looks at: the Environment, the upstream, the
// queue and the lease holder, each only when Decide needs it.
func (r *PromotionReconciler) read(ctx context.Context, promo *batonv1alpha1.Promotion) (promote.Input, error) {
	in := promote.Input{Promotion: promo, Now: r.Clock.Now(), Self: r.Self, Nonce: utilrand.String(5)}
	env, err := r.getEnvironment(ctx, promo.Namespace, promo.Spec.Environment)
	if err != nil || env == nil {
		return in, err
	}
	in.Environment = env
	if promote.NeedsUpstream(promo, env) {
		if in.Upstream, err = r.getEnvironment(ctx, promo.Namespace, env.Spec.Upstream); err != nil {
			return in, err
		}
	}
	if promote.NeedsQueue(promo) {
		var promos batonv1alpha1.PromotionList
		if err := r.List(ctx, &promos, client.InNamespace(promo.Namespace), client.MatchingFields{promotionEnvironmentIndex: env.Name}); err != nil {
			return in, fmt.Errorf("list the queue of Environment %s: %w", env.Name, err)
		}
		in.Queue = promos.Items
		if in.Guardrails, err = r.readGuardrails(ctx, promo.Namespace); err != nil {
			return in, err
		}
	}
	if promote.NeedsHolder(promo, env) {
		holder := &batonv1alpha1.Promotion{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: promo.Namespace, Name: env.Status.ActivePromotion.Name}, holder)
		switch {
		case err == nil:
			in.Holder = holder
		case !apierrors.IsNotFound(err):
			return in, fmt.Errorf("read lease holder %s: %w", env.Status.ActivePromotion.Name, err)
		}
	}
	return in, nil
}

// getEnvironment reads an Environment uncached; nil when it does not exist.
func (r *PromotionReconciler) getEnvironment(ctx context.Context, namespace, name string) (*batonv1alpha1.Environment, error) {
	env := &batonv1alpha1.Environment{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, env); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read Environment %s: %w", name, err)
	}
	return env, nil
}
