package app_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// A worker that is handed jobs whose ticks are minutes old (it was
// overloaded, or down while the queue filled) acks them without probing
// them, counts them, and probes the jobs that are still on time, through
// the real broker and database. A tick that is old but within its
// check's interval (an hourly check) is still probed: the interval
// travels in the job.
func TestWorkerShedsStaleJobsFromTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t)
	r := newShedRig(t, cfg)
	late, hourly, fresh := r.register("late", 10*time.Second), r.register("hourly", time.Hour), r.register("fresh", 10*time.Second)

	now := time.Now().UTC().Truncate(time.Millisecond)
	jobs := []check.Job{
		check.JobFor(late, now.Add(-2*time.Minute)),
		check.JobFor(late, now.Add(-110*time.Second)),
		check.JobFor(late, now.Add(-100*time.Second)),
		check.JobFor(hourly, now.Add(-2*time.Minute)),
		check.JobFor(fresh, now),
	}
	qcfg := queue.Config{URL: cfg.AMQPURL, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	require.NoError(t, pub.PublishJobs(ctx, jobs))

	worker, stop := startShedWorker(t, cfg)
	resultsOf := r.resultsOf
	require.Eventually(t, func() bool { return resultsOf(fresh) == 1 && resultsOf(hourly) == 1 },
		20*time.Second, 50*time.Millisecond, "the jobs on time are probed and recorded")
	require.Eventually(t, func() bool {
		m := scrape(t, worker)
		return sum(m, "vigil_ticks_missed_total", map[string]string{"reason": "stale"}) == 3 &&
			sum(m, "vigil_jobs_consumed_total", nil) == 5
	}, 20*time.Second, 50*time.Millisecond, "the stale jobs are counted")
	m := scrape(t, worker)
	require.Equal(t, 1.0, sum(m, "vigil_worker_overloaded", nil))
	require.Equal(t, 2.0, sum(m, "vigil_probes_total", nil), "only the jobs on time were probed")
	require.Zero(t, resultsOf(late), "a stale tick has no result, not a made-up one")

	// Shedding is not a reason to leave the rollout's readiness.
	resp, err := http.Get(worker + "/readyz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, stop())
	// Every job was acked: nothing is left in the queue for a consumer
	// that comes after the worker.
	var left atomic.Int32
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- queue.ConsumeJobs(cctx, qcfg, 4, func(context.Context, check.Job, queue.Delivery) queue.Outcome {
			left.Add(1)
			return queue.Ack
		})
	}()
	require.Never(t, func() bool { return left.Load() > 0 }, time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

// A job that waited in the broker longer than VIGIL_MAX_QUEUE_WAIT since
// it was published is acked without a probe and counted as "queued",
// however recent its tick; a catch-up tick (old, but published just now)
// is probed. Through the real broker and database: the wait is real.
func TestWorkerShedsJobsThatWaitedTooLong(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t)
	r := newShedRig(t, cfg)
	waited, catchUp, fresh := r.register("waited", 10*time.Second), r.register("catch-up", 10*time.Second), r.register("fresh", 10*time.Second)

	qcfg := queue.Config{URL: cfg.AMQPURL, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	// On time by its tick, but nobody takes it for longer than the bound.
	require.NoError(t, pub.PublishJobs(ctx, []check.Job{check.JobFor(waited, time.Now().UTC().Truncate(time.Millisecond))}))
	time.Sleep(1500 * time.Millisecond)

	wcfg := cfg
	wcfg.MaxQueueWait = time.Second
	worker, stop := startShedWorker(t, wcfg)
	now := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, pub.PublishJobs(ctx, []check.Job{
		check.JobFor(catchUp, now.Add(-25*time.Second)), // dispatched late after an outage
		check.JobFor(fresh, now),
	}))

	resultsOf := r.resultsOf
	require.Eventually(t, func() bool { return resultsOf(catchUp) == 1 && resultsOf(fresh) == 1 },
		20*time.Second, 50*time.Millisecond, "a catch-up tick and a fresh one are probed")
	require.Eventually(t, func() bool {
		m := scrape(t, worker)
		return sum(m, "vigil_ticks_missed_total", map[string]string{"reason": "queued"}) == 1 &&
			sum(m, "vigil_jobs_consumed_total", nil) == 3
	}, 20*time.Second, 50*time.Millisecond, "the job that waited too long is counted")
	m := scrape(t, worker)
	require.Zero(t, sum(m, "vigil_ticks_missed_total", map[string]string{"reason": "stale"}), "its tick was on time")
	require.Equal(t, 1.0, sum(m, "vigil_worker_overloaded", nil))
	require.Zero(t, resultsOf(waited), "a shed tick has no result")
	require.NoError(t, stop())
}

// shedRig is the database and target the worker-shedding tests share.
type shedRig struct {
	t   *testing.T
	st  *store.Store
	url string
}

func newShedRig(t *testing.T, cfg config.Config) *shedRig {
	t.Helper()
	st, err := store.Open(context.Background(), cfg.DatabaseURL, 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(context.Background())
	require.NoError(t, err)
	srv, _ := target(t)
	return &shedRig{t: t, st: st, url: srv.URL}
}

// register stores a check of the target with the given interval.
func (r *shedRig) register(name string, interval time.Duration) *check.Check {
	c := &check.Check{Name: name, URL: r.url, Interval: interval}
	c.SetDefaults()
	_, err := r.st.CreateService(context.Background(), c)
	require.NoError(r.t, err)
	return c
}

// resultsOf counts the results recorded for c.
func (r *shedRig) resultsOf(c *check.Check) int {
	rs, _, err := r.st.Results(context.Background(), c.ID, registry.ResultQuery{})
	require.NoError(r.t, err)
	return len(rs)
}

// startShedWorker runs a worker on cfg (without migrating) and returns
// its metrics URL and a stop that returns how it ended.
func startShedWorker(t *testing.T, cfg config.Config) (string, func() error) {
	t.Helper()
	wctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, exited := make(chan net.Addr, 1), make(chan error, 1)
	cfg.Migrate = false
	go func() {
		exited <- app.RunWorker(wctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), app.Hooks{Listening: addr})
	}()
	select {
	case a := <-addr:
		return "http://" + a.String(), func() error { cancel(); return <-exited }
	case err := <-exited:
		t.Fatalf("worker did not start: %v", err)
		return "", nil
	}
}
