package promote

import (
	"fmt"
	"time"

	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/jobtemplate"
)

// Watch is spec.rollout.watch: how long a Promotion stays Verifying after
// its rollout completed; zero means no watch.
func Watch(env *batonv1alpha1.Environment) time.Duration {
	if w := env.Spec.Rollout.Watch; w != nil && w.Duration > 0 {
		return w.Duration
	}
	return 0
}

// watches: a forward Promotion into an Environment with a watch. A rollback
// is not watched: nothing would roll it back again.
func watches(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) bool {
	return Watch(env) > 0 && !IsRollback(p)
}

// startWatch moves a Promotion whose rollout completed to Verifying, still
// holding the lease.
func (x *decider) startWatch(rolledOut string) {
	watch := Watch(x.env)
	x.setPhase(batonv1alpha1.PromotionVerifying, batonv1alpha1.WatchingReason,
		fmt.Sprintf("%s; watching the checks of spec.verification for spec.rollout.watch (%s): a breach fails the Promotion", rolledOut, watch))
	x.d.RequeueAfter = watch
}

// verifying reads the checks the Environment reconciler evaluates (it is
// the only one that queries, once per interval): a breach of a check for
// this image fails the Promotion with CheckFailed, and with autoRollback
// rolls back; a rollout that fails meanwhile fails it too. A check that
// cannot be evaluated (Prometheus unreachable) fails nothing. Once the
// watch has passed, the Promotion succeeds.
func (x *decider) verifying() {
	p, env := x.p, x.env
	if msg, ok := breachedCheck(p, env); ok {
		x.closeOut(batonv1alpha1.PromotionFailed, batonv1alpha1.CheckFailedReason,
			fmt.Sprintf("A check breached during spec.rollout.watch in Environment %q: %s", env.Name, msg))
		return
	}
	if v := JudgeRollout(p, env, "", x.in.Now); v.Phase == batonv1alpha1.PromotionFailed && v.Reason == batonv1alpha1.RolloutFailedReason {
		x.closeOut(v.Phase, v.Reason, v.Message)
		return
	}
	end := x.in.Now
	if p.Status.PhaseSince != nil {
		end = p.Status.PhaseSince.Add(Watch(env))
	}
	if x.in.Now.Before(end) {
		x.d.RequeueAfter = end.Sub(x.in.Now)
		return
	}
	if msg, ok := pendingJob(p, env); ok && x.in.Now.Before(end.Add(jobHold(env))) {
		x.setPhase(batonv1alpha1.PromotionVerifying, batonv1alpha1.WatchingReason,
			fmt.Sprintf("spec.rollout.watch (%s) has passed without a breach; waiting for the Job of a job check for revision %d: %s", Watch(env), p.Status.Revision, msg))
		x.d.RequeueAfter = jobPoll
		return
	}
	x.closeOut(batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason,
		fmt.Sprintf("Environment %q runs %s as revision %d, and no check breached during spec.rollout.watch (%s)", env.Name, p.Status.Image, p.Status.Revision, Watch(env)))
}

// breachedCheck is the message of a check that breached for the
// Promotion's image and revision: a re-ship of an image is judged again,
// and what its checks found for an earlier revision of the same image (a
// breach, or the Job of a job check) judges nothing here.
func breachedCheck(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (string, bool) {
	v := env.Status.Verification
	if v == nil || !image.Same(v.Image, "", p.Status.Image, p.Status.Digest) {
		return "", false
	}
	// 0: written before status.verification.revision existed.
	ownRevision := v.Revision == 0 || v.Revision == p.Status.Revision
	for _, c := range v.Checks {
		if c.Breached && ((!isJobCheck(env, c.Name) && ownRevision) || c.Revision == p.Status.Revision) {
			return c.Message, true
		}
	}
	return "", false
}

// jobPoll is how often a Promotion whose watch has passed looks again for
// the verdict of a job check's Job (a finished Job also changes the
// Environment's status, which reconciles the Promotion sooner).
const jobPoll = 10 * time.Second

// jobHold bounds how long past the watch a Promotion waits for the Jobs of
// job checks: the longest activeDeadlineSeconds, after which the Job
// controller fails a Job that still runs, and a minute for it to do so. A
// Job that never ran by then (one that cannot be created) fails nothing,
// as an unreachable Prometheus fails nothing.
func jobHold(env *batonv1alpha1.Environment) time.Duration {
	var hold time.Duration
	for _, c := range env.Spec.Verification.Checks {
		if c.Job != nil {
			hold = max(hold, time.Duration(ptr.Deref(c.Job.ActiveDeadlineSeconds, jobtemplate.DefaultDeadline))*time.Second)
		}
	}
	return hold + time.Minute
}

// pendingJob says which job check has no verdict yet from the Job of the
// Promotion's own image and revision: one whose status is still an earlier
// revision's (or another image's), or whose Job runs. The watch does not
// end before it: a smoke test that has not finished has not passed. A job
// check whose Job cannot be created (status Error for this revision) holds
// nothing.
func pendingJob(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) (string, bool) {
	v := env.Status.Verification
	for _, c := range env.Spec.Verification.Checks {
		if c.Job == nil {
			continue
		}
		var cs *batonv1alpha1.CheckStatus
		if v != nil && image.Same(v.Image, "", p.Status.Image, p.Status.Digest) {
			for i := range v.Checks {
				if v.Checks[i].Name == c.Name {
					cs = &v.Checks[i]
				}
			}
		}
		switch {
		case cs == nil || cs.Revision != p.Status.Revision:
			return fmt.Sprintf("check %s has not started it yet", c.Name), true
		case cs.Verdict == batonv1alpha1.CheckInconclusive || cs.Verdict == "":
			return cs.Message, true
		}
	}
	return "", false
}

func isJobCheck(env *batonv1alpha1.Environment, name string) bool {
	for _, c := range env.Spec.Verification.Checks {
		if c.Name == name {
			return c.Job != nil
		}
	}
	return false
}
