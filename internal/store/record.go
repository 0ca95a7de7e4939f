package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

type stateRow struct {
	snap    check.Snapshot
	th      check.Thresholds
	service string
	paused  bool
	deleted bool
}

// Record appends results and folds them into each check's state in one
// transaction: results are idempotent on (check, scheduled_at); the state
// rows are locked in id order (so concurrent batches cannot deadlock and a
// concurrent pause is serialised with them); a result older than the last
// applied one does not move the state; and each change of state is appended
// to the transition log.
func (s *Store) Record(ctx context.Context, results []check.Result) (registry.RecordOutcome, error) {
	var out registry.RecordOutcome
	if len(results) == 0 {
		return out, nil
	}
	// Apply in tick order per check whatever order the batch came in.
	rs := slices.Clone(results)
	for i := range rs {
		// The prober already cleans what a target says; this is the last
		// line before PostgreSQL, which refuses NUL and invalid UTF-8 and
		// would fail every result of the batch for one such byte. Results
		// are the only source of text here: the state's last error and the
		// transition's error are copied from them. Clean text is returned
		// as it is, without allocating.
		rs[i].Error = check.CleanError(rs[i].Error)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if c := strings.Compare(rs[i].CheckID, rs[j].CheckID); c != 0 {
			return c < 0
		}
		return rs[i].ScheduledAt.Before(rs[j].ScheduledAt)
	})
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		if len(ids) == 0 || ids[len(ids)-1] != r.CheckID {
			ids = append(ids, r.CheckID)
		}
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		out = registry.RecordOutcome{}
		states, err := lockStates(ctx, tx, ids)
		if err != nil {
			return err
		}
		var keep []check.Result
		for _, r := range rs {
			st, ok := states[r.CheckID]
			if !ok || st.paused || st.deleted {
				out.Dropped++
				continue
			}
			keep = append(keep, r)
		}
		if len(keep) == 0 {
			return nil
		}
		inserted, err := insertResults(ctx, tx, keep)
		if err != nil {
			return err
		}
		out.Stored = len(inserted)
		var (
			newTr   []check.Transition
			changed = map[string]bool{}
			dupKeys []resultKey
		)
		for _, r := range keep {
			k := resultKey{r.CheckID, r.ScheduledAt.UTC().Truncate(time.Microsecond)}
			if !inserted[k] {
				dupKeys = append(dupKeys, k)
				continue
			}
			st := states[r.CheckID]
			next, moved := check.Apply(st.snap, r, st.th)
			if next == st.snap {
				continue
			}
			changed[r.CheckID] = true
			if moved {
				newTr = append(newTr, check.Transition{
					CheckID: r.CheckID, Service: st.service, From: st.snap.State, To: next.State,
					At: r.CheckedAt, Latency: r.Latency, Error: r.Error, ScheduledAt: k.at,
				})
			}
			st.snap = next
			states[r.CheckID] = st
		}
		snaps := make([]idSnapshot, 0, len(changed))
		for id := range changed {
			snaps = append(snaps, idSnapshot{id, states[id].snap})
		}
		if err := updateStates(ctx, tx, snaps); err != nil {
			return err
		}
		if err := insertTransitions(ctx, tx, newTr); err != nil {
			return err
		}
		again, err := transitionsForResults(ctx, tx, dupKeys)
		if err != nil {
			return err
		}
		out.Transitions = append(newTr, again...)
		sort.Slice(out.Transitions, func(i, j int) bool { return out.Transitions[i].ID < out.Transitions[j].ID })
		return nil
	})
	if err != nil {
		return registry.RecordOutcome{}, fmt.Errorf("record %d results: %w", len(results), err)
	}
	return out, nil
}

type resultKey struct {
	checkID string
	at      time.Time
}

