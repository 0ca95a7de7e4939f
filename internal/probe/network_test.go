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

	"github.com/vigil-dev/vigil/internal/check"
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
		{name: "mapped prefix becomes ipv4", in: "::ffff:169.254.0.0/112,::ffff:0:0/96", want: []string{"169.254.0.0/16", "0.0.0.0/0"}},
		{name: "ipv6 prefix holding the mapped range stays ipv6", in: "::/64", want: []string{"::/64"}},
		{name: "preset and extra cidrs", in: "shared-cluster, 203.0.113.7/24",
			want: append(prefixStrings(SharedClusterNetworks()), "203.0.113.0/24")},
		{name: "garbage", in: "10.0.0.0/8,metadata",
			wantErr: `parse networks: "metadata" is neither a CIDR (like 10.0.0.0/8), an IP address nor the preset "shared-cluster"`},
		{name: "preset names are exact", in: "Shared-Cluster", wantErr: `"Shared-Cluster" is neither a CIDR`},
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
			require.Equal(t, tt.want, prefixStrings(got))
		})
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	strs := make([]string, len(ps))
	for i, p := range ps {
		strs[i] = p.String()
	}
	return strs
}

func TestDefaultDenyNetworksIsFresh(t *testing.T) {
	t.Parallel()
	a := DefaultDenyNetworks()
	a[0] = netip.MustParsePrefix("10.0.0.0/8")
	require.Equal(t, "169.254.0.0/16", DefaultDenyNetworks()[0].String())
	b := SharedClusterNetworks()
	b[0] = netip.MustParsePrefix("8.8.8.0/24")
	require.Equal(t, "0.0.0.0/8", SharedClusterNetworks()[0].String())
}

// TestSharedClusterNetworks pins down what the preset promises in
// docs/operations.md: nothing of the node, the cluster, other tenants or
// the cloud's metadata, and all of the public internet.
func TestSharedClusterNetworks(t *testing.T) {
	t.Parallel()
	p := newPolicy(SharedClusterNetworks(), nil)
	denied := []string{
		"127.0.0.1", "127.255.0.9", "::1", "0.0.0.0", "0.1.2.3", "::", // the node
		"10.96.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "100.64.0.1", // private and CGNAT
		"169.254.169.254", "fe80::1", "100.100.100.200", "fd00:ec2::254", // metadata: AWS, GCP, Azure, Alibaba, AWS IPv6
		"fc00::1", "fec0::1", // unique-local, site-local
		"64:ff9b::a9fe:a9fe", "64:ff9b::808:808", "64:ff9b:1::1", // NAT64, public IPv4 behind it included
		"::ffff:10.0.0.1", "::ffff:169.254.169.254", // IPv4-mapped
		"192.0.0.192", "192.0.2.1", "198.51.100.1", "203.0.113.1", "192.88.99.1", "198.18.0.1", "240.0.0.1", "255.255.255.255",
		"2001:db8::1",
	}
	for _, a := range denied {
		require.Error(t, p.check(netip.MustParseAddr(a)), "%s must be denied", a)
	}
	public := []string{
		"8.8.8.8", "1.1.1.1", "11.0.0.1", "172.32.0.1", "100.128.0.1", "169.255.0.1", "192.0.1.1", "223.255.255.254",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "fe00::1",
	}
	for _, a := range public {
		require.NoError(t, p.check(netip.MustParseAddr(a)), "%s is public", a)
	}
}

