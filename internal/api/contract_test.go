package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/registry"
)

// contract is the OpenAPI document, parsed once for every test.
type contract struct {
	model *v3.Document
	v     validator.Validator
	opts  *config.ValidationOptions
}

var (
	contractOnce sync.Once
	contractDoc  *contract
	errContract  error
)

func loadContract() (*contract, error) {
	contractOnce.Do(func() {
		doc, err := libopenapi.NewDocument(openAPIDocument)
		if err != nil {
			errContract = fmt.Errorf("parse openapi.json: %w", err)
			return
		}
		model, err := doc.BuildV3Model()
		if err != nil {
			errContract = fmt.Errorf("build openapi.json: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			errContract = fmt.Errorf("validator for openapi.json: %w", errors.Join(errs...))
			return
		}
		contractDoc = &contract{model: &model.Model, v: v, opts: config.NewValidationOptions()}
	})
	return contractDoc, errContract
}

// violation says how resp to r breaks the document, or nil when it keeps
// it. A route the document lacks may only answer the API's JSON 404 or 405:
// anything it serves must be documented. Paths the API does not own (the
// dashboard, metrics: Config.Extra) are not its contract.
func (c *contract) violation(r *http.Request, resp *http.Response) error {
	switch {
	case !(&Server{}).ownsPath(r.URL.Path):
		return nil
	case resp.StatusCode == statusClientClosed:
		// Written only when the client has gone: nobody receives it.
		return nil
	case isRedirect(resp.StatusCode) && resp.Header.Get("Location") != "":
		// The mux's redirect from an unclean path such as /api/v1//x to
		// the clean one, whose answer is checked when it is followed.
		return nil
	}
	if item, errs, _ := paths.FindPath(r, c.model, c.opts); item == nil || len(errs) > 0 {
		if routeMissing(resp) {
			return nil
		}
		return fmt.Errorf("%s %s answered %d but is not in openapi.json", r.Method, r.URL.Path, resp.StatusCode)
	}
	if ok, errs := c.v.ValidateHttpResponse(r, resp); !ok {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("%s %s answered %d against openapi.json: %s", r.Method, r.URL.Path, resp.StatusCode, strings.Join(msgs, "; "))
	}
	return nil
}

func isRedirect(status int) bool {
	return status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect
}

// routeMissing reports whether resp is the API's JSON answer for a route
// it does not have.
func routeMissing(resp *http.Response) bool {
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		return false
	}
	var body errorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return false
	}
	return body.Error.Code == CodeNotFound || body.Error.Code == CodeMethodNotAllowed
}

// checkContract wraps next so every answer it gives in a test is checked
// against the document; a mismatch fails t.
func checkContract(t testing.TB, next http.Handler) http.Handler {
	t.Helper()
	c, err := loadContract()
	require.NoError(t, err)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		resp := rec.Result()
		defer func() { _ = resp.Body.Close() }()
		if err := c.violation(r, resp); err != nil {
			t.Errorf("contract: %v", err)
		}
	})
}

func TestOpenAPIDocumentIsServedAndValid(t *testing.T) {
	h := newHarness(t)
	resp := h.do(http.MethodGet, "/api/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, resp.status)
	require.Equal(t, "application/json; charset=utf-8", resp.header.Get("Content-Type"))
	require.JSONEq(t, string(OpenAPIDocument()), string(resp.body))

	c, err := loadContract()
	require.NoError(t, err)
	ok, errs := c.v.ValidateDocument()
	require.True(t, ok, "openapi.json is not a valid OpenAPI 3.1 document: %v", errs)
	require.Equal(t, "3.1.0", c.model.Version)
}

// Every operation the document promises is one the server routes: the
// other direction (every answer is documented) is checkContract's job.
func TestOpenAPIDocumentsOnlyRealRoutes(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	h, _, _ := channelHarness(t, func(c *Config) { c.StatusPages = &fakePages{pages: map[string]registry.StatusPage{}} })
	srv := h.srv
	n := 0
	for path, item := range c.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			n++
			req := httptest.NewRequest(strings.ToUpper(method), strings.ReplaceAll(path, "{id}", "x"), nil)
			_, pattern := srv.mux.Handler(req)
			require.NotEmpty(t, pattern, "%s %s is documented but not routed", method, path)
		}
	}
	require.Greater(t, n, 25)
}

// The check itself must be able to fail: wrong shapes, undeclared statuses,
// leaked secrets and undocumented routes are all caught.
func TestContractCatchesDrift(t *testing.T) {
	c, err := loadContract()
	require.NoError(t, err)
	// violates checks a made-up answer to req.
	violates := func(req *http.Request, status int, ctype, body string) error {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", ctype)
		rec.WriteHeader(status)
		_, _ = rec.WriteString(body)
		resp := rec.Result()
		defer func() { _ = resp.Body.Close() }()
		return c.violation(req, resp)
	}
	const jsonType = "application/json; charset=utf-8"
	good := newHarness(t).create(`{"name":"a","url":"https://a.example/","interval_seconds":10}`)
	withField := func(k string, v any) string {
		m := map[string]any{}
		maps.Copy(m, good)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	get := httptest.NewRequest(http.MethodGet, "/api/v1/services/x", nil)
	require.NoError(t, violates(get, http.StatusOK, jsonType, withField("", nil)))

	for name, tc := range map[string]struct {
		req    *http.Request
		status int
		ctype  string
		body   string
	}{
		"missing field":       {get, http.StatusOK, jsonType, withField("status", nil)},
		"wrong type":          {get, http.StatusOK, jsonType, withField("paused", "no")},
		"undocumented field":  {get, http.StatusOK, jsonType, withField("secret", "hunter2")},
		"bad enum":            {get, http.StatusOK, jsonType, withField("status", "SIDEWAYS")},
		"undeclared status":   {get, http.StatusTeapot, jsonType, `{"error":{"code":"internal","message":"x"}}`},
		"unknown error code":  {get, http.StatusNotFound, jsonType, `{"error":{"code":"gone","message":"x"}}`},
		"not JSON":            {get, http.StatusOK, "text/plain", withField("", nil)},
		"undocumented route":  {httptest.NewRequest(http.MethodGet, "/api/v1/secrets", nil), http.StatusOK, jsonType, `{}`},
		"undocumented method": {httptest.NewRequest(http.MethodPut, "/api/v1/services/x", nil), http.StatusOK, jsonType, withField("", nil)},
	} {
		require.Error(t, violates(tc.req, tc.status, tc.ctype, tc.body), name)
	}

	// The API's own 404 for a route it lacks is fine; the dashboard's
	// paths are not the API's contract.
	require.NoError(t, violates(httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil), http.StatusNotFound, jsonType,
		`{"error":{"code":"not_found","message":"no such route"}}`))
	require.NoError(t, violates(httptest.NewRequest(http.MethodGet, "/index.html", nil), http.StatusOK, "text/html", "<html>"))
}
