package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakeRegistry is an in-memory Registry. Its err fields make the next
// call of that method fail.
type fakeRegistry struct {
	mu       sync.Mutex
	services map[string]registry.Service
	nextID   int64
	now      func() time.Time

	upsertErr, deleteErr, getErr, pauseErr error
	upserts, deletes, pauses               int
}

var _ Registry = (*fakeRegistry)(nil)

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{services: map[string]registry.Service{}, now: time.Now}
}

func (f *fakeRegistry) UpsertService(_ context.Context, c *check.Check) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upserts++
	if f.upsertErr != nil {
		return f.upsertErr
	}
	svc, ok := f.services[c.ID]
	if !ok {
		svc.State = check.Snapshot{State: check.StateUnknown}
	}
	svc.Check = *c
	svc.Tags = append([]string(nil), c.Tags...)
	f.services[c.ID] = svc
	return nil
}

func (f *fakeRegistry) DeleteService(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes++
	if f.deleteErr != nil {
		return f.deleteErr
	}
	if _, ok := f.services[id]; !ok {
		return registry.ErrNotFound
	}
	delete(f.services, id)
	return nil
}

func (f *fakeRegistry) GetService(_ context.Context, id string) (registry.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return registry.Service{}, f.getErr
	}
	svc, ok := f.services[id]
	if !ok {
		return registry.Service{}, registry.ErrNotFound
	}
	return svc, nil
}

func (f *fakeRegistry) SetPaused(_ context.Context, id string, paused bool) (registry.Service, *check.Transition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pauses++
	if f.pauseErr != nil {
		return registry.Service{}, nil, f.pauseErr
	}
	svc, ok := f.services[id]
	if !ok {
		return registry.Service{}, nil, registry.ErrNotFound
	}
	now := f.now()
	next, changed := check.Resume(svc.State, now)
	if paused {
		next, changed = check.Pause(svc.State, now)
	}
	svc.Paused = paused
	var t *check.Transition
	if changed {
		f.nextID++
		t = &check.Transition{ID: f.nextID, CheckID: id, Service: svc.Name, From: svc.State.State, To: next.State, At: now}
	}
	svc.State = next
	f.services[id] = svc
	return svc, t, nil
}

// get returns a copy of the row with id, and whether there is one.
func (f *fakeRegistry) get(id string) (registry.Service, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc, ok := f.services[id]
	return svc, ok
}

// set replaces the snapshot of the row with id, as a worker would.
func (f *fakeRegistry) setState(id string, s check.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.services[id]
	svc.State = s
	f.services[id] = svc
}

func (f *fakeRegistry) counts() (upserts, deletes, pauses int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upserts, f.deletes, f.pauses
}
