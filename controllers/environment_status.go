package controllers

import (
	"context"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/health"
)

// event emits a Kubernetes Event about the Environment and logs it.
func (r *EnvironmentReconciler) event(ctx context.Context, env *batonv1alpha1.Environment, ev health.Event) {
	ctrl.LoggerFrom(ctx).Info(ev.Message, "environment", klog.KObj(env), "type", ev.Type, "reason", ev.Reason)
	r.Recorder.Eventf(env, nil, ev.Type, ev.Reason, ev.Reason, "%s", ev.Message)
}
