package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Finalizer is set on every ServiceCheck so that deleting it also stops
// monitoring: the operator removes the check from Vigil's registry before it
// lets the object go.
const Finalizer = "monitoring.vigil.dev/finalizer"

// Condition types of a ServiceCheck.
const (
	// ReadyCondition is True when the check is registered with Vigil as the
	// spec says, and False when the spec is invalid or registration failed.
	ReadyCondition = "Ready"
	// HealthyCondition tells whether the monitored service is up: True when
	// UP, False when DOWN, Unknown while paused or before the first
	// decisive probe.
	HealthyCondition = "Healthy"
)

// Condition reasons. They double as the reasons of the Events the operator
// records, so `kubectl describe` and the conditions tell the same story.
const (
	// RegisteredReason: the check is in Vigil's registry and being probed.
	RegisteredReason = "Registered"
	// InvalidSpecReason: the spec passed the schema but Vigil refused it;
	// the message names the field. Fix the spec to recover.
	InvalidSpecReason = "InvalidSpec"
	// NameTakenReason: a check registered through the REST API already has
	// this ServiceCheck's name ("<namespace>/<name>").
	NameTakenReason = "NameTaken"
	// RegistryErrorReason: Vigil's registry could not be reached or
	// refused the write; the operator retries with backoff.
	RegistryErrorReason = "RegistryError"

	// ServiceUpReason: the service passed successThreshold probes in a row.
	ServiceUpReason = "ServiceUp"
	// ServiceDownReason: the service failed failureThreshold probes in a row.
	ServiceDownReason = "ServiceDown"
	// ServicePausedReason: spec.paused is true, so nothing is probed.
	ServicePausedReason = "ServicePaused"
	// ServiceResumedReason: spec.paused went back to false; probing
	// restarts from UNKNOWN.
	ServiceResumedReason = "ServiceResumed"
	// AwaitingProbeReason: no decisive probe yet, after creation or resume.
	AwaitingProbeReason = "AwaitingProbe"
	// SecretUnavailableReason: a Secret the spec refers to (a header value
	// or the CA) is missing or lacks the key; the operator retries.
	SecretUnavailableReason = "SecretUnavailable"
)

// Reasons of the Events about the regions of a check with regions. They
// are Event reasons only: no condition carries them.
const (
	// RegionUnknownReason (Warning): a region that was UP or DOWN is
	// UNKNOWN, its workers silent for several intervals while other
	// regions reported; it no longer counts toward DOWN.
	RegionUnknownReason = "RegionUnknown"
	// RegionRecoveredReason (Normal): a region that went UNKNOWN is UP or
	// DOWN again, and counts in the vote again.
	RegionRecoveredReason = "RegionRecovered"
)

// ServiceState is a check's current health as Vigil sees it.
// +kubebuilder:validation:Enum=UNKNOWN;UP;DOWN;PAUSED
type ServiceState string

// The states of a check; the same words the REST API and WebSocket use.
const (
	StateUnknown ServiceState = "UNKNOWN"
	StateUp      ServiceState = "UP"
	StateDown    ServiceState = "DOWN"
	StatePaused  ServiceState = "PAUSED"
)

