package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Source makes an entry Environment follow a branch of the application's
// repository: each new head of the branch becomes one Promotion here, of the
// image that CI builds for that commit.
// +kubebuilder:validation:XValidation:rule="!has(self.commitStatus) || has(self.commitStatus.provider) || self.git.url.matches('^(https?://([^@/]+@)?|ssh://([^@/]+@)?|[A-Za-z0-9._-]+@)github[.]com([:/]|$)') || self.git.url.matches('^(https?://([^@/]+@)?|ssh://([^@/]+@)?|[A-Za-z0-9._-]+@)gitlab[.]com([:/]|$)')",message="the host of git.url is neither github.com nor gitlab.com: set commitStatus.provider (github, gitlab or gitea)",fieldPath=".commitStatus.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.commitStatus) || has(self.commitStatus.address) || (self.git.url.matches('^(https?://([^@/]+@)?|ssh://([^@/]+@)?|[A-Za-z0-9._-]+@)github[.]com([:/]|$)') && (!has(self.commitStatus.provider) || self.commitStatus.provider == 'github')) || (self.git.url.matches('^(https?://([^@/]+@)?|ssh://([^@/]+@)?|[A-Za-z0-9._-]+@)gitlab[.]com([:/]|$)') && (!has(self.commitStatus.provider) || self.commitStatus.provider == 'gitlab'))",message="commitStatus.address is required: it defaults only for github.com (https://api.github.com) and gitlab.com (https://gitlab.com)",fieldPath=".commitStatus.address"
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

	// CommitStatus, when set, makes Baton report the state of this
	// Environment and of every Environment downstream of it on each source
	// commit, through the forge's commit-status API: one status context
	// baton/<environment> per Environment. Empty means Baton reports
	// nothing to the forge.
	// +optional
	CommitStatus *CommitStatus `json:"commitStatus,omitempty"`

	// WaitForImage, when set, holds each Promotion the source creates until
	// the registry has its image: CI may still be building it when the
	// merge lands. The Promotion waits (reason ImageNotFound, naming the
	// image), asking the registry with the workloads' pull secrets, every
	// few seconds at first and at most every minute; it then freezes the
	// image's digest and deploys. It fails when the image has not appeared
	// within the timeout.
	// +optional
	WaitForImage *WaitForImage `json:"waitForImage,omitempty"`
}

// WaitForImage bounds the wait for a merge's image.
type WaitForImage struct {
	// Timeout is how long a Promotion waits for its image, from when it
	// became Pending. Default 30m.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('168h')",message="timeout must be between 1s and 168h (a week)"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// CommitStatusProvider is the forge whose commit-status API Baton calls.
// +kubebuilder:validation:Enum=github;gitlab;gitea
type CommitStatusProvider string

// Commit-status providers.
const (
	CommitStatusGitHub CommitStatusProvider = "github"
	CommitStatusGitLab CommitStatusProvider = "gitlab"
	CommitStatusGitea  CommitStatusProvider = "gitea"
)

// CommitStatus is where and with which token Baton reports states on the
// source commits.
type CommitStatus struct {
	// Provider is the forge: github, gitlab or gitea. Empty means github
	// when git.url is on github.com and gitlab when it is on gitlab.com;
	// any other host must set it.
	// +optional
	Provider CommitStatusProvider `json:"provider,omitempty"`

	// Address is the base URL of the forge's API, https:// only, since the
	// token travels with every call: https://ghe.example.com/api/v3 for
	// GitHub Enterprise, https://gitlab.example.com for GitLab,
	// https://gitea.example.com for Gitea. Empty means https://api.github.com
	// for github.com and https://gitlab.com for gitlab.com; any other host
	// must set it. Its host must be allowed by the manager's
	// --allowed-git-hosts.
	// +optional
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://')",message="address must be https://: the token travels with every call"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[[:space:]?#@]')",message="address must be a plain base URL: no spaces, credentials, query or fragment"
	Address string `json:"address,omitempty"`

	// Repository is owner/name on GitHub and Gitea, the project path
	// (group/subgroup/name) or numeric ID on GitLab. Empty means the path of
	// git.url, without .git.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^([0-9]+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$`
	Repository string `json:"repository,omitempty"`

	// SecretRef names a Secret in the Environment's namespace whose key
	// "token" is an API token allowed to set commit statuses (GitHub:
	// repo:status or "Commit statuses: write"; GitLab: api; Gitea:
	// write:repository). The Secret must be of type Opaque and labelled
	// promotion.baton.dev/credentials=true. Baton reads it uncached and never
	// writes it to a log, an Event or a status.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
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
