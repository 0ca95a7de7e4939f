package cond

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkEval measures one Eval of a probe's conditions over a 4 KiB
// JSON health document, apart from the probe itself: with json decoded as
// far as the conditions read it (sparse), in full as before (full), and
// without json.
//
//	go test -run '^$' -bench Eval -benchmem ./internal/cond/
func BenchmarkEval(b *testing.B) {
	body := healthDoc(4 << 10)
	headers := map[string]string{"content-type": "application/json"}
	for _, bc := range []struct {
		name  string
		conds []string
		full  bool
	}{
		{"json-sparse", []string{`json.status == "UP"`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}, false},
		{"json-full", []string{`json.status == "UP"`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}, true},
		{"no-json", []string{`status == 200`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}, false},
		{"json-nested", []string{`json.components["component-050"].status == "UP"`}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			set, err := Compile(bc.conds)
			if err != nil {
				b.Fatal(err)
			}
			if bc.full {
				set = wholeJSON(set)
			}
			in := Input{Status: 200, Latency: 20 * time.Millisecond, Headers: headers, Body: body}
			b.ReportAllocs()
			for b.Loop() {
				if f := set.Eval(&in); f != "" {
					b.Fatal(f)
				}
			}
		})
	}
}

// healthDoc is a health document of about n bytes with "status":"UP",
// the shape BenchmarkProbeConditions serves.
func healthDoc(n int) string {
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

// BenchmarkDecodeSparse is the sparse decoder alone on the same document.
func BenchmarkDecodeSparse(b *testing.B) {
	body := healthDoc(4 << 10)
	set, err := Compile([]string{`json.status == "UP"`})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeSparse(body, set.json); !ok {
			b.Fatal("refused")
		}
	}
}
