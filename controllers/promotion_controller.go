package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/promote"
)

// PromotionFinalizer keeps a Promotion that holds its Environment's lease
// until its history entry is closed and the lease released.
const PromotionFinalizer = "promotion.baton.dev/history"

// conflictRetry is how soon a reconcile that lost an optimistic-concurrency
// race on an Environment's status decides again.
const conflictRetry = 200 * time.Millisecond

const (
	promotionEnvironmentIndex = "promotion.spec.environment"
	environmentUpstreamIndex  = "environment.spec.upstream"
)

// PromotionReconciler takes a Promotion from creation to a terminal phase:
// resolve and freeze the image, wait for approval, queue for the
// Environment's lease, deliver, and watch the rollout through the
// Environment's status.
type PromotionReconciler struct {
	client.Client
	// APIReader reads uncached, for every decision to act.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// Deliverer returns the delivery for an Environment.
	Deliverer func(env *batonv1alpha1.Environment) (delivery.Deliverer, error)
	// Admission verifies the marker the admission webhook signs each
	// Promotion with; the engine never acts on one that does not verify.
	Admission AdmissionVerifier
}

// AdmissionVerifier checks a Promotion's admission marker
// (identity.KeyStore in the manager).
type AdmissionVerifier interface {
	Verify(ctx context.Context, promo *batonv1alpha1.Promotion) error
}

// +kubebuilder:rbac:groups=promotion.baton.dev,resources=promotions,verbs=get;list;watch;update;patch

// SetupWithManager registers the reconciler and its watches.
func (r *PromotionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Admission == nil || r.Deliverer == nil || r.APIReader == nil || r.Clock == nil {
		return errors.New("the Promotion reconciler needs APIReader, Clock, Deliverer and Admission")
	}
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batonv1alpha1.Promotion{}, promotionEnvironmentIndex,
		func(o client.Object) []string { return []string{o.(*batonv1alpha1.Promotion).Spec.Environment} }); err != nil {
		return fmt.Errorf("index Promotions by environment: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batonv1alpha1.Environment{}, environmentUpstreamIndex,
		func(o client.Object) []string {
			if up := o.(*batonv1alpha1.Environment).Spec.Upstream; up != "" {
				return []string{up}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index Environments by upstream: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Every change counts, status included: each reconcile takes one
		// step and writes it, and that write brings the next reconcile.
		For(&batonv1alpha1.Promotion{}).
		Watches(&batonv1alpha1.Environment{}, handler.EnqueueRequestsFromMapFunc(r.promotionsForEnvironment)).
		Named("promotion").
		Complete(r)
}

// promotionsForEnvironment enqueues the Promotions into an Environment and
// into the Environments downstream of it, which wait on its verified images.
func (r *PromotionReconciler) promotionsForEnvironment(ctx context.Context, o client.Object) []reconcile.Request {
	envs := []string{o.GetName()}
	var downstream batonv1alpha1.EnvironmentList
	if err := r.List(ctx, &downstream, client.InNamespace(o.GetNamespace()), client.MatchingFields{environmentUpstreamIndex: o.GetName()}); err == nil {
		for _, e := range downstream.Items {
			envs = append(envs, e.Name)
		}
	}
	var reqs []reconcile.Request
	for _, env := range envs {
		var promos batonv1alpha1.PromotionList
		if err := r.List(ctx, &promos, client.InNamespace(o.GetNamespace()), client.MatchingFields{promotionEnvironmentIndex: env}); err != nil {
			continue
		}
		for _, p := range promos.Items {
			if !p.Status.Phase.IsTerminal() || controllerutil.ContainsFinalizer(&p, PromotionFinalizer) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
			}
		}
	}
	return reqs
}

// Reconcile moves one Promotion at most one phase forward.
func (r *PromotionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	promo := &batonv1alpha1.Promotion{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, promo); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("environment", promo.Spec.Environment))

	if !promo.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, promo)
	}
	if promo.Status.Phase.IsTerminal() {
		return ctrl.Result{}, nil
	}
	if err := r.Admission.Verify(ctx, promo); err != nil {
		if !errors.Is(err, identity.ErrMarkerMissing) && !errors.Is(err, identity.ErrMarkerMismatch) {
			return ctrl.Result{}, fmt.Errorf("verify the admission marker: %w", err)
		}
		return ctrl.Result{}, r.notAdmitted(ctx, promo, err)
	}
	if !controllerutil.ContainsFinalizer(promo, PromotionFinalizer) {
		base := promo.DeepCopy()
		controllerutil.AddFinalizer(promo, PromotionFinalizer)
		return ctrl.Result{}, r.Patch(ctx, promo, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	}

	base := promo.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(base.Status, promo.Status) {
			return
		}
		if retErr == nil {
			promo.Status.ObservedGeneration = promo.Generation
		}
		if err := r.Status().Patch(ctx, promo, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("patch Promotion status: %w", err))
		}
	}()
	return r.step(ctx, promo)
}

