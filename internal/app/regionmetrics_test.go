package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/registry"
)

// countsInTurn answers each count with the next of its answers and says
// on called when it has answered.
type countsInTurn struct {
	answers []func() ([]registry.RegionCount, error)
	called  chan int
	n       int
}

func (c *countsInTurn) CountRegionStates(context.Context) ([]registry.RegionCount, error) {
	defer func() { c.called <- c.n; c.n++ }()
	if c.n >= len(c.answers) {
		return nil, errors.New("no more answers")
	}
	return c.answers[c.n]()
}

// TestCountRegionChecks: the server counts at once, keeps counting after a
// failed count, and a failed count leaves the last one served.
func TestCountRegionChecks(t *testing.T) {
	m := metrics.New()
	counter := &countsInTurn{called: make(chan int), answers: []func() ([]registry.RegionCount, error){
		func() ([]registry.RegionCount, error) {
			return []registry.RegionCount{{Region: "eu", State: check.StateDown, Checks: 3}}, nil
		},
		func() ([]registry.RegionCount, error) { return nil, errors.New("database away") },
	}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- countRegionChecks(ctx, counter, m, time.Millisecond, zap.NewNop()) }()
	require.Equal(t, 0, <-counter.called, "the first count runs at once")
	require.Equal(t, 1, <-counter.called, "and the loop goes on")
	require.Equal(t, 2, <-counter.called, "after a failed count too")
	cancel()
	go func() {
		for range counter.called { // counts that raced the cancel
		}
	}()
	require.NoError(t, <-done)
	close(counter.called) // the loop has returned: nothing sends any more

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	require.Contains(t, body, `vigil_region_checks{region="eu",state="DOWN"} 3`, "the last good count is served")
	require.Equal(t, 3, strings.Count(body, "vigil_region_checks{"), "one series per state of the one region")
}
