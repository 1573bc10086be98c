package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthorizedEnvironmentAnnotation must be set on a workload in another
// namespace than its Environment, to "<namespace>/<name>" of that Environment.
// Without it Baton never reads nor touches the workload.
const AuthorizedEnvironmentAnnotation = "promotion.baton.dev/authorized-environment"

// WorkloadKind is the kind of workload an Environment runs.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type WorkloadKind string

// The supported workload kinds.
const (
	WorkloadKindDeployment  WorkloadKind = "Deployment"
	WorkloadKindStatefulSet WorkloadKind = "StatefulSet"
	WorkloadKindDaemonSet   WorkloadKind = "DaemonSet"
)

// WorkloadReference names the workload and container that run an Environment.
type WorkloadReference struct {
	// Kind of the workload (apps/v1).
	// +required
	Kind WorkloadKind `json:"kind"`

	// Name of the workload.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace of the workload. Empty means the Environment's namespace. A
	// workload in another namespace must carry the annotation
	// promotion.baton.dev/authorized-environment: <namespace>/<name> naming
	// this Environment.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// Container is the name of the container whose image Baton tracks and
	// changes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Container string `json:"container"`
}

// Delivery says how Baton changes the environment: exactly one of git or
// direct.
// +kubebuilder:validation:XValidation:rule="has(self.git) != has(self.direct)",message="exactly one of git or direct must be set"
type Delivery struct {
	// Git delivers by committing the new image to a config repository, which a
	// GitOps engine (Argo CD, Flux) then applies.
	// +optional
	Git *GitDelivery `json:"git,omitempty"`

	// Direct delivers by server-side applying the image field of the workload.
	// +optional
	Direct *DirectDelivery `json:"direct,omitempty"`

	// PinDigest writes the image by digest (repo@sha256:...) instead of by
	// tag whenever the digest is known.
	// +optional
	PinDigest bool `json:"pinDigest,omitempty"`
}

// GitDelivery is a config repository Baton commits to.
type GitDelivery struct {
	// URL of the repository: https://, http://, ssh:// or scp-like
	// git@host:path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?://|ssh://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)\S+$`
	URL string `json:"url"`

	// Branch to commit to. Baton never force-pushes it.
	// +optional
	// +kubebuilder:default=main
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s~^:?*\[\\]+$`
	Branch string `json:"branch,omitempty"`

	// Path is the directory inside the repository that the edit is relative
	// to. It may not be absolute nor contain "..". Empty means the root.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="path must be relative to the repository root and must not contain '..'"
	Path string `json:"path,omitempty"`

	// Edit says which file and field hold the image.
	// +required
	Edit ManifestEdit `json:"edit"`

	// SecretRef names a Secret in the Environment's namespace with the
	// credentials: username and password (or password alone as a token) for
	// HTTPS; identity and known_hosts for SSH. Empty means anonymous access.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Author of Baton's commits. Empty means "Baton <baton@baton.dev>".
	// +optional
	Author *GitAuthor `json:"author,omitempty"`

	// PushBranch, when set, is where Baton pushes its commit instead of
	// branch, for a branch that is protected: the forge's own automation
	// opens the pull request, and the Promotion waits in Promoting with
	// reason AwaitingMerge until its commit is reachable from branch. Empty
	// means Baton pushes to branch.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s~^:?*\[\\]+$`
	PushBranch string `json:"pushBranch,omitempty"`

	// RequestReconcile lists Flux objects that Baton annotates with
	// reconcile.fluxcd.io/requestedAt after each push, so that Flux fetches
	// and applies the commit at once instead of at its next interval.
	// Usually the GitRepository of the config repository; a Kustomization
	// reconciles by itself when its source has a new revision. A failed
	// request is only a warning Event: Flux still applies the commit on
	// its interval. Empty means Baton only pushes.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	RequestReconcile []FluxObjectReference `json:"requestReconcile,omitempty"`
}

