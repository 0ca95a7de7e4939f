package check_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func valid() check.Check {
	c := check.Check{Name: " payments ", URL: "https://pay.example/health", Interval: 10 * time.Second}
	c.SetDefaults()
	return c
}

func TestSetDefaults(t *testing.T) {
	c := valid()
	require.Equal(t, "payments", c.Name)
	require.Equal(t, check.TypeHTTP, c.Type)
	require.Equal(t, "GET", c.Method)
	require.Equal(t, 200, c.ExpectedStatus)
	require.Equal(t, 5*time.Second, c.Timeout)
	require.Equal(t, 1, c.FailureThreshold)
	require.Equal(t, 1, c.SuccessThreshold)
	require.NotNil(t, c.Tags)
	short := check.Check{Name: "x", URL: "http://x", Interval: 2 * time.Second}
	short.SetDefaults()
	require.Equal(t, 1600*time.Millisecond, short.Timeout, "the default timeout fits the interval")
	require.NoError(t, short.Validate())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(*check.Check)
	}{
		{"name", func(c *check.Check) { c.Name = "  " }},
		{"name", func(c *check.Check) { c.Name = strings.Repeat("x", 201) }},
		{"url", func(c *check.Check) { c.URL = "" }},
		{"url", func(c *check.Check) { c.URL = "ftp://x/y" }},
		{"url", func(c *check.Check) { c.URL = "http://" }},
		{"url", func(c *check.Check) { c.URL = "http://a b\x7f" }},
		{"url", func(c *check.Check) { c.URL = "/relative" }},
		{"method", func(c *check.Check) { c.Method = "GE T" }},
		{"method", func(c *check.Check) { c.Method = "" }},
		{"expected_status", func(c *check.Check) { c.ExpectedStatus = 99 }},
		{"expected_status", func(c *check.Check) { c.ExpectedStatus = 600 }},
		{"type", func(c *check.Check) { c.Type = "icmp" }},
		{"interval_seconds", func(c *check.Check) { c.Interval = 500 * time.Millisecond }},
		{"interval_seconds", func(c *check.Check) { c.Interval = 86401 * time.Second }},
		{"interval_seconds", func(c *check.Check) { c.Interval = 1500*time.Millisecond + 1 }},
		{"timeout_seconds", func(c *check.Check) { c.Timeout = 0 }},
		{"timeout_seconds", func(c *check.Check) { c.Timeout = 10 * time.Second }},
		{"failure_threshold", func(c *check.Check) { c.FailureThreshold = 0 }},
		{"success_threshold", func(c *check.Check) { c.SuccessThreshold = -1 }},
		{"tags[1]", func(c *check.Check) { c.Tags = []string{"a", " "} }},
		{"tags[0]", func(c *check.Check) { c.Tags = []string{strings.Repeat("t", 201)} }},
		// The bounds the CRD sets, and what PostgreSQL or a log line cannot
		// take, are refused over REST too.
		{"name", func(c *check.Check) { c.Name = "pay\x00ments" }},
		{"name", func(c *check.Check) { c.Name = "pay\xffments" }},
		{"name", func(c *check.Check) { c.Name = "pay\u0085ments" }},
		{"url", func(c *check.Check) { c.URL = "https://pay.example/" + strings.Repeat("a", 2048) }},
		{"url", func(c *check.Check) { c.URL = "https://pay.example/\xff" }},
		{"url", func(c *check.Check) { c.URL = "https://pay.example/\u0085" }},
		{"url", func(c *check.Check) { c.URL = "https://admin:hunter2@pay.example/health" }},
		{"url", func(c *check.Check) { c.URL = "https://token@pay.example/health" }},
		{"method", func(c *check.Check) { c.Method = "DELETE" }},
		{"method", func(c *check.Check) { c.Method = "get" }},
		{"tags", func(c *check.Check) { c.Tags = make([]string, 33) }},
		{"tags[3]", func(c *check.Check) { c.Tags = []string{"a", "b", "c", "d\x00"} }},
		{"tags[1]", func(c *check.Check) { c.Tags = []string{"a", strings.Repeat("t", 64)} }},
		{"tags[0]", func(c *check.Check) { c.Tags = []string{"\xc3"} }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			fe, ok := check.AsFieldError(err)
			require.True(t, ok)
			require.Equal(t, tt.field, fe.Field)
			require.Contains(t, err.Error(), tt.field+": ")
		})
	}
	c := valid()
	require.NoError(t, c.Validate())
	_, ok := check.AsFieldError(errors.New("plain"))
	require.False(t, ok)
}

