package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// A dimension is one toggle of the chart and the values of each of its
// settings; settings[0] is the default. expect checks one rendering of a
// combination for what this toggle's setting promises.
type dimension struct {
	name     string
	settings []setting
}

type setting struct {
	label  string
	values map[string]any
	expect func(t *testing.T, r rendered)
}

// dimensions are the chart's toggles. Every document every combination of
// them renders is rendered, and applied to envtest with a server-side dry
// run (TestChartEveryCombination); TestChartTogglesAreDimensions fails on
// a toggle of values.yaml missing here. Keep docs/kubernetes.md's toggle
// table in step.
func dimensions() []dimension {
	return []dimension{
		{"auth", []setting{
			{"off", nil, func(t *testing.T, r rendered) {
				requireNoEnv(t, r.deployment(t, "vigil-server"), "VIGIL_API_TOKENS_FILE")
			}},
			{"on", values("auth.existingSecret", "vigil-api-auth", "auth.usersKey", "users"), func(t *testing.T, r rendered) {
				server := r.deployment(t, "vigil-server")
				require.Equal(t, "/etc/vigil/auth/tokens", env(t, server, "VIGIL_API_TOKENS_FILE").Value)
				require.Equal(t, "/etc/vigil/auth/users", env(t, server, "VIGIL_API_USERS_FILE").Value)
			}},
		}},
		{"connections", []setting{
			{"chart Secret", nil, func(t *testing.T, r rendered) { require.Contains(t, r.names("Secret"), "vigil-connections") }},
			{"existing Secrets", values("postgres.existingSecret", "pg", "amqp.existingSecret", "mq"), func(t *testing.T, r rendered) {
				// the only Secret left may be the metrics scraper's token
				require.NotContains(t, r.names("Secret"), "vigil-connections")
			}},
		}},
		{"server NetworkPolicy", toggle("networkPolicy.server.enabled", "NetworkPolicy", "vigil-server",
			"networkPolicy.server.from", []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ingress-nginx"}}}})},
		{"worker NetworkPolicy", workerPolicy()},
		{"monitors", []setting{
			{"none", nil, func(t *testing.T, r rendered) {
				require.Empty(t, r.names("PodMonitor"))
				require.Empty(t, r.names("ServiceMonitor"))
			}},
			{"PodMonitor", values("metrics.podMonitor.enabled", true), func(t *testing.T, r rendered) {
				require.Equal(t, monitored(r), r.names("PodMonitor"))
			}},
			{"ServiceMonitor", values("metrics.serviceMonitor.enabled", true), func(t *testing.T, r rendered) {
				components := monitored(r)
				require.Equal(t, components, r.names("ServiceMonitor"))
				services := []string{"vigil"}
				for _, c := range components {
					if c != "vigil-server" {
						services = append(services, c+"-metrics")
					}
				}
				slices.Sort(services)
				require.Equal(t, services, r.names("Service"))
			}},
		}},
		{"PrometheusRule", toggle("metrics.prometheusRule.enabled", "PrometheusRule", "vigil")},
		{"Ingress", toggle("ingress.enabled", "Ingress", "vigil", "ingress.host", "vigil.example.com")},
		{"HTTPRoute", toggle("httpRoute.enabled", "HTTPRoute", "vigil",
			"httpRoute.parentRefs", []any{map[string]any{"name": "public", "namespace": "gateways"}})},
		{"server PDB", toggleOff("server.podDisruptionBudget.enabled", "PodDisruptionBudget", "vigil-server")},
		{"worker PDB", []setting{
			{"on", values("worker.podDisruptionBudget.enabled", true), workerBudgets(true)},
			{"off", values("worker.podDisruptionBudget.enabled", false), workerBudgets(false)},
		}},
		{"default-region workers", []setting{
			{"on", nil, func(t *testing.T, r rendered) {
				requireNoEnv(t, r.deployment(t, "vigil-worker"), "VIGIL_REGION")
			}},
			{"off", values("worker.defaultRegion.enabled", false), func(t *testing.T, r rendered) {
				require.NotContains(t, r.names("Deployment"), "vigil-worker")
			}},
		}},
		{"worker regions", []setting{
			{"none", nil, func(t *testing.T, r rendered) { require.Empty(t, regionalWorkers(r)) }},
			{"two", values("worker.regions", twoRegions), func(t *testing.T, r rendered) {
				require.Equal(t, []string{"vigil-worker-ap-south", "vigil-worker-eu-west"}, regionalWorkers(r))
				eu, ap := r.deployment(t, "vigil-worker-eu-west"), r.deployment(t, "vigil-worker-ap-south")
				require.Equal(t, "eu-west", env(t, eu, "VIGIL_REGION").Value)
				require.Equal(t, "ap-south", env(t, ap, "VIGIL_REGION").Value)
				require.Equal(t, map[string]string{"pool": "eu-west"}, eu.Spec.Template.Spec.NodeSelector)
				require.Equal(t, "eu-west", eu.Spec.Template.Spec.Tolerations[0].Value)
				require.Empty(t, ap.Spec.Template.Spec.Tolerations)
			}},
		}},
		{"aggregate to edit", []setting{
			{"off", nil, aggregation("vigil-servicecheck-editor", "edit", false)},
			{"on", values("rbac.aggregateToEdit", true), aggregation("vigil-servicecheck-editor", "edit", true)},
		}},
		{"aggregate to view", []setting{
			{"off", nil, aggregation("vigil-servicecheck-viewer", "view", false)},
			{"on", values("rbac.aggregateToView", true), aggregation("vigil-servicecheck-viewer", "view", true)},
		}},
		{"GOMEMLIMIT", []setting{
			{"from limits", nil, func(t *testing.T, r rendered) {
				for _, name := range r.names("Deployment") {
					ref := env(t, r.deployment(t, name), "GOMEMLIMIT").ValueFrom.ResourceFieldRef
					require.Equal(t, "limits.memory", ref.Resource, name)
				}
			}},
			{"off", values("goMemLimitFromLimits", false), func(t *testing.T, r rendered) {
				for _, name := range r.names("Deployment") {
					requireNoEnv(t, r.deployment(t, name), "GOMEMLIMIT")
				}
			}},
		}},
		{"operator metrics", []setting{
			{"secure", nil, operatorMetrics(true)},
			{"plain", values("operator.metrics.secure", false), operatorMetrics(false)},
		}},
		{"discovery", []setting{
			{"on", nil, operatorEnv("VIGIL_DISCOVERY", "true")},
			{"off", values("operator.discovery", false), operatorEnv("VIGIL_DISCOVERY", "false")},
		}},
		{"notifications", []setting{
			{"on", nil, notify("true")},
			{"off", values("notifications.enabled", false), notify("false")},
		}},
		{"auth for reads", []setting{
			{"on", nil, authReads("true")},
			{"writes only", values("auth.protectReads", false), authReads("false")},
		}},
		{"worker egress to the internet", []setting{
			{"on", nil, publicEgress(true)},
			{"off", values("networkPolicy.worker.publicInternet", false), publicEgress(false)},
		}},
		rule("checkDown", "VigilCheckDown"),
		rule("scheduleLag", "VigilScheduleLag"),
		rule("deadLetters", "VigilJobsDeadLettered"),
		rule("staleTicks", "VigilWorkersShedding"),
		rule("notificationFailures", "VigilNotificationsFailed"),
	}
}

// authReads checks VIGIL_AUTH_READS where auth is on; off, the server has
// no auth variables at all (the auth dimension checks that).
func authReads(want string) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		server := r.deployment(t, "vigil-server")
		if _, on := lookupEnv(server, "VIGIL_API_TOKENS_FILE"); !on {
			requireNoEnv(t, server, "VIGIL_AUTH_READS")
			return
		}
		require.Equal(t, want, env(t, server, "VIGIL_AUTH_READS").Value)
	}
}

