package check

import (
	"time"
)

// Type is the protocol a check probes with.
type Type string

const (
	// TypeHTTP probes an http(s) URL and compares the response status.
	TypeHTTP Type = "http"
	// TypeGRPC calls grpc.health.v1.Health/Check on a grpc:// address.
	TypeGRPC Type = "grpc"
	// TypeTCP connects to tcp://host:port; up when the connection opens.
	TypeTCP Type = "tcp"
	// TypeTLS connects to tls://host:port and completes a TLS handshake
	// whose certificate verifies and is not about to expire.
	TypeTLS Type = "tls"
	// TypeDNS asks the resolver of dns://resolver:port/name?type=A for the
	// name's records; up when it answers NOERROR with at least one.
	TypeDNS Type = "dns"
)

// Types returns every type Vigil can probe. A fresh slice is returned on
// every call.
func Types() []Type { return []Type{TypeHTTP, TypeGRPC, TypeTCP, TypeTLS, TypeDNS} }

// Limits and defaults of a check's fields. They are part of the REST and CRD
// contracts, so they live in one place.
const (
	MaxNameLength = 200
	// MaxURLBytes matches the CRD's maxLength of spec.url.
	MaxURLBytes = 2048
	// MaxGRPCServiceLength matches the CRD's maxLength of spec.grpc.service.
	MaxGRPCServiceLength = 256
	// MaxTags and MaxTagLength keep a check's tags to what a label set
	// can hold (a label value is at most 63 characters); every list and
	// every filter by tag reads them.
	MaxTags         = 32
	MaxTagLength    = 63
	MinInterval     = time.Second
	MaxInterval     = 24 * time.Hour
	DefaultTimeout  = 5 * time.Second
	DefaultMethod   = "GET"
	DefaultExpected = 200
	// DefaultThreshold is both thresholds' default: one result decides.
	DefaultThreshold = 1
)

// The registries a check can come from; Check.Source holds one.
const (
	SourceAPI        = "api"
	SourceKubernetes = "kubernetes"
)

// Check is one monitored service as every part of Vigil sees it, whichever
// registry (REST or ServiceCheck CR) declared it.
type Check struct {
	ID   string
	Name string
	Type Type
	// URL is an http(s) URL for HTTP checks, grpc://host:port (or
	// grpcs://host:port for TLS) for gRPC checks, and for the others the
	// forms ParseTarget reads.
	URL            string
	Method         string
	ExpectedStatus int
	// GRPCService is the service name sent in the gRPC health request; empty
	// asks about the server as a whole.
	GRPCService      string
	Interval         time.Duration
	Timeout          time.Duration
	FailureThreshold int
	SuccessThreshold int
	Tags             []string
	Paused           bool
	// SLOTarget is the availability objective in percent (99.9), above 0
	// and below 100; 0 means none is set.
	SLOTarget float64
	// Source tells which registry owns the row (SourceAPI or
	// SourceKubernetes).
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time

	// Probe options beyond the basics (see request.go).

	// Conditions are CEL expressions (package cond) that must all hold for
	// a probe to count as UP, on top of the expected status.
	Conditions []string
	// ExpectedStatuses, when set, replace ExpectedStatus: codes ("204") and
	// classes ("2xx"). ExpectedStatus is 0 then. A single code is kept in
	// ExpectedStatus alone, as before lists existed.
	ExpectedStatuses []string
	// Headers are sent with every HTTP request. Their values may be
	// secrets: registries never show them (see RedactedHeaders).
	Headers []Header
	// Body is sent as the HTTP request body.
	Body string
	// TLS tunes how an https target's certificate is verified.
	TLS TLSOptions

	// Regions are where the check is probed from, one job per region and
	// tick; empty means the default region alone, exactly as before
	// regions existed. Quorum is how many regions must see the check
	// DOWN for it to be DOWN (0 when Regions is empty).
	Regions []string
	Quorum  int
}

// Thresholds returns the counters the state machine needs, floored so
// that a zero value behaves like the plain "one failure is DOWN".
func (c *Check) Thresholds() Thresholds {
	return Thresholds{Failure: c.FailureThreshold, Success: c.SuccessThreshold}.floored()
}

