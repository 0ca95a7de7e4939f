package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// clock is a settable time source for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*store.Store, *clock) {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: t0}
	s, err := store.Open(ctx, pgtest.Schema(t), 8, store.WithClock(clk.Now))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	n, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	return s, clk
}

func newCheck(name string) *check.Check {
	c := &check.Check{Name: name, URL: "http://127.0.0.1:1/health", Interval: 10 * time.Second, Tags: []string{"team=a"}}
	c.SetDefaults()
	return c
}

func create(t *testing.T, s *store.Store, name string) registry.Service {
	t.Helper()
	sv, err := s.CreateService(context.Background(), newCheck(name))
	require.NoError(t, err)
	return sv
}

func TestMigrateIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	n, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	files := migrationFiles(t)
	newest, err := strconv.Atoi(strings.SplitN(filepath.Base(files[len(files)-1]), "_", 2)[0])
	require.NoError(t, err)
	// Numbers are handed out per change, so they may have gaps: the
	// version is the newest file's.
	require.Equal(t, newest, v)
	require.NoError(t, s.Ping(ctx))
}

// migrationFiles lists the migrations as they are on disk, which is what
// the store embeds.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestMigrateMovesScheduleOutOfServices upgrades a database written by
// the first release: the next tick of every schedulable check survives the
// move into the schedule table, and paused or deleted checks stay off it.
func TestMigrateMovesScheduleOutOfServices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	v1, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, string(v1))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql')`)
	require.NoError(t, err)
	next := t0.Add(1500 * time.Millisecond)
	for _, row := range []struct {
		id      string
		next    *time.Time
		deleted *time.Time
	}{{"due", &next, nil}, {"paused", nil, nil}, {"deleted", nil, &t0}} {
		_, err = conn.Exec(ctx, `INSERT INTO services (id, name, type, url, interval_ms, timeout_ms,
			failure_threshold, success_threshold, created_at, updated_at, deleted_at, next_run_at)
			VALUES ($1, $1, 'http', 'http://x', 10000, 5000, 1, 1, $2, $2, $3, $4)`, row.id, t0, row.deleted, row.next)
		require.NoError(t, err)
	}

	s, err := store.Open(ctx, url, 2)
	require.NoError(t, err)
	defer s.Close()
	n, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, len(migrationFiles(t))-1, n)

	rows, err := conn.Query(ctx, `SELECT check_id, next_run_at FROM schedule`)
	require.NoError(t, err)
	got := map[string]time.Time{}
	for rows.Next() {
		var (
			id string
			at time.Time
		)
		require.NoError(t, rows.Scan(&id, &at))
		got[id] = at.UTC()
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]time.Time{"due": next}, got)
	due, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, next, due)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() {
			s, err := store.Open(ctx, url, 2)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			applied[i], errs[i] = s.Migrate(ctx)
		})
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		require.NoError(t, errs[i])
		total += applied[i]
	}
	require.Equal(t, len(migrationFiles(t)), total, "exactly one process applies each migration")
}

func TestRegistryLifecycle(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()

	a := create(t, s, "payments")
	require.NotEmpty(t, a.ID)
	require.Equal(t, check.StateUnknown, a.State.State)
	require.Equal(t, 10*time.Second, a.Interval)
	require.Equal(t, 5*time.Second, a.Timeout)
	require.Equal(t, "api", a.Source)
	require.Equal(t, t0, a.CreatedAt)

	_, err := s.CreateService(ctx, newCheck("payments"))
	require.ErrorIs(t, err, registry.ErrNameTaken)

	b := create(t, s, "billing")
	got, err := s.GetService(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "billing", got.Name)
	require.Equal(t, []string{"team=a"}, got.Tags)

	_, err = s.GetService(ctx, "nope")
	require.ErrorIs(t, err, registry.ErrNotFound)

	list, err := s.ListServices(ctx, registry.ListFilter{})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "billing", list[0].Name, "ordered by name")

	clk.Set(t0.Add(time.Minute))
	up, err := s.UpdateService(ctx, b.ID, func(c *check.Check) error {
		c.Tags = []string{"team=b"}
		c.Interval = 30 * time.Second
		c.Paused = true // ignored: pausing is SetPaused's job
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"team=b"}, up.Tags)
	require.Equal(t, 30*time.Second, up.Interval)
	require.False(t, up.Paused)
	require.Equal(t, t0.Add(time.Minute), up.UpdatedAt)

	list, err = s.ListServices(ctx, registry.ListFilter{Tag: "team=b"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, b.ID, list[0].ID)

	_, err = s.UpdateService(ctx, b.ID, func(c *check.Check) error { c.Name = "payments"; return nil })
	require.ErrorIs(t, err, registry.ErrNameTaken)
	fe := &check.FieldError{Field: "url", Message: "bad"}
	_, err = s.UpdateService(ctx, b.ID, func(*check.Check) error { return fe })
	require.ErrorIs(t, err, fe)
	_, err = s.UpdateService(ctx, "nope", func(*check.Check) error { return nil })
	require.ErrorIs(t, err, registry.ErrNotFound)

	require.NoError(t, s.DeleteService(ctx, a.ID))
	require.ErrorIs(t, s.DeleteService(ctx, a.ID), registry.ErrNotFound)
	_, err = s.GetService(ctx, a.ID)
	require.ErrorIs(t, err, registry.ErrNotFound)
	ok, err := s.ServiceExists(ctx, a.ID, true)
	require.NoError(t, err)
	require.True(t, ok, "history of a deleted service stays reachable")
	ok, err = s.ServiceExists(ctx, a.ID, false)
	require.NoError(t, err)
	require.False(t, ok)

	again := create(t, s, "payments")
	require.NotEqual(t, a.ID, again.ID, "a deleted name can be registered again")
}