func (r *PromotionReconciler) step(ctx context.Context, promo *batonv1alpha1.Promotion) (ctrl.Result, error) {
	env := &batonv1alpha1.Environment{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: promo.Namespace, Name: promo.Spec.Environment}, env); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("read Environment %s: %w", promo.Spec.Environment, err)
		}
		if promo.Status.Phase == batonv1alpha1.PromotionPromoting || promo.Status.Phase == batonv1alpha1.PromotionRollingOut {
			r.finish(promo, batonv1alpha1.PromotionFailed, batonv1alpha1.EnvironmentNotFoundReason,
				fmt.Sprintf("Environment %q was deleted while the Promotion was %s", promo.Spec.Environment, promo.Status.Phase))
			return ctrl.Result{}, nil
		}
		r.stall(promo, batonv1alpha1.EnvironmentNotFoundReason,
			fmt.Sprintf("spec.environment: Environment %q does not exist in namespace %s; create it, or delete this Promotion", promo.Spec.Environment, promo.Namespace))
		return ctrl.Result{}, nil
	}

	holdsLease := env.Status.ActivePromotion != nil && env.Status.ActivePromotion.UID == string(promo.UID)
	if i := promote.FindRevision(env, string(promo.UID)); i >= 0 && env.Status.History[i].Result != "" && !holdsLease {
		// A previous reconcile closed the history entry and released the
		// lease, then stopped before it wrote this Promotion's status.
		r.adoptResult(promo, env.Status.History[i])
		return ctrl.Result{}, nil
	}

	switch promo.Status.Phase {
	case "", batonv1alpha1.PromotionPending, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.PromotionQueued:
		if holdsLease {
			// The lease was taken, but the intent was not written yet.
			return ctrl.Result{}, r.writeIntent(ctx, promo, env)
		}
		if promo.Spec.Cancel {
			r.finish(promo, batonv1alpha1.PromotionCanceled, batonv1alpha1.CanceledReason, fmt.Sprintf("Canceled by %s before it changed the target", canceledBy(promo)))
			return ctrl.Result{}, nil
		}
		if promo.Status.Image == "" {
			return r.resolve(ctx, promo, env)
		}
		if promo.Status.Phase != batonv1alpha1.PromotionQueued {
			return r.gate(promo, env)
		}
		return r.queue(ctx, promo, env)
	case batonv1alpha1.PromotionPromoting:
		r.refuseCancel(promo)
		if !holdsLease {
			return ctrl.Result{}, fmt.Errorf("promotion is Promoting but Environment %s is leased to %v", env.Name, env.Status.ActivePromotion)
		}
		return r.deliver(ctx, promo, env)
	case batonv1alpha1.PromotionRollingOut:
		r.refuseCancel(promo)
		return r.watchRollout(ctx, promo, env)
	}
	return ctrl.Result{}, nil
}

