package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthorizedEnvironmentAnnotation must be set on a workload in another
// namespace than its Environment, to "<namespace>/<name>" of that Environment.
// Without it Baton never reads nor touches the workload.
const AuthorizedEnvironmentAnnotation = "promotion.baton.dev/authorized-environment"

// ReleaseContainerAnnotation, on spec.release.job.template, names the
// container of the release Job that runs the promoted image; without it,
// the first container does.
const ReleaseContainerAnnotation = "promotion.baton.dev/release-container"

// CredentialsLabel, set to "true", marks an Opaque Secret as Git
// credentials that delivery.git.secretRef and spec.source.git.secretRef may
// name. Secrets of type kubernetes.io/basic-auth and kubernetes.io/ssh-auth
// need no label; every other Secret (a ServiceAccount token, an unlabelled
// Opaque Secret) is refused, so that naming a Secret cannot send it to a
// Git server.
const CredentialsLabel = "promotion.baton.dev/credentials"

// WorkloadKind is the kind of workload an Environment runs.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type WorkloadKind string

// The supported workload kinds.
const (
	WorkloadKindDeployment  WorkloadKind = "Deployment"
	WorkloadKindStatefulSet WorkloadKind = "StatefulSet"
	WorkloadKindDaemonSet   WorkloadKind = "DaemonSet"
)

// WorkloadReference names a workload that runs an Environment, and the
// container or containers in it that run the app's image.
// +kubebuilder:validation:XValidation:rule="has(self.container) != has(self.containers)",message="exactly one of container or containers must be set"
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
	// changes. Exactly one of container and containers is set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Container string `json:"container,omitempty"`

	// Containers names several containers of the workload that run the
	// app's image (a sidecar built from the same image, say). They all get
	// the promoted image.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Containers []string `json:"containers,omitempty"`
}

// ContainerNames is container, or containers.
func (w WorkloadReference) ContainerNames() []string {
	if w.Container != "" {
		return []string{w.Container}
	}
	return w.Containers
}

