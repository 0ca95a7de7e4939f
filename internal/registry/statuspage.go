package registry

import (
	"errors"
	"time"
)

// ErrSlugTaken means another status page already has the slug.
var ErrSlugTaken = errors.New("slug already in use")

// StatusPage is a page that shows a chosen set of services to people who
// may see nothing else of Vigil.
type StatusPage struct {
	ID    string
	Slug  string
	Title string
	// Tags selects the services that carry any of them, and groups them on
	// the page. It is the selection of pages registered over REST.
	Tags []string
	// ServiceIDs, when not nil, is the selection instead of Tags: a
	// Kubernetes StatusPage resolves its label selector to the ServiceChecks
	// of its own namespace, which tags alone cannot express.
	ServiceIDs []string
	Public     bool
	// Source tells which registry owns the row (check.SourceAPI or
	// check.SourceKubernetes).
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DayUptime counts one service's results on one UTC day.
type DayUptime struct {
	Day time.Time
	Uptime
}
