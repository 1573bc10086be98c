package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/statuspatch"
)

// resume acts on spec.resume, set on a finished Promotion (which the
// admission webhook then took out of the finished label, so that this
// reconciler sees it again): it lifts the Environment's pause if the pause
// names this Promotion, and says what it did in an Event and an audit line.
// The caller lets the Promotion go again afterwards. A Promotion whose
// marker does not verify is ignored: its spec.resumedBy is not the
// webhook's.
func (r *PromotionReconciler) resume(ctx context.Context, promo *batonv1alpha1.Promotion) error {
	if !promo.Spec.Resume || promo.Spec.ResumedBy == nil {
		return nil
	}
	if err := r.Admission.Verify(ctx, promo); err != nil {
		if errors.Is(err, identity.ErrNotAdmitted) {
			ctrl.LoggerFrom(ctx).Info("ignored spec.resume on a Promotion that Baton's admission webhook did not admit", "promotion", klog.KObj(promo), "error", err.Error())
			return nil
		}
		return fmt.Errorf("verify the admission marker: %w", err)
	}
	env, err := r.getEnvironment(ctx, promo.Namespace, promo.Spec.Environment)
	if err != nil || env == nil {
		return err
	}
	d := promote.DecideResume(env, promo)
	if d.Mark {
		// Recorded first: a retry after a failed write below neither
		// repeats nor contradicts what this one says.
		marked := promo.DeepCopy()
		marked.Status.ObservedGeneration = promo.Generation
		for i := range marked.Status.Conditions {
			marked.Status.Conditions[i].ObservedGeneration = promo.Generation
		}
		if _, err := statuspatch.New(r.Client, promo).Patch(ctx, marked); err != nil {
			return fmt.Errorf("record the resume on Promotion %s: %w", promo.Name, err)
		}
	}
	if d.Clear {
		written := env.DeepCopy()
		written.Status.AutoPromotePause = nil
		if _, err := statuspatch.New(r.Client, env).Patch(ctx, written); err != nil {
			return fmt.Errorf("lift the pause of Environment %s: %w", env.Name, err)
		}
	}
	if d.Reason == "" {
		return nil
	}
	eventType := corev1.EventTypeNormal
	if !d.Clear {
		eventType = corev1.EventTypeWarning
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(env, promo, eventType, d.Reason, "Resume", "%s", d.Message)
		r.Recorder.Eventf(promo, nil, eventType, d.Reason, "Resume", "%s", d.Message)
	}
	ctrl.LoggerFrom(ctx).WithName("audit").Info("autoPromote resume",
		"audit", true,
		"environment", klog.KObj(env),
		"promotion", klog.KObj(promo),
		"uid", string(promo.UID),
		"resumedBy", promo.Spec.ResumedBy.Username,
		"resumed", d.Clear,
		"reason", d.Reason,
		"message", d.Message,
	)
	return nil
}
