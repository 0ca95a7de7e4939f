// Package chart tests the Helm chart by rendering it with the pinned helm
// binary and checking that the manifests name everything the operator,
// workers and servers need. It holds no code of its own.
package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/internal/kubetest"
)

const (
	release   = "vigil"
	namespace = "vigil-system"
	crdFile   = "monitoring.vigil.dev_servicechecks.yaml"
)

// helmBinary is VIGIL_HELM, or the helm hack/envtest/install.sh builds
// into the per-machine cache. A missing binary fails the test with the
// command that builds it.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("VIGIL_HELM")
	if bin == "" {
		bin = filepath.Join(kubetest.Cache(t), "bin", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm is missing at %s: build it once per machine with `hack/envtest/install.sh helm` (or `make envtest-assets`)", bin)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = "."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stderr.String(), err
	}
	return stdout.String(), nil
}

// rendered is a rendered chart, indexed by kind and name.
type rendered map[string]map[string][]byte

func render(t *testing.T, set ...string) rendered {
	t.Helper()
	args := []string{"template", release, ".", "--namespace", namespace, "--include-crds"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	require.NoError(t, err, out)
	return parse(t, out)
}

// renderValues renders the chart with a values file holding vals; it
// returns helm's error output when helm fails.
func renderValues(t *testing.T, vals map[string]any) (rendered, string, error) {
	t.Helper()
	// Not t.TempDir: helm splits -f on commas, which subtest names hold.
	dir, err := os.MkdirTemp("", "vigil-values") //nolint:usetesting // see above
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "values.yaml")
	writeYAML(t, file, vals)
	out, err := helm(t, "template", release, ".", "--namespace", namespace, "-f", file)
	if err != nil {
		return nil, out, err
	}
	return parse(t, out), "", nil
}

func parse(t *testing.T, out string) rendered {
	t.Helper()
	r := rendered{}
	for doc := range strings.SplitSeq(out, "\n---") {
		require.NoError(t, r.add(doc))
	}
	return r
}

// add indexes one YAML document; documents without a kind (comments,
// templates that rendered nothing) are skipped.
func (r rendered) add(doc string) error {
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return fmt.Errorf("%w in\n%s", err, doc)
	}
	if head.Kind == "" {
		return nil
	}
	if r[head.Kind] == nil {
		r[head.Kind] = map[string][]byte{}
	}
	if _, dup := r[head.Kind][head.Metadata.Name]; dup {
		return fmt.Errorf("duplicate %s %q", head.Kind, head.Metadata.Name)
	}
	r[head.Kind][head.Metadata.Name] = []byte(doc)
	return nil
}

// deployment decodes the Deployment called name. Decodings are kept by
// document, since the combinations test reads the same few thousand times.
func (r rendered) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	doc, ok := r["Deployment"][name]
	require.True(t, ok, "no Deployment %q rendered; have %v", name, r.names("Deployment"))
	decodedMu.Lock()
	defer decodedMu.Unlock()
	if d, ok := decoded[string(doc)]; ok {
		return d
	}
	var d appsv1.Deployment
	require.NoError(t, yaml.UnmarshalStrict(doc, &d))
	decoded[string(doc)] = &d
	return &d
}

var (
	decodedMu sync.Mutex
	decoded   = map[string]*appsv1.Deployment{}
)

// get decodes the object of kind and name into obj.
func (r rendered) get(t *testing.T, kind, name string, obj any) {
	t.Helper()
	doc, ok := r[kind][name]
	require.True(t, ok, "no %s %q rendered; have %v", kind, name, r.names(kind))
	require.NoError(t, yaml.UnmarshalStrict(doc, obj))
}

