package registrytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Subject is one implementation under test.
type Subject struct {
	Registry
	// AddResults stores results of active checks as their history, the
	// way this implementation gets them (the store records them, which
	// also moves state; scenarios look only at the history).
	AddResults func(ctx context.Context, rs []check.Result) error
}

// A scenario is one behaviour every implementation must show.
type scenario struct {
	name string
	run  func(t *testing.T, s Subject)
}

// Run runs every scenario against a fresh Subject from open. The same
// table runs against the PostgreSQL store and against every fake, so
// whatever a unit test learns from a fake holds for the store.
func Run(t *testing.T, open func(t *testing.T) Subject) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, open(t)) })
	}
}

// newCheck is a valid check named name.
func newCheck(name string, tags ...string) *check.Check {
	c := &check.Check{Name: name, URL: "http://127.0.0.1:1/health", Interval: 10 * time.Second, Tags: tags}
	c.SetDefaults()
	return c
}

func create(t *testing.T, s Subject, name string, tags ...string) registry.Service {
	t.Helper()
	sv, err := s.CreateService(t.Context(), newCheck(name, tags...))
	require.NoError(t, err)
	return sv
}

// refused asserts err is a failure of the storage itself: no sentinel a
// caller would turn into a 404, 409 or 400.
func refused(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []error{registry.ErrNotFound, registry.ErrNameTaken, registry.ErrInvalidCursor} {
		require.NotErrorIs(t, err, s)
	}
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var scenarios = []scenario{
	{"create assigns id, source, timestamps and state", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := newCheck("payments", "team=a")
		sv, err := s.CreateService(ctx, c)
		require.NoError(t, err)
		require.NotEmpty(t, sv.ID)
		require.Equal(t, c.ID, sv.ID, "the id is written back into the check")
		require.Equal(t, "api", sv.Source)
		require.False(t, sv.CreatedAt.IsZero())
		require.Equal(t, sv.CreatedAt, sv.UpdatedAt)
		require.Equal(t, time.UTC, sv.CreatedAt.Location())
		require.Equal(t, check.StateUnknown, sv.State.State)
		require.Equal(t, sv.CreatedAt, sv.State.LastChangeAt)
		require.Equal(t, []string{"team=a"}, sv.Tags)
		got, err := s.GetService(ctx, sv.ID)
		require.NoError(t, err)
		require.Equal(t, sv, got)

		bare := create(t, s, "no-tags")
		require.NotNil(t, bare.Tags, "tags are an empty list, never nil")
		require.Empty(t, bare.Tags)

		p := newCheck("paused")
		p.Paused, p.Source = true, "kubernetes"
		ps, err := s.CreateService(ctx, p)
		require.NoError(t, err)
		require.True(t, ps.Paused)
		require.Equal(t, check.StatePaused, ps.State.State, "a check created paused is PAUSED without a transition")
		require.Equal(t, "kubernetes", ps.Source)
		ts, err := s.Transitions(ctx, registry.TransitionQuery{})
		require.NoError(t, err)
		require.Empty(t, ts)
	}},
	{"create keeps a given id, once", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := newCheck("orders")
		c.ID = "uid-orders"
		sv, err := s.CreateService(ctx, c)
		require.NoError(t, err)
		require.Equal(t, "uid-orders", sv.ID)
		again := newCheck("orders-2")
		again.ID = "uid-orders"
		_, err = s.CreateService(ctx, again)
		refused(t, err)
	}},
	{"names are unique among active services", func(t *testing.T, s Subject) {
		ctx := t.Context()
		a := create(t, s, "a")
		b := create(t, s, "b")
		_, err := s.CreateService(ctx, newCheck("a"))
		require.ErrorIs(t, err, registry.ErrNameTaken)
		_, err = s.UpdateService(ctx, b.ID, func(c *check.Check) error { c.Name = "a"; return nil })
		require.ErrorIs(t, err, registry.ErrNameTaken)
		got, err := s.GetService(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, "b", got.Name, "a refused update changes nothing")

		require.NoError(t, s.DeleteService(ctx, a.ID))
		again, err := s.CreateService(ctx, newCheck("a"))
		require.NoError(t, err, "a deleted service's name is free")
		require.NotEqual(t, a.ID, again.ID)
	}},
	{"unknown ids are not found", func(t *testing.T, s Subject) {
		ctx := t.Context()
		_, err := s.GetService(ctx, "nope")
		require.ErrorIs(t, err, registry.ErrNotFound)
		_, err = s.UpdateService(ctx, "nope", func(*check.Check) error { return nil })
		require.ErrorIs(t, err, registry.ErrNotFound)
		require.ErrorIs(t, s.DeleteService(ctx, "nope"), registry.ErrNotFound)
		_, _, err = s.SetPaused(ctx, "nope", true)
		require.ErrorIs(t, err, registry.ErrNotFound)
		ok, err := s.ServiceExists(ctx, "nope", true)
		require.NoError(t, err)
		require.False(t, ok)
		rs, next, err := s.Results(ctx, "nope", registry.ResultQuery{})
		require.NoError(t, err, "history of an unknown id is empty, not an error")
		require.Empty(t, rs)
		require.Empty(t, next)
	}},
	{"delete keeps history", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "gone")
		require.NoError(t, s.AddResults(ctx, []check.Result{result(sv.ID, t0, true)}))
		require.NoError(t, s.DeleteService(ctx, sv.ID))

		_, err := s.GetService(ctx, sv.ID)
		require.ErrorIs(t, err, registry.ErrNotFound)
		require.ErrorIs(t, s.DeleteService(ctx, sv.ID), registry.ErrNotFound)
		_, _, err = s.SetPaused(ctx, sv.ID, true)
		require.ErrorIs(t, err, registry.ErrNotFound)
		ok, err := s.ServiceExists(ctx, sv.ID, false)
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = s.ServiceExists(ctx, sv.ID, true)
		require.NoError(t, err)
		require.True(t, ok, "a deleted service still exists for its history")
		list, err := s.ListServices(ctx, registry.ListFilter{})
		require.NoError(t, err)
		require.Empty(t, list)
		rs, _, err := s.Results(ctx, sv.ID, registry.ResultQuery{})
		require.NoError(t, err)
		require.Len(t, rs, 1)
	}},
	{"update runs mutate on the stored check", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc", "team=a")
		got, err := s.UpdateService(ctx, sv.ID, func(c *check.Check) error {
			require.Equal(t, "svc", c.Name)
			c.Name, c.Interval, c.Tags = "renamed", time.Minute, []string{"team=b"}
			// Not mutate's to change:
			c.ID, c.Paused, c.Source, c.CreatedAt = "other", true, "kubernetes", time.Time{}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, sv.ID, got.ID)
		require.Equal(t, "renamed", got.Name)
		require.Equal(t, time.Minute, got.Interval)
		require.Equal(t, []string{"team=b"}, got.Tags)
		require.False(t, got.Paused, "pausing is SetPaused's job")
		require.Equal(t, "api", got.Source)
		require.Equal(t, sv.CreatedAt, got.CreatedAt)
		require.False(t, got.UpdatedAt.Before(sv.UpdatedAt))
		stored, err := s.GetService(ctx, sv.ID)
		require.NoError(t, err)
		require.Equal(t, got, stored)

		boom := errors.New("invalid interval")
		_, err = s.UpdateService(ctx, sv.ID, func(c *check.Check) error { c.Name = "never"; return boom })
		require.Same(t, boom, err, "mutate's error comes back unchanged")
		stored, err = s.GetService(ctx, sv.ID)
		require.NoError(t, err)
		require.Equal(t, "renamed", stored.Name)
	}},
	{"list filters by tag and state, ordered by name", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := create(t, s, "c", "team=a")
		b := create(t, s, "b", "team=b", "tier=1")
		create(t, s, "a", "team=a")
		_, _, err := s.SetPaused(ctx, b.ID, true)
		require.NoError(t, err)
		names := func(f registry.ListFilter) []string {
			list, err := s.ListServices(ctx, f)
			require.NoError(t, err)
			out := []string{}
			for _, sv := range list {
				out = append(out, sv.Name)
			}
			return out
		}
		require.Equal(t, []string{"a", "b", "c"}, names(registry.ListFilter{}))
		require.Equal(t, []string{"a", "c"}, names(registry.ListFilter{Tag: "team=a"}))
		require.Equal(t, []string{"b"}, names(registry.ListFilter{Tag: "tier=1"}))
		require.Equal(t, []string{"b"}, names(registry.ListFilter{State: check.StatePaused}))
		require.Equal(t, []string{"a", "c"}, names(registry.ListFilter{State: check.StateUnknown}))
		require.Equal(t, []string{}, names(registry.ListFilter{Tag: "team=a", State: check.StatePaused}))
		require.NoError(t, s.DeleteService(ctx, c.ID))
		require.Equal(t, []string{"a", "b"}, names(registry.ListFilter{}))
	}},
	{"services page in name order; cursors survive concurrent registrations", func(t *testing.T, s Subject) {
		ctx := t.Context()
		for _, n := range []string{"d", "B", "a", "c", "e", "b"} {
			create(t, s, n)
		}
		page := func(q registry.ServiceQuery) ([]string, string) {
			list, next, err := s.PageServices(ctx, q)
			require.NoError(t, err)
			return serviceNames(list), next
		}
		got, next := page(registry.ServiceQuery{Limit: 2})
		require.Equal(t, []string{"B", "a"}, got, "byte order: upper case first")
		require.NotEmpty(t, next)
		// Registered while the client pages: one before its position (never
		// seen, never pushing a seen one onto the next page) and one after.
		create(t, s, "Aa")
		create(t, s, "bb")
		got, next = page(registry.ServiceQuery{Limit: 2, Cursor: next})
		require.Equal(t, []string{"b", "bb"}, got)
		got, next = page(registry.ServiceQuery{Limit: 2, Cursor: next})
		require.Equal(t, []string{"c", "d"}, got)
		got, next = page(registry.ServiceQuery{Limit: 2, Cursor: next})
		require.Equal(t, []string{"e"}, got)
		require.Empty(t, next, "the last page has no cursor")

		got, next = page(registry.ServiceQuery{Limit: 8})
		require.Equal(t, []string{"Aa", "B", "a", "b", "bb", "c", "d", "e"}, got)
		require.Empty(t, next, "a page that holds exactly the rest has no cursor")
		all, err := s.ListServices(ctx, registry.ListFilter{})
		require.NoError(t, err)
		require.Equal(t, got, serviceNames(all), "ListServices and PageServices agree on the order")
		got, _ = page(registry.ServiceQuery{})
		require.Len(t, got, 8, "a zero limit is the default page")

		for _, bad := range []string{"x", "!!", "czE6", "bTp4", strings.Repeat("A", 4000)} {
			_, _, err := s.PageServices(ctx, registry.ServiceQuery{Cursor: bad})
			require.ErrorIs(t, err, registry.ErrInvalidCursor, "cursor %q", bad)
		}
	}},
	{"services search by name: any case, literal wildcards, with the other filters", func(t *testing.T, s Subject) {
		ctx := t.Context()
		create(t, s, "Payments-API", "prod")
		create(t, s, "payments_db", "staging")
		create(t, s, "search", "prod")
		create(t, s, "50%-off", "prod")
		names := func(f registry.ListFilter) []string {
			list, next, err := s.PageServices(ctx, registry.ServiceQuery{ListFilter: f})
			require.NoError(t, err)
			require.Empty(t, next)
			return serviceNames(list)
		}
		require.Equal(t, []string{"Payments-API", "payments_db"}, names(registry.ListFilter{Name: "PAY"}))
		require.Equal(t, []string{"Payments-API"}, names(registry.ListFilter{Name: "pay", Tag: "prod"}))
		require.Equal(t, []string{"payments_db"}, names(registry.ListFilter{Name: "_"}), "_ is no wildcard")
		require.Equal(t, []string{"50%-off"}, names(registry.ListFilter{Name: "%"}), "% is no wildcard")
		require.Equal(t, []string{}, names(registry.ListFilter{Name: `\`}))
		require.Equal(t, []string{}, names(registry.ListFilter{Name: "payments", State: check.StateDown}))
		list, err := s.ListServices(ctx, registry.ListFilter{Name: "ments"})
		require.NoError(t, err)
		require.Equal(t, []string{"Payments-API", "payments_db"}, serviceNames(list))
	}},
	{"services are counted per state", func(t *testing.T, s Subject) {
		ctx := t.Context()
		create(t, s, "alpha", "prod")
		b := create(t, s, "beta", "prod")
		create(t, s, "gamma", "staging")
		gone := create(t, s, "gone", "prod")
		require.NoError(t, s.DeleteService(ctx, gone.ID))
		_, _, err := s.SetPaused(ctx, b.ID, true)
		require.NoError(t, err)
		_, pause, err := s.SetPaused(ctx, b.ID, true)
		require.NoError(t, err)
		require.Nil(t, pause, "already paused")
		got, err := s.CountServices(ctx, registry.ListFilter{})
		require.NoError(t, err)
		ts, err := s.Transitions(ctx, registry.TransitionQuery{Newest: true, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, registry.StateCounts{Total: 3, ByState: map[check.State]int64{
			check.StateUnknown: 2, check.StatePaused: 1}, LastTransitionID: ts[0].ID}, got,
			"the counts say which transitions they include")
		got, err = s.CountServices(ctx, registry.ListFilter{Tag: "prod", State: check.StateUp})
		require.NoError(t, err)
		require.Equal(t, registry.StateCounts{Total: 2, ByState: map[check.State]int64{
			check.StateUnknown: 1, check.StatePaused: 1}, LastTransitionID: ts[0].ID}, got, "the state filter is ignored")
		got, err = s.CountServices(ctx, registry.ListFilter{Name: "ALP"})
		require.NoError(t, err)
		require.Equal(t, int64(1), got.ByState[check.StateUnknown])
	}},
	{"pause and resume are logged transitions", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc")
		other := create(t, s, "other")

		got, tr, err := s.SetPaused(ctx, sv.ID, true)
		require.NoError(t, err)
		require.True(t, got.Paused)
		require.Equal(t, check.StatePaused, got.State.State)
		require.NotNil(t, tr)
		require.Positive(t, tr.ID)
		require.Equal(t, sv.ID, tr.CheckID)
		require.Equal(t, "svc", tr.Service)
		require.Equal(t, check.StateUnknown, tr.From)
		require.Equal(t, check.StatePaused, tr.To)
		require.Equal(t, got.State.LastChangeAt, tr.At)

		got, again, err := s.SetPaused(ctx, sv.ID, true)
		require.NoError(t, err)
		require.Nil(t, again, "pausing a paused check changes nothing")
		require.True(t, got.Paused)

		_, _, err = s.SetPaused(ctx, other.ID, true)
		require.NoError(t, err)
		got, res, err := s.SetPaused(ctx, sv.ID, false)
		require.NoError(t, err)
		require.False(t, got.Paused)
		require.Equal(t, check.StateUnknown, got.State.State)
		require.NotNil(t, res)
		require.Equal(t, check.StatePaused, res.From)
		require.Equal(t, check.StateUnknown, res.To)
		require.Greater(t, res.ID, tr.ID)
		_, none, err := s.SetPaused(ctx, sv.ID, false)
		require.NoError(t, err)
		require.Nil(t, none, "resuming an active check changes nothing")

		mine, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: sv.ID})
		require.NoError(t, err)
		require.Equal(t, []check.Transition{*tr, *res}, mine, "ascending by id")
		newest, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: sv.ID, Newest: true, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []check.Transition{*res}, newest)
		all, err := s.Transitions(ctx, registry.TransitionQuery{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		after, err := s.Transitions(ctx, registry.TransitionQuery{AfterID: tr.ID})
		require.NoError(t, err)
		require.Len(t, after, 2)
		require.Equal(t, other.ID, after[0].CheckID)
	}},
	{"results page newest first with opaque cursors", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc")
		var rs []check.Result
		for i := range 25 {
			rs = append(rs, result(sv.ID, t0.Add(time.Duration(i)*10*time.Second), i%5 != 0))
		}
		require.NoError(t, s.AddResults(ctx, rs))

		var got []check.Result
		cursor, pages := "", 0
		for {
			page, next, err := s.Results(ctx, sv.ID, registry.ResultQuery{Limit: 10, Cursor: cursor})
			require.NoError(t, err)
			got = append(got, page...)
			pages++
			if next == "" {
				break
			}
			require.Len(t, page, 10)
			cursor = next
		}
		require.Equal(t, 3, pages)
		require.Len(t, got, 25)
		for i, r := range got {
			want := rs[24-i]
			require.Equal(t, want.ScheduledAt, r.ScheduledAt, "newest first")
			require.Equal(t, want.Status, r.Status)
			require.Equal(t, want.CheckedAt, r.CheckedAt)
			require.Equal(t, want.Latency, r.Latency)
			require.Equal(t, want.HTTPStatus, r.HTTPStatus)
			require.Equal(t, want.Error, r.Error)
		}

		exact, next, err := s.Results(ctx, sv.ID, registry.ResultQuery{Limit: 25})
		require.NoError(t, err)
		require.Len(t, exact, 25)
		require.Empty(t, next, "a page that holds the rest has no next")

		win, _, err := s.Results(ctx, sv.ID, registry.ResultQuery{Since: t0.Add(50 * time.Second), Until: t0.Add(100 * time.Second)})
		require.NoError(t, err)
		require.Len(t, win, 6, "since and until are both inclusive")
		require.Equal(t, t0.Add(100*time.Second), win[0].ScheduledAt)

		for _, bad := range []string{"garbage!", "-1", "r1:"} {
			_, _, err = s.Results(ctx, sv.ID, registry.ResultQuery{Cursor: bad})
			require.ErrorIs(t, err, registry.ErrInvalidCursor, bad)
		}
	}},
	{"results default to a page of 100", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc")
		var rs []check.Result
		for i := range DefaultLimit + 5 {
			rs = append(rs, result(sv.ID, t0.Add(time.Duration(i)*time.Second), true))
		}
		require.NoError(t, s.AddResults(ctx, rs))
		page, next, err := s.Results(ctx, sv.ID, registry.ResultQuery{})
		require.NoError(t, err)
		require.Len(t, page, DefaultLimit)
		require.NotEmpty(t, next)
	}},
	{"uptime counts results in [since, until)", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc")
		var rs []check.Result
		for i := range 10 {
			rs = append(rs, result(sv.ID, t0.Add(time.Duration(i)*time.Minute), i%4 != 0))
		}
		require.NoError(t, s.AddResults(ctx, rs))
		u, err := s.Uptime(ctx, sv.ID, t0, t0.Add(10*time.Minute))
		require.NoError(t, err)
		lat := registry.Latency{Avg: 150 * time.Millisecond, P95: 150 * time.Millisecond, Max: 150 * time.Millisecond}
		require.Equal(t, registry.Uptime{Checks: 10, Failures: 3, Latency: lat}, u)
		u, err = s.Uptime(ctx, sv.ID, t0.Add(time.Minute), t0.Add(8*time.Minute))
		require.NoError(t, err)
		require.Equal(t, registry.Uptime{Checks: 7, Failures: 1, Latency: lat}, u, "until is exclusive")
		u, err = s.Uptime(ctx, "nope", t0, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, u)
		_, err = s.Uptime(ctx, sv.ID, t0, t0)
		refused(t, err)
	}},
	{"upsert creates, then follows the check", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := newCheck("team/payments", "team=a")
		c.ID, c.Source = "uid-payments", "kubernetes"
		require.NoError(t, s.UpsertService(ctx, c))
		sv, err := s.GetService(ctx, "uid-payments")
		require.NoError(t, err)
		require.Equal(t, "team/payments", sv.Name)
		require.Equal(t, "kubernetes", sv.Source)

		next := newCheck("team/payments-v2", "team=b")
		next.ID, next.Source, next.Paused = "uid-payments", "kubernetes", true
		require.NoError(t, s.UpsertService(ctx, next))
		sv, err = s.GetService(ctx, "uid-payments")
		require.NoError(t, err)
		require.Equal(t, "team/payments-v2", sv.Name)
		require.Equal(t, []string{"team=b"}, sv.Tags)
		require.False(t, sv.Paused, "an update does not pause; SetPaused logs that")

		taken := newCheck("team/payments-v2")
		taken.ID = "uid-other"
		require.ErrorIs(t, s.UpsertService(ctx, taken), registry.ErrNameTaken)
		require.Error(t, s.UpsertService(ctx, newCheck("no-id")), "an upsert needs an id")

		require.NoError(t, s.DeleteService(ctx, "uid-payments"))
		require.ErrorIs(t, s.UpsertService(ctx, next), registry.ErrNotFound, "a deleted id does not come back")
	}},
	{"text PostgreSQL refuses is an error, not a sentinel", func(t *testing.T, s Subject) {
		ctx := t.Context()
		sv := create(t, s, "svc")
		_, err := s.CreateService(ctx, newCheck("nul\x00name"))
		refused(t, err)
		_, err = s.CreateService(ctx, newCheck("tags", "bad\xfftag"))
		refused(t, err)
		_, err = s.GetService(ctx, "id\x00")
		refused(t, err)
		_, err = s.ListServices(ctx, registry.ListFilter{Tag: "\xff"})
		refused(t, err)
		_, _, err = s.PageServices(ctx, registry.ServiceQuery{ListFilter: registry.ListFilter{Name: "\xff"}})
		refused(t, err)
		_, err = s.CountServices(ctx, registry.ListFilter{Tag: "\x00"})
		refused(t, err)
		_, err = s.UpdateService(ctx, sv.ID, func(c *check.Check) error { c.URL = "http://x/\x00"; return nil })
		refused(t, err)
		_, _, err = s.Results(ctx, "id\x00", registry.ResultQuery{})
		refused(t, err)
		_, err = s.Transitions(ctx, registry.TransitionQuery{CheckID: "\xff"})
		refused(t, err)
	}},
	{"results page by tick and region, and filter by region", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := newCheck("multi")
		c.Regions, c.Quorum = []string{"ap", check.DefaultRegion, "eu"}, 1
		sv, err := s.CreateService(ctx, c)
		require.NoError(t, err)
		var rs []check.Result
		for n := 1; n <= 3; n++ {
			for _, region := range c.Regions {
				r := result(sv.ID, t0.Add(time.Duration(n)*10*time.Second), true)
				r.Region = region
				rs = append(rs, r)
			}
		}
		require.NoError(t, s.AddResults(ctx, rs))
		page := func(q registry.ResultQuery) []string {
			t.Helper()
			var got []string
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20)
				items, next, err := s.Results(ctx, sv.ID, q)
				require.NoError(t, err)
				for _, r := range items {
					got = append(got, fmt.Sprintf("%d@%s", r.ScheduledAt.Sub(t0)/(10*time.Second), r.Region))
				}
				if next == "" {
					return got
				}
				q.Cursor = next
			}
		}
		// Newest first, then by region descending; the default region
		// reads back as "".
		all := []string{"3@eu", "3@", "3@ap", "2@eu", "2@", "2@ap", "1@eu", "1@", "1@ap"}
		for _, limit := range []int{1, 2, 4, 100} {
			require.Equal(t, all, page(registry.ResultQuery{Limit: limit}), "limit %d", limit)
		}
		require.Equal(t, []string{"3@eu", "2@eu", "1@eu"}, page(registry.ResultQuery{Limit: 2, Region: "eu"}))
		require.Equal(t, []string{"3@", "2@", "1@"}, page(registry.ResultQuery{Limit: 1, Region: check.DefaultRegion}))
		require.Empty(t, page(registry.ResultQuery{Region: "us"}), "a region the check does not list")
	}},
	{"uptime of one region counts only its results", func(t *testing.T, s Subject) {
		ctx := t.Context()
		c := newCheck("multi")
		c.Regions, c.Quorum = []string{"eu", "us"}, 1
		sv, err := s.CreateService(ctx, c)
		require.NoError(t, err)
		plain := create(t, s, "plain")
		var rs []check.Result
		for i := range 10 {
			at := t0.Add(time.Duration(i) * time.Minute)
			eu := result(sv.ID, at, true)
			eu.Region = "eu"
			us := result(sv.ID, at, i%2 == 0) // every other one DOWN
			us.Region, us.Latency = "us", 450*time.Millisecond
			rs = append(rs, eu, us, result(plain.ID, at, i != 0))
		}
		require.NoError(t, s.AddResults(ctx, rs))
		lat := func(d time.Duration) registry.Latency { return registry.Latency{Avg: d, P95: d, Max: d} }

		u, err := s.RegionUptime(ctx, sv.ID, "us", t0, t0.Add(10*time.Minute))
		require.NoError(t, err)
		require.Equal(t, registry.Uptime{Checks: 10, Failures: 5, Latency: lat(450 * time.Millisecond)}, u)
		u, err = s.RegionUptime(ctx, sv.ID, "eu", t0.Add(time.Minute), t0.Add(8*time.Minute))
		require.NoError(t, err)
		require.Equal(t, registry.Uptime{Checks: 7, Latency: lat(150 * time.Millisecond)}, u, "until is exclusive")
		u, err = s.Uptime(ctx, sv.ID, t0, t0.Add(10*time.Minute))
		require.NoError(t, err)
		require.Equal(t, int64(20), u.Checks, "without a region, every region's")
		require.Equal(t, int64(5), u.Failures)

		u, err = s.RegionUptime(ctx, sv.ID, "ap", t0, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, u, "a region the check does not list")
		u, err = s.RegionUptime(ctx, plain.ID, check.DefaultRegion, t0, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, registry.Uptime{Checks: 10, Failures: 1, Latency: lat(150 * time.Millisecond)}, u,
			"a check without regions probes from the default region")
		_, err = s.RegionUptime(ctx, sv.ID, "eu", t0, t0)
		refused(t, err)
	}},
}

// result is a result of id at tick, UP or DOWN.
func result(id string, tick time.Time, up bool) check.Result {
	r := check.Result{CheckID: id, ScheduledAt: tick, CheckedAt: tick.Add(150 * time.Millisecond),
		Status: check.ResultUp, Latency: 150 * time.Millisecond, HTTPStatus: 200}
	if !up {
		r.Status, r.HTTPStatus, r.Error = check.ResultDown, 503, fmt.Sprintf("unexpected status %d", 503)
	}
	return r
}

func serviceNames(list []registry.Service) []string {
	out := []string{}
	for _, sv := range list {
		out = append(out, sv.Name)
	}
	return out
}
