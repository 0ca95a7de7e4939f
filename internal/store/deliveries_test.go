package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

func newChannel(t *testing.T, s *store.Store, name string, edit func(*notify.Channel)) notify.ChannelView {
	t.Helper()
	c := notify.Channel{Name: name, Type: notify.TypeWebhook, URL: "http://127.0.0.1:1/hook", SendResolved: true}
	if edit != nil {
		edit(&c)
	}
	c.SetDefaults()
	require.NoError(t, c.Validate())
	v, err := s.CreateChannel(context.Background(), &c)
	require.NoError(t, err)
	return v
}

// flip records one result per state in states, a tick apart, and returns
// the transitions logged.
func flip(t *testing.T, s *store.Store, checkID string, from time.Time, ups ...bool) []check.Transition {
	t.Helper()
	var out []check.Transition
	for i, up := range ups {
		o, err := s.Record(context.Background(), []check.Result{result(checkID, from.Add(time.Duration(i)*10*time.Second), up)})
		require.NoError(t, err)
		out = append(out, o.Transitions...)
	}
	return out
}

func claimAll(t *testing.T, s *store.Store, now time.Time) []notify.Job {
	t.Helper()
	jobs, err := s.ClaimDeliveries(context.Background(), notify.Claim{Now: now, Limit: 100, PerChannel: 100, Lease: time.Minute})
	require.NoError(t, err)
	return jobs
}

