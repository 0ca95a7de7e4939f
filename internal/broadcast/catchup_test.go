package broadcast

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestFeedCatchesUpAfterAReconnect(t *testing.T) {
	var log []check.Transition
	for i := int64(1); i <= 1203; i++ {
		log = append(log, check.Transition{ID: i, To: check.StateUp})
	}
	list := func(_ context.Context, afterID int64, limit int) ([]check.Transition, error) {
		var out []check.Transition
		for _, t := range log {
			if t.ID > afterID && len(out) < limit {
				out = append(out, t)
			}
		}
		return out, nil
	}
	got := make(chan int64, 2000)
	f := NewFeed(list, func(t check.Transition) { got <- t.ID }, zap.NewNop())
	f.Seen(3)
	f.Seen(2) // out of order: the mark only moves forward
	f.Subscribed(context.Background())
	require.Empty(t, got, "the first binding has nothing to catch up on")

	f.Subscribed(context.Background()) // a reconnect
	var ids []int64
	require.Eventually(t, func() bool {
		for {
			select {
			case id := <-got:
				ids = append(ids, id)
			default:
				return len(ids) == 1200
			}
		}
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, int64(4), ids[0], "resumes after the last id seen live")
	require.Equal(t, int64(1203), f.lastID.Load())
}