// publicEgress checks the worker NetworkPolicy's rule to the public
// internet, where the policy is rendered.
func publicEgress(want bool) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		doc, ok := r["NetworkPolicy"]["vigil-worker"]
		if !ok {
			return
		}
		require.Equal(t, want, strings.Contains(string(doc), "cidr: 0.0.0.0/0"), "public internet egress")
	}
}

// rule is the dimension of one of the PrometheusRule's alerts, on by
// default; it checks the alert is in the rule exactly when on.
func rule(key, alert string) dimension {
	check := func(want bool) func(*testing.T, rendered) {
		return func(t *testing.T, r rendered) {
			doc, ok := r["PrometheusRule"]["vigil"]
			if !ok {
				return
			}
			require.Equal(t, want, strings.Contains(string(doc), "alert: "+alert+"\n"), alert)
		}
	}
	return dimension{"rule " + key, []setting{
		{"on", nil, check(true)},
		{"off", values("metrics.prometheusRule."+key+".enabled", false), check(false)},
	}}
}

// twoRegions are the worker.regions of the "worker regions" dimension:
// one region placed by its own nodeSelector and tolerations, one by
// affinity with its own resources and worker.replicas.
var twoRegions = []any{
	map[string]any{
		"name": "eu-west", "replicas": 3,
		"nodeSelector": map[string]any{"pool": "eu-west"},
		"tolerations":  []any{map[string]any{"key": "pool", "operator": "Equal", "value": "eu-west", "effect": "NoSchedule"}},
	},
	map[string]any{
		"name": "ap-south",
		"affinity": map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{
				"key": "topology.kubernetes.io/region", "operator": "In", "values": []any{"ap-south-1"},
			}}}},
		}}},
		"resources": map[string]any{"requests": map[string]any{"cpu": "200m", "memory": "128Mi"}, "limits": map[string]any{"memory": "512Mi"}},
	},
}

