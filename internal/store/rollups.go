package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// rollUp recomputes, from the raw results, the rollup of every marked hour
// that ended at least p.Grace before now, in chunks of p.Chunk hours a
// transaction paced by pace, and returns how many hours it rolled up.
//
// Marks are taken in key order with FOR UPDATE and deleted in the same
// transaction, and the recompute is a later statement of it: a record
// transaction that marks one of these hours meanwhile waits for the mark's
// lock (record.go marks with ON CONFLICT DO UPDATE ... WHERE false, which
// locks), then commits, and the recompute's fresh snapshot sees its
// result; or it commits after the delete and marks the hour again for the
// next pass. Either way no result is left out, and recomputing an hour
// (never adding to it) makes redelivered and repeated work harmless.
//
// An hour older than the results retention's first whole day is
// recomputed only while a partition still holds it (maintenance that was
// down for longer than the retention catches up before it drops): once its
// partition is dropped, a late result for it waits in the default
// partition and must not replace the hour's rollup with a rollup of
// itself.
func rollUp(ctx context.Context, conn *pgx.Conn, now time.Time, p HistoryPolicy, pace pacer) (int, error) {
	through := now.Add(-p.Grace).Truncate(time.Hour)
	rawFrom := resultsTable.floor(now.Add(-p.ResultsRetention))
	have, err := listPartitions(ctx, conn, resultsTable.parent)
	if err != nil {
		return 0, err
	}
	complete := func(h time.Time) bool {
		return !h.Before(rawFrom) || overlaps(have, h, h.Add(time.Hour))
	}
	total := 0
	for {
		began := time.Now()
		n, err := rollUpChunk(ctx, conn, through, complete, p.Chunk)
		total += n
		if err != nil {
			return total, err
		}
		if n < p.Chunk {
			break
		}
		if err := pace.after(ctx, began); err != nil {
			return total, err
		}
	}
	if _, err := conn.Exec(ctx, `UPDATE history_state SET rollups_through = greatest(rollups_through, $1)`, through); err != nil {
		return total, fmt.Errorf("advance rollups_through: %w", err)
	}
	return total, nil
}

func rollUpChunk(ctx context.Context, conn *pgx.Conn, through time.Time, complete func(time.Time) bool, chunk int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		marked, at, err := takeMarks(ctx, tx, "rollup_marks", "hour", through, chunk)
		if err != nil {
			return err
		}
		n = len(marked)
		var ids []string
		var hours []time.Time
		for i, h := range at {
			if complete(h) {
				ids, hours = append(ids, marked[i]), append(hours, h)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, recomputeRollups, ids, hours); err != nil {
			return fmt.Errorf("recompute %d hourly rollups: %w", len(ids), err)
		}
		// The days of these hours are stale now; rollUpDays rebuilds them
		// later in this pass. Marked here, in the same transaction, so a
		// crash between the two steps leaves the mark for the next pass.
		if _, err := tx.Exec(ctx, `INSERT INTO rollup_day_marks
			SELECT DISTINCT check_id, date_trunc('day', hour, 'UTC') FROM unnest($1::text[], $2::timestamptz[]) AS k(check_id, hour)
			ON CONFLICT DO NOTHING`, ids, hours); err != nil {
			return fmt.Errorf("mark the days of %d hourly rollups: %w", len(ids), err)
		}
		return nil
	})
	return n, err
}

// recomputeRollups rebuilds the rollups of the (check, hour) pairs $1, $2
// from the raw results, bucketing latencies as migration 0003 does.
const recomputeRollups = `INSERT INTO check_rollups AS c (check_id, hour, checks, failures,
		latency_sum_us, latency_min_us, latency_max_us, hist)
	SELECT check_id, hour, sum(n)::integer, sum(f)::integer, sum(s)::bigint, min(mn), max(mx),
		string_agg(int2send(bucket::smallint) || int4send(n::integer), ''::bytea ORDER BY bucket)
	FROM (
		SELECT k.check_id, k.hour, width_bucket(r.latency_us, vigil_latency_bounds()) AS bucket,
			count(*) AS n, count(*) FILTER (WHERE NOT r.success) AS f,
			sum(r.latency_us) AS s, min(r.latency_us) AS mn, max(r.latency_us) AS mx
		FROM unnest($1::text[], $2::timestamptz[]) AS k(check_id, hour)
		JOIN check_results r ON r.check_id = k.check_id
			AND r.scheduled_at >= k.hour AND r.scheduled_at < k.hour + interval '1 hour'
		GROUP BY 1, 2, 3
	) b
	GROUP BY check_id, hour
	ON CONFLICT (check_id, hour) DO UPDATE SET checks = EXCLUDED.checks, failures = EXCLUDED.failures,
		latency_sum_us = EXCLUDED.latency_sum_us, latency_min_us = EXCLUDED.latency_min_us,
		latency_max_us = EXCLUDED.latency_max_us, hist = EXCLUDED.hist`

