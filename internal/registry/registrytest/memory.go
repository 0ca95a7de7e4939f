// Package registrytest holds the one in-memory registry that unit tests
// use instead of the PostgreSQL store, and the scenario table that holds
// both to the same contract. The store's tests run Run against a schema of
// their own and this package's tests run it against Memory, so a fake that
// drifted from what production does fails here rather than letting a unit
// test pass against behaviour no user will see.
//
// Tests that need a broken registry wrap Memory (see api's and the
// controllers' fakes) or set its Hook; the contract itself lives only here.
package registrytest

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/histogram"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Registry is everything Vigil's consumers ask of a registry: the union of
// api.Registry and controllers.Registry. The PostgreSQL store and Memory
// implement it.
type Registry interface { //nolint:interfacebloat // the union of two consumers' interfaces, which the contract tests run against
	CreateService(ctx context.Context, c *check.Check) (registry.Service, error)
	UpsertService(ctx context.Context, c *check.Check) error
	GetService(ctx context.Context, id string) (registry.Service, error)
	ServiceExists(ctx context.Context, id string, includeDeleted bool) (bool, error)
	ListServices(ctx context.Context, f registry.ListFilter) ([]registry.Service, error)
	PageServices(ctx context.Context, q registry.ServiceQuery) ([]registry.Service, string, error)
	CountServices(ctx context.Context, f registry.ListFilter) (registry.StateCounts, error)
	UpdateService(ctx context.Context, id string, mutate func(*check.Check) error) (registry.Service, error)
	DeleteService(ctx context.Context, id string) error
	SetPaused(ctx context.Context, id string, paused bool) (registry.Service, *check.Transition, error)
	Results(ctx context.Context, checkID string, q registry.ResultQuery) ([]check.Result, string, error)
	Transitions(ctx context.Context, q registry.TransitionQuery) ([]check.Transition, error)
	Uptime(ctx context.Context, checkID string, since, until time.Time) (registry.Uptime, error)
	RegionUptime(ctx context.Context, checkID, region string, since, until time.Time) (registry.Uptime, error)
}

var _ Registry = (*Memory)(nil)

// The store's page sizes: a zero limit means DefaultLimit, and no page is
// larger than MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Memory is an in-memory Registry that keeps the store's contract: ids and
// timestamps assigned on create, unique names among active services,
// history that outlives deletion, pause and resume as logged transitions,
// opaque cursors, and text PostgreSQL would refuse refused with an error
// that is no sentinel. It is safe for concurrent use.
type Memory struct {
	// Hook, when set, runs first in every method of Registry with the
	// method's name, under the registry's lock; an error it returns is the
	// method's. Tests use it to break the registry or count calls.
	Hook func(method string) error

	mu          sync.Mutex
	now         func() time.Time
	nextID      int
	services    map[string]*entry
	results     map[string][]check.Result // by tick, oldest first
	transitions []check.Transition
}

type entry struct {
	svc     registry.Service
	deleted bool
}

// NewMemory returns an empty registry whose clock is now (time.Now when
// nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, services: map[string]*entry{}, results: map[string][]check.Result{}}
}

// enter starts every method: it takes the lock (the caller defers
// m.mu.Unlock), runs Hook, and refuses text the way PostgreSQL does.
func (m *Memory) enter(method string, text ...string) error {
	m.mu.Lock()
	if m.Hook != nil {
		if err := m.Hook(method); err != nil {
			return err
		}
	}
	return refuse(text...)
}

// clock is the registry's time at the precision PostgreSQL keeps.
func (m *Memory) clock() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// checkText is every string of c the store writes.
func checkText(c *check.Check) []string {
	return append([]string{c.ID, c.Name, string(c.Type), c.URL, c.Method, c.GRPCService, c.Source}, c.Tags...)
}

func clone(s registry.Service) registry.Service {
	s.Tags = slices.Clone(s.Tags)
	if s.Tags == nil {
		s.Tags = []string{}
	}
	s.RegionStates = maps.Clone(s.RegionStates)
	return s
}

func (m *Memory) nameTaken(name, exceptID string) bool {
	for id, e := range m.services {
		if !e.deleted && id != exceptID && e.svc.Name == name {
			return true
		}
	}
	return false
}

