package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-dev/vigil/internal/store"
)

// The history churn (-history-churn) makes a short run do what a long one
// does to the history tables, while the load runs: the servers'
// maintenance loop rolls up a window's worth of closed hours, drops a
// partition full of expired results and creates one ahead. None of it
// happens on its own in a ten-minute run, since partitions are days and
// rollups follow closed hours: the churn seeds the day before yesterday
// with as many results as the window will record (every check, every
// interval, from midnight), sets VIGIL_RESULTS_RETENTION so that the day
// expires in the middle of the measured window, an eighth into the window
// marks the seeded hours for rollup (what the record path does for every
// hour), and a quarter into the window removes the newest partition ahead,
// which the next pass creates again. The servers' own loop does the
// rolling up, the dropping and the creating; the harness only writes the
// marks and watches the catalog. The rollup work is a window's worth of
// results, as in a long run; its per-check overhead is paid once per
// window instead of once per hour, so it errs on the side of cost.

// churnPlan is what -history-churn prepares before the processes start.
type churnPlan struct {
	// retention is the VIGIL_RESULTS_RETENTION that expires the seeded day
	// at expireAt.
	retention time.Duration
	expireAt  time.Time
	seeded    string // the seeded partition
	day       time.Time
	interval  time.Duration
	checks    int
	rows      int64
	pool      *pgxpool.Pool
}

// churnReport is what the churn saw during the run.
type churnReport struct {
	Seeded          string  `json:"seeded_partition"`
	MarkedAtS       float64 `json:"hours_marked_at_seconds_into_window"`
	Marked          int64   `json:"check_hours_marked"`
	RolledUpAtS     float64 `json:"marks_rolled_up_by_seconds_into_window"`
	SeededRows      int64   `json:"seeded_rows"`
	SeededMiB       float64 `json:"seeded_mib"`
	DroppedAtS      float64 `json:"seeded_dropped_at_seconds_into_window"`
	Removed         string  `json:"removed_ahead_partition"`
	RemovedAtS      float64 `json:"removed_at_seconds_into_window"`
	RecreatedAtS    float64 `json:"recreated_at_seconds_into_window"`
	RollupRows      int64   `json:"rollup_rows_at_end"`
	RollupsMiB      float64 `json:"rollups_mib_at_end"`
	ResultsMiB      float64 `json:"results_mib_at_end"`
	PartitionsAtEnd int     `json:"results_partitions_at_end"`
}

