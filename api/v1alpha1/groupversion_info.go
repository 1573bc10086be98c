// Package v1alpha1 contains the Baton API: Environment and Promotion, in the
// promotion.baton.dev group.
// +kubebuilder:object:generate=true
// +groupName=promotion.baton.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Baton kind.
	GroupVersion = schema.GroupVersion{Group: "promotion.baton.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Baton kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Baton kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
