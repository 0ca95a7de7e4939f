package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

func createTagged(t *testing.T, s interface {
	CreateService(ctx context.Context, c *check.Check) (registry.Service, error)
}, name string, tags ...string) registry.Service {
	t.Helper()
	c := newCheck(name)
	c.Tags = tags
	sv, err := s.CreateService(context.Background(), c)
	require.NoError(t, err)
	return sv
}

func names(svcs []registry.Service) []string {
	out := make([]string, len(svcs))
	for i, sv := range svcs {
		out[i] = sv.Name
	}
	return out
}

func TestStatusPageCRUD(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	p, err := s.CreateStatusPage(ctx, registry.StatusPage{Slug: "acme", Title: "Acme", Tags: []string{"prod"}, Public: true})
	require.NoError(t, err)
	require.NotEmpty(t, p.ID)
	require.Equal(t, check.SourceAPI, p.Source)
	require.Nil(t, p.ServiceIDs, "a REST page selects by tags")
	require.Equal(t, t0, p.CreatedAt)

	_, err = s.CreateStatusPage(ctx, registry.StatusPage{Slug: "acme", Title: "Other"})
	require.ErrorIs(t, err, registry.ErrSlugTaken)

	got, err := s.StatusPageBySlug(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, p, got)
	_, err = s.StatusPageBySlug(ctx, "nope")
	require.ErrorIs(t, err, registry.ErrNotFound)

	clk.Set(t0.Add(time.Hour))
	other, err := s.CreateStatusPage(ctx, registry.StatusPage{Slug: "beta", Title: "Beta", Tags: []string{"x"}})
	require.NoError(t, err)
	_, err = s.UpdateStatusPage(ctx, other.ID, func(p *registry.StatusPage) error { p.Slug = "acme"; return nil })
	require.ErrorIs(t, err, registry.ErrSlugTaken)
	fe := &check.FieldError{Field: "title", Message: "bad"}
	_, err = s.UpdateStatusPage(ctx, other.ID, func(*registry.StatusPage) error { return fe })
	require.ErrorIs(t, err, fe, "mutate's error comes back unchanged")
	up, err := s.UpdateStatusPage(ctx, other.ID, func(p *registry.StatusPage) error {
		p.Title, p.Public, p.ID = "Beta 2", true, "ignored"
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, other.ID, up.ID)
	require.Equal(t, "Beta 2", up.Title)
	require.True(t, up.Public)
	require.Equal(t, t0.Add(time.Hour), up.UpdatedAt)
	_, err = s.UpdateStatusPage(ctx, "missing", func(*registry.StatusPage) error { return nil })
	require.ErrorIs(t, err, registry.ErrNotFound)

	list, err := s.ListStatusPages(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "acme", list[0].Slug)

	require.NoError(t, s.DeleteStatusPage(ctx, p.ID))
	require.ErrorIs(t, s.DeleteStatusPage(ctx, p.ID), registry.ErrNotFound)
	_, err = s.GetStatusPage(ctx, p.ID)
	require.ErrorIs(t, err, registry.ErrNotFound)
}

func TestUpsertStatusPage(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p := registry.StatusPage{ID: "uid-1", Slug: "k8s", Title: "K", ServiceIDs: []string{"a"}, Source: check.SourceKubernetes}
	require.NoError(t, s.UpsertStatusPage(ctx, p))
	p.Title, p.ServiceIDs = "K2", []string{}
	require.NoError(t, s.UpsertStatusPage(ctx, p))
	got, err := s.GetStatusPage(ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, "K2", got.Title)
	require.Equal(t, []string{}, got.ServiceIDs, "an empty list selects nothing, unlike no list")
	require.Equal(t, check.SourceKubernetes, got.Source)
	require.Error(t, s.UpsertStatusPage(ctx, registry.StatusPage{Slug: "x"}))
}

// A page shows exactly what it selects, whether by tags or by list, and
// a badge is public exactly when a public page shows its service.
func TestStatusPageSelection(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	pay := createTagged(t, s, "payments", "team-pay", "prod")
	search := createTagged(t, s, "search", "team-search", "prod")
	secret := createTagged(t, s, "secret-admin", "internal")
	gone := createTagged(t, s, "gone", "team-pay")
	require.NoError(t, s.DeleteService(ctx, gone.ID))

	byTag, err := s.CreateStatusPage(ctx, registry.StatusPage{Slug: "pay", Title: "Pay", Tags: []string{"team-pay", "nobody"}, Public: true})
	require.NoError(t, err)
	got, err := s.StatusPageServices(ctx, byTag.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"payments"}, names(got), "deleted and unselected services stay off")

	byList, err := s.CreateStatusPage(ctx, registry.StatusPage{Slug: "list", Title: "L", Tags: []string{"prod"},
		ServiceIDs: []string{search.ID}, Source: check.SourceKubernetes})
	require.NoError(t, err)
	got, err = s.StatusPageServices(ctx, byList.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"search"}, names(got), "a list wins over tags")

	for id, want := range map[string]bool{pay.ID: true, search.ID: false, secret.ID: false, gone.ID: false} {
		ok, err := s.OnPublicStatusPage(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, ok, id)
	}
	_, err = s.UpdateStatusPage(ctx, byList.ID, func(p *registry.StatusPage) error { p.Public = true; return nil })
	require.NoError(t, err)
	ok, err := s.OnPublicStatusPage(ctx, search.ID)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestDailyUptimeAndTransitionsOf(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a := createTagged(t, s, "a", "x")
	b := createTagged(t, s, "b", "x")
	c := createTagged(t, s, "c", "x")
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var rs []check.Result
	for i := range 4 {
		rs = append(rs, result(a.ID, day.Add(time.Duration(i)*time.Hour), i != 3)) // 3 of 4 up
	}
	rs = append(rs,
		result(a.ID, day.Add(24*time.Hour+time.Minute), true),
		result(b.ID, day.Add(23*time.Hour+59*time.Minute), false),
		result(c.ID, day.Add(time.Hour), false)) // c is not asked for
	_, err := s.Record(ctx, rs)
	require.NoError(t, err)

	got, err := s.DailyUptime(ctx, []string{a.ID, b.ID}, day, day.Add(48*time.Hour))
	require.NoError(t, err)
	require.Equal(t, map[string][]registry.DayUptime{
		a.ID: {{Day: day, Uptime: registry.Uptime{Checks: 4, Failures: 1}}, {Day: day.Add(24 * time.Hour), Uptime: registry.Uptime{Checks: 1}}},
		b.ID: {{Day: day, Uptime: registry.Uptime{Checks: 1, Failures: 1}}},
	}, got)
	empty, err := s.DailyUptime(ctx, nil, day, day.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, empty)

	ts, err := s.TransitionsOf(ctx, []string{a.ID, b.ID}, 10)
	require.NoError(t, err)
	require.NotEmpty(t, ts)
	for i, tr := range ts {
		require.NotEqual(t, c.ID, tr.CheckID, "only the asked-for checks")
		if i > 0 {
			require.Less(t, tr.ID, ts[i-1].ID, "newest first")
		}
	}
	none, err := s.TransitionsOf(ctx, nil, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestTransitionsOfListsOnlyIncidents: a status page lists a service going
// DOWN and coming back, not its first verdict or a pause.
func TestTransitionsOfListsOnlyIncidents(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("flappy")
	c.FailureThreshold, c.SuccessThreshold = 1, 1
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for i, up := range []bool{true, false, true} { // UNKNOWN->UP, UP->DOWN, DOWN->UP
		_, err := s.Record(ctx, []check.Result{result(sv.ID, at.Add(time.Duration(i)*10*time.Second), up)})
		require.NoError(t, err)
	}
	ts, err := s.TransitionsOf(ctx, []string{sv.ID}, 10)
	require.NoError(t, err)
	var got []string
	for _, tr := range ts {
		got = append(got, string(tr.From)+"->"+string(tr.To))
	}
	require.Equal(t, []string{"DOWN->UP", "UP->DOWN"}, got, "newest first, without the first verdict")
}

// TestDailyUptimeOutlivesTheRawResults: a status page's 90 bars reach past
// the raw retention, from the daily and hourly rollups, with the same
// counts the raw results gave.
func TestDailyUptimeOutlivesTheRawResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)
	now := day
	s, err := store.Open(ctx, pgtest.Schema(t), 4, store.WithClock(func() time.Time { return now }),
		store.WithHistoryPolicy(policy))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	a, b := create(t, s, "a"), create(t, s, "b")
	_, err = s.Maintain(ctx, now, policy)
	require.NoError(t, err)
	var rs []check.Result
	for i := range 30 { // day 1: 30 ticks of a, every 47 min, every fifth down
		rs = append(rs, result(a.ID, day.Add(time.Duration(i)*47*time.Minute), i%5 != 0))
	}
	rs = append(rs, result(a.ID, day.Add(49*time.Hour), true), result(b.ID, day.Add(50*time.Hour), false))
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)
	// The 30 ticks span 22.7 h: all on the first day.
	want := map[string][]registry.DayUptime{
		a.ID: {{Day: day, Uptime: registry.Uptime{Checks: 30, Failures: 6}},
			{Day: day.Add(48 * time.Hour), Uptime: registry.Uptime{Checks: 1}}},
		b.ID: {{Day: day.Add(48 * time.Hour), Uptime: registry.Uptime{Checks: 1, Failures: 1}}},
	}

	read := func(msg string) {
		t.Helper()
		got, err := s.DailyUptime(ctx, []string{a.ID, b.ID}, day, day.Add(90*24*time.Hour))
		require.NoError(t, err)
		require.Equal(t, want, got, msg)
	}
	now = day.Add(50*time.Hour + 30*time.Minute)
	read("from the raw results, before any rollup")
	_, err = s.Maintain(ctx, now, policy)
	require.NoError(t, err)
	read("day 1 from its daily rollup, day 3 from hourly rollups and raw rows")
	now = day.Add(60 * 24 * time.Hour)
	rep, err := s.Maintain(ctx, now, policy)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Dropped, "the raw days are gone")
	read("past the raw retention, from the rollups alone")
}