// planChurn estimates when the window's middle falls (registration at
// ~3 ms a check on this machine, then the warmup, then half the window)
// and seeds the day before yesterday's partition with a window's results.
// Run before the processes start, so that the seeding's cost is not
// counted.
func planChurn(ctx context.Context, st *store.Store, pool *pgxpool.Pool, o options) (churnPlan, error) {
	now := time.Now().UTC()
	mid := now.Add(time.Duration(o.checks)*3*time.Millisecond + o.warmup + o.duration/2)
	day := now.Truncate(24*time.Hour).AddDate(0, 0, -2)
	checks := max(o.checks, 1)
	rows := int64(checks) * int64(max(o.duration/o.interval, 1))
	// The seeded day's partition ends at day+1; it expires once
	// now - retention passes that.
	p := churnPlan{retention: mid.Sub(day.AddDate(0, 0, 1)), expireAt: mid, day: day, interval: o.interval, checks: checks, rows: rows}
	// A pass as of the seeded day makes its partition the store's own way
	// (and the days around it, which the servers' first pass drops or
	// keeps by the retention).
	rep, err := st.Maintain(ctx, day.Add(12*time.Hour), store.HistoryPolicy{ResultsRetention: 24 * time.Hour})
	if err != nil {
		return p, fmt.Errorf("history churn: create the seeded day: %w", err)
	}
	if !rep.Ran {
		return p, errors.New("history churn: the maintenance lock was taken")
	}
	if err := pool.QueryRow(ctx, `SELECT name FROM history_partitions WHERE parent = 'check_results' AND lower_bound = $1`,
		day).Scan(&p.seeded); err != nil {
		return p, fmt.Errorf("history churn: find the seeded partition: %w", err)
	}
	// A day's results of o.checks checks, every 10 s, as many as rows:
	// the key and row shape of real results.
	started := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us, http_status, error)
		SELECT 'seed-' || (i % $2), $1::timestamptz + (i / $2) * $4::interval,
		       $1::timestamptz + (i / $2) * $4::interval + interval '30 milliseconds',
		       i % 50 <> 0, 1000 + i % 5000, 200, CASE WHEN i % 50 = 0 THEN 'connection refused' ELSE '' END
		FROM generate_series(0, $3 - 1) AS i`, day, checks, rows, o.interval); err != nil {
		return p, fmt.Errorf("history churn: seed %s: %w", p.seeded, err)
	}
	fmt.Printf("history churn: seeded %d results into %s in %s; VIGIL_RESULTS_RETENTION=%s expires it at %s\n",
		rows, p.seeded, time.Since(started).Round(time.Second), p.retention, p.expireAt.Format(time.TimeOnly))
	return p, nil
}

// watchChurn follows the catalog during the window: when the seeded
// partition goes, and, after removing the newest partition ahead a
// quarter into the window, when it is back. stop returns what it saw.
func watchChurn(ctx context.Context, pool *pgxpool.Pool, p churnPlan, windowStart time.Time, window time.Duration) (stop func() churnReport) {
	var (
		mu  sync.Mutex
		rep = churnReport{Seeded: p.seeded, SeededRows: p.rows, DroppedAtS: -1, RemovedAtS: -1, RecreatedAtS: -1,
			MarkedAtS: -1, RolledUpAtS: -1}
	)
	var size int64
	if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass)`, p.seeded).Scan(&size); err == nil {
		rep.SeededMiB = float64(size) / (1 << 20)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		markAt, removeAt := windowStart.Add(window/8), windowStart.Add(window/4)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				mu.Lock()
				markTick(ctx, pool, p, &rep, now, windowStart, markAt)
				churnTick(ctx, pool, &rep, now, windowStart, removeAt)
				mu.Unlock()
			}
		}
	}()
	return func() churnReport {
		cancel()
		<-done
		finishChurn(context.Background(), pool, &rep)
		return rep
	}
}

