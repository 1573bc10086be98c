package health

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/internal/workload"
)

// MaxVerifiedImages bounds status.verifiedImages; the oldest is dropped
// first.
const MaxVerifiedImages = 50

// Observation is what the reconciler saw of the workload at one moment.
type Observation struct {
	// Image is the image of the Environment's container.
	Image string
	// Rollout is the judgement of the workload's rollout.
	Rollout workload.Rollout
	// HolderGone: the Promotion named by status.activePromotion no longer
	// exists (or only as another object under that name, or deleted without
	// Baton's finalizer), so nothing will ever release the lease.
	HolderGone bool
	// Checks is what spec.verification.checks say of the image, once its
	// rollout is complete; nil when the Environment has no checks.
	Checks *verification.Summary
	// Disagreement says which of the Environment's workloads run another
	// image than the rest; "" when they all run Image.
	Disagreement string
	// Digest is the digest every ready Pod of the current revision runs,
	// as the kubelets report it (workload.Running.Known); "" when unknown.
	Digest string
	// DigestsDisagree names which of those Pods run which digest when they
	// run more than one; "" when they agree.
	DigestsDisagree string
}

// digest is the digest of what runs: the Pods' when they report it, else
// the one the reference carries.
func (o Observation) digest() string {
	if o.Digest != "" {
		return o.Digest
	}
	return image.DigestOf(o.Image)
}

// Policy is the part of an Environment's spec the decision needs.
type Policy struct {
	// Generation of the Environment, recorded in each condition.
	Generation int64
	// SoakTime is how long a rollout must stay complete and healthy before its
	// image is verified.
	SoakTime time.Duration
	// HistoryLimit is how many revisions status.history keeps.
	HistoryLimit int
}

// Event is something worth a Kubernetes Event; its reason is a condition
// reason constant.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type string
	// Reason is a condition reason constant.
	Reason string
	// Message is for a person.
	Message string
}

// Decision is what Decide concluded besides the new status.
type Decision struct {
	// RequeueAfter is when the soak time will be reached; zero when nothing
	// is waiting on the clock.
	RequeueAfter time.Duration
	// Events to emit once the new status has been written.
	Events []Event
}

// Decide brings the fields of an Environment's status that the Environment
// reconciler owns up to date with one observation of its workload, at now:
// current, verifiedImages, the Adopted and External history entries, and the
// Ready, Reconciling, Verified and Drifted conditions. It never touches
// activePromotion nor an entry the Promotion engine wrote, except to trim the
// history to the limit.
//
// The start of the healthy streak is the lastTransitionTime of the Verified
// condition while its reason is Soaking (status Unknown: not verified yet,
// not failed either). Any observation that is not complete sets Verified to
// False, so the next healthy observation starts a new streak.
func Decide(status *batonv1alpha1.EnvironmentStatus, obs Observation, policy Policy, now time.Time) Decision {
	var d Decision
	if ev, ok := releaseOrphanedLease(status, obs, now); ok {
		d.Events = append(d.Events, ev)
	}
	previous := status.Current
	// Another spelling of the same digest (pinDigest writes repo@sha256:...
	// for repo:tag@sha256:...) is the same image: no drift, no new soak.
	// Other bytes under the same tag (the Pods report another digest) are
	// another image: the soak time starts again.
	imageChanged := previous != nil && !image.Same(previous.Image, previous.Digest, obs.Image, obs.digest())
	switch {
	case previous == nil || imageChanged:
		status.Current = &batonv1alpha1.CurrentImage{Image: obs.Image, Digest: obs.digest(), Since: ptrTime(now)}
	case previous.Image != obs.Image || (obs.digest() != "" && previous.Digest != obs.digest()):
		status.Current.Image, status.Current.Digest = obs.Image, obs.digest()
	}
	// While the Pods do not say (a rollout in progress), the digest they
	// last reported stays: the same reference has not changed its bytes
	// until they report other ones.
	obs.Digest = status.Current.Digest

	if ev, ok := recordRevision(status, obs, previous, imageChanged, now); ok {
		d.Events = append(d.Events, ev)
	}
	status.History = trimOldest(status.History, policy.HistoryLimit)
	current := latestRevision(status.History, obs.Image)
	status.Current.Revision = 0
	if current != nil {
		status.Current.Revision = current.Revision
	}

	switch {
	case obs.Disagreement != "" && status.ActivePromotion == nil:
		// A Promotion in flight moves every workload, so a disagreement
		// is drift only while none holds the lease.
		setCondition(status, policy, batonv1alpha1.DriftedCondition, metav1.ConditionTrue, batonv1alpha1.WorkloadsDisagreeReason,
			"The workloads do not all run one image: "+obs.Disagreement+"; Baton records it and will not revert it: promote an image to move them all")
	case obs.DigestsDisagree != "":
		setCondition(status, policy, batonv1alpha1.DriftedCondition, metav1.ConditionTrue, batonv1alpha1.DigestsDisagreeReason,
			"The Pods run different bytes under "+obs.Image+": "+obs.DigestsDisagree+"; the tag was pushed again while they started. Baton does not verify it: pin digests (delivery.pinDigest) or roll the workload out again")
	case current != nil && current.Result == batonv1alpha1.RevisionExternal:
		setCondition(status, policy, batonv1alpha1.DriftedCondition, metav1.ConditionTrue, batonv1alpha1.ExternalChangeReason, current.Message)
	default:
		apimeta.RemoveStatusCondition(&status.Conditions, batonv1alpha1.DriftedCondition)
	}

	setReady(status, obs, policy)

	requeue, ev := verify(status, obs, current, policy, imageChanged, now)
	d.RequeueAfter = requeue
	if ev != nil {
		d.Events = append(d.Events, *ev)
	}
	return d
}