// resolve freezes the image the Promotion moves to.
func (r *PromotionReconciler) resolve(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	var upstream *batonv1alpha1.Environment
	if env.Spec.Upstream != "" && promo.Spec.Rollback == nil {
		upstream = &batonv1alpha1.Environment{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: promo.Namespace, Name: env.Spec.Upstream}, upstream); err != nil {
			if !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("read upstream Environment %s: %w", env.Spec.Upstream, err)
			}
			r.setPhase(promo, batonv1alpha1.PromotionPending, batonv1alpha1.UpstreamNotFoundReason,
				fmt.Sprintf("Environment %q names upstream %q, which does not exist; create it or fix spec.upstream of %q", env.Name, env.Spec.Upstream, env.Name))
			return ctrl.Result{}, nil
		}
	}
	res := promote.Resolve(promo, env, upstream)
	switch res.Verdict {
	case promote.Wait:
		r.setPhase(promo, batonv1alpha1.PromotionPending, res.Reason, res.Message)
		return ctrl.Result{}, nil
	case promote.Invalid:
		r.finish(promo, batonv1alpha1.PromotionFailed, res.Reason, res.Message)
		return ctrl.Result{}, nil
	}
	promo.Status.Image = res.Image
	promo.Status.Digest = res.Digest
	if env.Status.Current != nil {
		promo.Status.PreviousImage = env.Status.Current.Image
	}
	r.setPhase(promo, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason,
		fmt.Sprintf("Resolved %s; checking approvals", res.Image))
	return ctrl.Result{}, nil
}

// notAdmitted records that the Promotion did not come through the admission
// webhook (or was changed behind its back) and will never be acted on.
func (r *PromotionReconciler) notAdmitted(ctx context.Context, promo *batonv1alpha1.Promotion, cause error) error {
	base := promo.DeepCopy()
	r.stall(promo, batonv1alpha1.NotAdmittedReason, fmt.Sprintf(
		"%v. Baton will never act on this Promotion: delete it and create it again with the admission webhook installed", cause))
	if equality.Semantic.DeepEqual(base.Status, promo.Status) {
		return nil
	}
	return r.Status().Patch(ctx, promo, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// gate holds the Promotion until it has the approvals its Environment needs.
func (r *PromotionReconciler) gate(promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	ok, _, _, message := identity.ApprovalState(env, promo)
	if !ok {
		r.setPhase(promo, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason, message)
		return ctrl.Result{}, nil
	}
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ApprovedCondition,
		Status: metav1.ConditionTrue, Reason: batonv1alpha1.ApprovedReason, Message: message, ObservedGeneration: promo.Generation})
	promo.Status.QueuedAt = r.now()
	r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason, "Waiting for the Environment's lease")
	return ctrl.Result{}, nil
}

// queue takes the Environment's lease when this Promotion is first in line.
func (r *PromotionReconciler) queue(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	if env.Spec.Suspend && !promote.IsRollback(promo) {
		r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.SuspendedReason,
			fmt.Sprintf("Environment %q is suspended: no new Promotion starts until spec.suspend is false", env.Name))
		return ctrl.Result{}, nil
	}
	if holder := env.Status.ActivePromotion; holder != nil {
		r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
			fmt.Sprintf("Waiting for Promotion %s, which holds the lease of Environment %q", holder.Name, env.Name))
		return ctrl.Result{}, nil
	}
	var promos batonv1alpha1.PromotionList
	if err := r.List(ctx, &promos, client.InNamespace(promo.Namespace), client.MatchingFields{promotionEnvironmentIndex: env.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list the queue of Environment %s: %w", env.Name, err)
	}
	// The cache may not have seen this Promotion's own Queued phase yet.
	promos.Items = slices.DeleteFunc(promos.Items, func(p batonv1alpha1.Promotion) bool { return p.UID == promo.UID })
	promos.Items = append(promos.Items, *promo)
	if head := promote.Head(promos.Items); head == nil || head.UID != promo.UID {
		r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
			fmt.Sprintf("Waiting behind Promotion %s in the queue of Environment %q", head.Name, env.Name))
		return ctrl.Result{}, nil
	}

	revision := promote.NextRevision(env)
	err := patchEnvironmentStatus(ctx, r.Client, env, func(env *batonv1alpha1.Environment) {
		env.Status.ActivePromotion = &batonv1alpha1.ObjectRef{Name: promo.Name, UID: string(promo.UID)}
		promote.AppendRevision(env, batonv1alpha1.Revision{
			Revision:    revision,
			Image:       promo.Status.Image,
			Digest:      promo.Status.Digest,
			Promotion:   &batonv1alpha1.ObjectRef{Name: promo.Name, UID: string(promo.UID)},
			RequestedBy: requestedBy(promo),
			ApprovedBy:  approvedBy(promo),
			Rollback:    promote.IsRollback(promo),
			StartedAt:   r.now(),
		})
	})
	if apierrors.IsConflict(err) {
		// Someone else wrote the Environment first: maybe another Promotion
		// took the lease. Decide again on fresh data.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("take the lease of Environment %s: %w", env.Name, err)
	}
	return ctrl.Result{}, r.writeIntent(ctx, promo, env)
}

