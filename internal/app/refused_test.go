package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
	"github.com/vigil-dev/vigil/internal/worker"
)

// upProber answers every job UP at once, for tests of what happens after
// the probe.
type upProber struct{}

func (upProber) Probe(_ context.Context, j check.Job) check.Result {
	return check.Result{CheckID: j.CheckID, Service: j.Service, ScheduledAt: j.ScheduledAt,
		CheckedAt: j.ScheduledAt.Add(time.Millisecond), Latency: 7 * time.Millisecond,
		Status: check.ResultUp, HTTPStatus: 200}
}

// noPublisher takes transitions and drops them.
type noPublisher struct{}

func (noPublisher) PublishTransitions(context.Context, []check.Transition) error { return nil }

// The worker on the real store (here, beside the wiring, so that the
// worker's own tests need no PostgreSQL adapter). A result PostgreSQL
// refuses (here a check id holding NUL, which no cleaning of error text
// touches) is recorded in one transaction with ten healthy results. The healthy ones are stored and their jobs done; only
// the refused one asks for redelivery. Before, all eleven were requeued,
// and would fail together again on every redelivery.
func TestWorkerStoresTheBatchBesideARefusedResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)

	var jobs []check.Job
	for i := range 10 {
		c := &check.Check{Name: fmt.Sprintf("healthy-%d", i), URL: "http://127.0.0.1:1/", Interval: 10 * time.Second}
		c.SetDefaults()
		sv, err := st.CreateService(ctx, c)
		require.NoError(t, err)
		jobs = append(jobs, refusedTestJob(sv.ID))
	}
	poison := refusedTestJob("refused\x00id")
	jobs = append(jobs[:5], append([]check.Job{poison}, jobs[5:]...)...)

	// The batch fills at exactly the eleven jobs, so they share one
	// transaction whatever order they arrive in.
	// The jobs' tick is a fixed time: the worker's clock is set to it, or
	// it would shed them as stale.
	w := worker.New(upProber{}, st, noPublisher{}, worker.Config{MaxBatch: len(jobs), Flushers: 1, Linger: time.Hour,
		Now: func() time.Time { return poison.ScheduledAt }})
	t.Cleanup(w.Close)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			errs[i] = w.Handle(ctx, j)
		})
	}
	wg.Wait()

	for i, j := range jobs {
		if j.CheckID == poison.CheckID {
			require.Error(t, errs[i], "the refused result's job is redelivered")
			continue
		}
		require.NoError(t, errs[i], j.CheckID)
		got, _, err := st.Results(ctx, j.CheckID, registry.ResultQuery{})
		require.NoError(t, err)
		require.Len(t, got, 1, j.CheckID)
		require.Equal(t, check.ResultUp, got[0].Status)
	}
}

func refusedTestJob(id string) check.Job {
	return check.Job{CheckID: id, Service: "svc-" + id, Type: check.TypeHTTP, URL: "http://127.0.0.1:1",
		Timeout: time.Second, ScheduledAt: time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)}
}
