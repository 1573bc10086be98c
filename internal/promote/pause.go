package promote

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// IsTrigger reports whether autoPromote or spec.source created the
// Promotion, as opposed to a person: the Promotions spec.pauseOnFailure
// holds. A rollback is never one.
func IsTrigger(p *batonv1alpha1.Promotion) bool {
	if IsRollback(p) || p.Spec.RequestedBy == nil || p.Spec.RequestedBy.Username != ControllerUser {
		return false
	}
	_, auto := p.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation]
	_, src := p.Annotations[batonv1alpha1.SourceCommitAnnotation]
	return auto || src
}

// PausedMessage says why autoPromote and spec.source deploys wait in env,
// and how to go on; "" when they do not.
func PausedMessage(env *batonv1alpha1.Environment) string {
	pause := env.Status.AutoPromotePause
	if pause == nil {
		return ""
	}
	verb := "failed"
	if pause.Result == batonv1alpha1.RevisionRolledBack {
		verb = "was rolled back"
	}
	return fmt.Sprintf("autoPromote and spec.source deploys are paused since %s: Promotion %s %s (spec.pauseOnFailure). "+
		"Manual Promotions and rollbacks still run; resume with kubectl promote resume %s",
		pause.Since.UTC().Format("2006-01-02T15:04:05Z"), pause.Promotion.Name, verb, env.Name)
}

// pausedHold holds a trigger Promotion while env is paused; the trigger is
// kept, and runs in its turn once someone resumes.
func pausedHold(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) *Hold {
	if !IsTrigger(p) || env.Status.AutoPromotePause == nil {
		return nil
	}
	return &Hold{Reason: batonv1alpha1.AutoPromotePausedReason, Message: PausedMessage(env)}
}

// pause records, with spec.pauseOnFailure, that promo failed or was rolled
// back, unless a pause is already in force: the first failure is the one a
// person resumes from.
func (x *decider) pause(promo batonv1alpha1.ObjectRef, result batonv1alpha1.RevisionResult, message string) {
	env := x.env
	if !env.Spec.PauseOnFailure || env.Status.AutoPromotePause != nil {
		return
	}
	env.Status.AutoPromotePause = &batonv1alpha1.AutoPromotePause{
		Since: *x.now(), Promotion: promo, Result: result, Message: batonv1alpha1.RevisionMessage(message),
	}
	x.envChanged = true
	x.event(corev1.EventTypeWarning, batonv1alpha1.AutoPromotePausedReason, "Pause", "%s", PausedMessage(env))
}
