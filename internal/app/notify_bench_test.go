package app_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/notify"
)

// BenchmarkTransitionToWebhook measures, on the real PostgreSQL, the time
// from a recorded transition's commit to its webhook request arriving,
// with the dispatcher's production poll interval (200 ms): at least 100
// flips, one at a time, reported as p50 and p99 in milliseconds.
//
//	go test -run '^$' -bench TransitionToWebhook -benchtime 100x ./internal/app/
func BenchmarkTransitionToWebhook(b *testing.B) {
	d := newBenchDelivery(b)
	arrived := make(chan time.Time, 1)
	h := newHook(b, func(int32) int {
		arrived <- time.Now()
		return http.StatusOK
	})
	d.channel(b, "bench", h.srv.URL, nil)
	n := max(b.N, 100)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		start := time.Now()
		d.set(b, i%2 == 1) // DOWN, UP, DOWN, …: every result is a transition
		select {
		case got := <-arrived:
			lat = append(lat, got.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("flip %d never arrived", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lat)), "flips")
}

func newBenchDelivery(b *testing.B) *delivery {
	b.Helper()
	// newDelivery takes a *testing.T for its helpers; a benchmark's TB
	// does the same job.
	d := newDeliveryTB(b, notify.RetryPolicy{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, MaxAge: time.Hour},
		5*time.Second, 0)
	require.NotNil(b, d)
	return d
}
