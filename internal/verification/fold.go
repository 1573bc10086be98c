package verification

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Defaults of a check's fields, for a spec written before the CRD defaulted
// them.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// Interval is how often check is evaluated.
func Interval(c *batonv1alpha1.VerificationCheck) time.Duration {
	if c.Interval != nil && c.Interval.Duration > 0 {
		return c.Interval.Duration
	}
	return DefaultInterval
}

// Timeout bounds one evaluation of check.
func Timeout(c *batonv1alpha1.VerificationCheck) time.Duration {
	if c.Timeout != nil && c.Timeout.Duration > 0 {
		return c.Timeout.Duration
	}
	return DefaultTimeout
}

func failureLimit(c *batonv1alpha1.VerificationCheck) int32 {
	if c.FailureLimit > 0 {
		return c.FailureLimit
	}
	return 1
}

// Reset starts status.verification over for image, keeping one (pending)
// entry per check, when the image changed or checks were added or removed.
func Reset(status *batonv1alpha1.VerificationStatus, checks []batonv1alpha1.VerificationCheck, image string, revision int64) *batonv1alpha1.VerificationStatus {
	if len(checks) == 0 {
		return nil
	}
	if status == nil || status.Image != image || status.Revision != revision {
		status = &batonv1alpha1.VerificationStatus{Image: image, Revision: revision}
	}
	kept := make([]batonv1alpha1.CheckStatus, 0, len(checks))
	for _, c := range checks {
		cs := batonv1alpha1.CheckStatus{Name: c.Name}
		if old := Find(status, c.Name); old != nil {
			cs = *old
		}
		kept = append(kept, cs)
	}
	status.Checks = kept
	return status
}

// Find is the status of the check named name, or nil.
func Find(status *batonv1alpha1.VerificationStatus, name string) *batonv1alpha1.CheckStatus {
	if status == nil {
		return nil
	}
	for i := range status.Checks {
		if status.Checks[i].Name == name {
			return &status.Checks[i]
		}
	}
	return nil
}

// Due reports whether check must be evaluated at now, and otherwise how long
// until it must: once per interval, counted from its last evaluation.
func Due(cs *batonv1alpha1.CheckStatus, c *batonv1alpha1.VerificationCheck, now time.Time) (bool, time.Duration) {
	if cs == nil || cs.LastEvaluated == nil {
		return true, 0
	}
	next := cs.LastEvaluated.Add(Interval(c))
	if !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// Fold records one evaluation in the check's status: a Fail counts towards
// failureLimit, and reaching it is a breach (a job check's Fail is a breach
// at once); a Pass ends a failing streak and
// a breach; Inconclusive and Error leave the count as it was (they are not
// passes, and not evidence of failure either).
func Fold(cs *batonv1alpha1.CheckStatus, c *batonv1alpha1.VerificationCheck, s Sample) {
	at := metav1.NewTime(s.At)
	cs.Verdict, cs.Reason, cs.Value, cs.LastEvaluated = s.Verdict, s.Reason, s.Value, &at
	cs.Message = truncate(s.Message, 1024)
	switch s.Verdict {
	case batonv1alpha1.CheckPass:
		cs.ConsecutiveFailures, cs.Breached = 0, false
	case batonv1alpha1.CheckFail:
		if c.Job != nil {
			// A Job runs once per image and revision: reading its failure
			// again is the same failure, and a breach at once (its retries
			// are job.backoffLimit).
			cs.ConsecutiveFailures, cs.Breached = 1, true
			return
		}
		cs.ConsecutiveFailures++
		if cs.ConsecutiveFailures >= failureLimit(c) {
			cs.Breached = true
			cs.Message = truncate(fmt.Sprintf("%s: breached (%d failing results in a row, failureLimit %d)", s.Message, cs.ConsecutiveFailures, failureLimit(c)), 1024)
		}
	}
}

// Summary is what all checks say about the image together.
type Summary struct {
	// Healthy: every check has been evaluated and none is breached or
	// undecided; the soak clock may run.
	Healthy bool
	// Breached: some check breached its threshold; the image loses its
	// verification.
	Breached bool
	// Reason and Message explain the first check that holds the image back.
	Reason, Message string
}

// Summarize judges the checks' status for the image together. A check that
// failed fewer times than its failureLimit does not hold the image back;
// one that is inconclusive, in error or not evaluated yet does.
func Summarize(status *batonv1alpha1.VerificationStatus, checks []batonv1alpha1.VerificationCheck) Summary {
	var hold *Summary
	for _, c := range checks {
		cs := Find(status, c.Name)
		switch {
		case cs == nil || cs.Verdict == "":
			if hold == nil {
				hold = &Summary{Reason: batonv1alpha1.CheckPendingReason, Message: fmt.Sprintf("check %s has not been evaluated yet", c.Name)}
			}
		case cs.Breached:
			return Summary{Breached: true, Reason: batonv1alpha1.CheckFailedReason, Message: cs.Message}
		case cs.Verdict == batonv1alpha1.CheckInconclusive || cs.Verdict == batonv1alpha1.CheckError:
			if hold == nil {
				hold = &Summary{Reason: cs.Reason, Message: cs.Message}
			}
		}
	}
	if hold != nil {
		return *hold
	}
	return Summary{Healthy: true}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
