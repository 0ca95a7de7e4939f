//go:build faults

package faults

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is the HTTP server every check probes: /t/<n> is check n. It
// counts the requests of every check, which is how the suite sees a tick
// probed twice (the results table's key would hide it), and makes the first
// flappers checks alternate between 200 and 503 every flapEvery, so that
// there are state changes to broadcast during every run.
//
// It listens on several loopback addresses (127.0.0.1, 127.0.0.2, ...) and
// checks are spread over them, as real checks are spread over many hosts:
// aimed at one host:port, every probe would share one keep-alive pool and
// the run would measure connection churn rather than Vigil.
type target struct {
	srvs      []*http.Server
	urls      []string
	hits      []atomic.Int64
	flappers  int
	flapEvery time.Duration

	// times holds when each check was probed, to tell which tick a
	// duplicate probe belonged to.
	mu    sync.Mutex
	times [][]time.Time
}

func startTarget(checks, hosts, flappers int, flapEvery time.Duration) (*target, error) {
	t := &target{hits: make([]atomic.Int64, checks), flappers: flappers, flapEvery: flapEvery,
		times: make([][]time.Time, checks)}
	for h := range hosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", h+1))
		if err != nil {
			t.close()
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.srvs = append(t.srvs, srv)
		t.urls = append(t.urls, "http://"+ln.Addr().String())
	}
	return t, nil
}

// urlOf is the URL check n probes.
func (t *target) urlOf(n int) string { return fmt.Sprintf("%s/t/%d", t.urls[n%len(t.urls)], n) }

func (t *target) serve(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/t/"))
	if err != nil || n < 0 || n >= len(t.hits) {
		http.NotFound(w, r)
		return
	}
	t.hits[n].Add(1)
	now := time.Now()
	t.mu.Lock()
	t.times[n] = append(t.times[n], now)
	t.mu.Unlock()
	if n < t.flappers && (time.Now().UnixNano()/int64(t.flapEvery))%2 == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, "ok")
}

// hitsOf returns how often check n was probed so far.
func (t *target) hitsOf(n int) int64 { return t.hits[n].Load() }

// timesOf returns when check n was probed.
func (t *target) timesOf(n int) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.times[n]...)
}

func (t *target) close() {
	for _, srv := range t.srvs {
		_ = srv.Close()
	}
}
