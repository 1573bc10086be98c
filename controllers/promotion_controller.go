package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/gitdelivery"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/promote"
)

// PromotionFinalizer keeps a Promotion that holds its Environment's lease
// until its history entry is closed and the lease released.
const PromotionFinalizer = "promotion.baton.dev/history"

// conflictRetry is how soon a reconcile that lost an optimistic-concurrency
// race on an Environment's status decides again.
const conflictRetry = 200 * time.Millisecond

// promotionEnvironmentIndex maps a Promotion to its spec.environment.
const promotionEnvironmentIndex = "spec.environment"

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
	// Promotion with; the engine never acts on one that does not verify. It
	// also signs the Promotions Baton creates itself.
	Admission Admission
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
	if err := r.List(ctx, &downstream, client.InNamespace(o.GetNamespace()), client.MatchingFields{upstreamIndex: o.GetNamespace() + "/" + o.GetName()}); err == nil {
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
			// The lease was taken, but the intent was not written yet. An
			// automatic rollback is handed the lease before it ever ran:
			// its history entry holds the image it resolved to.
			if i := promote.FindRevision(env, string(promo.UID)); i >= 0 && promo.Status.Image == "" {
				rev := env.Status.History[i]
				promo.Status.Image, promo.Status.Digest = rev.Image, rev.Digest
			}
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
		if w, ok := delivery.AsWaiting(err); ok {
			// Delivered but not complete, such as a commit awaiting a merge:
			// stay Promoting, holding the lease, and look again later.
			promo.Status.Commit = w.Record.Commit
			r.setPhase(promo, batonv1alpha1.PromotionPromoting, w.Reason, w.Message)
			return ctrl.Result{RequeueAfter: w.RequeueAfter}, nil
		}
		if de, ok := delivery.AsError(err); ok {
			return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, de.Reason, de.Message)
		}
		return ctrl.Result{}, fmt.Errorf("deliver %s to Environment %s: %w", req.Image, env.Name, err)
	}
	promo.Status.Commit = rec.Commit
	if g := env.Spec.Delivery.Git; g != nil {
		promo.Status.CommitURL = gitdelivery.CommitURL(g.URL, rec.Commit)
		// Flux applies the commit on its interval anyway: a failed request
		// is only a warning.
		if len(g.RequestReconcile) > 0 {
			if err := gitdelivery.RequestReconcile(ctx, r.Client, g.RequestReconcile, r.Clock.Now()); err != nil {
				r.event(promo, corev1.EventTypeWarning, gitdelivery.ReconcileRequestFailedReason, "RequestReconcile",
					"Pushed %.12s, but could not ask Flux to apply it at once (it will on its next interval): %v", rec.Commit, err)
			}
		}
	}
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
		if g := env.Spec.Delivery.Git; g != nil && promo.Status.Commit != "" && !atImage {
			// Baton's part is done; the GitOps engine never applied it.
			detail = fmt.Sprintf("commit %.12s was pushed to branch %s of %s but never applied: the workload does not run %s (is Argo CD or Flux running and following that branch?)",
				promo.Status.Commit, g.Branch, gitdelivery.RedactURLs(g.URL), promo.Status.Image)
		}
		return r.closeOut(ctx, promo, env, batonv1alpha1.PromotionFailed, batonv1alpha1.RolloutTimeoutReason,
			fmt.Sprintf("The rollout of %s in Environment %q did not complete within spec.rollout.timeout (%s): %s", promo.Status.Image, env.Name, rolloutTimeout(env), detail))
	} else {
		return ctrl.Result{RequeueAfter: deadline.Sub(now)}, nil
	}
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

// patchEnvironmentStatus writes Environment status with optimistic
// concurrency: a Conflict means someone else wrote first.
func patchEnvironmentStatus(ctx context.Context, c client.Client, env *batonv1alpha1.Environment, mutate func(*batonv1alpha1.Environment)) error {
	base := env.DeepCopy()
	mutate(env)
	return c.Status().Patch(ctx, env, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// Deliverers picks the delivery an Environment asks for.
// A nil git refuses delivery.git.
func Deliverers(direct *delivery.Direct, git *gitdelivery.Deliverer) func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
	return func(env *batonv1alpha1.Environment) (delivery.Deliverer, error) {
		if env.Spec.Delivery.Direct != nil {
			return direct, nil
		}
		if env.Spec.Delivery.Git != nil && git != nil {
			return git, nil
		}
		return nil, delivery.Stalled(batonv1alpha1.DeliveryFailedReason,
			"Environment %q asks for delivery.git, which this manager was started without; use delivery.direct", env.Name)
	}
}
