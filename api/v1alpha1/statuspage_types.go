package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons of a StatusPage's Ready condition.
const (
	// SyncedReason: the page is in Vigil's registry and served at its URL.
	SyncedReason = "Synced"
	// SlugTakenReason: another status page (a StatusPage in another
	// namespace, or one registered over REST) already has the slug.
	SlugTakenReason = "SlugTaken"
)

// StatusPageSpec says which ServiceChecks a status page shows and to whom.
//
// +kubebuilder:validation:XValidation:rule="has(self.selector) || has(self.tags)",message="set selector, tags or both: a page must say which checks it shows"
type StatusPageSpec struct {
	// Slug is the page's address: it is served at /status/<slug>. Slugs are
	// unique across the cluster; the default is the object's name.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Slug string `json:"slug,omitempty"`

	// Title is the page's heading.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title"`

	// Selector picks ServiceChecks of this page's namespace by label. A
	// page never shows a check of another namespace.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Tags, as "key=value" labels, select the ServiceChecks of this
	// namespace that carry any of them (and the selector, when both are
	// set), and group the page: one section per tag, in this order.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Tags []string `json:"tags,omitempty"`

	// Public lets anyone read the page and the badges of the checks it
	// shows; otherwise only callers with Vigil credentials may.
	// +optional
	Public bool `json:"public,omitempty"`
}

// StatusPageStatus reports what the operator made of the page.
type StatusPageStatus struct {
	// URL is the page's path on Vigil's server.
	// +optional
	URL string `json:"url,omitempty"`

	// Services counts the ServiceChecks the page shows.
	// +optional
	Services int32 `json:"services,omitempty"`

	// ObservedGeneration is the generation of the spec the operator last
	// acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions holds Ready: True when the page is served as specified.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StatusPage publishes the state, 90-day uptime and recent incidents of a
// chosen set of ServiceChecks of its namespace at /status/<slug>.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=vigil
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Public",type=boolean,JSONPath=`.spec.public`
// +kubebuilder:printcolumn:name="Services",type=integer,JSONPath=`.status.services`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StatusPage struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what the page shows.
	// +required
	Spec StatusPageSpec `json:"spec"`

	// Status is written by the operator.
	// +optional
	Status StatusPageStatus `json:"status,omitempty"`
}

// StatusPageList is a list of StatusPages.
//
// +kubebuilder:object:root=true
type StatusPageList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StatusPage `json:"items"`
}

func init() {
	SchemeBuilder.Register(&StatusPage{}, &StatusPageList{})
}
