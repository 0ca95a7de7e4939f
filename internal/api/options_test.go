package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

const optionsBase = `"name":"opts","url":"https://svc.example/health","interval_seconds":10`

func TestProbeOptionsValidation(t *testing.T) {
	longCond := `status == 200 && "` + strings.Repeat("x", 1024) + `" != ""`
	tests := []struct {
		name, body, field string
	}{
		{"condition does not compile", `{` + optionsBase + `,"conditions":["status == 200","json.status =="]}`, "conditions[1]"},
		{"condition unknown variable", `{` + optionsBase + `,"conditions":["latency < 3"]}`, "conditions[0]"},
		{"condition not boolean", `{` + optionsBase + `,"conditions":["latency_ms"]}`, "conditions[0]"},
		{"condition empty", `{` + optionsBase + `,"conditions":[" "]}`, "conditions[0]"},
		{"condition too long", `{` + optionsBase + `,"conditions":["` + strings.ReplaceAll(longCond, `"`, `\"`) + `"]}`, "conditions[0]"},
		{"too many conditions", `{` + optionsBase + `,"conditions":[` + strings.Repeat(`"status == 200",`, 16) + `"status == 200"]}`, "conditions"},
		{"conditions not a list", `{` + optionsBase + `,"conditions":"status == 200"}`, "conditions"},
		{"expected class out of range", `{` + optionsBase + `,"expected_status":"6xx"}`, "expected_status"},
		{"expected code as string", `{` + optionsBase + `,"expected_status":"200"}`, "expected_status"},
		{"expected list entry", `{` + optionsBase + `,"expected_status":[200,"9xx"]}`, "expected_status[1]"},
		{"expected list code", `{` + optionsBase + `,"expected_status":[200,700]}`, "expected_status[1]"},
		{"expected empty list", `{` + optionsBase + `,"expected_status":[]}`, "expected_status"},
		{"headers not an object", `{` + optionsBase + `,"headers":["a"]}`, "headers"},
		{"header name invalid", `{` + optionsBase + `,"headers":{"a b":"x"}}`, "headers"},
		{"header value with newline", `{` + optionsBase + `,"headers":{"X-A":"x\r\nEvil: 1"}}`, "headers.X-A"},
		{"hop-by-hop header", `{` + optionsBase + `,"headers":{"Content-Length":"3"}}`, "headers.Content-Length"},
		{"redacted value with nothing stored", `{` + optionsBase + `,"headers":{"X-A":"***"}}`, "headers.X-A"},
		{"body too large", `{` + optionsBase + `,"body":"` + strings.Repeat("b", 16<<10+1) + `"}`, "body"},
		{"tls unknown field", `{` + optionsBase + `,"tls":{"verify":false}}`, "tls"},
		{"tls bad ca", `{` + optionsBase + `,"tls":{"ca_pem":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}`, "tls.ca_pem"},
		{"tls no pem", `{` + optionsBase + `,"tls":{"ca_pem":"hello"}}`, "tls.ca_pem"},
		{"tls server name", `{` + optionsBase + `,"tls":{"server_name":"a/b"}}`, "tls.server_name"},
		{"headers on grpc", `{"name":"g","type":"grpc","url":"grpc://a:1","interval_seconds":10,"headers":{"X-A":"1"}}`, "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			requireError(t, h.do(http.MethodPost, "/api/v1/services", tt.body), http.StatusBadRequest, CodeInvalidField, tt.field)
		})
	}
}

