package histogram

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketMatchesWidthBucketNumbering(t *testing.T) {
	tests := []struct {
		us   int64
		want int
	}{
		{0, 0}, {99, 0}, {100, 1}, {119, 1}, {120, 2},
		{60288011, len(Bounds) - 1}, {60288012, len(Bounds)}, {1 << 40, len(Bounds)},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Bucket(tt.us), "latency %d µs", tt.us)
	}
}

func TestBoundsIncreaseByAboutTwentyPercent(t *testing.T) {
	for i := 1; i < len(Bounds); i++ {
		require.Greater(t, Bounds[i], Bounds[i-1])
		require.LessOrEqual(t, float64(Bounds[i]), float64(Bounds[i-1])*1.21+1)
	}
}

func TestSummary(t *testing.T) {
	var s Summary
	require.Zero(t, s.Avg())
	require.Zero(t, s.P95())
	for i := int64(1); i <= 100; i++ {
		s.Observe(i != 50, i*1000) // 1 ms .. 100 ms
	}
	require.Equal(t, int64(100), s.Checks)
	require.Equal(t, int64(1), s.Failures)
	require.Equal(t, 50500*time.Microsecond, s.Avg())
	require.Equal(t, 100*time.Millisecond, s.Max())
	// The true p95 is 95 ms; its bucket is [85056, 102067) µs.
	require.Equal(t, 100*time.Millisecond, s.P95(), "clamped to the max")
	var e Summary
	e.Add(Summary{})
	require.Zero(t, e.Checks)
}

func TestP95WithinABucket(t *testing.T) {
	var s Summary
	for range 1000 {
		s.Observe(true, 2000)
	}
	s.Observe(true, 5_000_000)
	require.Equal(t, 2219*time.Microsecond, s.P95())
	var one Summary
	one.Observe(true, 1234)
	require.Equal(t, 1234*time.Microsecond, one.P95())
	var huge Summary
	huge.Observe(true, 100_000_000)
	huge.Observe(true, 90_000_000)
	require.Equal(t, 100*time.Second, huge.P95(), "the last bucket has no upper bound: the max")
}
