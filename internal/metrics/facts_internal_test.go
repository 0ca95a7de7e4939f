package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func collect(f *facts) int {
	ch := make(chan prometheus.Metric, 16)
	f.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}

// A worker that stopped probing a check (another took it over) drops its
// facts after a few of the check's intervals.
func TestFactsExpire(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFacts(func() time.Time { return now }, nil)
	f.record(check.Result{CheckID: "hourly", HTTPStatus: 200, Interval: time.Hour})
	f.record(check.Result{CheckID: "fast", HTTPStatus: 200, Interval: time.Second})
	require.Equal(t, 2, collect(f))
	now = now.Add(MinFactsTTL + time.Second)
	require.Equal(t, 1, collect(f), "the fast check's facts are stale after MinFactsTTL")
	now = now.Add(3 * time.Hour)
	require.Equal(t, 0, collect(f))
	f.record(check.Result{HTTPStatus: 200})
	require.Equal(t, 0, collect(f), "a result without a check id is ignored")
}
