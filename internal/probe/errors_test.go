package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDescribe covers the error kinds no loopback server can provoke
// (unreachable networks, broken name servers, expired certificates): what
// users read for each must stay short and stable.
func TestDescribe(t *testing.T) {
	t.Parallel()
	dial := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://10.0.0.1/", Err: &net.OpError{
			Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err),
		}}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "host unreachable", err: dial(syscall.EHOSTUNREACH), want: "host unreachable"},
		{name: "network unreachable", err: dial(syscall.ENETUNREACH), want: "network unreachable"},
		{name: "broken pipe", err: dial(syscall.EPIPE), want: "connection closed by peer"},
		{name: "refused", err: dial(syscall.ECONNREFUSED), want: "connection refused"},
		{name: "dial timeout", err: dial(context.DeadlineExceeded), want: "timeout after 1.5s"},
		{name: "canceled", err: fmt.Errorf("get: %w", context.Canceled), want: "probe canceled"},
		{name: "dns timeout", err: &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true},
			want: "timeout after 1.5s"},
		{name: "dns temporary", err: &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true},
			want: "dns: server misbehaving"},
		{name: "unknown authority", err: x509.UnknownAuthorityError{}, want: "tls: certificate signed by unknown authority"},
		{name: "wrong host", err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.example"}}, Host: "b.example"},
			want: "tls: certificate is valid for a.example, not b.example"},
		{name: "expired", err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: "it is late"},
			want: "tls: certificate has expired or is not yet valid: it is late"},
		{name: "alert", err: fmt.Errorf("remote error: %w", tls.AlertError(40)), want: "tls: handshake failure"},
		{name: "plain tls text", err: errors.New("remote error: tls: protocol version not supported"),
			want: "tls: protocol version not supported"},
		{name: "unexpected eof", err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF), want: "connection closed mid-response"},
		{name: "eof", err: &url.Error{Op: "Get", URL: "http://x/", Err: io.EOF}, want: "connection closed before a response"},
		{name: "redirect limit", err: &url.Error{Op: "Get", URL: "http://x/", Err: &redirectLimitError{n: 3}},
			want: "stopped after 3 redirects"},
		{name: "denied", err: dial(&deniedError{
			addr: netip.MustParseAddr("169.254.169.254"), prefix: netip.MustParsePrefix("169.254.0.0/16"),
		}), want: "target 169.254.169.254 is in a denied network (169.254.0.0/16)"},
		{name: "malformed header line is not echoed",
			err:  errors.New(`net/http: HTTP/1.x transport connection broken: malformed MIME header line: "X-A: \\x01"`),
			want: "malformed http response headers"},
		{name: "unrecognised keeps innermost text", err: dial(errors.New("something odd")), want: "something odd"},
		{name: "unrecognised without wrapping", err: errors.New("plain"), want: "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, describe(tt.err, 1500*time.Millisecond))
		})
	}
}

func TestTLSText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{in: `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired"`,
			want: "tls: certificate has expired", ok: true},
		{in: "remote error: tls: handshake failure", want: "tls: handshake failure", ok: true},
		{in: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := tlsText(tt.in)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
