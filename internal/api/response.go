package api

import (
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// timeFormat is RFC 3339 in UTC with milliseconds, the API's one spelling
// of a time.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// optTime is null for a time that never happened.
func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

// millis keeps microsecond precision: local probes often take well under
// a millisecond, and rounding those to 0 would hide them.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type serviceJSON struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	Type                string   `json:"type"`
	URL                 string   `json:"url"`
	Method              string   `json:"method"`
	ExpectedStatus      any      `json:"expected_status"`
	GRPCService         string   `json:"grpc_service,omitempty"`
	IntervalSeconds     float64  `json:"interval_seconds"`
	TimeoutSeconds      float64  `json:"timeout_seconds"`
	FailureThreshold    int      `json:"failure_threshold"`
	SuccessThreshold    int      `json:"success_threshold"`
	Tags                []string `json:"tags"`
	Paused              bool     `json:"paused"`
	Status              string   `json:"status"`
	LastCheckedAt       *string  `json:"last_checked_at"`
	LastLatencyMs       *float64 `json:"last_latency_ms"`
	LastChangeAt        *string  `json:"last_change_at"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	LastError           string   `json:"last_error,omitempty"`
	// FailedCondition is the index in conditions of the one LastError is
	// about, so a client can mark it without reading the message.
	FailedCondition *int   `json:"failed_condition,omitempty"`
	CreatedAt       string `json:"created_at"`
	UpdatedAt       string `json:"updated_at"`
	probeOptionsJSON
	// SLOTarget is null when the service has none.
	SLOTarget *float64 `json:"slo_target"`
	// Regions and Quorum are omitted for a check probed from the default
	// region alone, so its document is what it was before regions.
	Regions []string `json:"regions,omitempty"`
	Quorum  int      `json:"quorum,omitempty"`
	// RegionStates is each listed region's state as the vote counts it
	// (UNKNOWN for a region that has sent nothing or fell behind), the
	// shape of a transition's regions; omitted without regions.
	RegionStates map[string]check.State `json:"region_states,omitempty"`
}

func toServiceJSON(s *registry.Service) serviceJSON {
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	status := s.State.State
	if status == "" {
		status = check.StateUnknown
	}
	var latency *float64
	if !s.State.LastCheckedAt.IsZero() {
		ms := millis(s.State.LastLatency)
		latency = &ms
	}
	return serviceJSON{
		ID:                  s.ID,
		Name:                s.Name,
		Type:                string(s.Type),
		URL:                 s.URL,
		Method:              s.Method,
		ExpectedStatus:      expectedStatusJSON(&s.Check),
		GRPCService:         s.GRPCService,
		IntervalSeconds:     s.Interval.Seconds(),
		TimeoutSeconds:      s.Timeout.Seconds(),
		FailureThreshold:    s.FailureThreshold,
		SuccessThreshold:    s.SuccessThreshold,
		Tags:                tags,
		Paused:              s.Paused,
		Status:              string(status),
		LastCheckedAt:       optTime(s.State.LastCheckedAt),
		LastLatencyMs:       latency,
		LastChangeAt:        optTime(s.State.LastChangeAt),
		ConsecutiveFailures: s.State.ConsecutiveFailures,
		LastError:           s.State.LastError,
		FailedCondition:     failedCondition(s.Conditions, s.State.LastError),
		CreatedAt:           formatTime(s.CreatedAt),
		UpdatedAt:           formatTime(s.UpdatedAt),
		probeOptionsJSON:    toProbeOptionsJSON(&s.Check),
		SLOTarget:           optFloat(s.SLOTarget),
		Regions:             s.Regions,
		Quorum:              s.Quorum,
		RegionStates:        check.CountedRegions(s.Regions, s.RegionStates, s.Interval),
	}
}

type listJSON[T any] struct {
	Items []T `json:"items"`
}

// listOf converts every item with toJSON; the list is never null.
func listOf[S, T any](items []S, toJSON func(*S) T) listJSON[T] {
	out := listJSON[T]{Items: make([]T, 0, len(items))}
	for i := range items {
		out.Items = append(out.Items, toJSON(&items[i]))
	}
	return out
}

type resultJSON struct {
	// Region is where the probe ran, for a check with regions only.
	Region      string  `json:"region,omitempty"`
	Status      string  `json:"status"`
	LatencyMs   float64 `json:"latency_ms"`
	CheckedAt   string  `json:"checked_at"`
	ScheduledAt string  `json:"scheduled_at"`
	HTTPStatus  int     `json:"http_status,omitempty"`
	Error       string  `json:"error,omitempty"`
}

type resultsJSON struct {
	Items []resultJSON `json:"items"`
	// NextCursor is null on the last page.
	NextCursor *string `json:"next_cursor"`
}

func toResultJSON(r *check.Result) resultJSON {
	return resultJSON{
		Status:      string(r.Status),
		LatencyMs:   millis(r.Latency),
		CheckedAt:   formatTime(r.CheckedAt),
		ScheduledAt: formatTime(r.ScheduledAt),
		HTTPStatus:  r.HTTPStatus,
		Error:       r.Error,
		Region:      r.Region,
	}
}

type transitionJSON struct {
	ID        int64   `json:"id"`
	ServiceID string  `json:"service_id"`
	Service   string  `json:"service"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	At        string  `json:"at"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	// Regions are the regions' states of a check with regions.
	Regions map[string]check.State `json:"regions,omitempty"`
}

func toTransitionJSON(t *check.Transition) transitionJSON {
	return transitionJSON{
		ID:        t.ID,
		ServiceID: t.CheckID,
		Service:   t.Service,
		From:      string(t.From),
		To:        string(t.To),
		At:        formatTime(t.At),
		LatencyMs: millis(t.Latency),
		Error:     t.Error,
		Regions:   t.Regions,
	}
}

type uptimeJSON struct {
	Window string `json:"window"`
	// Region is the region asked for (?region=): only its results are
	// counted. Omitted when every region's are.
	Region string `json:"region,omitempty"`
	// UptimeRatio is null when the window holds no results: an unprobed
	// service is neither 0% nor 100% up.
	UptimeRatio *float64 `json:"uptime_ratio"`
	Checks      int64    `json:"checks"`
	Failures    int64    `json:"failures"`
	Since       string   `json:"since"`
	Until       string   `json:"until"`
	// LatencyMs is null when the window holds no results.
	LatencyMs *latencyJSON `json:"latency_ms"`
}
