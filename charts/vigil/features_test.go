package chart

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// mustRender renders vals and fails the test when helm does.
func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	r, out, err := renderValues(t, vals)
	require.NoError(t, err, out)
	return r
}

// decode reads a rendered object of a kind this module has no Go type for.
func (r rendered) decode(t *testing.T, kind, name string, obj any) {
	t.Helper()
	doc, ok := r[kind][name]
	require.True(t, ok, "no %s %q rendered; have %v", kind, name, r.names(kind))
	require.NoError(t, yaml.Unmarshal(doc, obj))
}

func container(d *appsv1.Deployment) corev1.Container { return d.Spec.Template.Spec.Containers[0] }

func TestChartAuthFromSecret(t *testing.T) {
	t.Run("tokens and users", func(t *testing.T) {
		r := mustRender(t, values("auth.existingSecret", "api-auth", "auth.tokensKey", "t", "auth.usersKey", "u",
			"extraVolumes", []any{map[string]any{"name": "ca", "configMap": map[string]any{"name": "ca"}}}))
		server := r.deployment(t, "vigil-server")
		vols := server.Spec.Template.Spec.Volumes
		require.Len(t, vols, 2, "the auth Secret, then the extra volume")
		require.Equal(t, "auth", vols[0].Name)
		require.Equal(t, "api-auth", vols[0].Secret.SecretName)
		require.Equal(t, []corev1.KeyToPath{{Key: "t", Path: "tokens"}, {Key: "u", Path: "users"}}, vols[0].Secret.Items,
			"naming the keys makes a missing one stop the pod instead of starting it without auth")
		require.Equal(t, int32(0o440), *vols[0].Secret.DefaultMode)
		require.Equal(t, "ca", vols[1].Name)
		mount := container(server).VolumeMounts[0]
		require.Equal(t, corev1.VolumeMount{Name: "auth", MountPath: "/etc/vigil/auth", ReadOnly: true}, mount)
		require.Equal(t, "/etc/vigil/auth/tokens", env(t, server, "VIGIL_API_TOKENS_FILE").Value)
		require.Equal(t, "/etc/vigil/auth/users", env(t, server, "VIGIL_API_USERS_FILE").Value)
		require.Equal(t, "true", env(t, server, "VIGIL_AUTH_READS").Value)
		requireNoEnv(t, server, "VIGIL_API_TOKENS")
		for _, name := range []string{"vigil-worker", "vigil-operator"} {
			requireNoEnv(t, r.deployment(t, name), "VIGIL_API_TOKENS_FILE")
		}
	})
	t.Run("tokens only, open reads", func(t *testing.T) {
		r := mustRender(t, values("auth.existingSecret", "api-auth", "auth.protectReads", false))
		server := r.deployment(t, "vigil-server")
		require.Equal(t, []corev1.KeyToPath{{Key: "tokens", Path: "tokens"}}, server.Spec.Template.Spec.Volumes[0].Secret.Items)
		requireNoEnv(t, server, "VIGIL_API_USERS_FILE")
		require.Equal(t, "false", env(t, server, "VIGIL_AUTH_READS").Value)
	})
	t.Run("off", func(t *testing.T) {
		server := render(t).deployment(t, "vigil-server")
		require.Empty(t, server.Spec.Template.Spec.Volumes)
		requireNoEnv(t, server, "VIGIL_AUTH_READS")
	})
	t.Run("a Secret without keys is refused", func(t *testing.T) {
		_, out, err := renderValues(t, values("auth.existingSecret", "api-auth", "auth.tokensKey", ""))
		require.Error(t, err)
		require.Contains(t, out, "tokensKey, usersKey or both")
	})
}