// TestValidateBoundsAreInclusive: a value at each bound is accepted, so
// the REST API takes exactly what the CRD's maxLength takes.
func TestValidateBoundsAreInclusive(t *testing.T) {
	c := valid()
	c.Name = strings.Repeat("é", check.MaxNameLength)
	c.URL = "https://pay.example/" + strings.Repeat("a", check.MaxURLBytes-len("https://pay.example/"))
	c.Tags = make([]string, check.MaxTags)
	for i := range c.Tags {
		c.Tags[i] = strings.Repeat("ü", check.MaxTagLength)
	}
	require.NoError(t, c.Validate())

	g := check.Check{Name: "g", Type: check.TypeGRPC, URL: "grpc://h:1", Interval: 10 * time.Second,
		GRPCService: strings.Repeat("s", check.MaxGRPCServiceLength)}
	g.SetDefaults()
	require.NoError(t, g.Validate())
	for _, bad := range []string{strings.Repeat("s", check.MaxGRPCServiceLength+1), "svc\x00", "svc\n"} {
		g.GRPCService = bad
		fe, ok := check.AsFieldError(g.Validate())
		require.True(t, ok, "%q", bad)
		require.Equal(t, "grpc_service", fe.Field)
	}
	g.GRPCService = ""
	g.URL = "grpc://user:pw@h:1"
	fe, ok := check.AsFieldError(g.Validate())
	require.True(t, ok)
	require.Equal(t, "url", fe.Field)
	require.Contains(t, fe.Message, "credentials")
}

// TestValidateMethods: only the safe methods pass unless the policy lists
// more, and the message says which ones are allowed.
func TestValidateMethods(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		c := valid()
		c.Method = m
		require.NoError(t, c.Validate(), m)
	}
	c := valid()
	c.Method = "DELETE"
	err := c.Validate()
	require.ErrorContains(t, err, "method: must be one of GET, HEAD, OPTIONS")

	methods, err := check.ParseMethods(" GET, post ,,POST")
	require.NoError(t, err)
	require.Equal(t, []string{"GET", "POST"}, methods)
	p := check.Policy{Methods: methods}
	c.Method = "POST"
	require.NoError(t, c.ValidateFor(p))
	c.Method = "HEAD"
	require.ErrorContains(t, c.ValidateFor(p), "must be one of GET, POST", "an explicit list replaces the safe set")

	for _, bad := range []string{"", " , ", "GE T", "GET,\x00"} {
		_, err := check.ParseMethods(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestValidateGRPC(t *testing.T) {
	ok := []string{"grpc://127.0.0.1:9000", "grpcs://svc.ns:443", "grpc://[::1]:50051/"}
	bad := []string{"", "http://x:1", "grpc://host", "grpc://:9000", "grpc://h:1/path", "grpc://h:1:2", "grpc://%zz"}
	for _, u := range ok {
		c := check.Check{Name: "g", Type: check.TypeGRPC, URL: u, Interval: 10 * time.Second}
		c.SetDefaults()
		require.NoError(t, c.Validate(), u)
		require.Empty(t, c.Method, "HTTP defaults do not apply to gRPC")
	}
	for _, u := range bad {
		c := check.Check{Name: "g", Type: check.TypeGRPC, URL: u, Interval: 10 * time.Second}
		c.SetDefaults()
		err := c.Validate()
		fe, isFE := check.AsFieldError(err)
		require.True(t, isFE, u)
		require.Equal(t, "url", fe.Field, u)
	}
}

// A field of another type is stored too (a change of type keeps it), so
// its text rules hold whatever the type: found by FuzzCreateService, where
// a PATCH of an http check with a NUL grpc_service reached the store.
func TestValidateFieldsOfAnotherType(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*check.Check)
		field string
	}{
		{"grpc_service with NUL on http", func(c *check.Check) { c.GRPCService = "a\x00" }, "grpc_service"},
		{"grpc_service too long on tcp", func(c *check.Check) {
			c.Type, c.URL, c.Method = check.TypeTCP, "tcp://a:1", ""
			c.GRPCService = strings.Repeat("s", check.MaxGRPCServiceLength+1)
		}, "grpc_service"},
		{"method with NUL on grpc", func(c *check.Check) { c.Type, c.URL, c.Method = check.TypeGRPC, "grpc://a:1", "G\x00" }, "method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := check.Check{Name: "a", URL: "http://a.example", Interval: 10 * time.Second}
			c.SetDefaults()
			tc.edit(&c)
			fe, ok := check.AsFieldError(c.Validate())
			require.True(t, ok)
			require.Equal(t, tc.field, fe.Field)
		})
	}
	// What a change of type leaves behind is still valid.
	c := check.Check{Name: "a", Type: check.TypeGRPC, URL: "grpc://a:1", Interval: 10 * time.Second, Method: "GET"}
	c.SetDefaults()
	require.NoError(t, c.Validate())
	c = check.Check{Name: "a", URL: "http://a.example", Interval: 10 * time.Second, GRPCService: "pkg.Health"}
	c.SetDefaults()
	require.NoError(t, c.Validate())
	c.GRPCService = strings.Repeat("é", check.MaxGRPCServiceLength)
	require.NoError(t, c.Validate(), "the bound is inclusive, in characters")
}
