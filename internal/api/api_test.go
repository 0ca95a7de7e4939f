package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

var testNow = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

type harness struct {
	t   *testing.T
	reg *fakeRegistry
	srv *Server
	// handler is srv behind checkContract: every answer a test gets is
	// checked against openapi.json.
	handler http.Handler
	logs    *observer.ObservedLogs

	mu          sync.Mutex
	transitions []check.Transition
}

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	h := &harness{t: t, reg: newFakeRegistry(func() time.Time { return testNow }), logs: logs}
	cfg := Config{
		Registry: h.reg,
		Logger:   zap.New(core),
		Now:      func() time.Time { return testNow },
		OnTransition: func(tr check.Transition) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.transitions = append(h.transitions, tr)
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv = New(cfg)
	h.handler = checkContract(t, h.srv)
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (h *harness) do(method, path, body string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// create registers a service and returns its JSON.
func (h *harness) create(body string) map[string]any {
	h.t.Helper()
	resp := h.do(http.MethodPost, "/api/v1/services", body)
	require.Equal(h.t, http.StatusCreated, resp.status, "body: %s", resp.body)
	return resp.json(h.t)
}

func (h *harness) createNamed(name string) string {
	h.t.Helper()
	return h.create(`{"name":"` + name + `","url":"https://example.com/health","interval_seconds":10}`)["id"].(string)
}

// requireError checks an error response: status, JSON shape, code and the
// field it names ("" for none).
func requireError(t *testing.T, resp response, status int, code, field string) {
	t.Helper()
	require.Equal(t, status, resp.status, "body: %s", resp.body)
	require.Equal(t, "application/json; charset=utf-8", resp.header.Get("Content-Type"))
	var body struct {
		Error map[string]any `json:"error"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &body), "body: %s", resp.body)
	require.Equal(t, code, body.Error["code"], "body: %s", resp.body)
	require.NotEmpty(t, body.Error["message"])
	if field == "" {
		require.NotContains(t, body.Error, "field")
		return
	}
	require.Equal(t, field, body.Error["field"], "body: %s", resp.body)
	require.Contains(t, body.Error["message"], field)
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestCreateService(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]any
	}{
		{
			name: "minimal http check gets defaults",
			body: `{"name":"  payments ","url":"https://payments.internal/healthz","interval_seconds":30}`,
			want: map[string]any{
				"name": "payments", "type": "http", "url": "https://payments.internal/healthz",
				"method": "GET", "expected_status": float64(200), "interval_seconds": float64(30),
				"timeout_seconds": float64(5), "failure_threshold": float64(1), "success_threshold": float64(1),
				"tags": []any{}, "paused": false, "status": "UNKNOWN", "last_checked_at": nil,
				// The store starts a check's state at its registration,
				// so last_change_at is the creation time, not null.
				"last_latency_ms": nil, "last_change_at": "2025-03-14T09:26:53.589Z", "consecutive_failures": float64(0),
				"created_at": "2025-03-14T09:26:53.589Z", "updated_at": "2025-03-14T09:26:53.589Z",
			},
		},
		{
			name: "short interval gets a timeout that fits",
			body: `{"name":"fast","url":"http://a.example","interval_seconds":2}`,
			want: map[string]any{"interval_seconds": float64(2), "timeout_seconds": 1.6},
		},
		{
			name: "every field",
			body: `{"name":"orders","url":"https://orders.example/ping","interval_seconds":1.5,"timeout_seconds":0.25,
				"type":"http","method":"HEAD","expected_status":204,"failure_threshold":3,"success_threshold":2,
				"tags":["prod","eu"]}`,
			want: map[string]any{
				"interval_seconds": 1.5, "timeout_seconds": 0.25, "method": "HEAD", "expected_status": float64(204),
				"failure_threshold": float64(3), "success_threshold": float64(2), "tags": []any{"prod", "eu"},
			},
		},
		{
			name: "grpc check",
			body: `{"name":"grpc-api","type":"grpc","url":"grpc://api.internal:9090","grpc_service":"api.v1.Orders","interval_seconds":10}`,
			want: map[string]any{"type": "grpc", "grpc_service": "api.v1.Orders", "url": "grpc://api.internal:9090"},
		},
		{
			name: "tcp check",
			body: `{"name":"db","type":"tcp","url":"tcp://db.internal:5432","interval_seconds":10}`,
			want: map[string]any{"type": "tcp", "url": "tcp://db.internal:5432"},
		},
		{
			name: "tls check",
			body: `{"name":"api-cert","type":"tls","url":"tls://10.0.0.9:443?server_name=api.example.com","interval_seconds":60}`,
			want: map[string]any{"type": "tls", "url": "tls://10.0.0.9:443?server_name=api.example.com"},
		},
		{
			name: "dns check",
			body: `{"name":"cluster-dns","type":"dns","url":"dns://10.96.0.10:53/kubernetes.default.svc.cluster.local?type=A","interval_seconds":10}`,
			want: map[string]any{"type": "dns", "url": "dns://10.96.0.10:53/kubernetes.default.svc.cluster.local?type=A"},
		},
		{
			name: "null tags are no tags",
			body: `{"name":"n","url":"http://n.example","interval_seconds":10,"tags":null}`,
			want: map[string]any{"tags": []any{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			resp := h.do(http.MethodPost, "/api/v1/services", tt.body)
			require.Equal(t, http.StatusCreated, resp.status, "body: %s", resp.body)
			got := resp.json(t)
			require.NotEmpty(t, got["id"])
			require.Equal(t, "/api/v1/services/"+got["id"].(string), resp.header.Get("Location"))
			for k, v := range tt.want {
				require.Equal(t, v, got[k], "field %s", k)
			}
			// The registry got the check the response describes.
			stored, err := h.reg.GetService(t.Context(), got["id"].(string))
			require.NoError(t, err)
			require.Equal(t, "api", stored.Source)
			require.Equal(t, got["name"], stored.Name)
		})
	}
}

func TestServiceJSONShape(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("shape")
	h.reg.SetState(id, check.Snapshot{
		State: check.StateDown, ConsecutiveFailures: 3, LastCheckedAt: testNow.Add(-time.Second),
		LastLatency: 2001500 * time.Microsecond, LastError: "timeout after 2s", LastChangeAt: testNow.Add(-time.Minute),
	})

	got := h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t)
	require.Equal(t, []string{
		"consecutive_failures", "created_at", "expected_status", "failure_threshold", "id", "interval_seconds",
		"last_change_at", "last_checked_at", "last_error", "last_latency_ms", "method", "name", "paused", "slo_target",
		"status", "success_threshold", "tags", "timeout_seconds", "type", "updated_at", "url",
	}, keys(got))
	require.Equal(t, "DOWN", got["status"])
	require.Equal(t, float64(3), got["consecutive_failures"])
	require.Equal(t, "2025-03-14T09:26:52.589Z", got["last_checked_at"])
	require.Equal(t, "2025-03-14T09:25:53.589Z", got["last_change_at"])
	require.Equal(t, 2001.5, got["last_latency_ms"])
	require.Equal(t, "timeout after 2s", got["last_error"])
}

func TestCreateValidation(t *testing.T) {
	const base = `"name":"svc","url":"https://svc.example/health","interval_seconds":10`
	long := strings.Repeat("x", 201)
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"name missing", `{"url":"https://a.example","interval_seconds":10}`, "name"},
		{"name empty", `{"name":"","url":"https://a.example","interval_seconds":10}`, "name"},
		{"name blank", `{"name":"   ","url":"https://a.example","interval_seconds":10}`, "name"},
		{"name too long", `{"name":"` + long + `","url":"https://a.example","interval_seconds":10}`, "name"},
		{"name not a string", `{"name":7,"url":"https://a.example","interval_seconds":10}`, "name"},
		{"url missing", `{"name":"a","interval_seconds":10}`, "url"},
		{"url empty", `{"name":"a","url":"","interval_seconds":10}`, "url"},
		{"url relative", `{"name":"a","url":"/health","interval_seconds":10}`, "url"},
		{"url wrong scheme", `{"name":"a","url":"ftp://a.example","interval_seconds":10}`, "url"},
		{"url without host", `{"name":"a","url":"http://","interval_seconds":10}`, "url"},
		{"url unparsable", `{"name":"a","url":"http://a b\u0000","interval_seconds":10}`, "url"},
		{"url not a string", `{"name":"a","url":["x"],"interval_seconds":10}`, "url"},
		{"grpc url for http", `{"name":"a","url":"grpc://a:1","interval_seconds":10}`, "url"},
		{"http url for grpc", `{"name":"a","type":"grpc","url":"http://a.example","interval_seconds":10}`, "url"},
		{"grpc url without port", `{"name":"a","type":"grpc","url":"grpc://a","interval_seconds":10}`, "url"},
		{"interval missing", `{"name":"a","url":"https://a.example"}`, "interval_seconds"},
		{"interval zero", `{"name":"a","url":"https://a.example","interval_seconds":0}`, "interval_seconds"},
		{"interval below a second", `{"name":"a","url":"https://a.example","interval_seconds":0.5}`, "interval_seconds"},
		{"interval above a day", `{"name":"a","url":"https://a.example","interval_seconds":86401}`, "interval_seconds"},
		{"interval huge", `{"name":"a","url":"https://a.example","interval_seconds":1e300}`, "interval_seconds"},
		{"interval negative", `{"name":"a","url":"https://a.example","interval_seconds":-5}`, "interval_seconds"},
		{"interval sub-millisecond", `{"name":"a","url":"https://a.example","interval_seconds":1.0005}`, "interval_seconds"},
		{"interval a string", `{"name":"a","url":"https://a.example","interval_seconds":"ten"}`, "interval_seconds"},
		{"timeout zero", `{` + base + `,"timeout_seconds":0}`, "timeout_seconds"},
		{"timeout negative", `{` + base + `,"timeout_seconds":-1}`, "timeout_seconds"},
		{"timeout equals interval", `{` + base + `,"timeout_seconds":10}`, "timeout_seconds"},
		{"timeout above interval", `{` + base + `,"timeout_seconds":11}`, "timeout_seconds"},
		{"timeout huge", `{` + base + `,"timeout_seconds":1e300}`, "timeout_seconds"},
		{"timeout a string", `{` + base + `,"timeout_seconds":"5s"}`, "timeout_seconds"},
		{"type unknown", `{` + base + `,"type":"icmp"}`, "type"},
		{"http url for tcp", `{"name":"a","type":"tcp","url":"http://a.example","interval_seconds":10}`, "url"},
		{"tcp url without port", `{"name":"a","type":"tcp","url":"tcp://a.example","interval_seconds":10}`, "url"},
		{"tcp url with a path", `{"name":"a","type":"tcp","url":"tcp://a.example:1/x","interval_seconds":10}`, "url"},
		{"tcp host too long", `{"name":"a","type":"tcp","url":"tcp://` + strings.Repeat("h", 254) + `:1","interval_seconds":10}`, "url"},
		{"tls server_name invalid", `{"name":"a","type":"tls","url":"tls://a.example:443?server_name=a%20b","interval_seconds":10}`, "url"},
		{"tls url with credentials", `{"name":"a","type":"tls","url":"tls://u:p@a.example:443","interval_seconds":10}`, "url"},
		{"dns without a name", `{"name":"a","type":"dns","url":"dns://10.0.0.10:53","interval_seconds":10}`, "url"},
		{"dns name invalid", `{"name":"a","type":"dns","url":"dns://10.0.0.10:53/a..b","interval_seconds":10}`, "url"},
		{"dns type not allowed", `{"name":"a","type":"dns","url":"dns://10.0.0.10:53/a.example?type=ANY","interval_seconds":10}`, "url"},
		{"dns resolver without port", `{"name":"a","type":"dns","url":"dns://10.0.0.10/a.example","interval_seconds":10}`, "url"},
		{"type empty", `{` + base + `,"type":""}`, "type"},
		{"type not a string", `{` + base + `,"type":1}`, "type"},
		{"method empty", `{` + base + `,"method":""}`, "method"},
		{"method with space", `{` + base + `,"method":"GE T"}`, "method"},
		{"method not a string", `{` + base + `,"method":true}`, "method"},
		{"expected_status zero", `{` + base + `,"expected_status":0}`, "expected_status"},
		{"expected_status 99", `{` + base + `,"expected_status":99}`, "expected_status"},
		{"expected_status 600", `{` + base + `,"expected_status":600}`, "expected_status"},
		{"expected_status fraction", `{` + base + `,"expected_status":200.5}`, "expected_status"},
		{"expected_status a string", `{` + base + `,"expected_status":"200"}`, "expected_status"},
		{"grpc_service not a string", `{` + base + `,"grpc_service":1}`, "grpc_service"},
		{"failure_threshold zero", `{` + base + `,"failure_threshold":0}`, "failure_threshold"},
		{"failure_threshold negative", `{` + base + `,"failure_threshold":-2}`, "failure_threshold"},
		{"failure_threshold fraction", `{` + base + `,"failure_threshold":1.5}`, "failure_threshold"},
		{"failure_threshold a string", `{` + base + `,"failure_threshold":"3"}`, "failure_threshold"},
		{"success_threshold zero", `{` + base + `,"success_threshold":0}`, "success_threshold"},
		{"success_threshold fraction", `{` + base + `,"success_threshold":2.5}`, "success_threshold"},
		{"tags a string", `{` + base + `,"tags":"prod"}`, "tags"},
		{"tags of numbers", `{` + base + `,"tags":[1]}`, "tags"},
		{"tag empty", `{` + base + `,"tags":["ok",""]}`, "tags[1]"},
		{"tag too long", `{` + base + `,"tags":["` + long + `"]}`, "tags[0]"},
		{"unknown field", `{` + base + `,"intervall":5}`, "intervall"},
		// The bounds the CRD sets hold over REST too, and strings that
		// PostgreSQL or a log line cannot take are refused, not stored.
		{"name with NUL", `{"name":"pay\u0000ments","url":"https://a.example","interval_seconds":10}`, "name"},
		{"name with a C1 control", `{"name":"pay\u0085ments","url":"https://a.example","interval_seconds":10}`, "name"},
		{"url too long", `{"name":"a","url":"https://a.example/` + strings.Repeat("p", check.MaxURLBytes) + `","interval_seconds":10}`, "url"},
		{"url with credentials", `{"name":"a","url":"https://admin:hunter2@a.example/","interval_seconds":10}`, "url"},
		{"url with NUL", `{"name":"a","url":"https://a.example/\u0000","interval_seconds":10}`, "url"},
		{"grpc_service too long", `{"name":"a","type":"grpc","url":"grpc://a:1","interval_seconds":10,"grpc_service":"` + strings.Repeat("s", 257) + `"}`, "grpc_service"},
		{"grpc_service with NUL", `{"name":"a","type":"grpc","url":"grpc://a:1","interval_seconds":10,"grpc_service":"s\u0000"}`, "grpc_service"},
		{"method not safe", `{` + base + `,"method":"DELETE"}`, "method"},
		{"too many tags", `{` + base + `,"tags":[` + strings.Repeat(`"t",`, 32) + `"t"]}`, "tags"},
		{"tag above 63 characters", `{` + base + `,"tags":["` + strings.Repeat("t", 64) + `"]}`, "tags[0]"},
		{"tag with NUL", `{` + base + `,"tags":["a","b","c","d\u0000"]}`, "tags[3]"},
		{"paused is not settable on create", `{` + base + `,"paused":true}`, "paused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			resp := h.do(http.MethodPost, "/api/v1/services", tt.body)
			requireError(t, resp, http.StatusBadRequest, CodeInvalidField, tt.field)
			list, err := h.reg.ListServices(t.Context(), registry.ListFilter{})
			require.NoError(t, err)
			require.Empty(t, list, "a refused body must register nothing")
		})
	}
}

// TestProbeMethodsPolicy: the methods a check may use are the
// installation's to choose; an unsafe one passes only when listed, on
// POST and PATCH alike.
func TestProbeMethodsPolicy(t *testing.T) {
	h := newHarness(t)
	resp := h.do(http.MethodPost, "/api/v1/services", `{"name":"a","url":"https://a.example","interval_seconds":10,"method":"POST"}`)
	requireError(t, resp, http.StatusBadRequest, CodeInvalidField, "method")
	require.Contains(t, resp.json(t)["error"].(map[string]any)["message"], "GET, HEAD, OPTIONS")
	id := h.create(`{"name":"b","url":"https://a.example","interval_seconds":10,"method":"HEAD"}`)["id"].(string)
	requireError(t, h.do(http.MethodPatch, "/api/v1/services/"+id, `{"method":"PUT"}`),
		http.StatusBadRequest, CodeInvalidField, "method")

	h = newHarness(t, func(c *Config) { c.Policy = check.Policy{Methods: []string{"GET", "POST"}} })
	require.Equal(t, "POST", h.create(`{"name":"a","url":"https://a.example","interval_seconds":10,"method":"POST"}`)["method"])
	requireError(t, h.do(http.MethodPost, "/api/v1/services", `{"name":"b","url":"https://a.example","interval_seconds":10,"method":"HEAD"}`),
		http.StatusBadRequest, CodeInvalidField, "method")
}

func TestBodyErrors(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"empty body", "", http.StatusBadRequest, CodeInvalidJSON},
		{"whitespace only", "  \n", http.StatusBadRequest, CodeInvalidJSON},
		{"null", "null", http.StatusBadRequest, CodeInvalidJSON},
		{"array", `[{"name":"a"}]`, http.StatusBadRequest, CodeInvalidJSON},
		{"string", `"payments"`, http.StatusBadRequest, CodeInvalidJSON},
		{"number", `42`, http.StatusBadRequest, CodeInvalidJSON},
		{"truncated", `{"name":"a",`, http.StatusBadRequest, CodeInvalidJSON},
		{"syntax error", `{"name" "a"}`, http.StatusBadRequest, CodeInvalidJSON},
		{"two objects", `{"name":"a"} {"name":"b"}`, http.StatusBadRequest, CodeInvalidJSON},
		{"trailing garbage", `{"name":"a"} x`, http.StatusBadRequest, CodeInvalidJSON},
		{"trailing garbage without space", `{"name":"a"}]`, http.StatusBadRequest, CodeInvalidJSON},
		{"too large", big, http.StatusRequestEntityTooLarge, CodeTooLarge},
		{"too large after a small object", `{"name":"a"}` + strings.Repeat(" ", MaxBodyBytes), http.StatusRequestEntityTooLarge, CodeTooLarge},
	}
	for _, tt := range tests {
		for _, route := range []struct{ method, path string }{
			{http.MethodPost, "/api/v1/services"},
			{http.MethodPatch, "/api/v1/services/svc-1"},
		} {
			t.Run(tt.name+" "+route.method, func(t *testing.T) {
				h := newHarness(t)
				h.createNamed("existing")
				resp := h.do(route.method, route.path, tt.body)
				requireError(t, resp, tt.status, tt.code, "")
			})
		}
	}

	t.Run("trailing whitespace is fine", func(t *testing.T) {
		h := newHarness(t)
		h.create("{\"name\":\"a\",\"url\":\"http://a.example\",\"interval_seconds\":5}\n\t ")
	})
}

// TestWritesNeedJSON: a body must be declared as JSON. An HTML form on any
// web page can post text/plain, urlencoded or multipart bodies to Vigil
// without a CORS preflight; none of them may register or change anything.
func TestWritesNeedJSON(t *testing.T) {
	const body = `{"name":"a","url":"http://a.example","interval_seconds":5}`
	send := func(h *harness, method, path, contentType, body string) response {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "json", "application/json; charset"} {
		t.Run("refused "+ct, func(t *testing.T) {
			h := newHarness(t)
			id := h.createNamed("existing")
			requireError(t, send(h, http.MethodPost, "/api/v1/services", ct, body), http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
			requireError(t, send(h, http.MethodPatch, "/api/v1/services/"+id, ct, `{"name":"b"}`), http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
			requireError(t, send(h, http.MethodPost, "/api/v1/services/"+id+"/pause", ct, "{}"), http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
			list, err := h.reg.ListServices(t.Context(), registry.ListFilter{})
			require.NoError(t, err)
			require.Len(t, list, 1, "nothing registered")
			require.Equal(t, "existing", list[0].Name, "nothing changed")
			require.False(t, list[0].Paused)
		})
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		t.Run("accepted "+ct, func(t *testing.T) {
			h := newHarness(t)
			require.Equal(t, http.StatusCreated, send(h, http.MethodPost, "/api/v1/services", ct, body).status)
		})
	}
	t.Run("bodiless writes need no content type", func(t *testing.T) {
		h := newHarness(t)
		id := h.createNamed("existing")
		require.Equal(t, http.StatusOK, send(h, http.MethodPost, "/api/v1/services/"+id+"/pause", "", "").status)
		require.Equal(t, http.StatusOK, send(h, http.MethodPost, "/api/v1/services/"+id+"/resume", "", "").status)
		require.Equal(t, http.StatusNoContent, send(h, http.MethodDelete, "/api/v1/services/"+id, "", "").status)
	})
}

func TestNameTaken(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	other := h.createNamed("orders")

	resp := h.do(http.MethodPost, "/api/v1/services", `{"name":" payments","url":"http://b.example","interval_seconds":5}`)
	requireError(t, resp, http.StatusConflict, CodeNameTaken, "name")

	resp = h.do(http.MethodPatch, "/api/v1/services/"+other, `{"name":"payments"}`)
	requireError(t, resp, http.StatusConflict, CodeNameTaken, "name")

	// A deleted service frees its name.
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/api/v1/services/"+id, "").status)
	h.createNamed("payments")
}

func TestListServices(t *testing.T) {
	h := newHarness(t)
	h.create(`{"name":"a","url":"http://a.example","interval_seconds":5,"tags":["prod","eu"]}`)
	b := h.create(`{"name":"b","url":"http://b.example","interval_seconds":5,"tags":["prod"]}`)["id"].(string)
	h.create(`{"name":"c","url":"http://c.example","interval_seconds":5}`)
	require.Equal(t, http.StatusOK, h.do(http.MethodPost, "/api/v1/services/"+b+"/pause", "").status)

	names := func(resp response) []string {
		t.Helper()
		require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
		var body struct {
			Items []map[string]any `json:"items"`
		}
		require.NoError(t, json.Unmarshal(resp.body, &body))
		require.NotNil(t, body.Items, "items must be a list, never null")
		out := []string{}
		for _, it := range body.Items {
			out = append(out, it["name"].(string))
			require.Contains(t, it, "status")
			require.Contains(t, it, "last_checked_at")
			require.Contains(t, it, "last_latency_ms")
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"a", "b", "c"}},
		{"?tag=prod", []string{"a", "b"}},
		{"?tag=eu", []string{"a"}},
		{"?tag=none", []string{}},
		{"?status=PAUSED", []string{"b"}},
		{"?status=unknown", []string{"a", "c"}},
		{"?status=UNKNOWN&tag=prod", []string{"a"}},
		{"?status=DOWN", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			require.Equal(t, tt.want, names(h.do(http.MethodGet, "/api/v1/services"+tt.query, "")))
		})
	}
	t.Run("bad status", func(t *testing.T) {
		requireError(t, h.do(http.MethodGet, "/api/v1/services?status=SIDEWAYS", ""), http.StatusBadRequest, CodeInvalidParameter, "status")
	})
}

func TestGetService(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	got := h.do(http.MethodGet, "/api/v1/services/"+id, "")
	require.Equal(t, http.StatusOK, got.status)
	require.Equal(t, "payments", got.json(t)["name"])

	requireError(t, h.do(http.MethodGet, "/api/v1/services/nope", ""), http.StatusNotFound, CodeNotFound, "")
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/api/v1/services/"+id, "").status)
	requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id, ""), http.StatusNotFound, CodeNotFound, "")
}

func TestUpdateService(t *testing.T) {
	const created = `{"name":"payments","url":"https://pay.example/h","interval_seconds":10,"timeout_seconds":4,"tags":["prod"]}`
	tests := []struct {
		name  string
		setup string // body the service is created with; created when empty
		patch string
		want  map[string]any
		field string // the 400's field when the patch must be refused
	}{
		{name: "empty patch changes nothing", patch: `{}`,
			want: map[string]any{"name": "payments", "interval_seconds": float64(10), "timeout_seconds": float64(4), "tags": []any{"prod"}}},
		{name: "rename is trimmed", patch: `{"name":" billing "}`, want: map[string]any{"name": "billing"}},
		{name: "interval change keeps the stored timeout", patch: `{"interval_seconds":60}`,
			want: map[string]any{"interval_seconds": float64(60), "timeout_seconds": float64(4)}},
		{name: "interval below the stored timeout is refused", patch: `{"interval_seconds":3}`, field: "timeout_seconds"},
		{name: "interval and timeout together", patch: `{"interval_seconds":3,"timeout_seconds":2.5}`,
			want: map[string]any{"interval_seconds": float64(3), "timeout_seconds": 2.5}},
		{name: "timeout above the stored interval is refused", patch: `{"timeout_seconds":12}`, field: "timeout_seconds"},
		{name: "null tags clear them", patch: `{"tags":null}`, want: map[string]any{"tags": []any{}}},
		{name: "tags replaced", patch: `{"tags":["eu","beta"]}`, want: map[string]any{"tags": []any{"eu", "beta"}}},
		{name: "absent tags are kept", patch: `{"method":"HEAD"}`, want: map[string]any{"tags": []any{"prod"}, "method": "HEAD"}},
		{name: "thresholds", patch: `{"failure_threshold":3,"success_threshold":2}`,
			want: map[string]any{"failure_threshold": float64(3), "success_threshold": float64(2)}},
		{name: "expected status", patch: `{"expected_status":301}`, want: map[string]any{"expected_status": float64(301)}},
		{name: "switch to grpc needs a grpc url", patch: `{"type":"grpc"}`, field: "url"},
		{name: "switch to grpc", patch: `{"type":"grpc","url":"grpc://pay.internal:9000","grpc_service":"pay.v1"}`,
			want: map[string]any{"type": "grpc", "url": "grpc://pay.internal:9000", "grpc_service": "pay.v1"}},
		{name: "switch from grpc to http gets http defaults",
			setup: `{"name":"payments","type":"grpc","url":"grpc://pay.internal:9000","interval_seconds":10}`,
			patch: `{"type":"http","url":"http://pay.example"}`,
			want:  map[string]any{"type": "http", "method": "GET", "expected_status": float64(200)}},
		{name: "switch to tcp needs a tcp url", patch: `{"type":"tcp"}`, field: "url"},
		{name: "switch to dns", patch: `{"type":"dns","url":"dns://10.0.0.10:53/pay.example?type=AAAA"}`,
			want: map[string]any{"type": "dns", "url": "dns://10.0.0.10:53/pay.example?type=AAAA"}},
		{name: "empty name", patch: `{"name":" "}`, field: "name"},
		{name: "bad url", patch: `{"url":"nope"}`, field: "url"},
		{name: "zero threshold", patch: `{"failure_threshold":0}`, field: "failure_threshold"},
		{name: "zero success threshold", patch: `{"success_threshold":0}`, field: "success_threshold"},
		{name: "zero expected status", patch: `{"expected_status":0}`, field: "expected_status"},
		{name: "empty method", patch: `{"method":""}`, field: "method"},
		{name: "bad type", patch: `{"type":"icmp"}`, field: "type"},
		{name: "interval a string", patch: `{"interval_seconds":"ten"}`, field: "interval_seconds"},
		{name: "interval out of range", patch: `{"interval_seconds":0}`, field: "interval_seconds"},
		{name: "zero timeout", patch: `{"timeout_seconds":0}`, field: "timeout_seconds"},
		{name: "empty tag", patch: `{"tags":[""]}`, field: "tags[0]"},
		{name: "tags not a list", patch: `{"tags":{}}`, field: "tags"},
		{name: "unknown field", patch: `{"status":"UP"}`, field: "status"},
		{name: "id is not patchable", patch: `{"id":"other"}`, field: "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			setup := tt.setup
			if setup == "" {
				setup = created
			}
			before := h.create(setup)
			id := before["id"].(string)
			resp := h.do(http.MethodPatch, "/api/v1/services/"+id, tt.patch)
			after := h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t)
			if tt.field != "" {
				requireError(t, resp, http.StatusBadRequest, CodeInvalidField, tt.field)
				require.Equal(t, before, after, "a refused patch must change nothing")
				return
			}
			require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
			got := resp.json(t)
			require.Equal(t, after, got, "the response is the stored service")
			for k, v := range tt.want {
				require.Equal(t, v, got[k], "field %s", k)
			}
			require.Equal(t, id, got["id"])
		})
	}
	t.Run("unknown id", func(t *testing.T) {
		h := newHarness(t)
		requireError(t, h.do(http.MethodPatch, "/api/v1/services/nope", `{"name":"x"}`), http.StatusNotFound, CodeNotFound, "")
	})
}

func TestDeleteKeepsHistory(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	h.reg.addResult(check.Result{CheckID: id, ScheduledAt: testNow.Add(-time.Minute), CheckedAt: testNow.Add(-time.Minute), Status: check.ResultUp})
	require.Equal(t, http.StatusOK, h.do(http.MethodPost, "/api/v1/services/"+id+"/pause", "").status)

	resp := h.do(http.MethodDelete, "/api/v1/services/"+id, "")
	require.Equal(t, http.StatusNoContent, resp.status)
	require.Empty(t, resp.body)

	requireError(t, h.do(http.MethodDelete, "/api/v1/services/"+id, ""), http.StatusNotFound, CodeNotFound, "")
	requireError(t, h.do(http.MethodPost, "/api/v1/services/"+id+"/resume", ""), http.StatusNotFound, CodeNotFound, "")

	results := h.do(http.MethodGet, "/api/v1/services/"+id+"/results", "")
	require.Equal(t, http.StatusOK, results.status)
	require.Len(t, results.json(t)["items"], 1)
	transitions := h.do(http.MethodGet, "/api/v1/services/"+id+"/transitions", "")
	require.Equal(t, http.StatusOK, transitions.status)
	require.Len(t, transitions.json(t)["items"], 1)
	uptime := h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime", "")
	require.Equal(t, http.StatusOK, uptime.status)
	require.Equal(t, float64(1), uptime.json(t)["checks"])

	for _, p := range []string{"results", "transitions", "uptime"} {
		requireError(t, h.do(http.MethodGet, "/api/v1/services/never/"+p, ""), http.StatusNotFound, CodeNotFound, "")
	}
}

func TestPauseResume(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")

	steps := []struct {
		action     string
		wantStatus string
		wantPaused bool
		transition bool
	}{
		{"pause", "PAUSED", true, true},
		{"pause", "PAUSED", true, false},
		{"resume", "UNKNOWN", false, true},
		{"resume", "UNKNOWN", false, false},
	}
	wantTransitions := 0
	for i, st := range steps {
		resp := h.do(http.MethodPost, "/api/v1/services/"+id+"/"+st.action, "")
		require.Equal(t, http.StatusOK, resp.status, "step %d: %s", i, resp.body)
		got := resp.json(t)
		require.Equal(t, st.wantStatus, got["status"], "step %d", i)
		require.Equal(t, st.wantPaused, got["paused"], "step %d", i)
		if st.transition {
			wantTransitions++
		}
		h.mu.Lock()
		require.Len(t, h.transitions, wantTransitions, "step %d: OnTransition once per change", i)
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, check.StatePaused, h.transitions[0].To)
	require.Equal(t, check.StatePaused, h.transitions[1].From)
	require.Equal(t, check.StateUnknown, h.transitions[1].To)
	require.Equal(t, id, h.transitions[1].CheckID)

	t.Run("without a hook", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.OnTransition = nil })
		id := h.createNamed("x")
		require.Equal(t, http.StatusOK, h.do(http.MethodPost, "/api/v1/services/"+id+"/pause", "").status)
	})
	t.Run("unknown id", func(t *testing.T) {
		h := newHarness(t)
		requireError(t, h.do(http.MethodPost, "/api/v1/services/nope/pause", ""), http.StatusNotFound, CodeNotFound, "")
	})
}
