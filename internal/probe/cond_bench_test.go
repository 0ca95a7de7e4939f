package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// BenchmarkProbeConditions measures the CPU one HTTP probe of a 4 KiB JSON
// body costs without conditions and with three (a JSON field, a header and
// the latency), through one shared Prober as in a worker. cpu-us/op is the
// process's user+system CPU per probe, target server included (the same
// in both runs), which is what a worker's CPU limit pays for.
//
//	go test -run '^$' -bench ProbeConditions -benchmem ./internal/probe/
func BenchmarkProbeConditions(b *testing.B) {
	body := jsonBody(4 << 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	b.Cleanup(srv.Close)

	for _, bc := range []struct {
		name  string
		conds []string
	}{
		{"none", nil},
		{"three", []string{`json.status == "UP"`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}},
		// The same without json: what CEL itself costs, apart from
		// parsing the body.
		{"three-no-json", []string{`status == 200`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}},
		{"body-contains", []string{`body.contains("\"status\":\"UP\"")`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newProber(b, Options{})
			job := httpJob(srv.URL+"/health", 5*time.Second)
			job.Conditions = bc.conds
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
					b.Fatalf("probe: %s", res.Error)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// jsonBody is a health document of about n bytes with "status":"UP".
func jsonBody(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"status":"UP","components":{`)
	for i := 0; sb.Len() < n-64; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"component-%03d":{"status":"UP","latency_ms":%d}`, i, i%97)
	}
	sb.WriteString(`}}`)
	return sb.String()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