func TestChartNetworkPolicies(t *testing.T) {
	t.Run("server ingress from the release's namespace by default", func(t *testing.T) {
		r := render(t, "networkPolicy.server.enabled=true")
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-server", &np)
		require.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
		require.Equal(t, r.deployment(t, "vigil-server").Spec.Selector.MatchLabels, np.Spec.PodSelector.MatchLabels)
		require.Len(t, np.Spec.Ingress, 1)
		require.Equal(t, []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}, np.Spec.Ingress[0].From)
		require.Equal(t, "http", np.Spec.Ingress[0].Ports[0].Port.StrVal)
		require.NotContains(t, r.names("NetworkPolicy"), "vigil-worker")
	})
	t.Run("server ingress from the listed peers", func(t *testing.T) {
		peer := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "edge"}}}
		r := mustRender(t, values("networkPolicy.server.enabled", true, "networkPolicy.server.from", []any{peer}))
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-server", &np)
		require.Equal(t, map[string]string{"team": "edge"}, np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels)
		require.Nil(t, np.Spec.Ingress[0].From[0].PodSelector)
	})
	t.Run("worker egress", func(t *testing.T) {
		extra := map[string]any{"to": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "payments"}}}}}
		r := mustRender(t, values("networkPolicy.worker.enabled", true, "worker.allowNetworks", " 10.96.0.0/12, 10.0.0.7,fd00::1 ",
			"networkPolicy.worker.extraEgress", []any{extra}))
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-worker", &np)
		require.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
		require.Equal(t, r.deployment(t, "vigil-worker").Spec.Selector.MatchLabels, np.Spec.PodSelector.MatchLabels)
		egress := np.Spec.Egress
		require.Len(t, egress, 5, "DNS, backends, internet, allowNetworks, extra")
		require.Empty(t, egress[0].To, "DNS anywhere on port 53")
		require.Equal(t, int32(53), egress[0].Ports[0].Port.IntVal)
		var ports []int32
		for _, p := range egress[1].Ports {
			ports = append(ports, p.Port.IntVal)
		}
		require.Equal(t, []int32{5432, 5671, 5672}, ports)
		internet := egress[2]
		require.Empty(t, internet.Ports, "probes may use any port")
		require.Equal(t, "0.0.0.0/0", internet.To[0].IPBlock.CIDR)
		for _, private := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"} {
			require.Contains(t, internet.To[0].IPBlock.Except, private)
		}
		require.Equal(t, "::/0", internet.To[1].IPBlock.CIDR)
		require.Contains(t, internet.To[1].IPBlock.Except, "fc00::/7")
		var allowed []string
		for _, p := range egress[3].To {
			allowed = append(allowed, p.IPBlock.CIDR)
		}
		require.Equal(t, []string{"10.96.0.0/12", "10.0.0.7/32", "fd00::1/128"}, allowed)
		require.Equal(t, map[string]string{"app": "payments"}, egress[4].To[0].PodSelector.MatchLabels)
	})
	t.Run("server and operator egress stays open for notifications", func(t *testing.T) {
		// AlertChannel receivers are anywhere outside the cluster, on
		// whatever port their URL names (443, 80, 25, 587); the server and
		// the operator send to them, so no policy may limit their egress.
		r := render(t, "networkPolicy.server.enabled=true", "networkPolicy.worker.enabled=true")
		for _, name := range r.names("NetworkPolicy") {
			var np networkingv1.NetworkPolicy
			r.get(t, "NetworkPolicy", name, &np)
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				continue
			}
			for _, d := range []string{"vigil-server", "vigil-operator"} {
				labels := r.deployment(t, d).Spec.Template.Labels
				require.NotEqual(t, np.Spec.PodSelector.MatchLabels, subset(labels, np.Spec.PodSelector.MatchLabels),
					"NetworkPolicy %s limits the egress of %s", name, d)
			}
		}
	})
	t.Run("worker egress without the internet", func(t *testing.T) {
		r := render(t, "networkPolicy.worker.enabled=true", "networkPolicy.worker.publicInternet=false",
			"networkPolicy.worker.backends.to[0].podSelector.matchLabels.app=db")
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-worker", &np)
		require.Len(t, np.Spec.Egress, 2, "DNS and backends only")
		require.Equal(t, map[string]string{"app": "db"}, np.Spec.Egress[1].To[0].PodSelector.MatchLabels)
	})
}

