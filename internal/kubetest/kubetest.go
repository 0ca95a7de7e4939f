// Package kubetest starts a real kube-apiserver and etcd (controller-runtime
// envtest) with Vigil's CRDs installed, from binaries built offline by
// hack/envtest/install.sh into a per-machine cache.
package kubetest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// K8sVersion must match K8S_VERSION in hack/envtest/install.sh.
const K8sVersion = "1.37.2"

// Cache is the per-machine folder hack/envtest/install.sh fills:
// $VIGIL_ENVTEST_CACHE, or vigil/envtest under the user's cache folder.
func Cache(tb testing.TB) string {
	tb.Helper()
	if cache := os.Getenv("VIGIL_ENVTEST_CACHE"); cache != "" {
		return cache
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("find the envtest cache: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "vigil", "envtest")
}

// Assets finds kube-apiserver and etcd: $KUBEBUILDER_ASSETS, or the
// per-machine cache that hack/envtest/install.sh fills. Missing binaries
// fail the test with the command that builds them; they never skip it.
func Assets(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(Cache(tb), "k8s", K8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			tb.Fatalf("envtest binary %s is missing in %s: build it once per machine with "+
				"`hack/envtest/install.sh` (or `make envtest-assets`), which takes several minutes offline", bin, dir)
		}
	}
	return dir
}

// Start runs an API server with the CRDs under crdDir (and in the further
// folders or files of more, such as a third party's CRD) and stops it when
// the test ends.
func Start(tb testing.TB, crdDir string, more ...string) *rest.Config {
	tb.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     append([]string{crdDir}, more...),
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: Assets(tb),
	}
	cfg, err := env.Start()
	if err != nil {
		tb.Fatalf("start envtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("stop envtest: %v", err)
		}
	})
	return cfg
}
