package chart

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-dev/vigil/internal/check"
)

// workerPlacement is where the default region's workers go; a named
// region must not inherit its node pool, but does inherit its affinity
// unless it sets its own.
var workerPlacement = []any{
	"worker.nodeSelector", map[string]any{"pool": "default"},
	"worker.tolerations", []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
	"worker.affinity", map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{
		map[string]any{"weight": 1, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname"}},
	}}},
}

func TestChartWorkerRegions(t *testing.T) {
	plain := mustRender(t, values(workerPlacement...))
	r := mustRender(t, values(append(workerPlacement, "worker.regions", twoRegions)...))
	requireCommon(t, r)

	t.Run("the default region's workers are as without regions", func(t *testing.T) {
		same := func(kind string) {
			// where the document sits in helm's output changes its trailing blank lines only
			require.Equal(t, strings.TrimSpace(string(plain[kind]["vigil-worker"])), strings.TrimSpace(string(r[kind]["vigil-worker"])), kind)
		}
		same("Deployment")
		same("PodDisruptionBudget")
		requireNoEnv(t, r.deployment(t, "vigil-worker"), "VIGIL_REGION")
	})

	def := r.deployment(t, "vigil-worker")
	eu, ap := r.deployment(t, "vigil-worker-eu-west"), r.deployment(t, "vigil-worker-ap-south")
	t.Run("a Deployment per region", func(t *testing.T) {
		require.Equal(t, []string{"vigil-worker", "vigil-worker-ap-south", "vigil-worker-eu-west"}, workers(r))
		tests := []struct {
			d        *appsv1.Deployment
			region   string
			replicas int32
			nodes    map[string]string
			affinity *corev1.Affinity
			memory   string
		}{
			{eu, "eu-west", 3, map[string]string{"pool": "eu-west"}, def.Spec.Template.Spec.Affinity, "256Mi"},
			{ap, "ap-south", 2, nil, ap.Spec.Template.Spec.Affinity, "512Mi"},
		}
		for _, tt := range tests {
			t.Run(tt.region, func(t *testing.T) {
				pod := tt.d.Spec.Template.Spec
				require.Equal(t, tt.region, env(t, tt.d, "VIGIL_REGION").Value)
				require.Equal(t, tt.replicas, *tt.d.Spec.Replicas, "the region's replicas, else worker.replicas")
				require.Equal(t, tt.nodes, pod.NodeSelector, "the region's own node selector, never the default workers'")
				require.Equal(t, tt.affinity, pod.Affinity)
				limits := container(tt.d).Resources.Limits
				require.Equal(t, tt.memory, limits.Memory().String())
				for _, shared := range []string{"VIGIL_WORKER_CONCURRENCY", "VIGIL_DENY_NETWORKS", "VIGIL_PROBE_METHODS", "VIGIL_MAX_JOB_AGE"} {
					require.Equal(t, env(t, def, shared), env(t, tt.d, shared), "worker.* applies to every region")
				}
				require.Equal(t, container(def).Image, container(tt.d).Image)

				sel := tt.d.Spec.Selector.MatchLabels
				require.Equal(t, tt.region, sel["monitoring.vigil.dev/region"])
				require.Equal(t, "regional-worker", sel["app.kubernetes.io/component"])
				for _, c := range pod.TopologySpreadConstraints {
					require.Equal(t, sel, c.LabelSelector.MatchLabels, "spread among the region's own pods")
				}
				var pdb policyv1.PodDisruptionBudget
				r.get(t, "PodDisruptionBudget", tt.d.Name, &pdb)
				require.Equal(t, sel, pdb.Spec.Selector.MatchLabels, "a budget per region")
			})
		}
		require.Equal(t, "eu-west", eu.Spec.Template.Spec.Tolerations[0].Value)
		require.Empty(t, ap.Spec.Template.Spec.Tolerations, "the default workers' tolerations stay theirs")
		require.NotEqual(t, def.Spec.Template.Spec.Affinity, ap.Spec.Template.Spec.Affinity)
	})

	t.Run("monitored and policed with the default workers", func(t *testing.T) {
		r := mustRender(t, values("worker.regions", twoRegions, "metrics.podMonitor.enabled", true, "networkPolicy.worker.enabled", true))
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-worker", &np)
		var pm struct {
			Spec struct {
				Selector            metav1.LabelSelector `json:"selector"`
				PodMetricsEndpoints []map[string]any     `json:"podMetricsEndpoints"`
			} `json:"spec"`
		}
		r.decode(t, "PodMonitor", "vigil-regional-worker", &pm)
		for _, name := range []string{"vigil-worker", "vigil-worker-eu-west", "vigil-worker-ap-south"} {
			labels := r.deployment(t, name).Spec.Template.Labels
			require.True(t, selects(t, &np.Spec.PodSelector, labels), "the worker NetworkPolicy leaves %s's egress open", name)
			require.Equal(t, name != "vigil-worker", selects(t, &pm.Spec.Selector, labels), name)
		}
		relabel := pm.Spec.PodMetricsEndpoints[0]["relabelings"].([]any)[0].(map[string]any)
		require.Equal(t, "region", relabel["targetLabel"], "a region's series say which region")

		r = mustRender(t, values("worker.regions", twoRegions, "metrics.serviceMonitor.enabled", true))
		var svc corev1.Service
		r.get(t, "Service", "vigil-regional-worker-metrics", &svc)
		for _, name := range []string{"vigil-worker", "vigil-worker-eu-west", "vigil-worker-ap-south"} {
			labels := r.deployment(t, name).Spec.Template.Labels
			require.Equal(t, name != "vigil-worker", selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, labels), name)
		}
	})

	t.Run("named regions alone", func(t *testing.T) {
		r := mustRender(t, values("worker.defaultRegion.enabled", false, "worker.regions", twoRegions, "metrics.podMonitor.enabled", true))
		require.Equal(t, []string{"vigil-worker-ap-south", "vigil-worker-eu-west"}, workers(r))
		require.NotContains(t, r.names("PodDisruptionBudget"), "vigil-worker")
		require.Equal(t, []string{"vigil-operator", "vigil-regional-worker", "vigil-server"}, r.names("PodMonitor"))
	})
}