// Header values are write-only: answers carry the names only. A PATCH may
// send "***" back to keep a stored value.
func TestHeadersAreWriteOnly(t *testing.T) {
	h := newHarness(t)
	svc := h.create(`{` + optionsBase + `,"headers":{"authorization":"Bearer s3cret","X-Tenant":"a"},
		"conditions":["json.status == \"UP\""],"expected_status":[200,"3xx"],"body":"{}",
		"tls":{"server_name":"api.internal","insecure_skip_verify":true}}`)
	require.Equal(t, map[string]any{"Authorization": "***", "X-Tenant": "***"}, svc["headers"])
	require.Equal(t, []any{`json.status == "UP"`}, svc["conditions"])
	require.Equal(t, []any{float64(200), "3xx"}, svc["expected_status"])
	require.Equal(t, map[string]any{"server_name": "api.internal", "insecure_skip_verify": true}, svc["tls"])
	id := svc["id"].(string)

	for _, path := range []string{"/api/v1/services/" + id, "/api/v1/services"} {
		resp := h.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, resp.status)
		require.NotContains(t, string(resp.body), "s3cret")
	}

	resp := h.do(http.MethodPatch, "/api/v1/services/"+id, `{"headers":{"Authorization":"***","X-Other":"b"}}`)
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	require.NotContains(t, string(resp.body), "s3cret")
	stored, err := h.reg.GetService(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, stored.Headers, 2)
	require.Equal(t, "Bearer s3cret", stored.Headers[0].Value, "*** kept the stored value")
	require.Equal(t, "X-Other", stored.Headers[1].Name)

	resp = h.do(http.MethodPatch, "/api/v1/services/"+id, `{"headers":null,"conditions":null,"tls":null,"body":"","expected_status":204}`)
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	m := resp.json(t)
	for _, k := range []string{"headers", "conditions", "tls", "body"} {
		require.NotContains(t, m, k)
	}
	require.Equal(t, float64(204), m["expected_status"])
}

func TestExpectedStatusForms(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		in   string
		want any
	}{
		{`200`, float64(200)},
		{`"2xx"`, []any{"2xx"}},
		{`[204]`, float64(204)},
		{`["2XX", 301]`, []any{"2xx", float64(301)}},
	} {
		svc := h.create(`{"name":"e` + strings.ReplaceAll(tt.in, `"`, "") + `","url":"https://a.example","interval_seconds":10,"expected_status":` + tt.in + `}`)
		require.Equal(t, tt.want, svc["expected_status"], tt.in)
	}
}

// A service's answer says which of its conditions the latest result's
// error is about. The errors are made by package cond itself, so a change
// in how it words a failure fails here rather than in the dashboard.
func TestFailedCondition(t *testing.T) {
	evalErr := func(t *testing.T, conds []string, in cond.Input) string {
		t.Helper()
		set, err := cond.Compile(conds)
		require.NoError(t, err)
		msg := set.Eval(&in)
		require.NotEmpty(t, msg, "the input must fail a condition")
		return msg
	}
	tests := []struct {
		name      string
		conds     []string
		lastError func(t *testing.T, conds []string) string
		want      any // float64 index, or nil for absent
	}{
		{"second of two is false", []string{`status == 200`, `json.status == "UP"`},
			func(t *testing.T, c []string) string {
				return evalErr(t, c, cond.Input{Status: 200, Body: `{"status":"DEGRADED"}`})
			}, float64(1)},
		{"first cannot be evaluated", []string{`json.status == "UP"`, `latency_ms < 1000`},
			func(t *testing.T, c []string) string { return evalErr(t, c, cond.Input{Status: 200, Body: "<html>"}) },
			float64(0)},
		{"one condition's text begins another's", []string{`status == 200 || latency_ms < 5`, `status == 200`},
			func(t *testing.T, c []string) string {
				return evalErr(t, c, cond.Input{Status: 500, Latency: 10 * time.Millisecond})
			}, float64(0)},
		{"a transport error is about none", []string{`status == 200`},
			func(*testing.T, []string) string { return "connection refused" }, nil},
		{"an expression followed by other text is not a match", []string{`status == 200`},
			func(*testing.T, []string) string { return "status == 200x" }, nil},
		{"an UP result is about none", []string{`status == 200`},
			func(*testing.T, []string) string { return "" }, nil},
		{"no conditions", nil,
			func(*testing.T, []string) string { return "unexpected status 500" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			conds, err := json.Marshal(tt.conds)
			require.NoError(t, err)
			id := h.create(`{` + optionsBase + `,"conditions":` + string(conds) + `}`)["id"].(string)
			msg := tt.lastError(t, tt.conds)
			state := check.StateUp
			if msg != "" {
				state = check.StateDown
			}
			h.reg.SetState(id, check.Snapshot{State: state, LastCheckedAt: testNow, LastError: msg})

			for _, got := range []map[string]any{
				h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t),
				h.do(http.MethodGet, "/api/v1/services", "").json(t)["items"].([]any)[0].(map[string]any),
			} {
				if msg != "" {
					require.Equal(t, msg, got["last_error"], "the error is shown as it is")
				}
				if tt.want == nil {
					require.NotContains(t, got, "failed_condition")
				} else {
					require.Equal(t, tt.want, got["failed_condition"], "error %q", msg)
				}
			}
		})
	}
}
