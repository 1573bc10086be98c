package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/verification"
)

// The release phase: the engine creates each Promotion's release Job once,
// watches it (it owns it, or, in a remote cluster, that cluster's cache
// does), deletes one that timed out, and lists a failed one's Pods
// (uncached) for their termination message.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// JobTargets says where an Environment's Jobs run: remote.Workloads.
type JobTargets interface {
	Jobs(ctx context.Context, env *batonv1alpha1.Environment) (jobtemplate.Target, error)
	// Classify turns an error of a Target's clients into what Baton does
	// about it (ClusterUnreachable for a remote cluster that went away).
	Classify(env *batonv1alpha1.Environment, err error) error
}

// jobs is where env's release Jobs run.
func (r *PromotionReconciler) jobs(ctx context.Context, env *batonv1alpha1.Environment) (jobtemplate.Target, func(error) error, error) {
	return jobTarget(ctx, r.Jobs, r.Client, r.APIReader, env)
}

// jobTarget is where env's Jobs run, and how to classify its clients'
// errors: the manager's own clients c and reader when jt is nil.
func jobTarget(ctx context.Context, jt JobTargets, c client.Client, reader client.Reader, env *batonv1alpha1.Environment) (jobtemplate.Target, func(error) error, error) {
	if jt == nil {
		return jobtemplate.Target{Client: c, Reader: reader, Namespace: env.Namespace, EnvironmentNamespace: env.Namespace},
			func(err error) error { return err }, nil
	}
	t, err := jt.Jobs(ctx, env)
	return t, func(err error) error { return jt.Classify(env, err) }, err
}

// runRelease finds the release Job uncached, since Decide acts on it, and
// creates it only when it does not exist and Decide allows it. The name is
// deterministic, so a Job that a manager created before it crashed answers
// the Get, or the Create with AlreadyExists, and is read instead: the
// release runs once per Promotion. Decide judges whose it is. The Job runs
// in the cluster of env's workloads (jobtemplate.Target).
func (r *PromotionReconciler) runRelease(ctx context.Context, env *batonv1alpha1.Environment, want *batchv1.Job, create bool) promote.ReleaseOutcome {
	t, classify, err := r.jobs(ctx, env)
	if err != nil {
		return promote.ReleaseOutcome{Err: err}
	}
	want = want.DeepCopy()
	t.Place(want)
	key := client.ObjectKeyFromObject(want)
	job := &batchv1.Job{}
	err = t.Reader.Get(ctx, key, job)
	switch {
	case err == nil:
	case !apierrors.IsNotFound(err):
		return promote.ReleaseOutcome{Err: classify(fmt.Errorf("read the release Job %s: %w", key.Name, err))}
	case !create:
		return promote.ReleaseOutcome{}
	default:
		err = t.Client.Create(ctx, want)
		switch {
		case apierrors.IsAlreadyExists(err):
			if err := t.Reader.Get(ctx, key, job); err != nil {
				return promote.ReleaseOutcome{Err: classify(fmt.Errorf("read the release Job %s: %w", key.Name, err))}
			}
		case err != nil:
			if causes := jobtemplate.Causes(err, release.Field); causes != nil {
				// The webhook dry-runs this Job, so this is a template
				// admitted before it did, or a policy that changed since.
				return promote.ReleaseOutcome{Err: outcome.Stall(batonv1alpha1.ReleaseFailedReason,
					"the API server refused the release Job %s/%s: %s", key.Namespace, key.Name, jobtemplate.Message(causes))}
			}
			return promote.ReleaseOutcome{Err: classify(fmt.Errorf("create the release Job %s: %w", key.Name, err))}
		default:
			logf.FromContext(ctx).Info("started the release Job", "job", klog.KObj(want), "image", want.Annotations[release.ImageAnnotation], "remote", t.Remote)
			job = want
		}
	}
	out := promote.ReleaseOutcome{Job: job}
	if verification.Finished(job) && job.Status.Failed > 0 {
		out.Termination = podTermination(ctx, t.Reader, job)
	}
	return out
}

// deleteRelease deletes a release Job that ran past spec.release.timeout,
// with its Pods, only if it is still the Job Decide judged.
func (r *PromotionReconciler) deleteRelease(ctx context.Context, env *batonv1alpha1.Environment, job *batchv1.Job) error {
	t, classify, err := r.jobs(ctx, env)
	if err != nil {
		return err
	}
	err = t.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID})
	if client.IgnoreNotFound(err) != nil {
		return classify(fmt.Errorf("delete the release Job %s, which timed out: %w", job.Name, err))
	}
	logf.FromContext(ctx).Info("deleted the release Job, which ran past spec.release.timeout", "job", klog.KObj(job))
	return nil
}

// podTermination is what a failed Job's Pods said when they ended, read
// uncached: the manager caches Jobs, not Pods.
func podTermination(ctx context.Context, reader client.Reader, job *batchv1.Job) string {
	pods := &corev1.PodList{}
	if err := reader.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.ControllerUidLabel: string(job.UID)}); err != nil {
		logf.FromContext(ctx).Error(err, "list the Pods of a failed Job", "job", klog.KObj(job))
		return ""
	}
	return verification.TerminationMessage(pods.Items)
}

// WakeOnRemoteJobs makes clusters wake the Promotion of each release Job
// that changes in a remote cluster, through the channel it returns, for
// PromotionReconciler.RemoteJobs.
func WakeOnRemoteJobs(clusters *remote.Clusters) <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, 1024)
	clusters.NotifyPromotion = func(nn types.NamespacedName) {
		ch <- event.GenericEvent{Object: &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}}
	}
	return ch
}
