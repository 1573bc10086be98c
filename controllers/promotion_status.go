package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/statuspatch"
)

// write carries out a Decision: the Environment's status first, with
// optimistic concurrency (a Conflict discards the Decision: decide again on
// fresh data), then the Promotion's status, then, only for what was
// written, Events, metrics and audit lines, then the finalizer.
func (r *PromotionReconciler) write(ctx context.Context, in promote.Input, d promote.Decision) (ctrl.Result, error) {
	conflict := ctrl.Result{RequeueAfter: statuspatch.ConflictRetry}
	if d.Environment != nil {
		env := in.Environment.DeepCopy()
		env.Status = *d.Environment
		if _, err := statuspatch.New(r.Client, in.Environment).Patch(ctx, env); err != nil {
			if apierrors.IsConflict(err) {
				return conflict, nil
			}
			return ctrl.Result{}, fmt.Errorf("write the lease and history of Environment %s: %w", env.Name, err)
		}
	}
	promo := in.Promotion.DeepCopy()
	promo.Status = d.Status
	if _, err := statuspatch.New(r.Client, in.Promotion).Patch(ctx, promo); err != nil {
		if apierrors.IsConflict(err) {
			return conflict, nil
		}
		return ctrl.Result{}, err
	}
	// Announced as soon as the status is written, so that a failure to let
	// go below (retried) never loses or repeats an Event or audit line.
	r.emit(ctx, promo, d)
	r.observe(ctx, in, promo, d)
	// The finalizer only keeps an open history entry; a finished Promotion
	// has none (it was closed in the Environment write above), so it lets go
	// at once: deleting it never waits for the manager, and it never comes
	// back to this reconciler.
	if d.RemoveFinalizer || d.Status.Phase.IsTerminal() {
		if err := r.letGo(ctx, promo); err != nil {
			return ctrl.Result{}, err
		}
	}
	if d.Status.Phase.IsTerminal() && in.Environment != nil {
		env := in.Environment
		if d.Environment != nil {
			env = env.DeepCopy()
			env.Status = *d.Environment
		}
		r.prune(ctx, env)
		r.pruneReleaseJobs(ctx, env)
	}
	return ctrl.Result{RequeueAfter: d.RequeueAfter}, d.Err
}

// emit announces a written Decision: each Event is also logged, with the
// same reason; the terminal phase is counted once.
func (r *PromotionReconciler) emit(ctx context.Context, promo *batonv1alpha1.Promotion, d promote.Decision) {
	logger := ctrl.LoggerFrom(ctx).WithName("promotion")
	for _, ev := range d.Events {
		if r.Recorder != nil {
			r.Recorder.Eventf(promo, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
		}
		logger.Info(ev.Message, "promotion", klog.KObj(promo), "reason", ev.Reason, "type", ev.Type)
	}
	for _, pd := range d.Durations {
		metrics.PhaseDuration.WithLabelValues(promo.Namespace, promo.Spec.Environment, string(pd.Phase)).Observe(pd.Seconds)
	}
	if d.Finished != "" {
		metrics.PromotionsTotal.WithLabelValues(promo.Namespace, promo.Spec.Environment, string(d.Finished)).Inc()
	}
}
