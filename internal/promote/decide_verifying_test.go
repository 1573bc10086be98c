package promote

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// TestDecideVerifying covers spec.rollout.watch: the phase Verifying after
// a complete rollout, a breach that fails it (and rolls back), an
// unreachable Prometheus that does not, and success when the watch ends.
func TestDecideVerifying(t *testing.T) {
	watch := func(e *batonv1alpha1.Environment) { e.Spec.Rollout.Watch = &metav1.Duration{Duration: 2 * time.Minute} }
	auto := func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true }
	ready := runs(web2, metav1.ConditionTrue, "RolloutComplete")
	checks := func(cs batonv1alpha1.CheckStatus) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) {
			cs.Name = "error-rate"
			e.Status.Verification = &batonv1alpha1.VerificationStatus{Image: web2, Checks: []batonv1alpha1.CheckStatus{cs}}
		}
	}
	breach := checks(batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckFail, Breached: true, ConsecutiveFailures: 1, Value: "0.3",
		Message: `check error-rate: query "q" returned 0.3 at 2026-12-01T12:00:00Z; threshold < 0.01`})
	unreachable := checks(batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckError, Reason: batonv1alpha1.PrometheusUnreachableReason, Message: "Prometheus cannot be reached"})
	rollingOutP := promotion("p", batonv1alpha1.PromotionRollingOut, rollingOut)
	verifyingFor := func(d time.Duration) *batonv1alpha1.Promotion {
		return promotion("p", batonv1alpha1.PromotionVerifying, rollingOut, func(p *batonv1alpha1.Promotion) { p.Status.PhaseSince = at(-d) })
	}
	inVerifying := verifyingFor(time.Minute)
	// smoke gives production a job check and its status for web2.
	smoke := func(cs batonv1alpha1.CheckStatus) func(*batonv1alpha1.Environment) {
		return func(e *batonv1alpha1.Environment) {
			e.Spec.Verification.Checks = []batonv1alpha1.VerificationCheck{{Name: "smoke", Job: &batonv1alpha1.JobTemplate{ActiveDeadlineSeconds: ptr.To[int64](600)}}}
			cs.Name, cs.Job = "smoke", fmt.Sprintf("production-smoke-r%d-1", cs.Revision)
			e.Status.Verification = &batonv1alpha1.VerificationStatus{Image: web2, Checks: []batonv1alpha1.CheckStatus{cs}}
		}
	}
	failedJob := func(rev int64) batonv1alpha1.CheckStatus {
		return batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckFail, Breached: true, ConsecutiveFailures: 1, Revision: rev, Value: "BackoffLimitExceeded",
			Message: fmt.Sprintf("check smoke: Job production-smoke-r%d-1 failed (BackoffLimitExceeded: Job has reached the specified backoff limit)", rev)}
	}
	passedJob := func(rev int64) batonv1alpha1.CheckStatus {
		return batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckPass, Revision: rev, Value: "Complete"}
	}
	undo := promotion("undo", batonv1alpha1.PromotionRollingOut, rollingOut, func(u *batonv1alpha1.Promotion) {
		u.Spec.Rollback, u.Status.Image, u.Status.PreviousImage = &batonv1alpha1.RollbackSpec{}, web2, web1
	})
	for _, tc := range []decideCase{
		{"a complete rollout with a watch goes to Verifying, holding the lease", Input{Promotion: rollingOutP, Environment: production(leasedTo(rollingOutP), ready, watch)},
			want{phase: batonv1alpha1.PromotionVerifying, reason: batonv1alpha1.WatchingReason, mentions: []string{"spec.rollout.watch (2m0s)"}, check: func(t *testing.T, d Decision) {
				if d.RequeueAfter != 2*time.Minute {
					t.Errorf("requeue = %v, want the watch", d.RequeueAfter)
				}
			}}},
		{"a rollback is not watched", Input{Promotion: undo, Environment: production(leasedTo(undo), ready, watch)},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true}},
		{"waits out the watch while the checks pass", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, checks(batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckPass}))},
			want{phase: batonv1alpha1.PromotionVerifying, check: func(t *testing.T, d Decision) {
				if d.RequeueAfter != time.Minute {
					t.Errorf("requeue = %v, want the minute left", d.RequeueAfter)
				}
			}}},
		{"an unreachable Prometheus fails nothing", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, auto, unreachable)},
			want{phase: batonv1alpha1.PromotionVerifying}},
		{"succeeds once the watch passed without a breach", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, unreachable)},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.SucceededReason, mentions: []string{"no check breached during spec.rollout.watch"}, finished: true, envWritten: true,
				check: func(t *testing.T, d Decision) {
					if d.Environment.ActivePromotion != nil || d.Environment.History[1].Result != batonv1alpha1.RevisionSucceeded {
						t.Errorf("lease %+v, entry %+v: want released, Succeeded", d.Environment.ActivePromotion, d.Environment.History[1])
					}
				}}},
		{"a breach fails it with CheckFailed, naming the check, value and threshold", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, breach)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.CheckFailedReason, mentions: []string{"check error-rate", "returned 0.3", "threshold < 0.01"}, finished: true, envWritten: true}},
		{"a breach of an earlier image is not this Promotion's", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, breach, func(e *batonv1alpha1.Environment) {
			e.Status.Verification.Image = web1
		})}, want{phase: batonv1alpha1.PromotionVerifying}},
		{"with autoRollback a breach asks for the rollback", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, breach, auto)},
			want{phase: batonv1alpha1.PromotionVerifying, action: CreateRollback, check: func(t *testing.T, d Decision) {
				if d.Rollback == nil || d.Rollback.Spec.Rollback.ToRevision != 1 {
					t.Errorf("rollback = %+v, want to revision 1", d.Rollback)
				}
			}}},
		{"and hands it the lease", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, breach, auto), Rollback: autoRollback("p-rollback", nil)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.CheckFailedReason, mentions: []string{"Rolling back to revision 1 with Promotion p-rollback"}, finished: true, envWritten: true,
				check: func(t *testing.T, d Decision) {
					if a := d.Environment.ActivePromotion; a == nil || a.Name != "p-rollback" {
						t.Errorf("lease = %+v, want p-rollback", a)
					}
				}}},
		// A Prometheus breach judged revision 1 of web2 (the checks had
		// not seen revision 2 yet): it does not fail the re-ship.
		{"a Prometheus breach of an earlier revision of the same image does not fail a re-ship", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, auto, breach, func(e *batonv1alpha1.Environment) {
			e.Status.Verification.Revision = 1
		})}, want{phase: batonv1alpha1.PromotionVerifying}},
		{"a Prometheus breach of its own revision fails it", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, breach, func(e *batonv1alpha1.Environment) {
			e.Status.Verification.Revision = 2
		})}, want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.CheckFailedReason, mentions: []string{"returned 0.3"}, finished: true, envWritten: true}},
		// Job checks: the Promotion (revision 2 of web2) reads only the
		// Job of its own revision. Revision 1 is an earlier run of the same
		// image, which this Promotion re-ships.
		{"a failed Job of an earlier revision of the same image does not fail a re-ship", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, auto, smoke(failedJob(1)))},
			want{phase: batonv1alpha1.PromotionVerifying}},
		{"the failed Job of its own revision fails it with CheckFailed and the Job's reason", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), ready, watch, smoke(failedJob(2)))},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.CheckFailedReason, mentions: []string{"check smoke: Job production-smoke-r2-1 failed (BackoffLimitExceeded"}, finished: true, envWritten: true}},
		{"a passed Job of an earlier revision does not pass a re-ship: the watch waits for its own", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, smoke(passedJob(1)))},
			want{phase: batonv1alpha1.PromotionVerifying, reason: batonv1alpha1.WatchingReason, mentions: []string{"waiting for the Job of a job check for revision 2", "check smoke has not started it yet"}, check: func(t *testing.T, d Decision) {
				if d.RequeueAfter != jobPoll {
					t.Errorf("requeue = %v, want %v", d.RequeueAfter, jobPoll)
				}
			}}},
		{"a status for another image does not pass it either", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, smoke(passedJob(2)), func(e *batonv1alpha1.Environment) {
			e.Status.Verification.Image = web1
		})}, want{phase: batonv1alpha1.PromotionVerifying, mentions: []string{"check smoke has not started it yet"}}},
		{"the watch waits while its own Job runs", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, smoke(batonv1alpha1.CheckStatus{
			Verdict: batonv1alpha1.CheckInconclusive, Reason: batonv1alpha1.CheckPendingReason, Revision: 2, Message: "check smoke: Job production-smoke-r2-1 is running"}))},
			want{phase: batonv1alpha1.PromotionVerifying, mentions: []string{"Job production-smoke-r2-1 is running"}}},
		{"succeeds once its own Job passed and the watch is over", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, smoke(passedJob(2)))},
			want{phase: batonv1alpha1.PromotionSucceeded, reason: batonv1alpha1.SucceededReason, finished: true, envWritten: true}},
		{"a Job that cannot be created holds nothing, like an unreachable Prometheus", Input{Promotion: verifyingFor(2 * time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, auto, smoke(batonv1alpha1.CheckStatus{
			Verdict: batonv1alpha1.CheckError, Reason: batonv1alpha1.JobCreateFailedReason, Revision: 2}))},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true}},
		{"the wait is bounded by the Job's activeDeadlineSeconds and a minute", Input{Promotion: verifyingFor(2*time.Minute + 11*time.Minute), Environment: production(leasedTo(inVerifying), ready, watch, smoke(passedJob(1)))},
			want{phase: batonv1alpha1.PromotionSucceeded, finished: true, envWritten: true}},
		{"a rollout that fails during the watch fails it", Input{Promotion: inVerifying, Environment: production(leasedTo(inVerifying), runs(web2, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason), watch)},
			want{phase: batonv1alpha1.PromotionFailed, reason: batonv1alpha1.RolloutFailedReason, finished: true, envWritten: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			tc.want.assert(t, Decide(in))
		})
	}
	if batonv1alpha1.PromotionVerifying.IsTerminal() {
		t.Error("Verifying is not terminal: the Promotion still holds the lease")
	}
}
