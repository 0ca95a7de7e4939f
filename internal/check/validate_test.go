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