// FluxObjectReference names a Flux object that Baton asks to reconcile.
type FluxObjectReference struct {
	// Kind of the object: GitRepository (source.toolkit.fluxcd.io/v1) or
	// Kustomization (kustomize.toolkit.fluxcd.io/v1).
	// +required
	// +kubebuilder:validation:Enum=GitRepository;Kustomization
	Kind string `json:"kind"`

	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the object, typically flux-system.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// GitAuthor is the author and committer of Baton's commits.
type GitAuthor struct {
	// Name of the author.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// Email of the author.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email"`
}

// ManifestEdit selects exactly one way to write the image into the
// repository.
// +kubebuilder:validation:XValidation:rule="[has(self.kustomize), has(self.yaml), has(self.helm)].filter(x, x).size() == 1",message="exactly one of kustomize, yaml or helm must be set"
type ManifestEdit struct {
	// Kustomize sets the images: entry of <path>/kustomization.yaml.
	// +optional
	Kustomize *KustomizeEdit `json:"kustomize,omitempty"`

	// YAML sets one field in one file.
	// +optional
	YAML *YAMLFieldEdit `json:"yaml,omitempty"`

	// Helm sets the image fields of a Helm values file.
	// +optional
	Helm *HelmEdit `json:"helm,omitempty"`
}

// KustomizeEdit edits the images: list of a kustomization.
type KustomizeEdit struct {
	// ImageName is the "name" of the images: entry to set. Empty means the
	// repository of the image being promoted.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ImageName string `json:"imageName,omitempty"`
}

// YAMLFieldEdit sets one field, addressed by a path, in one file.
type YAMLFieldEdit struct {
	// File to edit, relative to the delivery path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="file must be relative and must not contain '..'"
	File string `json:"file"`

	// Field is the path of the image field, such as
	// spec.template.spec.containers[name=web].image.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Field string `json:"field"`
}

// HelmEdit sets the image in a Helm values file, either as a repository and
// a tag field, or as one field holding the whole reference.
// +kubebuilder:validation:XValidation:rule="!has(self.imageField) || (!has(self.repositoryField) && !has(self.tagField))",message="imageField cannot be combined with repositoryField or tagField"
type HelmEdit struct {
	// File is the values file, relative to the delivery path.
	// +optional
	// +kubebuilder:default=values.yaml
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.split('/').exists(s, s == '..')",message="file must be relative and must not contain '..'"
	File string `json:"file,omitempty"`

	// RepositoryField is the path of the repository field. Empty means
	// image.repository (unless imageField is set).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	RepositoryField string `json:"repositoryField,omitempty"`

	// TagField is the path of the tag field. Empty means image.tag (unless
	// imageField is set).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	TagField string `json:"tagField,omitempty"`

	// ImageField is the path of a single field holding the whole reference.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ImageField string `json:"imageField,omitempty"`
}

// DirectDelivery patches the workload with server-side apply, owning only the
// image field of the named container.
type DirectDelivery struct {
	// FieldManager is the server-side apply field manager. Empty means
	// "baton".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	FieldManager string `json:"fieldManager,omitempty"`
}

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

// ApprovalPolicy says how many people must approve a Promotion here.
type ApprovalPolicy struct {
	// Required is the number of distinct approvers a Promotion needs. Zero
	// means no approval.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Required int32 `json:"required,omitempty"`

	// AllowSelfApproval lets the requester approve their own Promotion.
	// +optional
	AllowSelfApproval bool `json:"allowSelfApproval,omitempty"`

	// RequireForRollback makes rollbacks wait for approval too. By default a
	// rollback never waits.
	// +optional
	RequireForRollback bool `json:"requireForRollback,omitempty"`
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
	// credentials, with the same keys as delivery.git.secretRef. Empty means
	// anonymous access.
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

// EnvironmentSpec is the desired state of an Environment.
// +kubebuilder:validation:XValidation:rule="!has(self.source) || !has(self.upstream)",message="source only on entry environments: an Environment with spec.upstream is fed by its upstream, not by a Git branch",fieldPath=".source"
type EnvironmentSpec struct {
	// Upstream is the Environment in this namespace whose verified images may
	// be promoted here. Empty makes this an entry environment, which accepts
	// any image a Promotion names.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Upstream string `json:"upstream,omitempty"`

	// Source makes this entry Environment deploy each new head of a branch
	// of the application's repository. Only an Environment without upstream
	// may have one. Empty means Promotions here name their image by hand.
	// +optional
	Source *Source `json:"source,omitempty"`

	// Workload is what runs this environment.
	// +required
	Workload WorkloadReference `json:"workload"`

	// Delivery says how Baton changes the workload's image.
	// +required
	Delivery Delivery `json:"delivery"`

	// Verification says when an image counts as verified here.
	// +optional
	// +kubebuilder:default={}
	Verification Verification `json:"verification,omitempty"`

	// Approval says who must approve Promotions here.
	// +optional
	Approval ApprovalPolicy `json:"approval,omitempty"`

	// Rollout says how rollouts are watched.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutPolicy `json:"rollout,omitempty"`

	// AutoPromote creates a Promotion here whenever the upstream verifies a
	// new image that is not rejected here.
	// +optional
	AutoPromote bool `json:"autoPromote,omitempty"`

	// Suspend stops new Promotions and autoPromote. Rollbacks still run.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// HistoryLimit is how many revisions status.history keeps. Empty means 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HistoryLimit int32 `json:"historyLimit,omitempty"`
}

// RevisionResult is how a revision of an Environment ended.
// +kubebuilder:validation:Enum=Adopted;Succeeded;Failed;RolledBack;AlreadyAtImage;Superseded;External
type RevisionResult string

// The results a revision can have.
const (
	// RevisionAdopted is the image the workload already ran when Baton first
	// saw it healthy: revision 1.
	RevisionAdopted RevisionResult = "Adopted"
	// RevisionSucceeded is a Promotion whose rollout completed.
	RevisionSucceeded RevisionResult = "Succeeded"
	// RevisionFailed is a Promotion whose delivery or rollout failed.
	RevisionFailed RevisionResult = "Failed"
	// RevisionRolledBack is a revision that a later rollback moved away from.
	RevisionRolledBack RevisionResult = "RolledBack"
	// RevisionAlreadyAtImage is a Promotion to the image already running;
	// nothing was changed.
	RevisionAlreadyAtImage RevisionResult = "AlreadyAtImage"
	// RevisionSuperseded is a Promotion preempted by a rollback.
	RevisionSuperseded RevisionResult = "Superseded"
	// RevisionExternal is an image change Baton did not make (drift).
	RevisionExternal RevisionResult = "External"
)

// CurrentImage is what the workload runs now.
type CurrentImage struct {
	// Image is the reference the container runs.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// Revision is the history revision this image belongs to.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// Since is when the workload started running this image.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
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

// Revision is one entry of an Environment's history.
type Revision struct {
	// Revision number, counting up from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// Image of this revision.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Digest of the image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// Promotion that made this revision. Empty for Adopted and External.
	// +optional
	Promotion *ObjectRef `json:"promotion,omitempty"`

	// RequestedBy is who created the Promotion.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	RequestedBy string `json:"requestedBy,omitempty"`

	// ApprovedBy are the users whose approvals counted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=256
	ApprovedBy []string `json:"approvedBy,omitempty"`

	// Commit is the Git commit that delivered this revision (git delivery).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Commit string `json:"commit,omitempty"`

	// Rollback is true when this revision is a rollback.
	// +optional
	Rollback bool `json:"rollback,omitempty"`

	// Result is how this revision ended. Empty while it is in flight.
	// +optional
	Result RevisionResult `json:"result,omitempty"`

	// Message explains the result.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// StartedAt is when the change began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// FinishedAt is when the result was decided.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// EnvironmentStatus is the observed state of an Environment.
type EnvironmentStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, Verified, Drifted, Suspended,
	// Held, Source.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Current is what the workload runs now.
	// +optional
	Current *CurrentImage `json:"current,omitempty"`

	// VerifiedImages are images verified here, newest last. They stay after the
	// environment moves on.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	VerifiedImages []VerifiedImage `json:"verifiedImages,omitempty"`

	// RejectedImages are images this environment was rolled back away from.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	RejectedImages []RejectedImage `json:"rejectedImages,omitempty"`

	// History holds the last spec.historyLimit revisions, oldest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	History []Revision `json:"history,omitempty"`

	// ActivePromotion is the Promotion holding this Environment's lease: the
	// only one that may be Promoting or RollingOut.
	// +optional
	ActivePromotion *ObjectRef `json:"activePromotion,omitempty"`

	// Source is what Baton last saw of spec.source.
	// +optional
	Source *SourceStatus `json:"source,omitempty"`
}

// Environment is one stage of an application's path to production.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=env;envs,categories=baton
// +kubebuilder:printcolumn:name="Current",type=string,JSONPath=`.status.current.image`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.current.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Environment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec EnvironmentSpec `json:"spec"`

	// +optional
	Status EnvironmentStatus `json:"status,omitempty"`
}

// EnvironmentList is a list of Environments.
// +kubebuilder:object:root=true
type EnvironmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Environment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Environment{}, &EnvironmentList{})
}
