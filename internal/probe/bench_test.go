package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// BenchmarkProbeHTTP measures one HTTP probe of a local server through a
// shared Prober, the steady state of a worker: the keep-alive pool should
// make every probe after the first reuse a connection, which the dials/op
// metric shows (it should round to 0).
//
//	go test -run '^$' -bench ProbeHTTP -benchmem ./internal/probe/
func BenchmarkProbeHTTP(b *testing.B) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	b.Cleanup(srv.Close)

	b.Run("serial", func(b *testing.B) {
		p := newProber(b, Options{})
		job := httpJob(srv.URL+"/healthz", 5*time.Second)
		dials.Store(0)
		b.ReportAllocs()
		for b.Loop() {
			if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
				b.Fatalf("probe: %s", res.Error)
			}
		}
		b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
	})
	b.Run("parallel", func(b *testing.B) {
		p := newProber(b, Options{})
		job := httpJob(srv.URL+"/healthz", 5*time.Second)
		dials.Store(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
					b.Errorf("probe: %s", res.Error)
					return
				}
			}
		})
		b.ReportMetric(float64(dials.Load())/float64(b.N), "dials/op")
	})
}