// releaseOrphanedLease closes the revision of a lease holder that no longer
// exists and releases the lease, so that the Environment never blocks: the
// Promotion reconciler, which normally does both, has nothing left to
// reconcile.
func releaseOrphanedLease(status *batonv1alpha1.EnvironmentStatus, obs Observation, now time.Time) (Event, bool) {
	lease := status.ActivePromotion
	if lease == nil || !obs.HolderGone {
		return Event{}, false
	}
	msg := batonv1alpha1.RevisionMessage(fmt.Sprintf(
		"Promotion %s no longer exists, but held the lease (its finalizer was removed or the garbage collector deleted it); Baton released the lease. The workload runs %s",
		lease.Name, obs.Image))
	if r := leaseRevision(status); r != nil && r.Result == "" {
		r.Result, r.Message, r.FinishedAt = batonv1alpha1.RevisionFailed, msg, ptrTime(now)
	}
	status.ActivePromotion = nil
	return Event{Type: corev1.EventTypeWarning, Reason: batonv1alpha1.LeaseReleasedReason, Message: msg}, true
}

// leaseRevision is the history entry of the lease holder, or nil.
func leaseRevision(status *batonv1alpha1.EnvironmentStatus) *batonv1alpha1.Revision {
	if status.ActivePromotion == nil {
		return nil
	}
	for i := range status.History {
		if p := status.History[i].Promotion; p != nil && p.UID == status.ActivePromotion.UID {
			return &status.History[i]
		}
	}
	return nil
}

// recordRevision adopts what the workload runs the first time it is seen
// healthy while no revision in the history ever ran (the history is empty, or
// holds only Promotions that failed before they changed anything), and
// appends an External revision when the image changed to one no revision
// explains: not the newest entry's, nor, while a Promotion holds the lease,
// the image that Promotion is delivering. Drift is recorded with or without
// a lease: a hand-made change during a rollout is still not Baton's.
func recordRevision(status *batonv1alpha1.EnvironmentStatus, obs Observation, previous *batonv1alpha1.CurrentImage, imageChanged bool, now time.Time) (Event, bool) {
	leased := status.ActivePromotion != nil
	switch {
	case !leased && !anyRan(status.History) && obs.Rollout.Complete():
		next := status.NextRevision()
		status.History = append(status.History, batonv1alpha1.Revision{
			Revision: next, Image: obs.Image, Digest: obs.Digest,
			Result:    batonv1alpha1.RevisionAdopted,
			Message:   "the workload already ran this image when Baton first saw it healthy",
			StartedAt: ptrTime(now), FinishedAt: ptrTime(now),
		})
		return Event{Type: corev1.EventTypeNormal, Reason: batonv1alpha1.AdoptedReason,
			Message: fmt.Sprintf("Adopted %s as revision %d", obs.Image, next)}, true
	case imageChanged && len(status.History) > 0 && !explained(status, obs.Image, obs.Digest):
		from, to := previous.Image, obs.Image
		if from == to {
			// The same tag, other bytes: say which.
			from, to = fmt.Sprintf("%s (%s)", from, previous.Digest), fmt.Sprintf("%s (%s)", to, obs.Digest)
		}
		msg := batonv1alpha1.RevisionMessage(fmt.Sprintf("The image of the workload changed from %s to %s without a Promotion; Baton recorded it and will not revert it, nor verify it", from, to))
		status.History = append(status.History, batonv1alpha1.Revision{
			Revision: status.NextRevision(),
			Image:    obs.Image, Digest: obs.Digest,
			Result:    batonv1alpha1.RevisionExternal,
			Message:   msg,
			StartedAt: ptrTime(now), FinishedAt: ptrTime(now),
		})
		return Event{Type: corev1.EventTypeWarning, Reason: batonv1alpha1.ExternalChangeReason, Message: msg}, true
	}
	return Event{}, false
}

