package promote

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/release"
)

// releasing runs the Environment's release Job once, and moves on to
// Promoting when it succeeded. A release that fails, or does not succeed
// within spec.release.timeout, fails the Promotion before any workload
// changed: its history entry is closed Failed, the lease released, and
// nothing is rolled back, since nothing moved.
func (x *decider) releasing() {
	p, env := x.p, x.env
	if !x.holdsLease() {
		x.d.Err = fmt.Errorf("promotion is Releasing but Environment %s is leased to %v", env.Name, env.Status.ActivePromotion)
		return
	}
	if env.Spec.Release == nil && p.Status.Release == nil {
		// spec.release was removed before the Job was created.
		x.toPromoting(fmt.Sprintf("Environment %q has no spec.release any more; delivering %s as revision %d", env.Name, p.Status.Image, p.Status.Revision))
		return
	}
	subject := release.Subject{Promotion: p, Image: deliveredRef(p, env)}
	out := x.in.Release
	if out == nil {
		x.runRelease(subject)
		return
	}
	if out.Err != nil {
		if w, ok := outcome.AsWaiting(out.Err); ok {
			// The cluster of spec.cluster does not answer: the release
			// waits for it, holding the lease, with nothing changed.
			x.setPhase(batonv1alpha1.PromotionReleasing, w.Reason, w.Message+"; the release Job waits for it, and no workload changes before it succeeds")
			x.d.RequeueAfter = w.RequeueAfter
			return
		}
		if s, ok := outcome.AsStalled(out.Err); ok {
			x.releaseFailed(s.Message + "; nothing was changed")
			return
		}
		x.d.Err = fmt.Errorf("run the release Job %s: %w", release.JobName(p.Name), out.Err)
		return
	}
	name := release.JobName(p.Name)
	st := batonv1alpha1.ReleaseStatus{Job: name, Result: batonv1alpha1.ReleaseRunning, StartedAt: x.now()}
	if p.Status.Release != nil && p.Status.Release.StartedAt != nil {
		st.StartedAt = p.Status.Release.StartedAt
	}
	timeout := release.Timeout(env)
	deadline := st.StartedAt.Add(timeout)
	job := out.Job
	switch {
	case job == nil && !x.in.Now.Before(deadline):
		x.releaseTimedOut(st, timeout)
		return
	case job == nil:
		x.releaseFailed(fmt.Sprintf("the release Job %s was deleted before it finished; Baton runs it once per Promotion, so it is not run again. Nothing was changed: create a new Promotion to release again", name))
		return
	}
	if err := release.Owned(job, env, subject); err != nil {
		x.releaseFailed(fmt.Sprintf("Job %s/%s exists but is not the release Job Baton created for this Promotion (%v): Baton does not adopt it, and ran no release. Nothing was changed: delete that Job, then create a new Promotion", job.Namespace, name, err))
		return
	}
	v := release.Judge(job, out.Termination)
	switch v.Result {
	case batonv1alpha1.ReleaseSucceeded:
		st.Result, st.FinishedAt = batonv1alpha1.ReleaseSucceeded, v.At
		p.Status.Release = &st
		x.event(corev1.EventTypeNormal, batonv1alpha1.ReleasingReason, "Release", "The release Job %s of %s succeeded", name, subject.Image)
		x.toPromoting(fmt.Sprintf("The release Job %s succeeded; delivering %s to Environment %q as revision %d", name, p.Status.Image, env.Name, p.Status.Revision))
		return
	case batonv1alpha1.ReleaseFailed:
		st.Result, st.FinishedAt, st.Message = batonv1alpha1.ReleaseFailed, v.At, Truncate(v.Message, 2048)
		p.Status.Release = &st
		x.releaseFailed(v.Message + "; no workload was changed")
		return
	}
	if !x.in.Now.Before(deadline) {
		if !out.Deleted {
			x.d.Action, x.d.Release = DeleteRelease, job
			return
		}
		x.releaseTimedOut(st, timeout)
		return
	}
	p.Status.Release = &st
	x.setPhase(batonv1alpha1.PromotionReleasing, batonv1alpha1.ReleasingReason,
		fmt.Sprintf("The release Job %s runs %s (since %s, spec.release.timeout %s); no workload changes before it succeeds",
			name, subject.Image, st.StartedAt.UTC().Format("15:04:05Z"), timeout))
	// The Job's end arrives as a watch event; only the timeout needs a
	// clock.
	x.d.RequeueAfter = deadline.Sub(x.in.Now)
}

// runRelease asks for the release Job: created only until the Promotion
// recorded one. Before it is first created, everything checked before
// delivery is checked again, since the Job runs the new image.
func (x *decider) runRelease(s release.Subject) {
	p, env := x.p, x.env
	create := p.Status.Release == nil
	if create {
		if v := x.checks(); !v.ok {
			reason := v.reason
			if v.waiting {
				reason = batonv1alpha1.NotApprovedReason
			}
			x.closeOut(batonv1alpha1.PromotionFailed, reason, v.message+"; checked again right before the release Job, nothing was run or changed")
			return
		}
	}
	if env.Spec.Release == nil {
		// Removed after the Job was created: look the Job up, never create
		// it again.
		x.d.Action, x.d.Release = RunRelease, lookupOnly(env.Namespace, release.JobName(p.Name))
		return
	}
	job, err := release.BuildJob(env, s)
	if err != nil {
		x.releaseFailed(err.Error() + "; nothing was run or changed")
		return
	}
	x.d.Action, x.d.Release, x.d.ReleaseCreate = RunRelease, job, create
}

func (x *decider) releaseTimedOut(st batonv1alpha1.ReleaseStatus, timeout time.Duration) {
	msg := fmt.Sprintf("the release Job %s did not succeed within spec.release.timeout (%s); Baton deleted it, and no workload was changed", st.Job, timeout)
	st.Result, st.FinishedAt, st.Message = batonv1alpha1.ReleaseFailed, x.now(), msg
	x.p.Status.Release = &st
	x.releaseFailed(msg)
}

// releaseFailed ends the Promotion before any workload changed.
func (x *decider) releaseFailed(message string) {
	x.closeOut(batonv1alpha1.PromotionFailed, batonv1alpha1.ReleaseFailedReason, "Release failed: "+message)
}

func (x *decider) toPromoting(message string) {
	x.setPhase(batonv1alpha1.PromotionPromoting, batonv1alpha1.ProgressingReason, message)
}

// lookupOnly names the Job to find, without a template to create.
func lookupOnly(namespace, name string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
}
