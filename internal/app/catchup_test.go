package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

func TestFeedCatchesUpAfterAReconnect(t *testing.T) {
	var log []check.Transition
	for i := int64(1); i <= 1203; i++ {
		log = append(log, check.Transition{ID: i, To: check.StateUp})
	}
	list := func(_ context.Context, q registry.TransitionQuery) ([]check.Transition, error) {
		var out []check.Transition
		for _, t := range log {
			if t.ID > q.AfterID && len(out) < q.Limit {
				out = append(out, t)
			}
		}
		return out, nil
	}
	got := make(chan int64, 2000)
	f := &feed{list: list, publish: func(t check.Transition) { got <- t.ID }, log: zap.NewNop()}
	f.seen(3)
	f.seen(2) // out of order: the mark only moves forward
	f.subscribed(context.Background())
	require.Empty(t, got, "the first binding has nothing to catch up on")

	f.subscribed(context.Background()) // a reconnect
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