func TestPolicyControl(t *testing.T) {
	t.Parallel()
	deny := newPolicy(append(DefaultDenyNetworks(), netip.MustParsePrefix("127.0.0.0/8")), nil)
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
		// :: reaches 127.0.0.1 as well as ::1: a listener on [::] takes both.
		{address: "[::]:80", wantErr: "target :: is in a denied network (127.0.0.0/8)"},
		// The NAT64 gateway connects to the IPv4 address in the last 32 bits.
		{address: "[64:ff9b::a9fe:a9fe]:80", wantErr: "target 64:ff9b::a9fe:a9fe is in a denied network (169.254.0.0/16)"},
		{address: "10.0.0.1:80"},
		{address: "[2001:db8::1]:80"},
		{address: "[64:ff9b::808:808]:80"},
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

	t.Run("unspecified ipv6 is judged as ipv6 loopback", func(t *testing.T) {
		err := newPolicy([]netip.Prefix{netip.MustParsePrefix("::1/128")}, nil).control("tcp6", "[::]:80", nil)
		require.EqualError(t, err, "target :: is in a denied network (::1/128)")
	})
	t.Run("unspecified ipv4 is judged as ipv6 loopback", func(t *testing.T) {
		err := newPolicy([]netip.Prefix{netip.MustParsePrefix("::1/128")}, nil).control("tcp4", "0.0.0.0:80", nil)
		require.EqualError(t, err, "target 0.0.0.0 is in a denied network (::1/128)")
	})
	t.Run("mapped deny prefix given directly in Options", func(t *testing.T) {
		// ParseNetworks is not the only way in: a prefix written mapped
		// matched no address at all, as addresses are unmapped first.
		p := newPolicy([]netip.Prefix{netip.MustParsePrefix("::ffff:169.254.0.0/112")}, nil)
		require.EqualError(t, p.control("tcp", "169.254.169.254:80", nil),
			"target 169.254.169.254 is in a denied network (169.254.0.0/16)")
		require.Error(t, p.control("tcp", "[::ffff:169.254.169.254]:80", nil))
		require.NoError(t, p.control("tcp", "169.255.0.1:80", nil))
	})
}

func TestPolicyAllowCarvesExceptions(t *testing.T) {
	t.Parallel()
	allow, err := ParseNetworks("10.20.0.0/16,::ffff:192.168.7.0/120,64:ff9b::/96")
	require.NoError(t, err)
	p := newPolicy(SharedClusterNetworks(), allow)
	tests := []struct {
		address string
		wantErr string
	}{
		{address: "10.20.3.4:8080"},
		{address: "[::ffff:10.20.3.4]:8080"},
		{address: "192.168.7.9:80"}, // allowed through a prefix written mapped
		{address: "[64:ff9b::808:808]:80"},
		{address: "10.21.0.1:80", wantErr: "target 10.21.0.1 is in a denied network (10.0.0.0/8)"},
		{address: "192.168.8.1:80", wantErr: "target 192.168.8.1 is in a denied network (192.168.0.0/16)"},
		// Allowing NAT64 to reach the public IPv4 internet does not open
		// the private and metadata addresses behind it.
		{address: "[64:ff9b::a9fe:a9fe]:80", wantErr: "target 64:ff9b::a9fe:a9fe is in a denied network (169.254.0.0/16)"},
		{address: "169.254.169.254:80", wantErr: "target 169.254.169.254 is in a denied network (169.254.0.0/16)"},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := p.control("tcp", tt.address, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
	t.Run("allow without deny changes nothing", func(t *testing.T) {
		require.NoError(t, newPolicy(nil, allow).control("tcp", "169.254.169.254:80", nil))
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
	t.Run("mapped deny prefix in Options", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}})
		res := p.Probe(context.Background(), httpJob("http://"+srv.addr()+"/", 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
	t.Run("allowed address inside a denied network", func(t *testing.T) {
		t.Parallel()
		srv := newPlainServer(t)
		p := newProber(t, Options{DenyNetworks: SharedClusterNetworks(), AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	})
	t.Run("redirect from an allowed address is vetted again", func(t *testing.T) {
		t.Parallel()
		// 127.0.0.2 is loopback too, but only 127.0.0.1 is allowed: the
		// hop is refused at dial time like any other.
		target := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		srv := httptest.NewServer(http.RedirectHandler(fmt.Sprintf("http://127.0.0.2:%d/", target.port()), http.StatusFound))
		t.Cleanup(srv.Close)
		p := newProber(t, Options{DenyNetworks: SharedClusterNetworks(), AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		requireDown(t, res, "target 127.0.0.2 is in a denied network (127.0.0.0/8)", 5*time.Second)
	})
	t.Run("other networks still allowed", func(t *testing.T) {
		t.Parallel()
		srv := newPlainServer(t)
		p := newProber(t, Options{DenyNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		require.Empty(t, res.Error)
	})
}
