package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/internal/check"
)

// newRawGRPCServer answers every call with a trailers-only gRPC response
// whose grpc-message header is message, exactly as given (already
// percent-encoded). grpc-go's own server re-encodes a status message as
// valid UTF-8, so a target sending raw bytes such as %FF needs this.
func newRawGRPCServer(t testing.TB, code codes.Code, message string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", strconv.Itoa(int(code)))
		w.Header().Set("Grpc-Message", message)
		w.WriteHeader(http.StatusOK)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// requireCleanDown asserts a DOWN result whose error can be stored, logged
// and published as it is: valid UTF-8, no control characters, at most
// check.MaxErrorBytes.
func requireCleanDown(t *testing.T, res check.Result) {
	t.Helper()
	require.Equal(t, check.ResultDown, res.Status, "error: %q", res.Error)
	require.NotEmpty(t, res.Error)
	require.True(t, utf8.ValidString(res.Error), "error %q is not valid UTF-8", res.Error)
	require.False(t, check.HasControl(res.Error), "error %q holds control characters", res.Error)
	require.LessOrEqual(t, len(res.Error), check.MaxErrorBytes)
}

// TestProbeCleansTargetText covers text a target controls reaching the
// result's error: a NUL or an invalid byte made PostgreSQL refuse the whole
// batch the result was recorded in, and a long text was copied into every
// row, message and event of every probe.
func TestProbeCleansTargetText(t *testing.T) {
	t.Parallel()
	grpcServer := func(t *testing.T, err error) string {
		s := grpc.NewServer()
		healthpb.RegisterHealthServer(s, &fakeHealth{err: err})
		return startGRPC(t, s)
	}
	tests := []struct {
		name    string
		job     func(t *testing.T) check.Job
		wantErr string // exact, when the cleaned text is predictable
	}{
		{
			name: "grpc status message with NUL",
			job: func(t *testing.T) check.Job {
				addr := grpcServer(t, status.Error(codes.Internal, "db\x00down\x1b[31m"))
				return grpcJob("grpc://"+addr, "", 5*time.Second)
			},
			wantErr: "grpc health: Internal: dbdown[31m",
		},
		{
			name: "grpc status message with invalid UTF-8",
			job: func(t *testing.T) check.Job {
				return grpcJob("grpc://"+newRawGRPCServer(t, codes.Internal, "bad %FF%00 byte"), "", 5*time.Second)
			},
			wantErr: "grpc health: Internal: bad \uFFFD byte",
		},
		{
			name: "grpc unavailable with invalid UTF-8",
			job: func(t *testing.T) check.Job {
				return grpcJob("grpc://"+newRawGRPCServer(t, codes.Unavailable, "draining %FE%0Anow"), "", 5*time.Second)
			},
			wantErr: "grpc: unavailable: draining \uFFFD now",
		},
		{
			name: "grpc status message of 60 KB",
			job: func(t *testing.T) check.Job {
				addr := grpcServer(t, status.Error(codes.Internal, strings.Repeat("x", 60<<10)))
				return grpcJob("grpc://"+addr, "", 5*time.Second)
			},
		},
		{
			name: "http header line of 60 KB",
			job: func(t *testing.T) check.Job {
				srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
					readRequest(c)
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nX-Junk: " + strings.Repeat("\x00\xff", 30<<10) + "\r\n\r\n"))
				})
				return httpJob("http://"+srv.addr()+"/", 5*time.Second)
			},
			wantErr: "malformed http response headers",
		},
		{
			name: "http header of 60 KB without a colon",
			job: func(t *testing.T) check.Job {
				srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
					readRequest(c)
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n" + strings.Repeat("\xff", 60<<10) + "\r\n\r\n"))
				})
				return httpJob("http://"+srv.addr()+"/", 5*time.Second)
			},
			wantErr: "malformed http response headers",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{})
			res := p.Probe(context.Background(), tt.job(t))
			requireCleanDown(t, res)
			if tt.wantErr != "" {
				require.Equal(t, tt.wantErr, res.Error)
			} else {
				require.True(t, strings.HasSuffix(res.Error, "…"), "a cut error is marked: %q", res.Error)
			}
		})
	}
}

// TestProbeCleansPanicText: the recover path builds its error from a value
// of any content, so it is cleaned like every other.
func TestProbeCleansPanicText(t *testing.T) {
	t.Parallel()
	p := newProber(t, Options{Now: func() time.Time { panic("clock\x00 on \xfffire" + strings.Repeat("!", 4<<10)) }})
	res := p.Probe(context.Background(), httpJob("http://127.0.0.1:1/", time.Second))
	requireCleanDown(t, res)
	require.True(t, strings.HasPrefix(res.Error, "internal error: probe panicked: clock on \uFFFDfire!!!"), res.Error)
}
