package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// A method the worker does not allow is refused before any connection: a
// check that POSTs or DELETEs would otherwise do so every interval.
func TestProbeMethodPolicy(t *testing.T) {
	t.Parallel()
	methodJob := func(url, method string) check.Job {
		job := httpJob(url, 5*time.Second)
		job.Method = method
		return job
	}
	t.Run("refused without a connection", func(t *testing.T) {
		t.Parallel()
		for _, method := range []string{"POST", "DELETE", "delete", "PUT", "PATCH", "TRACE"} {
			srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
			p := newProber(t, Options{})
			res := p.Probe(context.Background(), methodJob("http://"+srv.addr()+"/", method))
			requireDown(t, res, "method "+method+" is not allowed by this worker (VIGIL_PROBE_METHODS)", 5*time.Second)
			requireNoConnection(t, srv)
		}
	})
	t.Run("default methods reach the target", func(t *testing.T) {
		t.Parallel()
		seen := make(chan string, 8)
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen <- r.Method }))
		t.Cleanup(srv.Close)
		p := newProber(t, Options{})
		for _, method := range []string{"", "GET", "HEAD", "OPTIONS", "get"} {
			res := p.Probe(context.Background(), methodJob(srv.URL, method))
			require.Equal(t, check.ResultUp, res.Status, "%s: %s", method, res.Error)
			want := method
			if want == "" {
				want = "GET"
			}
			require.Equal(t, want, <-seen)
		}
	})
	t.Run("a worker may allow more", func(t *testing.T) {
		t.Parallel()
		seen := make(chan string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen <- r.Method }))
		t.Cleanup(srv.Close)
		methods, err := check.ParseMethods("GET,POST")
		require.NoError(t, err)
		p := newProber(t, Options{Methods: methods})
		res := p.Probe(context.Background(), methodJob(srv.URL, "POST"))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		require.Equal(t, "POST", <-seen)
		res = p.Probe(context.Background(), methodJob(srv.URL, "HEAD"))
		requireDown(t, res, "method HEAD is not allowed by this worker (VIGIL_PROBE_METHODS)", 5*time.Second)
	})
}

// A URL with credentials is refused before any connection, and the result
// names neither the user nor the password.
func TestProbeURLCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ scheme, url string }{
		{scheme: "http", url: "http://alice:s3cret@%s/health"},
		{scheme: "https", url: "https://alice@%s/health"},
		{scheme: "grpc", url: "grpc://alice:s3cret@%s"},
		{scheme: "grpcs", url: "grpcs://alice:s3cret@%s"},
	} {
		t.Run(tt.scheme, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
			job := httpJob(strings.Replace(tt.url, "%s", srv.addr(), 1), 5*time.Second)
			if strings.HasPrefix(tt.scheme, "grpc") {
				job.Type = check.TypeGRPC
			}
			res := newProber(t, Options{}).Probe(context.Background(), job)
			requireDown(t, res, "URL credentials are not allowed", 5*time.Second)
			requireNoConnection(t, srv)
		})
	}
}