func (r rendered) names(kind string) []string {
	var names []string
	for n := range r[kind] {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestChartLints(t *testing.T) {
	out, err := helm(t, "lint", "--strict", ".")
	require.NoError(t, err, out)
}

func TestChartRenders(t *testing.T) {
	tests := []struct {
		name                string
		set                 []string
		workers, servers    int32
		concurrency, imgTag string
		deny, allow         string
	}{
		// A chart is for clusters, where a probe must not reach the
		// cluster itself unless allowed; compose keeps link-local only.
		{"default values", nil, 2, 2, "1024", "0.1.0", "shared-cluster", ""},
		{"three replicas", []string{"worker.replicas=3", "server.replicas=3", "worker.concurrency=64", "image.tag=v9",
			`worker.denyNetworks=shared-cluster\,203.0.113.0/24`, "worker.allowNetworks=10.20.0.0/16"},
			3, 3, "64", "v9", "shared-cluster,203.0.113.0/24", "10.20.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.set...)

			var crd apiextensionsv1.CustomResourceDefinition
			r.get(t, "CustomResourceDefinition", "servicechecks.monitoring.vigil.dev", &crd)
			require.Equal(t, "ServiceCheck", crd.Spec.Names.Kind)
			require.Contains(t, crd.Spec.Names.ShortNames, "sc")
			for name, kind := range map[string]string{"statuspages.monitoring.vigil.dev": "StatusPage", "alertchannels.monitoring.vigil.dev": "AlertChannel"} {
				r.get(t, "CustomResourceDefinition", name, &crd)
				require.Equal(t, kind, crd.Spec.Names.Kind)
			}

			want := map[string]int32{"vigil-operator": 1, "vigil-worker": tt.workers, "vigil-server": tt.servers}
			require.ElementsMatch(t, []string{"vigil-operator", "vigil-worker", "vigil-server"}, r.names("Deployment"))
			for name, replicas := range want {
				var d appsv1.Deployment
				r.get(t, "Deployment", name, &d)
				requireDeployment(t, &d, replicas, tt.imgTag)
			}

			var worker, server, operator appsv1.Deployment
			r.get(t, "Deployment", "vigil-worker", &worker)
			r.get(t, "Deployment", "vigil-server", &server)
			r.get(t, "Deployment", "vigil-operator", &operator)
			require.Equal(t, []string{"worker"}, worker.Spec.Template.Spec.Containers[0].Args)
			require.Equal(t, tt.concurrency, env(t, &worker, "VIGIL_WORKER_CONCURRENCY").Value)
			require.Equal(t, ":8080", env(t, &worker, "VIGIL_METRICS_ADDR").Value, "the worker serves its probes and metrics there")
			require.Equal(t, tt.deny, env(t, &worker, "VIGIL_DENY_NETWORKS").Value)
			require.Equal(t, tt.allow, env(t, &worker, "VIGIL_ALLOW_NETWORKS").Value)
			require.Equal(t, "GET,HEAD,OPTIONS", env(t, &worker, "VIGIL_PROBE_METHODS").Value)
			require.Equal(t, "GET,HEAD,OPTIONS", env(t, &operator, "VIGIL_PROBE_METHODS").Value, "registration allows what workers send")
			require.Equal(t, "128", env(t, &worker, "VIGIL_PROBE_MAX_PER_HOST").Value)
			require.Equal(t, "60s", env(t, &worker, "VIGIL_MAX_JOB_AGE").Value)
			require.Equal(t, "-1s", env(t, &worker, "VIGIL_MAX_QUEUE_WAIT").Value, "the worker package's default: off")
			require.Empty(t, env(t, &server, "VIGIL_ALLOWED_HOSTS").Value)
			require.Equal(t, "10000", env(t, &server, "VIGIL_WS_MAX_CLIENTS").Value)
			require.Equal(t, "64", env(t, &server, "VIGIL_WS_MAX_CLIENTS_PER_ADDR").Value)
			require.Equal(t, []string{"server", "--kubernetes"}, server.Spec.Template.Spec.Containers[0].Args)
			require.Equal(t, ":8080", env(t, &server, "VIGIL_HTTP_ADDR").Value)
			args := operator.Spec.Template.Spec.Containers[0].Args
			require.Equal(t, "operator", args[0])
			require.Contains(t, args, "--leader-elect")
			require.Contains(t, args, "--metrics-bind-address=:8080")
			require.Contains(t, args, "--health-probe-bind-address=:8081")

			// Only the operator may talk to the Kubernetes API.
			require.Equal(t, "vigil-operator", operator.Spec.Template.Spec.ServiceAccountName)
			for _, d := range []appsv1.Deployment{worker, server} {
				require.NotNil(t, d.Spec.Template.Spec.AutomountServiceAccountToken)
				require.False(t, *d.Spec.Template.Spec.AutomountServiceAccountToken)
			}
			r.get(t, "ServiceAccount", "vigil-operator", &corev1.ServiceAccount{})

			var svc corev1.Service
			r.get(t, "Service", "vigil", &svc)
			require.Equal(t, server.Spec.Selector.MatchLabels, svc.Spec.Selector)

			var secret corev1.Secret
			r.get(t, "Secret", "vigil-connections", &secret)
			require.Contains(t, secret.StringData, "database-url")
			require.Contains(t, secret.StringData, "amqp-url")
		})
	}
}

func requireDeployment(t *testing.T, d *appsv1.Deployment, replicas int32, tag string) {
	t.Helper()
	require.NotNil(t, d.Spec.Replicas)
	require.Equal(t, replicas, *d.Spec.Replicas, d.Name)
	require.Equal(t, d.Spec.Selector.MatchLabels, subset(d.Spec.Template.Labels, d.Spec.Selector.MatchLabels), "selector must match the pod labels")
	pod := d.Spec.Template.Spec
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.SecurityContext.RunAsNonRoot, d.Name)
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.Equal(t, "ghcr.io/vigil-dev/vigil:"+tag, c.Image)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem, d.Name)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation, d.Name)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, d.Name)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, d.Name)
	require.NotEmpty(t, c.Resources.Requests, d.Name)
	for _, name := range []string{"VIGIL_DATABASE_URL", "VIGIL_AMQP_URL"} {
		e := env(t, d, name)
		require.NotNil(t, e.ValueFrom, "%s of %s must come from a Secret", name, d.Name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef)
	}
}

