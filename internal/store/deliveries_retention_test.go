package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/store"
)

// deliveryStates maps each transition a channel was owed a message for to
// the state of that message.
func deliveryStates(t *testing.T, s *store.Store, channelID string) map[int64]notify.State {
	t.Helper()
	ds, _, err := s.Deliveries(context.Background(), channelID, notify.DeliveryQuery{Limit: 100})
	require.NoError(t, err)
	out := map[int64]notify.State{}
	for _, d := range ds {
		out[d.TransitionID] = d.State
	}
	return out
}

// finish claims everything due at now and writes state back for the
// messages about serviceID (every service when ""); the others are put
// off for a day. It returns how many it finished.
func finish(t *testing.T, s *store.Store, now time.Time, serviceID string, state notify.State) int {
	t.Helper()
	n := 0
	for _, j := range claimAll(t, s, now) {
		o := notify.Outcome{State: notify.StatePending, Error: "put off", NextAttempt: now.Add(24 * time.Hour)}
		if serviceID == "" || j.Delivery.ServiceID == serviceID {
			o = notify.Outcome{State: state, StatusCode: 200}
			if state == notify.StateDelivered {
				o.DeliveredAt = now
			}
			n++
		}
		require.NoError(t, s.FinishDelivery(context.Background(), j.Delivery.ID, j.Lease, o))
	}
	return n
}

// Retention deletes finished deliveries older than the retention, a
// bounded number per pass, and never a pending one or the newest message
// of a (channel, check) pair (reminders are timed from it).
func TestMaintainPrunesFinishedDeliveries(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	ch := newChannel(t, s, "all", nil)

	// payments: DOWN, UP, DOWN; the first two delivered, the last pending.
	pay := create(t, s, "payments")
	payT := flip(t, s, pay.ID, t0, false, true, false)
	require.Len(t, payT, 3)
	require.Equal(t, 1, finish(t, s, clk.Now(), "", notify.StateDelivered))
	require.Equal(t, 1, finish(t, s, clk.Now(), "", notify.StateDelivered))
	// orders: DOWN, given up on; it is the pair's newest message.
	ord := create(t, s, "orders")
	ordT := flip(t, s, ord.ID, t0, false)
	// The claim takes orders' DOWN and payments' second DOWN: orders' is
	// given up on, payments' waits for a retry.
	for _, j := range claimAll(t, s, clk.Now()) {
		o := notify.Outcome{State: notify.StateFailed, Error: "gave up"}
		if j.Delivery.ServiceID == pay.ID {
			o = notify.Outcome{State: notify.StatePending, Error: "receiver answered 500", NextAttempt: clk.Now().Add(time.Hour)}
		}
		require.NoError(t, s.FinishDelivery(ctx, j.Delivery.ID, j.Lease, o))
	}
	// stock: DOWN then UP, neither ever claimed: two old pending rows, the
	// first of which is not its pair's newest.
	stock := create(t, s, "stock")
	stockT := flip(t, s, stock.ID, t0, false, true)

	before := deliveryStates(t, s, ch.ID)
	require.Equal(t, map[int64]notify.State{
		payT[0].ID: notify.StateDelivered, payT[1].ID: notify.StateDelivered, payT[2].ID: notify.StatePending,
		ordT[0].ID: notify.StateFailed, stockT[0].ID: notify.StatePending, stockT[1].ID: notify.StatePending,
	}, before)

	// A month and a day later, a fresh delivery for another check.
	later := t0.Add(31 * 24 * time.Hour)
	clk.Set(later)
	fresh := create(t, s, "fresh")
	freshT := flip(t, s, fresh.ID, later, false, true)
	require.Equal(t, 1, finish(t, s, later, fresh.ID, notify.StateDelivered))
	require.Equal(t, 1, finish(t, s, later, fresh.ID, notify.StateDelivered))

	p := store.HistoryPolicy{ResultsRetention: 30 * 24 * time.Hour, RollupRetention: 400 * 24 * time.Hour,
		DeliveryBatch: 1, DeliveryBatches: 1}
	// One batch of one row per pass: the bound holds.
	rep, err := s.Maintain(ctx, later, p)
	require.NoError(t, err)
	require.Equal(t, 1, rep.PrunedDeliveries)
	_, first := deliveryStates(t, s, ch.ID)[payT[0].ID]
	require.False(t, first, "oldest first")
	rep, err = s.Maintain(ctx, later, p)
	require.NoError(t, err)
	require.Equal(t, 1, rep.PrunedDeliveries)
	rep, err = s.Maintain(ctx, later, p)
	require.NoError(t, err)
	require.Zero(t, rep.PrunedDeliveries, "nothing else is old and finished and superseded")

	require.Equal(t, map[int64]notify.State{
		payT[2].ID:   notify.StatePending,
		ordT[0].ID:   notify.StateFailed, // old, but the pair's newest
		stockT[0].ID: notify.StatePending, stockT[1].ID: notify.StatePending,
		freshT[0].ID: notify.StateDelivered, freshT[1].ID: notify.StateDelivered, // within the retention
	}, deliveryStates(t, s, ch.ID))

	// A retention of its own wins over the results'.
	p.DeliveriesRetention = time.Hour
	p.DeliveryBatch, p.DeliveryBatches = 0, 0 // the defaults
	rep, err = s.Maintain(ctx, later.Add(2*time.Hour), p)
	require.NoError(t, err)
	require.Equal(t, 1, rep.PrunedDeliveries, "fresh's DOWN, superseded by its UP")
}

func TestHistoryPolicyDeliveryDefaults(t *testing.T) {
	p := store.HistoryPolicy{ResultsRetention: 7 * 24 * time.Hour}.WithDefaults()
	require.Equal(t, 7*24*time.Hour, p.DeliveriesRetention, "as long as the raw results")
	require.Equal(t, store.DefaultDeliveryBatch, p.DeliveryBatch)
	require.Equal(t, store.DefaultDeliveryBatches, p.DeliveryBatches)
	p = store.HistoryPolicy{}.WithDefaults()
	require.Equal(t, store.DefaultResultsRetention, p.DeliveriesRetention)
}
