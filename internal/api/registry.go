package api

import (
	"context"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Registry is what the REST API needs from storage. It speaks the
// registry package's values and errors (told apart with errors.Is), so the
// API never imports the store: internal/app hands it the PostgreSQL store,
// tests an in-memory fake (registrytest).
type Registry interface {
	// CreateService stores c, which the API has defaulted and validated.
	CreateService(ctx context.Context, c *check.Check) (registry.Service, error)
	GetService(ctx context.Context, id string) (registry.Service, error)
	// PageServices returns a page of services in name order and the
	// cursor of the next page ("" when there is none).
	PageServices(ctx context.Context, q registry.ServiceQuery) ([]registry.Service, string, error)
	// CountServices counts the services f selects per state.
	CountServices(ctx context.Context, f registry.ListFilter) (registry.StateCounts, error)
	// UpdateService runs mutate on the stored check while it is locked; an
	// error from mutate aborts the update and comes back unchanged.
	UpdateService(ctx context.Context, id string, mutate func(*check.Check) error) (registry.Service, error)
	// DeleteService stops monitoring id; its history is kept.
	DeleteService(ctx context.Context, id string) error
	// SetPaused returns the transition to or from PAUSED, or nil when the
	// service already was in the asked-for state.
	SetPaused(ctx context.Context, id string, paused bool) (registry.Service, *check.Transition, error)
	// ServiceExists reports whether id is known; includeDeleted counts
	// deleted services too, whose history is still served.
	ServiceExists(ctx context.Context, id string, includeDeleted bool) (bool, error)
	History
}

// History is what the history endpoints read: a service's results,
// transitions, uptime and rollups.
type History interface {
	// Results returns results newest first and the cursor of the next page
	// ("" when there is none).
	Results(ctx context.Context, checkID string, q registry.ResultQuery) ([]check.Result, string, error)
	Transitions(ctx context.Context, q registry.TransitionQuery) ([]check.Transition, error)
	Uptime(ctx context.Context, checkID string, since, until time.Time) (registry.Uptime, error)
	// RegionUptime is Uptime over one region's results; it reads raw
	// results only, so the window must lie within the results retention.
	RegionUptime(ctx context.Context, checkID, region string, since, until time.Time) (registry.Uptime, error)
	// Rollups returns a check's hourly or daily rollups, oldest first.
	Rollups(ctx context.Context, checkID string, q registry.RollupQuery) ([]registry.Rollup, error)
}
