package workload

import (
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Phase is where a rollout stands.
type Phase string

const (
	// PhaseComplete: the observed generation is current and every replica is
	// updated and available.
	PhaseComplete Phase = "Complete"
	// PhaseProgressing: the rollout has not finished yet.
	PhaseProgressing Phase = "Progressing"
	// PhaseFailed: the workload reports that its rollout failed
	// (ProgressDeadlineExceeded).
	PhaseFailed Phase = "Failed"
	// PhaseUnsupported: kubectl cannot judge this rollout, because the
	// update strategy is OnDelete.
	PhaseUnsupported Phase = "Unsupported"
)

// Rollout is the judgement of one workload's rollout.
type Rollout struct {
	// Phase is where the rollout stands.
	Phase Phase
	// Message explains the phase in kubectl's words, or the workload's own
	// condition message when it failed.
	Message string
}

// Complete reports whether the rollout is complete and healthy.
func (r Rollout) Complete() bool { return r.Phase == PhaseComplete }

// AssessRollout judges a Deployment, StatefulSet or DaemonSet with the status
// viewer behind `kubectl rollout status`, so that Baton and kubectl never
// disagree on whether a rollout is done.
func AssessRollout(obj client.Object) (Rollout, error) {
	var gk = appsv1.SchemeGroupVersion.WithKind(kindOf(obj)).GroupKind()
	viewer, err := polymorphichelpers.StatusViewerFor(gk)
	if err != nil {
		return Rollout{}, fmt.Errorf("judge rollout of %T: %w", obj, err)
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return Rollout{}, fmt.Errorf("convert %s %s to unstructured: %w", gk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: content}, 0)
	msg = strings.TrimSpace(msg)
	switch {
	case err == nil && done:
		return Rollout{Phase: PhaseComplete, Message: msg}, nil
	case err == nil:
		return Rollout{Phase: PhaseProgressing, Message: msg}, nil
	}
	// The viewer returns an error both for a failed Deployment and for an
	// update strategy it cannot judge; tell the two apart from the object.
	if d, ok := obj.(*appsv1.Deployment); ok {
		cond := deploymentutil.GetDeploymentCondition(d.Status, appsv1.DeploymentProgressing)
		if cond != nil && cond.Reason == deploymentutil.TimedOutReason {
			if rolledOut(d) {
				return Rollout{Phase: PhaseComplete, Message: fmt.Sprintf("deployment %q successfully rolled out", d.Name)}, nil
			}
			return Rollout{Phase: PhaseFailed, Message: failedMessage(cond.Message, err)}, nil
		}
	}
	if done {
		return Rollout{Phase: PhaseUnsupported, Message: err.Error()}, nil
	}
	return Rollout{}, fmt.Errorf("judge rollout of %s %s: %w", gk.Kind, client.ObjectKeyFromObject(obj), err)
}

// rolledOut reports that every replica of the current generation is updated
// and available. Kubernetes keeps a ProgressDeadlineExceeded condition for one
// sync after a rollback to a ReplicaSet that is still available, at the new
// observedGeneration; kubectl reports that sync as a failure, but the
// replicas say the rollout is complete, and the next sync says so too.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

func failedMessage(conditionMessage string, viewerErr error) string {
	if conditionMessage != "" {
		return conditionMessage
	}
	return viewerErr.Error()
}

// kindOf names the kind of a typed workload; objects from the cache carry no
// TypeMeta, so the kind cannot be read from them.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	}
	return fmt.Sprintf("%T", obj)
}

// errContainerNotFound is returned by containerImage when the pod template
// has no container of the given name.
var errContainerNotFound = errors.New("container not found")

// containerImage returns the image of the named container in a workload's pod
// template, and the names of all containers for a message when it is missing.
func containerImage(obj client.Object, container string) (string, error) {
	var names []string
	for _, c := range podTemplateContainers(obj) {
		if c.Name == container {
			return c.Image, nil
		}
		names = append(names, c.Name)
	}
	return "", fmt.Errorf("%w: %s %s has no container %q (it has: %s)", errContainerNotFound,
		kindOf(obj), client.ObjectKeyFromObject(obj), container, strings.Join(names, ", "))
}
