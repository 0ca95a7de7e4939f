// Package store keeps Vigil's state in PostgreSQL: the registry of checks,
// the scheduling columns the scheduler claims from, the append-only result
// log, each check's current state and the transition log. pgx types never
// leave this package.
package store

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
	// ErrInvalidCursor means a results cursor was not one this store issued.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Service is a check together with its current state.
type Service struct {
	check.Check
	State check.Snapshot
}

// ListFilter narrows ListServices; zero fields do not filter.
type ListFilter struct {
	Tag   string
	State check.State
}

// ResultQuery pages through a check's results, newest first. Zero times
// are unbounded; Cursor continues a previous page.
type ResultQuery struct {
	Since, Until time.Time
	Limit        int
	Cursor       string
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
}

// Uptime counts results in a window.
type Uptime struct {
	Checks, Failures int64
}
