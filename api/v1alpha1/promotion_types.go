package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AdmissionMarkerAnnotation holds the admission marker: an HMAC that Baton's
// admission webhook computes over a Promotion's namespace, name and spec,
// identities included. Only the webhook writes it; the controller ignores a
// Promotion whose marker is missing or does not verify.
const AdmissionMarkerAnnotation = "promotion.baton.dev/admission"

// PromotionFinalizer is the engine's finalizer on a Promotion: it keeps a
// deleted Promotion until its history entry is closed and its lease
// released. Only Baton's manager removes it from a Promotion that is not in
// a terminal phase; the admission webhook refuses anyone else.
const PromotionFinalizer = "promotion.baton.dev/history"

// BatonPrefix starts every annotation Baton writes on its objects. The
// admission webhook lets only Baton's manager add, change or remove those on
// a Promotion: the engine reads them.
const BatonPrefix = "promotion.baton.dev/"

// AutoPromoteKeyAnnotation is set on the Promotions autoPromote creates: the
// Environment and the image (digest or normalized reference) it promotes.
// autoPromote creates at most one Promotion per key.
const AutoPromoteKeyAnnotation = "promotion.baton.dev/auto-promote-key"

// Annotations on the Promotions that spec.source creates: what triggered
// them. The subject and author are what Git reports, which anyone who can
// push may set to anything: they are unauthenticated and never used to
// decide anything.
const (
	// SourceCommitAnnotation is the commit SHA Baton read from the branch.
	SourceCommitAnnotation = "promotion.baton.dev/source-commit"
	// SourceSubjectAnnotation is the commit's subject line, as Git reports it.
	SourceSubjectAnnotation = "promotion.baton.dev/source-subject-unverified"
	// SourceAuthorAnnotation is the commit's author, "Name <email>", as Git
	// reports it: not an identity Baton or the API server checked.
	SourceAuthorAnnotation = "promotion.baton.dev/source-author-unverified"
	// SourceCommittedAtAnnotation is the commit's committer time (RFC 3339),
	// as Git reports it: the start of the lead time metric, nothing more.
	SourceCommittedAtAnnotation = "promotion.baton.dev/source-committed-at"
	// SourceRequestedAtAnnotation, on an Environment, asks the source
	// controller to read the branch head now. The webhook receiver sets it
	// to the time of a verified push hook; anyone allowed to patch the
	// Environment may set it too.
	SourceRequestedAtAnnotation = "promotion.baton.dev/source-requested-at"
)

// RollbackSpec asks for an earlier revision of the Environment, the way
// kubectl rollout undo does.
type RollbackSpec struct {
	// ToRevision is the revision to return to. 0 (or empty) means the
	// previous successful revision with another image than the one running
	// now, as kubectl rollout undo goes to the previous different template.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ToRevision int64 `json:"toRevision,omitempty"`
}

