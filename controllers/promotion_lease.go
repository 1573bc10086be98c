package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/promote"
)

// ControllerUser is the requester recorded on the Promotions Baton creates
// itself (automatic rollbacks and autoPromote) where no admission webhook
// stamps the manager's own identity over it.
const ControllerUser = "system:baton-controller"

// queue takes the Environment's lease when this Promotion is first in line.
// A rollback first in line also preempts a Promotion that is RollingOut.
func (r *PromotionReconciler) queue(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (ctrl.Result, error) {
	rollback := promote.IsRollback(promo)
	if env.Spec.Suspend && !rollback {
		r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.SuspendedReason,
			fmt.Sprintf("Environment %q is suspended: no new Promotion starts until spec.suspend is false (rollbacks still run)", env.Name))
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

	var preempted *batonv1alpha1.Promotion
	if holder := env.Status.ActivePromotion; holder != nil {
		if rollback {
			p, err := r.preemptible(ctx, promo.Namespace, holder)
			if err != nil {
				return ctrl.Result{}, err
			}
			preempted = p
		}
		if preempted == nil {
			r.setPhase(promo, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
				fmt.Sprintf("Waiting for Promotion %s, which holds the lease of Environment %q", holder.Name, env.Name))
			return ctrl.Result{}, nil
		}
	}

	err := patchEnvironmentStatus(ctx, r.Client, env, func(env *batonv1alpha1.Environment) {
		if preempted != nil {
			r.closeRevision(env, preempted, batonv1alpha1.RevisionSuperseded,
				fmt.Sprintf("Superseded by rollback Promotion %s", promo.Name))
		}
		r.grantLease(env, promo, requestedBy(promo), approvedBy(promo))
	})
	if apierrors.IsConflict(err) {
		// Someone else wrote the Environment first: maybe another Promotion
		// took the lease. Decide again on fresh data.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("take the lease of Environment %s: %w", env.Name, err)
	}
	if preempted != nil {
		r.event(promo, corev1.EventTypeWarning, batonv1alpha1.SupersededReason, "Preempt",
			"Rollback %s preempted Promotion %s, which was rolling out %s", promo.Name, preempted.Name, preempted.Status.Image)
	}
	return ctrl.Result{}, r.writeIntent(ctx, promo, env)
}

// preemptible returns the lease holder when a rollback may take the lease
// from it: a forward Promotion that is RollingOut. A Promotion still
// Promoting is changing the target right now; the rollback waits for it.
func (r *PromotionReconciler) preemptible(ctx context.Context, namespace string, holder *batonv1alpha1.ObjectRef) (*batonv1alpha1.Promotion, error) {
	p := &batonv1alpha1.Promotion{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: holder.Name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read lease holder %s: %w", holder.Name, err)
	}
	if string(p.UID) != holder.UID || promote.IsRollback(p) || p.Status.Phase != batonv1alpha1.PromotionRollingOut {
		return nil, nil
	}
	return p, nil
}

// grantLease gives the Environment's lease to promo and opens its history
// entry. A rollback rejects the image it moves away from; a deliberate
// re-ship of a rejected image clears the rejection.
func (r *PromotionReconciler) grantLease(env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion, requester string, approvers []string) {
	ref := &batonv1alpha1.ObjectRef{Name: promo.Name, UID: string(promo.UID)}
	env.Status.ActivePromotion = ref
	promote.AppendRevision(env, batonv1alpha1.Revision{
		Revision:    promote.NextRevision(env),
		Image:       promo.Status.Image,
		Digest:      promo.Status.Digest,
		Promotion:   ref,
		RequestedBy: requester,
		ApprovedBy:  approvers,
		Rollback:    promote.IsRollback(promo),
		StartedAt:   r.now(),
	})
	current := env.Status.Current
	switch {
	case promote.IsRollback(promo) && current != nil && !promote.SameImage(current.Image, current.Digest, promo.Status.Image, promo.Status.Digest):
		promote.Reject(env, batonv1alpha1.RejectedImage{
			Image: current.Image, Digest: current.Digest, RejectedAt: metav1.NewTime(r.Clock.Now()), Promotion: promo.Name,
		})
	case !promote.IsRollback(promo):
		promote.Unreject(env, promo.Status.Image, promo.Status.Digest)
	}
}

// closeRevision sets the result of the history entry promo opened and takes
// the lease back from it.
func (r *PromotionReconciler) closeRevision(env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion, result batonv1alpha1.RevisionResult, message string) {
	if i := promote.FindRevision(env, string(promo.UID)); i >= 0 {
		h := &env.Status.History[i]
		h.Result, h.Message, h.FinishedAt = result, truncate(message, 1024), r.now()
	}
	if a := env.Status.ActivePromotion; a != nil && a.UID == string(promo.UID) {
		env.Status.ActivePromotion = nil
	}
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
	// What the Environment runs as this Promotion starts, recorded before
	// anything changes: a resumed delivery compares against it to tell
	// AlreadyAtImage from its own earlier patch.
	promo.Status.PreviousImage = ""
	if cur := env.Status.Current; cur != nil {
		promo.Status.PreviousImage = cur.Image
	}
	r.setPhase(promo, batonv1alpha1.PromotionPromoting, batonv1alpha1.ProgressingReason,
		fmt.Sprintf("Holds the lease of Environment %q; delivering %s as revision %d", env.Name, promo.Status.Image, promo.Status.Revision))
	r.event(promo, corev1.EventTypeNormal, batonv1alpha1.ProgressingReason, "Promoting",
		"Promoting %s to %s as revision %d, requested by %s, approved by %s", env.Name, promo.Status.Image, promo.Status.Revision, requestedBy(promo), orNobody(approvedBy(promo)))
	return nil
}

// closeOut ends a Promotion that holds the lease: it closes its history
// entry and releases the lease in one Environment write, then ends the
// Promotion. A forward Promotion whose rollout failed, in an Environment with
// autoRollback, hands the lease to its rollback in that same write.
func (r *PromotionReconciler) closeOut(ctx context.Context, promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, phase batonv1alpha1.PromotionPhase, reason, message string) (ctrl.Result, error) {
	var rollback *batonv1alpha1.Promotion
	if wantsAutoRollback(promo, env, phase) {
		rb, err := r.autoRollback(ctx, promo, env, reason, message)
		if err != nil {
			return ctrl.Result{}, err
		}
		rollback = rb
		if rb != nil {
			message += fmt.Sprintf(". Rolling back to revision %d with Promotion %s", rb.Spec.Rollback.ToRevision, rb.Name)
		} else {
			message += ". autoRollback found no earlier Succeeded or Adopted revision to return to"
		}
	}
	err := patchEnvironmentStatus(ctx, r.Client, env, func(env *batonv1alpha1.Environment) {
		r.closeRevision(env, promo, revisionResult(phase, reason), message)
		if rollback != nil {
			r.grantLease(env, rollback, requestedBy(rollback), nil)
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

// wantsAutoRollback: a forward Promotion whose rollout failed, in an
// Environment that asks for it. A failed rollback never rolls back again.
func wantsAutoRollback(promo *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, phase batonv1alpha1.PromotionPhase) bool {
	return env.Spec.Rollout.AutoRollback && phase == batonv1alpha1.PromotionFailed &&
		promo.Status.Phase == batonv1alpha1.PromotionRollingOut && !promote.IsRollback(promo)
}

// autoRollback creates (or, after a crash, finds) the rollback Promotion for
// a failed one, resolved to the previous successful revision. It returns nil
// when there is no revision to return to.
func (r *PromotionReconciler) autoRollback(ctx context.Context, failed *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, reason, message string) (*batonv1alpha1.Promotion, error) {
	rb := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: failed.Namespace, Name: truncate(failed.Name+"-rollback", 253)},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: env.Name,
			Rollback:    &batonv1alpha1.RollbackSpec{},
			Reason:      truncate(fmt.Sprintf("Automatic rollback: Promotion %s failed (%s): %s", failed.Name, reason, message), 1024),
			RequestedBy: &batonv1alpha1.UserInfo{Username: ControllerUser},
		},
	}
	res := promote.Resolve(rb, env, nil)
	if res.Verdict != promote.Resolved {
		return nil, nil
	}
	rb.Spec.Rollback.ToRevision = res.Revision
	if err := r.Admission.Sign(ctx, rb); err != nil {
		return nil, fmt.Errorf("sign the automatic rollback: %w", err)
	}
	err := r.Create(ctx, rb)
	if apierrors.IsAlreadyExists(err) {
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(rb), rb)
	}
	if err != nil {
		return nil, fmt.Errorf("create the automatic rollback %s: %w", rb.Name, err)
	}
	// The rollback takes the lease in the same write that releases it, before
	// it was ever reconciled; it resolves its image when it starts.
	rb.Status.Image, rb.Status.Digest = res.Image, res.Digest
	return rb, nil
}
