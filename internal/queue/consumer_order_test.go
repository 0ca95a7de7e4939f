package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestConsumeStartsTheNewestHeldJobFirst holds messages behind one busy
// slot and checks the order in which they start once it frees: newest
// first, unless the oldest was held for MaxHold, or MaxHold is negative
// (oldest first, as before).
func TestConsumeStartsTheNewestHeldJobFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxHold time.Duration
		// aged is how long a was held before b and c arrived.
		aged time.Duration
		want []string
	}{
		{"newest first", time.Minute, 59 * time.Second, []string{"c", "b", "a"}},
		{"held for MaxHold starts first", time.Minute, time.Minute, []string{"a", "c", "b"}},
		{"oldest first with MaxHold negative", -1, 0, []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.JobsPerMessage = 1
			cfg.Prefetch = 10
			cfg.MaxHold = tc.maxHold
			clock := newFakeClock()
			cfg.now = clock.now
			var heldNow atomic.Int32
			cfg.onHeld = func(n int) { heldNow.Store(int32(n)) }
			pub := newPublisher(t, cfg)

			log, release := recordOrder(t, cfg, "busy")
			now := time.Now().Truncate(time.Millisecond)
			require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{testJob("busy", now)}))
			require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 5*time.Millisecond)
			heldNow.Store(0) // busy's own delivery counted 1

			require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{testJob("a", now)}))
			require.Eventually(t, func() bool { return heldNow.Load() == 1 }, eventually, 5*time.Millisecond)
			clock.advance(tc.aged)
			require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{testJob("b", now), testJob("c", now)}))
			require.Eventually(t, func() bool { return heldNow.Load() == 3 }, eventually, 5*time.Millisecond)

			release()
			require.Eventually(t, func() bool { return log.len() == 4 }, eventually, 5*time.Millisecond)
			require.Equal(t, append([]string{"busy"}, tc.want...), log.checkIDs())
		})
	}
}

// TestConsumeStartsTheJobsOfAHeldMessageInTheirOrder: the newest message
// goes first as a whole, then the older one resumes where it stopped.
func TestConsumeStartsTheJobsOfAHeldMessageInTheirOrder(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 3
	cfg.Prefetch = 10
	var heldNow atomic.Int32
	cfg.onHeld = func(n int) { heldNow.Store(int32(n)) }
	pub := newPublisher(t, cfg)

	log, release := recordOrder(t, cfg, "x1")
	now := time.Now().Truncate(time.Millisecond)
	require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{testJob("x1", now), testJob("x2", now), testJob("x3", now)}))
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 5*time.Millisecond)
	require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{testJob("y1", now), testJob("y2", now)}))
	require.Eventually(t, func() bool { return heldNow.Load() == 2 }, eventually, 5*time.Millisecond)
	release()
	require.Eventually(t, func() bool { return log.len() == 5 }, eventually, 5*time.Millisecond)
	require.Equal(t, []string{"x1", "y1", "y2", "x2", "x3"}, log.checkIDs())
}

// recordOrder runs a consumer with one slot that logs every job it starts
// and holds the slot on the job of check busy until release is called.
func recordOrder(t *testing.T, cfg Config, busy string) (log *deliveryLog, release func()) {
	t.Helper()
	held, unblock := releaser()
	log = &deliveryLog{}
	stop := runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		if job.CheckID == busy {
			<-held
		}
		return Ack
	})
	t.Cleanup(stop)
	t.Cleanup(unblock) // runs first: a failed test's consumer can stop
	return log, unblock
}

// checkIDs are the checks of the jobs logged, in the order they started.
func (l *deliveryLog) checkIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.jobs))
	for i, j := range l.jobs {
		ids[i] = j.CheckID
	}
	return ids
}
