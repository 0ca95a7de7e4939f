package check_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	name253 := strings.Join([]string{long, long, long, strings.Repeat("b", 61)}, ".")
	tests := []struct {
		typ  check.Type
		url  string
		want check.Target
	}{
		{check.TypeTCP, "tcp://db.internal:5432", check.Target{Address: "db.internal:5432", Host: "db.internal", ServerName: "db.internal"}},
		{check.TypeTCP, "tcp://10.0.0.7:1/", check.Target{Address: "10.0.0.7:1", Host: "10.0.0.7", ServerName: "10.0.0.7"}},
		{check.TypeTCP, "tcp://[2001:db8::1]:65535", check.Target{Address: "[2001:db8::1]:65535", Host: "2001:db8::1", ServerName: "2001:db8::1"}},
		{check.TypeTCP, "tcp://" + name253 + ":80", check.Target{Address: name253 + ":80", Host: name253, ServerName: name253}},
		{check.TypeTLS, "tls://api.example.com:443", check.Target{Address: "api.example.com:443", Host: "api.example.com", ServerName: "api.example.com"}},
		{check.TypeTLS, "tls://10.0.0.9:8443?server_name=api.example.com.", check.Target{Address: "10.0.0.9:8443", Host: "10.0.0.9", ServerName: "api.example.com"}},
		{check.TypeDNS, "dns://1.1.1.1:53/example.com", check.Target{Address: "1.1.1.1:53", Host: "1.1.1.1", ServerName: "1.1.1.1", Name: "example.com.", QueryType: "A"}},
		{check.TypeDNS, "dns://ns.example:53/_sip._tcp.example.com.?type=srv", check.Target{Address: "ns.example:53", Host: "ns.example", ServerName: "ns.example", Name: "_sip._tcp.example.com.", QueryType: "SRV"}},
		{check.TypeDNS, "dns://[::1]:5353/.?type=NS", check.Target{Address: "[::1]:5353", Host: "::1", ServerName: "::1", Name: ".", QueryType: "NS"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := check.ParseTarget(tt.typ, tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	for _, qt := range check.DNSQueryTypes() {
		got, err := check.ParseTarget(check.TypeDNS, "dns://1.1.1.1:53/example.com?type="+strings.ToLower(qt))
		require.NoError(t, err, qt)
		require.Equal(t, qt, got.QueryType)
	}
}

// Every malformed target is a FieldError naming url, with a message that
// says what to fix.
func TestParseTargetRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ     check.Type
		url     string
		wantMsg string
	}{
		{check.TypeTCP, "", "must not be empty"},
		{check.TypeTCP, "tcp://u:p@h:1", "must not hold credentials"},
		{check.TypeTCP, "http://h:1", "must be tcp://host:port for a tcp check"},
		{check.TypeTCP, "tls://h:1", "must be tcp://host:port for a tcp check"},
		{check.TypeTCP, "tcp:h:1", "must be tcp://host:port for a tcp check"},
		{check.TypeTCP, "tcp://h", "must name a host and a port"},
		{check.TypeTCP, "tcp://:80", "must name a host and a port"},
		{check.TypeTCP, "tcp://h:", "must name a host and a port"},
		{check.TypeTCP, "tcp://h:0", "must have a port from 1 to 65535"},
		{check.TypeTCP, "tcp://h:65536", "must have a port from 1 to 65535"},
		{check.TypeTCP, "tcp://h:1/path", "must not have a path"},
		{check.TypeTCP, "tcp://h:1?x=1", "must not have a query"},
		{check.TypeTCP, "tcp://h:1#frag", "must not have a fragment"},
		{check.TypeTCP, "tcp://h:1#", "must not have a fragment"},
		{check.TypeTCP, "tcp://[fe80::1%25eth0]:1", "must not have an IPv6 zone"},
		{check.TypeTCP, "tcp://" + strings.Repeat("a", 254) + ":1", "host must be at most 253 characters"},
		{check.TypeTCP, "tcp://" + strings.Repeat("a", 64) + ".example:1", "host must not have a label longer than 63"},
		{check.TypeTCP, "tcp://a..b:1", "host must not have an empty label"},
		{check.TypeTCP, "tcp://h!x:1", "host must hold only letters"},
		{check.TypeTCP, "tcp://bücher.example:1", "host must hold only letters"},
		{check.TypeTCP, "tcp://%zz:1", "is not a valid URL"},
		{check.TypeTLS, "tls://h:443?server_name=a%20b", "server_name must hold only letters"},
		{check.TypeTLS, "tls://h:443?server_name=", "server_name must not be empty"},
		{check.TypeTLS, "tls://h:443?server_name=a&server_name=b", "must give server_name once"},
		{check.TypeTLS, "tls://h:443?sni=a", "must have no query parameter but server_name"},
		{check.TypeTLS, "tls://h:443/x", "must not have a path"},
		{check.TypeTLS, "tls://h:443?%zz", "has a query that does not parse"},
		{check.TypeDNS, "dns://1.1.1.1:53", "must name what to look up"},
		{check.TypeDNS, "dns://1.1.1.1:53/", "must name what to look up"},
		{check.TypeDNS, "dns://1.1.1.1/example.com", "must name a host and a port"},
		{check.TypeDNS, "dns://1.1.1.1:53/a/b", "name to look up must hold only letters"},
		{check.TypeDNS, "dns://1.1.1.1:53/" + strings.Repeat("a", 64), "name to look up must not have a label longer than 63"},
		{check.TypeDNS, "dns://1.1.1.1:53/example.com?type=ANY", "type must be one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT"},
		{check.TypeDNS, "dns://1.1.1.1:53/example.com?type=", "type must be one of"},
		{check.TypeDNS, "dns://1.1.1.1:53/example.com?type=A&type=MX", "must give type once"},
		{check.TypeDNS, "dns://1.1.1.1:53/example.com?class=CH", "must have no query parameter but type"},
		{check.TypeHTTP, "http://h:1", `type: must be "tcp", "tls" or "dns" for a target URL`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := check.ParseTarget(tt.typ, tt.url)
			require.ErrorContains(t, err, tt.wantMsg)
			fe, ok := check.AsFieldError(err)
			require.True(t, ok, "%v is no FieldError", err)
			if tt.typ != check.TypeHTTP {
				require.Equal(t, "url", fe.Field)
			}
		})
	}
}

// Validate applies the target rules to the new types, and their checks get
// no HTTP defaults.
func TestValidateNewTypes(t *testing.T) {
	t.Parallel()
	for typ, url := range map[check.Type]string{
		check.TypeTCP: "tcp://db:5432",
		check.TypeTLS: "tls://api.example.com:443?server_name=api.example.com",
		check.TypeDNS: "dns://10.0.0.10:53/kubernetes.default.svc.cluster.local?type=A",
	} {
		c := check.Check{Name: "n", Type: typ, URL: url, Interval: 10 * time.Second}
		c.SetDefaults()
		require.NoError(t, c.Validate(), typ)
		require.Empty(t, c.Method, "HTTP defaults do not apply to %s", typ)
		require.Zero(t, c.ExpectedStatus)

		c.URL = "http://db:5432"
		fe, ok := check.AsFieldError(c.Validate())
		require.True(t, ok, typ)
		require.Equal(t, "url", fe.Field)
	}
	require.NoError(t, check.ValidateType(check.TypeDNS))
	err := check.ValidateType("icmp")
	require.EqualError(t, err, `type: must be one of "http", "grpc", "tcp", "tls" or "dns"`)
	require.Len(t, check.Types(), 5)
}
