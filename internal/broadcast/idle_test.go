package broadcast

import (
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// idleClients connects n clients that never send or read, and returns the
// heap and goroutines they added. Both ends of every connection live in
// this process, so the figures are an upper bound for the server's share.
func idleClients(tb testing.TB, h *testHub, n int) (heapPerClient, goroutinesPerClient float64) {
	tb.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		c, resp, err := websocket.DefaultDialer.Dial(h.url(""), nil)
		require.NoError(tb, err)
		_ = resp.Body.Close()
		conns = append(conns, c)
	}
	require.Eventually(tb, func() bool { return h.Clients() == n }, 10*time.Second, 10*time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	goroutines := float64(runtime.NumGoroutine() - g0)
	for _, c := range conns {
		_ = c.Close()
	}
	return heap / float64(n), goroutines / float64(n)
}

// A thousand idle clients cost a bounded amount: a fixed number of
// goroutines each, and memory dominated by the per-client event buffer.
func TestThousandIdleClientsAreBounded(t *testing.T) {
	// Every client dials from 127.0.0.1, so the per-address cap is lifted.
	h := newTestHub(t, Config{MaxClientsPerAddr: 1000})
	heap, goroutines := idleClients(t, h, 1000)
	t.Logf("per idle client (both ends in one process): %.1f KiB heap+stack, %.2f goroutines", heap/1024, goroutines)
	require.LessOrEqual(t, goroutines, 3.0, "a client costs a fixed number of goroutines")
	require.Less(t, heap, 128.0*1024, "a client costs well under 128 KiB")
}

// BenchmarkIdleClientMemory reports the heap and stack 1,000 idle
// WebSocket clients add, per client.
func BenchmarkIdleClientMemory(b *testing.B) {
	h := newTestHub(b, Config{MaxClientsPerAddr: 1000})
	for range b.N {
		heap, goroutines := idleClients(b, h, 1000)
		b.ReportMetric(heap/1024, "KiB/client")
		b.ReportMetric(goroutines, "goroutines/client")
		require.Eventually(b, func() bool { return h.Clients() == 0 }, 10*time.Second, 10*time.Millisecond)
	}
}
