package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakeRegistry is an in-memory Registry that keeps the store's contract:
// unique names among active services, history that outlives deletion,
// transitions on pause and resume, opaque cursors.
type fakeRegistry struct {
	mu          sync.Mutex
	now         func() time.Time
	nextID      int
	services    map[string]*fakeService
	results     map[string][]check.Result // oldest first
	transitions []check.Transition
	// failWith, when set, is returned by every method: a broken database.
	failWith error
	// panicWith, when set, makes every method panic: a bug.
	panicWith any
}

type fakeService struct {
	svc     registry.Service
	deleted bool
}

var _ Registry = (*fakeRegistry)(nil)

func newFakeRegistry(now func() time.Time) *fakeRegistry {
	return &fakeRegistry{now: now, services: map[string]*fakeService{}, results: map[string][]check.Result{}}
}

// enter starts every method. Like PostgreSQL, it refuses text holding NUL
// or invalid UTF-8 with an error that is no sentinel (a 500), so tests
// and fuzzing find any caller input the API lets through to storage.
func (f *fakeRegistry) enter(text ...string) error {
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	if f.failWith != nil {
		return f.failWith
	}
	for _, s := range text {
		if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
			return fmt.Errorf("ERROR: invalid byte sequence for encoding \"UTF8\" (SQLSTATE 22021)")
		}
	}
	return nil
}

// checkText is every string of c the store writes.
func checkText(c *check.Check) []string {
	return append([]string{c.ID, c.Name, string(c.Type), c.URL, c.Method, c.GRPCService}, c.Tags...)
}

func (f *fakeRegistry) nameTaken(name, exceptID string) bool {
	for id, s := range f.services {
		if !s.deleted && id != exceptID && s.svc.Name == name {
			return true
		}
	}
	return false
}

func cloneService(s registry.Service) registry.Service {
	s.Tags = slices.Clone(s.Tags)
	return s
}

func (f *fakeRegistry) CreateService(_ context.Context, c *check.Check) (registry.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(checkText(c)...); err != nil {
		return registry.Service{}, err
	}
	if f.nameTaken(c.Name, "") {
		return registry.Service{}, fmt.Errorf("create service: %w", registry.ErrNameTaken)
	}
	f.nextID++
	c.ID = fmt.Sprintf("svc-%d", f.nextID)
	now := f.now()
	c.CreatedAt, c.UpdatedAt = now, now
	st := check.Snapshot{State: check.StateUnknown}
	if c.Paused {
		st.State = check.StatePaused
	}
	svc := cloneService(registry.Service{Check: *c, State: st})
	f.services[c.ID] = &fakeService{svc: svc}
	return cloneService(svc), nil
}

func (f *fakeRegistry) active(id string) (*fakeService, error) {
	s, ok := f.services[id]
	if !ok || s.deleted {
		return nil, fmt.Errorf("service %s: %w", id, registry.ErrNotFound)
	}
	return s, nil
}

func (f *fakeRegistry) GetService(_ context.Context, id string) (registry.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(id); err != nil {
		return registry.Service{}, err
	}
	s, err := f.active(id)
	if err != nil {
		return registry.Service{}, err
	}
	return cloneService(s.svc), nil
}