func (m *Memory) active(id string) (*entry, error) {
	e, ok := m.services[id]
	if !ok || e.deleted {
		return nil, registry.ErrNotFound
	}
	return e, nil
}

// CreateService registers c, assigning an id (unless c.ID is set), the
// source "api" (unless set) and the timestamps, as the store does.
func (m *Memory) CreateService(_ context.Context, c *check.Check) (registry.Service, error) {
	defer m.mu.Unlock()
	if err := m.enter("CreateService", checkText(c)...); err != nil {
		return registry.Service{}, err
	}
	return m.create(c)
}

func (m *Memory) create(c *check.Check) (registry.Service, error) {
	if c.ID == "" {
		m.nextID++
		c.ID = fmt.Sprintf("svc-%d", m.nextID)
	}
	if c.Source == "" {
		c.Source = "api"
	}
	if _, ok := m.services[c.ID]; ok {
		return registry.Service{}, fmt.Errorf("create service %q: id %s already exists", c.Name, c.ID)
	}
	if m.nameTaken(c.Name, "") {
		return registry.Service{}, registry.ErrNameTaken
	}
	now := m.clock()
	c.CreatedAt, c.UpdatedAt = now, now
	st := check.Snapshot{State: check.StateUnknown, LastChangeAt: now}
	if c.Paused {
		st.State = check.StatePaused
	}
	svc := clone(registry.Service{Check: *c, State: st})
	m.services[c.ID] = &entry{svc: svc}
	return clone(svc), nil
}

// UpsertService creates the service with c.ID or makes every registered
// field follow c; Paused counts only on create, as in the store.
func (m *Memory) UpsertService(_ context.Context, c *check.Check) error {
	defer m.mu.Unlock()
	if err := m.enter("UpsertService", checkText(c)...); err != nil {
		return err
	}
	if c.ID == "" {
		return errors.New("upsert service: id is required")
	}
	if _, ok := m.services[c.ID]; !ok {
		_, err := m.create(c)
		return err
	}
	want := *c
	_, err := m.update(c.ID, func(cur *check.Check) error {
		want.ID, want.CreatedAt = cur.ID, cur.CreatedAt
		*cur = want
		return nil
	})
	return err
}

// GetService returns an active service.
func (m *Memory) GetService(_ context.Context, id string) (registry.Service, error) {
	defer m.mu.Unlock()
	if err := m.enter("GetService", id); err != nil {
		return registry.Service{}, err
	}
	e, err := m.active(id)
	if err != nil {
		return registry.Service{}, err
	}
	return clone(e.svc), nil
}

// ServiceExists reports whether id names a service, deleted ones too when
// includeDeleted.
func (m *Memory) ServiceExists(_ context.Context, id string, includeDeleted bool) (bool, error) {
	defer m.mu.Unlock()
	if err := m.enter("ServiceExists", id); err != nil {
		return false, err
	}
	e, ok := m.services[id]
	return ok && (includeDeleted || !e.deleted), nil
}

// ListServices returns active services ordered by name (bytes, then id).
func (m *Memory) ListServices(_ context.Context, f registry.ListFilter) ([]registry.Service, error) {
	defer m.mu.Unlock()
	if err := m.enter("ListServices", f.Tag, string(f.State), f.Name); err != nil {
		return nil, err
	}
	return m.selectServices(f), nil
}

