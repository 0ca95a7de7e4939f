package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/histogram"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Uptime counts a check's results whose tick lies in [since, until) and
// summarises their latency. The uptime ratio is (Checks-Failures)/Checks;
// results are counted, not time, so a window in which nothing was probed
// has no ratio at all.
//
// Whole hours before the last maintenance pass's rollups_through come from
// the hourly rollups, the partial hours at the edges and the hours since
// from the raw results, so the answer is exact to the result at both edges
// and costs a few rows an hour of window. Raw results reach back to the
// results retention only: an edge older than that is widened to its whole
// hour, which the rollup has.
func (s *Store) Uptime(ctx context.Context, checkID string, since, until time.Time) (registry.Uptime, error) {
	if !until.After(since) {
		return registry.Uptime{}, errors.New("uptime: until must be after since")
	}
	sum, err := s.summary(ctx, checkID, since, until)
	if err != nil {
		return registry.Uptime{}, fmt.Errorf("uptime of %s: %w", checkID, err)
	}
	return registry.Uptime{Checks: sum.Checks, Failures: sum.Failures, Latency: latencyOf(&sum)}, nil
}

// RegionUptime is Uptime over one region's results only: the results of
// a check with regions that region's workers recorded ("default" for a
// check without regions). Rollups are per check, not per region, so it
// reads the raw results alone and reaches back only as far as they do:
// the caller keeps [since, until) within the results retention (the API
// refuses longer windows), and an older since counts only what has not
// yet been dropped.
func (s *Store) RegionUptime(ctx context.Context, checkID, region string, since, until time.Time) (registry.Uptime, error) {
	if !until.After(since) {
		return registry.Uptime{}, errors.New("uptime: until must be after since")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT width_bucket(latency_us, vigil_latency_bounds()), count(*), count(*) FILTER (WHERE NOT success),
			sum(latency_us)::bigint, min(latency_us), max(latency_us), NULL::bytea
		FROM check_results
		WHERE check_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3 AND region = $4
		GROUP BY 1`, checkID, since.UTC(), until.UTC(), region)
	if err != nil {
		return registry.Uptime{}, fmt.Errorf("uptime of %s in %s: read results: %w", checkID, region, err)
	}
	sum, err := sumRows(rows)
	if err != nil {
		return registry.Uptime{}, fmt.Errorf("uptime of %s in %s: %w", checkID, region, err)
	}
	return registry.Uptime{Checks: sum.Checks, Failures: sum.Failures, Latency: latencyOf(&sum)}, nil
}

func latencyOf(s *histogram.Summary) registry.Latency {
	return registry.Latency{Avg: s.Avg(), P95: s.P95(), Max: s.Max()}
}

// summary aggregates [since, until) from rollups and raw rows; see Uptime.
func (s *Store) summary(ctx context.Context, checkID string, since, until time.Time) (histogram.Summary, error) {
	since, until = since.UTC(), until.UTC()
	if since.Before(resultsTable.floor(s.now().Add(-s.history.ResultsRetention))) {
		since = since.Truncate(time.Hour)
	}
	through, daysThrough, err := s.rollupBounds(ctx)
	if err != nil {
		return histogram.Summary{}, err
	}
	return s.windowSummary(ctx, checkID, splitWindow(since, until, through, daysThrough))
}

// rollupBounds reads how far the last maintenance pass built hourly and
// daily rollups; zero times when it has built none.
func (s *Store) rollupBounds(ctx context.Context) (through, daysThrough time.Time, err error) {
	var t, d *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT nullif(rollups_through, '-infinity'), nullif(days_through, '-infinity')
		FROM history_state`).Scan(&t, &d); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("read rollups_through: %w", err)
	}
	return fromNullTime(t), fromNullTime(d), nil
}

// window is [since, until) cut in the pieces each source answers: raw
// results for [since, hStart) and [hEnd, until), hourly rollups for
// [hStart, dStart) and [dEnd, hEnd), daily rollups for [dStart, dEnd).
// Empty pieces have equal ends.
type window struct {
	since, hStart, dStart, dEnd, hEnd, until time.Time
}

