package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/histogram"
)

func TestMaxBucketIsTheHistogramsLast(t *testing.T) {
	require.Len(t, histogram.Bounds, maxBucket)
	require.Equal(t, 0, clampBucket(-3))
	require.Equal(t, maxBucket, clampBucket(maxBucket+9))
}

func TestSplitWindow(t *testing.T) {
	d := func(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC) }
	var none time.Time
	for _, tc := range []struct {
		name                               string
		since, until, through, daysThrough time.Time
		hStart, dStart, dEnd, hEnd         time.Time
	}{
		{"no rollups: all raw", d(1, 10, 30), d(5, 3, 0), none, none,
			d(5, 3, 0), d(5, 3, 0), d(5, 3, 0), d(5, 3, 0)},
		{"hourly only", d(1, 10, 30), d(5, 3, 10), d(5, 3, 0), none,
			d(1, 11, 0), d(5, 3, 0), d(5, 3, 0), d(5, 3, 0)},
		{"days in the middle, hours at the edges", d(1, 10, 30), d(5, 3, 10), d(5, 3, 0), d(5, 0, 0),
			d(1, 11, 0), d(2, 0, 0), d(5, 0, 0), d(5, 3, 0)},
		{"days only as far as days_through", d(1, 10, 30), d(5, 3, 10), d(5, 3, 0), d(3, 0, 0),
			d(1, 11, 0), d(2, 0, 0), d(3, 0, 0), d(5, 3, 0)},
		{"hours only as far as rollups_through", d(1, 10, 30), d(5, 3, 10), d(4, 7, 0), d(4, 0, 0),
			d(1, 11, 0), d(2, 0, 0), d(4, 0, 0), d(4, 7, 0)},
		{"aligned edges", d(2, 0, 0), d(4, 0, 0), d(5, 0, 0), d(5, 0, 0),
			d(2, 0, 0), d(2, 0, 0), d(4, 0, 0), d(4, 0, 0)},
		{"less than a day: no daily piece", d(2, 1, 0), d(2, 23, 0), d(5, 0, 0), d(5, 0, 0),
			d(2, 1, 0), d(2, 23, 0), d(2, 23, 0), d(2, 23, 0)},
		{"less than an hour: all raw", d(2, 1, 5), d(2, 1, 55), d(5, 0, 0), d(5, 0, 0),
			d(2, 1, 55), d(2, 1, 55), d(2, 1, 55), d(2, 1, 55)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := splitWindow(tc.since, tc.until, tc.through, tc.daysThrough)
			require.Equal(t, window{since: tc.since, hStart: tc.hStart, dStart: tc.dStart, dEnd: tc.dEnd,
				hEnd: tc.hEnd, until: tc.until}, w)
			// The pieces tile the window in order.
			for _, p := range [][2]time.Time{{w.since, w.hStart}, {w.hStart, w.dStart}, {w.dStart, w.dEnd}, {w.dEnd, w.hEnd}, {w.hEnd, w.until}} {
				require.False(t, p[1].Before(p[0]), "piece [%s, %s)", p[0], p[1])
			}
		})
	}
}
