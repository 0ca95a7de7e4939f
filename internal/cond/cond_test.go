package cond_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// soonExpiring makes a certificate signed by a throwaway CA that expires
// in 30 hours, and returns what a probe would pass to conditions.
func soonExpiring(t *testing.T) *cond.Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour * 365), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.example.test", Organization: []string{"Example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * time.Hour), DNSNames: []string{"api.example.test"}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(leafDER)
	require.NoError(t, err)
	return &cond.Cert{NotAfter: leaf.NotAfter, Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String()}
}

// Recorded responses the table judges.
const (
	healthUp       = `{"status":"UP","components":{"db":{"status":"UP"},"disk":{"status":"UP","free":52428800}},"checks":[1,2,3]}`
	healthDegraded = `{"status":"DEGRADED","components":{"db":{"status":"DOWN"}}}`
)

func TestEval(t *testing.T) {
	cert := soonExpiring(t)
	jsonHeaders := map[string]string{"content-type": "application/json; charset=utf-8", "x-version": "1.4.2"}
	tests := []struct {
		name  string
		conds []string
		in    cond.Input
		want  string // "" for UP; otherwise the exact failure
	}{
		{"json status up", []string{`json.status == "UP"`}, cond.Input{Status: 200, Body: healthUp}, ""},
		{"json status degraded names the value", []string{`json.status == "UP"`}, cond.Input{Status: 200, Body: healthDegraded},
			`json.status == "UP" (json.status = "DEGRADED")`},
		{"nested json", []string{`json.components.db.status == "UP"`, `json.components.disk.free > 10485760`},
			cond.Input{Body: healthUp}, ""},
		{"json number against int literal", []string{`json.components.disk.free > 104857600`}, cond.Input{Body: healthUp},
			`json.components.disk.free > 104857600 (json.components.disk.free = 52428800)`},
		{"json list size", []string{`size(json.checks) == 2`}, cond.Input{Body: healthUp}, `size(json.checks) == 2 (size(json.checks) = 3)`},
		{"body not json", []string{`json.status == "UP"`}, cond.Input{Body: "<html>oops</html>"},
			`json.status == "UP": the body is not JSON`},
		{"json null is testable", []string{`json == null`}, cond.Input{Body: "plain"}, ""},
		{"body contains", []string{`body.contains("UP")`}, cond.Input{Body: healthUp}, ""},
		{"body regex fails with the body quoted", []string{`body.matches("^ok$")`}, cond.Input{Body: "not ok"},
			`body.matches("^ok$") (body = "not ok")`},
		{"headers by lower-case name", []string{`headers["content-type"].startsWith("application/json")`, `"x-version" in headers`},
			cond.Input{Headers: jsonHeaders}, ""},
		{"missing header", []string{`headers["x-missing"] == "1"`}, cond.Input{Headers: jsonHeaders},
			`headers["x-missing"] == "1": no such key: x-missing`},
		{"latency", []string{`latency_ms < 300`}, cond.Input{Latency: 450 * time.Millisecond}, `latency_ms < 300 (latency_ms = 450)`},
		{"status list", []string{`status in [200, 204]`}, cond.Input{Status: 503}, `status in [200, 204] (status = 503)`},
		{"grpc status by name", []string{`status == "SERVING"`}, cond.Input{Status: "SERVING"}, ""},
		{"cert expiring soon fails a 48h rule", []string{`cert.expires_in_hours > 48`}, cond.Input{Cert: cert, Now: now},
			`cert.expires_in_hours > 48 (cert.expires_in_hours = 30)`},
		{"cert passes a 24h rule", []string{`cert.expires_in_hours > 24.0`}, cond.Input{Cert: cert, Now: now}, ""},
		{"cert subject and issuer", []string{`cert.subject.contains("CN=api.example.test")`, `cert.issuer == "CN=Vigil Test CA"`},
			cond.Input{Cert: cert, Now: now}, ""},
		{"cert not_after is a timestamp", []string{`cert.not_after > timestamp("2026-12-02T00:00:00Z")`}, cond.Input{Cert: cert, Now: now}, ""},
		{"no certificate on plain http", []string{`cert.expires_in_hours > 48`}, cond.Input{},
			`cert.expires_in_hours > 48: no certificate (the target did not use TLS)`},
		{"dns answers", []string{`"192.0.2.10" in answers`, `size(answers) >= 1`}, cond.Input{Answers: []string{"192.0.2.10"}}, ""},
		{"first failing condition reported", []string{`status == 200`, `latency_ms < 10`, `json.status == "UP"`},
			cond.Input{Status: 200, Latency: 20 * time.Millisecond, Body: healthDegraded}, `latency_ms < 10 (latency_ms = 20)`},
		{"conjunction quotes both sides", []string{`json.status == "UP" && status == 200`}, cond.Input{Status: 500, Body: healthDegraded},
			`json.status == "UP" && status == 200 (json.status = "DEGRADED", status = 500)`},
		{"non-boolean at run time", []string{`json.status`}, cond.Input{Body: healthUp}, `json.status: evaluated to "UP", not a boolean`},
		{"division by zero is an error, not a panic", []string{`1 / (status - 200) == 1`}, cond.Input{Status: 200},
			`1 / (status - 200) == 1: division by zero`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := cond.Compile(tt.conds)
			require.NoError(t, err)
			require.Equal(t, tt.want, set.Eval(&tt.in))
		})
	}
}

