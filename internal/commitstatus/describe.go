package commitstatus

import (
	"fmt"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// State is a commit status in Baton's terms; each forge spells it its own
// way (see the forge clients).
type State string

// States. Running is GitLab's "running"; GitHub and Gitea have only
// pending. Canceled is GitLab's "canceled", GitHub's and Gitea's "error".
const (
	Pending  State = "pending"
	Running  State = "running"
	Success  State = "success"
	Failure  State = "failure"
	Canceled State = "canceled"
)

// MaxDescription is GitHub's limit on a status description, in bytes.
const MaxDescription = 140

// Status is one commit status as Baton sends it.
type Status struct {
	State       State
	Context     string
	Description string
}

// Change is one phase change of a Promotion, as the commit-status reporter
// needs it. Everything in it is in the Promotion already.
type Change struct {
	Namespace   string
	Environment string
	Promotion   string
	Phase       batonv1alpha1.PromotionPhase
	// Image and Digest are what the Promotion moves to; PreviousImage is
	// what a rollback moves away from.
	Image, Digest, PreviousImage string
	Rollback                     bool
	// Revision a rollback returns to (0: the previous one).
	ToRevision int64
	// SourceCommit is promote.SourceCommit: set only on the Promotions
	// spec.source created.
	SourceCommit string
	// Approvals counted for the image so far.
	Approvals int
	// Reason of the Promotion's Ready condition.
	Reason string
}

// ContextOf is the status context of an Environment.
func ContextOf(environment string) string { return "baton/" + environment }

// Describe is the status that ch shows on its commit, for an Environment
// that requires required approvals. A rollback shows on the commit it
// rolls back away from. ok is false for a change that says nothing new:
// every Promotion passes through WaitingForApproval for a moment to check
// its approvals, and one that needs none is not shown as waiting.
func Describe(ch Change, required int32) (st Status, ok bool) {
	st = Status{Context: ContextOf(ch.Environment)}
	env := ch.Environment
	switch {
	case ch.Rollback:
		st.State, st.Description = describeRollback(ch)
	case ch.Phase == batonv1alpha1.PromotionWaitingForApproval:
		n := int(required) - ch.Approvals
		if n <= 0 {
			return Status{}, false
		}
		st.State, st.Description = Pending, fmt.Sprintf("waiting for %d approval%s", n, plural(n))
	case ch.Phase == "" || ch.Phase == batonv1alpha1.PromotionPending:
		st.State, st.Description = Pending, "pending"
	case ch.Phase == batonv1alpha1.PromotionQueued:
		st.State, st.Description = Pending, "queued"
	case ch.Phase == batonv1alpha1.PromotionPromoting:
		st.State, st.Description = Running, "deploying"
	case ch.Phase == batonv1alpha1.PromotionRollingOut:
		st.State, st.Description = Running, "rolling out"
	case ch.Phase == batonv1alpha1.PromotionVerifying:
		st.State, st.Description = Running, "verifying"
	case ch.Phase == batonv1alpha1.PromotionSucceeded:
		st.State, st.Description = Success, "deployed and verified"
	case ch.Phase == batonv1alpha1.PromotionFailed:
		st.State, st.Description = Failure, "failed"
		if ch.Reason != "" {
			st.Description += " (" + ch.Reason + ")"
		}
	case ch.Phase == batonv1alpha1.PromotionCanceled:
		st.State, st.Description = Canceled, "canceled"
	case ch.Phase == batonv1alpha1.PromotionSuperseded:
		st.State, st.Description = Canceled, "superseded by another promotion"
	default:
		st.State, st.Description = Running, string(ch.Phase)
	}
	st.Description = env + ": " + st.Description
	if len(st.Description) > MaxDescription {
		st.Description = st.Description[:MaxDescription-3] + "..."
	}
	return st, true
}

func describeRollback(ch Change) (State, string) {
	to := "the previous revision"
	if ch.ToRevision > 0 {
		to = fmt.Sprintf("revision %d", ch.ToRevision)
	}
	switch ch.Phase {
	case batonv1alpha1.PromotionSucceeded:
		return Failure, "rolled back"
	case batonv1alpha1.PromotionFailed:
		return Failure, "rollback to " + to + " failed"
	case batonv1alpha1.PromotionCanceled, batonv1alpha1.PromotionSuperseded:
		return Canceled, "rollback to " + to + " " + lower(ch.Phase)
	}
	return Running, "rolling back to " + to
}

func lower(p batonv1alpha1.PromotionPhase) string {
	if p == batonv1alpha1.PromotionCanceled {
		return "canceled"
	}
	return "superseded"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
