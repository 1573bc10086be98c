package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
)

// patchStatus writes the status with a merge patch that carries the
// resourceVersion, so that a concurrent write by the Promotion engine (the
// lease, history entries) makes it fail with Conflict instead of being
// overwritten. Nothing is sent when nothing changed.
func (r *EnvironmentReconciler) patchStatus(ctx context.Context, old, env *batonv1alpha1.Environment) error {
	if equality.Semantic.DeepEqual(old.Status, env.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, env, patch); err != nil {
		return fmt.Errorf("patch status of Environment %s: %w", client.ObjectKeyFromObject(env), err)
	}
	return nil
}

// event emits a Kubernetes Event about the Environment and logs it.
func (r *EnvironmentReconciler) event(ctx context.Context, env *batonv1alpha1.Environment, ev health.Event) {
	ctrl.LoggerFrom(ctx).Info(ev.Message, "environment", klog.KObj(env), "type", ev.Type, "reason", ev.Reason)
	r.Recorder.Eventf(env, nil, ev.Type, ev.Reason, ev.Reason, "%s", ev.Message)
}
