package chart

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// notToggles are boolean values no template decides on: the chart copies
// them whole into the pods' security contexts. TestChartTogglesAreDimensions
// checks that no template branches on them.
var notToggles = map[string]string{
	"podSecurityContext.runAsNonRoot":          "copied by toYaml into the pod securityContext",
	"securityContext.allowPrivilegeEscalation": "copied by toYaml into the container securityContext",
	"securityContext.readOnlyRootFilesystem":   "copied by toYaml into the container securityContext",
}

// branchValues are the values, other than booleans, that some template
// decides on (if, with, and, or, not, default, ternary, eq, ne, empty)
// and no dimension varies, with the test that renders each side. Mostly
// lists and maps that are emitted when not empty. A new `if .Values.x`
// fails TestChartTogglesAreDimensions until x is a dimension or listed
// here. (Conditions on a component's values inside the helpers, such as
// .values.nodeSelector, reach the analysis only as the whole component and
// are not listed.)
var branchValues = map[string]string{
	"auth.tokensKey":                          "TestChartAuthFromSecret (tokens only, users only, both; neither fails)",
	"auth.usersKey":                           "TestChartAuthFromSecret",
	"operator.metrics.certSecret":             "TestChartOperatorMetrics",
	"operator.metrics.caSecret.name":          "TestChartOperatorMetrics",
	"operator.metrics.scrapeTokenSecret.name": "TestChartOperatorMetrics",
	"networkPolicy.worker.dns.to":             "TestChartNetworkPolicies",
	"networkPolicy.worker.backends.to":        "TestChartNetworkPolicies",
	"networkPolicy.worker.extraEgress":        "TestChartNetworkPolicies",
	"metrics.podMonitor.labels":               "TestChartMonitoring",
	"metrics.podMonitor.scrapeTimeout":        "TestChartMonitoring",
	"metrics.serviceMonitor.labels":           "TestChartMonitoring",
	"metrics.serviceMonitor.scrapeTimeout":    "TestChartMonitoring",
	"metrics.prometheusRule.labels":           "TestChartMonitoring",
	"metrics.prometheusRule.extraRules":       "TestChartMonitoring",
	"extraEnv":                                "TestChartPodSettings",
	"imagePullSecrets":                        "TestChartPodSettings",
	"image.tag":                               "TestChartRenders (appVersion), TestChartPodSettings (imageTag)",
	"service.annotations":                     "TestChartRenders",
	"serviceAccount.annotations":              "TestChartRenders",
	"server.allowedHosts":                     "NOTES.txt only (helm template does not render it)",
}

// valueBooleans lists the dotted paths of every boolean in a values tree.
func valueBooleans(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case bool:
		out[prefix] = true
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			valueBooleans(p, x, out)
		}
	}
}

// schemaBooleans lists the dotted paths of every boolean property of the
// schema, following $refs into its definitions.
func schemaBooleans(root, node map[string]any, prefix string, out map[string]bool, depth int) {
	if depth > 20 {
		return
	}
	if ref, ok := node["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if def, ok := root["definitions"].(map[string]any)[name].(map[string]any); ok {
			schemaBooleans(root, def, prefix, out, depth+1)
		}
	}
	switch t := node["type"].(type) {
	case string:
		if t == "boolean" {
			out[prefix] = true
		}
	case []any:
		if slices.Contains(t, any("boolean")) {
			out[prefix] = true
		}
	}
	props, _ := node["properties"].(map[string]any)
	for k, v := range props {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			schemaBooleans(root, m, p, out, depth+1)
		}
	}
}

// TestChartTogglesAreDimensions: every boolean of values.yaml and of the
// schema, and every value a template branches on, is a dimension of
// TestChartEveryCombination or listed with its reason, so a toggle added
// to the chart cannot be left out of the combinations silently.
func TestChartTogglesAreDimensions(t *testing.T) {
	dims := dimensions()
	deps, byFile := chartDependencies(t, dims)
	varied := map[string]bool{}
	for _, d := range dims {
		for _, k := range dimensionKeys(d) {
			varied[k] = true
		}
	}

	booleans := map[string]bool{}
	raw, err := os.ReadFile("values.yaml")
	require.NoError(t, err)
	var vals map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &vals))
	valueBooleans("", vals, booleans)
	raw, err = os.ReadFile("values.schema.json")
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(raw, &schema))
	schemaBooleans(schema, schema, "", booleans, 0)
	require.Contains(t, booleans, "metrics.prometheusRule.staleTicks.enabled", "the walk follows $refs")

	for _, b := range slices.Sorted(maps.Keys(booleans)) {
		if reason, ok := notToggles[b]; ok {
			require.NotContains(t, deps.conditions, b, "%s is listed as %q, but a template branches on it", b, reason)
			continue
		}
		require.True(t, varied[b], "boolean %s is no dimension of TestChartEveryCombination: add one (combinations_test.go), or list it in notToggles", b)
	}
	for _, c := range slices.Sorted(maps.Keys(deps.conditions)) {
		if c == "" || booleans[c] || slices.ContainsFunc(slices.Collect(maps.Keys(varied)), func(k string) bool {
			return k == c || strings.HasPrefix(k, c+".") // with $r.checkDown, then .enabled
		}) {
			continue
		}
		_, listed := branchValues[c]
		require.True(t, listed, "a template branches on %s, which no dimension varies: add one, or list it in branchValues with the test that renders both sides", c)
	}
	for c := range branchValues {
		require.True(t, deps.conditions[c], "branchValues lists %s, but no template branches on it any more", c)
	}
	// Every template the analysis knows renders something it can see.
	require.Contains(t, byFile, "templates/server.yaml")
	require.NotContains(t, byFile, "templates/_helpers.tpl")
}