func TestCompileErrorsNameTheCondition(t *testing.T) {
	tests := []struct {
		conds []string
		field string
		msg   string
	}{
		{[]string{`status == 200`, `status ==`}, "conditions[1]", "Syntax error"},
		{[]string{`nope > 1`}, "conditions[0]", "undeclared reference to 'nope'"},
		{[]string{`latency_ms + 1`}, "conditions[0]", "must be a boolean expression, not int"},
		{[]string{`body > 3`}, "conditions[0]", "found no matching overload"},
	}
	for _, tt := range tests {
		_, err := cond.Compile(tt.conds)
		fe, ok := check.AsFieldError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, tt.field, fe.Field)
		require.Contains(t, fe.Message, tt.msg)
		require.NotContains(t, fe.Message, "\n")
	}
}

// A hostile body cannot make a condition run away: the cost limit stops
// it with an error, which is a DOWN result.
func TestCostLimitStopsRunaways(t *testing.T) {
	set, err := cond.Compile([]string{`json.all(a, json.all(b, json.all(c, a + b + c != "")))`})
	require.NoError(t, err)
	body := "[" + strings.Repeat(`"x",`, 2000) + `"x"]`
	got := set.Eval(&cond.Input{Body: body})
	require.Contains(t, got, "cost limit exceeded")
}

// Failure text is hostile input from the target: it is cleaned and capped.
func TestFailureIsCleanedAndCapped(t *testing.T) {
	set, err := cond.Compile([]string{`json.status == "UP"`})
	require.NoError(t, err)
	got := set.Eval(&cond.Input{Body: `{"status":"` + strings.Repeat(`\u0007bad\u0000`, 3000) + `"}`})
	require.LessOrEqual(t, len(got), check.MaxErrorBytes)
	require.Equal(t, check.CleanError(got), got)
	require.NotContains(t, got, "\x00")
	require.True(t, strings.HasPrefix(got, `json.status == "UP" (json.status = "`), got)
}

func TestNeeds(t *testing.T) {
	for _, tt := range []struct {
		conds []string
		want  cond.Needs
	}{
		{[]string{`status == 200`, `latency_ms < 100`}, cond.Needs{Any: true}},
		{[]string{`body.contains("x")`}, cond.Needs{Any: true, Body: true}},
		{[]string{`json.a == 1`}, cond.Needs{Any: true, Body: true, JSON: true}},
		{[]string{`cert.expires_in_hours > 1.0`}, cond.Needs{Any: true, Cert: true}},
	} {
		set, err := cond.Compile(tt.conds)
		require.NoError(t, err)
		require.Equal(t, tt.want, set.Needs(), tt.conds)
	}
	var none *cond.Set
	require.Equal(t, cond.Needs{}, none.Needs())
	require.Zero(t, none.Len())
	require.Empty(t, none.Eval(&cond.Input{}))
}

func TestCacheCompilesOncePerList(t *testing.T) {
	c := cond.NewCache(2)
	a, err := c.Get([]string{`status == 200`})
	require.NoError(t, err)
	b, err := c.Get([]string{`status == 200`})
	require.NoError(t, err)
	require.Same(t, a, b)
	_, err = c.Get([]string{`status ==`})
	require.Error(t, err)
	_, err2 := c.Get([]string{`status ==`})
	require.Equal(t, err, err2, "a bad list is remembered too")
	require.Equal(t, 2, c.Len())
	_, _ = c.Get([]string{`status == 204`})
	require.Equal(t, 1, c.Len(), "a full cache starts over")
	none, err := c.Get(nil)
	require.NoError(t, err)
	require.Nil(t, none)
}

// A list the cache holds costs a probe no allocation to find.
func TestCacheHitAllocatesNothing(t *testing.T) {
	c := cond.NewCache(0)
	conds := []string{`json.status == "UP"`, `headers["content-type"].startsWith("application/json")`, `latency_ms < 1000`}
	want, err := c.Get(conds)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if got, _ := c.Get(conds); got != want {
			t.Fatal("a different set")
		}
	})
	require.Zero(t, allocs)
}

func TestValidateCheck(t *testing.T) {
	c := &check.Check{Name: "a", URL: "http://example.test", Interval: time.Minute, Conditions: []string{`status == 200`, `json.x ==`}}
	c.SetDefaults()
	fe, ok := check.AsFieldError(cond.ValidateCheck(c, check.Policy{}))
	require.True(t, ok)
	require.Equal(t, "conditions[1]", fe.Field)
	c.Conditions = c.Conditions[:1]
	require.NoError(t, cond.ValidateCheck(c, check.Policy{}))
	c.URL = ""
	fe, ok = check.AsFieldError(cond.ValidateCheck(c, check.Policy{}))
	require.True(t, ok)
	require.Equal(t, "url", fe.Field)
}