// writeIntent records, before anything changes, that this Promotion holds the
// lease and which revision it is about to make.
func (r *PromotionReconciler) writeIntent(_ context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) error {
	i := promote.FindRevision(env, string(promo.UID))
	if i < 0 {
		return fmt.Errorf("environment %s is leased to this Promotion but has no history entry for it", env.Name)
	}
	promo.Status.Revision = env.Status.History[i].Revision
	promo.Status.StartedAt = r.now()
	r.setPhase(promo, batonv1alpha1.PromotionPromoting, batonv1alpha1.ProgressingReason,
		fmt.Sprintf("Holds the lease of Environment %q; delivering %s as revision %d", env.Name, promo.Status.Image, promo.Status.Revision))
	r.event(promo, corev1.EventTypeNormal, batonv1alpha1.ProgressingReason, "Promoting",
		"Promoting %s to %s as revision %d, requested by %s, approved by %s", env.Name, promo.Status.Image, promo.Status.Revision, requestedBy(promo), orNobody(approvedBy(promo)))
	return nil
}

// deliver changes the target once: it first checks whether an earlier,
// interrupted reconcile already did.
func (r *PromotionReconciler) deliver(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	d, err := r.Deliverer(env)
	if err != nil {
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, batonv1alpha1.DeliveryFailedReason, err.Error())
	}
	req := delivery.Request{
		Environment: env, Promotion: promo,
		Image:       promote.PinnedRef(promo.Status.Image, promo.Status.Digest, env.Spec.Delivery.PinDigest),
		RequestedBy: requestedBy(promo), ApprovedBy: approvedBy(promo),
	}
	rec, done, err := d.Delivered(ctx, req)
	if err == nil && done && promote.SameImage(promo.Status.PreviousImage, "", promo.Status.Image, promo.Status.Digest) {
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionSucceeded, batonv1alpha1.AlreadyAtImageReason,
			fmt.Sprintf("Environment %q already runs %s; nothing was changed", env.Name, promo.Status.Image))
	}
	if err == nil && !done {
		rec, err = d.Deliver(ctx, req)
	}
	if err != nil {
		if de, ok := delivery.AsError(err); ok {
			return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, de.Reason, de.Message)
		}
		return ctrl.Result{}, fmt.Errorf("deliver %s to Environment %s: %w", req.Image, env.Name, err)
	}
	promo.Status.Commit = rec.Commit
	promo.Status.Patch = rec.Patch
	promo.Status.DeliveredAt = r.now()
	r.setPhase(promo, batonv1alpha1.PromotionRollingOut, batonv1alpha1.RolloutInProgressReason,
		fmt.Sprintf("Delivered %s to Environment %q; watching the rollout", req.Image, env.Name))
	r.event(promo, corev1.EventTypeNormal, batonv1alpha1.RolloutInProgressReason, "Deliver",
		"Delivered %s to %s as revision %d (%s)", req.Image, env.Name, promo.Status.Revision, firstNonEmpty(rec.Commit, rec.Patch))
	return ctrl.Result{RequeueAfter: rolloutTimeout(env)}, nil
}

