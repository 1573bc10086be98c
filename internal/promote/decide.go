package promote

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
)

// Input is everything Decide looks at. The reconciler reads it: the
// Promotion, the Environment and the lease holder uncached, because a
// decision to act rests on them; the queue from the cache.
type Input struct {
	// Promotion as read.
	Promotion *batonv1alpha1.Promotion
	// Environment is spec.environment, or nil when it does not exist.
	Environment *batonv1alpha1.Environment
	// Upstream is the Environment's upstream when NeedsUpstream says Decide
	// looks at it; nil means it does not exist.
	Upstream *batonv1alpha1.Environment
	// Queue is every Promotion into the Environment, when NeedsQueue.
	Queue []batonv1alpha1.Promotion
	// Holder is the Promotion that holds the Environment's lease, when
	// NeedsHolder; nil when it no longer exists.
	Holder *batonv1alpha1.Promotion
	// NotAdmitted is why the admission marker does not verify; nil when it
	// does.
	NotAdmitted error
	// Delivery is the outcome of the delivery a previous Decide asked for.
	Delivery *DeliveryOutcome
	// Digest is the registry's answer to the LookupDigest a previous Decide
	// asked for.
	Digest *DigestOutcome
	// Release is the release Job a previous Decide asked for (RunRelease),
	// as found or created, and then whether it was deleted (DeleteRelease).
	Release *ReleaseOutcome
	// Rollback is the automatic rollback a previous Decide asked to create,
	// as created, or as found under that name (after a crash, or created by
	// someone else).
	Rollback *batonv1alpha1.Promotion
	// RollbackNotAdmitted is why Rollback's admission marker does not
	// verify; nil when it does.
	RollbackNotAdmitted error
	// Self is the username the API server knows the manager by, as the
	// webhook records it on the Promotions the manager creates; "" when
	// unknown (ControllerUser is always the manager's).
	Self string
	// Nonce is a fresh random suffix, for a name nobody can take first.
	Nonce string
	// Guardrails are the windows and freezes, when NeedsQueue.
	Guardrails Guardrails
	// Now is the engine's clock.
	Now time.Time
}

// DeliveryOutcome is what the reconciler's one delivery did.
type DeliveryOutcome struct {
	// Record is what the target carries now.
	Record delivery.Record
	// CommitURL links to Record.Commit, when the forge is known.
	CommitURL string
	// Found: the target already carried the image before this delivery
	// (an earlier, interrupted reconcile, or it was already there).
	Found bool
	// Err is Stalled (the Promotion fails), Waiting (it stays Promoting),
	// or anything else (retried).
	Err error
	// Warnings are Events about steps after the change that do not fail
	// it, such as asking Flux to apply a commit at once.
	Warnings []Event
}

// ReleaseOutcome is what the reconciler found of the release Job.
type ReleaseOutcome struct {
	// Job is the Job under Decision.Release's name, as found or created;
	// nil when it does not exist and Decision.ReleaseCreate was false.
	Job *batchv1.Job
	// Termination is what its failed Pods said, for a failed Job.
	Termination string
	// Deleted: the Job was deleted, as DeleteRelease asked.
	Deleted bool
	// Err is a refusal of the Job by the API server (Stalled: the
	// Promotion fails) or anything else (retried).
	Err error
}

// Action is the one side effect a Decision asks the reconciler for. After
// doing it, the reconciler calls Decide again with its outcome in Input.
type Action int

const (
	// NoAction: write the Decision and stop.
	NoAction Action = iota
	// Deliver Decision.Image to the Environment; the outcome goes into
	// Input.Delivery.
	Deliver
	// CreateRollback creates Decision.Rollback, signed; the Promotion as
	// created goes into Input.Rollback.
	CreateRollback
	// RunRelease finds the release Job Decision.Release under its name
	// and, when it does not exist and Decision.ReleaseCreate, creates it;
	// what was found goes into Input.Release.
	RunRelease
	// DeleteRelease deletes the release Job (with its Pods, in the
	// background) and sets Input.Release.Deleted.
	DeleteRelease
	// LookupDigest asks the registry which digest the tag of
	// Decision.Image names now, with the pull secrets of the Environment's
	// workloads; the answer goes into Input.Digest.
	LookupDigest
)

// Event is a Kubernetes Event about the Promotion, emitted (and logged)
// only after the Decision was written.
type Event struct {
	Type, Reason, Action, Message string
}

// PhaseDuration is how long the Promotion spent in a phase it left.
type PhaseDuration struct {
	Phase   batonv1alpha1.PromotionPhase
	Seconds float64
}

