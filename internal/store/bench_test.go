package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// benchStore is a migrated store in a schema of the benchmark's own.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	s, err := store.Open(context.Background(), pgtest.Schema(b), 4)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRecordBatch records one result for each of 200 checks per
// transaction, the shape of a busy worker's group commit.
func BenchmarkRecordBatch(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	const checks = 200
	ids := make([]string, checks)
	for i := range ids {
		c := newCheck(fmt.Sprintf("bench-%d", i))
		sv, err := s.CreateService(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = sv.ID
	}
	b.ResetTimer()
	for n := range b.N {
		batch := make([]check.Result, checks)
		tick := t0.Add(time.Duration(n+1) * 10 * time.Second)
		for i, id := range ids {
			batch[i] = result(id, tick, (n+i)%7 != 0)
		}
		if _, err := s.Record(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*checks)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkClaimDue claims and advances batches of 500 due checks.
func BenchmarkClaimDue(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	for i := range 5000 {
		if _, err := s.CreateService(ctx, newCheck(fmt.Sprintf("bench-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().Add(10 * time.Second)
	noop := func(context.Context, []check.Job) error { return nil }
	b.ResetTimer()
	claimed := 0
	for range b.N {
		n, err := s.ClaimDue(ctx, now, 500, 0, noop)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			now = now.Add(10 * time.Second)
		}
		claimed += n
	}
	b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "jobs/s")
}
