package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// TestClaimDueFansOutOverRegions: a tick of a check with regions is one job
// per region; a check without regions still gets one job without a region.
func TestClaimDueFansOutOverRegions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	plain := create(t, s, "plain")
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	multi, err := s.CreateService(ctx, c)
	require.NoError(t, err)

	var got []check.Job
	n, err := s.ClaimDue(ctx, t0.Add(10*time.Second), 100, 0, func(_ context.Context, jobs []check.Job) error {
		got = append(got, jobs...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 4, n)
	regions := map[string][]string{}
	for _, j := range got {
		regions[j.CheckID] = append(regions[j.CheckID], j.Region)
	}
	require.Equal(t, []string{""}, regions[plain.ID])
	require.Equal(t, []string{"eu", "us", "ap"}, regions[multi.ID])
}

// TestRecordKeepsEachRegionsResult: the results of one tick from several
// regions are all stored, each once however often it is redelivered.
func TestRecordKeepsEachRegionsResult(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us"}, 1
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	tick := t0.Add(10 * time.Second)
	eu, us := result(sv.ID, tick, true), result(sv.ID, tick, false)
	eu.Region, us.Region = "eu", "us"

	out, err := s.Record(ctx, []check.Result{eu, us})
	require.NoError(t, err)
	require.Equal(t, 2, out.Stored)
	again, err := s.Record(ctx, []check.Result{us, eu})
	require.NoError(t, err)
	require.Zero(t, again.Stored)

	var regions []string
	require.NoError(t, s.QueryRow(ctx,
		`SELECT array_agg(region ORDER BY region) FROM check_results WHERE check_id = $1`, sv.ID).Scan(&regions))
	require.Equal(t, []string{"eu", "us"}, regions)

	plain := create(t, s, "plain")
	_, err = s.Record(ctx, []check.Result{result(plain.ID, tick, true)})
	require.NoError(t, err)
	var region string
	require.NoError(t, s.QueryRow(ctx,
		`SELECT region FROM check_results WHERE check_id = $1`, plain.ID).Scan(&region))
	require.Equal(t, check.DefaultRegion, region, "a check without regions records under the default region")
}
