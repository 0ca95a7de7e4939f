package broadcast

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

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