// explained: the image (by digest when both sides know it) is the newest
// history entry's, or the reference the lease holder is delivering. A
// lease holder whose entry is not written yet may be delivering anything:
// the change is its own until it says otherwise. Other bytes than the
// holder froze are its DigestMismatch, not drift.
func explained(status *batonv1alpha1.EnvironmentStatus, ref, digest string) bool {
	last := status.History[len(status.History)-1]
	if image.Same(last.Image, last.Digest, ref, digest) {
		return true
	}
	if status.ActivePromotion == nil {
		return false
	}
	r := leaseRevision(status)
	return r == nil || image.Same(r.Image, r.Digest, ref, "")
}

// verifiable: only an image Baton delivered (a Promotion's revision, in
// flight or ended well) or the one it adopted may become verified. Drift
// (External) never is, nor a revision that failed or was rolled back.
func verifiable(r *batonv1alpha1.Revision) bool {
	if r == nil {
		return false
	}
	switch r.Result {
	case batonv1alpha1.RevisionAdopted:
		return true
	case "", batonv1alpha1.RevisionSucceeded, batonv1alpha1.RevisionAlreadyAtImage:
		return r.Promotion != nil
	}
	return false
}

func setReady(status *batonv1alpha1.EnvironmentStatus, obs Observation, policy Policy) {
	switch obs.Rollout.Phase {
	case workload.PhaseComplete:
		apimeta.RemoveStatusCondition(&status.Conditions, batonv1alpha1.ReconcilingCondition)
		if status.Current.Revision == 0 {
			setCondition(status, policy, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.ProgressingReason,
				fmt.Sprintf("The rollout of %s is complete; waiting for the active Promotion to record its revision", obs.Image))
			return
		}
		setCondition(status, policy, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason,
			fmt.Sprintf("Running %s at revision %d: %s", obs.Image, status.Current.Revision, obs.Rollout.Message))
	case workload.PhaseFailed:
		apimeta.RemoveStatusCondition(&status.Conditions, batonv1alpha1.ReconcilingCondition)
		setCondition(status, policy, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason,
			fmt.Sprintf("The rollout of %s failed: %s", obs.Image, obs.Rollout.Message))
	default:
		msg := fmt.Sprintf("Rolling out %s: %s", obs.Image, obs.Rollout.Message)
		setCondition(status, policy, batonv1alpha1.ReconcilingCondition, metav1.ConditionTrue, batonv1alpha1.RolloutInProgressReason, msg)
		setCondition(status, policy, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.RolloutInProgressReason, msg)
	}
}

