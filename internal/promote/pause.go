package promote

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// IsTrigger reports whether autoPromote or spec.source created the
// Promotion, as opposed to a person: the Promotions spec.pauseOnFailure
// holds. A rollback is never one. The annotations say it: only the manager
// may set them (identity.CheckMetadata), and the requester is not proof,
// since behind the webhook it is the manager's own user, not ControllerUser.
func IsTrigger(p *batonv1alpha1.Promotion) bool {
	if IsRollback(p) {
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

// Resume is what a resume request (spec.resume) on a finished Promotion
// does to its Environment.
type Resume struct {
	// Mark is true when the engine has yet to record, on the Promotion,
	// that it handled this resume (status.observedGeneration catches up
	// with the generation spec.resume made). It writes that first, so that
	// a retry after a failed write neither repeats nor contradicts itself.
	Mark bool
	// Clear is true when the request lifts env's pause: it names this
	// very Promotion.
	Clear bool
	// Reason is AutoPromoteResumedReason or ResumeNotPausedReason; "" when
	// there is nothing more to say (a retry of a resume already announced).
	Reason string
	// Message says who resumed, and what happens now.
	Message string
}

// DecideResume decides a resume request on promo, which the admission
// webhook stamped (spec.resumedBy): it lifts env's pause only if the pause
// names promo's UID. A resume of an older or a newer failure, or of an
// Environment that is not paused, changes nothing and says so, once.
func DecideResume(env *batonv1alpha1.Environment, promo *batonv1alpha1.Promotion) Resume {
	by := "someone"
	if promo.Spec.ResumedBy != nil {
		by = promo.Spec.ResumedBy.Username
	}
	handled := promo.Status.ObservedGeneration >= promo.Generation
	pause := env.Status.AutoPromotePause
	if pause != nil && pause.Promotion.UID == string(promo.UID) {
		return Resume{Mark: !handled, Clear: true, Reason: batonv1alpha1.AutoPromoteResumedReason, Message: fmt.Sprintf(
			"%s resumed autoPromote and spec.source deploys in Environment %s, paused since %s by Promotion %s; queued trigger Promotions start in their turn",
			by, env.Name, pause.Since.UTC().Format("2006-01-02T15:04:05Z"), promo.Name)}
	}
	if handled {
		// Said already; or this very resume lifted the pause, and a later
		// write failed.
		return Resume{}
	}
	if pause == nil {
		return Resume{Mark: true, Reason: batonv1alpha1.ResumeNotPausedReason, Message: fmt.Sprintf(
			"%s set spec.resume on Promotion %s, but autoPromote in Environment %s is not paused: nothing changed", by, promo.Name, env.Name)}
	}
	return Resume{Mark: true, Reason: batonv1alpha1.ResumeNotPausedReason, Message: fmt.Sprintf(
		"%s set spec.resume on Promotion %s, but the pause in Environment %s is Promotion %s's: nothing changed; resume that one (kubectl promote resume %s)",
		by, promo.Name, env.Name, pause.Promotion.Name, env.Name)}
}
