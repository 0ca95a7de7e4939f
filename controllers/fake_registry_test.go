package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/registry/registrytest"
)

// fakeRegistry is registrytest's in-memory registry, which the scenario
// table holds to the store's contract, plus what the operator's tests
// need: its err fields make the next call of that method fail, and calls
// are counted.
type fakeRegistry struct {
	*registrytest.Memory

	mu                                     sync.Mutex
	upsertErr, deleteErr, getErr, pauseErr error
	upserts, deletes, pauses               int
}

var _ Registry = (*fakeRegistry)(nil)

// registeredAt is the fake registry's clock: checks are registered (and
// their state starts) before any transition the tests feed, as they are
// in production.
var registeredAt = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func newFakeRegistry() *fakeRegistry {
	f := &fakeRegistry{Memory: registrytest.NewMemory(func() time.Time { return registeredAt })}
	f.Hook = f.hook
	return f
}

// hook counts the operator's calls and fails those a test broke.
func (f *fakeRegistry) hook(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch method {
	case "UpsertService":
		f.upserts++
		return f.upsertErr
	case "DeleteService":
		f.deletes++
		return f.deleteErr
	case "GetService":
		return f.getErr
	case "SetPaused":
		f.pauses++
		return f.pauseErr
	}
	return nil
}

// The operator's fake keeps the contract the store keeps.
func TestFakeRegistryKeepsTheContract(t *testing.T) {
	registrytest.Run(t, func(*testing.T) registrytest.Subject {
		f := newFakeRegistry()
		return registrytest.Subject{Registry: f, AddResults: func(_ context.Context, rs []check.Result) error {
			for _, r := range rs {
				f.AddResult(r)
			}
			return nil
		}}
	})
}

// register creates an active row with id and name, as an earlier
// reconcile would have.
func (f *fakeRegistry) register(id, name string) {
	c := &check.Check{ID: id, Name: name, URL: "http://127.0.0.1:1/", Interval: DefaultInterval, Source: Source}
	c.SetDefaults()
	if _, err := f.CreateService(context.Background(), c); err != nil {
		panic(err)
	}
}

// get returns a copy of the active row with id, and whether there is one.
func (f *fakeRegistry) get(id string) (registry.Service, bool) { return f.Lookup(id) }

// setState replaces the snapshot of the row with id, as a worker would.
func (f *fakeRegistry) setState(id string, s check.Snapshot) { f.SetState(id, s) }

func (f *fakeRegistry) counts() (upserts, deletes, pauses int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upserts, f.deletes, f.pauses
}
