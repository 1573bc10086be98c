package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Source makes an entry Environment follow a branch of the application's
// repository: each new head of the branch becomes one Promotion here, of the
// image that CI builds for that commit.
type Source struct {
	// Git is the application repository and branch to follow.
	// +required
	Git GitSource `json:"git"`

	// Image is a Go text/template that maps a commit to the image CI builds
	// for it, such as registry.example.com/web:{{ .ShortSHA }}. It sees .SHA
	// (40 hex digits), .ShortSHA (the first 7) and .Branch. The rendered
	// text must be an image reference. range and template actions are not
	// allowed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
}

// GitSource is the application repository a Source follows.
type GitSource struct {
	// URL of the repository: https://, http://, ssh:// or scp-like
	// git@host:path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)\S+$`
	URL string `json:"url"`

	// Branch to follow. Empty means main.
	// +optional
	// +kubebuilder:default=main
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s~^:?*\[\\]+$`
	Branch string `json:"branch,omitempty"`

	// SecretRef names a Secret in the Environment's namespace with read
	// credentials, with the same keys, type or label as
	// delivery.git.secretRef. Empty means anonymous access.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Interval is how often Baton reads the head of the branch. Empty means
	// 1m. A webhook (webhookSecretRef) makes a merge deploy without waiting
	// for it.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`

	// WebhookSecretRef names a Secret in the Environment's namespace whose
	// key "token" is the webhook secret shared with GitHub, GitLab or Gitea.
	// Empty means the receiver refuses hooks for this Environment and Baton
	// only polls.
	// +optional
	WebhookSecretRef *LocalObjectReference `json:"webhookSecretRef,omitempty"`
}

// SourceStatus is what Baton last saw of spec.source.
type SourceStatus struct {
	// Commit is the last head of the branch Baton saw.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Commit string `json:"commit,omitempty"`

	// SeenAt is when Baton first saw that head.
	// +optional
	SeenAt *metav1.Time `json:"seenAt,omitempty"`

	// Promotion is the last Promotion created for a head of the branch.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Promotion string `json:"promotion,omitempty"`

	// LastHandledRequest is the value of the
	// promotion.baton.dev/source-requested-at annotation that Baton last
	// acted on.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastHandledRequest string `json:"lastHandledRequest,omitempty"`
}
