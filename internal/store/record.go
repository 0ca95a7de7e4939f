package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Record appends results and folds them into each check's state in one
// transaction: results are idempotent on (check, scheduled_at); the state
// rows are locked in id order (so concurrent batches cannot deadlock and a
// concurrent pause is serialised with them); a result older than the last
// applied one does not move the state; and each change of state is appended
// to the transition log. The rules are check.Admit's and check.Fold's; this
// is their I/O.
func (s *Store) Record(ctx context.Context, results []check.Result) (registry.RecordOutcome, error) {
	if len(results) == 0 {
		return registry.RecordOutcome{}, nil
	}
	rs := check.InTickOrder(results)
	for i := range rs {
		// The prober already cleans what a target says; this is the last
		// line before PostgreSQL, which refuses NUL and invalid UTF-8 and
		// would fail every result of the batch for one such byte. Results
		// are the only source of text here: the state's last error and the
		// transition's error are copied from them. Clean text is returned
		// as it is, without allocating.
		rs[i].Error = check.CleanError(rs[i].Error)
		// A result is known by its tick as the table keeps it: that is
		// what its insert returns and its transition is logged under.
		rs[i].ScheduledAt = storedTime(rs[i].ScheduledAt)
	}
	now := s.nowMicros()
	out, err := withTxV(ctx, s, func(tx pgx.Tx) (registry.RecordOutcome, error) { return record(ctx, tx, rs, now) })
	if err != nil {
		return registry.RecordOutcome{}, fmt.Errorf("record %d results: %w", len(results), err)
	}
	return out, nil
}