// ServiceCheckSpec declares one service for Vigil to probe. Set exactly one
// of url (HTTP, or the target of a tcp, tls or dns check) and grpc (gRPC
// health checking protocol).
//
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.grpc)",message="exactly one of url or grpc must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || (self.type == 'grpc') == has(self.grpc)",message="type grpc goes with grpc, every other type with url"
// +kubebuilder:validation:XValidation:rule="!has(self.url) || (has(self.type) && self.type != 'http' ? self.url.startsWith(self.type + '://') : self.url.matches('^https?://'))",message="url must start with http:// or https:// for type http, and with tcp://, tls:// or dns:// for those types"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type == 'http' || self.type == 'grpc' || (!has(self.method) && !has(self.expectedStatusCodes))",message="method and expectedStatusCodes apply to http checks only"
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || !has(self.interval) || duration(self.timeout) < duration(self.interval)",message="timeout must be less than interval"
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || (!has(self.method) && !has(self.expectedStatusCodes))",message="method and expectedStatusCodes apply to url checks only"
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || (!has(self.headers) && !has(self.body) && !has(self.tls) && !has(self.expectedStatusClasses))",message="headers, body, tls and expectedStatusClasses apply to url checks only"
// +kubebuilder:validation:XValidation:rule="!has(self.quorum) || (has(self.regions) && self.quorum <= size(self.regions))",message="quorum needs regions and must be at most their number"
type ServiceCheckSpec struct {
	// Type is how Vigil probes: http (the default with url), grpc (the
	// default with grpc), tcp (connect to tcp://host:port), tls (connect to
	// tls://host:port[?server_name=name], complete a TLS handshake that
	// verifies against the worker's roots, and require the certificate to
	// stay valid for 7 more days) or dns (ask dns://resolver:port/name
	// [?type=A|AAAA|CAA|CNAME|MX|NS|PTR|SOA|SRV|TXT] and require a NOERROR
	// answer with at least one record of the type).
	// +optional
	// +kubebuilder:validation:Enum=http;grpc;tcp;tls;dns
	Type string `json:"type,omitempty"`

	// URL is what to probe: an absolute http or https URL for an http check
	// (a probe succeeds when the response status is one of
	// expectedStatusCodes), or tcp://host:port, tls://host:port or
	// dns://resolver:port/name for those types, always with a port. It must
	// not hold credentials (user:password@host): everyone who can read the
	// check would see them.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?|tcp|tls|dns)://[^\s/?#@]+([/?#]\S*)?$`
	URL string `json:"url,omitempty"`

	// GRPC probes a gRPC server with the standard health checking protocol
	// (grpc.health.v1.Health/Check) instead of an HTTP URL.
	// +optional
	GRPC *GRPCProbe `json:"grpc,omitempty"`

	// Interval is the time between two probes, as a Go duration such as
	// "30s" or "1m". At least 1s and at most 24h.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="interval must be at least 1s"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="interval must be at most 24h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Timeout bounds one probe and must be less than interval. Defaults to
	// 5s, or 80% of the interval when that is shorter.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="timeout must be positive"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Method is the HTTP method of a url probe. Defaults to GET. Only GET,
	// HEAD and OPTIONS are accepted unless the operator allows more
	// (VIGIL_PROBE_METHODS); another method makes the check Ready=False
	// with reason InvalidSpec.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Method string `json:"method,omitempty"`

	// ExpectedStatusCodes are the HTTP statuses that count as up, together
	// with expectedStatusClasses. Defaults to [200] when neither is set.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=100
	// +kubebuilder:validation:items:Maximum=599
	ExpectedStatusCodes []int32 `json:"expectedStatusCodes,omitempty"`

	// FailureThreshold is how many failed probes in a row turn the service
	// DOWN.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FailureThreshold int32 `json:"failureThreshold,omitempty"`

	// SuccessThreshold is how many successful probes in a row turn the
	// service UP.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	SuccessThreshold int32 `json:"successThreshold,omitempty"`

	// Paused stops probing while true; the state shows PAUSED. Setting it
	// back to false resumes from UNKNOWN.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// SLOTarget is the availability objective in percent, above 0 and below
	// 100, written as a string ("99.9"): GET /api/v1/services/{id}/slo
	// reports the error budget left against it. Unset: no SLO.
	// +optional
	// +kubebuilder:validation:MaxLength=9
	// +kubebuilder:validation:Pattern=`^[0-9]{1,2}(\.[0-9]{1,6})?$`
	SLOTarget string `json:"sloTarget,omitempty"`

	// ExpectedStatusClasses are classes of HTTP statuses that count as up,
	// such as "2xx", together with expectedStatusCodes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:Enum=1xx;2xx;3xx;4xx;5xx
	ExpectedStatusClasses []string `json:"expectedStatusClasses,omitempty"`

	// Conditions are CEL expressions that must all be true for a probe to
	// count as up, such as `json.status == "UP"`, `latency_ms < 300` or
	// `cert.expires_in_hours > 48.0`. Variables: status, latency_ms,
	// headers (lower-case names), body, json (the body parsed, or null),
	// cert (expires_in_hours, not_after, subject, issuer) and answers. One
	// that does not compile makes the check Ready=False with reason
	// InvalidSpec, naming spec.conditions[i].
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	Conditions []string `json:"conditions,omitempty"`

	// Headers are sent with every request of a url probe. A value may come
	// from a Secret of the check's namespace; the operator reads it and
	// never shows it in status or Events.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Headers []HTTPHeader `json:"headers,omitempty"`

	// Body is sent as the request body of a url probe (with a method that
	// takes one, which the operator of Vigil must allow).
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Body string `json:"body,omitempty"`

	// TLS tunes how an https url's certificate is verified.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// Regions are where the service is probed from: each tick sends one
	// probe to the workers of every listed region (the workers whose
	// VIGIL_REGION names it), and each region keeps its own UP/DOWN state
	// with the thresholds above. Unset: the workers of the default region
	// alone, as without regions. A region whose workers send no results
	// for a while is UNKNOWN and never counts toward DOWN.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Regions []string `json:"regions,omitempty"`

	// Quorum is how many of the regions must see the service DOWN for it to
	// be DOWN; with fewer it is UP. Defaults to a majority of regions (2 of
	// 3). Only with regions, and at most their number.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Quorum int32 `json:"quorum,omitempty"`
}

// HTTPHeader is one request header. Set exactly one of value and valueFrom.
//
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value or valueFrom"
type HTTPHeader struct {
	// Name is the header's name, such as Authorization.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Name string `json:"name"`

	// Value is the header's value, in clear in the object: use valueFrom
	// for credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`

	// ValueFrom reads the value from a Secret.
	// +optional
	ValueFrom *HeaderValueSource `json:"valueFrom,omitempty"`
}

