package health

import (
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// An Environment's Ready condition is derived here and in setReady, and
// nowhere else: setReady from the rollout, Stall from a problem a person
// must fix.

// Stall records a problem a person must fix: Stalled and Ready say why, and
// an Event announces it when the reason or message is new.
func Stall(status *batonv1alpha1.EnvironmentStatus, generation int64, s *outcome.Stalled) []Event {
	if s == nil {
		return nil
	}
	prev := apimeta.FindStatusCondition(status.Conditions, batonv1alpha1.StalledCondition)
	isNew := prev == nil || prev.Status != metav1.ConditionTrue || prev.Reason != s.Reason || prev.Message != s.Message
	SetCondition(status, generation, batonv1alpha1.StalledCondition, metav1.ConditionTrue, s.Reason, s.Message)
	SetCondition(status, generation, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, s.Reason, s.Message)
	apimeta.RemoveStatusCondition(&status.Conditions, batonv1alpha1.ReconcilingCondition)
	if !isNew {
		return nil
	}
	return []Event{{Type: corev1.EventTypeWarning, Reason: s.Reason, Message: s.Message}}
}

// SetCondition sets one of the Environment's conditions, observed at
// generation.
func SetCondition(status *batonv1alpha1.EnvironmentStatus, generation int64, conditionType string, s metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: conditionType, Status: s, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}
