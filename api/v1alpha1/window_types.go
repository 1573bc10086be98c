package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FreezeMarkerAnnotation holds the seal the admission webhook writes on a
// Freeze or ClusterFreeze: an HMAC over its name and spec, frozenBy and
// liftedBy included. A freeze without a valid seal still stops Promotions
// (failing closed), but the engine does not trust who it says froze it.
const FreezeMarkerAnnotation = "promotion.baton.dev/freeze-admission"

// WindowType says what a DeployWindow does while it is open.
// +kubebuilder:validation:Enum=Deny;Allow
type WindowType string

const (
	// WindowDeny: no Promotion starts while the window is open.
	WindowDeny WindowType = "Deny"
	// WindowAllow: Promotions start only while some allow window is open.
	WindowAllow WindowType = "Allow"
)

// DeployWindowSpec is when the window is open: a recurring schedule (cron or
// RRULE) with a duration, or a fixed start and end.
//
// +kubebuilder:validation:XValidation:rule="[has(self.schedule), has(self.rrule), has(self.start)].filter(x, x).size() == 1",message="exactly one of schedule, rrule or start (with end) is required",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="has(self.start) == has(self.end)",message="start and end go together: a fixed window needs both",fieldPath=".end",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.start) || self.end > self.start",message="end must be after start",fieldPath=".end",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="has(self.start) == !has(self.duration)",message="duration is required with schedule or rrule, and not allowed with start and end",fieldPath=".duration",reason=FieldValueRequired
type DeployWindowSpec struct {
	// Type is Deny (no Promotion starts while the window is open) or Allow
	// (Promotions start only while one of the Environment's allow windows
	// is open).
	// +required
	Type WindowType `json:"type"`

	// Schedule is a standard 5-field cron expression (minute hour
	// day-of-month month day-of-week) for when the window opens, in
	// timeZone. Descriptors such as @daily are accepted too.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Schedule string `json:"schedule,omitempty"`

	// RRule is an RFC 5545 recurrence rule for when the window opens, in
	// timeZone, such as "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0". Without
	// DTSTART, the rule starts on 2000-01-01 at midnight in timeZone (so
	// BYHOUR and BYMINUTE say the time of day).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	RRule string `json:"rrule,omitempty"`

	// Duration is how long the window stays open after each opening, as
	// elapsed time ("48h", "90m"): across a daylight-saving change a window
	// that opens at 00:30 for 2h closes at 03:30 local time. More than 0 and
	// at most a year (8760h).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('8760h')",message="duration must be more than 0 and at most 8760h (a year)"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// TimeZone is the IANA time zone the schedule is read in, such as
	// "Europe/Berlin". Empty means UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// Start of a one-off window.
	// +optional
	Start *metav1.Time `json:"start,omitempty"`

	// End of a one-off window.
	// +optional
	End *metav1.Time `json:"end,omitempty"`

	// Reason is shown in the message of every Promotion the window holds.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
}

// DeployWindow is a recurring or one-off time during which Promotions into
// the Environments that select it may not start (Deny), or outside of which
// they may not start (Allow). A Promotion already rolling out finishes.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=dw,categories=baton
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="RRule",type=string,JSONPath=`.spec.rrule`,priority=1
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.spec.duration`
// +kubebuilder:printcolumn:name="Time-Zone",type=string,JSONPath=`.spec.timeZone`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeployWindow struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DeployWindowSpec `json:"spec"`
}

// DeployWindowList is a list of DeployWindows.
// +kubebuilder:object:root=true
type DeployWindowList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeployWindow `json:"items"`
}

// FreezeSpec stops Promotions at once, until it is lifted (spec.lifted, or
// deleting the object). frozenBy and liftedBy are written only by the
// admission webhook.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.environment) ? !has(self.environment) : (has(self.environment) && self.environment == oldSelf.environment)",message="environment is immutable",fieldPath=".environment"
// +kubebuilder:validation:XValidation:rule="self.reason == oldSelf.reason",message="reason is immutable: lift this freeze and create another",fieldPath=".reason"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.lifted) || !oldSelf.lifted || (has(self.lifted) && self.lifted)",message="lifted may only change from false to true",fieldPath=".lifted"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.frozenBy) || (has(self.frozenBy) && self.frozenBy == oldSelf.frozenBy)",message="frozenBy cannot be changed once set",fieldPath=".frozenBy"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.liftedBy) || (has(self.liftedBy) && self.liftedBy == oldSelf.liftedBy)",message="liftedBy cannot be changed once set",fieldPath=".liftedBy"
type FreezeSpec struct {
	// Environment is the one Environment, in this namespace, the freeze
	// stops. Empty freezes every Environment in the namespace. Not allowed
	// on a ClusterFreeze.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Environment string `json:"environment,omitempty"`

	// Reason says why, for everyone whose Promotion waits.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason"`

	// Lifted ends the freeze and keeps the record. It may only go from
	// false to true.
	// +optional
	Lifted bool `json:"lifted,omitempty"`

	// FrozenBy is who created the freeze. Written by the admission webhook
	// only; whatever a client sends is replaced.
	// +optional
	FrozenBy *UserInfo `json:"frozenBy,omitempty"`

	// FrozenAt is when the freeze was created, as the webhook saw it.
	// +optional
	FrozenAt *metav1.Time `json:"frozenAt,omitempty"`

	// LiftedBy is who set lifted. Written by the admission webhook only.
	// +optional
	LiftedBy *UserInfo `json:"liftedBy,omitempty"`

	// LiftedAt is when lifted was set, as the webhook saw it.
	// +optional
	LiftedAt *metav1.Time `json:"liftedAt,omitempty"`
}