// HeaderValueSource says where a header's value comes from.
type HeaderValueSource struct {
	// SecretKeyRef is a key of a Secret in the check's namespace.
	// +required
	SecretKeyRef SecretKeyRef `json:"secretKeyRef"`
}

// SecretKeyRef names one key of a Secret in the check's namespace.
type SecretKeyRef struct {
	// Name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key is the key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// TLSConfig tunes certificate verification of an https url.
type TLSConfig struct {
	// InsecureSkipVerify accepts any certificate. The certificate is still
	// read for conditions and the expiry metric.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`

	// ServerName is sent in SNI and verified instead of the url's host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`

	// CASecretRef names a Secret key holding PEM certificates to verify
	// against instead of the system roots: a private CA. The key defaults
	// must be given (often ca.crt).
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`
}

// GRPCProbe says where to send a gRPC health check.
type GRPCProbe struct {
	// Address is the host:port of the gRPC server.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):[0-9]{1,5}$`
	Address string `json:"address"`

	// Service is the service name sent in the health request; empty asks
	// about the server as a whole.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Service string `json:"service,omitempty"`

	// TLS connects with TLS instead of plaintext.
	// +optional
	TLS bool `json:"tls,omitempty"`
}

// ServiceCheckStatus is the live health of the service. The operator writes
// it when the state changes and when the spec changes, never per probe, so
// watching it costs nothing while the service is steady.
type ServiceCheckStatus struct {
	// State is the service's current health: UNKNOWN, UP, DOWN or PAUSED.
	// +optional
	State ServiceState `json:"state,omitempty"`

	// LastTransitionTime is when the state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// LastProbeTime is when the probe that caused the last change ran.
	// Steady probes do not update it.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`

	// LatencyMillis is the latency of that probe in milliseconds.
	// +optional
	LatencyMillis int64 `json:"latencyMillis,omitempty"`

	// ConsecutiveFailures counts failed probes in a row at the last change.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// Message explains the state: the probe's error when DOWN.
	// +optional
	Message string `json:"message,omitempty"`

	// ServiceID is this check's id in Vigil's REST API and WebSocket events.
	// +optional
	ServiceID string `json:"serviceID,omitempty"`

	// LastTransitionID is the id of the last state change in Vigil's
	// transition log; a WebSocket client can resume after it with ?since=.
	// +optional
	LastTransitionID int64 `json:"lastTransitionID,omitempty"`

	// ObservedGeneration is the generation of the spec the operator last
	// acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are Ready (the check is registered as specified) and
	// Healthy (the service is up).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Regions are the states of the regions spec.regions lists, in its
	// order, as the vote counted them at the check's last transition:
	// Vigil reports a region's state when the check's own state changes,
	// not each time a region's does. Unset for a check without regions.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Regions []RegionStatus `json:"regions,omitempty"`
}

// RegionState is a region's part in the vote of a check with regions.
// +kubebuilder:validation:Enum=UNKNOWN;UP;DOWN
type RegionState string

// The states of a region.
const (
	RegionStateUnknown RegionState = "UNKNOWN"
	RegionStateUp      RegionState = "UP"
	RegionStateDown    RegionState = "DOWN"
)

// RegionStatus is one region's state in the vote of a check with regions.
type RegionStatus struct {
	// Name is the region, as spec.regions lists it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// State is UP or DOWN as the region's workers see the service, or
	// UNKNOWN when they have sent no result yet or none for several
	// intervals while other regions did; an UNKNOWN region never counts
	// toward DOWN.
	// +required
	State RegionState `json:"state"`

	// LastTransitionTime is when the region's state last changed, as of
	// the check's transitions. Unset while the region has been UNKNOWN
	// since the check was created or resumed: it has not reported yet.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// ServiceCheck asks Vigil to monitor one HTTP, gRPC, TCP, TLS or DNS service. Its status
// shows the service's live state, a Healthy condition to wait on, and an
// Event on every change.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sc,categories=vigil
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="GRPC",type=string,JSONPath=`.spec.grpc.address`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.interval`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="whether Vigil accepted and registered the spec (False with InvalidSpec: see the message)"
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Latency",type=integer,JSONPath=`.status.latencyMillis`,description="latency of the probe that caused the last change, in milliseconds"
// +kubebuilder:printcolumn:name="Last-Change",type=date,JSONPath=`.status.lastTransitionTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1,description="why the check is not Ready"
type ServiceCheck struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what to probe and how often.
	// +required
	Spec ServiceCheckSpec `json:"spec"`

	// Status is written by the operator.
	// +optional
	Status ServiceCheckStatus `json:"status,omitempty"`
}

// ServiceCheckList is a list of ServiceChecks.
//
// +kubebuilder:object:root=true
type ServiceCheckList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceCheck `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceCheck{}, &ServiceCheckList{})
}
