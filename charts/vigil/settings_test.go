package chart

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestChartOperatorMetrics: the operator's /metrics is HTTPS with authn
// and authz by default, and the monitors scrape it that way, with a token
// allowed GET /metrics; secure=false goes back to plain HTTP.
func TestChartOperatorMetrics(t *testing.T) {
	t.Run("secure by default, chart's scraper token", func(t *testing.T) {
		for _, kind := range []string{"PodMonitor", "ServiceMonitor"} {
			key := map[string]string{"PodMonitor": "metrics.podMonitor.enabled", "ServiceMonitor": "metrics.serviceMonitor.enabled"}[kind]
			r := mustRender(t, values(key, true))
			operator := r.deployment(t, "vigil-operator")
			require.Equal(t, "true", env(t, operator, "VIGIL_OPERATOR_METRICS_SECURE").Value)
			requireNoEnv(t, operator, "VIGIL_OPERATOR_METRICS_CERT_DIR")

			ep := operatorEndpoint(t, r, kind)
			require.Equal(t, "https", ep["scheme"], kind)
			require.Equal(t, map[string]any{"insecureSkipVerify": true}, ep["tlsConfig"], "%s: the certificate is self-signed", kind)
			require.Equal(t, map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "vigil-metrics-scraper-token", "key": "token"}},
				ep["authorization"], kind)
			for _, other := range []string{"vigil-server", "vigil-worker"} {
				require.NotContains(t, endpoint(t, r, kind, other), "authorization", "%s of %s is plain", kind, other)
			}
			requireScraper(t, r)
		}
	})
	t.Run("own CA, token and certificate", func(t *testing.T) {
		r := mustRender(t, values("metrics.serviceMonitor.enabled", true, "operator.metrics.certSecret", "operator-metrics-tls",
			"operator.metrics.caSecret.name", "metrics-ca", "operator.metrics.scrapeTokenSecret", map[string]any{"name": "prom-token", "key": "t"},
			"metrics.operatorEndpoint", map[string]any{"tlsConfig": map[string]any{"serverName": "vigil-operator-metrics.vigil-system.svc"}}))
		ep := operatorEndpoint(t, r, "ServiceMonitor")
		require.Equal(t, map[string]any{
			"ca":         map[string]any{"secret": map[string]any{"name": "metrics-ca", "key": "ca.crt"}},
			"serverName": "vigil-operator-metrics.vigil-system.svc",
		}, ep["tlsConfig"], "verified against the CA, with the user's fields merged in")
		require.Equal(t, map[string]any{"name": "prom-token", "key": "t"}, ep["authorization"].(map[string]any)["credentials"])
		require.NotContains(t, r.names("ServiceAccount"), "vigil-metrics-scraper", "the user's token needs no scraper")
		require.NotContains(t, r.names("Secret"), "vigil-metrics-scraper-token")
		require.NotContains(t, r.names("ClusterRoleBinding"), "vigil-metrics-scraper")

		operator := r.deployment(t, "vigil-operator")
		require.Equal(t, "/etc/vigil/metrics-cert", env(t, operator, "VIGIL_OPERATOR_METRICS_CERT_DIR").Value)
		vol := operator.Spec.Template.Spec.Volumes[0]
		require.Equal(t, "operator-metrics-tls", vol.Secret.SecretName)
		require.Equal(t, []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}}, vol.Secret.Items)
		require.Equal(t, corev1.VolumeMount{Name: "metrics-cert", MountPath: "/etc/vigil/metrics-cert", ReadOnly: true},
			container(operator).VolumeMounts[0])
	})
	t.Run("plain HTTP when not secure", func(t *testing.T) {
		r := mustRender(t, values("metrics.podMonitor.enabled", true, "operator.metrics.secure", false, "operator.metrics.certSecret", "ignored"))
		operator := r.deployment(t, "vigil-operator")
		require.Equal(t, "false", env(t, operator, "VIGIL_OPERATOR_METRICS_SECURE").Value)
		requireNoEnv(t, operator, "VIGIL_OPERATOR_METRICS_CERT_DIR")
		require.Empty(t, operator.Spec.Template.Spec.Volumes)
		ep := operatorEndpoint(t, r, "PodMonitor")
		for _, k := range []string{"scheme", "tlsConfig", "authorization"} {
			require.NotContains(t, ep, k)
		}
		require.NotContains(t, r.names("ServiceAccount"), "vigil-metrics-scraper")
	})
	t.Run("no monitors, no scraper; the reader role ships anyway", func(t *testing.T) {
		r := render(t)
		require.NotContains(t, r.names("ServiceAccount"), "vigil-metrics-scraper")
		require.Contains(t, r.names("ClusterRole"), "vigil-metrics-reader", "for binding the cluster's own Prometheus")
	})
}

