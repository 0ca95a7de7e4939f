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
)

// RecordOutcome says what Record did with the results it was given.
type RecordOutcome struct {
	// Transitions are the state changes the results caused, ordered by id.
	// A redelivered result's transition (logged by its first delivery) is
	// included again so that a worker that died between commit and publish
	// still gets it broadcast; broadcasters de-duplicate by id.
	Transitions []check.Transition
	// Stored counts results newly appended; duplicates are not counted.
	Stored int
	// Dropped counts results of checks that are paused, deleted or unknown.
	Dropped int
}

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
func (s *Store) Record(ctx context.Context, results []check.Result) (RecordOutcome, error) {
	var out RecordOutcome
	if len(results) == 0 {
		return out, nil
	}
	// Apply in tick order per check whatever order the batch came in.
	rs := slices.Clone(results)
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
		out = RecordOutcome{}
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
		for id := range changed {
			if err := updateState(ctx, tx, id, states[id].snap); err != nil {
				return err
			}
		}
		for i := range newTr {
			t := &newTr[i]
			if err := tx.QueryRow(ctx, `INSERT INTO transitions (check_id, service, from_state, to_state, at, latency_us, error, scheduled_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
				t.CheckID, t.Service, string(t.From), string(t.To), t.At, t.Latency.Microseconds(), t.Error, t.ScheduledAt).Scan(&t.ID); err != nil {
				return fmt.Errorf("log transition of %s: %w", t.CheckID, err)
			}
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
		return RecordOutcome{}, fmt.Errorf("record %d results: %w", len(results), err)
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