// Freeze stops every new Promotion into one Environment, or into every
// Environment of its namespace, at once, until it is lifted. Rollbacks still
// run unless the Environment sets freeze.blockRollbacks. Creating and lifting
// one needs the verb freeze on environments.
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=baton
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environment`
// +kubebuilder:printcolumn:name="Lifted",type=boolean,JSONPath=`.spec.lifted`
// +kubebuilder:printcolumn:name="Frozen-By",type=string,JSONPath=`.spec.frozenBy.username`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Freeze struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec FreezeSpec `json:"spec"`
}

// FreezeList is a list of Freezes.
// +kubebuilder:object:root=true
type FreezeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Freeze `json:"items"`
}

// ClusterFreeze stops every new Promotion in the cluster until it is lifted.
// Creating and lifting one needs the verb freeze on environments in every
// namespace (a ClusterRoleBinding).
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=baton
// +kubebuilder:printcolumn:name="Lifted",type=boolean,JSONPath=`.spec.lifted`
// +kubebuilder:printcolumn:name="Frozen-By",type=string,JSONPath=`.spec.frozenBy.username`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.environment)",message="spec.environment is not allowed on a ClusterFreeze, which freezes every Environment; use a namespaced Freeze for one Environment"
type ClusterFreeze struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec FreezeSpec `json:"spec"`
}

// ClusterFreezeList is a list of ClusterFreezes.
// +kubebuilder:object:root=true
type ClusterFreezeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterFreeze `json:"items"`
}

// WindowSelector picks the DeployWindows, in the Environment's namespace,
// that apply to it: those named, and those matching the selector.
// +kubebuilder:validation:XValidation:rule="(has(self.names) && size(self.names) > 0) || has(self.selector)",message="name at least one window in names, or give a selector",reason=FieldValueRequired
type WindowSelector struct {
	// Names of DeployWindows. A name that does not exist holds every
	// Promotion here (reason WindowNotFound) until it is created or removed
	// from this list: a missing deny window never silently lets deploys
	// through.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// Selector matches DeployWindows by label. One that matches none holds
	// every Promotion here (reason WindowNotFound), like a missing name.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// FreezePolicy says how freezes treat this Environment.
type FreezePolicy struct {
	// BlockRollbacks holds rollbacks during a freeze and a deny window too.
	// Empty (false) lets rollbacks run, because a rollback reduces risk.
	// An automatic rollback after a failed rollout always runs.
	// +optional
	BlockRollbacks bool `json:"blockRollbacks,omitempty"`
}

// OverridePolicy says what a break-glass override (Promotion
// spec.override) counts for here.
type OverridePolicy struct {
	// CountsAsApproval makes the overrider count as one approval (unless
	// they requested the Promotion and allowSelfApproval is not set). Empty
	// (false): an override only lets the Promotion past windows and freezes,
	// and it still needs its approvals.
	// +optional
	CountsAsApproval bool `json:"countsAsApproval,omitempty"`
}

// OverrideSpec is a break-glass request: start this Promotion during a
// freeze or outside its deploy windows. It needs the verb override on the
// Environment.
type OverrideSpec struct {
	// Reason is why the guardrails are set aside, recorded in the history,
	// the commit trailer, an Event and the audit log.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

func init() {
	SchemeBuilder.Register(&DeployWindow{}, &DeployWindowList{}, &Freeze{}, &FreezeList{}, &ClusterFreeze{}, &ClusterFreezeList{})
}
