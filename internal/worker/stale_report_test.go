package worker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

// Shed jobs are summed up in one warning per period, not one per job, and
// what is left at Close is still reported.
func TestShedJobsAreSummedUp(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	now := at
	w := New(&deadlineProber{}, &deadlineRecorder{}, nopPublisher{},
		Config{Logger: zap.New(core), Now: func() time.Time { return now }, MaxQueueWait: 5 * time.Second})
	// The test writes the summaries itself; the reporter's own ticks
	// must not split them.
	w.stale.every = time.Hour
	shed := func(late time.Duration) {
		require.NoError(t, w.Handle(context.Background(),
			check.Job{CheckID: "a", Timeout: time.Second, ScheduledAt: now.Add(-late), Interval: time.Second}))
	}
	const summary = "overloaded: skipped stale jobs without probing; add workers or concurrency"

	for _, late := range []time.Duration{70 * time.Second, 80 * time.Second, 65 * time.Second} {
		shed(late)
	}
	// One on time by its tick that waited too long since it was published.
	require.NoError(t, w.HandlePublished(context.Background(),
		check.Job{CheckID: "b", Timeout: time.Second, ScheduledAt: now, Interval: time.Second}, now.Add(-6*time.Second)))
	require.Zero(t, logs.Len(), "nothing per job above debug level")
	now = at.Add(10 * time.Second)
	w.stale.report()
	entries := logs.FilterMessage(summary).All()
	require.Len(t, entries, 1)
	require.Equal(t, zap.WarnLevel, entries[0].Level)
	fields := entries[0].ContextMap()
	require.EqualValues(t, 4, fields["skipped"])
	require.EqualValues(t, 3, fields["stale"])
	require.EqualValues(t, 1, fields["queued"])
	require.Equal(t, 80.0, fields["max_late_s"], "the most overdue of them")
	require.Equal(t, 10.0, fields["in_last_s"])

	now = at.Add(20 * time.Second)
	w.stale.report()
	require.Len(t, logs.FilterMessage(summary).All(), 1, "a period without shedding says nothing")

	now = at.Add(25 * time.Second)
	shed(90 * time.Second)
	w.Close()
	entries = logs.FilterMessage(summary).All()
	require.Len(t, entries, 2, "Close reports what was left")
	fields = entries[1].ContextMap()
	require.EqualValues(t, 1, fields["skipped"])
	require.EqualValues(t, 0, fields["queued"], "the counts start again with each summary")
	require.Equal(t, 90.0, fields["max_late_s"])
	require.Equal(t, 5.0, fields["in_last_s"])
}
