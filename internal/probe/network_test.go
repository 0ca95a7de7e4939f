package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseNetworks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "empty means deny nothing", in: "", want: []string{}},
		{name: "blanks only", in: " , ,", want: []string{}},
		{name: "two cidrs", in: "169.254.0.0/16,10.0.0.0/8", want: []string{"169.254.0.0/16", "10.0.0.0/8"}},
		{name: "spaces and ipv6", in: " fe80::/10 , fd00:ec2::254/128 ", want: []string{"fe80::/10", "fd00:ec2::254/128"}},
		{name: "host bits are masked", in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{name: "bare addresses", in: "169.254.169.254,::1", want: []string{"169.254.169.254/32", "::1/128"}},
		{name: "mapped address becomes ipv4", in: "::ffff:169.254.169.254", want: []string{"169.254.169.254/32"}},
		{name: "garbage", in: "10.0.0.0/8,metadata", wantErr: `parse networks: "metadata" is neither a CIDR (like 10.0.0.0/8) nor an IP address`},
		{name: "bad prefix length", in: "10.0.0.0/33", wantErr: `parse networks: "10.0.0.0/33" is not a CIDR (like 10.0.0.0/8)`},
		{name: "zoned address", in: "fe80::1%eth0", wantErr: `parse networks: "fe80::1%eth0" is neither a CIDR`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNetworks(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, got, "an empty list must stay non-nil: nil means the defaults")
			strs := make([]string, len(got))
			for i, p := range got {
				strs[i] = p.String()
			}
			require.Equal(t, tt.want, strs)
		})
	}
}

func TestDefaultDenyNetworksIsFresh(t *testing.T) {
	t.Parallel()
	a := DefaultDenyNetworks()
	a[0] = netip.MustParsePrefix("10.0.0.0/8")
	require.Equal(t, "169.254.0.0/16", DefaultDenyNetworks()[0].String())
}

func TestDenyListControl(t *testing.T) {
	t.Parallel()
	deny := denyList(append(DefaultDenyNetworks(), netip.MustParsePrefix("127.0.0.0/8")))
	tests := []struct {
		address string
		wantErr string
	}{
		{address: "169.254.169.254:80", wantErr: "target 169.254.169.254 is in a denied network (169.254.0.0/16)"},
		{address: "[::ffff:169.254.169.254]:80", wantErr: "target 169.254.169.254 is in a denied network (169.254.0.0/16)"},
		{address: "[fe80::1%eth0]:443", wantErr: "target fe80::1 is in a denied network (fe80::/10)"},
		{address: "[fe80::abcd]:443", wantErr: "target fe80::abcd is in a denied network (fe80::/10)"},
		{address: "127.0.0.53:53", wantErr: "target 127.0.0.53 is in a denied network (127.0.0.0/8)"},
		{address: "0.0.0.0:8080", wantErr: "target 0.0.0.0 is in a denied network (127.0.0.0/8)"},
		{address: "10.0.0.1:80"},
		{address: "[2001:db8::1]:80"},
		{address: "[::]:80"}, // ::1 is not denied here, so neither is ::
		{address: "not-an-address", wantErr: `cannot vet tcp address "not-an-address" against the deny list`},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := deny.control("tcp", tt.address, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}

	t.Run("unspecified ipv6 is judged as loopback", func(t *testing.T) {
		err := denyList{netip.MustParsePrefix("::1/128")}.control("tcp6", "[::]:80", nil)
		require.EqualError(t, err, "target :: is in a denied network (::1/128)")
	})
}

// requireNoConnection asserts that nothing but our own sentinel connection
// reached srv. Connections are accepted in arrival order, so once the
// sentinel dialed after the probe has been accepted, a connection the
// probe made would already have been counted.
func requireNoConnection(t *testing.T, srv *rawServer) {
	t.Helper()
	c, err := net.Dial("tcp", srv.addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.Eventually(t, func() bool { return srv.accepted.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, int64(1), srv.accepted.Load(), "the denied target saw a connection")
}

func TestProbeDenyNetworks(t *testing.T) {
	t.Parallel()
	loopback, err := ParseNetworks("127.0.0.0/8,::1")
	require.NoError(t, err)

	t.Run("loopback address denied", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: loopback})
		res := p.Probe(context.Background(), httpJob("http://"+srv.addr()+"/", 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
	t.Run("host name resolving into a denied network", func(t *testing.T) {
		t.Parallel()
		// The URL names no address; only the dial-time check on the
		// resolved address can catch this, as it would a rebinding DNS.
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: loopback})
		res := p.Probe(context.Background(), httpJob(fmt.Sprintf("http://localhost:%d/", srv.port()), 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
	t.Run("unspecified address reaching loopback", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: loopback})
		res := p.Probe(context.Background(), httpJob(fmt.Sprintf("http://0.0.0.0:%d/", srv.port()), 5*time.Second))
		requireDown(t, res, "target 0.0.0.0 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
	t.Run("metadata endpoint denied by default", func(t *testing.T) {
		t.Parallel()
		// The dial hook rejects the address before connect(2), so this
		// sends nothing to 169.254.169.254.
		p := newProber(t, Options{})
		res := p.Probe(context.Background(), httpJob("http://169.254.169.254/latest/meta-data/", 5*time.Second))
		requireDown(t, res, "target 169.254.169.254 is in a denied network (169.254.0.0/16)", 5*time.Second)
	})
	t.Run("redirect into a denied network", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/iam/", http.StatusFound))
		t.Cleanup(srv.Close)
		p := newProber(t, Options{})
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		requireDown(t, res, "target 169.254.169.254 is in a denied network (169.254.0.0/16)", 5*time.Second)
	})
	t.Run("other networks still allowed", func(t *testing.T) {
		t.Parallel()
		srv := newPlainServer(t)
		p := newProber(t, Options{DenyNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		require.Empty(t, res.Error)
	})
}
