package check

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatusExpected(t *testing.T) {
	for _, tt := range []struct {
		single int
		list   []string
		code   int
		want   bool
	}{
		{0, nil, 200, true},
		{0, nil, 204, false},
		{204, nil, 204, true},
		{0, []string{"2xx"}, 299, true},
		{0, []string{"2XX"}, 201, true},
		{0, []string{"2xx"}, 300, false},
		{0, []string{"200", "404"}, 404, true},
		{0, []string{"200", "404"}, 403, false},
	} {
		require.Equal(t, tt.want, StatusExpected(tt.single, tt.list, tt.code), "%d %v %d", tt.single, tt.list, tt.code)
	}
	require.True(t, ExpectsRedirect(301, nil))
	require.False(t, ExpectsRedirect(200, nil))
	require.True(t, ExpectsRedirect(0, []string{"200", "3xx"}))
	require.False(t, ExpectsRedirect(0, []string{"2xx"}))
	require.Equal(t, "200", DescribeExpected(0, nil))
	require.Equal(t, "2xx, 404", DescribeExpected(0, []string{"2xx", "404"}))
}

func TestNormalizeExpected(t *testing.T) {
	c := &Check{}
	c.NormalizeExpected([]string{"204"})
	require.Equal(t, 204, c.ExpectedStatus)
	require.Nil(t, c.ExpectedStatuses)
	require.Equal(t, []string{"204"}, c.ExpectedList())
	c.NormalizeExpected([]string{"2XX", " 304"})
	require.Zero(t, c.ExpectedStatus)
	require.Equal(t, []string{"2xx", "304"}, c.ExpectedList())
	require.Nil(t, (&Check{}).ExpectedList())
}

func TestHeadersFromMap(t *testing.T) {
	old := []Header{{Name: "Authorization", Value: "Bearer a"}}
	hs, err := HeadersFromMap(map[string]string{"x-b": "1", "authorization": RedactedValue}, old)
	require.NoError(t, err)
	require.Equal(t, []Header{{Name: "Authorization", Value: "Bearer a"}, {Name: "X-B", Value: "1"}}, hs)
	require.Equal(t, map[string]string{"Authorization": RedactedValue, "X-B": RedactedValue}, RedactedHeaders(hs))
	_, err = HeadersFromMap(map[string]string{"x-a": "1", "X-A": "2"}, nil)
	fe, ok := AsFieldError(err)
	require.True(t, ok)
	require.Equal(t, "headers", fe.Field)
}

func TestValidateProbeOptions(t *testing.T) {
	base := func() *Check {
		c := &Check{Name: "a", URL: "https://a.test/", Interval: time.Minute}
		c.SetDefaults()
		return c
	}
	for _, tt := range []struct {
		mutate func(*Check)
		field  string
	}{
		{func(c *Check) { c.Conditions = make([]string, MaxConditions+1) }, "conditions"},
		{func(c *Check) { c.Conditions = []string{"a\x00"} }, "conditions[0]"},
		{func(c *Check) { c.Headers = make([]Header, MaxHeaders+1) }, "headers"},
		{func(c *Check) { c.Headers = []Header{{Name: "X-A", Value: strings.Repeat("v", MaxHeaderValueBytes+1)}} }, "headers.X-A"},
		{func(c *Check) {
			for i := range 8 {
				c.Headers = append(c.Headers, Header{Name: "X-" + string(rune('A'+i)), Value: strings.Repeat("v", 4000)})
			}
		}, "headers"},
		{func(c *Check) { c.Headers = []Header{{Name: "Transfer-Encoding", Value: "chunked"}} }, "headers.Transfer-Encoding"},
		{func(c *Check) { c.Body = "a\x00" }, "body"},
		{func(c *Check) { c.TLS.ServerName = strings.Repeat("a", 254) }, "tls.server_name"},
		{func(c *Check) { c.TLS.CAPEM = strings.Repeat("a", MaxCAPEMBytes+1) }, "tls.ca_pem"},
		{func(c *Check) {
			c.TLS.CAPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, "tls.ca_pem"},
		{func(c *Check) { c.ExpectedStatus, c.ExpectedStatuses = 0, []string{"2xx", "600"} }, "expected_status[1]"},
		{func(c *Check) { c.Type, c.URL, c.Body = TypeGRPC, "grpc://a:1", "x" }, "body"},
		{func(c *Check) { c.Type, c.URL, c.TLS.InsecureSkipVerify = TypeGRPC, "grpc://a:1", true }, "tls"},
		{func(c *Check) { c.Type, c.URL, c.ExpectedStatuses = TypeGRPC, "grpc://a:1", []string{"2xx"} }, "expected_status"},
	} {
		c := base()
		tt.mutate(c)
		fe, ok := AsFieldError(c.Validate())
		require.True(t, ok, tt.field)
		require.Equal(t, tt.field, fe.Field)
	}
	c := base()
	c.Type, c.URL, c.Conditions = TypeGRPC, "grpc://a:1", []string{`status == "SERVING"`}
	require.NoError(t, c.Validate(), "conditions apply to every type")
}

// A job carries the options to the worker and stays the old message when
// there are none.
func TestJobCarriesProbeOptions(t *testing.T) {
	c := &Check{ID: "c", Name: "a", Type: TypeHTTP, URL: "https://a.test/", Interval: time.Minute, Timeout: time.Second}
	b, err := json.Marshal(JobFor(c, time.Unix(0, 0)))
	require.NoError(t, err)
	for _, k := range []string{"conditions", "headers", "body", "tls", "expected_statuses"} {
		require.NotContains(t, string(b), `"`+k+`"`)
	}
	c.Conditions, c.Headers, c.Body = []string{"status == 200"}, []Header{{Name: "A", Value: "b"}}, "x"
	c.ExpectedStatuses, c.TLS = []string{"2xx"}, TLSOptions{ServerName: "s"}
	b, err = json.Marshal(JobFor(c, time.Unix(0, 0)))
	require.NoError(t, err)
	var back Job
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, JobFor(c, time.Unix(0, 0)).TLS, back.TLS)
	require.Equal(t, c.Headers, back.Headers)
	require.Equal(t, c.Conditions, back.Conditions)
	require.Equal(t, c.ExpectedStatuses, back.ExpectedStatuses)
	require.Equal(t, "x", back.Body)
}