// rollUpDays recomputes, from the hourly rollups, the daily rollup of
// every marked day wholly before through (all its hours rolled up), in
// chunks of chunk days a transaction, then advances days_through to
// through's day. It runs in the same pass as rollUp, after it, under the
// maintenance lock, so no other pass marks or takes days meanwhile; a
// daily row is stale only between the two steps of one pass (or until the
// next pass, if this one fails between them), and queries read daily rows
// only before days_through.
//
// Once budget has passed (pauses included; negative: no bound) it stops
// after a chunk and leaves the remaining marks to the next pass. Then
// days_through goes back to the first day still marked, if it had passed
// it, so that queries read that day from its hourly rollups (always
// current) until its daily row is rebuilt.
func rollUpDays(ctx context.Context, conn *pgx.Conn, through time.Time, chunk int, budget time.Duration, pace pacer) (int, error) {
	dayThrough := through.UTC().Truncate(24 * time.Hour)
	start := time.Now()
	total := 0
	for {
		began := time.Now()
		var n int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			ids, days, err := takeMarks(ctx, tx, "rollup_day_marks", "day", dayThrough, chunk)
			if err != nil {
				return err
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, recomputeDays, ids, days); err != nil {
				return fmt.Errorf("recompute %d daily rollups: %w", n, err)
			}
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < chunk {
			break
		}
		if budget >= 0 && time.Since(start) >= budget {
			if _, err := conn.Exec(ctx, `UPDATE history_state
				SET days_through = least(days_through, coalesce((SELECT min(day) FROM rollup_day_marks), days_through))`); err != nil {
				return total, fmt.Errorf("hold days_through at the first marked day: %w", err)
			}
			return total, nil
		}
		if err := pace.after(ctx, began); err != nil {
			return total, err
		}
	}
	if _, err := conn.Exec(ctx, `UPDATE history_state SET days_through = greatest(days_through, $1)`, dayThrough); err != nil {
		return total, fmt.Errorf("advance days_through: %w", err)
	}
	return total, nil
}

// recomputeDays rebuilds the daily rollups of the (check, day) pairs $1,
// $2 from their hourly rollups: counts and latency sums add up, min and
// max carry over, and the histograms add bucket by bucket (decoded from
// their 6-byte pairs, migration 0003). Days are 24 hours of UTC, spelled
// as hours so the session's time zone cannot make one 23 or 25 long.
const recomputeDays = `WITH r AS (
		SELECT k.check_id, k.day, h.checks, h.failures, h.latency_sum_us, h.latency_min_us, h.latency_max_us, h.hist
		FROM unnest($1::text[], $2::timestamptz[]) AS k(check_id, day)
		JOIN check_rollups h ON h.check_id = k.check_id AND h.hour >= k.day AND h.hour < k.day + interval '24 hours'
	), b AS (
		SELECT check_id, day, (get_byte(hist, i) << 8) | get_byte(hist, i + 1) AS bucket,
			sum(((get_byte(hist, i + 2)::bigint << 24) | (get_byte(hist, i + 3) << 16)) | ((get_byte(hist, i + 4) << 8) | get_byte(hist, i + 5))) AS n
		FROM r, generate_series(0, length(hist) - 6, 6) AS i
		GROUP BY 1, 2, 3
	), h AS (
		SELECT check_id, day, string_agg(int2send(bucket::smallint) || int4send(n::integer), ''::bytea ORDER BY bucket) AS hist
		FROM b GROUP BY 1, 2
	), s AS (
		SELECT check_id, day, sum(checks)::integer AS checks, sum(failures)::integer AS failures,
			sum(latency_sum_us)::bigint AS latency_sum_us, min(latency_min_us) AS latency_min_us, max(latency_max_us) AS latency_max_us
		FROM r GROUP BY 1, 2
	)
	INSERT INTO check_rollups_daily AS c (check_id, day, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist)
	SELECT s.check_id, s.day, s.checks, s.failures, s.latency_sum_us, s.latency_min_us, s.latency_max_us, coalesce(h.hist, ''::bytea)
	FROM s LEFT JOIN h USING (check_id, day)
	ON CONFLICT (check_id, day) DO UPDATE SET checks = EXCLUDED.checks, failures = EXCLUDED.failures,
		latency_sum_us = EXCLUDED.latency_sum_us, latency_min_us = EXCLUDED.latency_min_us,
		latency_max_us = EXCLUDED.latency_max_us, hist = EXCLUDED.hist`

// takeMarks deletes and returns up to limit marks of table (rollup_marks
// by hour, rollup_day_marks by day) whose key lies before before, in key
// order and locked FOR UPDATE, so the caller's transaction recomputes
// exactly what it took (see rollUp for why no result slips between).
func takeMarks(ctx context.Context, tx pgx.Tx, table, key string, before time.Time, limit int) ([]string, []time.Time, error) {
	t, k := pgx.Identifier{table}.Sanitize(), pgx.Identifier{key}.Sanitize()
	rows, err := tx.Query(ctx, `DELETE FROM `+t+` m USING (
			SELECT check_id, `+k+` FROM `+t+` WHERE `+k+` < $1
			ORDER BY check_id, `+k+` LIMIT $2 FOR UPDATE) x
		WHERE m.check_id = x.check_id AND m.`+k+` = x.`+k+`
		RETURNING m.check_id, m.`+k, before, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("take %s: %w", table, err)
	}
	defer rows.Close()
	var (
		ids   []string
		times []time.Time
	)
	for rows.Next() {
		var (
			id string
			at time.Time
		)
		if err := rows.Scan(&id, &at); err != nil {
			return nil, nil, fmt.Errorf("take %s: %w", table, err)
		}
		ids, times = append(ids, id), append(times, at)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("take %s: %w", table, err)
	}
	return ids, times, nil
}