// selectServices is the listing of f, ordered; the lock is held.
func (m *Memory) selectServices(f registry.ListFilter) []registry.Service {
	out := []registry.Service{}
	name := strings.ToLower(f.Name)
	for _, e := range m.services {
		if e.deleted || f.State != "" && e.svc.State.State != f.State ||
			f.Tag != "" && !slices.Contains(e.svc.Tags, f.Tag) ||
			name != "" && !strings.Contains(strings.ToLower(e.svc.Name), name) {
			continue
		}
		out = append(out, clone(e.svc))
	}
	slices.SortFunc(out, func(a, b registry.Service) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// PageServices pages through ListServices' order; the cursor is the last
// name and id returned.
func (m *Memory) PageServices(_ context.Context, q registry.ServiceQuery) ([]registry.Service, string, error) {
	defer m.mu.Unlock()
	if err := m.enter("PageServices", q.Tag, string(q.State), q.Name, q.Cursor); err != nil {
		return nil, "", err
	}
	all := m.selectServices(q.ListFilter)
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		name, id, ok := strings.Cut(strings.TrimPrefix(string(raw), "m:"), "\x00")
		if err != nil || !ok || !strings.HasPrefix(string(raw), "m:") {
			return nil, "", registry.ErrInvalidCursor
		}
		all = slices.DeleteFunc(all, func(s registry.Service) bool {
			return cmp.Or(strings.Compare(s.Name, name), strings.Compare(s.ID, id)) <= 0
		})
	}
	limit := clampLimit(q.Limit)
	if len(all) <= limit {
		return all, "", nil
	}
	last := all[limit-1]
	return all[:limit], base64.RawURLEncoding.EncodeToString([]byte("m:" + last.Name + "\x00" + last.ID)), nil
}

// CountServices counts the services f selects per state (f.State is
// ignored).
func (m *Memory) CountServices(_ context.Context, f registry.ListFilter) (registry.StateCounts, error) {
	defer m.mu.Unlock()
	if err := m.enter("CountServices", f.Tag, f.Name); err != nil {
		return registry.StateCounts{}, err
	}
	f.State = ""
	out := registry.StateCounts{ByState: map[check.State]int64{}}
	for _, t := range m.transitions {
		out.LastTransitionID = max(out.LastTransitionID, t.ID)
	}
	for _, s := range m.selectServices(f) {
		out.ByState[s.State.State]++
		out.Total++
	}
	return out, nil
}

// UpdateService runs mutate on a copy of the stored check and saves it; an
// error from mutate comes back unchanged. Id, Paused, CreatedAt and Source
// are not mutate's to change.
func (m *Memory) UpdateService(_ context.Context, id string, mutate func(*check.Check) error) (registry.Service, error) {
	defer m.mu.Unlock()
	if err := m.enter("UpdateService", id); err != nil {
		return registry.Service{}, err
	}
	return m.update(id, mutate)
}

func (m *Memory) update(id string, mutate func(*check.Check) error) (registry.Service, error) {
	e, err := m.active(id)
	if err != nil {
		return registry.Service{}, err
	}
	cur := e.svc.Check
	next := cur
	next.Tags = slices.Clone(cur.Tags)
	if err := mutate(&next); err != nil {
		return registry.Service{}, err
	}
	next.ID, next.Paused, next.CreatedAt, next.Source = cur.ID, cur.Paused, cur.CreatedAt, cur.Source
	if err := refuse(checkText(&next)...); err != nil {
		return registry.Service{}, err
	}
	if m.nameTaken(next.Name, id) {
		return registry.Service{}, registry.ErrNameTaken
	}
	next.UpdatedAt = m.clock()
	e.svc.Check = next
	return clone(e.svc), nil
}

// refuse fails for text PostgreSQL refuses (NUL, invalid UTF-8), with an
// error like PostgreSQL's that is no sentinel.
func refuse(text ...string) error {
	for _, s := range text {
		if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
			return errors.New(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)
		}
	}
	return nil
}

// DeleteService stops monitoring id; its history stays and its name is free.
func (m *Memory) DeleteService(_ context.Context, id string) error {
	defer m.mu.Unlock()
	if err := m.enter("DeleteService", id); err != nil {
		return err
	}
	e, err := m.active(id)
	if err != nil {
		return err
	}
	e.deleted = true
	return nil
}

// SetPaused pauses or resumes id and logs the transition it caused, if any.
func (m *Memory) SetPaused(_ context.Context, id string, paused bool) (registry.Service, *check.Transition, error) {
	defer m.mu.Unlock()
	if err := m.enter("SetPaused", id); err != nil {
		return registry.Service{}, nil, err
	}
	e, err := m.active(id)
	if err != nil {
		return registry.Service{}, nil, err
	}
	now := m.clock()
	move := check.Resume
	if paused {
		move = check.Pause
	}
	snap, changed := move(e.svc.State, now)
	if !changed && e.svc.Paused == paused {
		return clone(e.svc), nil, nil
	}
	from := e.svc.State.State
	e.svc.Paused, e.svc.UpdatedAt, e.svc.State = paused, now, snap
	if paused {
		// The store forgets the regions' states on a pause too.
		e.svc.RegionStates = nil
	}
	if !changed {
		return clone(e.svc), nil, nil
	}
	t := m.addTransition(check.Transition{CheckID: id, Service: e.svc.Name, From: from, To: snap.State, At: now})
	return clone(e.svc), &t, nil
}

