package api

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// The Registry's errors. The API tells them apart with errors.Is, so an
// adapter over the store wraps the store's own sentinels with these.
var (
	// ErrNotFound means no service has the given id.
	ErrNotFound = errors.New("not found")
	// ErrNameTaken means another active service already has the name.
	ErrNameTaken = errors.New("name already in use")
	// ErrInvalidCursor means a results cursor was not one the registry issued.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Registry is what the REST API needs from storage. Its types mirror the
// store's field for field, so the store's values convert with a plain type
// conversion (api.Service(s)) and the API never imports the store.
type Registry interface {
	// CreateService stores c, which the API has defaulted and validated.
	CreateService(ctx context.Context, c *check.Check) (Service, error)
	GetService(ctx context.Context, id string) (Service, error)
	ListServices(ctx context.Context, f ListFilter) ([]Service, error)
	// UpdateService runs mutate on the stored check while it is locked; an
	// error from mutate aborts the update and comes back unchanged.
	UpdateService(ctx context.Context, id string, mutate func(*check.Check) error) (Service, error)
	// DeleteService stops monitoring id; its history is kept.
	DeleteService(ctx context.Context, id string) error
	// SetPaused returns the transition to or from PAUSED, or nil when the
	// service already was in the asked-for state.
	SetPaused(ctx context.Context, id string, paused bool) (Service, *check.Transition, error)
	// Results returns results newest first and the cursor of the next page
	// ("" when there is none).
	Results(ctx context.Context, checkID string, q ResultQuery) ([]check.Result, string, error)
	Transitions(ctx context.Context, q TransitionQuery) ([]check.Transition, error)
	Uptime(ctx context.Context, checkID string, since, until time.Time) (Uptime, error)
	// ServiceExists reports whether id is known; includeDeleted counts
	// deleted services too, whose history is still served.
	ServiceExists(ctx context.Context, id string, includeDeleted bool) (bool, error)
}

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

// ResultQuery pages through a check's results, newest first. Zero times are
// unbounded; Cursor continues a previous page.
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
	// Newest orders newest first; otherwise ascending by id.
	Newest bool
}

// Uptime counts results in a window.
type Uptime struct {
	Checks, Failures int64
}