// markTick marks the seeded hours for rollup when it is time, and then
// watches for the servers' maintenance to have rolled them all up.
func markTick(ctx context.Context, pool *pgxpool.Pool, p churnPlan, rep *churnReport, now, windowStart, markAt time.Time) {
	at := now.Sub(windowStart).Seconds()
	switch {
	case rep.MarkedAtS < 0 && !now.Before(markAt):
		tag, err := pool.Exec(ctx, `INSERT INTO rollup_marks (check_id, hour)
			SELECT 'seed-' || i, h FROM generate_series(0, $1 - 1) AS i,
				generate_series($2::timestamptz, $2::timestamptz + $3::interval - interval '1 microsecond', interval '1 hour') AS h
			ON CONFLICT DO NOTHING`, p.checks, p.day, time.Duration(p.rows/int64(p.checks))*p.interval)
		if err != nil {
			fmt.Printf("history churn: mark the seeded hours: %v\n", err)
			rep.MarkedAtS = 0
			return
		}
		rep.MarkedAtS, rep.Marked = at, tag.RowsAffected()
		fmt.Printf("history churn: marked %d seeded check-hours for rollup at +%.0fs\n", rep.Marked, at)
	case rep.Marked > 0 && rep.RolledUpAtS < 0:
		var left bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rollup_marks WHERE hour < $1::timestamptz + interval '1 day')`,
			p.day).Scan(&left); err == nil && !left {
			rep.RolledUpAtS = at
			fmt.Printf("history churn: the servers' maintenance had rolled them up by +%.0fs\n", at)
		}
	}
}

// churnTick is one look at the catalog, and the removal when it is due.
func churnTick(ctx context.Context, pool *pgxpool.Pool, rep *churnReport, now, windowStart, removeAt time.Time) {
	at := now.Sub(windowStart).Seconds()
	if rep.DroppedAtS < 0 && !partitionExists(ctx, pool, rep.Seeded) {
		rep.DroppedAtS = at
		fmt.Printf("history churn: %s dropped by the servers' maintenance at +%.0fs\n", rep.Seeded, at)
	}
	switch {
	case rep.Removed == "" && !now.Before(removeAt):
		name, err := removeNewestAhead(ctx, pool)
		if err != nil {
			fmt.Printf("history churn: %v\n", err)
			rep.Removed = "-"
			return
		}
		rep.Removed, rep.RemovedAtS = name, at
		fmt.Printf("history churn: removed %s at +%.0fs\n", name, at)
	case rep.Removed != "" && rep.Removed != "-" && rep.RecreatedAtS < 0 && partitionExists(ctx, pool, rep.Removed):
		rep.RecreatedAtS = at
		fmt.Printf("history churn: %s created again by the servers' maintenance at +%.0fs\n", rep.Removed, at)
	}
}

func partitionExists(ctx context.Context, pool *pgxpool.Pool, name string) bool {
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
		return true // unknown: do not report a drop that did not happen
	}
	return ok
}

// removeNewestAhead drops the newest results partition (an empty day
// ahead) as the store drops one, so that the next maintenance pass
// creates it under load.
func removeNewestAhead(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var name string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT name FROM history_partitions WHERE parent = 'check_results'
			ORDER BY upper_bound DESC LIMIT 1`).Scan(&name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM history_partitions WHERE name = $1`, name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("remove the newest partition ahead: %w", err)
	}
	return name, nil
}

// prepareChurn is -history-churn's preparation: the plan, on a pool of
// its own that the returned close ends, and the servers' environment
// with the retention that expires the seeded day mid-window.
func prepareChurn(ctx context.Context, st *store.Store, dbURL string, o options, env []string) (*churnPlan, []string, func(), error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, env, nil, err
	}
	p, err := planChurn(ctx, st, pool, o)
	if err != nil {
		pool.Close()
		return nil, env, nil, err
	}
	p.pool = pool
	return &p, append(env, "VIGIL_RESULTS_RETENTION="+p.retention.Round(time.Second).String()), pool.Close, nil
}

// finishChurn measures the history tables as the run leaves them.
func finishChurn(ctx context.Context, pool *pgxpool.Pool, rep *churnReport) {
	var results, rollups int64
	_ = pool.QueryRow(ctx, `SELECT
			(SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint FROM pg_partition_tree('check_results')),
			(SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint FROM pg_partition_tree('check_rollups')),
			(SELECT count(*) FROM check_rollups),
			(SELECT count(*) FROM history_partitions WHERE parent = 'check_results')`).
		Scan(&results, &rollups, &rep.RollupRows, &rep.PartitionsAtEnd)
	rep.ResultsMiB, rep.RollupsMiB = float64(results)/(1<<20), float64(rollups)/(1<<20)
}

func printChurn(r *churnReport) {
	if r == nil {
		return
	}
	fmt.Printf("\nhistory churn: %d seeded check-hours marked at %+.0fs, all rolled up by %+.0fs\n", r.Marked, r.MarkedAtS, r.RolledUpAtS)
	fmt.Printf("history churn: seeded %s (%d results, %.0f MiB) dropped at %+.0fs into the window; "+
		"%s removed at %+.0fs and created again at %+.0fs (-1: did not happen)\n",
		r.Seeded, r.SeededRows, r.SeededMiB, r.DroppedAtS, r.Removed, r.RemovedAtS, r.RecreatedAtS)
	fmt.Printf("history at the end: results %.0f MiB in %d partitions, rollups %.1f MiB (%d rows)\n",
		r.ResultsMiB, r.PartitionsAtEnd, r.RollupsMiB, r.RollupRows)
}
