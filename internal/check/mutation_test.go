package check

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change: boundaries that no
// case sat on. This file is in package check so it can reach cut; its
// tests also run before the package's external tests, which matters for
// a mutant that makes FirstTick loop for seconds: a test here fails it at
// once.

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

var mt0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// When the lateness past the catch-up window is a whole number of
// intervals, the oldest tick still within the window is exactly catchUp
// old: the rounding up must not skip it.
func TestNextTickSkipsExactlyToTheCatchUpEdge(t *testing.T) {
	const i = 10 * time.Second
	for _, tt := range []struct {
		late, catchUp, tick time.Duration
	}{
		{late: 40 * time.Second, catchUp: 30 * time.Second, tick: 10 * time.Second},
		{late: 60 * time.Second, catchUp: 30 * time.Second, tick: 30 * time.Second},
		{late: 50*time.Second - time.Nanosecond, catchUp: 30 * time.Second, tick: 20 * time.Second},
	} {
		t.Run(tt.late.String(), func(t *testing.T) {
			tick, next := NextTick(mt0, mt0.Add(tt.late), i, tt.catchUp)
			require.Equal(t, mt0.Add(tt.tick), tick)
			require.Equal(t, tick.Add(i), next)
			require.LessOrEqual(t, tt.late-tt.tick, tt.catchUp, "dispatched within the catch-up window")
		})
	}
}

// The phase is a remainder of the interval, so the first tick is less than
// one interval away for every id, at the longest interval too.
func TestFirstTickIsWithinOneIntervalForEveryID(t *testing.T) {
	now := mt0.Add(1234567 * time.Microsecond)
	for _, interval := range []time.Duration{MaxInterval, 10 * time.Second} {
		for n := range 200 {
			id := fmt.Sprintf("check-%d", n)
			tick := FirstTick(id, now, interval)
			require.False(t, tick.Before(now), "%s every %s", id, interval)
			require.True(t, tick.Before(now.Add(interval)), "%s every %s: %s", id, interval, tick.Sub(now))
		}
	}
}

func TestCleanTextReturnsCleanInputItself(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    string
		max  int
	}{
		{"no cap", "connection refused", 0},
		{"exactly at the cap", "connection refused", len("connection refused")},
		{"negative cap", "ok ü", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := CleanText(tt.s, tt.max)
			require.Equal(t, tt.s, out)
			// The same bytes, not a copy: clean text (nearly every error)
			// costs no allocation.
			require.Same(t, unsafe.StringData(tt.s), unsafe.StringData(out))
		})
	}
}

func TestCleanTextMarksACutAtTheSmallestRoomForTheMark(t *testing.T) {
	// 2*len("…") = 6 bytes is the smallest cap that keeps the mark.
	require.Equal(t, "abc…", CleanText("abcdefg", 6))
	require.Equal(t, "abcde", CleanText("abcdefg", 5), "too small for the mark")
	require.Equal(t, "abcdef", CleanText("abc\x00def", 6), "fits once the NUL is dropped")
}

func TestCutNeverStartsInsideARune(t *testing.T) {
	require.Empty(t, cut("\x80\x80\x80", 2), "no rune boundary within n bytes")
	require.Equal(t, "a", cut("aé", 2))
	require.Equal(t, "aé", cut("aé", 3))
}

func TestHasControlRefusesALoneContinuationByte(t *testing.T) {
	// 0x80 is the first byte that is not ASCII; alone it is not UTF-8.
	for _, s := range []string{"\x80", "a\x80", "a\x80b"} {
		require.True(t, HasControl(s), "%q", s)
		require.True(t, strings.ContainsRune(CleanError(s), '\uFFFD'), "%q", s)
	}
}
