package jobtemplate_test

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/jobtemplate"
)

func TestTemplateField(t *testing.T) {
	const base = "spec.verification.checks[2].job"
	for _, tc := range []struct{ job, want string }{
		{"spec.template.spec.containers", base + ".template.spec.containers"},
		{"spec.template.spec.containers[0].name", base + ".template.spec.containers[0].name"},
		{"spec.template", base + ".template"},
		{"spec.backoffLimit", base + ".backoffLimit"},
		{"spec.activeDeadlineSeconds", base + ".activeDeadlineSeconds"},
		{"spec.templateGeneration", base + " (the Job's spec.templateGeneration)"},
		{"metadata.name", base + " (the Job's metadata.name)"},
		{"", base},
	} {
		if got := jobtemplate.TemplateField(tc.job, base); got != tc.want {
			t.Errorf("TemplateField(%q) = %q, want %q", tc.job, got, tc.want)
		}
	}
}

func TestCauses(t *testing.T) {
	const base = "spec.verification.checks[0].job"
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x", field.ErrorList{
		field.Required(field.NewPath("spec", "template", "spec", "containers"), ""),
	})
	got := jobtemplate.Causes(invalid, base)
	if len(got) != 1 || got[0].Field != base+".template.spec.containers" || got[0].Message != "Required value" {
		t.Fatalf("Causes(Invalid) = %+v", got)
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x", errors.New("denied by policy no-root"))
	if got := jobtemplate.Causes(forbidden, base); len(got) != 1 || got[0].Field != base+".template" {
		t.Fatalf("Causes(Forbidden) = %+v", got)
	}
	if got := jobtemplate.Causes(apierrors.NewServiceUnavailable("etcd"), base); got != nil {
		t.Fatalf("Causes(ServiceUnavailable) = %+v, want nil: not the template's fault", got)
	}
	if got := jobtemplate.Causes(errors.New("connection refused"), base); got != nil {
		t.Fatalf("Causes(plain error) = %+v, want nil", got)
	}
}

func TestBuild(t *testing.T) {
	tmpl := &batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Image: "i"}},
		Containers: []corev1.Container{{Name: "smoke", Image: "s", Env: []corev1.EnvVar{
			{Name: "KEEP", Value: "1"}, {Name: "BATON_IMAGE", Value: "forged"},
		}}},
	}}}
	vars := []corev1.EnvVar{{Name: "BATON_IMAGE", Value: "web:1"}}
	job := jobtemplate.Build(tmpl, metav1.ObjectMeta{Name: "n", Namespace: "ns"}, vars)
	if job.Name != "n" || job.Namespace != "ns" {
		t.Errorf("metadata = %s/%s", job.Namespace, job.Name)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q, want Never when empty", job.Spec.Template.Spec.RestartPolicy)
	}
	if *job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != jobtemplate.DefaultDeadline {
		t.Errorf("backoffLimit %d, activeDeadlineSeconds %d", *job.Spec.BackoffLimit, *job.Spec.ActiveDeadlineSeconds)
	}
	want := []corev1.EnvVar{{Name: "KEEP", Value: "1"}, {Name: "BATON_IMAGE", Value: "web:1"}}
	if got := job.Spec.Template.Spec.Containers[0].Env; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("container env = %v, want %v: Baton's variables replace the template's", got, want)
	}
	if got := job.Spec.Template.Spec.InitContainers[0].Env; len(got) != 1 || got[0] != vars[0] {
		t.Errorf("init container env = %v", got)
	}
	if tmpl.Template.Spec.Containers[0].Env[1].Value != "forged" || tmpl.Template.Spec.RestartPolicy != "" {
		t.Error("Build changed the template it was given")
	}

	tmpl.BackoffLimit, tmpl.ActiveDeadlineSeconds = ptr.To[int32](2), ptr.To[int64](30)
	tmpl.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	job = jobtemplate.Build(tmpl, metav1.ObjectMeta{}, nil)
	if *job.Spec.BackoffLimit != 2 || *job.Spec.ActiveDeadlineSeconds != 30 || job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("the template's own values were not kept: %+v", job.Spec)
	}
}