func TestChartDisruptionAndSpread(t *testing.T) {
	r := render(t)
	for _, name := range []string{"vigil-server", "vigil-worker"} {
		var pdb policyv1.PodDisruptionBudget
		r.get(t, "PodDisruptionBudget", name, &pdb)
		d := r.deployment(t, name)
		require.Equal(t, d.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)
		require.Equal(t, int32(1), pdb.Spec.MaxUnavailable.IntVal)
		require.Nil(t, pdb.Spec.MinAvailable)
		require.Equal(t, policyv1.AlwaysAllow, *pdb.Spec.UnhealthyPodEvictionPolicy)

		spread := d.Spec.Template.Spec.TopologySpreadConstraints
		require.Len(t, spread, 2, name)
		require.Equal(t, "topology.kubernetes.io/zone", spread[0].TopologyKey)
		require.Equal(t, "kubernetes.io/hostname", spread[1].TopologyKey)
		for _, c := range spread {
			require.Equal(t, corev1.ScheduleAnyway, c.WhenUnsatisfiable)
			require.Equal(t, d.Spec.Selector.MatchLabels, c.LabelSelector.MatchLabels)
			require.Equal(t, []string{"pod-template-hash"}, c.MatchLabelKeys)
		}
	}
	require.NotContains(t, r.names("PodDisruptionBudget"), "vigil-operator", "one operator replica is the default: a PDB would block drains")
	require.Empty(t, r.deployment(t, "vigil-operator").Spec.Template.Spec.TopologySpreadConstraints)

	own := map[string]any{"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"x": "y"}}}
	r = mustRender(t, values("worker.podDisruptionBudget.minAvailable", "50%", "worker.topologySpreadConstraints", []any{own},
		"server.topologySpreadConstraints", []any{}, "server.podDisruptionBudget.enabled", false))
	var pdb policyv1.PodDisruptionBudget
	r.get(t, "PodDisruptionBudget", "vigil-worker", &pdb)
	require.Equal(t, "50%", pdb.Spec.MinAvailable.StrVal)
	require.Nil(t, pdb.Spec.MaxUnavailable, "one budget only: the API refuses both")
	require.NotContains(t, r.names("PodDisruptionBudget"), "vigil-server")
	spread := r.deployment(t, "vigil-worker").Spec.Template.Spec.TopologySpreadConstraints
	require.Len(t, spread, 1)
	require.Equal(t, map[string]string{"x": "y"}, spread[0].LabelSelector.MatchLabels, "a constraint's own selector is kept")
	require.Empty(t, spread[0].MatchLabelKeys)
	require.Empty(t, r.deployment(t, "vigil-server").Spec.Template.Spec.TopologySpreadConstraints)
}

// monitor is the part of a PodMonitor or ServiceMonitor the tests read.
type monitor struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		PodMetricsEndpoints []map[string]any `json:"podMetricsEndpoints"`
		Endpoints           []map[string]any `json:"endpoints"`
	} `json:"spec"`
}