func TestPauseAndResume(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")

	clk.Set(t0.Add(time.Second))
	p, tr, err := s.SetPaused(ctx, sv.ID, true)
	require.NoError(t, err)
	require.True(t, p.Paused)
	require.Equal(t, check.StatePaused, p.State.State)
	require.NotNil(t, tr)
	require.Equal(t, check.StateUnknown, tr.From)
	require.Equal(t, check.StatePaused, tr.To)
	require.Positive(t, tr.ID)

	_, tr, err = s.SetPaused(ctx, sv.ID, true)
	require.NoError(t, err)
	require.Nil(t, tr, "pausing twice changes nothing")

	list, err := s.ListServices(ctx, registry.ListFilter{State: check.StatePaused})
	require.NoError(t, err)
	require.Len(t, list, 1)

	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "a paused check is never due")

	r, tr, err := s.SetPaused(ctx, sv.ID, false)
	require.NoError(t, err)
	require.False(t, r.Paused)
	require.Equal(t, check.StateUnknown, r.State.State)
	require.Equal(t, check.StatePaused, tr.From)
	_, ok, err = s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	_, _, err = s.SetPaused(ctx, "nope", true)
	require.ErrorIs(t, err, registry.ErrNotFound)
}

func TestUpsertService(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("ns/payments")
	c.ID, c.Source = "uid-1", "kubernetes"
	require.NoError(t, s.UpsertService(ctx, c))
	c2 := newCheck("ns/payments")
	c2.ID, c2.Source, c2.URL = "uid-1", "kubernetes", "http://127.0.0.1:2/ready"
	require.NoError(t, s.UpsertService(ctx, c2))
	sv, err := s.GetService(ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:2/ready", sv.URL)
	require.Equal(t, "kubernetes", sv.Source)
	require.Error(t, s.UpsertService(ctx, &check.Check{}))
}

func TestClaimDueFollowsTheGrid(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	due, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, due.Before(t0))
	require.True(t, due.Before(t0.Add(10*time.Second)))

	var (
		got     []check.Job
		skipped []int
	)
	collect := func(_ context.Context, jobs []check.Job, n int) error {
		got, skipped = append(got, jobs...), append(skipped, n)
		return nil
	}

	n, err := s.ClaimDue(ctx, due.Add(-time.Millisecond), 100, 0, collect)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due before its tick")

	n, err = s.ClaimDue(ctx, due.Add(3*time.Millisecond), 100, 0, collect)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, due, got[0].ScheduledAt)
	require.Equal(t, sv.ID, got[0].CheckID)
	require.Equal(t, "payments", got[0].Service)
	require.Equal(t, 5*time.Second, got[0].Timeout)

	next, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.Equal(t, due.Add(10*time.Second), next, "no drift: the next tick is on the grid, not now+interval")

	// A scheduler 35s late dispatches only the latest missed tick.
	n, err = s.ClaimDue(ctx, due.Add(45*time.Second), 100, 0, collect)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, due.Add(40*time.Second), got[1].ScheduledAt)
	require.Equal(t, []int{0, 3}, skipped, "the claim reports the three ticks it passed over")
	next, _, err = s.NextDue(ctx)
	require.NoError(t, err)
	require.Equal(t, due.Add(50*time.Second), next)
}

func TestClaimDueRollsBackWhenPublishFails(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	create(t, s, "payments")
	due, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	boom := errors.New("broker down")
	_, err = s.ClaimDue(ctx, due, 10, 0, func(context.Context, []check.Job, int) error { return boom })
	require.ErrorIs(t, err, boom)
	again, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.Equal(t, due, again, "the tick is claimed again after a failed publish")
}