// workers are the rendered worker Deployments: the default region's and
// every named region's.
func workers(r rendered) []string {
	return slices.DeleteFunc(r.names("Deployment"), func(n string) bool { return n != "vigil-worker" && !strings.HasPrefix(n, "vigil-worker-") })
}

// regionalWorkers are the rendered Deployments of named regions.
func regionalWorkers(r rendered) []string {
	return slices.DeleteFunc(workers(r), func(n string) bool { return n == "vigil-worker" })
}

// workerBudgets checks that every worker Deployment has a
// PodDisruptionBudget of its own pods exactly when they are on.
func workerBudgets(on bool) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		for _, name := range workers(r) {
			doc, ok := r["PodDisruptionBudget"][name]
			require.Equal(t, on, ok, "PodDisruptionBudget %s", name)
			if !ok {
				continue
			}
			var pdb policyv1.PodDisruptionBudget
			require.NoError(t, yaml.UnmarshalStrict(doc, &pdb))
			require.Equal(t, r.deployment(t, name).Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels, name)
		}
		for _, name := range r.names("PodDisruptionBudget") {
			if strings.HasPrefix(name, "vigil-worker") {
				require.Contains(t, r.names("Deployment"), name, "a budget of workers that do not run")
			}
		}
	}
}

// workerPolicy is the worker NetworkPolicy's dimension: when on, its
// podSelector takes in every worker's pods, of every region, and neither
// the server's nor the operator's (their egress must stay open).
func workerPolicy() []setting {
	s := toggle("networkPolicy.worker.enabled", "NetworkPolicy", "vigil-worker", "worker.allowNetworks", "10.96.0.0/12,10.0.0.7")
	on := s[1].expect
	s[1].expect = func(t *testing.T, r rendered) {
		on(t, r)
		var np networkingv1.NetworkPolicy
		r.get(t, "NetworkPolicy", "vigil-worker", &np)
		for _, name := range r.names("Deployment") {
			worker := slices.Contains(workers(r), name)
			require.Equal(t, worker, selects(t, &np.Spec.PodSelector, r.deployment(t, name).Spec.Template.Labels), name)
		}
	}
	return s
}

// monitored are the monitors a rendering with monitors must have: the
// server's, the operator's, the default region's workers' when they run,
// and one for every named region's workers.
func monitored(r rendered) []string {
	out := []string{"vigil-operator", "vigil-server"}
	if slices.Contains(r.names("Deployment"), "vigil-worker") {
		out = append(out, "vigil-worker")
	}
	if len(regionalWorkers(r)) > 0 {
		out = append(out, "vigil-regional-worker")
	}
	slices.Sort(out)
	return out
}

// operatorMetrics checks the operator's /metrics setting and, when a
// monitor is rendered, that it scrapes the endpoint as it is served.
func operatorMetrics(secure bool) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		require.Equal(t, strconv.FormatBool(secure), env(t, r.deployment(t, "vigil-operator"), "VIGIL_OPERATOR_METRICS_SECURE").Value)
		monitors := 0
		for _, kind := range []string{"PodMonitor", "ServiceMonitor"} {
			if _, ok := r[kind]["vigil-operator"]; !ok {
				continue
			}
			monitors++
			ep := operatorEndpoint(t, r, kind)
			if secure {
				require.Equal(t, "https", ep["scheme"], kind)
				require.Contains(t, ep, "authorization", kind)
			} else {
				require.NotContains(t, ep, "scheme", kind)
				require.NotContains(t, ep, "authorization", kind)
			}
		}
		_, scraper := r["ServiceAccount"]["vigil-metrics-scraper"]
		require.Equal(t, secure && monitors > 0, scraper, "a scraper exactly when a monitor scrapes a secure endpoint")
	}
}