func operatorEndpoint(t *testing.T, r rendered, kind string) map[string]any {
	t.Helper()
	return endpoint(t, r, kind, "vigil-operator")
}

func endpoint(t *testing.T, r rendered, kind, name string) map[string]any {
	t.Helper()
	var m monitor
	r.decode(t, kind, name, &m)
	if kind == "PodMonitor" {
		return m.Spec.PodMetricsEndpoints[0]
	}
	return m.Spec.Endpoints[0]
}

// requireScraper checks the chart's scraper: a ServiceAccount with a token
// Secret, bound to the metrics reader role and nothing else.
func requireScraper(t *testing.T, r rendered) {
	t.Helper()
	var sa corev1.ServiceAccount
	r.get(t, "ServiceAccount", "vigil-metrics-scraper", &sa)
	require.False(t, *sa.AutomountServiceAccountToken, "no pod runs as the scraper")
	var secret corev1.Secret
	r.get(t, "Secret", "vigil-metrics-scraper-token", &secret)
	require.Equal(t, corev1.SecretTypeServiceAccountToken, secret.Type)
	require.Equal(t, "vigil-metrics-scraper", secret.Annotations[corev1.ServiceAccountNameKey])
	var binding rbacv1.ClusterRoleBinding
	r.get(t, "ClusterRoleBinding", "vigil-metrics-scraper", &binding)
	require.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vigil-metrics-reader"}, binding.RoleRef)
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vigil-metrics-scraper", Namespace: namespace}}, binding.Subjects)
	var reader rbacv1.ClusterRole
	r.get(t, "ClusterRole", "vigil-metrics-reader", &reader)
	require.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, reader.Rules)
}

// TestChartHistoryAndNotifications: retention and the notification
// dispatcher are set on the server and the operator, the two processes
// that run them, and on no worker.
func TestChartHistoryAndNotifications(t *testing.T) {
	defaults := map[string]string{
		"VIGIL_RESULTS_RETENTION": "30d", "VIGIL_ROLLUP_RETENTION": "400d",
		"VIGIL_NOTIFY": "true", "VIGIL_NOTIFY_CONCURRENCY": "64", "VIGIL_NOTIFY_TIMEOUT": "10s",
		"VIGIL_NOTIFY_DENY_NETWORKS": "shared-cluster",
	}
	set := map[string]string{
		"VIGIL_RESULTS_RETENTION": "7d", "VIGIL_ROLLUP_RETENTION": "9000h",
		"VIGIL_NOTIFY": "false", "VIGIL_NOTIFY_CONCURRENCY": "8", "VIGIL_NOTIFY_TIMEOUT": "1m30s",
		"VIGIL_NOTIFY_DENY_NETWORKS": "shared-cluster,203.0.113.0/24",
	}
	for _, tt := range []struct {
		name string
		vals map[string]any
		want map[string]string
	}{
		{"defaults", nil, defaults},
		{"set", values("history.resultsRetention", "7d", "history.rollupRetention", "9000h", "notifications.enabled", false,
			"notifications.concurrency", 8, "notifications.timeout", "1m30s", "notifications.denyNetworks", "shared-cluster,203.0.113.0/24"), set},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, tt.vals)
			for _, name := range []string{"vigil-server", "vigil-operator"} {
				for k, v := range tt.want {
					require.Equal(t, v, env(t, r.deployment(t, name), k).Value, "%s of %s", k, name)
				}
			}
			for k := range tt.want {
				requireNoEnv(t, r.deployment(t, "vigil-worker"), k)
			}
		})
	}
}

