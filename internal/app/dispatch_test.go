package app_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/amqptest"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/store"
)

// A job no broker message can carry must not stop dispatch: the claim it
// was part of publishes the rest and commits, and its own schedule moves on
// instead of being claimed first again for ever.
func TestUnpublishableJobDoesNotStopDispatch(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	for _, name := range []string{"before", "huge", "after"} {
		c := &check.Check{Name: name, URL: "http://127.0.0.1:1/health", Interval: 10 * time.Second}
		c.SetDefaults()
		_, err := st.CreateService(ctx, c)
		require.NoError(t, err)
	}

	var skipped atomic.Int32
	qcfg := queue.Config{URL: amqptest.Vhost(t), Logger: zaptest.NewLogger(t),
		OnUnpublishable: func(string) { skipped.Add(1) }}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	// Past every registration bound, as a row written by an older version
	// or by hand could be. 20 MiB is over RabbitMQ 4's default 16 MiB
	// max_message_size, whose breach fails the publish and rolls the claim
	// back; a broker configured higher would take it, which is why the
	// publisher's own budget, not the broker's limit, decides.
	huge := "http://example.com/" + strings.Repeat("a", 20<<20)
	publish := func(ctx context.Context, jobs []check.Job, _ int) error {
		for i := range jobs {
			if jobs[i].Service == "huge" {
				jobs[i].URL = huge
			}
		}
		return pub.PublishJobs(ctx, jobs)
	}

	now := time.Now().Add(time.Minute)
	n, err := st.ClaimDue(ctx, now, 100, 0, publish)
	require.NoError(t, err, "the claim commits")
	require.Equal(t, 3, n)
	require.EqualValues(t, 1, skipped.Load())
	n, err = st.ClaimDue(ctx, now, 100, 0, publish)
	require.NoError(t, err)
	require.Zero(t, n, "every schedule advanced, the huge job's too: nothing is claimed again at the same time")
	next, ok, err := st.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, next.After(now))

	var (
		mu  sync.Mutex
		got []string
	)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- queue.ConsumeJobs(cctx, qcfg, 4, func(_ context.Context, job check.Job, _ queue.Delivery) queue.Outcome {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, job.Service)
			return queue.Ack
		})
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 20*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 2
	}, 300*time.Millisecond, 20*time.Millisecond, "the huge job was not published")
	cancel()
	require.NoError(t, <-done)
	require.ElementsMatch(t, []string{"before", "after"}, got, "the other jobs of the claim were delivered")
}