func TestChartMonitoring(t *testing.T) {
	t.Run("PodMonitors", func(t *testing.T) {
		r := mustRender(t, values("metrics.podMonitor.enabled", true, "metrics.podMonitor.labels", map[string]any{"release": "prom"},
			"metrics.operatorEndpoint", map[string]any{"scheme": "https", "tlsConfig": map[string]any{"insecureSkipVerify": true}}))
		ports := map[string]string{"vigil-server": "http", "vigil-worker": "http", "vigil-operator": "metrics"}
		for name, port := range ports {
			var m monitor
			r.decode(t, "PodMonitor", name, &m)
			d := r.deployment(t, name)
			require.Equal(t, d.Spec.Selector.MatchLabels, m.Spec.Selector.MatchLabels)
			require.Equal(t, "prom", m.Metadata.Labels["release"])
			ep := m.Spec.PodMetricsEndpoints[0]
			require.Equal(t, port, ep["port"], name)
			require.Equal(t, true, ep["honorLabels"], "vigil_check_up's service label must survive the scrape")
			require.Equal(t, "30s", ep["interval"])
			require.True(t, hasPort(container(d), port), "%s has no port %s", name, port)
			if name == "vigil-operator" {
				require.Equal(t, "https", ep["scheme"])
			} else {
				require.NotContains(t, ep, "scheme")
			}
		}
		require.Empty(t, r.names("ServiceMonitor"))
		require.Equal(t, []string{"vigil"}, r.names("Service"))
	})
	t.Run("ServiceMonitors", func(t *testing.T) {
		r := render(t, "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.interval=15s", "metrics.serviceMonitor.scrapeTimeout=10s")
		services := map[string]string{"vigil-server": "vigil", "vigil-worker": "vigil-worker-metrics", "vigil-operator": "vigil-operator-metrics"}
		for name, svcName := range services {
			var m monitor
			r.decode(t, "ServiceMonitor", name, &m)
			var svc corev1.Service
			r.get(t, "Service", svcName, &svc)
			require.Equal(t, m.Spec.Selector.MatchLabels, subset(svc.Labels, m.Spec.Selector.MatchLabels), "%s must select %s", name, svcName)
			require.Equal(t, r.deployment(t, name).Spec.Selector.MatchLabels, svc.Spec.Selector)
			ep := m.Spec.Endpoints[0]
			require.Equal(t, svc.Spec.Ports[0].Name, ep["port"])
			require.Equal(t, "15s", ep["interval"])
			require.Equal(t, "10s", ep["scrapeTimeout"])
			if svcName != "vigil" {
				require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
			}
		}
	})
	t.Run("not both", func(t *testing.T) {
		_, out, err := renderValues(t, values("metrics.podMonitor.enabled", true, "metrics.serviceMonitor.enabled", true))
		require.Error(t, err)
		require.Contains(t, out, "scraped twice")
	})
	t.Run("PrometheusRule", func(t *testing.T) {
		rule := func(r rendered) map[string]map[string]any {
			var pr struct {
				Spec struct {
					Groups []struct {
						Rules []map[string]any `json:"rules"`
					} `json:"groups"`
				} `json:"spec"`
			}
			r.decode(t, "PrometheusRule", "vigil", &pr)
			out := map[string]map[string]any{}
			for _, rl := range pr.Spec.Groups[0].Rules {
				out[rl["alert"].(string)] = rl
			}
			return out
		}
		rules := rule(mustRender(t, values("metrics.prometheusRule.enabled", true, "metrics.prometheusRule.scheduleLag.seconds", 2.5)))
		require.Len(t, rules, 5)
		require.Contains(t, rules["VigilCheckDown"]["expr"], "vigil_check_up")
		require.Equal(t, "Check {{ $labels.service }} is DOWN", rules["VigilCheckDown"]["annotations"].(map[string]any)["summary"],
			"Prometheus's template must reach Prometheus, not be eaten by helm")
		require.Contains(t, rules["VigilScheduleLag"]["expr"], "> 2.5")
		require.Contains(t, rules["VigilJobsDeadLettered"]["expr"], "vigil_jobs_dead_lettered_total[15m]")
		require.Contains(t, rules["VigilWorkersShedding"]["expr"], `reason="stale"`)
		require.Contains(t, rules["VigilNotificationsFailed"]["expr"], `vigil_notification_attempts_total{outcome="failed"}[1h]`)
		for _, rl := range rules {
			require.Equal(t, "warning", rl["labels"].(map[string]any)["severity"])
		}

		extra := map[string]any{"alert": "Mine", "expr": "vector(1)"}
		rules = rule(mustRender(t, values("metrics.prometheusRule.enabled", true, "metrics.prometheusRule.checkDown.enabled", false,
			"metrics.prometheusRule.extraRules", []any{extra})))
		require.NotContains(t, rules, "VigilCheckDown")
		require.Contains(t, rules, "Mine")
	})
}