func env(t *testing.T, d *appsv1.Deployment, name string) corev1.EnvVar {
	t.Helper()
	e, ok := lookupEnv(d, name)
	if !ok {
		t.Fatalf("%s has no env %s", d.Name, name)
	}
	return e
}

// lookupEnv finds the last definition of name, the one that takes effect.
func lookupEnv(d *appsv1.Deployment, name string) (corev1.EnvVar, bool) {
	envs := d.Spec.Template.Spec.Containers[0].Env
	for _, e := range slices.Backward(envs) {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func requireNoEnv(t *testing.T, d *appsv1.Deployment, name string) {
	t.Helper()
	_, ok := lookupEnv(d, name)
	require.False(t, ok, "%s must not set %s", d.Name, name)
}

func subset(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestChartGrantsOperatorRBAC keeps the chart's ClusterRoles in step with
// the ones controller-gen generates from the reconcilers' RBAC markers
// (config/rbac/role.yaml) and kustomize ships (metrics_reader_role.yaml):
// a grant the operator needs and the chart lacks, or one the chart adds
// beyond them, fails here instead of in a cluster.
func TestChartGrantsOperatorRBAC(t *testing.T) {
	r := render(t)
	for _, tt := range []struct{ file, role string }{
		{"role.yaml", "vigil-operator"},
		{"metrics_reader_role.yaml", "vigil-metrics-reader"},
	} {
		generated := readRole(t, tt.file)
		var chart rbacv1.ClusterRole
		r.get(t, "ClusterRole", tt.role, &chart)
		require.Empty(t, missingGrants(generated.Rules, chart.Rules), "%s lacks grants config/rbac/%s has", tt.role, tt.file)
		require.Empty(t, missingGrants(chart.Rules, generated.Rules), "%s grants more than config/rbac/%s", tt.role, tt.file)
	}

	var binding rbacv1.ClusterRoleBinding
	r.get(t, "ClusterRoleBinding", "vigil-operator", &binding)
	require.Equal(t, "vigil-operator", binding.RoleRef.Name)
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vigil-operator", Namespace: namespace}}, binding.Subjects)

	var le rbacv1.Role
	r.get(t, "Role", "vigil-leader-election", &le)
	for _, verb := range []string{"get", "create", "update"} {
		require.True(t, allows(le.Rules, "coordination.k8s.io", "leases", verb), verb)
	}
	var leBinding rbacv1.RoleBinding
	r.get(t, "RoleBinding", "vigil-leader-election", &leBinding)
	require.Equal(t, "vigil-operator", leBinding.Subjects[0].Name)
}

// TestChartRBACComparisonFindsGaps shows that the comparison of
// TestChartGrantsOperatorRBAC can fail: every grant of the generated role
// dropped from a copy of it is reported, resource and non-resource alike.
func TestChartRBACComparisonFindsGaps(t *testing.T) {
	for _, file := range []string{"role.yaml", "metrics_reader_role.yaml"} {
		generated := readRole(t, file)
		for i, rule := range generated.Rules {
			fewer := slices.Delete(slices.Clone(generated.Rules), i, i+1)
			missing := missingGrants(generated.Rules, fewer)
			require.Len(t, missing, len(rule.Verbs)*max(1, len(rule.APIGroups))*max(len(rule.Resources), len(rule.NonResourceURLs)), "%s rule %d", file, i)
		}
	}
}

func readRole(t *testing.T, file string) rbacv1.ClusterRole {
	t.Helper()
	var role rbacv1.ClusterRole
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", file))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &role))
	require.NotEmpty(t, role.Rules, file)
	return role
}

// missingGrants lists every verb on a resource (or non-resource URL) that
// want grants and have does not.
func missingGrants(want, have []rbacv1.PolicyRule) []string {
	var missing []string
	for _, rule := range want {
		for _, verb := range rule.Verbs {
			for _, url := range rule.NonResourceURLs {
				if !allowsURL(have, url, verb) {
					missing = append(missing, verb+" "+url)
				}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					if !allows(have, g, res, verb) {
						missing = append(missing, fmt.Sprintf("%s %s/%s", verb, g, res))
					}
				}
			}
		}
	}
	return missing
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func allowsURL(rules []rbacv1.PolicyRule, url, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.NonResourceURLs, url) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func TestChartUsesExistingSecrets(t *testing.T) {
	r := render(t, "postgres.existingSecret=pg", "postgres.existingSecretKey=url", "amqp.existingSecret=mq")
	require.Empty(t, r.names("Secret"), "no Secret of the chart's own when both are given")
	var d appsv1.Deployment
	r.get(t, "Deployment", "vigil-worker", &d)
	ref := env(t, &d, "VIGIL_DATABASE_URL").ValueFrom.SecretKeyRef
	require.Equal(t, "pg", ref.Name)
	require.Equal(t, "url", ref.Key)
	ref = env(t, &d, "VIGIL_AMQP_URL").ValueFrom.SecretKeyRef
	require.Equal(t, "mq", ref.Name)
	require.Equal(t, "amqp-url", ref.Key)
}

func TestChartRequiresConnections(t *testing.T) {
	for _, set := range []string{"postgres.url=", "amqp.url="} {
		t.Run(set, func(t *testing.T) {
			out, err := helm(t, "template", release, ".", "--set", set)
			require.Error(t, err)
			require.Contains(t, out, "is required")
		})
	}
}

// TestChartCRDIsCurrent fails when the chart's copy of a CRD differs from
// the one controller-gen generates, or one is missing (`make manifests`
// copies every CRD into crds/).
func TestChartCRDIsCurrent(t *testing.T) {
	bases := filepath.Join("..", "..", "config", "crd", "bases")
	generated, err := filepath.Glob(filepath.Join(bases, "*.yaml"))
	require.NoError(t, err)
	chartCRDs, err := filepath.Glob(filepath.Join("crds", "*.yaml"))
	require.NoError(t, err)
	names := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	require.Equal(t, names(generated), names(chartCRDs), "run `make manifests`")
	require.Contains(t, names(chartCRDs), crdFile)
	for _, file := range names(generated) {
		want, err := os.ReadFile(filepath.Join(bases, file))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join("crds", file))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s: run `make manifests`", file)
	}
}