func TestChannelLifecycle(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v := newChannel(t, s, "ops", func(c *notify.Channel) { c.Secret = "s3cret"; c.SelectorTags = []string{"team=a"} })
	require.Empty(t, v.Secret)
	require.True(t, v.SecretSet)

	got, err := s.GetChannel(ctx, v.ID)
	require.NoError(t, err)
	require.True(t, got.SecretSet)
	require.Empty(t, got.Secret, "reads never carry the secret")
	require.Equal(t, []string{"team=a"}, got.SelectorTags)

	full, err := s.ChannelForSend(ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cret", full.Secret)

	_, err = s.CreateChannel(ctx, &notify.Channel{Name: "ops", Type: notify.TypeWebhook, URL: "http://x/"})
	require.ErrorIs(t, err, registry.ErrNameTaken)
	other := newChannel(t, s, "other", nil)
	_, err = s.UpdateChannel(ctx, other.ID, func(c *notify.Channel) error { c.Name = "ops"; return nil })
	require.ErrorIs(t, err, registry.ErrNameTaken)

	up, err := s.UpdateChannel(ctx, v.ID, func(c *notify.Channel) error {
		require.Equal(t, "s3cret", c.Secret, "the mutation sees the secret to keep it")
		c.RepeatInterval = time.Hour
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, time.Hour, up.RepeatInterval)
	full, err = s.ChannelForSend(ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, "s3cret", full.Secret, "a PATCH without secret keeps it")

	all, err := s.ListChannels(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "ops", all[0].Name)

	require.NoError(t, s.DeleteChannel(ctx, v.ID))
	require.ErrorIs(t, s.DeleteChannel(ctx, v.ID), registry.ErrNotFound)
	_, err = s.GetChannel(ctx, v.ID)
	require.ErrorIs(t, err, registry.ErrNotFound)
	_, _, err = s.Deliveries(ctx, v.ID, notify.DeliveryQuery{})
	require.NoError(t, err, "a deleted channel's log stays readable")
	_, _, err = s.Deliveries(ctx, "nope", notify.DeliveryQuery{})
	require.ErrorIs(t, err, registry.ErrNotFound)
	_, err = s.UpdateChannel(ctx, "nope", func(*notify.Channel) error { return nil })
	require.ErrorIs(t, err, registry.ErrNotFound)
	_, err = s.ChannelForSend(ctx, "nope")
	require.ErrorIs(t, err, registry.ErrNotFound)
}

func TestTransitionsAreOwedToMatchingChannelsInTheSameTransaction(t *testing.T) {
	s, clk := newStore(t)
	sv := create(t, s, "payments") // tags: team=a
	all := newChannel(t, s, "all", nil)
	teamA := newChannel(t, s, "team-a", func(c *notify.Channel) { c.SelectorTags = []string{"team=a"} })
	teamB := newChannel(t, s, "team-b", func(c *notify.Channel) { c.SelectorTags = []string{"team=b"} })
	downOnly := newChannel(t, s, "down-only", func(c *notify.Channel) { c.SendResolved = false })

	ts := flip(t, s, sv.ID, t0, true, false, true) // UNKNOWN→UP, UP→DOWN, DOWN→UP
	require.Len(t, ts, 3)
	jobs := claimAll(t, s, clk.Now())
	byChannel := map[string][]int64{}
	for _, j := range jobs {
		byChannel[j.Channel.ID] = append(byChannel[j.Channel.ID], j.Delivery.TransitionID)
	}
	// Only each channel's first pending message is claimable: order.
	require.Equal(t, map[string][]int64{all.ID: {ts[1].ID}, teamA.ID: {ts[1].ID}, downOnly.ID: {ts[1].ID}}, byChannel)
	require.NotContains(t, byChannel, teamB.ID)

	for _, j := range jobs {
		require.Equal(t, "payments", j.Transition.Service)
		require.Equal(t, check.StateDown, j.Transition.To)
		require.Equal(t, sv.URL, j.URL)
		require.Equal(t, []string{"team=a"}, j.Tags)
		require.Len(t, j.Delivery.ID, 32)
		require.NoError(t, s.FinishDelivery(context.Background(), j.Delivery.ID, j.Lease,
			notify.Outcome{State: notify.StateDelivered, StatusCode: 200, DeliveredAt: clk.Now()}))
	}
	next := claimAll(t, s, clk.Now())
	require.Len(t, next, 2, "the resolution, to the channels that want it")
	for _, j := range next {
		require.Equal(t, ts[2].ID, j.Delivery.TransitionID)
		require.NotEqual(t, downOnly.ID, j.Channel.ID, "send_resolved=false hears only DOWN")
	}

	for _, j := range next {
		require.NoError(t, s.FinishDelivery(context.Background(), j.Delivery.ID, j.Lease,
			notify.Outcome{State: notify.StateDelivered, StatusCode: 200, DeliveredAt: clk.Now()}))
	}
	// A redelivered result owes nothing twice.
	flip(t, s, sv.ID, t0, true, false, true)
	require.Empty(t, claimAll(t, s, clk.Now().Add(time.Hour)), "finished rows are not claimed again")
}

func TestLeaseAndRetry(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	newChannel(t, s, "all", nil)
	flip(t, s, sv.ID, t0, false)
	now := clk.Now()
	jobs := claimAll(t, s, now)
	require.Len(t, jobs, 1)
	j := jobs[0]
	require.Empty(t, claimAll(t, s, now.Add(30*time.Second)), "the lease keeps other claimers off")

	retryAt := now.Add(10 * time.Second)
	require.NoError(t, s.FinishDelivery(ctx, j.Delivery.ID, j.Lease,
		notify.Outcome{State: notify.StatePending, StatusCode: 500, Error: "receiver answered 500", NextAttempt: retryAt}))
	require.Empty(t, claimAll(t, s, retryAt.Add(-time.Millisecond)), "not before its next attempt")
	again := claimAll(t, s, retryAt)
	require.Len(t, again, 1)
	require.Equal(t, j.Delivery.ID, again[0].Delivery.ID, "the same delivery id on every retry")
	require.Equal(t, 1, again[0].Delivery.Attempts)

	// A claimer whose lease ran out cannot overwrite the next one's outcome.
	require.NoError(t, s.FinishDelivery(ctx, j.Delivery.ID, j.Lease, notify.Outcome{State: notify.StateFailed}))
	ds, _, err := s.Deliveries(ctx, j.Delivery.ChannelID, notify.DeliveryQuery{})
	require.NoError(t, err)
	require.Equal(t, notify.StatePending, ds[0].State)
	require.Equal(t, 500, ds[0].StatusCode)
	require.Equal(t, "receiver answered 500", ds[0].Error)

	// Lease expiry: a process that died mid-send is replaced.
	expired := claimAll(t, s, retryAt.Add(2*time.Minute))
	require.Len(t, expired, 1)
	require.NoError(t, s.FinishDelivery(ctx, j.Delivery.ID, expired[0].Lease,
		notify.Outcome{State: notify.StateDelivered, StatusCode: 200, DeliveredAt: retryAt}))
	ds, _, err = s.Deliveries(ctx, j.Delivery.ChannelID, notify.DeliveryQuery{})
	require.NoError(t, err)
	require.Equal(t, notify.StateDelivered, ds[0].State)
	require.Equal(t, 2, ds[0].Attempts)
	require.Equal(t, retryAt.UTC().Truncate(time.Microsecond), ds[0].DeliveredAt)
}

func TestPerChannelBoundAndRoom(t *testing.T) {
	s, clk := newStore(t)
	ch := newChannel(t, s, "all", nil)
	for _, name := range []string{"a", "b", "c"} {
		flip(t, s, create(t, s, name).ID, t0, false)
	}
	ctx := context.Background()
	jobs, err := s.ClaimDeliveries(ctx, notify.Claim{Now: clk.Now(), Limit: 10, PerChannel: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	jobs, err = s.ClaimDeliveries(ctx, notify.Claim{Now: clk.Now(), Limit: 10, PerChannel: 2,
		Room: map[string]int{ch.ID: 0}, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, jobs, "a channel with no room here is left for later")
	jobs, err = s.ClaimDeliveries(ctx, notify.Claim{Now: clk.Now(), Limit: 0})
	require.NoError(t, err)
	require.Empty(t, jobs)
}

func TestRemindersWhileDown(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	ch := newChannel(t, s, "pager", func(c *notify.Channel) { c.RepeatInterval = time.Hour })
	newChannel(t, s, "quiet", nil)
	flip(t, s, sv.ID, t0, false)
	now := clk.Now()

	n, err := s.ScheduleReminders(ctx, now.Add(59*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n, "not before the interval")
	n, err = s.ScheduleReminders(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n, "one reminder, for the channel that repeats")
	n, err = s.ScheduleReminders(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "a second replica adds nothing")
	n, err = s.ScheduleReminders(ctx, now.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the next interval counts from the last message")

	ds, _, err := s.Deliveries(ctx, ch.ID, notify.DeliveryQuery{})
	require.NoError(t, err)
	require.Len(t, ds, 3)
	require.True(t, ds[0].Reminder)
	require.False(t, ds[2].Reminder)
	require.Equal(t, ds[2].TransitionID, ds[0].TransitionID)

	flip(t, s, sv.ID, t0.Add(10*time.Second), true) // DOWN → UP
	n, err = s.ScheduleReminders(ctx, now.Add(10*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "reminders stop on UP")

	page1, cursor, err := s.Deliveries(ctx, ch.ID, notify.DeliveryQuery{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page1, 2)
	require.NotEmpty(t, cursor)
	page2, cursor2, err := s.Deliveries(ctx, ch.ID, notify.DeliveryQuery{Limit: 2, Cursor: cursor})
	require.NoError(t, err)
	require.Len(t, page2, 2)
	require.Empty(t, cursor2)
	require.NotEqual(t, page1[1].ID, page2[0].ID)
	for _, bad := range []string{"x", "x.y", "cjE6MQ.zz", "cjE6MQ."} {
		_, _, err = s.Deliveries(ctx, ch.ID, notify.DeliveryQuery{Cursor: bad})
		require.ErrorIs(t, err, registry.ErrInvalidCursor, bad)
	}

	age, err := s.OldestDueDelivery(ctx, now.Add(10*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 10*time.Hour, age, "nothing was sent: the first message is the oldest")

	require.NoError(t, s.DeleteChannel(ctx, ch.ID))
	ds, _, err = s.Deliveries(ctx, ch.ID, notify.DeliveryQuery{Limit: 100})
	require.NoError(t, err)
	for _, d := range ds {
		require.Equal(t, notify.StateFailed, d.State, "a deleted channel is owed nothing")
		require.Equal(t, "channel deleted", d.Error)
	}
}

func TestListenDeliveriesWakesOnlyWhenSomethingIsOwed(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- s.ListenDeliveries(ctx, func() { wakes <- struct{}{} }) }()
	select {
	case <-wakes: // the first wake, once LISTEN is in place
	case <-time.After(10 * time.Second):
		t.Fatal("no wake once listening")
	}
	quiet := create(t, s, "quiet")
	flip(t, s, quiet.ID, t0, false) // a transition, but no channel yet
	newChannel(t, s, "ops", nil)
	loud := create(t, s, "loud")
	flip(t, s, loud.ID, t0, false)
	select {
	case <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatal("owed deliveries did not wake the listener")
	}
	require.Empty(t, wakes, "one wake for the one transaction that owed something")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
