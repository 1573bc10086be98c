package jobtemplate

import (
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// DefaultDeadline bounds a Job whose activeDeadlineSeconds is empty.
const DefaultDeadline int64 = 600

// ReservedEnvPrefix starts the names of the environment variables Baton
// sets; a template's own variables with such a name are dropped.
const ReservedEnvPrefix = "BATON_"

// Build is the Job that runs t, with meta as its metadata and vars set in
// every container and init container (replacing the template's BATON_
// variables). An empty restartPolicy becomes Never; an empty backoffLimit
// 0 and an empty activeDeadlineSeconds DefaultDeadline.
func Build(t *batonv1alpha1.JobTemplate, meta metav1.ObjectMeta, vars []corev1.EnvVar) *batchv1.Job {
	tmpl := *t.Template.DeepCopy()
	if tmpl.Spec.RestartPolicy == "" {
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	for i := range tmpl.Spec.InitContainers {
		tmpl.Spec.InitContainers[i].Env = withEnv(tmpl.Spec.InitContainers[i].Env, vars)
	}
	for i := range tmpl.Spec.Containers {
		tmpl.Spec.Containers[i].Env = withEnv(tmpl.Spec.Containers[i].Env, vars)
	}
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To(ptr.Deref(t.BackoffLimit, 0)),
			ActiveDeadlineSeconds: ptr.To(ptr.Deref(t.ActiveDeadlineSeconds, DefaultDeadline)),
			Template:              tmpl,
		},
	}
}

// withEnv is env without its reserved variables, then vars.
func withEnv(env, vars []corev1.EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env)+len(vars))
	for _, e := range env {
		if !strings.HasPrefix(e.Name, ReservedEnvPrefix) {
			out = append(out, e)
		}
	}
	return append(out, vars...)
}