// ReleasePhase is a Job Baton runs with the new image before it changes
// any workload: the release phase of a twelve-factor app (database
// migrations, say).
type ReleasePhase struct {
	// Job is the release Job. Its first container, or the one named
	// promotion.baton.dev/release-container by an annotation on the
	// template, runs the promoted image. BATON_ENVIRONMENT,
	// BATON_NAMESPACE, BATON_IMAGE, BATON_PREVIOUS_IMAGE, BATON_REVISION
	// and BATON_PROMOTION are set in every container.
	// +required
	Job JobTemplate `json:"job"`

	// Timeout is how long the release Job may take; a Job that has not
	// succeeded by then fails the Promotion with ReleaseFailed. Empty means
	// 10m.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// OnRollback runs the release Job for rollbacks too. By default a
	// rollback skips it: migrations usually only go forward.
	// +optional
	OnRollback bool `json:"onRollback,omitempty"`
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

// EnvironmentSpec is the desired state of an Environment.
// +kubebuilder:validation:XValidation:rule="has(self.workload) != has(self.workloads)",message="exactly one of workload or workloads must be set"
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

	// Workload is what runs this environment: the one-entry form of
	// workloads. Exactly one of workload and workloads is set.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// Workloads are the app's process types (web, worker, clock), which run
	// one image and move together: a Promotion moves every one of them, and
	// its rollout is complete only when all of theirs are. Each workload may
	// be listed once: the schema refuses the same kind, namespace and name
	// twice, and one listed with and once without its namespace stalls the
	// Environment with reason WorkloadListedTwice. (CEL spells the field
	// namespace, a reserved word, __namespace__.)
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.kind == x.kind && y.name == x.name && (has(y.__namespace__) ? y.__namespace__ : '') == (has(x.__namespace__) ? x.__namespace__ : '')))",message="a workload is listed twice: each kind, namespace and name may appear once"
	Workloads []WorkloadReference `json:"workloads,omitempty"`

	// Cluster is the cluster the workloads run in. Empty means the cluster
	// Baton runs in. Upstream and Promotions stay in this cluster and
	// namespace; only the workloads (and their Pods) are read and changed
	// there, with the kubeconfig's identity (docs/clusters.md).
	// +optional
	Cluster *ClusterReference `json:"cluster,omitempty"`

	// Release runs a Job with the new image before any workload changes.
	// +optional
	Release *ReleasePhase `json:"release,omitempty"`

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

	// PauseOnFailure pauses autoPromote and spec.source deploys here after a
	// Promotion into this Environment fails or is rolled back
	// (status.autoPromotePause says since when, and which Promotion): the
	// Promotions they create wait Queued, none lost, until someone sets
	// spec.resume on that Promotion (kubectl promote resume ENV, the verb
	// resume). Manual Promotions and rollbacks still run. Empty (false): a
	// failure pauses nothing. (Issue 24 calls it autoPromote.pauseOnFailure;
	// spec.autoPromote is a bool, so the field sits beside it.)
	// +optional
	PauseOnFailure bool `json:"pauseOnFailure,omitempty"`

	// DeployWindows selects the DeployWindows that say when Promotions may
	// start here (docs/windows.md). Empty: no window applies.
	// +optional
	DeployWindows *WindowSelector `json:"deployWindows,omitempty"`

	// Freeze says how freezes treat this Environment.
	// +optional
	Freeze FreezePolicy `json:"freeze,omitempty"`

	// Override says what a break-glass override counts for here.
	// +optional
	Override OverridePolicy `json:"override,omitempty"`

	// HistoryLimit is how many revisions status.history keeps. Empty means 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HistoryLimit int32 `json:"historyLimit,omitempty"`

	// PromotionHistoryLimit is how many finished Promotions into this
	// Environment are kept; beyond it the oldest are deleted, as a CronJob
	// keeps its Jobs. A deleted Promotion's record lives on in
	// status.history, the commit trailers and the audit log. Empty means 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	PromotionHistoryLimit int32 `json:"promotionHistoryLimit,omitempty"`
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

	// Workloads are the workloads this revision changed, as
	// Kind/namespace/name; empty for an adopted or external revision.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=400
	Workloads []string `json:"workloads,omitempty"`

	// Commit is the Git commit that delivered this revision (git delivery).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Commit string `json:"commit,omitempty"`

	// SourceCommit is the application commit this revision's image was
	// built from, when a Promotion that spec.source created brought it to
	// the entry Environment. Downstream Environments find the commit to
	// report their state on here.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SourceCommit string `json:"sourceCommit,omitempty"`

	// Rollback is true when this revision is a rollback.
	// +optional
	Rollback bool `json:"rollback,omitempty"`

	// Reship is true when this revision ships again an image the
	// Environment rejected (rolled back away from), or, for a rollback,
	// returns to an adopted image that no Promotion ever approved: a
	// deliberate decision, with a reason and the approvals a forward
	// Promotion needs.
	// +optional
	Reship bool `json:"reship,omitempty"`

	// OverriddenBy is who started this revision with a break-glass
	// override (Promotion spec.override), as the webhook sealed it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	OverriddenBy string `json:"overriddenBy,omitempty"`

	// OverrideReason is the override's reason.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	OverrideReason string `json:"overrideReason,omitempty"`

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

	// Cluster is the remote cluster of spec.cluster; empty for the cluster
	// Baton runs in.
	// +optional
	Cluster *ClusterStatus `json:"cluster,omitempty"`

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

	// Verification is what spec.verification.checks found for the image the
	// workload runs; empty without checks.
	// +optional
	Verification *VerificationStatus `json:"verification,omitempty"`

	// AutoPromotePause is set, with spec.pauseOnFailure, when a Promotion
	// into this Environment failed or was rolled back: autoPromote and
	// spec.source deploys wait until someone resumes (spec.resume on that
	// Promotion), which clears it. Written by the engine.
	// +optional
	AutoPromotePause *AutoPromotePause `json:"autoPromotePause,omitempty"`
}

// AutoPromotePause is why, and since when, autoPromote and spec.source
// deploys are paused in an Environment.
type AutoPromotePause struct {
	// Since is when the Promotion failed or was rolled back.
	// +required
	Since metav1.Time `json:"since"`

	// Promotion is the Promotion that failed, or was rolled back.
	// +required
	Promotion ObjectRef `json:"promotion"`

	// Result is what became of it: Failed or RolledBack.
	// +required
	Result RevisionResult `json:"result"`

	// Message is what the engine said about it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// Environment is one stage of an application's path to production.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=env;envs,categories=baton
// +kubebuilder:printcolumn:name="Current",type=string,JSONPath=`.status.current.image`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.current.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].status`,priority=1
// +kubebuilder:printcolumn:name="Checks",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].reason`,priority=1
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.status.cluster.server`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Environment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec EnvironmentSpec `json:"spec"`

	// +optional
	Status EnvironmentStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions of the Environment, so that
// generic helpers (apimachinery meta, kstatus) can read them.
func (in *Environment) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions of the Environment.
func (in *Environment) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
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

// WorkloadRefs are the Environment's workloads: spec.workloads, or
// spec.workload as its one entry.
func (in *Environment) WorkloadRefs() []WorkloadReference {
	if in.Spec.Workload != nil {
		return []WorkloadReference{*in.Spec.Workload}
	}
	return in.Spec.Workloads
}