// Decision is what to write, in order: the Environment's status (with
// optimistic concurrency; a Conflict discards the whole Decision), then the
// Promotion's status, then Events and metrics.
type Decision struct {
	// Status is the Promotion's new status.
	Status batonv1alpha1.PromotionStatus
	// Environment is the Environment's new status, nil when unchanged.
	Environment *batonv1alpha1.EnvironmentStatus
	// Action is the side effect to perform before writing.
	Action Action
	// Image is the reference to write, for Deliver; to look up, for
	// LookupDigest.
	Image string
	// Rollback is the Promotion to create, for CreateRollback.
	Rollback *batonv1alpha1.Promotion
	// Release is the release Job, for RunRelease and DeleteRelease.
	Release *batchv1.Job
	// ReleaseCreate lets RunRelease create the Job: only until the
	// Promotion recorded one, so that it runs once.
	ReleaseCreate bool
	// RemoveFinalizer lets a deleted Promotion go.
	RemoveFinalizer bool
	// Events follow the write.
	Events []Event
	// Finished is the terminal phase reached, counted once after the write.
	Finished batonv1alpha1.PromotionPhase
	// Durations are observed after the write.
	Durations []PhaseDuration
	// RequeueAfter is when to look again without a watch event.
	RequeueAfter time.Duration
	// Err is a retryable error: the reconciler writes what the Decision
	// says and returns it.
	Err error
}

// Decide takes one step of a Promotion: resolve, gate, queue and lease,
// the outcome of a delivery, the rollout verdict, timeout, close-out,
// adoption after a lost write, and delete. It is pure: everything it reads
// is in Input, everything it changes is in the Decision.
func Decide(in Input) Decision {
	x := &decider{in: in, p: in.Promotion.DeepCopy()}
	if in.Environment != nil {
		x.env = in.Environment.DeepCopy()
	}
	x.step()
	return x.result()
}

// NeedsUpstream reports whether Decide looks at the upstream Environment: to
// resolve the image, and to check again that the upstream verified it, until
// it is delivered.
func NeedsUpstream(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return env != nil && env.Spec.Upstream != "" && !IsRollback(p) &&
		(beforeLease(p.Status.Phase) || p.Status.Phase == batonv1alpha1.PromotionReleasing || p.Status.Phase == batonv1alpha1.PromotionPromoting)
}

// NeedsQueue reports whether Decide looks at the Environment's queue.
func NeedsQueue(p *batonv1alpha1.Promotion) bool {
	return p.Status.Phase == batonv1alpha1.PromotionQueued
}

// NeedsHolder reports whether Decide looks at the lease holder: a rollback
// in the queue may preempt it.
func NeedsHolder(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return env != nil && NeedsQueue(p) && IsRollback(p) && env.Status.ActivePromotion != nil &&
		env.Status.ActivePromotion.UID != string(p.UID)
}

// decider accumulates one Decision over copies of the Promotion and
// Environment.
type decider struct {
	in         Input
	p          *batonv1alpha1.Promotion
	env        *batonv1alpha1.Environment
	envChanged bool
	d          Decision
}

func (x *decider) step() {
	p := x.p
	switch {
	case !p.DeletionTimestamp.IsZero():
		x.delete()
		return
	case p.Status.Phase.IsTerminal():
		return
	case x.in.NotAdmitted != nil:
		x.notAdmitted()
		return
	case x.env == nil:
		x.environmentGone()
		return
	}
	if rev, ok := x.closedEntry(); ok {
		x.adopt(rev)
		return
	}
	switch {
	case beforeLease(p.Status.Phase):
		x.beforeLease()
	case !x.holdsLease() && FindRevision(x.env, string(p.UID)) < 0:
		// Promoting or RollingOut, but the Environment never leased to it:
		// the status was written by someone other than Baton (or the
		// Environment was created again). Back to the gate, which checks
		// everything again.
		x.gate()
	case p.Status.Phase == batonv1alpha1.PromotionReleasing:
		x.releasing()
		x.refuseCancel()
	case p.Status.Phase == batonv1alpha1.PromotionPromoting:
		x.refuseCancel()
		x.promoting()
	case p.Status.Phase == batonv1alpha1.PromotionRollingOut:
		x.refuseCancel()
		x.rollingOut()
	case p.Status.Phase == batonv1alpha1.PromotionVerifying:
		x.refuseCancel()
		x.verifying()
	}
}

func (x *decider) result() Decision {
	if x.d.Err == nil && !equality.Semantic.DeepEqual(x.in.Promotion.Status, x.p.Status) {
		x.p.Status.ObservedGeneration = x.p.Generation
	}
	x.d.Status = x.p.Status
	if x.envChanged {
		x.d.Environment = &x.env.Status
	}
	return x.d
}