// watchRollout waits until the Environment reports the new image healthy, or
// the rollout fails or times out.
func (r *PromotionReconciler) watchRollout(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	atImage := env.Status.Current != nil && promote.SameImage(env.Status.Current.Image, env.Status.Current.Digest, promo.Status.Image, promo.Status.Digest)
	ready := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.ReadyCondition)
	switch {
	case atImage && ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == env.Generation:
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason,
			fmt.Sprintf("Environment %q runs %s, complete and available, as revision %d", env.Name, promo.Status.Image, promo.Status.Revision))
	case atImage && ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == batonv1alpha1.RolloutFailedReason:
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, batonv1alpha1.RolloutFailedReason,
			fmt.Sprintf("The rollout of %s in Environment %q failed: %s", promo.Status.Image, env.Name, ready.Message))
	}
	deadline := promo.Status.DeliveredAt.Add(rolloutTimeout(env))
	if now := r.Clock.Now(); !now.Before(deadline) {
		detail := "the workload reported nothing"
		if ready != nil {
			detail = ready.Message
		}
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, batonv1alpha1.RolloutTimeoutReason,
			fmt.Sprintf("The rollout of %s in Environment %q did not complete within spec.rollout.timeout (%s): %s", promo.Status.Image, env.Name, rolloutTimeout(env), detail))
	} else {
		return ctrl.Result{RequeueAfter: deadline.Sub(now)}, nil
	}
}

// closeOut ends a Promotion that holds the lease: it closes its history
// entry and releases the lease in one Environment write, then ends the
// Promotion.
func (r *PromotionReconciler) closeOut(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, phase batonv1alpha1.PromotionPhase, reason, message string) (ctrl.Result, error) {
	result := revisionResult(phase, reason)
	err := patchEnvironmentStatus(ctx, r.Client, env, func(env *batonv1alpha1.Environment) {
		if i := promote.FindRevision(env, string(promo.UID)); i >= 0 {
			h := &env.Status.History[i]
			h.Result, h.Message, h.FinishedAt = result, truncate(message, 1024), r.now()
		}
		if a := env.Status.ActivePromotion; a != nil && a.UID == string(promo.UID) {
			env.Status.ActivePromotion = nil
		}
	})
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("release the lease of Environment %s: %w", env.Name, err)
	}
	r.finish(promo, phase, reason, message)
	return ctrl.Result{}, nil
}

// adoptResult ends the Promotion with the result its history entry already
// holds.
func (r *PromotionReconciler) adoptResult(promo *batonv1alpha1.Promotion, rev batonv1alpha1.Revision) {
	phase, reason := batonv1alpha1.PromotionFailed, batonv1alpha1.DeliveryFailedReason
	switch rev.Result {
	case batonv1alpha1.RevisionSucceeded:
		phase, reason = batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason
	case batonv1alpha1.RevisionAlreadyAtImage:
		phase, reason = batonv1alpha1.PromotionSucceeded, batonv1alpha1.AlreadyAtImageReason
	case batonv1alpha1.RevisionSuperseded:
		phase, reason = batonv1alpha1.PromotionSuperseded, batonv1alpha1.SupersededReason
	}
	promo.Status.Revision = rev.Revision
	r.finish(promo, phase, reason, rev.Message)
}

func revisionResult(phase batonv1alpha1.PromotionPhase, reason string) batonv1alpha1.RevisionResult {
	switch {
	case reason == batonv1alpha1.AlreadyAtImageReason:
		return batonv1alpha1.RevisionAlreadyAtImage
	case phase == batonv1alpha1.PromotionSucceeded:
		return batonv1alpha1.RevisionSucceeded
	case phase == batonv1alpha1.PromotionSuperseded:
		return batonv1alpha1.RevisionSuperseded
	}
	return batonv1alpha1.RevisionFailed
}

