// Package registry is the vocabulary every part of Vigil uses to talk about
// the registry of checks and its history: a registered Service with its
// state, the filters and queries that read it, what recording results did,
// and the errors a registry answers with.
//
// It holds values only, no behaviour and no I/O, and it imports nothing of
// Vigil but the domain package check. That is the point of it: the
// PostgreSQL store maps its rows into these types, and the REST API, the
// operator and the worker declare the small interfaces they consume in
// these types too, so none of them imports the store (or, through it,
// pgx). River keeps its shared values in rivertype for the same reason.
// The name is the thing the values describe, the registry; the
// implementations live elsewhere (store, and registrytest's in-memory
// fake).
package registry

import (
	"errors"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

var (
	// ErrNotFound means no service has the given id.
	ErrNotFound = errors.New("not found")
	// ErrNameTaken means another active service already has the name.
	ErrNameTaken = errors.New("name already in use")
	// ErrInvalidCursor means a results cursor was not one the registry
	// issued.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Service is a check together with its current state.
type Service struct {
	check.Check
	State check.Snapshot
	// RegionStates are the regions' own snapshots of a check with regions
	// (by region, regions the check no longer lists included), what
	// check.CountedRegions reads; nil for a check without regions and for
	// regions that have sent no result yet.
	RegionStates map[string]check.Snapshot
}

// ListFilter narrows a listing of services; zero fields do not filter.
type ListFilter struct {
	Tag   string
	State check.State
	// Name keeps services whose name holds it, ignoring case; it is
	// matched literally (no wildcards).
	Name string
}

// ServiceQuery pages through active services in name order (byte order,
// then id). Cursor continues a previous page; Limit is clamped like a
// ResultQuery's.
type ServiceQuery struct {
	ListFilter
	Limit  int
	Cursor string
}

// StateCounts counts active services per state: what a dashboard shows
// above its table without fetching every service.
type StateCounts struct {
	Total   int64
	ByState map[check.State]int64
	// LastTransitionID is the newest transition id in the same snapshot:
	// a client applying transitions as deltas applies those above it.
	LastTransitionID int64
}

// RegionCount is how many active, unpaused checks with regions count
// Region in State (check.Counted's rule): one series of the
// vigil_region_checks gauge.
type RegionCount struct {
	Region string
	State  check.State
	Checks int64
}

// ResultQuery pages through a check's results, newest first. Zero times
// are unbounded; Cursor continues a previous page.
type ResultQuery struct {
	Since, Until time.Time
	Limit        int
	Cursor       string
	// Region keeps only the results that region probed; "" keeps every
	// region's. A check without regions records under check.DefaultRegion.
	Region string
}

// TransitionQuery selects transitions.
type TransitionQuery struct {
	// CheckID limits the query to one check; "" means every check.
	CheckID string
	// AfterID returns only transitions with a larger id.
	AfterID int64
	Limit   int
	// Newest orders newest first (history listings); otherwise ascending
	// by id (WebSocket replay).
	Newest bool
	// Region keeps only the transitions a result of that region caused;
	// "" keeps every transition. A pause or resume is caused by no
	// result, so a Region leaves it out.
	Region string
}

// Uptime counts results in a window and summarises their latency.
type Uptime struct {
	Checks, Failures int64
	// Latency is zero when Checks is.
	Latency Latency
}

// Latency summarises the latencies of a window's results. P95 comes from
// the rollups' log-spaced histogram: within 20% of the true value.
type Latency struct {
	Avg, P95, Max time.Duration
}

// Rollup is one bucket of a check's history at a fixed resolution.
type Rollup struct {
	Start            time.Time
	Checks, Failures int64
	Latency          Latency
}

// RollupQuery selects a check's rollups whose start lies in [Since,
// Until), at Resolution (an hour or a day).
type RollupQuery struct {
	Since, Until time.Time
	Resolution   time.Duration
}

// RecordOutcome says what recording a batch of results did.
type RecordOutcome struct {
	// Transitions are the state changes the results caused, ordered by id.
	// A redelivered result's transition (logged by its first delivery) is
	// included again so that a worker that died between commit and publish
	// still gets it broadcast; broadcasters de-duplicate by id.
	Transitions []check.Transition
	// Stored counts results newly appended; duplicates are not counted.
	Stored int
	// Dropped counts results of checks that are paused, deleted or unknown.
	Dropped int
}