func lockStates(ctx context.Context, tx pgx.Tx, ids []string) (map[string]stateRow, error) {
	rows, err := tx.Query(ctx, `SELECT cs.check_id, cs.state, cs.consecutive_successes, cs.consecutive_failures,
			cs.last_scheduled_at, cs.last_checked_at, cs.last_latency_us, cs.last_error, cs.last_change_at,
			s.name, s.paused, s.deleted_at IS NOT NULL, s.failure_threshold, s.success_threshold
		FROM check_state cs JOIN services s ON s.id = cs.check_id
		WHERE cs.check_id = ANY($1)
		ORDER BY cs.check_id
		FOR UPDATE OF cs`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock check states: %w", err)
	}
	defer rows.Close()
	out := make(map[string]stateRow, len(ids))
	for rows.Next() {
		var (
			id, state                          string
			st                                 stateRow
			lastSched, lastChecked, lastChange *time.Time
			latUs                              *int64
		)
		if err := rows.Scan(&id, &state, &st.snap.ConsecutiveSuccesses, &st.snap.ConsecutiveFailures,
			&lastSched, &lastChecked, &latUs, &st.snap.LastError, &lastChange,
			&st.service, &st.paused, &st.deleted, &st.th.Failure, &st.th.Success); err != nil {
			return nil, fmt.Errorf("scan check state: %w", err)
		}
		st.snap.State = check.State(state)
		st.snap.LastScheduledAt = fromNullTime(lastSched)
		st.snap.LastCheckedAt = fromNullTime(lastChecked)
		st.snap.LastChangeAt = fromNullTime(lastChange)
		if latUs != nil {
			st.snap.LastLatency = time.Duration(*latUs) * time.Microsecond
		}
		out[id] = st
	}
	return out, rows.Err()
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
	)
	for i, r := range rs {
		ids[i], sched[i], checked[i] = r.CheckID, r.ScheduledAt, r.CheckedAt
		success[i], latency[i], errs[i] = r.Success(), r.Latency.Microseconds(), r.Error
		if r.HTTPStatus != 0 {
			v := int32(r.HTTPStatus)
			httpStatus[i] = &v
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us, http_status, error)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::boolean[], $5::bigint[], $6::integer[], $7::text[])
		ON CONFLICT (check_id, scheduled_at) DO NOTHING
		RETURNING check_id, scheduled_at`, ids, sched, checked, success, latency, httpStatus, errs)
	if err != nil {
		return nil, fmt.Errorf("insert results: %w", err)
	}
	defer rows.Close()
	out := make(map[resultKey]bool, len(rs))
	for rows.Next() {
		var k resultKey
		if err := rows.Scan(&k.checkID, &k.at); err != nil {
			return nil, fmt.Errorf("insert results: %w", err)
		}
		k.at = k.at.UTC()
		out[k] = true
	}
	return out, rows.Err()
}

func transitionsForResults(ctx context.Context, tx pgx.Tx, keys []resultKey) ([]check.Transition, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ids, ats := make([]string, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		ids[i], ats[i] = k.checkID, k.at
	}
	rows, err := tx.Query(ctx, `SELECT `+transitionColumns+` FROM transitions t
		JOIN unnest($1::text[], $2::timestamptz[]) AS k(check_id, at)
		  ON t.check_id = k.check_id AND t.scheduled_at = k.at`, ids, ats)
	if err != nil {
		return nil, fmt.Errorf("find logged transitions: %w", err)
	}
	return collectTransitions(rows)
}

type idSnapshot struct {
	id   string
	snap check.Snapshot
}

// updateStates writes many snapshots in one statement: per-row UPDATEs
// were the largest cost of recording a busy batch.
func updateStates(ctx context.Context, tx pgx.Tx, rows []idSnapshot) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		ids, states, errs         = make([]string, n), make([]string, n), make([]string, n)
		succ, fail                = make([]int32, n), make([]int32, n)
		sched, checked, changedAt = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		latency                   = make([]int64, n)
	)
	for i, r := range rows {
		s := r.snap
		ids[i], states[i], errs[i] = r.id, string(s.State), s.LastError
		succ[i], fail[i] = int32(s.ConsecutiveSuccesses), int32(s.ConsecutiveFailures)
		sched[i], checked[i], changedAt[i] = nullTime(s.LastScheduledAt), nullTime(s.LastCheckedAt), nullTime(s.LastChangeAt)
		latency[i] = s.LastLatency.Microseconds()
	}
	_, err := tx.Exec(ctx, `UPDATE check_state cs SET state = v.state,
			consecutive_successes = v.succ, consecutive_failures = v.fail,
			last_scheduled_at = v.sched, last_checked_at = v.checked, last_latency_us = v.latency,
			last_error = v.err, last_change_at = v.changed
		FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::timestamptz[],
			$6::timestamptz[], $7::bigint[], $8::text[], $9::timestamptz[])
			AS v(id, state, succ, fail, sched, checked, latency, err, changed)
		WHERE cs.check_id = v.id`,
		ids, states, succ, fail, sched, checked, latency, errs, changedAt)
	if err != nil {
		return fmt.Errorf("update check states: %w", err)
	}
	return nil
}

// insertTransitions appends ts in one statement and fills in their ids.
// Ids are assigned in the order of ts (WITH ORDINALITY), so a check's
// transitions in one batch keep their order; each returned id is matched
// back by its result key rather than by the order rows come back in.
func insertTransitions(ctx context.Context, tx pgx.Tx, ts []check.Transition) error {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	var (
		ids, services, from, to, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at, sched                     = make([]time.Time, n), make([]time.Time, n)
		latency                       = make([]int64, n)
	)
	for i, t := range ts {
		ids[i], services[i], from[i], to[i], errs[i] = t.CheckID, t.Service, string(t.From), string(t.To), t.Error
		at[i], sched[i], latency[i] = t.At, t.ScheduledAt, t.Latency.Microseconds()
	}
	rows, err := tx.Query(ctx, `INSERT INTO transitions (check_id, service, from_state, to_state, at, latency_us, error, scheduled_at)
		SELECT id, service, from_state, to_state, at, latency, err, sched
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::text[], $8::timestamptz[])
			WITH ORDINALITY AS v(id, service, from_state, to_state, at, latency, err, sched, ord)
		ORDER BY ord
		RETURNING id, check_id, scheduled_at`, ids, services, from, to, at, latency, errs, sched)
	if err != nil {
		return fmt.Errorf("log transitions: %w", err)
	}
	defer rows.Close()
	index := make(map[resultKey]int, n)
	for i, t := range ts {
		index[resultKey{t.CheckID, t.ScheduledAt.UTC().Truncate(time.Microsecond)}] = i
	}
	got := 0
	for rows.Next() {
		var (
			id int64
			k  resultKey
		)
		if err := rows.Scan(&id, &k.checkID, &k.at); err != nil {
			return fmt.Errorf("log transitions: %w", err)
		}
		k.at = k.at.UTC()
		i, ok := index[k]
		if !ok {
			return fmt.Errorf("log transitions: unexpected row for %s", k.checkID)
		}
		ts[i].ID = id
		got++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("log transitions: %w", err)
	}
	if got != n {
		return fmt.Errorf("log transitions: %d ids for %d rows", got, n)
	}
	return nil
}
