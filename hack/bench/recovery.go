package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The recovery measurement (-slow-for) ends an overload mid-window: the
// slow targets answer slowly only for the first part of the window, so the
// workers' capacity (concurrency over the slow answer time) is short of
// the due rate until then and ample after. The report gives each
// interval-wide slice of the window by scheduled time, and how long after
// the switch the ticks were all recorded and on time again.

// recoveryP99 is the lag under which a slice counts as on time again: well
// above a healthy run's p99 (tens of ms), far below an overloaded one's
// (seconds).
const recoveryP99 = time.Second

// slice is one interval of the window, by the ticks' scheduled time.
type slice struct {
	FromS    float64 `json:"from_seconds"`
	Recorded int64   `json:"recorded"`
	LagP50ms float64 `json:"lag_p50_ms"`
	LagP99ms float64 `json:"lag_p99_ms"`
}

// recoveryReport is what -slow-for measured.
type recoveryReport struct {
	SwitchS float64 `json:"load_dropped_at_seconds"`
	// RecoveredAfterS is how long after the switch the first slice began
	// from which on every slice recorded every check on time; -1 if none
	// did before the window ended.
	RecoveredAfterS float64 `json:"recovered_after_seconds"`
	Slices          []slice `json:"slices"`
}

// measureRecovery cuts the window into interval-wide slices and finds the
// first one after the switch from which on every slice has all checks'
// ticks recorded with a lag p99 under recoveryP99.
func measureRecovery(ctx context.Context, pool *pgxpool.Pool, o options, from, to, switched time.Time) (*recoveryReport, error) {
	rows, err := pool.Query(ctx, `SELECT floor(extract(epoch FROM scheduled_at - $1::timestamptz) / $3)::int AS n, count(*),
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM checked_at - scheduled_at) * 1000),
			percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM checked_at - scheduled_at) * 1000)
		FROM check_results WHERE scheduled_at >= $1 AND scheduled_at < $2
		GROUP BY n ORDER BY n`, from, to, o.interval.Seconds())
	if err != nil {
		return nil, fmt.Errorf("recovery slices: %w", err)
	}
	defer rows.Close()
	rep := &recoveryReport{SwitchS: switched.Sub(from).Seconds(), RecoveredAfterS: -1}
	for rows.Next() {
		var (
			n int
			s slice
		)
		if err := rows.Scan(&n, &s.Recorded, &s.LagP50ms, &s.LagP99ms); err != nil {
			return nil, err
		}
		s.FromS = float64(n) * o.interval.Seconds()
		rep.Slices = append(rep.Slices, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Every whole slice has one grid point of every check; the last slice
	// may be cut short by the window's end and is not judged.
	whole := int(to.Sub(from) / o.interval)
	for i, s := range slices.Backward(rep.Slices) {
		if i >= whole {
			continue
		}
		if s.Recorded < int64(o.checks*max(len(o.regions), 1)) || s.LagP99ms >= float64(recoveryP99.Milliseconds()) {
			break
		}
		if s.FromS >= rep.SwitchS {
			rep.RecoveredAfterS = s.FromS - rep.SwitchS
		}
	}
	return rep, nil
}

func printRecovery(r *recoveryReport) {
	if r == nil {
		return
	}
	fmt.Printf("\nslow targets answered quickly from %+.0fs; every later slice of ticks recorded in full with lag p99 < %s from %+.0fs after that (-1: never)\n",
		r.SwitchS, recoveryP99, r.RecoveredAfterS)
	fmt.Printf("\n| ticks scheduled from | recorded | lag p50 | lag p99 |\n|---|---|---|---|\n")
	for _, s := range r.Slices {
		fmt.Printf("| %+.0fs | %d | %.0f ms | %.0f ms |\n", s.FromS, s.Recorded, s.LagP50ms, s.LagP99ms)
	}
}
