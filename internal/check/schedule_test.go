package check_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestNextTick(t *testing.T) {
	i := 10 * time.Second
	tests := []struct {
		name       string
		late       time.Duration
		catchUp    time.Duration
		tick, next time.Duration
	}{
		{"on time", 0, 0, 0, 10 * time.Second},
		{"slightly late keeps the tick", 3 * time.Second, 0, 0, 10 * time.Second},
		{"just under an interval late", i - time.Millisecond, 0, 0, 10 * time.Second},
		{"no catch-up: one interval late skips one tick", i, 0, 10 * time.Second, 20 * time.Second},
		{"no catch-up: many intervals late skips to the latest", 95 * time.Second, 0, 90 * time.Second, 100 * time.Second},
		{"within catch-up the missed tick is dispatched late", 25 * time.Second, 30 * time.Second, 0, 10 * time.Second},
		{"exactly at catch-up still dispatched", 30 * time.Second, 30 * time.Second, 0, 10 * time.Second},
		{"past catch-up resumes at the oldest tick within it", 95 * time.Second, 30 * time.Second, 70 * time.Second, 80 * time.Second},
		{"past catch-up by a fraction", 31 * time.Second, 30 * time.Second, 10 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tick, next := check.NextTick(t0, t0.Add(tt.late), i, tt.catchUp)
			require.Equal(t, t0.Add(tt.tick), tick)
			require.Equal(t, t0.Add(tt.next), next)
			require.LessOrEqual(t, t0.Add(tt.late).Sub(tick), max(tt.catchUp, i), "never later than the catch-up window")
		})
	}
	tick, next := check.NextTick(t0, t0, 0, 0)
	require.Equal(t, t0, tick)
	require.Equal(t, t0.Add(check.MinInterval), next, "a zero interval never spins")
}

func TestFirstTick(t *testing.T) {
	i := 10 * time.Second
	now := t0.Add(1234567 * time.Microsecond)
	a := check.FirstTick("a", now, i)
	require.False(t, a.Before(now))
	require.True(t, a.Before(now.Add(i)))
	require.Equal(t, a, a.Truncate(time.Millisecond), "ticks survive a database round trip")
	require.Equal(t, a, check.FirstTick("a", now, i), "stable for one id")
	later := check.FirstTick("a", now.Add(37*time.Second), i)
	require.Zero(t, later.Sub(a)%i, "the same phase at any time")

	// Phases spread checks over the interval instead of one burst.
	buckets := map[int64]int{}
	for n := range 1000 {
		tick := check.FirstTick(fmt.Sprintf("check-%d", n), t0, i)
		buckets[int64(tick.Sub(t0)/time.Second)]++
	}
	require.Len(t, buckets, 10)
	for b, n := range buckets {
		require.Greater(t, n, 50, "bucket %d", b)
	}
	require.Equal(t, t0, check.FirstTick("x", t0, 0).Truncate(time.Second))
}

func TestJobFor(t *testing.T) {
	c := &check.Check{ID: "id", Name: "n", Type: check.TypeHTTP, URL: "http://x", Method: "HEAD",
		ExpectedStatus: 204, Timeout: time.Second, Interval: time.Minute}
	j := check.JobFor(c, t0)
	require.Equal(t, check.Job{CheckID: "id", Service: "n", Type: check.TypeHTTP, URL: "http://x",
		Method: "HEAD", ExpectedStatus: 204, Timeout: time.Second, ScheduledAt: t0, Interval: time.Minute}, j,
		"the job carries the interval, which bounds how late a worker still probes it")
	require.Equal(t, check.Thresholds{1, 1}, c.Thresholds())
}

func TestSkipped(t *testing.T) {
	due := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		tick     time.Time
		interval time.Duration
		want     int
	}{
		{"the due tick itself", due, 10 * time.Second, 0},
		{"one interval on", due.Add(10 * time.Second), 10 * time.Second, 1},
		{"four intervals on", due.Add(40 * time.Second), 10 * time.Second, 4},
		{"a tick before due passes over nothing", due.Add(-10 * time.Second), 10 * time.Second, 0},
		{"no interval counts check.MinInterval", due.Add(3 * check.MinInterval), 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, check.Skipped(due, tt.tick, tt.interval))
		})
	}
	// What NextTick passes over is what Skipped counts.
	tick, _ := check.NextTick(due, due.Add(95*time.Second), 10*time.Second, 30*time.Second)
	require.Equal(t, 7, check.Skipped(due, tick, 10*time.Second))
}
