package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// Results pages through a check's results, newest first. The second value
// is the cursor of the next page, "" when this page is the last.
//
// Results are ordered and bounded by their scheduled tick, which the
// primary key indexes; since and until therefore select by tick, and a
// result's checked_at trails its tick by the dispatch lag only.
func (s *Store) Results(ctx context.Context, checkID string, q registry.ResultQuery) ([]check.Result, string, error) {
	limit := clampLimit(q.Limit)
	var (
		before      *time.Time
		afterRegion string // within the tick before, regions below this one
	)
	if q.Cursor != "" {
		t, region, err := decodeResultCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		before, afterRegion = &t, region
	}
	// A check with regions has one result per region and tick, so a page
	// may end inside a tick: the order and the cursor go by (tick,
	// region), which the primary key indexes in that order. A cursor
	// without a region ("") seeks strictly before its tick, as cursors of
	// checks without regions always did. A region filter keeps the same
	// order and cursor: its pages end on its own results, and the seek
	// past (tick, region) then starts at the tick before.
	rows, err := s.pool.Query(ctx, `SELECT scheduled_at, checked_at, success, latency_us, http_status, error, region
		FROM check_results
		WHERE check_id = $1
		  AND ($2::timestamptz IS NULL OR scheduled_at >= $2)
		  AND ($3::timestamptz IS NULL OR scheduled_at <= $3)
		  AND ($4::timestamptz IS NULL OR (scheduled_at, region) < ($4, $6::text))
		  AND ($7::text = '' OR region = $7)
		ORDER BY scheduled_at DESC, region DESC
		LIMIT $5`, checkID, nullTime(q.Since), nullTime(q.Until), before, limit+1, afterRegion, q.Region)
	if err != nil {
		return nil, "", fmt.Errorf("query results of %s: %w", checkID, err)
	}
	defer rows.Close()
	out, err := scanResults(rows, checkID)
	if err != nil {
		return nil, "", err
	}
	out, next := resultsPage(out, limit)
	return out, next, nil
}

// scanResults reads a results query's rows of checkID.
func scanResults(rows pgx.Rows, checkID string) ([]check.Result, error) {
	out := []check.Result{}
	for rows.Next() {
		var (
			r       = check.Result{CheckID: checkID}
			success bool
			latUs   int64
			status  *int32
		)
		if err := rows.Scan(&r.ScheduledAt, &r.CheckedAt, &success, &latUs, &status, &r.Error, &r.Region); err != nil {
			return nil, fmt.Errorf("scan result: %w", err)
		}
		if r.Region == check.DefaultRegion {
			r.Region = ""
		}
		r.ScheduledAt, r.CheckedAt = r.ScheduledAt.UTC(), r.CheckedAt.UTC()
		r.Status = check.ResultDown
		if success {
			r.Status = check.ResultUp
		}
		r.Latency = time.Duration(latUs) * time.Microsecond
		if status != nil {
			r.HTTPStatus = int(*status)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query results of %s: %w", checkID, err)
	}
	return out, nil
}

// resultsPage cuts the limit+1 results read to a page and the cursor of
// the next one ("" when this page is the last).
func resultsPage(out []check.Result, limit int) ([]check.Result, string) {
	next := ""
	if len(out) > limit {
		last, after := out[limit-1], out[limit]
		region := last.Region
		if region == "" && after.ScheduledAt.Equal(last.ScheduledAt) {
			// The default region's result of a tick that other regions
			// (ordered below "default") probed too: a check that lists
			// "default" among its regions. The plain cursor would skip
			// the rest of the tick; only then does the default region get
			// the cursor that names it.
			region = check.DefaultRegion
		}
		out = out[:limit]
		next = encodeResultCursor(last.ScheduledAt, region)
	}
	return out, next
}

// Cursors are the last returned tick in microseconds, base64url-encoded:
// opaque to clients, stable across replicas, and cheap to seek with.
func encodeCursor(t time.Time) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r1:" + strconv.FormatInt(t.UnixMicro(), 10)))
}

func decodeCursor(c string) (time.Time, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 4 || string(raw[:3]) != "r1:" {
		return time.Time{}, registry.ErrInvalidCursor
	}
	us, err := strconv.ParseInt(string(raw[3:]), 10, 64)
	if err != nil || us < 0 {
		return time.Time{}, registry.ErrInvalidCursor
	}
	return time.UnixMicro(us).UTC(), nil
}

// encodeResultCursor is the cursor after a result of tick t from region.
// A page that ends on a result of a region other than the default one
// names the region too ("r2:<micros>:<region>"), so the next page starts
// with the rest of that tick; a page of a check without regions ends the
// way it always did (encodeCursor, region ""), and those cursors stay
// valid.
func encodeResultCursor(t time.Time, region string) string {
	if region == "" {
		return encodeCursor(t)
	}
	return base64.RawURLEncoding.EncodeToString([]byte("r2:" + strconv.FormatInt(t.UnixMicro(), 10) + ":" + region))
}

// decodeResultCursor reads either form; the region is "" for an r1 cursor.
func decodeResultCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 4 || string(raw[:3]) != "r2:" {
		t, err := decodeCursor(c)
		return t, "", err
	}
	us, region, ok := strings.Cut(string(raw[3:]), ":")
	if !ok || !check.IsRegionName(region) {
		return time.Time{}, "", registry.ErrInvalidCursor
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, "", registry.ErrInvalidCursor
	}
	return time.UnixMicro(n).UTC(), region, nil
}

const transitionColumns = `t.id, t.check_id, t.service, t.from_state, t.to_state, t.at, t.latency_us, t.error, t.scheduled_at,
	t.region, t.regions`

func collectTransitions(rows pgx.Rows) ([]check.Transition, error) {
	defer rows.Close()
	out := []check.Transition{}
	for rows.Next() {
		var ts transitionScan
		if err := rows.Scan(ts.dest()...); err != nil {
			return nil, fmt.Errorf("scan transition: %w", err)
		}
		out = append(out, ts.transition())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transitions: %w", err)
	}
	return out, nil
}

// Transitions lists logged state changes. A Region keeps the transitions
// a result of that region caused: those logged under it with a tick, so
// pauses and resumes (no tick) are left out.
func (s *Store) Transitions(ctx context.Context, q registry.TransitionQuery) ([]check.Transition, error) {
	order := "ASC"
	if q.Newest {
		order = "DESC"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+transitionColumns+` FROM transitions t
		WHERE ($1 = '' OR t.check_id = $1) AND t.id > $2
		  AND ($4::text = '' OR (t.region = $4 AND t.scheduled_at IS NOT NULL))
		ORDER BY t.id `+order+` LIMIT $3`, q.CheckID, q.AfterID, clampLimit(q.Limit), q.Region)
	if err != nil {
		return nil, fmt.Errorf("query transitions: %w", err)
	}
	return collectTransitions(rows)
}
