package chart

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChartSchemaRefusesTypos: values.schema.json makes a mistyped key or
// a value of the wrong type fail the render, naming the key, instead of
// being ignored (the chart's defaults would silently apply).
func TestChartSchemaRefusesTypos(t *testing.T) {
	tests := []struct {
		set  string
		want string // in helm's error
	}{
		{"worker.replica=3", "replica"},
		{"networkPolicy.sever.enabled=true", "sever"},
		{"ingres.enabled=true", "ingres"},
		{"metrics.podMonitor.enabeld=true", "enabeld"},
		{"auth.existingSecrets=api", "existingSecrets"},
		{"rbac.aggregateToEdits=true", "aggregateToEdits"},
		{"server.podDisruptionBudget.maxUnavailble=2", "maxUnavailble"},
		{"worker.concurrency=many", "concurrency"},
		{"worker.concurrency=0", "concurrency"},
		{"worker.maxJobAge=30", "maxJobAge"},
		{"logLevel=verbose", "logLevel"},
		{"shutdown.drainSeconds=0", "drainSeconds"},
		{"server.podDisruptionBudget.maxUnavailable=half", "maxUnavailable"},
		{"metrics.podMonitor.interval=often", "interval"},
		{"worker.extraEnv[0].value=x", "name"},
		{"httpRoute.enabled=true", "parentRefs"},
		{"operator.metrics.secur=false", "secur"},
		{"operator.metrics.secure=yes", "secure"},
		{"operator.discovery=on", "discovery"},
		{"operator.metrics.caSecret.key=", "key"},
		{"history.resultsRetention=30", "resultsRetention"},
		{"history.rollupRetention=1y", "rollupRetention"},
		{"notifications.enable=false", "enable"},
		{"notifications.concurrency=0", "concurrency"},
		{"notifications.timeout=10", "timeout"},
		{"server.metricLabel=team", "metricLabel"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			out, err := helm(t, "template", release, ".", "--set", tt.set)
			require.Error(t, err, "a values typo must fail the render")
			require.Contains(t, out, "values don't meet the specifications of the schema")
			require.Contains(t, out, tt.want)
		})
	}
}

// TestChartSchemaAcceptsWhatTheChartDocuments keeps the schema from
// refusing values the chart supports.
func TestChartSchemaAcceptsWhatTheChartDocuments(t *testing.T) {
	for _, set := range [][]string{
		{"worker.maxJobAge=-1s"},
		{"worker.maxJobAge=1m30s"},
		{"server.podDisruptionBudget.maxUnavailable=50%"},
		{"worker.podDisruptionBudget.minAvailable=1"},
		{"global.imageRegistry=example.com"},
		{"history.resultsRetention=720h", "history.rollupRetention=400d"},
		{"operator.metrics.caSecret.name=ca", "operator.metrics.caSecret.key=ca.crt"},
		{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.scrapeTimeout=10s"},
		{"operator.topologySpreadConstraints[0].maxSkew=1", "operator.topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
			"operator.topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule"},
	} {
		render(t, set...)
	}
}