func hasPort(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func TestChartExposure(t *testing.T) {
	tls := []any{map[string]any{"hosts": []any{"vigil.example.com"}, "secretName": "vigil-tls"}}
	r := mustRender(t, values("ingress.enabled", true, "ingress.className", "nginx", "ingress.host", "vigil.example.com",
		"ingress.tls", tls, "ingress.annotations", map[string]any{"a": "b"},
		"httpRoute.enabled", true, "httpRoute.hostnames", []any{"vigil.example.com"},
		"httpRoute.parentRefs", []any{map[string]any{"name": "public", "namespace": "gateways", "sectionName": "https"}},
		"service.port", 8081))

	var ing networkingv1.Ingress
	r.get(t, "Ingress", "vigil", &ing)
	require.Equal(t, "nginx", *ing.Spec.IngressClassName)
	require.Equal(t, "b", ing.Annotations["a"])
	require.Equal(t, "vigil-tls", ing.Spec.TLS[0].SecretName)
	rule := ing.Spec.Rules[0]
	require.Equal(t, "vigil.example.com", rule.Host)
	path := rule.HTTP.Paths[0]
	require.Equal(t, "/", path.Path)
	require.Equal(t, networkingv1.PathTypePrefix, *path.PathType)
	require.Equal(t, "vigil", path.Backend.Service.Name)
	require.Equal(t, "http", path.Backend.Service.Port.Name, "the Service's port by name, whatever its number")

	var route struct {
		Spec struct {
			ParentRefs []map[string]any `json:"parentRefs"`
			Hostnames  []string         `json:"hostnames"`
			Rules      []struct {
				Matches     []map[string]any `json:"matches"`
				BackendRefs []map[string]any `json:"backendRefs"`
			} `json:"rules"`
		} `json:"spec"`
	}
	r.decode(t, "HTTPRoute", "vigil", &route)
	require.Equal(t, "public", route.Spec.ParentRefs[0]["name"])
	require.Equal(t, "https", route.Spec.ParentRefs[0]["sectionName"])
	require.Equal(t, []string{"vigil.example.com"}, route.Spec.Hostnames)
	backend := route.Spec.Rules[0].BackendRefs[0]
	require.Equal(t, "vigil", backend["name"])
	require.InDelta(t, 8081, backend["port"], 0, "an HTTPRoute names the Service's port by number")

	_, out, err := renderValues(t, values("httpRoute.enabled", true))
	require.Error(t, err, "an HTTPRoute attached to nothing routes nothing")
	require.Contains(t, out, "parentRefs")
}

func TestChartRBACAggregationOptIn(t *testing.T) {
	labels := func(r rendered, name string) map[string]string {
		var role rbacv1.ClusterRole
		r.get(t, "ClusterRole", name, &role)
		return role.Labels
	}
	r := render(t)
	for _, name := range []string{"vigil-servicecheck-editor", "vigil-servicecheck-viewer"} {
		for k := range labels(r, name) {
			require.NotContains(t, k, "aggregate-to", "%s must not join the built-in roles by default", name)
		}
	}
	r = render(t, "rbac.aggregateToEdit=true", "rbac.aggregateToView=true")
	editor := labels(r, "vigil-servicecheck-editor")
	require.Equal(t, "true", editor["rbac.authorization.k8s.io/aggregate-to-edit"])
	require.Equal(t, "true", editor["rbac.authorization.k8s.io/aggregate-to-admin"])
	require.NotContains(t, editor, "rbac.authorization.k8s.io/aggregate-to-view")
	require.Equal(t, "true", labels(r, "vigil-servicecheck-viewer")["rbac.authorization.k8s.io/aggregate-to-view"])
}

func TestChartPodSettings(t *testing.T) {
	vals := values(
		"extraEnv", []any{map[string]any{"name": "SSL_CERT_DIR", "value": "/etc/ca"}, map[string]any{"name": "VIGIL_LOG_LEVEL", "value": "warn"}},
		"worker.extraEnv", []any{map[string]any{"name": "VIGIL_LOG_LEVEL", "value": "debug"}},
		"extraVolumes", []any{map[string]any{"name": "ca", "configMap": map[string]any{"name": "ca"}}},
		"extraVolumeMounts", []any{map[string]any{"name": "ca", "mountPath": "/etc/ca", "readOnly": true}},
		"worker.extraVolumes", []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}},
		"worker.extraVolumeMounts", []any{map[string]any{"name": "scratch", "mountPath": "/scratch"}},
		"podAnnotations", map[string]any{"team": "sre", "where": "global"},
		"worker.podAnnotations", map[string]any{"where": "worker"},
		"podLabels", map[string]any{"team": "sre", "app.kubernetes.io/component": "hijack"},
		"worker.priorityClassName", "probes",
		"worker.imageTag", "0.2.0", "image.tag", "0.1.5",
		"server.resources.limits", nil, // null drops the chart's default limit
		"shutdown.drainSeconds", 60, "shutdown.graceMarginSeconds", 20,
	)
	r := mustRender(t, vals)
	worker, server, operator := r.deployment(t, "vigil-worker"), r.deployment(t, "vigil-server"), r.deployment(t, "vigil-operator")

	require.Equal(t, "/etc/ca", env(t, operator, "SSL_CERT_DIR").Value)
	require.Equal(t, "warn", env(t, server, "VIGIL_LOG_LEVEL").Value, "extraEnv comes after the chart's variables and wins")
	require.Equal(t, "debug", env(t, worker, "VIGIL_LOG_LEVEL").Value, "the component's extraEnv comes after the global one")

	require.Equal(t, []string{"ca", "scratch"}, volumeNames(worker))
	require.Equal(t, []string{"ca"}, volumeNames(operator))
	mounts := container(worker).VolumeMounts
	require.Equal(t, "/etc/ca", mounts[0].MountPath)
	require.Equal(t, "/scratch", mounts[1].MountPath)

	ann := worker.Spec.Template.Annotations
	require.Equal(t, "worker", ann["where"], "the component's annotations win over the global ones")
	require.Equal(t, "sre", ann["team"])
	require.NotEmpty(t, ann["checksum/connections"], "a changed connection Secret rolls the pods")
	require.Equal(t, "global", server.Spec.Template.Annotations["where"])
	require.Equal(t, "sre", worker.Spec.Template.Labels["team"])
	require.Equal(t, "worker", worker.Spec.Template.Labels["app.kubernetes.io/component"], "podLabels never change the selector labels")

	require.Equal(t, "probes", worker.Spec.Template.Spec.PriorityClassName)
	require.Empty(t, server.Spec.Template.Spec.PriorityClassName)
	require.Equal(t, "ghcr.io/vigil-dev/vigil:0.2.0", container(worker).Image, "workers roll first during an upgrade")
	require.Equal(t, "ghcr.io/vigil-dev/vigil:0.1.5", container(server).Image)

	requireNoEnv(t, server, "GOMEMLIMIT") // no memory limit: no limit to derive it from
	require.Equal(t, "limits.memory", env(t, worker, "GOMEMLIMIT").ValueFrom.ResourceFieldRef.Resource)

	for _, d := range []*appsv1.Deployment{worker, server, operator} {
		require.Equal(t, "60s", env(t, d, "VIGIL_SHUTDOWN_TIMEOUT").Value)
		require.Equal(t, int64(80), *d.Spec.Template.Spec.TerminationGracePeriodSeconds, d.Name)
	}
}

func volumeNames(d *appsv1.Deployment) []string {
	var names []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		names = append(names, v.Name)
	}
	return names
}