// reconcileDelete closes the history entry of a Promotion deleted in flight,
// releases its lease, and lets it go.
func (r *PromotionReconciler) reconcileDelete(ctx context.Context, promo *batonv1alpha1.Promotion) error {
	if !controllerutil.ContainsFinalizer(promo, PromotionFinalizer) {
		return nil
	}
	env := &batonv1alpha1.Environment{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: promo.Namespace, Name: promo.Spec.Environment}, env)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read Environment %s: %w", promo.Spec.Environment, err)
	}
	if err == nil {
		i := promote.FindRevision(env, string(promo.UID))
		holds := env.Status.ActivePromotion != nil && env.Status.ActivePromotion.UID == string(promo.UID)
		if holds || (i >= 0 && env.Status.History[i].Result == "") {
			err := patchEnvironmentStatus(ctx, r.Client, env, func(env *batonv1alpha1.Environment) {
				if i >= 0 && env.Status.History[i].Result == "" {
					h := &env.Status.History[i]
					h.Result, h.FinishedAt = batonv1alpha1.RevisionFailed, r.now()
					h.Message = fmt.Sprintf("Promotion %s was deleted while %s; the target was left as it was", promo.Name, promo.Status.Phase)
				}
				if holds {
					env.Status.ActivePromotion = nil
				}
			})
			if err != nil {
				return fmt.Errorf("close the history entry of deleted Promotion %s: %w", promo.Name, err)
			}
		}
	}
	base := promo.DeepCopy()
	controllerutil.RemoveFinalizer(promo, PromotionFinalizer)
	return r.Patch(ctx, promo, client.MergeFrom(base))
}

func (r *PromotionReconciler) refuseCancel(promo *batonv1alpha1.Promotion) {
	if !promo.Spec.Cancel {
		return
	}
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReconcilingCondition,
		Status: metav1.ConditionTrue, Reason: batonv1alpha1.CanceledReason, ObservedGeneration: promo.Generation,
		Message: "spec.cancel was refused: the target has already been changed. To undo it, create a rollback Promotion (spec.rollback: {})"})
}

// setPhase moves the Promotion to a non-terminal phase and says why.
func (r *PromotionReconciler) setPhase(promo *batonv1alpha1.Promotion, phase batonv1alpha1.PromotionPhase, reason, message string) {
	r.transition(promo, phase, reason, message)
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReconcilingCondition,
		Status: metav1.ConditionTrue, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	apimeta.RemoveStatusCondition(&promo.Status.Conditions, batonv1alpha1.StalledCondition)
}

// stall keeps the Promotion where it is until a person fixes something.
func (r *PromotionReconciler) stall(promo *batonv1alpha1.Promotion, reason, message string) {
	r.transition(promo, firstPhase(promo.Status.Phase), reason, message)
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.StalledCondition,
		Status: metav1.ConditionTrue, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	apimeta.RemoveStatusCondition(&promo.Status.Conditions, batonv1alpha1.ReconcilingCondition)
}

// finish moves the Promotion to a terminal phase.
func (r *PromotionReconciler) finish(promo *batonv1alpha1.Promotion, phase batonv1alpha1.PromotionPhase, reason, message string) {
	r.transition(promo, phase, reason, message)
	promo.Status.CompletedAt = r.now()
	ready := metav1.ConditionFalse
	if phase == batonv1alpha1.PromotionSucceeded {
		ready = metav1.ConditionTrue
	}
	apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition,
		Status: ready, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	apimeta.RemoveStatusCondition(&promo.Status.Conditions, batonv1alpha1.ReconcilingCondition)
	if phase == batonv1alpha1.PromotionFailed {
		apimeta.SetStatusCondition(&promo.Status.Conditions, metav1.Condition{Type: batonv1alpha1.StalledCondition,
			Status: metav1.ConditionTrue, Reason: reason, Message: message, ObservedGeneration: promo.Generation})
	}
	metrics.PromotionsTotal.WithLabelValues(promo.Namespace, promo.Spec.Environment, string(phase)).Inc()
	eventType := corev1.EventTypeNormal
	if phase != batonv1alpha1.PromotionSucceeded {
		eventType = corev1.EventTypeWarning
	}
	r.event(promo, eventType, reason, string(phase), "%s: %s (image %s, revision %d, requested by %s, approved by %s)",
		phase, message, orNobody([]string{promo.Status.Image}), promo.Status.Revision, requestedBy(promo), orNobody(approvedBy(promo)))
}

