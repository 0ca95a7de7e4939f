package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
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

// BenchmarkProbeBursts probes in bursts of 512 at once, as a worker runs
// the jobs of many broker messages, spread over one host (every check
// behind one ingress) or 32, with the per-host cap and without it. The
// dials/1000probes metric is what issue 19 was about: without the cap, a
// single host's bursts overflow the keep-alive pool and most probes dial
// (each leaving a socket in TIME_WAIT); with it, only the first burst does.
//
//	go test -run '^$' -bench ProbeBursts -benchtime 20000x ./internal/probe/
func BenchmarkProbeBursts(b *testing.B) {
	const burst = 512
	for _, hosts := range []int{1, 32} {
		for _, limit := range []struct {
			name string
			max  int
		}{{"cap", 0}, {"nocap", -1}} {
			b.Run(fmt.Sprintf("hosts=%d/%s", hosts, limit.name), func(b *testing.B) {
				var dials atomic.Int64
				jobs := make([]check.Job, hosts)
				for i := range jobs {
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
					jobs[i] = httpJob(srv.URL+"/healthz", 10*time.Second)
				}
				p := newProber(b, Options{MaxPerHost: limit.max})
				var down atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; {
					size := min(burst, b.N-done)
					var wg sync.WaitGroup
					for i := range size {
						job := jobs[(done+i)%hosts]
						wg.Go(func() {
							if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
								down.Add(1)
							}
						})
					}
					wg.Wait()
					done += size
				}
				b.StopTimer()
				if down.Load() > 0 {
					b.Fatalf("%d probes were DOWN", down.Load())
				}
				b.ReportMetric(float64(dials.Load())*1000/float64(b.N), "dials/1000probes")
			})
		}
	}
}