// splitWindow cuts [since, until) into whole UTC days before daysThrough
// (daily rollups), whole hours before through (hourly rollups) and the rest
// (raw rows). A zero through or daysThrough means no rollups of that kind.
func splitWindow(since, until, through, daysThrough time.Time) window {
	const day = 24 * time.Hour
	w := window{since: since, until: until}
	w.hStart = ceil(since, time.Hour)
	w.hEnd = until.Truncate(time.Hour)
	if through.Before(w.hEnd) {
		w.hEnd = through
	}
	if !w.hStart.Before(w.hEnd) {
		w.hStart, w.hEnd = until, until
	}
	w.dStart, w.dEnd = ceil(w.hStart, day), w.hEnd.Truncate(day)
	if daysThrough.Before(w.dEnd) {
		w.dEnd = daysThrough
	}
	if !w.dStart.Before(w.dEnd) {
		w.dStart, w.dEnd = w.hEnd, w.hEnd
	}
	return w
}

// ceil rounds t up to a multiple of d (since the zero time, so whole UTC
// hours and days).
func ceil(t time.Time, d time.Duration) time.Time {
	if f := t.Truncate(d); f.Before(t) {
		return f.Add(d)
	}
	return t
}

// windowSummary sums w's pieces in one statement: raw results come summed
// per histogram bucket, rollups a row an hour or a day (a 400-day window is
// ~400 daily rows and at most 46 hourly ones) whose histograms decode
// without per-element work.
func (s *Store) windowSummary(ctx context.Context, checkID string, w window) (histogram.Summary, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT width_bucket(latency_us, vigil_latency_bounds()), count(*), count(*) FILTER (WHERE NOT success),
			sum(latency_us)::bigint, min(latency_us), max(latency_us), NULL::bytea
		FROM check_results
		WHERE check_id = $1 AND ((scheduled_at >= $2 AND scheduled_at < $3) OR (scheduled_at >= $6 AND scheduled_at < $7))
		GROUP BY 1
		UNION ALL
		SELECT -1, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist
		FROM check_rollups WHERE check_id = $1 AND hour >= $3 AND hour < $4
		UNION ALL
		SELECT -1, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist
		FROM check_rollups_daily WHERE check_id = $1 AND day >= $4 AND day < $5
		UNION ALL
		SELECT -1, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist
		FROM check_rollups WHERE check_id = $1 AND hour >= $5 AND hour < $6`,
		checkID, w.since, w.hStart, w.dStart, w.dEnd, w.hEnd, w.until)
	if err != nil {
		return histogram.Summary{}, fmt.Errorf("read results and rollups: %w", err)
	}
	return sumRows(rows)
}

// sumRows adds up rows of (bucket, checks, failures, latency sum, min,
// max, histogram): a raw bucket's count when the histogram is NULL, a
// stored rollup's histogram otherwise.
func sumRows(rows pgx.Rows) (histogram.Summary, error) {
	defer rows.Close()
	var (
		out  histogram.Summary
		hist [maxBucket + 1]int64
	)
	for rows.Next() {
		var (
			bucket int
			r      histogram.Summary
			h      []byte
		)
		if err := rows.Scan(&bucket, &r.Checks, &r.Failures, &r.SumUs, &r.MinUs, &r.MaxUs, &h); err != nil {
			return histogram.Summary{}, fmt.Errorf("read results and rollups: %w", err)
		}
		if h == nil {
			hist[clampBucket(bucket)] += r.Checks
		} else {
			addHistArray(&hist, h)
		}
		out.Add(r)
	}
	if err := rows.Err(); err != nil {
		return histogram.Summary{}, fmt.Errorf("read results and rollups: %w", err)
	}
	out.Hist = map[int]int64{}
	for b, n := range &hist {
		if n != 0 {
			out.Hist[b] = n
		}
	}
	return out, nil
}

// maxBucket is the last histogram bucket (width_bucket's overflow bucket):
// len(histogram.Bounds), as a constant so it can size an array (a test
// keeps them equal).
const maxBucket = 74

// clampBucket keeps a bucket number read from the database inside the
// histogram, so a damaged row skews one bucket instead of panicking.
func clampBucket(b int) int { return min(max(b, 0), maxBucket) }

// addHistArray is addHist into a dense array: windows sum hundreds of
// stored histograms, and array slots are far cheaper than map entries.
func addHistArray(h *[maxBucket + 1]int64, b []byte) {
	for ; len(b) >= 6; b = b[6:] {
		h[clampBucket(int(binary.BigEndian.Uint16(b)))] += int64(binary.BigEndian.Uint32(b[2:]))
	}
}

// addHist adds a stored histogram (2-byte bucket, 4-byte count, repeated;
// migration 0003) to h.
func addHist(h map[int]int64, b []byte) {
	for ; len(b) >= 6; b = b[6:] {
		h[int(binary.BigEndian.Uint16(b))] += int64(binary.BigEndian.Uint32(b[2:]))
	}
}

const rollupColumns = `hour, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist`

// forEachRollup scans rollupColumns rows.
func forEachRollup(rows pgx.Rows, fn func(hour time.Time, r histogram.Summary)) error {
	defer rows.Close()
	for rows.Next() {
		var (
			hour time.Time
			r    histogram.Summary
			hist []byte
		)
		if err := rows.Scan(&hour, &r.Checks, &r.Failures, &r.SumUs, &r.MinUs, &r.MaxUs, &hist); err != nil {
			return fmt.Errorf("read rollups: %w", err)
		}
		r.Hist = make(map[int]int64, len(hist)/6)
		addHist(r.Hist, hist)
		fn(hour.UTC(), r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	return nil
}

// Rollups returns a check's rollups whose start lies in [q.Since,
// q.Until), oldest first, an item per hour (Resolution an hour) or per UTC
// day (24 hours) that has results. They are the maintenance loop's
// rollups: an hour appears once the pass after its end (and grace) has run.
func (s *Store) Rollups(ctx context.Context, checkID string, q registry.RollupQuery) ([]registry.Rollup, error) {
	res := q.Resolution
	if res != time.Hour && res != 24*time.Hour {
		return nil, fmt.Errorf("rollups: resolution %s is neither an hour nor a day", res)
	}
	// Days come from the daily rollups up to days_through and from the
	// hourly ones after it; hours only from the hourly ones.
	split := q.Since.UTC()
	if res == 24*time.Hour {
		_, daysThrough, err := s.rollupBounds(ctx)
		if err != nil {
			return nil, fmt.Errorf("rollups of %s: %w", checkID, err)
		}
		if daysThrough.After(q.Until) {
			daysThrough = q.Until.UTC()
		}
		if daysThrough.After(split) {
			split = daysThrough
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT day, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist
		FROM check_rollups_daily WHERE check_id = $1 AND day >= $2 AND day < $4
		UNION ALL
		SELECT `+rollupColumns+` FROM check_rollups
		WHERE check_id = $1 AND hour >= $4 AND hour < $3 ORDER BY 1`, checkID, q.Since.UTC(), q.Until.UTC(), split)
	if err != nil {
		return nil, fmt.Errorf("rollups of %s: %w", checkID, err)
	}
	out := []registry.Rollup{}
	var (
		cur   histogram.Summary
		start time.Time
	)
	flush := func() {
		if cur.Checks > 0 {
			out = append(out, registry.Rollup{Start: start, Checks: cur.Checks, Failures: cur.Failures, Latency: latencyOf(&cur)})
		}
		cur = histogram.Summary{}
	}
	err = forEachRollup(rows, func(hour time.Time, r histogram.Summary) {
		if b := hour.Truncate(res); !b.Equal(start) {
			flush()
			start = b
		}
		cur.Add(r)
	})
	if err != nil {
		return nil, fmt.Errorf("rollups of %s: %w", checkID, err)
	}
	flush()
	return out, nil
}