func beforeLease(phase batonv1alpha1.PromotionPhase) bool {
	switch phase {
	case "", batonv1alpha1.PromotionPending, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.PromotionQueued:
		return true
	}
	return false
}

func (x *decider) holdsLease() bool {
	a := x.env.Status.ActivePromotion
	return a != nil && a.UID == string(x.p.UID)
}

// closedEntry is this Promotion's history entry when a previous reconcile
// closed it and released the lease, then stopped before it wrote the
// Promotion's own status; or when a rollback preempted it.
func (x *decider) closedEntry() (batonv1alpha1.Revision, bool) {
	i := FindRevision(x.env, string(x.p.UID))
	if i < 0 || x.env.Status.History[i].Result == "" || x.holdsLease() {
		return batonv1alpha1.Revision{}, false
	}
	return x.env.Status.History[i], true
}

// notAdmitted: Baton never acts on a Promotion whose marker does not
// verify (it was created or changed behind the webhook, or sealed with a key
// since rotated). It leaves the queue, so that it never stands at its head
// and blocks the others; if it holds the lease, it can never finish, so it
// ends Failed and the lease is released with its history entry.
func (x *decider) notAdmitted() {
	msg := fmt.Sprintf("%v. Baton will never act on this Promotion: delete it and create it again with the admission webhook installed", x.in.NotAdmitted)
	if x.env != nil && x.holdsLease() {
		x.closeRevision(x.p, batonv1alpha1.RevisionFailed, msg)
		x.finish(batonv1alpha1.PromotionFailed, batonv1alpha1.NotAdmittedReason, msg)
		return
	}
	if x.p.Status.Phase == batonv1alpha1.PromotionQueued {
		x.transition(batonv1alpha1.PromotionPending, batonv1alpha1.NotAdmittedReason, msg)
	}
	x.stall(batonv1alpha1.NotAdmittedReason, msg)
}

// environmentGone fails a Promotion whose Environment was deleted while it
// held the lease, and stalls one that never started.
func (x *decider) environmentGone() {
	p := x.p
	if p.Status.Phase == batonv1alpha1.PromotionReleasing || p.Status.Phase == batonv1alpha1.PromotionPromoting || p.Status.Phase == batonv1alpha1.PromotionRollingOut || p.Status.Phase == batonv1alpha1.PromotionVerifying {
		x.finish(batonv1alpha1.PromotionFailed, batonv1alpha1.EnvironmentNotFoundReason,
			fmt.Sprintf("Environment %q was deleted while the Promotion was %s", p.Spec.Environment, p.Status.Phase))
		return
	}
	x.stall(batonv1alpha1.EnvironmentNotFoundReason,
		fmt.Sprintf("spec.environment: Environment %q does not exist in namespace %s; create it, or delete this Promotion", p.Spec.Environment, p.Namespace))
}

// adopt ends the Promotion with the result its history entry already holds.
func (x *decider) adopt(rev batonv1alpha1.Revision) {
	phase, reason := batonv1alpha1.PromotionFailed, batonv1alpha1.DeliveryFailedReason
	switch rev.Result {
	case batonv1alpha1.RevisionSucceeded, batonv1alpha1.RevisionRolledBack:
		phase, reason = batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason
	case batonv1alpha1.RevisionAlreadyAtImage:
		phase, reason = batonv1alpha1.PromotionSucceeded, batonv1alpha1.AlreadyAtImageReason
	case batonv1alpha1.RevisionSuperseded:
		phase, reason = batonv1alpha1.PromotionSuperseded, batonv1alpha1.SupersededReason
	}
	x.p.Status.Revision = rev.Revision
	x.finish(phase, reason, rev.Message)
}

// delete closes the history entry of a Promotion deleted in flight and
// releases its lease, so that it never disappears unrecorded.
func (x *decider) delete() {
	x.d.RemoveFinalizer = true
	if x.env == nil {
		return
	}
	if i := FindRevision(x.env, string(x.p.UID)); i >= 0 && x.env.Status.History[i].Result == "" {
		x.closeRevision(x.p, batonv1alpha1.RevisionFailed,
			fmt.Sprintf("Promotion %s was deleted while %s; the target was left as it was", x.p.Name, x.p.Status.Phase))
	} else if x.holdsLease() {
		x.env.Status.ActivePromotion = nil
		x.envChanged = true
	}
}

func (x *decider) event(eventType, reason, action, format string, args ...any) {
	x.d.Events = append(x.d.Events, Event{Type: eventType, Reason: reason, Action: action, Message: fmt.Sprintf(format, args...)})
}
