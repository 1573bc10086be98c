package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NotificationFormat is how a notification is encoded for its receiver.
// +kubebuilder:validation:Enum=Webhook;Slack
type NotificationFormat string

const (
	// NotificationWebhook is Baton's JSON event, signed with HMAC-SHA256 in
	// the X-Baton-Signature header.
	NotificationWebhook NotificationFormat = "Webhook"
	// NotificationSlack is Slack's incoming-webhook format (text and blocks).
	NotificationSlack NotificationFormat = "Slack"
)

// NotificationPolicySpec says which phase changes of which Environments'
// Promotions to send where.
type NotificationPolicySpec struct {
	// EnvironmentSelector picks the Environments of this namespace whose
	// Promotions are sent, by their labels. Empty selects every Environment
	// of the namespace.
	// +optional
	EnvironmentSelector *metav1.LabelSelector `json:"environmentSelector,omitempty"`

	// Events are the phases a Promotion enters that are sent. Empty sends
	// the terminal phases: Succeeded, Failed, Canceled, Superseded. Every
	// Promotion enters WaitingForApproval for a moment to check its
	// approvals, so listing it also sends those.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=12
	Events []PromotionPhase `json:"events,omitempty"`

	// Format is Webhook (Baton's signed JSON) or Slack (an incoming webhook).
	// +required
	Format NotificationFormat `json:"format"`

	// SecretRef names a Secret in this namespace, of type Opaque, labelled
	// promotion.baton.dev/credentials: "true", with the key "url" (https://;
	// plain http only to a loopback address, for development) and, for
	// Webhook, the key "signingKey" (at least 32 bytes) that signs each
	// body. Neither ever appears in a log, an Event or a status.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// NotificationPolicy sends the phase changes of Promotions into the
// Environments it selects to a webhook or to Slack. Sending is
// asynchronous: a receiver that is slow or down never delays a Promotion;
// deliveries are retried with backoff and counted in
// baton_notifications_total.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=notifypolicy,categories=baton
// +kubebuilder:printcolumn:name="Format",type=string,JSONPath=`.spec.format`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretRef.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NotificationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec NotificationPolicySpec `json:"spec"`
}

// NotificationPolicyList is a list of NotificationPolicies.
// +kubebuilder:object:root=true
type NotificationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotificationPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NotificationPolicy{}, &NotificationPolicyList{})
}
