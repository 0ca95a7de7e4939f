package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// TestDeliveriesCarryTheRegions: a delivery of a check with regions is
// claimed with the regions' states its transition logged and the check's
// quorum, also by a process started after the one that claimed it first
// died; a check without regions is claimed with none.
func TestDeliveriesCarryTheRegions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	clk := &clock{t: t0}
	open := func() *store.Store {
		s, err := store.Open(ctx, dsn, 4, store.WithClock(clk.Now))
		require.NoError(t, err)
		return s
	}
	s := open()
	defer func() { s.Close() }()
	_, err := s.Migrate(ctx)
	require.NoError(t, err)
	newChannel(t, s, "all", nil)

	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	multi, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	plain := create(t, s, "plain")
	tick := func(id string, n int, ups map[string]bool) {
		t.Helper()
		var rs []check.Result
		for region, up := range ups {
			r := result(id, t0.Add(time.Duration(n)*10*time.Second), up)
			r.Region = region
			rs = append(rs, r)
		}
		_, err := s.Record(ctx, rs)
		require.NoError(t, err)
	}
	tick(multi.ID, 1, map[string]bool{"eu": true, "us": true, "ap": true})
	tick(multi.ID, 2, map[string]bool{"eu": false, "us": false, "ap": true})
	tick(plain.ID, 1, map[string]bool{"": true})
	tick(plain.ID, 2, map[string]bool{"": false})

	wantRegions := map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUp}
	requireJobs := func(jobs []notify.Job) {
		t.Helper()
		require.Len(t, jobs, 2)
		for _, j := range jobs {
			require.Equal(t, check.StateDown, j.Transition.To)
			switch j.Delivery.ServiceID {
			case multi.ID:
				require.Equal(t, wantRegions, j.Transition.Regions)
				require.Equal(t, 2, j.Quorum)
			case plain.ID:
				require.Nil(t, j.Transition.Regions)
				require.Zero(t, j.Quorum)
			default:
				t.Fatalf("a delivery of an unknown service %s", j.Delivery.ServiceID)
			}
		}
	}
	first := claimAll(t, s, clk.Now())
	requireJobs(first)

	// The claimer dies without finishing; a new process claims the same
	// deliveries once the lease runs out, and reads the regions again.
	s.Close()
	s = open()
	again := claimAll(t, s, clk.Now().Add(2*time.Minute))
	requireJobs(again)
	require.ElementsMatch(t, []string{first[0].Delivery.ID, first[1].Delivery.ID},
		[]string{again[0].Delivery.ID, again[1].Delivery.ID}, "the same deliveries, by the same ids")
}