func operatorEnv(name, want string) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		require.Equal(t, want, env(t, r.deployment(t, "vigil-operator"), name).Value)
	}
}

func notify(want string) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		for _, name := range []string{"vigil-operator", "vigil-server"} {
			require.Equal(t, want, env(t, r.deployment(t, name), "VIGIL_NOTIFY").Value, name)
		}
	}
}

// toggle is a dimension whose second setting turns key on and renders the
// object kind/name, with more key-value pairs set alongside.
func toggle(key, kind, name string, more ...any) []setting {
	return []setting{
		{"off", nil, func(t *testing.T, r rendered) { require.NotContains(t, r.names(kind), name) }},
		{"on", values(append([]any{key, true}, more...)...), func(t *testing.T, r rendered) { require.Contains(t, r.names(kind), name) }},
	}
}

// toggleOff is a toggle that is on by default.
func toggleOff(key, kind, name string) []setting {
	s := toggle(key, kind, name)
	s[0].values, s[1].values = values(key, true), values(key, false)
	s[0].label, s[1].label = "on", "off"
	s[0].expect, s[1].expect = s[1].expect, s[0].expect
	return s
}

func aggregation(role, builtin string, want bool) func(*testing.T, rendered) {
	return func(t *testing.T, r rendered) {
		var labels struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		doc, ok := r["ClusterRole"][role]
		require.True(t, ok, role)
		require.NoError(t, yaml.Unmarshal(doc, &labels))
		_, got := labels.Metadata.Labels["rbac.authorization.k8s.io/aggregate-to-"+builtin]
		require.Equal(t, want, got, "%s aggregated to %s", role, builtin)
	}
}

// values builds a values tree from dotted keys and their values.
func values(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		parts := strings.Split(kv[i].(string), ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = kv[i+1]
	}
	return out
}

// merge deep-merges src into dst.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			merge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// combination is one setting per dimension, by index.
type combination []int

func (c combination) values(dims []dimension) map[string]any {
	out := map[string]any{}
	for i, s := range c {
		merge(out, dims[i].settings[s].values)
	}
	return out
}

func (c combination) String(dims []dimension) string {
	parts := make([]string, len(c))
	for i, s := range c {
		parts[i] = dims[i].name + "=" + dims[i].settings[s].label
	}
	return strings.Join(parts, ", ")
}

// requireAllPairs fails unless every setting of every dimension appears
// with every setting of every other dimension in some combination.
func requireAllPairs(t *testing.T, dims []dimension, combos []combination) {
	t.Helper()
	type pair struct{ d1, s1, d2, s2 int }
	seen := map[pair]bool{}
	for _, c := range combos {
		for d1, s1 := range c {
			for d2, s2 := range c {
				seen[pair{d1, s1, d2, s2}] = true
			}
		}
	}
	for d1 := range dims {
		for d2 := range dims {
			for s1 := range dims[d1].settings {
				for s2 := range dims[d2].settings {
					if d1 != d2 {
						require.True(t, seen[pair{d1, s1, d2, s2}], "%s=%s never meets %s=%s",
							dims[d1].name, dims[d1].settings[s1].label, dims[d2].name, dims[d2].settings[s2].label)
					}
				}
			}
		}
	}
}

// requireCommon checks what every rendering must have, whatever the
// toggles: the operator and server, a grace period longer than the drain,
// the shared-cluster deny list on every worker, and no Deployment whose
// selector matches another's pods (they would fight over them).
func requireCommon(t *testing.T, r rendered) {
	t.Helper()
	names := r.names("Deployment")
	require.Subset(t, names, []string{"vigil-operator", "vigil-server"})
	require.Equal(t, len(names), 2+len(workers(r)), "only the operator, the server and workers: %v", names)
	for _, name := range names {
		d := r.deployment(t, name)
		grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		require.NotNil(t, grace, name)
		require.Equal(t, "30s", env(t, d, "VIGIL_SHUTDOWN_TIMEOUT").Value, name)
		require.Greater(t, *grace, int64(30), "%s is killed before its drain ends", name)
		for _, other := range names {
			if other != name {
				require.False(t, selects(t, d.Spec.Selector, r.deployment(t, other).Spec.Template.Labels),
					"Deployment %s selects the pods of %s", name, other)
			}
		}
	}
	for _, name := range workers(r) {
		require.Equal(t, "shared-cluster", env(t, r.deployment(t, name), "VIGIL_DENY_NETWORKS").Value, name)
	}
}