// Results pages through a check's results newest first, by tick and then
// region, as the store orders them; the cursor is the last result
// returned. q.Region keeps that region's results only.
func (m *Memory) Results(_ context.Context, checkID string, q registry.ResultQuery) ([]check.Result, string, error) {
	defer m.mu.Unlock()
	if err := m.enter("Results", checkID, q.Cursor, q.Region); err != nil {
		return nil, "", err
	}
	limit := clampLimit(q.Limit)
	before, err := parseResultCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	out := []check.Result{}
	all := m.results[checkID]
	for i := len(all) - 1; i >= 0 && len(out) <= limit; i-- {
		r := all[i]
		if !q.Since.IsZero() && r.ScheduledAt.Before(q.Since) || !q.Until.IsZero() && r.ScheduledAt.After(q.Until) ||
			q.Cursor != "" && compareResult(&r, &before) >= 0 || q.Region != "" && r.ResultRegion() != q.Region {
			continue
		}
		out = append(out, r)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = "m" + strconv.FormatInt(last.ScheduledAt.UnixMicro(), 10) + ":" + last.ResultRegion()
	}
	return out, next, nil
}

// parseResultCursor reads a cursor Results issued: the tick and region of
// the last result of its page.
func parseResultCursor(c string) (check.Result, error) {
	if c == "" {
		return check.Result{}, nil
	}
	rest, ok := strings.CutPrefix(c, "m")
	at, region, found := strings.Cut(rest, ":")
	us, err := strconv.ParseInt(at, 10, 64)
	if !ok || !found || err != nil || us < 0 || !check.IsRegionName(region) {
		return check.Result{}, registry.ErrInvalidCursor
	}
	return check.Result{ScheduledAt: time.UnixMicro(us).UTC(), Region: region}, nil
}

// compareResult orders results as the store's key does: by tick, then
// region.
func compareResult(a, b *check.Result) int {
	return cmp.Or(a.ScheduledAt.Compare(b.ScheduledAt), strings.Compare(a.ResultRegion(), b.ResultRegion()))
}