func TestConcurrentSchedulersDispatchEachTickOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	const checks = 300
	for i := range checks {
		create(t, s, fmt.Sprintf("svc-%03d", i))
	}
	now := t0.Add(10 * time.Second) // every first tick is due
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 6 {
		wg.Go(func() {
			for {
				n, err := s.ClaimDue(ctx, now, 25, 0, func(_ context.Context, jobs []check.Job, _ int) error {
					time.Sleep(5 * time.Millisecond) // widen the race window
					mu.Lock()
					defer mu.Unlock()
					for _, j := range jobs {
						seen[j.CheckID+"@"+j.ScheduledAt.String()]++
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, checks)
	for k, n := range seen {
		require.Equal(t, 1, n, "tick %s dispatched %d times", k, n)
	}
}

func TestClaimDueCatchesUpMissedTicks(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	create(t, s, "payments")
	due, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	now := due.Add(25 * time.Second) // an outage of 25s: three ticks missed
	var ticks []time.Time
	for {
		n, err := s.ClaimDue(ctx, now, 100, 30*time.Second, func(_ context.Context, jobs []check.Job, _ int) error {
			for _, j := range jobs {
				ticks = append(ticks, j.ScheduledAt)
			}
			return nil
		})
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	require.Equal(t, []time.Time{due, due.Add(10 * time.Second), due.Add(20 * time.Second)}, ticks,
		"every tick missed within the catch-up window is dispatched once, in order")
	next, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.Equal(t, due.Add(30*time.Second), next)
}

// Behind tells a scheduler that ends its catch-up whether any check is
// still an interval behind, including checks another scheduler's claim
// holds locked at that moment: it must see them without waiting.
func TestBehindSeesLateChecksAnotherClaimHolds(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	create(t, s, "payments")
	due, _, err := s.NextDue(ctx)
	require.NoError(t, err)
	behind := func(now time.Time) bool {
		t.Helper()
		b, err := s.Behind(ctx, now)
		require.NoError(t, err)
		return b
	}
	require.False(t, behind(due.Add(10*time.Second-time.Millisecond)), "less than an interval late")
	require.True(t, behind(due.Add(10*time.Second)), "an interval late")

	now := due.Add(25 * time.Second)
	var (
		ticks []time.Time
		seen  []bool // what Behind answered during each claim
	)
	claim := func() int {
		n, err := s.ClaimDue(ctx, now, 100, 30*time.Second, func(_ context.Context, jobs []check.Job, _ int) error {
			for _, j := range jobs {
				ticks = append(ticks, j.ScheduledAt)
			}
			// Another scheduler asks while this claim holds the row.
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			b, err := s.Behind(rctx, now)
			require.NoError(t, err, "a locked row must not block the read")
			seen = append(seen, b)
			return nil
		})
		require.NoError(t, err)
		return n
	}
	for n := claim(); n > 0; n = claim() {
		require.Equal(t, 1, n)
	}
	require.Equal(t, []time.Time{due, due.Add(10 * time.Second), due.Add(20 * time.Second)}, ticks)
	require.Equal(t, []bool{true, true, false}, seen,
		"the locked check's committed tick: 25 s and 15 s behind, then 5 s, less than an interval")
	require.False(t, behind(now), "caught up: the next tick is in the future")
}

// A SIGTERM that lands after the broker confirmed a batch but before the
// claim committed must not leave the ticks due: they would be published,
// and probed, a second time after a restart.
func TestClaimCommitsWhenCancelledAfterPublishing(t *testing.T) {
	s, _ := newStore(t)
	create(t, s, "payments")
	due, _, err := s.NextDue(context.Background())
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	var published []check.Job
	n, err := s.ClaimDue(ctx, due, 10, 0, func(_ context.Context, jobs []check.Job, _ int) error {
		published = append(published, jobs...)
		cancel() // the process is told to stop while the claim is open
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	again := 0
	_, err = s.ClaimDue(context.Background(), due, 10, 0, func(_ context.Context, jobs []check.Job, _ int) error {
		again += len(jobs)
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, again, "a published tick is never claimed twice")
	next, _, err := s.NextDue(context.Background())
	require.NoError(t, err)
	require.Equal(t, due.Add(10*time.Second), next)
}

func TestDeletedCheckLeavesTheSchedule(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, s.DeleteService(ctx, sv.ID))
	require.ErrorIs(t, s.DeleteService(ctx, sv.ID), registry.ErrNotFound)
	_, ok, err = s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "a deleted check is never due")
	clk.Set(t0.Add(time.Hour))
	n, err := s.ClaimDue(ctx, t0.Add(time.Hour), 10, time.Minute, func(context.Context, []check.Job, int) error {
		t.Error("nothing may be published for a deleted check")
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestRegionsRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	plain := create(t, s, "plain")
	require.Nil(t, plain.Regions)
	require.Zero(t, plain.Quorum)

	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	got, err := s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"eu", "us", "ap"}, got.Regions)
	require.Equal(t, 2, got.Quorum)

	got, err = s.UpdateService(ctx, sv.ID, func(c *check.Check) error {
		c.Regions, c.Quorum = nil, 0
		return nil
	})
	require.NoError(t, err)
	require.Nil(t, got.Regions)
	require.Zero(t, got.Quorum)
}
