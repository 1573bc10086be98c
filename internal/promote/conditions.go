package promote

import (
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// A Promotion's Ready, Reconciling and Stalled conditions are derived here,
// and only here, from the kind of step it took: setPhase (it goes on),
// stall (a person must act) or finish (it ended).

// setPhase moves the Promotion to a non-terminal phase and says why.
func (x *decider) setPhase(phase batonv1alpha1.PromotionPhase, reason, message string) {
	x.transition(phase, reason, message)
	x.setReady(metav1.ConditionFalse, reason, message)
	x.setCondition(batonv1alpha1.ReconcilingCondition, metav1.ConditionTrue, reason, message)
	apimeta.RemoveStatusCondition(&x.p.Status.Conditions, batonv1alpha1.StalledCondition)
}

// stall keeps the Promotion where it is until a person fixes something.
func (x *decider) stall(reason, message string) {
	x.transition(firstPhase(x.p.Status.Phase), reason, message)
	x.setReady(metav1.ConditionFalse, reason, message)
	x.setCondition(batonv1alpha1.StalledCondition, metav1.ConditionTrue, reason, message)
	apimeta.RemoveStatusCondition(&x.p.Status.Conditions, batonv1alpha1.ReconcilingCondition)
}

// finish moves the Promotion to a terminal phase: it is counted and
// announced once, after the write.
func (x *decider) finish(phase batonv1alpha1.PromotionPhase, reason, message string) {
	p := x.p
	x.transition(phase, reason, message)
	p.Status.CompletedAt = x.now()
	ready := metav1.ConditionFalse
	if phase == batonv1alpha1.PromotionSucceeded {
		ready = metav1.ConditionTrue
	}
	x.setReady(ready, reason, message)
	apimeta.RemoveStatusCondition(&p.Status.Conditions, batonv1alpha1.ReconcilingCondition)
	if phase == batonv1alpha1.PromotionFailed {
		x.setCondition(batonv1alpha1.StalledCondition, metav1.ConditionTrue, reason, message)
	}
	x.d.Finished = phase
	eventType := corev1.EventTypeNormal
	if phase != batonv1alpha1.PromotionSucceeded {
		eventType = corev1.EventTypeWarning
	}
	x.event(eventType, reason, string(phase), "%s: %s (image %s, revision %d, requested by %s, approved by %s)",
		phase, message, OrNobody([]string{p.Status.Image}), p.Status.Revision, userOf(p.Spec.RequestedBy), OrNobody(ApprovedBy(p)))
}

// transition records the phase change and how long the old phase lasted.
func (x *decider) transition(phase batonv1alpha1.PromotionPhase, reason, message string) {
	p := x.p
	if p.Status.Phase == phase {
		return
	}
	since := p.CreationTimestamp
	if p.Status.PhaseSince != nil {
		since = *p.Status.PhaseSince
	}
	x.d.Durations = append(x.d.Durations, PhaseDuration{Phase: firstPhase(p.Status.Phase), Seconds: x.in.Now.Sub(since.Time).Seconds()})
	p.Status.Phase = phase
	p.Status.PhaseSince = x.now()
	if !phase.IsTerminal() {
		x.event(corev1.EventTypeNormal, reason, string(phase), "%s: %s", phase, message)
	}
}

func (x *decider) setReady(status metav1.ConditionStatus, reason, message string) {
	x.setCondition(batonv1alpha1.ReadyCondition, status, reason, message)
}

func (x *decider) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&x.p.Status.Conditions, metav1.Condition{Type: conditionType, Status: status,
		Reason: reason, Message: message, ObservedGeneration: x.p.Generation, LastTransitionTime: metav1.NewTime(x.in.Now)})
}

func (x *decider) now() *metav1.Time {
	t := metav1.NewTime(x.in.Now)
	return &t
}

func firstPhase(p batonv1alpha1.PromotionPhase) batonv1alpha1.PromotionPhase {
	if p == "" {
		return batonv1alpha1.PromotionPending
	}
	return p
}
