package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry/registrytest"
)

// fakeRegistry is registrytest's in-memory registry, which the scenario
// table holds to the store's contract (unique names, history that outlives
// deletion, transitions on pause and resume, opaque cursors, text
// PostgreSQL refuses), plus the ways the API's tests break it.
type fakeRegistry struct {
	*registrytest.Memory
	// failWith, when set, is returned by every method: a broken database.
	failWith error
	// panicWith, when set, makes every method panic: a bug.
	panicWith any
}

var _ Registry = (*fakeRegistry)(nil)

func newFakeRegistry(now func() time.Time) *fakeRegistry {
	f := &fakeRegistry{Memory: registrytest.NewMemory(now)}
	f.Hook = func(string) error {
		if f.panicWith != nil {
			panic(f.panicWith)
		}
		return f.failWith
	}
	return f
}

// The API's fake keeps the contract the store keeps.
func TestFakeRegistryKeepsTheContract(t *testing.T) {
	registrytest.Run(t, func(*testing.T) registrytest.Subject {
		f := newFakeRegistry(nil)
		return registrytest.Subject{Registry: f, AddResults: func(_ context.Context, rs []check.Result) error {
			for _, r := range rs {
				f.addResult(r)
			}
			return nil
		}}
	})
}

// addResult records a probe result the way a worker would.
func (f *fakeRegistry) addResult(r check.Result) { f.AddResult(r) }

// mustCreate registers a service behind the API's back, as the operator's
// reconciler does in Kubernetes mode.
func (f *fakeRegistry) mustCreate(t testing.TB, name string) string {
	t.Helper()
	c := &check.Check{Name: name, URL: "https://" + name + ".example/healthz", Interval: 10 * time.Second, Source: "kubernetes"}
	c.SetDefaults()
	require.NoError(t, c.Validate())
	svc, err := f.CreateService(t.Context(), c)
	require.NoError(t, err)
	return svc.ID
}
