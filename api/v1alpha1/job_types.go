package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// JobTemplate is a Job that Baton runs on an Environment's behalf, in its
// namespace, owned by it: a Pod template and the Job's bounds. A job check
// (spec.verification.checks[].job) is one; the release phase's Job will be
// another.
type JobTemplate struct {
	// Template is the Pod that the Job runs. Baton sets restartPolicy Never
	// when it is empty; Always is refused, as a Job refuses it.
	//
	// The CRD does not carry the Pod template's schema (it would make the
	// CRD about 750 KB larger): the admission webhook validates the
	// template by creating, as a server-side dry run, the very Job that
	// Baton would create, and names the field the API server refused. So
	// kubectl explain does not describe it; see
	// `kubectl explain pod.spec` and docs/verification.md.
	// +required
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Template corev1.PodTemplateSpec `json:"template"`

	// BackoffLimit is how many times the Pod is retried before the Job
	// fails. Empty means 0: the first failure fails it.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// ActiveDeadlineSeconds bounds the whole Job: one still running after
	// it fails with reason DeadlineExceeded. Empty means 600.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}