// selects reports whether the label selector sel matches labels.
func selects(t *testing.T, sel *metav1.LabelSelector, labels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return s.Matches(k8slabels.Set(labels))
}

// comboBatch is how many combinations one helm run renders. Each becomes
// a subchart of a throwaway umbrella chart (renderMany), so the process
// start and chart loading are paid once per batch, not per combination.
const comboBatch = 128

// aliasPattern matches what an alias puts in a subchart's rendering: the
// fullname ("vigil-c00042") and the chart name ("c00042").
var (
	aliasPattern    = regexp.MustCompile(`(vigil-)?\bc\d{5}\b`)
	checksumPattern = regexp.MustCompile(`(checksum/connections:) [0-9a-f]{64}`)
)

// rendering is one rendering of the chart: its objects by kind and name,
// and the documents of each template file ("templates/server.yaml") in
// the order helm rendered them, joined.
type rendering struct {
	rendered
	sources map[string]string
}

// renderMany renders the chart once per values tree in one helm run: an
// umbrella chart depends on the chart under one alias per tree. Object
// names and labels derive from the alias, so each rendering is mapped back
// to what a release named "vigil" of the chart itself renders.
func renderMany(t *testing.T, vals []map[string]any) []rendering {
	t.Helper()
	dir := t.TempDir()
	sub := filepath.Join(dir, "charts", "vigil")
	copyChart(t, ".", sub)
	chart := map[string]any{"apiVersion": "v2", "name": "umbrella", "version": "0.0.0"}
	deps := make([]any, len(vals))
	parent := map[string]any{}
	for i, v := range vals {
		alias := fmt.Sprintf("c%05d", i)
		deps[i] = map[string]any{"name": "vigil", "version": chartVersion(t), "alias": alias}
		parent[alias] = v
	}
	chart["dependencies"] = deps
	writeYAML(t, filepath.Join(dir, "Chart.yaml"), chart)
	writeYAML(t, filepath.Join(dir, "values.yaml"), parent)

	out, err := helm(t, "template", release, dir, "--namespace", namespace)
	require.NoError(t, err, out)
	byAlias := map[string]rendering{}
	for doc := range strings.SplitSeq(out, "\n---") {
		// Where a document sits in helm's output (first, last, after a
		// template that rendered nothing) must not change its text: the
		// first keeps a leading "---" and blank lines vary.
		doc = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---"))
		source, file := sourceAlias(doc)
		if source == "" {
			continue
		}
		// The checksum was taken of the aliased Secret; it differs per alias
		// and would make every Deployment distinct.
		normalized := checksumPattern.ReplaceAllString(aliasPattern.ReplaceAllString(doc, "vigil"), "$1 normalized")
		r, ok := byAlias[source]
		if !ok {
			r = rendering{rendered: rendered{}, sources: map[string]string{}}
			byAlias[source] = r
		}
		require.NoError(t, r.add(normalized))
		r.sources[file] += normalized + "\n---"
	}
	all := make([]rendering, len(vals))
	for i := range vals {
		r, ok := byAlias[fmt.Sprintf("c%05d", i)]
		require.True(t, ok, "nothing rendered for combination %d", i)
		all[i] = r
	}
	return all
}

// sourceAlias is the subchart a document came from and its template
// file, read from helm's "# Source: umbrella/charts/c00042/templates/..."
// line.
func sourceAlias(doc string) (alias, file string) {
	const marker = "# Source: umbrella/charts/"
	_, rest, ok := strings.Cut(doc, marker)
	if !ok {
		return "", ""
	}
	rest, _, _ = strings.Cut(rest, "\n")
	alias, file, _ = strings.Cut(rest, "/")
	return alias, file
}

func copyChart(t *testing.T, from, to string) {
	t.Helper()
	for _, dir := range []string{"templates", "crds"} {
		require.NoError(t, os.CopyFS(filepath.Join(to, dir), os.DirFS(filepath.Join(from, dir))), dir)
	}
	for _, file := range []string{"Chart.yaml", "values.yaml", "values.schema.json"} {
		raw, err := os.ReadFile(filepath.Join(from, file))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, file), raw, 0o600))
	}
}

func chartVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("Chart.yaml")
	require.NoError(t, err)
	var c struct {
		Version string `json:"version"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &c))
	return c.Version
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
}