// PromotionSpec is one request to move one Environment to one image.
//
// Every user-written field is immutable on its own; cancel and resume may
// only go from false to true. requestedBy, approvals, canceledBy,
// overriddenBy and resumedBy are written only by the admission webhook, from
// the authenticated request.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.image) && has(self.rollback))",message="image and rollback are mutually exclusive: a rollback takes its image from the revision history",fieldPath=".rollback",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.image) == has(oldSelf.image) && (!has(self.image) || self.image == oldSelf.image)",message="image is immutable",fieldPath=".image"
// +kubebuilder:validation:XValidation:rule="has(self.rollback) == has(oldSelf.rollback) && (!has(self.rollback) || self.rollback == oldSelf.rollback)",message="rollback is immutable",fieldPath=".rollback"
// +kubebuilder:validation:XValidation:rule="has(self.reason) == has(oldSelf.reason) && (!has(self.reason) || self.reason == oldSelf.reason)",message="reason is immutable",fieldPath=".reason"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",message="cancel may only change from false to true",fieldPath=".cancel"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.requestedBy) || (has(self.requestedBy) && self.requestedBy == oldSelf.requestedBy)",message="requestedBy cannot be changed once set",fieldPath=".requestedBy"
// +kubebuilder:validation:XValidation:rule="has(self.override) == has(oldSelf.override) && (!has(self.override) || self.override == oldSelf.override)",message="override is immutable",fieldPath=".override"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.overriddenBy) || (has(self.overriddenBy) && self.overriddenBy == oldSelf.overriddenBy)",message="overriddenBy cannot be changed once set",fieldPath=".overriddenBy"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.canceledBy) || (has(self.canceledBy) && self.canceledBy == oldSelf.canceledBy)",message="canceledBy cannot be changed once set",fieldPath=".canceledBy"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.resume) || !oldSelf.resume || (has(self.resume) && self.resume)",message="resume may only change from false to true",fieldPath=".resume"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.resumedBy) || (has(self.resumedBy) && self.resumedBy == oldSelf.resumedBy)",message="resumedBy cannot be changed once set",fieldPath=".resumedBy"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approvals) || (has(self.approvals) && size(self.approvals) >= size(oldSelf.approvals) && oldSelf.approvals.all(a, a in self.approvals))",message="approvals may only be appended to: existing approvals cannot be removed or edited",fieldPath=".approvals"
type PromotionSpec struct {
	// Environment is the name of the Environment, in this namespace, to
	// promote into.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environment is immutable"
	Environment string `json:"environment"`

	// Image to promote. Empty means the upstream's newest verified image that
	// is not rejected here. In an environment with an upstream it must be
	// verified there.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Image string `json:"image,omitempty"`

	// Rollback returns the Environment to an earlier revision instead of
	// promoting a new image. It cannot be combined with image.
	// +optional
	Rollback *RollbackSpec `json:"rollback,omitempty"`

	// Reason is free text recorded in the history and the commit.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// Cancel stops the Promotion if it has not changed the target yet. It
	// may only go from false to true.
	// +optional
	Cancel bool `json:"cancel,omitempty"`

	// RequestedBy is who created this Promotion. Written by the admission
	// webhook only; whatever a client sends is replaced.
	// +optional
	RequestedBy *UserInfo `json:"requestedBy,omitempty"`

	// Approvals are appended by the admission webhook, one per approving
	// request, and never edited or removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Approvals []Approval `json:"approvals,omitempty"`

	// CanceledBy is who set cancel. Written by the admission webhook only.
	// +optional
	CanceledBy *UserInfo `json:"canceledBy,omitempty"`

	// Override is a break-glass request: the Promotion may start during a
	// freeze or outside its Environment's deploy windows. It needs the verb
	// override on the Environment, and a reason (docs/windows.md).
	// +optional
	Override *OverrideSpec `json:"override,omitempty"`

	// OverriddenBy is who asked for the override. Written by the admission
	// webhook only, on create.
	// +optional
	OverriddenBy *UserInfo `json:"overriddenBy,omitempty"`

	// Resume, set on the finished Promotion that paused autoPromote (the
	// Environment's status.autoPromotePause, spec.pauseOnFailure), lifts
	// that pause. It needs the verb resume on the Environment, and may only
	// go from false to true (kubectl promote resume ENV sets it).
	// +optional
	Resume bool `json:"resume,omitempty"`

	// ResumedBy is who set resume. Written by the admission webhook only.
	// +optional
	ResumedBy *UserInfo `json:"resumedBy,omitempty"`
}

// PromotionPhase is where a Promotion is in its life.
// +kubebuilder:validation:Enum=Pending;WaitingForApproval;Queued;Releasing;Promoting;RollingOut;Verifying;Succeeded;Failed;Canceled;Superseded
type PromotionPhase string

// The phases of a Promotion, in order; the last four are terminal.
const (
	// PromotionPending: resolving the image, or waiting for it to be verified
	// upstream.
	PromotionPending PromotionPhase = "Pending"
	// PromotionWaitingForApproval: the image is resolved and frozen; approvals
	// are missing.
	PromotionWaitingForApproval PromotionPhase = "WaitingForApproval"
	// PromotionQueued: approved, waiting for the Environment's lease.
	PromotionQueued PromotionPhase = "Queued"
	// PromotionReleasing: the lease is held; the release Job
	// (spec.release of the Environment) runs with the new image, and no
	// workload has changed yet.
	PromotionReleasing PromotionPhase = "Releasing"
	// PromotionPromoting: holds the lease and is changing the target.
	PromotionPromoting PromotionPhase = "Promoting"
	// PromotionRollingOut: the target was changed; watching the rollout.
	PromotionRollingOut PromotionPhase = "RollingOut"
	// PromotionVerifying: the rollout completed; spec.rollout.watch is
	// running and the Environment's checks are watched for a breach.
	PromotionVerifying PromotionPhase = "Verifying"
	// PromotionSucceeded: the rollout completed.
	PromotionSucceeded PromotionPhase = "Succeeded"
	// PromotionFailed: bad input, a failed delivery or a failed rollout.
	PromotionFailed PromotionPhase = "Failed"
	// PromotionCanceled: canceled before it changed the target.
	PromotionCanceled PromotionPhase = "Canceled"
	// PromotionSuperseded: preempted by a rollback.
	PromotionSuperseded PromotionPhase = "Superseded"
)

