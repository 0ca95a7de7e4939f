//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/internal/check"
)

// hostileKind is one way a target can be hostile, served by hostileTargets.
type hostileKind struct {
	name string
	// grpc checks probe the gRPC server; the others an HTTP path.
	grpc bool
	// wantState is the state the check must settle in: a hostile target
	// is judged like any other, and a huge body is still a 200.
	wantState check.State
}

// hostileKinds are the targets of the hostile-targets scenario: what broke
// Vigil before everything a target sends was cleaned and capped (issue 11).
var hostileKinds = []hostileKind{
	{name: "grpc-nul-message", grpc: true, wantState: check.StateDown},
	{name: "grpc-invalid-utf8-message", grpc: true, wantState: check.StateDown},
	{name: "malformed-60k-header", wantState: check.StateDown},
	{name: "huge-body", wantState: check.StateUp},
	{name: "slow-drip-body", wantState: check.StateDown},
	{name: "redirect-loop", wantState: check.StateDown},
	{name: "reset-mid-response", wantState: check.StateDown},
}

// hostileTargets serves every hostile kind: one raw TCP listener whose
// first request line picks the behaviour (net/http's server would refuse
// to send most of these answers), and one gRPC health server whose answer
// depends on the service asked about.
type hostileTargets struct {
	ln   net.Listener
	grpc *grpc.Server
	gln  net.Listener
	done chan struct{}
	wg   sync.WaitGroup
}

func startHostileTargets() (*hostileTargets, error) {
	h := &hostileTargets{done: make(chan struct{})}
	var err error
	if h.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if h.gln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		_ = h.ln.Close()
		return nil, err
	}
	h.grpc = grpc.NewServer()
	healthpb.RegisterHealthServer(h.grpc, hostileHealth{})
	h.wg.Add(2)
	go func() { defer h.wg.Done(); _ = h.grpc.Serve(h.gln) }()
	go func() { defer h.wg.Done(); h.accept() }()
	return h, nil
}

// url is what a check of kind k registers.
func (h *hostileTargets) url(k hostileKind) string {
	if k.grpc {
		return "grpc://" + h.gln.Addr().String()
	}
	return "http://" + h.ln.Addr().String() + "/" + k.name
}

func (h *hostileTargets) close() {
	close(h.done)
	_ = h.ln.Close()
	h.grpc.Stop()
	h.wg.Wait()
}

func (h *hostileTargets) accept() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.wg.Go(func() {
			defer func() { _ = c.Close() }()
			h.serve(c)
		})
	}
}