// record is Record inside its transaction; rs are in check.InTickOrder.
func record(ctx context.Context, tx pgx.Tx, rs []check.Result, now time.Time) (registry.RecordOutcome, error) {
	checks, err := lockStates(ctx, tx, check.IDsOf(rs))
	if err != nil {
		return registry.RecordOutcome{}, err
	}
	keep, dropped := check.Admit(rs, checks)
	out := registry.RecordOutcome{Dropped: dropped}
	if len(keep) == 0 {
		return out, nil
	}
	inserted, err := insertResults(ctx, tx, keep)
	if err != nil {
		return registry.RecordOutcome{}, err
	}
	out.Stored = len(inserted)
	f := check.Fold(keep, checks, func(r check.Result) bool { return inserted[keyOf(&r)] })
	if err := updateStates(ctx, tx, f.States); err != nil {
		return registry.RecordOutcome{}, err
	}
	if err := saveRegionStates(ctx, tx, f.RegionStates); err != nil {
		return registry.RecordOutcome{}, err
	}
	if err := insertTransitions(ctx, tx, f.Transitions); err != nil {
		return registry.RecordOutcome{}, err
	}
	// Notifications are owed in the same transaction (deliveries.go).
	if err := enqueueDeliveries(ctx, tx, f.Transitions, now); err != nil {
		return registry.RecordOutcome{}, err
	}
	again, err := transitionsForResults(ctx, tx, f.Repeated)
	if err != nil {
		return registry.RecordOutcome{}, err
	}
	out.Transitions = slices.Concat(f.Transitions, again)
	slices.SortFunc(out.Transitions, func(a, b check.Transition) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// lockStates locks the check_state rows of ids, in id order, and reads what
// check.Admit and check.Fold need of each check.
func lockStates(ctx context.Context, tx pgx.Tx, ids []string) (map[string]check.Tracked, error) {
	rows, err := tx.Query(ctx, `SELECT cs.check_id, `+stateColumns+`,
			s.name, s.paused, s.deleted_at IS NOT NULL, s.failure_threshold, s.success_threshold,
			s.regions, s.quorum, s.interval_ms
		FROM check_state cs JOIN services s ON s.id = cs.check_id
		WHERE cs.check_id = ANY($1)
		ORDER BY cs.check_id
		FOR UPDATE OF cs`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock check states: %w", err)
	}
	defer rows.Close()
	out := make(map[string]check.Tracked, len(ids))
	var multi []string
	for rows.Next() {
		var (
			id         string
			c          check.Tracked
			intervalMs int64
		)
		snap := snapshotScan{s: &c.Snapshot}
		dest := append(append([]any{&id}, snap.dest()...),
			&c.Service, &c.Paused, &c.Deleted, &c.Thresholds.Failure, &c.Thresholds.Success,
			&c.Regions, &c.Quorum, &intervalMs)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan check state: %w", err)
		}
		snap.decode()
		c.Interval = time.Duration(intervalMs) * time.Millisecond
		if len(c.Regions) == 0 {
			c.Regions = nil
		} else {
			multi = append(multi, id)
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock check states: %w", err)
	}
	rows.Close()
	// Only a batch with results of checks with regions reads their
	// regions' states: the default path costs nothing more.
	if len(multi) > 0 {
		if err := readRegionStates(ctx, tx, multi, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readRegionStates fills in the region snapshots of the checks ids. Their
// check_state rows are locked already, which is what serialises writers.
func readRegionStates(ctx context.Context, tx pgx.Tx, ids []string, checks map[string]check.Tracked) error {
	states, err := queryRegionStates(ctx, tx, ids)
	if err != nil {
		return err
	}
	for id, snaps := range states {
		c := checks[id]
		c.RegionStates = snaps
		checks[id] = c
	}
	return nil
}

// saveRegionStates upserts the changed region snapshots, by check.
func saveRegionStates(ctx context.Context, tx pgx.Tx, byCheck map[string]map[string]check.Snapshot) error {
	if len(byCheck) == 0 {
		return nil
	}
	var (
		ids, regions, states, errs []string
		succ, fail                 []int32
		sched, checked, changedAt  []*time.Time
		latency                    []int64
	)
	for id, snaps := range byCheck {
		for region, s := range snaps {
			ids, regions, states, errs = append(ids, id), append(regions, region), append(states, string(s.State)), append(errs, s.LastError)
			succ, fail = append(succ, int32(s.ConsecutiveSuccesses)), append(fail, int32(s.ConsecutiveFailures))
			sched = append(sched, nullTime(s.LastScheduledAt))
			checked = append(checked, nullTime(s.LastCheckedAt))
			changedAt = append(changedAt, nullTime(s.LastChangeAt))
			latency = append(latency, s.LastLatency.Microseconds())
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO check_region_state AS cs (check_id, region, state,
			consecutive_successes, consecutive_failures, last_scheduled_at, last_checked_at,
			last_latency_us, last_error, last_change_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::integer[],
			$6::timestamptz[], $7::timestamptz[], $8::bigint[], $9::text[], $10::timestamptz[])
		ON CONFLICT (check_id, region) DO UPDATE SET state = EXCLUDED.state,
			consecutive_successes = EXCLUDED.consecutive_successes,
			consecutive_failures = EXCLUDED.consecutive_failures,
			last_scheduled_at = EXCLUDED.last_scheduled_at, last_checked_at = EXCLUDED.last_checked_at,
			last_latency_us = EXCLUDED.last_latency_us, last_error = EXCLUDED.last_error,
			last_change_at = EXCLUDED.last_change_at`,
		ids, regions, states, succ, fail, sched, checked, latency, errs, changedAt)
	if err != nil {
		return fmt.Errorf("save region states: %w", err)
	}
	return nil
}

// insertResults appends rs and returns the keys that were new.
func insertResults(ctx context.Context, tx pgx.Tx, rs []check.Result) (map[resultKey]bool, error) {
	var (
		ids            = make([]string, len(rs))
		sched, checked = make([]time.Time, len(rs)), make([]time.Time, len(rs))
		success        = make([]bool, len(rs))
		latency        = make([]int64, len(rs))
		httpStatus     = make([]*int32, len(rs))
		errs           = make([]string, len(rs))
		regions        = make([]string, len(rs))
	)
	for i, r := range rs {
		ids[i], sched[i], checked[i], regions[i] = r.CheckID, r.ScheduledAt, r.CheckedAt, r.ResultRegion()
		success[i], latency[i], errs[i] = r.Success(), r.Latency.Microseconds(), r.Error
		if r.HTTPStatus != 0 {
			v := int32(r.HTTPStatus)
			httpStatus[i] = &v
		}
	}
	// Every new result marks its hour's rollup stale (rollups.go), in this
	// transaction: a maintenance pass that sees the mark sees the result.
	// The marks are taken in key order, and DO UPDATE ... WHERE false
	// locks an existing mark without writing a new version of it, which
	// is what makes a pass that is deleting the mark wait for this
	// transaction (see rollUp).
	rows, err := tx.Query(ctx, `WITH ins AS (
			INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us, http_status, error, region)
			SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::boolean[], $5::bigint[], $6::integer[], $7::text[], $8::text[])
			ON CONFLICT (check_id, scheduled_at, region) DO NOTHING
			RETURNING check_id, scheduled_at, region),
		mark AS (
			INSERT INTO rollup_marks (check_id, hour)
			SELECT DISTINCT check_id, date_trunc('hour', scheduled_at, 'UTC') FROM ins ORDER BY 1, 2
			ON CONFLICT (check_id, hour) DO UPDATE SET hour = EXCLUDED.hour WHERE false)
		SELECT check_id, scheduled_at, region FROM ins`, ids, sched, checked, success, latency, httpStatus, errs, regions)
	if err != nil {
		return nil, fmt.Errorf("insert results: %w", err)
	}
	defer rows.Close()
	out := make(map[resultKey]bool, len(rs))
	for rows.Next() {
		var k resultKey
		if err := rows.Scan(&k.checkID, &k.at, &k.region); err != nil {
			return nil, fmt.Errorf("insert results: %w", err)
		}
		k.at = k.at.UTC()
		out[k] = true
	}
	return out, rows.Err()
}

// transitionsForResults finds the transitions logged for results recorded
// before.
func transitionsForResults(ctx context.Context, tx pgx.Tx, rs []check.Result) ([]check.Transition, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ids, ats, regions := make([]string, len(rs)), make([]time.Time, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		ids[i], ats[i], regions[i] = r.CheckID, r.ScheduledAt, r.ResultRegion()
	}
	rows, err := tx.Query(ctx, `SELECT `+transitionColumns+` FROM transitions t
		JOIN unnest($1::text[], $2::timestamptz[], $3::text[]) AS k(check_id, at, region)
		  ON t.check_id = k.check_id AND t.scheduled_at = k.at AND t.region = k.region`, ids, ats, regions)
	if err != nil {
		return nil, fmt.Errorf("find logged transitions: %w", err)
	}
	return collectTransitions(rows)
}
