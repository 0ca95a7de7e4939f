package app_test

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// BenchmarkFlipToEvent measures how long after a target flips its health
// a WebSocket client hears about it, at a 1 s interval and threshold 1.
// Flips happen at a random moment within the interval, so flip-to-event
// includes waiting for the next tick (0-1 s, 500 ms on average);
// probe-to-event is the pipeline alone: from the probe that saw the flip
// starting to the event arriving (probe, record, publish, fan-out). 50 flips:
//
//	go test -run '^$' -bench FlipToEvent -benchtime 50x ./internal/app
func BenchmarkFlipToEvent(b *testing.B) {
	sys := start(b, testConfig(b), zaptest.NewLogger(b, zaptest.Level(zap.WarnLevel)))
	srv, down := target(b)
	events := dial(b, sys.api, "")
	var sv service
	if code := call(b, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "flip", "url": srv.URL, "interval_seconds": 1, "timeout_seconds": 0.5,
	}, &sv); code != http.StatusCreated {
		b.Fatalf("register: %d", code)
	}
	if e, ok := next(b, events, 5*time.Second); !ok || e.To != "UP" {
		b.Fatalf("first event %+v", e)
	}
	var lat, pipe []time.Duration
	b.ResetTimer()
	for i := range b.N {
		want := "DOWN"
		if i%2 == 1 {
			want = "UP"
		}
		time.Sleep(rand.N(time.Second))
		flipped := time.Now()
		down.Store(want == "DOWN")
		e, ok := next(b, events, 10*time.Second)
		if !ok || e.To != want {
			b.Fatalf("flip %d: got %+v, want %s", i, e, want)
		}
		lat = append(lat, time.Since(flipped))
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			b.Fatal(err)
		}
		pipe = append(pipe, time.Since(at))
	}
	b.StopTimer()
	report := func(d []time.Duration, unit string) {
		slices.Sort(d)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(d[len(d)/2]), unit+"-p50-ms")
		b.ReportMetric(ms(d[(len(d)*99)/100]), unit+"-p99-ms")
	}
	report(lat, "flip")
	report(pipe, "probe")
}
