package broadcast

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change.

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

// A Replay that answers with the id it was asked to start after (an
// inclusive query, say) does not make the client see that id twice: the
// client had it, or the previous page sent it.
func TestReplayNeverResendsTheIDItStartsAfter(t *testing.T) {
	log := &transitionLog{}
	log.add(1, 2, 3, 4, 5, 6, 7)
	inclusive := func(ctx context.Context, afterID int64, limit int) ([]check.Transition, error) {
		return log.replay(ctx, afterID-1, limit)
	}
	h := newTestHub(t, Config{Replay: inclusive, ReplayPageSize: 3})
	conn := h.dial(t, "since=2")
	require.Equal(t, []int64{3, 4, 5, 6, 7}, readIDs(t, conn, 5))
	requireNothingMore(t, h, conn, 8)
}

// admit counts clients per replica and per address, and a release gives
// both slots back: a replica that only ever counted up would refuse every
// client once MaxClients had connected in its lifetime, and an address
// whose count were dropped while it still held a client would get past
// its cap.
func TestAdmitReleasesWhatItCounted(t *testing.T) {
	h := New(Config{MaxClients: 3, MaxClientsPerAddr: 2})
	defer h.Close()

	a1, st := h.admit("10.0.0.1")
	require.Zero(t, st)
	a2, st := h.admit("10.0.0.1")
	require.Zero(t, st)
	_, st = h.admit("10.0.0.1")
	require.Equal(t, http.StatusTooManyRequests, st, "the address is at its cap")

	a1()
	a3, st := h.admit("10.0.0.1")
	require.Zero(t, st, "a released slot is free again")
	_, st = h.admit("10.0.0.1")
	require.Equal(t, http.StatusTooManyRequests, st, "two still held: the address stays at its cap")

	b1, st := h.admit("10.0.0.2")
	require.Zero(t, st)
	_, st = h.admit("10.0.0.3")
	require.Equal(t, http.StatusServiceUnavailable, st, "the replica is at its cap")
	b1()
	b2, st := h.admit("10.0.0.3")
	require.Zero(t, st, "the replica's slot came back")

	for _, release := range []func(){a2, a3, b2} {
		release()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Zero(t, h.admitted)
	require.Empty(t, h.perAddr, "an address without clients is forgotten")
}

// A catch-up that found transitions says how many, once; one that found
// none says nothing.
func TestFeedLogsWhatItCaughtUp(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	tl := &transitionLog{}
	f := NewFeed(tl.replay, func(check.Transition) {}, zap.New(core))
	f.catchUp(context.Background())
	require.Zero(t, logs.Len(), "nothing missed, nothing to say")

	tl.add(1, 2, 3)
	f.catchUp(context.Background())
	entries := logs.FilterMessage("caught up on transitions missed while the broker was away").All()
	require.Len(t, entries, 1)
	require.EqualValues(t, 3, entries[0].ContextMap()["transitions"])
}
