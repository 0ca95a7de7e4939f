package chart

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/internal/kubetest"
)

// apiServer is a real kube-apiserver (envtest) with the chart's CRD and the
// third-party CRDs of the objects the chart may render (testdata/crds,
// written by testdata/crdgen).
type apiServer struct {
	c client.Client
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"crds", "testdata/crds"},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: kubetest.Assets(t),
	}
	cfg, err := env.Start()
	require.NoError(t, err, "start envtest")
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	require.NoError(t, err)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	require.NoError(t, c.Create(context.Background(), ns))
	return &apiServer{c: c}
}

// dryRunApply sends one rendered object to the API server as a create
// with dryRun=All and strict field validation: the server decodes it
// against the kind's schema (refusing any field it does not declare, which
// for a CRD would otherwise be pruned silently), runs validation, CEL rules
// and admission, and stores nothing. Namespaced objects go to the
// release's namespace, as helm would install them.
func (a *apiServer) dryRunApply(t *testing.T, doc []byte) error {
	t.Helper()
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		return err
	}
	namespaced, err := a.c.IsObjectNamespaced(&u)
	if err != nil {
		return err
	}
	if namespaced && u.GetNamespace() == "" {
		u.SetNamespace(namespace)
	}
	return a.c.Create(context.Background(), &u, client.DryRunAll, client.FieldValidation("Strict"))
}

// TestDryRunRefusesBrokenManifests shows that the dry run of
// TestChartEveryCombination can fail: objects the API server would
// refuse, of built-in kinds and of each third-party CRD, are refused.
func TestDryRunRefusesBrokenManifests(t *testing.T) {
	api := startAPIServer(t)
	r := render(t, "metrics.podMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
		"httpRoute.enabled=true", "httpRoute.parentRefs[0].name=public")
	good := func(kind, name string) []byte {
		doc, ok := r[kind][name]
		require.True(t, ok, "%s %s", kind, name)
		require.NoError(t, api.dryRunApply(t, doc), "the unbroken %s must pass", kind)
		return doc
	}
	tests := []struct {
		name string
		doc  []byte
	}{
		{"unknown Deployment field", edit(t, good("Deployment", "vigil-worker"), func(o map[string]any) {
			dig(o, "spec")["replica"] = 3
		})},
		{"invalid env var", edit(t, good("Deployment", "vigil-server"), func(o map[string]any) {
			c := dig(o, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			c["env"] = []any{map[string]any{"name": "", "value": "x"}}
		})},
		{"PDB with both budgets", edit(t, good("PodDisruptionBudget", "vigil-worker"), func(o map[string]any) {
			dig(o, "spec")["minAvailable"] = 1
		})},
		{"unknown PodMonitor field", edit(t, good("PodMonitor", "vigil-worker"), func(o map[string]any) {
			dig(o, "spec")["podMetricEndpoints"] = []any{}
		})},
		{"PrometheusRule without expressions", edit(t, good("PrometheusRule", "vigil"), func(o map[string]any) {
			group := dig(o, "spec")["groups"].([]any)[0].(map[string]any)
			group["rules"] = []any{map[string]any{"alert": "X"}}
		})},
		{"HTTPRoute backend without a port", edit(t, good("HTTPRoute", "vigil"), func(o map[string]any) {
			rule := dig(o, "spec")["rules"].([]any)[0].(map[string]any)
			delete(rule["backendRefs"].([]any)[0].(map[string]any), "port")
		})},
		{"ServiceCheck CRD's own rules", []byte(`apiVersion: monitoring.vigil.dev/v1alpha1
kind: ServiceCheck
metadata: {name: bad}
spec: {url: "https://example.com/", interval: 5s, timeout: 10s}
`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, api.dryRunApply(t, tt.doc))
		})
	}
}

func edit(t *testing.T, doc []byte, change func(map[string]any)) []byte {
	t.Helper()
	var o map[string]any
	require.NoError(t, yaml.Unmarshal(doc, &o))
	change(o)
	out, err := yaml.Marshal(o)
	require.NoError(t, err)
	return out
}

func dig(o map[string]any, path ...string) map[string]any {
	for _, p := range path {
		o = o[p].(map[string]any)
	}
	return o
}
