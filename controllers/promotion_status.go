package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/metrics"
)

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