// Job is one scheduled probe of one check: the message the scheduler
// publishes and a worker consumes. It carries the probe's whole spec so a
// worker needs no database read before probing.
type Job struct {
	CheckID        string        `json:"check_id"`
	Service        string        `json:"service"`
	Type           Type          `json:"type"`
	URL            string        `json:"url"`
	Method         string        `json:"method,omitempty"`
	ExpectedStatus int           `json:"expected_status,omitempty"`
	GRPCService    string        `json:"grpc_service,omitempty"`
	Timeout        time.Duration `json:"timeout_ns"`
	// ScheduledAt is the grid point this job stands for. Together with
	// CheckID it identifies the job, which is what makes redeliveries
	// idempotent when the result is stored.
	ScheduledAt time.Time `json:"scheduled_at"`
	// Interval is the check's interval, which tells a worker how late the
	// job may still be probed: once its successor tick is due as well, a
	// late probe of this one mostly delays the rest (see worker.Config.
	// MaxJobAge). Zero in a message from a scheduler that predates the
	// field; workers that predate it ignore it.
	Interval time.Duration `json:"interval_ns,omitempty"`

	// The probe options below are omitted when unset, so a job of a check
	// without them is the message it always was. Header values travel in
	// clear: the broker is inside Vigil's trust boundary (see
	// docs/operations.md).
	Conditions       []string    `json:"conditions,omitempty"`
	ExpectedStatuses []string    `json:"expected_statuses,omitempty"`
	Headers          []Header    `json:"headers,omitempty"`
	Body             string      `json:"body,omitempty"`
	TLS              *TLSOptions `json:"tls,omitempty"`

	// MetricLabels are the labels of the check's per-check series beyond
	// check_id and service (namespace, name, label_<key>), as the
	// scheduler's process resolved them, so the worker's per-check facts
	// carry the labels vigil_check_up carries. At most MaxMetricLabels
	// count; a worker uses only the names its own series have and cleans
	// every value. Omitted when empty: a job without them is the message
	// it always was, and a worker that predates the field ignores it.
	MetricLabels []MetricLabel `json:"metric_labels,omitempty"`

	// Region is where the job is to be probed: the scheduler routes it to
	// that region's queue, and its result is recorded under it. Empty for
	// a check without regions (the default region), so such a job is the
	// message it always was.
	Region string `json:"region,omitempty"`
}

// ResultRegion is the region a result of j is recorded under.
func (j *Job) ResultRegion() string {
	if j.Region == "" {
		return DefaultRegion
	}
	return j.Region
}

// MetricLabel is one label of a check's per-check series: a Prometheus
// label name and its value.
type MetricLabel struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MaxMetricLabels bounds Job.MetricLabels: namespace and name, and up to
// ten copied labels (metrics.MaxLabelKeys). A worker reads no more than
// this many from a job, whatever the job holds.
const MaxMetricLabels = 12

// JobFor builds the job for one tick of c.
func JobFor(c *Check, scheduledAt time.Time) Job {
	return Job{
		CheckID:        c.ID,
		Service:        c.Name,
		Type:           c.Type,
		URL:            c.URL,
		Method:         c.Method,
		ExpectedStatus: c.ExpectedStatus,
		GRPCService:    c.GRPCService,
		Timeout:        c.Timeout,
		ScheduledAt:    scheduledAt,
		Interval:       c.Interval,

		Conditions:       c.Conditions,
		ExpectedStatuses: c.ExpectedStatuses,
		Headers:          c.Headers,
		Body:             c.Body,
		TLS:              c.TLS.orNil(),
	}
}

// JobsFor appends to dst the jobs of one tick of c: one job, as JobFor
// builds it, for a check without regions (no extra cost), and one per
// listed region otherwise, each carrying its region.
func JobsFor(dst []Job, c *Check, scheduledAt time.Time) []Job {
	j := JobFor(c, scheduledAt)
	if !c.MultiRegion() {
		return append(dst, j)
	}
	for _, r := range c.Regions {
		j.Region = r
		dst = append(dst, j)
	}
	return dst
}

// ResultStatus is the outcome of one probe.
type ResultStatus string

// The two outcomes of a probe.
const (
	ResultUp   ResultStatus = "UP"
	ResultDown ResultStatus = "DOWN"
)

// Result is one probe outcome. A failed probe is a Result with
// Status == ResultDown and an Error; it is never a Go error.
type Result struct {
	CheckID     string
	Service     string
	ScheduledAt time.Time
	CheckedAt   time.Time
	Status      ResultStatus
	Latency     time.Duration
	HTTPStatus  int
	Error       string
	// CertNotAfter is when the target's leaf certificate expires (zero
	// when the probe saw none); metrics export it per check.
	CertNotAfter time.Time
	// Interval is the probed check's interval (zero when unknown): how
	// long this result's facts stay current in per-check metrics.
	Interval time.Duration
	// MetricLabels are the job's (Job.MetricLabels): the labels the
	// check's per-check facts carry. Not stored.
	MetricLabels []MetricLabel
	// Region is where the probe ran (Job.ResultRegion): DefaultRegion for
	// a check without regions. Empty reads as DefaultRegion.
	Region string
}

// ResultRegion is the region r is recorded under.
func (r *Result) ResultRegion() string {
	if r.Region == "" {
		return DefaultRegion
	}
	return r.Region
}

// Success reports whether the probe passed.
func (r *Result) Success() bool { return r.Status == ResultUp }

// Transition is one change of a check's state, as logged and broadcast.
type Transition struct {
	// ID increases with every transition of every check; clients resume
	// a WebSocket stream from it.
	ID      int64
	CheckID string
	Service string
	From    State
	To      State
	At      time.Time
	Latency time.Duration
	Error   string
	// ScheduledAt is the tick of the result that caused the transition
	// (zero for pause and resume), which lets a redelivered job find and
	// re-publish the transition its first delivery logged.
	ScheduledAt time.Time
	// Region is the region of that result (empty reads as DefaultRegion);
	// with ScheduledAt it names the result.
	Region string
	// Regions are the states of a check with regions, region by region,
	// when it changed; nil for a check without regions.
	Regions map[string]State
}

// ResultRegion is the region of the result that caused t.
func (t *Transition) ResultRegion() string {
	if t.Region == "" {
		return DefaultRegion
	}
	return t.Region
}
