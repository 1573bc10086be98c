package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UserInfo is an identity as the API server authenticated it. Baton copies it
// from the admission request; a client can never set it.
type UserInfo struct {
	// Username is the authenticated user name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username"`

	// UID is the authenticated user's UID, when the authenticator provides one.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	UID string `json:"uid,omitempty"`

	// Groups are the authenticated user's groups.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	Groups []string `json:"groups,omitempty"`
}

// Approval is one approving request, recorded by the admission webhook. It
// counts only for the image it names.
type Approval struct {
	// UserInfo is who approved.
	UserInfo `json:",inline"`

	// Image is the resolved image this approval is for (status.image of the
	// Promotion at the time of approval).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest is the digest of Image this approval is for (status.digest of
	// the Promotion at the time of approval), when it was known. An
	// approval counts only for that digest: other bytes under the same tag
	// need another approval.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// ApprovedAt is when the approving request was admitted.
	// +required
	ApprovedAt metav1.Time `json:"approvedAt"`
}

// ObjectRef names an object and pins its UID.
type ObjectRef struct {
	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// UID of the object, so that a deleted and re-created object with the same
	// name is not mistaken for the original.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	UID string `json:"uid,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
