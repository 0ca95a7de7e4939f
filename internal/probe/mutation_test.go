package probe

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/internal/check"
)

// An expected status from 300 to 399 asks about the redirect itself, so
// it is not followed; 400 and up are asked of the final response. (300
// itself needs no case: net/http never follows a 300.)
func TestProbeHTTPFollowsRedirectsOnlyOutsideTheExpected3xxRange(t *testing.T) {
	t.Parallel()
	// /r redirects to /final, which answers 400.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/final", http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		expected int
		wantHTTP int
	}{
		{name: "399 expected: the redirect is not followed", expected: 399, wantHTTP: 302},
		{name: "400 expected: the redirect is followed", expected: 400, wantHTTP: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{})
			job := httpJob(srv.URL+"/r", 5*time.Second)
			job.ExpectedStatus = tt.expected
			res := p.Probe(context.Background(), job)
			require.Equal(t, tt.wantHTTP, res.HTTPStatus, res.Error)
		})
	}
}

// A message that is nothing but a handshake failure (it starts with
// "tls: ") is found like one wrapped in context.
func TestTLSTextAtTheStart(t *testing.T) {
	t.Parallel()
	got, ok := tlsText("tls: failed to verify certificate: x509: certificate has expired")
	require.True(t, ok)
	require.Equal(t, "tls: certificate has expired", got)

	o := grpcFailure(status.Error(codes.Unavailable, "tls: first record does not look like a TLS handshake"), "", nil)
	require.Equal(t, "tls: first record does not look like a TLS handshake", o.failure)
}

// A job without a timeout gets check.DefaultTimeout, not a deadline that
// has already passed.
func TestProbeWithoutATimeoutGetsTheDefault(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	p := newProber(t, Options{})
	res := p.Probe(context.Background(), httpJob(srv.URL, 0))
	require.Equal(t, check.ResultUp, res.Status, res.Error)
}

// The connection timings TestProbeDefaults does not look at: TCP
// keep-alive probes every 30s (net.Dialer's zero would mean 15s) and idle
// keep-alive connections close after 90s.
func TestProbeConnectionTimings(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	t.Cleanup(p.Close)
	require.Equal(t, 30*time.Second, p.dialer.KeepAlive)
	require.Equal(t, 90*time.Second, p.transport.IdleConnTimeout)
}