// verify runs the soak clock and records the image once it is verified.
func verify(status *batonv1alpha1.EnvironmentStatus, obs Observation, current *batonv1alpha1.Revision, policy Policy, imageChanged bool, now time.Time) (time.Duration, *Event) {
	// An image verified earlier stays in verifiedImages, but the condition
	// says how it runs now: not verified while its rollout is not healthy.
	if !obs.Rollout.Complete() || (obs.Checks != nil && !obs.Checks.Healthy) {
		clearHealthySince(status)
	}
	if !obs.Rollout.Complete() {
		reason := batonv1alpha1.RolloutInProgressReason
		if obs.Rollout.Phase == workload.PhaseFailed {
			reason = batonv1alpha1.RolloutFailedReason
		}
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, reason,
			fmt.Sprintf("%s is not verified: its rollout is not complete and healthy; the soak time of %s starts again once it is", obs.Image, policy.SoakTime))
		return 0, nil
	}
	if obs.Checks != nil && obs.Checks.Breached {
		return 0, breached(status, obs, policy)
	}
	if obs.DigestsDisagree != "" {
		clearHealthySince(status)
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.DigestsDisagreeReason,
			fmt.Sprintf("%s is not verified: %s", obs.Image, obs.DigestsDisagree))
		return 0, nil
	}
	if v := findVerified(status.VerifiedImages, obs.Image, obs.Digest); v != nil {
		if status.Verification != nil && status.Verification.HealthySince == nil && (obs.Checks == nil || obs.Checks.Healthy) {
			status.Verification.HealthySince = ptrTime(now)
		}
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionTrue, batonv1alpha1.VerifiedReason,
			fmt.Sprintf("%s was verified here at %s", obs.Image, v.VerifiedAt.UTC().Format(time.RFC3339)))
		return 0, nil
	}
	if current != nil && current.Digest != "" && obs.Digest != "" && current.Digest != obs.Digest {
		// Revision N froze other bytes than the Pods run: the tag was
		// pushed again. Those bytes were never delivered.
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.DigestMismatchReason,
			fmt.Sprintf("%s is not verified: its Pods run %s, not %s, which revision %d delivered", obs.Image, obs.Digest, current.Digest, current.Revision))
		return 0, nil
	}
	if !verifiable(current) {
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.NotDeliveredReason,
			fmt.Sprintf("%s is not verified: Baton did not deliver it (%s); only an image a Promotion delivered, or the one Baton adopted, is verified", obs.Image, describeRevision(current)))
		return 0, nil
	}

	if obs.Checks != nil && !obs.Checks.Healthy {
		setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, obs.Checks.Reason,
			fmt.Sprintf("%s is not verified: %s; the soak time of %s starts again once every check passes", obs.Image, obs.Checks.Message, policy.SoakTime))
		return 0, nil
	}

	// A streak goes on only while Verified stays Soaking for the same image.
	start := ceilSecond(now)
	if cond := apimeta.FindStatusCondition(status.Conditions, batonv1alpha1.VerifiedCondition); cond != nil &&
		cond.Status == metav1.ConditionUnknown && cond.Reason == batonv1alpha1.SoakingReason && !imageChanged {
		start = cond.LastTransitionTime.Time
	} else {
		// Remove first, so that lastTransitionTime records the new start
		// even when the status stays Unknown.
		apimeta.RemoveStatusCondition(&status.Conditions, batonv1alpha1.VerifiedCondition)
	}

	if status.Verification != nil {
		status.Verification.HealthySince = ptrTime(start)
	}
	verifiedAt := start.Add(policy.SoakTime)
	if now.Before(verifiedAt) {
		apimeta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: batonv1alpha1.VerifiedCondition, Status: metav1.ConditionUnknown, Reason: batonv1alpha1.SoakingReason,
			ObservedGeneration: policy.Generation, LastTransitionTime: metav1.NewTime(start),
			Message: fmt.Sprintf("%s has been healthy since %s; it is verified at %s if it stays healthy until then",
				obs.Image, start.UTC().Format(time.RFC3339), verifiedAt.UTC().Format(time.RFC3339)),
		})
		return verifiedAt.Sub(now), nil
	}

	status.VerifiedImages = append(status.VerifiedImages, batonv1alpha1.VerifiedImage{
		Image: obs.Image, Digest: obs.Digest, VerifiedAt: metav1.NewTime(now),
	})
	status.VerifiedImages = trimOldest(status.VerifiedImages, MaxVerifiedImages)
	msg := fmt.Sprintf("%s was verified here at %s, after %s of complete and healthy rollout", obs.Image, now.UTC().Format(time.RFC3339), policy.SoakTime)
	setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionTrue, batonv1alpha1.VerifiedReason, msg)
	return 0, &Event{Type: corev1.EventTypeNormal, Reason: batonv1alpha1.VerifiedReason, Message: msg}
}

