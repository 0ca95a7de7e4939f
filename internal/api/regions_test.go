package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServiceRegions(t *testing.T) {
	h := newHarness(t)
	plain := h.create(`{"name":"plain","url":"https://a.example","interval_seconds":10}`)
	require.NotContains(t, plain, "regions", "a check without regions reads as before")
	require.NotContains(t, plain, "quorum")

	got := h.create(`{"name":"r","url":"https://a.example","interval_seconds":10,"regions":["eu","us","ap"]}`)
	require.Equal(t, []any{"eu", "us", "ap"}, got["regions"])
	require.Equal(t, float64(2), got["quorum"], "the default quorum is a majority")
	id := got["id"].(string)

	read := h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t)
	require.Equal(t, got["regions"], read["regions"])
	require.Equal(t, float64(2), read["quorum"])

	patched := h.do(http.MethodPatch, "/api/v1/services/"+id, `{"quorum":3}`)
	require.Equal(t, http.StatusOK, patched.status, "body: %s", patched.body)
	require.Equal(t, float64(3), patched.json(t)["quorum"])

	// Changing the regions alone gives their majority again rather than
	// refusing a quorum that no longer fits.
	patched = h.do(http.MethodPatch, "/api/v1/services/"+id, `{"regions":["eu"]}`)
	require.Equal(t, http.StatusOK, patched.status, "body: %s", patched.body)
	require.Equal(t, float64(1), patched.json(t)["quorum"])

	patched = h.do(http.MethodPatch, "/api/v1/services/"+id, `{"regions":null}`)
	require.Equal(t, http.StatusOK, patched.status, "body: %s", patched.body)
	require.NotContains(t, patched.json(t), "regions")
	require.NotContains(t, patched.json(t), "quorum")
}

func TestServiceRegionsValidation(t *testing.T) {
	base := `{"name":"r","url":"https://a.example","interval_seconds":10,`
	for _, tt := range []struct{ body, field string }{
		{`"regions":["eu","EU"]}`, "regions[1]"},
		{`"regions":["eu","eu"]}`, "regions[1]"},
		{`"regions":"eu"}`, "regions"},
		{`"regions":["eu","us"],"quorum":3}`, "quorum"},
		{`"regions":["eu"],"quorum":0}`, "quorum"},
		{`"quorum":1}`, "quorum"},
		{`"regions":["eu"],"quorum":"one"}`, "quorum"},
	} {
		h := newHarness(t)
		requireError(t, h.do(http.MethodPost, "/api/v1/services", base+tt.body), http.StatusBadRequest, CodeInvalidField, tt.field)
	}
	h := newHarness(t)
	id := h.create(base + `"regions":["eu","us"]}`)["id"].(string)
	requireError(t, h.do(http.MethodPatch, "/api/v1/services/"+id, `{"quorum":5}`), http.StatusBadRequest, CodeInvalidField, "quorum")
}