func (f *fakeRegistry) ListServices(_ context.Context, flt registry.ListFilter) ([]registry.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(flt.Tag); err != nil {
		return nil, err
	}
	var out []registry.Service
	for _, s := range f.services {
		if s.deleted || flt.State != "" && s.svc.State.State != flt.State ||
			flt.Tag != "" && !slices.Contains(s.svc.Tags, flt.Tag) {
			continue
		}
		out = append(out, cloneService(s.svc))
	}
	slices.SortFunc(out, func(a, b registry.Service) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeRegistry) UpdateService(_ context.Context, id string, mutate func(*check.Check) error) (registry.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(id); err != nil {
		return registry.Service{}, err
	}
	s, err := f.active(id)
	if err != nil {
		return registry.Service{}, err
	}
	c := cloneService(s.svc).Check
	if err := mutate(&c); err != nil {
		return registry.Service{}, err
	}
	if err := f.enter(checkText(&c)...); err != nil {
		return registry.Service{}, err
	}
	if f.nameTaken(c.Name, id) {
		return registry.Service{}, fmt.Errorf("update service: %w", registry.ErrNameTaken)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, s.svc.CreatedAt, f.now()
	s.svc.Check = c
	return cloneService(s.svc), nil
}

func (f *fakeRegistry) DeleteService(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(id); err != nil {
		return err
	}
	s, err := f.active(id)
	if err != nil {
		return err
	}
	s.deleted = true
	return nil
}

func (f *fakeRegistry) SetPaused(_ context.Context, id string, paused bool) (registry.Service, *check.Transition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(id); err != nil {
		return registry.Service{}, nil, err
	}
	s, err := f.active(id)
	if err != nil {
		return registry.Service{}, nil, err
	}
	now := f.now()
	from := s.svc.State.State
	var changed bool
	if paused {
		s.svc.State, changed = check.Pause(s.svc.State, now)
	} else {
		s.svc.State, changed = check.Resume(s.svc.State, now)
	}
	s.svc.Paused = paused
	if !changed {
		return cloneService(s.svc), nil, nil
	}
	t := f.addTransition(check.Transition{CheckID: id, Service: s.svc.Name, From: from, To: s.svc.State.State, At: now})
	return cloneService(s.svc), &t, nil
}

// addTransition appends t to the log with the next id; the caller holds mu.
func (f *fakeRegistry) addTransition(t check.Transition) check.Transition {
	t.ID = int64(len(f.transitions) + 1)
	f.transitions = append(f.transitions, t)
	return t
}

func (f *fakeRegistry) known(id string) error {
	if _, ok := f.services[id]; !ok {
		return fmt.Errorf("service %s: %w", id, registry.ErrNotFound)
	}
	return nil
}

func (f *fakeRegistry) Results(_ context.Context, checkID string, q registry.ResultQuery) ([]check.Result, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(checkID, q.Cursor); err != nil {
		return nil, "", err
	}
	if err := f.known(checkID); err != nil {
		return nil, "", err
	}
	skip := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(q.Cursor, "c"))
		if !strings.HasPrefix(q.Cursor, "c") || err != nil || n < 0 {
			return nil, "", fmt.Errorf("results: %w", registry.ErrInvalidCursor)
		}
		skip = n
	}
	var match []check.Result
	all := f.results[checkID]
	for i := len(all) - 1; i >= 0; i-- {
		r := all[i]
		if !q.Since.IsZero() && r.ScheduledAt.Before(q.Since) || !q.Until.IsZero() && r.ScheduledAt.After(q.Until) {
			continue
		}
		match = append(match, r)
	}
	if skip > len(match) {
		skip = len(match)
	}
	page := match[skip:]
	next := ""
	if q.Limit > 0 && len(page) > q.Limit {
		page = page[:q.Limit]
		next = "c" + strconv.Itoa(skip+q.Limit)
	}
	return slices.Clone(page), next, nil
}

func (f *fakeRegistry) Transitions(_ context.Context, q registry.TransitionQuery) ([]check.Transition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(q.CheckID); err != nil {
		return nil, err
	}
	var out []check.Transition
	for _, t := range f.transitions {
		if (q.CheckID == "" || t.CheckID == q.CheckID) && t.ID > q.AfterID {
			out = append(out, t)
		}
	}
	if q.Newest {
		slices.Reverse(out)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (f *fakeRegistry) Uptime(_ context.Context, checkID string, since, until time.Time) (registry.Uptime, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(checkID); err != nil {
		return registry.Uptime{}, err
	}
	if err := f.known(checkID); err != nil {
		return registry.Uptime{}, err
	}
	var u registry.Uptime
	for _, r := range f.results[checkID] {
		if r.ScheduledAt.Before(since) || !r.ScheduledAt.Before(until) {
			continue
		}
		u.Checks++
		if !r.Success() {
			u.Failures++
		}
	}
	return u, nil
}

func (f *fakeRegistry) ServiceExists(_ context.Context, id string, includeDeleted bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(id); err != nil {
		return false, err
	}
	s, ok := f.services[id]
	return ok && (includeDeleted || !s.deleted), nil
}

// addResult records a probe result the way a worker would.
func (f *fakeRegistry) addResult(r check.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results[r.CheckID] = append(f.results[r.CheckID], r)
}

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