// breached takes the verification of an image away when a check breaches
// while it runs here: it is promotable downstream again only once it has
// passed every check for the whole soak time.
func breached(status *batonv1alpha1.EnvironmentStatus, obs Observation, policy Policy) *Event {
	var ev *Event
	msg := fmt.Sprintf("%s is not verified: %s; the soak time of %s starts again once every check passes", obs.Image, obs.Checks.Message, policy.SoakTime)
	if kept := withoutImage(status.VerifiedImages, obs.Image, obs.Digest); len(kept) != len(status.VerifiedImages) {
		status.VerifiedImages = kept
		msg = fmt.Sprintf("%s lost its verification here: %s; it is promotable again once it passes every check for the soak time of %s", obs.Image, obs.Checks.Message, policy.SoakTime)
		ev = &Event{Type: corev1.EventTypeWarning, Reason: batonv1alpha1.CheckFailedReason, Message: msg}
	}
	setCondition(status, policy, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckFailedReason, msg)
	return ev
}

func clearHealthySince(status *batonv1alpha1.EnvironmentStatus) {
	if status.Verification != nil {
		status.Verification.HealthySince = nil
	}
}

func withoutImage(images []batonv1alpha1.VerifiedImage, ref, digest string) []batonv1alpha1.VerifiedImage {
	var kept []batonv1alpha1.VerifiedImage
	for _, v := range images {
		if !image.Same(v.Image, v.Digest, ref, digest) {
			kept = append(kept, v)
		}
	}
	return kept
}

func describeRevision(r *batonv1alpha1.Revision) string {
	if r == nil {
		return "no revision in the history runs it"
	}
	return fmt.Sprintf("revision %d is %s", r.Revision, OrInFlight(r.Result))
}

// OrInFlight names a revision's result, or says it is in flight.
func OrInFlight(r batonv1alpha1.RevisionResult) string {
	if r == "" {
		return "in flight"
	}
	return string(r)
}

func setCondition(status *batonv1alpha1.EnvironmentStatus, policy Policy, conditionType string, s metav1.ConditionStatus, reason, message string) {
	SetCondition(status, policy.Generation, conditionType, s, reason, message)
}

// findVerified is the entry that verified ref, by digest when both sides
// know it: other bytes under a verified tag are not verified.
func findVerified(images []batonv1alpha1.VerifiedImage, ref, digest string) *batonv1alpha1.VerifiedImage {
	for i := range images {
		if image.Same(images[i].Image, images[i].Digest, ref, digest) {
			return &images[i]
		}
	}
	return nil
}

// latestRevision is the newest history entry that ran ref, by digest when
// both sides know it.
func latestRevision(history []batonv1alpha1.Revision, ref string) *batonv1alpha1.Revision {
	for i := len(history) - 1; i >= 0; i-- {
		if image.Same(history[i].Image, history[i].Digest, ref, "") {
			return &history[i]
		}
	}
	return nil
}

// anyRan reports whether some revision in the history ran on the workload.
// A Promotion refused or failed before it changed anything leaves a Failed
// (or Superseded) entry that says nothing about what runs.
func anyRan(history []batonv1alpha1.Revision) bool {
	for _, r := range history {
		switch r.Result {
		case batonv1alpha1.RevisionAdopted, batonv1alpha1.RevisionSucceeded, batonv1alpha1.RevisionAlreadyAtImage,
			batonv1alpha1.RevisionExternal, batonv1alpha1.RevisionRolledBack:
			return true
		}
	}
	return false
}

// nextRevision is the number after the highest in the history.
func trimOldest[T any](items []T, limit int) []T {
	if limit <= 0 || len(items) <= limit {
		return items
	}
	return append([]T(nil), items[len(items)-limit:]...)
}

// ceilSecond rounds up to the whole second, because a condition's
// lastTransitionTime is stored to the second: rounding down would verify an
// image before its soak time has passed.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// RevisionOf is the newest revision in history that ran ref, or 0: the
// revision status.current will name once Decide has seen ref.
func RevisionOf(history []batonv1alpha1.Revision, ref string) int64 {
	if r := latestRevision(history, ref); r != nil {
		return r.Revision
	}
	return 0
}
