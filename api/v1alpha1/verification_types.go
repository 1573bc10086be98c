package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Verification says when an image counts as verified here.
type Verification struct {
	// SoakTime is how long a rollout must stay complete and healthy, without a
	// break, before its image is verified. Empty means 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	SoakTime *metav1.Duration `json:"soakTime,omitempty"`
}

// RolloutPolicy says how Baton watches a rollout.
type RolloutPolicy struct {
	// Timeout is how long a rollout may take before the Promotion fails.
	// Empty means 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// AutoRollback rolls back to the previous successful revision when a
	// rollout fails.
	// +optional
	AutoRollback bool `json:"autoRollback,omitempty"`
}

// VerifiedImage is an image that ran complete and healthy here for the soak
// time.
type VerifiedImage struct {
	// Image reference.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// VerifiedAt is when the soak time was reached.
	// +required
	VerifiedAt metav1.Time `json:"verifiedAt"`
}

// RejectedImage is an image this environment was rolled back away from.
// autoPromote never ships it again.
type RejectedImage struct {
	// Image reference.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// RejectedAt is when the rollback away from it started.
	// +required
	RejectedAt metav1.Time `json:"rejectedAt"`

	// Promotion is the rollback Promotion that rejected it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Promotion string `json:"promotion,omitempty"`
}