// TestChartServerAndOperatorSettings: one VIGIL_METRIC_LABELS on the
// server (vigil_check_up), the operator (its scheduler copies the labels
// into jobs) and the workers (the facts series' label names), and
// VIGIL_DISCOVERY on the operator.
func TestChartServerAndOperatorSettings(t *testing.T) {
	r := render(t)
	require.Empty(t, env(t, r.deployment(t, "vigil-server"), "VIGIL_METRIC_LABELS").Value)
	require.Equal(t, "true", env(t, r.deployment(t, "vigil-operator"), "VIGIL_DISCOVERY").Value, "discovery is on by default")

	r = mustRender(t, values("server.metricLabels", "team,app.kubernetes.io/part-of", "operator.discovery", false))
	require.Equal(t, "team,app.kubernetes.io/part-of", env(t, r.deployment(t, "vigil-server"), "VIGIL_METRIC_LABELS").Value)
	require.Equal(t, "false", env(t, r.deployment(t, "vigil-operator"), "VIGIL_DISCOVERY").Value)
	for _, name := range []string{"vigil-operator", "vigil-worker"} {
		require.Equal(t, "team,app.kubernetes.io/part-of", env(t, r.deployment(t, name), "VIGIL_METRIC_LABELS").Value,
			"%s must use the server's allow-list", name)
	}
	requireNoEnv(t, r.deployment(t, "vigil-server"), "VIGIL_DISCOVERY")
}

// TestChartPeopleRoles: the roles for people cover every kind the CRDs
// add, the viewer read-only, the editor with writes.
func TestChartPeopleRoles(t *testing.T) {
	r := render(t)
	var editor, viewer rbacv1.ClusterRole
	r.get(t, "ClusterRole", "vigil-servicecheck-editor", &editor)
	r.get(t, "ClusterRole", "vigil-servicecheck-viewer", &viewer)
	const group = "monitoring.vigil.dev"
	for _, res := range []string{"servicechecks", "statuspages", "alertchannels"} {
		for _, verb := range []string{"get", "list", "watch"} {
			require.True(t, allows(viewer.Rules, group, res, verb), "viewer: %s %s", verb, res)
			require.True(t, allows(editor.Rules, group, res, verb), "editor: %s %s", verb, res)
		}
		for _, verb := range []string{"create", "update", "patch", "delete"} {
			require.True(t, allows(editor.Rules, group, res, verb), "editor: %s %s", verb, res)
			require.False(t, allows(viewer.Rules, group, res, verb), "viewer must not %s %s", verb, res)
		}
		require.True(t, allows(viewer.Rules, group, res+"/status", "get"), "viewer reads %s/status", res)
		require.True(t, allows(editor.Rules, group, res+"/status", "get"), "editor reads %s/status", res)
		require.False(t, allows(editor.Rules, group, res+"/status", "update"), "status is the operator's to write")
	}
	require.Empty(t, missingGrants(viewer.Rules, editor.Rules), "an editor can do what a viewer can")
}

// TestChartRoutesPublicStatus: the Ingress and the HTTPRoute send public
// status pages, their assets and live feed, and badges to the server.
func TestChartRoutesPublicStatus(t *testing.T) {
	r := mustRender(t, values("ingress.enabled", true, "httpRoute.enabled", true,
		"httpRoute.parentRefs", []any{map[string]any{"name": "public"}}))
	var ing networkingv1.Ingress
	r.get(t, "Ingress", "vigil", &ing)
	var route struct {
		Spec struct {
			Rules []struct {
				Matches []struct {
					Path struct{ Type, Value string } `json:"path"`
				} `json:"matches"`
			} `json:"rules"`
		} `json:"spec"`
	}
	r.decode(t, "HTTPRoute", "vigil", &route)
	for _, path := range []string{"/status/shop", "/status-assets/page.css", "/ws/status/shop", "/badges/abc/status.svg"} {
		routed := false
		for _, p := range ing.Spec.Rules[0].HTTP.Paths {
			routed = routed || (*p.PathType == networkingv1.PathTypePrefix && prefixMatches(p.Path, path))
		}
		require.True(t, routed, "the Ingress does not route %s", path)
		routed = false
		for _, m := range route.Spec.Rules[0].Matches {
			routed = routed || (m.Path.Type == "PathPrefix" && prefixMatches(m.Path.Value, path))
		}
		require.True(t, routed, "the HTTPRoute does not route %s", path)
	}
}

// prefixMatches is Prefix/PathPrefix matching: by whole path elements.
func prefixMatches(prefix, path string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}
