package notify_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/notify"
)

// fakeQueue hands out its jobs as the store would: at most Limit, at
// most the room each channel has.
type fakeQueue struct {
	mu        sync.Mutex
	jobs      []notify.Job
	claims    []notify.Claim
	finished  chan finished
	reminders int
	claimErr  error
}

type finished struct {
	id, lease string
	o         notify.Outcome
}

func newFakeQueue(jobs ...notify.Job) *fakeQueue {
	return &fakeQueue{jobs: jobs, finished: make(chan finished, 100)}
}

func (q *fakeQueue) ClaimDeliveries(_ context.Context, c notify.Claim) ([]notify.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claims = append(q.claims, c)
	if q.claimErr != nil {
		return nil, q.claimErr
	}
	var out, keep []notify.Job
	taken := map[string]int{}
	for _, j := range q.jobs {
		room, ok := c.Room[j.Channel.ID]
		if !ok {
			room = c.PerChannel
		}
		if len(out) < c.Limit && taken[j.Channel.ID] < room {
			taken[j.Channel.ID]++
			j.Lease = "lease-" + j.Delivery.ID
			out = append(out, j)
			continue
		}
		keep = append(keep, j)
	}
	q.jobs = keep
	return out, nil
}

func (q *fakeQueue) FinishDelivery(_ context.Context, id, lease string, o notify.Outcome) error {
	q.finished <- finished{id, lease, o}
	return nil
}

func (q *fakeQueue) ScheduleReminders(context.Context, time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reminders++
	return 0, nil
}

// senderFunc adapts a function to notify.Sender.
type senderFunc func(ctx context.Context, j *notify.Job) notify.Attempt

func (f senderFunc) Send(ctx context.Context, j *notify.Job) notify.Attempt { return f(ctx, j) }

func job(id, channel string) notify.Job {
	return notify.Job{Delivery: notify.Delivery{ID: id, CreatedAt: time.Now()},
		Channel: notify.Channel{ID: channel, Type: notify.TypeWebhook}}
}

func TestHangingReceiverDoesNotHoldUpAnotherChannel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	q := newFakeQueue(job("a1", "A"), job("a2", "A"), job("a3", "A"), job("b1", "B"))
	sender := senderFunc(func(ctx context.Context, j *notify.Job) notify.Attempt {
		if j.Channel.ID == "A" {
			select {
			case <-release:
			case <-ctx.Done():
				return notify.Attempt{Err: ctx.Err()}
			}
		}
		return notify.Attempt{StatusCode: 200}
	})
	var observed []string
	var mu sync.Mutex
	d := notify.New(notify.Config{Queue: q, Sender: sender, PerChannel: 2, MaxInFlight: 10, Timeout: time.Minute,
		OnFinished: func(j *notify.Job, _ notify.Outcome, _ time.Time) {
			mu.Lock()
			observed = append(observed, j.Delivery.ID)
			mu.Unlock()
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	require.Equal(t, 3, d.Tick(ctx), "two of A (its bound) and B")
	f := <-q.finished
	require.Equal(t, "b1", f.id, "B is delivered while A's receiver hangs")
	require.Equal(t, "lease-b1", f.lease)
	require.Equal(t, notify.StateDelivered, f.o.State)

	// A is at its bound: the next claim gives it no room, B has all of it.
	// b1's slot is released just after its outcome is written, so claim
	// until the dispatcher has seen it free.
	claimed := 0
	require.Eventually(t, func() bool {
		claimed += d.Tick(ctx)
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.claims[len(q.claims)-1].Limit == 8
	}, 10*time.Second, time.Millisecond)
	require.Zero(t, claimed)
	q.mu.Lock()
	last := q.claims[len(q.claims)-1]
	q.mu.Unlock()
	require.Equal(t, 0, last.Room["A"])
	require.Equal(t, 8, last.Limit)
	require.Greater(t, last.Lease, time.Minute, "a lease outlasts an attempt")
	mu.Lock()
	require.Equal(t, []string{"b1"}, observed)
	mu.Unlock()
}

func TestAttemptIsBoundedByTimeoutAndRetried(t *testing.T) {
	q := newFakeQueue(job("a1", "A"))
	sender := senderFunc(func(ctx context.Context, _ *notify.Job) notify.Attempt {
		<-ctx.Done()
		return notify.Attempt{Err: errors.New("receiver did not answer in time")}
	})
	d := notify.New(notify.Config{Queue: q, Sender: sender, Timeout: 20 * time.Millisecond,
		Retry: notify.RetryPolicy{Min: time.Second, Max: time.Minute, MaxAge: time.Hour}})
	require.Equal(t, 1, d.Tick(context.Background()))
	f := <-q.finished
	require.Equal(t, notify.StatePending, f.o.State)
	require.Equal(t, "receiver did not answer in time", f.o.Error)
	require.False(t, f.o.NextAttempt.IsZero())
}

func TestRunDeliversSchedulesRemindersAndStops(t *testing.T) {
	q := newFakeQueue(job("a1", "A"))
	d := notify.New(notify.Config{Queue: q, Sender: senderFunc(func(context.Context, *notify.Job) notify.Attempt {
		return notify.Attempt{StatusCode: 204}
	}), Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	f := <-q.finished
	require.Equal(t, "a1", f.id)
	d.Wake()
	d.Wake() // a second wake while one is pending is dropped, not blocked on
	cancel()
	require.NoError(t, <-done)
	q.mu.Lock()
	defer q.mu.Unlock()
	require.GreaterOrEqual(t, q.reminders, 1)
}

func TestClaimErrorStartsNothing(t *testing.T) {
	q := newFakeQueue(job("a1", "A"))
	q.claimErr = errors.New("database down")
	d := notify.New(notify.Config{Queue: q, Sender: senderFunc(func(context.Context, *notify.Job) notify.Attempt {
		t.Fatal("nothing was claimed, nothing may be sent")
		return notify.Attempt{}
	})})
	require.Equal(t, 0, d.Tick(context.Background()))
}

func TestListenWakesTheLoopAndIsRetried(t *testing.T) {
	q := newFakeQueue()
	added := make(chan struct{})
	var calls atomic.Int32
	listen := func(ctx context.Context, wake func()) error {
		if calls.Add(1) == 1 {
			return errors.New("connection lost")
		}
		select {
		case <-added:
			wake()
		case <-ctx.Done():
		}
		<-ctx.Done()
		return ctx.Err()
	}
	d := notify.New(notify.Config{Queue: q, Listen: listen, Poll: time.Hour, ReminderEvery: time.Hour,
		Sender: senderFunc(func(context.Context, *notify.Job) notify.Attempt { return notify.Attempt{StatusCode: 200} })})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.claims) >= 1
	}, 5*time.Second, time.Millisecond, "the first claim runs at once")
	q.mu.Lock()
	q.jobs = append(q.jobs, job("a1", "A"))
	q.mu.Unlock()
	close(added)
	select {
	case f := <-q.finished:
		require.Equal(t, "a1", f.id, "woken by Listen, not by the hour-long poll")
	case <-time.After(10 * time.Second):
		t.Fatal("Listen's wake did not reach the loop")
	}
	require.GreaterOrEqual(t, calls.Load(), int32(2), "a failed Listen is called again")
	cancel()
	require.NoError(t, <-done)
}
