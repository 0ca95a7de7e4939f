//go:build faults

package faults

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// target is the HTTP server every check probes: /t/<n> is check n. It
// counts the requests of every check, which is how the suite sees a tick
// probed twice (the results table's key would hide it), and makes the first
// flappers checks alternate between 200 and 503 every flapEvery, so that
// there are state changes to broadcast during every run.
type target struct {
	srv       *http.Server
	url       string
	hits      []atomic.Int64
	flappers  int
	flapEvery time.Duration
}

func startTarget(checks, flappers int, flapEvery time.Duration) (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{url: "http://" + ln.Addr().String(), hits: make([]atomic.Int64, checks),
		flappers: flappers, flapEvery: flapEvery}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *target) serve(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/t/"))
	if err != nil || n < 0 || n >= len(t.hits) {
		http.NotFound(w, r)
		return
	}
	t.hits[n].Add(1)
	if n < t.flappers && (time.Now().UnixNano()/int64(t.flapEvery))%2 == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, "ok")
}

// hitsOf returns how often check n was probed so far.
func (t *target) hitsOf(n int) int64 { return t.hits[n].Load() }

func (t *target) close() { _ = t.srv.Close() }