// IsTerminal reports whether a Promotion in this phase is finished.
func (p PromotionPhase) IsTerminal() bool {
	switch p {
	case PromotionSucceeded, PromotionFailed, PromotionCanceled, PromotionSuperseded:
		return true
	}
	return false
}

// PromotionStatus is the observed state of a Promotion.
type PromotionStatus struct {
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is where the Promotion is in its life.
	// +optional
	Phase PromotionPhase `json:"phase,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, Approved.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Image is the image this Promotion moves to, resolved at the first
	// reconcile and then frozen. Approvals refer to it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Digest of Image, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Digest string `json:"digest,omitempty"`

	// EnvironmentUID is the UID of the Environment the image was resolved
	// and approved against. The lease is granted, and the target changed,
	// only while spec.environment still names that object: an Environment
	// deleted and created again is another one, with other rules.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	EnvironmentUID string `json:"environmentUID,omitempty"`

	// AutoRollback is the automatic rollback this Promotion asked for after
	// its rollout failed: its name, recorded before it is created, then its
	// UID once Baton created it and proved it its own.
	// +optional
	AutoRollback *ObjectRef `json:"autoRollback,omitempty"`

	// PreviousImage is what the Environment ran before this Promotion.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	PreviousImage string `json:"previousImage,omitempty"`

	// Revision is the Environment history revision this Promotion created.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// Commit is the Git commit that delivered the image (git delivery).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Commit string `json:"commit,omitempty"`

	// Patch describes the workload patch that delivered the image (direct
	// delivery).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Patch string `json:"patch,omitempty"`

	// PhaseSince is when the Promotion entered its current phase.
	// +optional
	PhaseSince *metav1.Time `json:"phaseSince,omitempty"`

	// QueuedAt is when the Promotion started waiting for the lease.
	// +optional
	QueuedAt *metav1.Time `json:"queuedAt,omitempty"`

	// StartedAt is when the Promotion took the lease.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// DeliveredAt is when the target was changed.
	// +optional
	DeliveredAt *metav1.Time `json:"deliveredAt,omitempty"`

	// CompletedAt is when the Promotion reached a terminal phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// CommitURL is a web link to Commit, when the repository URL is an
	// https:// URL of a GitHub- or GitLab-like forge. Empty otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	CommitURL string `json:"commitURL,omitempty"`

	// Release is the release Job's state, when the Environment has
	// spec.release and this Promotion runs it.
	// +optional
	Release *ReleaseStatus `json:"release,omitempty"`
}

// ReleaseResult is where a release Job is.
// +kubebuilder:validation:Enum=Running;Succeeded;Failed
type ReleaseResult string

// The release Job's results.
const (
	ReleaseRunning   ReleaseResult = "Running"
	ReleaseSucceeded ReleaseResult = "Succeeded"
	ReleaseFailed    ReleaseResult = "Failed"
)

// ReleaseStatus is a Promotion's release Job.
type ReleaseStatus struct {
	// Job is the release Job's name, in the Environment's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Job string `json:"job"`

	// Result is Running, Succeeded or Failed.
	// +required
	Result ReleaseResult `json:"result"`

	// Message is why it failed: the Job's reason and the tail of its Pod's
	// termination message.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`

	// StartedAt is when Baton created the Job.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// FinishedAt is when the Job finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// Promotion is one request to move one Environment to one image.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=promo;promos,categories=baton
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environment`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.image`
// +kubebuilder:printcolumn:name="Requested-By",type=string,JSONPath=`.spec.requestedBy.username`
// +kubebuilder:printcolumn:name="Approved-By",type=string,JSONPath=`.spec.approvals[*].username`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Promotion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PromotionSpec `json:"spec"`

	// +optional
	Status PromotionStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions of the Promotion, so that
// generic helpers (apimachinery meta, kstatus) can read them.
func (in *Promotion) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions of the Promotion.
func (in *Promotion) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// PromotionList is a list of Promotions.
// +kubebuilder:object:root=true
type PromotionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Promotion `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Promotion{}, &PromotionList{})
}
