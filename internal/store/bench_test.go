package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	cpu0 := postgresCPU()
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
	reportPostgresCPU(b, cpu0, b.N*checks, "result")
}

// postgresCPU is the CPU time every postgres process on this machine has
// used, from /proc; zero where that cannot be read (another OS, a remote
// database). The figure includes anything else the server does meanwhile,
// so it is for a quiet machine.
func postgresCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + k
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// reportPostgresCPU adds the database's CPU per unit of work to a
// benchmark's output: what the server spends is the cost that matters
// when sizing PostgreSQL, and wall time per op does not show it.
func reportPostgresCPU(b *testing.B, since time.Duration, units int, unit string) {
	if since == 0 || units == 0 {
		return
	}
	used := postgresCPU() - since
	b.ReportMetric(float64(used.Microseconds())/float64(units), "pg-cpu-µs/"+unit)
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
	noop := func(context.Context, []check.Job, int) error { return nil }
	b.ResetTimer()
	cpu0 := postgresCPU()
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
	reportPostgresCPU(b, cpu0, claimed, "job")
}
