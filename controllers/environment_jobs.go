package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/verification"
)

// Job checks: the manager creates each check's Job in the cluster of the
// workloads (jobtemplate.Target), reads it back through that cluster's
// cache, deletes the oldest, and lists a failed Job's Pods (uncached)
// for their termination message.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// jobRetry is how soon a Job that could not be created is tried again.
const jobRetry = 10 * time.Second

// evaluateJob brings the status of job check i up to date: it creates the
// check's Job for the image and revision the workload runs, once, and
// folds what the Job says. A Job that already passed or failed for this
// image and revision is not read again. It returns how soon to look again
// when something failed; a Job's own progress arrives as a watch event.
func (r *EnvironmentReconciler) evaluateJob(ctx context.Context, env *batonv1alpha1.Environment, i int, cs *batonv1alpha1.CheckStatus, image string) time.Duration {
	c := &env.Spec.Verification.Checks[i]
	revision := health.RevisionOf(env.Status.History, image)
	if revision == 0 {
		// The first observation of an image records its revision; the
		// status write that follows reconciles again.
		return 0
	}
	name := verification.JobName(env, c, image, revision)
	if cs.Job == name && (cs.Verdict == batonv1alpha1.CheckPass || cs.Verdict == batonv1alpha1.CheckFail) {
		return 0
	}
	field := fmt.Sprintf("spec.verification.checks[%d].job", i)
	t, classify, err := jobTarget(ctx, r.Jobs, r.Client, r.APIReader, env)
	if err != nil {
		// The cluster of spec.cluster: its condition says what is wrong.
		reason, msg := batonv1alpha1.JobCreateFailedReason, fmt.Sprintf("%s: the cluster of spec.cluster: %v", field, err)
		if w, ok := outcome.AsWaiting(err); ok {
			reason = w.Reason
		} else if s, ok := outcome.AsStalled(err); ok {
			reason = s.Reason
		}
		verification.Fold(cs, c, verification.Errored(c.Name, reason, msg, r.Clock.Now()))
		cs.Job, cs.Revision = name, revision
		return jobRetry
	}
	job, err := r.ensureJob(ctx, t, env, c, image, revision)
	if err != nil {
		err = classify(err)
		reason, msg := batonv1alpha1.JobCreateFailedReason, fmt.Sprintf("%s: create Job %s/%s: %v", field, t.Namespace, name, err)
		if causes := jobtemplate.Causes(err, field); causes != nil {
			// The webhook dry-runs this Job, so this is a template
			// admitted before it did, or a policy that changed since.
			reason, msg = batonv1alpha1.InvalidCheckReason, fmt.Sprintf("the API server refused the Job %s/%s: %s", t.Namespace, name, jobtemplate.Message(causes))
		} else if w, ok := outcome.AsWaiting(err); ok {
			reason = w.Reason
		}
		verification.Fold(cs, c, verification.Errored(c.Name, reason, msg, r.Clock.Now()))
		cs.Job, cs.Revision = name, revision
		return jobRetry
	}
	termination := ""
	if verification.Finished(job) && job.Status.Failed > 0 {
		termination = podTermination(ctx, t.Reader, job)
	}
	s := verification.JudgeJob(c.Name, job, termination, r.Clock.Now())
	if cs.Job == name && cs.Verdict == s.Verdict && cs.Reason == s.Reason && cs.Message == s.Message {
		return 0 // nothing new: no status write
	}
	verification.Fold(cs, c, s)
	cs.Job, cs.Revision = name, revision
	return 0
}

// ensureJob returns the Job of check c for image at revision, creating it
// in t when it does not exist. The name is deterministic, so a Job the
// cache has not seen yet (or that a previous manager created) answers
// AlreadyExists and is read instead: the test runs exactly once.
func (r *EnvironmentReconciler) ensureJob(ctx context.Context, t jobtemplate.Target, env *batonv1alpha1.Environment, c *batonv1alpha1.VerificationCheck, image string, revision int64) (*batchv1.Job, error) {
	want := verification.BuildJob(env, c, image, revision)
	t.Place(want)
	key := client.ObjectKeyFromObject(want)
	job := &batchv1.Job{}
	err := t.Client.Get(ctx, key, job)
	if err == nil || !apierrors.IsNotFound(err) {
		return job, err
	}
	err = t.Client.Create(ctx, want)
	if apierrors.IsAlreadyExists(err) {
		return job, t.Reader.Get(ctx, key, job)
	}
	if err != nil {
		return nil, err
	}
	logf.FromContext(ctx).Info("started the Job of a check", "check", c.Name, "job", klog.KObj(want), "image", image, "revision", revision, "remote", t.Remote)
	r.collectJobs(ctx, t, env, c.Name)
	return want, nil
}

// collectJobs deletes the Jobs of a check beyond the verification.JobsKept
// newest, with their Pods. A Job it cannot delete stays until the next
// Job of the check is created.
func (r *EnvironmentReconciler) collectJobs(ctx context.Context, t jobtemplate.Target, env *batonv1alpha1.Environment, check string) {
	log := logf.FromContext(ctx)
	jobs := &batchv1.JobList{}
	if err := t.Client.List(ctx, jobs, client.InNamespace(t.Namespace),
		t.Selector(map[string]string{verification.JobEnvironmentLabel: env.Name, verification.JobCheckLabel: check})); err != nil {
		log.Error(err, "list the Jobs of a check", "check", check)
		return
	}
	for _, job := range verification.JobsToCollect(jobs.Items) {
		if err := t.Client.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			log.Error(err, "delete an old Job of a check", "job", klog.KObj(&job))
		}
	}
}
