package testenv

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// envtest runs no kube-controller-manager, so nothing writes a workload's
// status. These helpers play the Deployment, StatefulSet and DaemonSet
// controllers: each reads the workload afresh and writes the status that
// controller would write for the workload's current generation.

// DaemonSetNodes is how many nodes the helpers pretend a DaemonSet runs on.
const DaemonSetNodes = 3

// RolloutComplete writes the status of a finished rollout: the generation is
// observed and every replica is updated, ready and available.
func RolloutComplete(ctx context.Context, c client.Client, obj client.Object) error {
	return writeStatus(ctx, c, obj, func(replicas int32) rolloutState {
		return rolloutState{updated: replicas, available: replicas}
	})
}

// RolloutProgressing writes the status of a rollout under way: the
// generation is observed, but only some replicas are updated and none of
// those are available yet.
func RolloutProgressing(ctx context.Context, c client.Client, obj client.Object) error {
	return writeStatus(ctx, c, obj, func(replicas int32) rolloutState {
		return rolloutState{updated: max(replicas-1, 0), available: 0}
	})
}

// RolloutFailed writes the status of a Deployment whose rollout exceeded its
// progress deadline, with message as the Progressing condition's message.
// Only Deployments report a failed rollout.
func RolloutFailed(ctx context.Context, c client.Client, obj client.Object, message string) error {
	if _, ok := obj.(*appsv1.Deployment); !ok {
		return fmt.Errorf("only a Deployment reports a failed rollout, not %T", obj)
	}
	return writeStatus(ctx, c, obj, func(replicas int32) rolloutState {
		return rolloutState{updated: max(replicas-1, 0), available: 0, failed: message}
	})
}

type rolloutState struct {
	updated, available int32
	// failed, when set, is the ProgressDeadlineExceeded message.
	failed string
}

func writeStatus(ctx context.Context, c client.Client, obj client.Object, state func(replicas int32) rolloutState) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		switch w := obj.(type) {
		case *appsv1.Deployment:
			setDeploymentStatus(w, state(replicasOf(w.Spec.Replicas)))
		case *appsv1.StatefulSet:
			setStatefulSetStatus(w, state(replicasOf(w.Spec.Replicas)))
		case *appsv1.DaemonSet:
			setDaemonSetStatus(w, state(DaemonSetNodes))
		default:
			return errors.New("not a Deployment, StatefulSet or DaemonSet")
		}
		return c.Status().Update(ctx, obj)
	})
	if err != nil {
		return fmt.Errorf("write rollout status of %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func setDeploymentStatus(d *appsv1.Deployment, s rolloutState) {
	replicas := replicasOf(d.Spec.Replicas)
	available := corev1.ConditionTrue
	if s.available < replicas {
		available = corev1.ConditionFalse
	}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated",
		Message: fmt.Sprintf("ReplicaSet %q is progressing.", d.Name)}
	switch {
	case s.failed != "":
		progressing = appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: s.failed}
	case s.updated == replicas && s.available == replicas:
		progressing.Reason = "NewReplicaSetAvailable"
		progressing.Message = fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name)
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            s.updated,
		UpdatedReplicas:     s.updated,
		ReadyReplicas:       s.available,
		AvailableReplicas:   s.available,
		UnavailableReplicas: replicas - s.available,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: available, Reason: "MinimumReplicasAvailable"},
			progressing,
		},
	}
}

func setStatefulSetStatus(sts *appsv1.StatefulSet, s rolloutState) {
	revision := fmt.Sprintf("%s-%d", sts.Name, sts.Generation)
	current := revision
	if s.updated < replicasOf(sts.Spec.Replicas) {
		current = fmt.Sprintf("%s-%d", sts.Name, sts.Generation-1)
	}
	sts.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: sts.Generation,
		Replicas:           replicasOf(sts.Spec.Replicas),
		ReadyReplicas:      s.available,
		AvailableReplicas:  s.available,
		CurrentReplicas:    s.updated,
		UpdatedReplicas:    s.updated,
		CurrentRevision:    current,
		UpdateRevision:     revision,
	}
}

func setDaemonSetStatus(ds *appsv1.DaemonSet, s rolloutState) {
	ds.Status = appsv1.DaemonSetStatus{
		ObservedGeneration:     ds.Generation,
		DesiredNumberScheduled: DaemonSetNodes,
		CurrentNumberScheduled: DaemonSetNodes,
		UpdatedNumberScheduled: s.updated,
		NumberReady:            s.available,
		NumberAvailable:        s.available,
		NumberUnavailable:      DaemonSetNodes - s.available,
	}
}
