package metrics_test

import (
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
)

// BenchmarkProbeFinished measures the per-probe cost a worker pays: it
// should stay in the tens of nanoseconds with no allocation.
func BenchmarkProbeFinished(b *testing.B) {
	m := metrics.New()
	up, down := upResult(12*time.Millisecond), downResult(2*time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if i%4 == 0 {
				m.ProbeFinished(down)
			} else {
				m.ProbeFinished(up)
			}
			i++
		}
	})
}

func BenchmarkTransition(b *testing.B) {
	m := metrics.New()
	t := check.Transition{CheckID: "c1", Service: "payments", From: check.StateUp, To: check.StateDown}
	b.ReportAllocs()
	for b.Loop() {
		m.Transition(t)
	}
}
