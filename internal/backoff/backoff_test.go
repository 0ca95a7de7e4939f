package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffDoublesToMaxWithJitter(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	wantCaps := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, c := range wantCaps {
		c *= time.Millisecond //nolint:durationcheck // the table holds milliseconds as plain numbers
		d := b.Next()
		require.GreaterOrEqual(t, d, c/2, "attempt %d", i)
		require.LessOrEqual(t, d, c, "attempt %d", i)
	}
	require.Equal(t, len(wantCaps), b.Attempts())
	b.Reset()
	require.Zero(t, b.Attempts())
	require.LessOrEqual(t, b.Next(), 100*time.Millisecond, "reset starts over")

	// Jitter: replicas reconnecting together must not all pick one delay.
	seen := map[time.Duration]bool{}
	for range 50 {
		b := Backoff{Min: time.Second, Max: time.Second}
		seen[b.Next()] = true
	}
	require.Greater(t, len(seen), 1)
}

func TestBackoffMaxBelowMin(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Millisecond}
	for range 5 {
		d := b.Next()
		require.GreaterOrEqual(t, d, time.Second/2)
		require.LessOrEqual(t, d, time.Second)
	}
}

func TestSleep(t *testing.T) {
	require.NoError(t, Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
}