// serve answers requests on one connection until the behaviour ends it.
func (h *hostileTargets) serve(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		path := requestPath(buf[:n])
		const ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		switch path {
		case "/malformed-60k-header":
			// A header line without a colon, 60 KB long: net/http quotes it
			// back in its error ("malformed MIME header line: …").
			_, _ = io.WriteString(c, ok+strings.Repeat("\xffA\x00", 20<<10)+"\r\n\r\n")
			return
		case "/huge-body":
			_, _ = io.WriteString(c, ok+"\r\n")
			chunk := bytes.Repeat([]byte("z"), 64<<10)
			for range 256 { // 16 MiB, then hang up
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
			return
		case "/slow-drip-body":
			_, _ = io.WriteString(c, ok+"Content-Length: 1000000\r\n\r\n")
			for {
				select {
				case <-h.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Write([]byte("z")); err != nil {
					return
				}
			}
		case "/redirect-loop":
			_, _ = io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: /redirect-loop\r\nContent-Length: 0\r\n\r\n")
			continue
		case "/reset-mid-response":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST, not FIN
			}
			return
		default:
			_, _ = io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
	}
}

// requestPath reads the path from a request line ("GET /x HTTP/1.1").
func requestPath(req []byte) string {
	line, _, _ := bytes.Cut(req, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// hostileHealth answers the gRPC health check with a status message that
// PostgreSQL cannot store as text: NUL, or bytes that are not UTF-8.
type hostileHealth struct {
	healthpb.UnimplementedHealthServer
}

func (hostileHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "grpc-invalid-utf8-message" {
		return nil, status.Error(codes.Internal, "broken \xff\xfe backend")
	}
	return nil, status.Error(codes.Internal, "broken\x00backend "+strings.Repeat("x", 4096))
}

// hostileChecksPerKind is how many checks probe each hostile kind.
const hostileChecksPerKind = 5

// registerHostile registers hostileChecksPerKind checks of every hostile
// kind through the server's REST API, as a user would, and returns their
// ids by kind.
func registerHostile(t *testing.T, server string, h *hostileTargets, l load) map[string][]string {
	ids := map[string][]string{}
	for _, k := range hostileKinds {
		for i := range hostileChecksPerKind {
			body := map[string]any{
				"name": fmt.Sprintf("hostile-%s-%d", k.name, i), "url": h.url(k),
				"interval_seconds": l.interval.Seconds(), "timeout_seconds": l.timeout.Seconds(),
				"tags": []string{"hostile"},
			}
			if k.grpc {
				body["type"] = "grpc"
				body["grpc_service"] = k.name
			}
			raw, err := json.Marshal(body)
			require.NoError(t, err)
			resp, err := http.Post("http://"+server+"/api/v1/services", "application/json", bytes.NewReader(raw))
			require.NoError(t, err)
			out, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusCreated, resp.StatusCode, "register %s: %s", k.name, out)
			var svc struct {
				ID string `json:"id"`
			}
			require.NoError(t, json.Unmarshal(out, &svc))
			ids[k.name] = append(ids[k.name], svc.ID)
		}
	}
	return ids
}

// hostileReport checks what the hostile checks left behind once the window
// is in: each settled in its expected state on its first result, and no
// stored text is longer than an error may be.
func hostileReport(t *testing.T, r *rig, x *runState, ids map[string][]string, from, to time.Time) {
	ctx := context.Background()
	settled := 0
	for _, k := range hostileKinds {
		for _, id := range ids[k.name] {
			var (
				state              string
				results, firstMove int64
			)
			require.NoError(t, r.pool.QueryRow(ctx, `SELECT cs.state,
					(SELECT count(*) FROM check_results WHERE check_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3),
					(SELECT count(*) FROM check_results r WHERE r.check_id = $1 AND r.scheduled_at <=
						(SELECT min(scheduled_at) FROM transitions WHERE check_id = $1))
				FROM check_state cs WHERE cs.check_id = $1`, id, from, to).Scan(&state, &results, &firstMove))
			if check.State(state) != k.wantState {
				x.failf("hostile check %s (%s) is %s, want %s", id, k.name, state, k.wantState)
			}
			if results == 0 {
				x.failf("hostile check %s (%s) has no result in the window", id, k.name)
			}
			// Threshold 1: the first result decides the state.
			if firstMove != 1 {
				x.failf("hostile check %s (%s) left UNKNOWN on result %d, want its first", id, k.name, firstMove)
			}
			if check.State(state) == k.wantState && firstMove == 1 {
				settled++
			}
		}
	}
	var maxResult, maxState, maxTransition int64
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT
			(SELECT coalesce(max(octet_length(error)), 0) FROM check_results),
			(SELECT coalesce(max(octet_length(last_error)), 0) FROM check_state),
			(SELECT coalesce(max(octet_length(error)), 0) FROM transitions)`).Scan(&maxResult, &maxState, &maxTransition))
	largest := max(maxResult, maxState, maxTransition)
	if largest > check.MaxErrorBytes {
		x.failf("a stored error is %d bytes, more than the %d an error may be", largest, check.MaxErrorBytes)
	}
	var healthyExp, healthyGot int64
	grid, err := r.grid(ctx)
	require.NoError(t, err)
	hostile := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			hostile[id] = true
		}
	}
	for _, c := range grid {
		if !hostile[c.id] {
			c.ticksIn(from, to, func(time.Time) { healthyExp++ })
		}
	}
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM check_results r JOIN services s ON s.id = r.check_id
		WHERE r.scheduled_at >= $1 AND r.scheduled_at < $2 AND NOT ('hostile' = ANY(s.tags))`, from, to).Scan(&healthyGot))
	if healthyGot < healthyExp {
		x.failf("healthy checks: %d of %d ticks recorded beside the hostile targets", healthyGot, healthyExp)
	}
	x.notes = append(x.notes, fmt.Sprintf("%d hostile checks (%d kinds), %d settled in their state on their first result; healthy ticks %d of %d recorded; largest stored error %d bytes",
		len(hostile), len(hostileKinds), settled, healthyGot, healthyExp, largest))
}
