package jobtemplate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DryRunPrefix starts the generated name of a dry-run Job, so that a
// dry run never collides with a Job Baton really created.
const DryRunPrefix = "baton-dry-run-"

// Validate creates job as a server-side dry run, so that the API server's
// own Job and Pod validation (and the cluster's admission) judges exactly
// what Baton would create, without creating it. It returns the refusal's
// causes with each field named under base, the path of the JobTemplate
// (such as spec.verification.checks[0].job), and an error only when the
// API server did not judge the Job at all.
func Validate(ctx context.Context, c client.Client, job *batchv1.Job, base string) ([]metav1.StatusCause, error) {
	job = job.DeepCopy()
	job.Name, job.GenerateName, job.ResourceVersion = "", DryRunPrefix, ""
	err := c.Create(ctx, job, client.DryRunAll)
	if err == nil {
		return nil, nil
	}
	if causes := Causes(err, base); causes != nil {
		return causes, nil
	}
	return nil, fmt.Errorf("dry run of the Job of %s: %w", base, err)
}

// Causes is what an API server's refusal to create a Job built from the
// JobTemplate at base says, each field renamed from the Job's to the
// template's (spec.template.spec.containers becomes
// base.template.spec.containers), or nil when err is not a refusal of the
// Job's content (Invalid, or Forbidden by an admission plugin).
func Causes(err error, base string) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return nil
	}
	s := status.Status()
	switch s.Reason {
	case metav1.StatusReasonInvalid:
	case metav1.StatusReasonForbidden:
		// An admission plugin or policy of the cluster refused the Job
		// (the manager may create Jobs): a refusal of the template.
		return []metav1.StatusCause{{Type: metav1.CauseTypeForbidden, Field: base + ".template", Message: s.Message}}
	default:
		return nil
	}
	var causes []metav1.StatusCause
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			c.Field = TemplateField(c.Field, base)
			causes = append(causes, c)
		}
	}
	if len(causes) == 0 {
		causes = []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: base + ".template", Message: s.Message}}
	}
	return causes
}

// TemplateField is the path in a JobTemplate at base of field, a path in
// the Job built from it. A field Baton sets itself (the Job's metadata) is
// named as the Job's, under base.
func TemplateField(field, base string) string {
	for job, tmpl := range map[string]string{
		"spec.template":              ".template",
		"spec.backoffLimit":          ".backoffLimit",
		"spec.activeDeadlineSeconds": ".activeDeadlineSeconds",
	} {
		if field == job || strings.HasPrefix(field, job+".") || strings.HasPrefix(field, job+"[") {
			return base + tmpl + strings.TrimPrefix(field, job)
		}
	}
	if field == "" {
		return base
	}
	return fmt.Sprintf("%s (the Job's %s)", base, field)
}

// Message is causes as one line: each field and what is wrong with it.
func Message(causes []metav1.StatusCause) string {
	parts := make([]string, 0, len(causes))
	for _, c := range causes {
		parts = append(parts, c.Field+": "+c.Message)
	}
	return strings.Join(parts, "; ")
}