// Transitions lists logged transitions by id, ascending or newest first.
func (m *Memory) Transitions(_ context.Context, q registry.TransitionQuery) ([]check.Transition, error) {
	defer m.mu.Unlock()
	if err := m.enter("Transitions", q.CheckID); err != nil {
		return nil, err
	}
	out := []check.Transition{}
	for _, t := range m.transitions {
		if (q.CheckID == "" || t.CheckID == q.CheckID) && t.ID > q.AfterID &&
			(q.Region == "" || t.ResultRegion() == q.Region && !t.ScheduledAt.IsZero()) {
			out = append(out, t)
		}
	}
	if q.Newest {
		slices.Reverse(out)
	}
	if limit := clampLimit(q.Limit); len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Uptime counts a check's results whose tick lies in [since, until).
func (m *Memory) Uptime(_ context.Context, checkID string, since, until time.Time) (registry.Uptime, error) {
	defer m.mu.Unlock()
	if err := m.enter("Uptime", checkID); err != nil {
		return registry.Uptime{}, err
	}
	if !until.After(since) {
		return registry.Uptime{}, errors.New("uptime: until must be after since")
	}
	return m.uptime(checkID, "", since, until), nil
}

// RegionUptime is Uptime over the results of one region.
func (m *Memory) RegionUptime(_ context.Context, checkID, region string, since, until time.Time) (registry.Uptime, error) {
	defer m.mu.Unlock()
	if err := m.enter("RegionUptime", checkID, region); err != nil {
		return registry.Uptime{}, err
	}
	if !until.After(since) {
		return registry.Uptime{}, errors.New("uptime: until must be after since")
	}
	return m.uptime(checkID, region, since, until), nil
}

// uptime sums the results in [since, until) of region ("" for every
// region); m.mu is held.
func (m *Memory) uptime(checkID, region string, since, until time.Time) registry.Uptime {
	var sum histogram.Summary
	for _, r := range m.results[checkID] {
		if r.ScheduledAt.Before(since) || !r.ScheduledAt.Before(until) || region != "" && r.ResultRegion() != region {
			continue
		}
		sum.Observe(r.Success(), r.Latency.Microseconds())
	}
	return registry.Uptime{Checks: sum.Checks, Failures: sum.Failures,
		Latency: registry.Latency{Avg: sum.Avg(), P95: sum.P95(), Max: sum.Max()}}
}

// AddResult appends r to its check's history, as a worker's record would,
// but leaves the check's state alone (SetState and SetRegionState move
// that). A second result for the same tick and region is ignored, as the
// store ignores it.
func (m *Memory) AddResult(r check.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.Service = "" // the store keeps results by check id only
	r.ScheduledAt = r.ScheduledAt.UTC().Truncate(time.Microsecond)
	r.CheckedAt = r.CheckedAt.UTC().Truncate(time.Microsecond)
	r.Latency = r.Latency.Truncate(time.Microsecond)
	if r.Region == check.DefaultRegion {
		r.Region = "" // as the store reads it back
	}
	all := m.results[r.CheckID]
	i, found := slices.BinarySearchFunc(all, &r, func(x check.Result, t *check.Result) int { return compareResult(&x, t) })
	if found {
		return
	}
	m.results[r.CheckID] = slices.Insert(all, i, r)
}

// AddTransition appends t to the log with the next id, as a worker's
// record would, and returns it with its id.
func (m *Memory) AddTransition(t check.Transition) check.Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addTransition(t)
}

func (m *Memory) addTransition(t check.Transition) check.Transition {
	t.ID = int64(len(m.transitions) + 1)
	m.transitions = append(m.transitions, t)
	return t
}

// Lookup returns the active service id without running Hook, for tests
// that look behind the code under test's back.
func (m *Memory) Lookup(id string) (registry.Service, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.active(id)
	if err != nil {
		return registry.Service{}, false
	}
	return clone(e.svc), true
}

// SetState replaces the current state of id, as recording results would.
// It does nothing when there is no such service.
func (m *Memory) SetState(id string, s check.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.services[id]; ok {
		e.svc.State = s
	}
}

// SetRegionState replaces region's own snapshot of id, as recording a
// result of that region would. It does nothing when there is no such
// service.
func (m *Memory) SetRegionState(id, region string, s check.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.services[id]; ok {
		if e.svc.RegionStates == nil {
			e.svc.RegionStates = map[string]check.Snapshot{}
		}
		e.svc.RegionStates[region] = s
	}
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Rollups sums a check's results per hour or UTC day whose start lies in
// [q.Since, q.Until), as the store's maintenance loop would have rolled
// them up.
func (m *Memory) Rollups(_ context.Context, checkID string, q registry.RollupQuery) ([]registry.Rollup, error) {
	defer m.mu.Unlock()
	if err := m.enter("Rollups", checkID); err != nil {
		return nil, err
	}
	sums := map[time.Time]*histogram.Summary{}
	for _, r := range m.results[checkID] {
		hour := r.ScheduledAt.UTC().Truncate(time.Hour)
		if hour.Before(q.Since) || !hour.Before(q.Until) {
			continue
		}
		start := hour.Truncate(q.Resolution)
		if sums[start] == nil {
			sums[start] = &histogram.Summary{}
		}
		sums[start].Observe(r.Success(), r.Latency.Microseconds())
	}
	out := []registry.Rollup{}
	for _, start := range slices.SortedFunc(maps.Keys(sums), time.Time.Compare) {
		s := sums[start]
		out = append(out, registry.Rollup{Start: start, Checks: s.Checks, Failures: s.Failures,
			Latency: registry.Latency{Avg: s.Avg(), P95: s.P95(), Max: s.Max()}})
	}
	return out, nil
}
