package verification

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
)

// Labels and annotations Baton puts on the Jobs of job checks. The labels
// select them for the manager's cache and for garbage collection.
const (
	// JobEnvironmentLabel names the Environment a check Job belongs to.
	JobEnvironmentLabel = "promotion.baton.dev/environment"
	// JobCheckLabel names the check a Job runs.
	JobCheckLabel = "promotion.baton.dev/check"
	// JobImageAnnotation and JobRevisionAnnotation say what the Job tested.
	JobImageAnnotation    = "promotion.baton.dev/image"
	JobRevisionAnnotation = "promotion.baton.dev/revision"

	// JobsKept is how many Jobs of each check Baton keeps, the newest, for
	// debugging; older ones are deleted with their Pods.
	JobsKept = 3

	// terminationTail is how much of a Pod's termination message a
	// failing check quotes: its end, where a test prints what failed.
	terminationTail = 512
)

// JobName is the name of the one Job that check c runs for image at
// revision in env: deterministic, so a manager that restarts finds the Job
// it created instead of running the test twice, and new whenever the
// image, the revision or the check's job changes. It fits in 63 characters,
// since the Job controller copies it into a label of the Pods.
func JobName(env *batonv1alpha1.Environment, c *batonv1alpha1.VerificationCheck, image string, revision int64) string {
	spec, _ := json.Marshal(c.Job) // a plain struct: cannot fail
	sum := sha256.Sum256([]byte(strings.Join([]string{env.Namespace, env.Name, c.Name, image, strconv.FormatInt(revision, 10), string(spec)}, "\x00")))
	suffix := fmt.Sprintf("-r%d-%s", revision, hex.EncodeToString(sum[:])[:8])
	prefix := env.Name + "-" + c.Name
	if max := 63 - len(suffix); len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-.")
	}
	return prefix + suffix
}

// BuildJob is the Job that check c runs for image at revision, owned by
// env (a controller reference, so deleting the Environment deletes its
// Jobs). Every container gets BATON_IMAGE, BATON_REVISION,
// BATON_ENVIRONMENT and BATON_NAMESPACE, replacing any the template set,
// and the Pods carry the image and revision annotations, as the Job does.
// The admission webhook dry-runs this same Job.
func BuildJob(env *batonv1alpha1.Environment, c *batonv1alpha1.VerificationCheck, image string, revision int64) *batchv1.Job {
	job := jobtemplate.Build(c.Job, metav1.ObjectMeta{
		Name:      JobName(env, c, image, revision),
		Namespace: env.Namespace,
		Labels:    map[string]string{JobEnvironmentLabel: env.Name, JobCheckLabel: c.Name},
		Annotations: map[string]string{
			JobImageAnnotation:    image,
			JobRevisionAnnotation: strconv.FormatInt(revision, 10),
		},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(env, batonv1alpha1.GroupVersion.WithKind("Environment"))},
	}, []corev1.EnvVar{
		{Name: "BATON_IMAGE", Value: image},
		{Name: "BATON_REVISION", Value: strconv.FormatInt(revision, 10)},
		{Name: "BATON_ENVIRONMENT", Value: env.Name},
		{Name: "BATON_NAMESPACE", Value: env.Namespace},
	})
	// The Pods say what they test too (kubectl get pods shows it, and the
	// dev cluster's kwok fails a smoke test by it).
	pod := &job.Spec.Template.ObjectMeta
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[JobImageAnnotation] = image
	pod.Annotations[JobRevisionAnnotation] = strconv.FormatInt(revision, 10)
	return job
}

// JudgeJob is the Sample of a check's Job at at: Pass once the Job
// succeeded, Fail once it failed (the message carries the Job's reason and
// the tail of its Pod's termination message, termination), and
// Inconclusive with reason CheckPending while it runs: never a pass.
func JudgeJob(check string, job *batchv1.Job, termination string, at time.Time) Sample {
	s := Sample{At: at}
	when := at.UTC().Format(time.RFC3339)
	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		s.Verdict, s.Reason = batonv1alpha1.CheckFail, batonv1alpha1.CheckFailedReason
		s.Value = c.Reason
		s.Message = fmt.Sprintf("check %s: Job %s failed (%s: %s) at %s", check, job.Name, c.Reason, c.Message, when)
		if t := tail(termination, terminationTail); t != "" {
			s.Message += fmt.Sprintf("; its Pod's termination message ends: %q", t)
		}
		return s
	}
	if jobCondition(job, batchv1.JobComplete) != nil {
		s.Verdict, s.Value = batonv1alpha1.CheckPass, "Complete"
		s.Message = fmt.Sprintf("check %s: Job %s succeeded at %s", check, job.Name, when)
		return s
	}
	s.Verdict, s.Reason = batonv1alpha1.CheckInconclusive, batonv1alpha1.CheckPendingReason
	s.Message = fmt.Sprintf("check %s: Job %s is running (%d active, %d failed); the check passes when it succeeds", check, job.Name, job.Status.Active, job.Status.Failed)
	return s
}

// Finished reports whether a Job is over, one way or the other.
func Finished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobFailed) != nil || jobCondition(job, batchv1.JobComplete) != nil
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// TerminationMessage is what the failed containers of pods said when they
// ended: the reason, the exit code and the termination message of each.
func TerminationMessage(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			part := fmt.Sprintf("%s: %s (exit code %d)", cs.Name, t.Reason, t.ExitCode)
			if m := strings.TrimSpace(t.Message); m != "" {
				part += ": " + m
			}
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, "; ")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// JobsToCollect are the Jobs of one check beyond the JobsKept newest (by
// creation, then name), which garbage collection deletes.
func JobsToCollect(jobs []batchv1.Job) []batchv1.Job {
	if len(jobs) <= JobsKept {
		return nil
	}
	sorted := append([]batchv1.Job(nil), jobs...)
	sort.SliceStable(sorted, func(a, b int) bool {
		ta, tb := sorted[a].CreationTimestamp, sorted[b].CreationTimestamp
		if !ta.Equal(&tb) {
			return tb.Before(&ta)
		}
		return sorted[a].Name > sorted[b].Name
	})
	return sorted[JobsKept:]
}

// JobSelector selects the Jobs Baton runs, those of job checks and the
// release Jobs (both carry JobEnvironmentLabel), for a cache.
func JobSelector() labels.Selector {
	req, err := labels.NewRequirement(JobEnvironmentLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}

// SlimJob is a cache transform: it keeps what Baton reads of a Job, its
// metadata without managedFields and its status, and drops the Pod
// template, which may be large. Baton reads a Job's template uncached.
func SlimJob(obj any) (any, error) {
	if job, ok := obj.(*batchv1.Job); ok {
		job.Spec.Template = corev1.PodTemplateSpec{}
		job.ManagedFields = nil
	}
	return obj, nil
}
