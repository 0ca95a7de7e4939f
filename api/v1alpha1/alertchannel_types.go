package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons of an AlertChannel beyond the ServiceCheck's
// (InvalidSpec, NameTaken, RegistryError and SecretUnavailable mean the
// same here).
const (
	// ChannelSyncedReason: the channel is in Vigil's store as the spec says.
	ChannelSyncedReason = "Synced"
)

// AlertChannelType is the kind of receiver a channel talks to.
// +kubebuilder:validation:Enum=webhook;slack;pagerduty;alertmanager;email
type AlertChannelType string

// SecretValueSource reads one value from a Secret of the object's namespace.
type SecretValueSource struct {
	// SecretKeyRef is a key of a Secret in the channel's namespace.
	// +required
	SecretKeyRef SecretKeyRef `json:"secretKeyRef"`
}

// AlertChannelSpec mirrors a REST channel (docs/notifications.md).
//
// What is secret depends on the provider: the webhook's, Slack's and
// Alertmanager's HMAC signing key, PagerDuty's routing key and the SMTP
// password go in secret; a Slack incoming-webhook URL is itself a
// credential, so it may come from a Secret through urlFrom (so may any
// other URL that carries a token).
//
// +kubebuilder:validation:XValidation:rule="!(has(self.url) && has(self.urlFrom))",message="url and urlFrom are exclusive"
// +kubebuilder:validation:XValidation:rule="self.type == 'pagerduty' || has(self.url) || has(self.urlFrom)",message="url or urlFrom is required (only pagerduty has a default)"
// +kubebuilder:validation:XValidation:rule="self.type != 'pagerduty' || has(self.secret)",message="secret is required for pagerduty: it holds the routing key"
// +kubebuilder:validation:XValidation:rule="self.type == 'email' ? (has(self.to) && size(self.to) > 0) : !has(self.to)",message="to is required for email and only for email"
// +kubebuilder:validation:XValidation:rule="!has(self.repeatInterval) || duration(self.repeatInterval) == duration('0s') || (duration(self.repeatInterval) >= duration('1m') && duration(self.repeatInterval) <= duration('168h'))",message="repeatInterval must be 0 (no reminders) or from 1m to 168h"
// +kubebuilder:validation:XValidation:rule="!has(self.selector) || !has(self.selector.matchExpressions) || size(self.selector.matchExpressions) == 0",message="selector.matchExpressions is not supported: use matchLabels"
type AlertChannelSpec struct {
	// Type is the receiver's kind.
	// +required
	Type AlertChannelType `json:"type"`

	// URL is the receiver: the webhook, the Slack incoming webhook, the
	// PagerDuty events endpoint (defaulted), the Alertmanager base URL, or
	// the SMTP server as smtp://[user@]host:port?from=address.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// URLFrom reads the URL from a Secret, for URLs that are credentials
	// (a Slack incoming webhook).
	// +optional
	URLFrom *SecretValueSource `json:"urlFrom,omitempty"`

	// Secret is the signing key (webhook, slack, alertmanager), the
	// routing key (pagerduty, required) or the SMTP password (email).
	// +optional
	Secret *SecretValueSource `json:"secret,omitempty"`

	// To are the email recipients.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=254
	To []string `json:"to,omitempty"`

	// Selector chooses the ServiceChecks of this namespace the channel
	// covers, by their labels (matchLabels only); empty covers every
	// ServiceCheck of the namespace.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// SendResolved also tells when a DOWN service is UP again.
	// +optional
	// +kubebuilder:default=true
	SendResolved *bool `json:"sendResolved,omitempty"`

	// RepeatInterval repeats the DOWN message this often while the service
	// stays DOWN; 0 or unset sends it once (alertmanager defaults to 1m).
	// +optional
	RepeatInterval *metav1.Duration `json:"repeatInterval,omitempty"`
}

// AlertChannelDelivery is the channel's latest delivery, never its content.
type AlertChannelDelivery struct {
	// Time the delivery was made, or queued while it is pending or failed.
	Time metav1.Time `json:"time"`
	// State is pending, delivered or failed.
	State string `json:"state"`
	// StatusCode is the receiver's last HTTP status, when it answered.
	// +optional
	StatusCode int32 `json:"statusCode,omitempty"`
}

// AlertChannelStatus is what the operator last did with the channel.
type AlertChannelStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready is True when the channel is in Vigil's store as
	// the spec says.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastDelivery is the newest delivery to this channel, refreshed
	// about every minute.
	// +optional
	LastDelivery *AlertChannelDelivery `json:"lastDelivery,omitempty"`
}

// AlertChannel tells a receiver when ServiceChecks of its namespace go
// DOWN (and UP again).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ac,categories=vigil
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last-Delivery",type=string,JSONPath=`.status.lastDelivery.state`
// +kubebuilder:printcolumn:name="Delivered-At",type=date,JSONPath=`.status.lastDelivery.time`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AlertChannel struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where to tell and which ServiceChecks it covers.
	// +required
	Spec AlertChannelSpec `json:"spec"`

	// Status is written by the operator.
	// +optional
	Status AlertChannelStatus `json:"status,omitempty"`
}

// AlertChannelList is a list of AlertChannels.
//
// +kubebuilder:object:root=true
type AlertChannelList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertChannel `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AlertChannel{}, &AlertChannelList{})
}