func TestChartRefusesBadRegions(t *testing.T) {
	region := func(name string) map[string]any { return map[string]any{"name": name} }
	tests := []struct {
		name    string
		regions []any
		want    []string // in helm's error
	}{
		{"repeated", []any{region("eu-west"), region("us-east"), region("eu-west")},
			[]string{`worker.regions[2]: region "eu-west" is already worker.regions[0]`}},
		{"default", []any{region("default")}, []string{"worker.regions[0]: the default region's workers are the vigil-worker Deployment"}},
		{"upper case", []any{region("EU-West")}, []string{"/worker/regions/0/name", "does not match pattern"}},
		{"leading hyphen", []any{region("-eu")}, []string{"/worker/regions/0/name", "does not match pattern"}},
		{"dot", []any{region("eu.west")}, []string{"/worker/regions/0/name", "does not match pattern"}},
		{"too long", []any{region(strings.Repeat("a", 64))}, []string{"/worker/regions/0/name", "maxLength"}},
		{"no name", []any{map[string]any{"replicas": 1}}, []string{"/worker/regions/0", "missing property 'name'"}},
		{"unknown key", []any{map[string]any{"name": "eu", "nodeSelectors": map[string]any{}}}, []string{"nodeSelectors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := renderValues(t, values("worker.regions", tt.regions))
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
		})
	}
}

// TestChartRegionNamesAreCheckRegionNames: the schema's rule for a
// region's name is check.IsRegionName's, so the chart deploys workers for
// exactly the regions a ServiceCheck may list.
func TestChartRegionNamesAreCheckRegionNames(t *testing.T) {
	raw, err := os.ReadFile("values.schema.json")
	require.NoError(t, err)
	var schema struct {
		Properties struct {
			Worker struct {
				Properties struct {
					Regions struct {
						Items struct {
							Properties struct {
								Name struct {
									Pattern   string `json:"pattern"`
									MaxLength int    `json:"maxLength"`
								} `json:"name"`
							} `json:"properties"`
						} `json:"items"`
					} `json:"regions"`
				} `json:"properties"`
			} `json:"worker"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(raw, &schema))
	rule := schema.Properties.Worker.Properties.Regions.Items.Properties.Name
	pattern := regexp.MustCompile(rule.Pattern)
	schemaAccepts := func(s string) bool {
		return utf8.RuneCountInString(s) <= rule.MaxLength && pattern.MatchString(s)
	}
	for _, name := range []string{
		"", "a", "0", "eu-west", "eu-west-1", "a-b-c", "a--b", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"-a", "a-", "-", "EU", "eu_west", "eu.west", "eu west", "é", "a\n", "\na",
	} {
		require.Equal(t, check.IsRegionName(name), schemaAccepts(name), "%q", name)
	}
}
