package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// A server and a worker that is far too slow for the schedule (one probe
// at a time against a target that takes 50 ms: at most 20 probes a
// second, for 60 checks a second), through the real broker and database.
// The scheduler's admission control must keep the jobs queue short and
// the ticks that are probed on time, and count the rest as missed.
//
// Without admission control the queue grows by ~40 messages a second, so
// a tick published 8 s in waits ~16 s: none of the ticks this test
// requires on time would have a result yet when it looks.
func TestAdmissionControlKeepsProbedTicksOnTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.Concurrency = 1
	cfg.JobsPerMessage = 1 // the worker's prefetch holds two jobs, not 100
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sys := start(t, cfg, log)

	slow := httptestServer(t, 50*time.Millisecond)
	st, err := store.Open(ctx, cfg.DatabaseURL, 2)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	const checks = 60
	ids := make([]string, 0, checks)
	for i := range checks {
		c := &check.Check{Name: "slow-" + string(rune('a'+i/26)) + string(rune('a'+i%26)), URL: slow, Interval: time.Second}
		c.SetDefaults()
		_, err := st.CreateService(ctx, c)
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	began := time.Now()

	qcfg := queue.Config{URL: cfg.AMQPURL, Logger: log}
	probe, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = probe.Close() })

	// Watch the queue for 16 s: long enough that without admission it
	// would hold several hundred messages.
	maxReady := 0
	for time.Since(began) < 16*time.Second {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ready, _, err := probe.JobBacklog(pctx)
		cancel()
		require.NoError(t, err)
		maxReady = max(maxReady, ready)
		time.Sleep(200 * time.Millisecond) // sampling, not synchronisation
	}
	// The limit is what the worker drains in 2 s: ~40 messages. Four
	// times that and more leaves room for a loaded machine and for the
	// backlog built before the second poll gave a drain rate.
	require.Less(t, maxReady, 250, "the jobs queue stays short")

	m := scrape(t, sys.api)
	shed := sum(m, "vigil_ticks_missed_total", map[string]string{"reason": "overload"})
	require.Positive(t, shed, "the ticks left out are counted")

	// The ticks due after the first seconds (admission needs two polls to
	// measure the drain rate) that were probed were probed on time.
	settled := began.Add(8 * time.Second)
	onTime, withResults := 0, 0
	for _, id := range ids {
		rs, _, err := st.Results(ctx, id, registry.ResultQuery{Limit: 1000})
		require.NoError(t, err)
		if len(rs) > 0 {
			withResults++
		}
		for _, r := range rs {
			if r.ScheduledAt.Before(settled) {
				continue
			}
			late := r.CheckedAt.Sub(r.ScheduledAt)
			require.Less(t, late, 8*time.Second, "check %s tick %s probed late", id, r.ScheduledAt)
			onTime++
		}
	}
	require.GreaterOrEqual(t, onTime, 10, "ticks due after the first seconds were probed")
	// Shedding draws at random: about a third is probed, so every check
	// gets its turns; a check that never got one is near impossible.
	require.GreaterOrEqual(t, withResults, checks*5/6, "no check is starved")
}

// httptestServer is a target that answers after delay.
func httptestServer(t *testing.T, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
