package api

import (
	"context"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/store"
)

// The Registry's errors are the store's: the API tells them apart with
// errors.Is.
var (
	ErrNotFound      = store.ErrNotFound
	ErrNameTaken     = store.ErrNameTaken
	ErrInvalidCursor = store.ErrInvalidCursor
)

// Registry is what the REST API needs from storage; *store.Store
// implements it. The value types are the store's, so the API needs no
// adapter, while tests can still use an in-memory fake.
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

// Aliases of the store's value types, so handlers read naturally.
type (
	Service         = store.Service
	ListFilter      = store.ListFilter
	ResultQuery     = store.ResultQuery
	TransitionQuery = store.TransitionQuery
	Uptime          = store.Uptime
)