// transition records the phase change and how long the old phase lasted.
func (r *PromotionReconciler) transition(promo *batonv1alpha1.Promotion, phase batonv1alpha1.PromotionPhase, reason, message string) {
	if promo.Status.Phase == phase {
		return
	}
	now := r.now()
	since := promo.CreationTimestamp
	if promo.Status.PhaseSince != nil {
		since = *promo.Status.PhaseSince
	}
	old := promo.Status.Phase
	if old == "" {
		old = batonv1alpha1.PromotionPending
	}
	metrics.PhaseDuration.WithLabelValues(promo.Namespace, promo.Spec.Environment, string(old)).Observe(now.Sub(since.Time).Seconds())
	promo.Status.Phase = phase
	promo.Status.PhaseSince = now
	if !phase.IsTerminal() {
		r.event(promo, corev1.EventTypeNormal, reason, string(phase), "%s: %s", phase, message)
	}
}

// event emits an Event and logs it, with the same reason.
func (r *PromotionReconciler) event(promo *batonv1alpha1.Promotion, eventType, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(promo, nil, eventType, reason, action, format, args...)
	}
	log.Log.WithName("promotion").Info(fmt.Sprintf(format, args...), "promotion", klog.KObj(promo), "reason", reason, "type", eventType)
}

func (r *PromotionReconciler) now() *metav1.Time {
	t := metav1.NewTime(r.Clock.Now())
	return &t
}

// patchEnvironmentStatus writes Environment status with optimistic
// concurrency: a Conflict means someone else wrote first.
func patchEnvironmentStatus(ctx context.Context, c client.Client, env *batonv1alpha1.Environment, mutate func(*batonv1alpha1.Environment)) error {
	base := env.DeepCopy()
	mutate(env)
	return c.Status().Patch(ctx, env, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

func rolloutTimeout(env *batonv1alpha1.Environment) time.Duration {
	if t := env.Spec.Rollout.Timeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return 10 * time.Minute
}

func firstPhase(p batonv1alpha1.PromotionPhase) batonv1alpha1.PromotionPhase {
	if p == "" {
		return batonv1alpha1.PromotionPending
	}
	return p
}

func requestedBy(promo *batonv1alpha1.Promotion) string {
	if promo.Spec.RequestedBy == nil {
		return "unknown"
	}
	return promo.Spec.RequestedBy.Username
}

func canceledBy(promo *batonv1alpha1.Promotion) string {
	if promo.Spec.CanceledBy == nil {
		return "unknown"
	}
	return promo.Spec.CanceledBy.Username
}

// approvedBy lists the distinct users who approved the resolved image.
func approvedBy(promo *batonv1alpha1.Promotion) []string {
	var users []string
	for _, a := range promo.Spec.Approvals {
		if a.Image == promo.Status.Image && !slices.Contains(users, a.Username) {
			users = append(users, a.Username)
		}
	}
	return users
}

func orNobody(s []string) string {
	if len(s) == 0 || (len(s) == 1 && s[0] == "") {
		return "nobody"
	}
	return strings.Join(s, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// Deliverers picks the delivery an Environment asks for.
func Deliverers(direct *delivery.Direct) func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
	return func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
		if env.Spec.Delivery.Direct != nil {
			return direct, nil
		}
		return nil, delivery.Stalled(batonv1alpha1.DeliveryFailedReason,
			"Environment %q asks for delivery.git, which this version of Baton does not implement yet; use delivery.direct", env.Name)
	}
}
