package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
)

// One mapping per table: how a column reads into Vigil's types and how a
// value is written back lives here once, whichever query needs it.

// probeColumns are the services columns a probe job needs, in the order
// checkScan.dest expects them.
const probeColumns = `s.id, s.name, s.type, s.url, s.method, s.expected_status, s.grpc_service,
	s.interval_ms, s.timeout_ms, ` + optionColumns

// checkScan reads probeColumns into c.
type checkScan struct {
	c          *check.Check
	typ        string
	intervalMs int64
	timeoutMs  float64
}

func (r *checkScan) dest() []any {
	return append([]any{&r.c.ID, &r.c.Name, &r.typ, &r.c.URL, &r.c.Method, &r.c.ExpectedStatus, &r.c.GRPCService,
		&r.intervalMs, &r.timeoutMs}, optionDest(r.c)...)
}

// decode finishes c once the row is scanned. The interval is stored in
// whole milliseconds (validation refuses anything finer); the timeout in
// fractional ones.
func (r *checkScan) decode() {
	r.c.Type = check.Type(r.typ)
	r.c.Interval = time.Duration(r.intervalMs) * time.Millisecond
	r.c.Timeout = time.Duration(r.timeoutMs * float64(time.Millisecond))
	decodeOptions(r.c)
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stateColumns are check_state's columns in the order snapshotScan.dest
// expects them.
const stateColumns = `cs.state, cs.consecutive_successes, cs.consecutive_failures, cs.last_scheduled_at,
	cs.last_checked_at, cs.last_latency_us, cs.last_error, cs.last_change_at`

// snapshotScan reads stateColumns into s.
type snapshotScan struct {
	s                                  *check.Snapshot
	state                              string
	lastSched, lastChecked, lastChange *time.Time
	latencyUs                          *int64
}

func (r *snapshotScan) dest() []any {
	return []any{&r.state, &r.s.ConsecutiveSuccesses, &r.s.ConsecutiveFailures, &r.lastSched,
		&r.lastChecked, &r.latencyUs, &r.s.LastError, &r.lastChange}
}

// decode finishes s once the row is scanned.
func (r *snapshotScan) decode() {
	r.s.State = check.State(r.state)
	r.s.LastScheduledAt = fromNullTime(r.lastSched)
	r.s.LastCheckedAt = fromNullTime(r.lastChecked)
	r.s.LastChangeAt = fromNullTime(r.lastChange)
	if r.latencyUs != nil {
		r.s.LastLatency = time.Duration(*r.latencyUs) * time.Microsecond
	}
}

// updateStates writes the snapshots, by check id, in one statement: per-row
// UPDATEs were the largest cost of recording a busy batch.
func updateStates(ctx context.Context, tx pgx.Tx, snaps map[string]check.Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	n := len(snaps)
	var (
		ids, states, errs         = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		succ, fail                = make([]int32, 0, n), make([]int32, 0, n)
		sched, checked, changedAt = make([]*time.Time, 0, n), make([]*time.Time, 0, n), make([]*time.Time, 0, n)
		latency                   = make([]int64, 0, n)
	)
	for id, s := range snaps {
		ids, states, errs = append(ids, id), append(states, string(s.State)), append(errs, s.LastError)
		succ, fail = append(succ, int32(s.ConsecutiveSuccesses)), append(fail, int32(s.ConsecutiveFailures))
		sched = append(sched, nullTime(s.LastScheduledAt))
		checked = append(checked, nullTime(s.LastCheckedAt))
		changedAt = append(changedAt, nullTime(s.LastChangeAt))
		latency = append(latency, s.LastLatency.Microseconds())
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

// resultKey identifies a result, and the transition it caused, by check
// and tick (at is a storedTime).
type resultKey struct {
	checkID string
	at      time.Time
	region  string
}

// keyOf is r's key; r.ScheduledAt is a storedTime.
func keyOf(r *check.Result) resultKey {
	return resultKey{r.CheckID, r.ScheduledAt, r.ResultRegion()}
}

// insertTransitions appends ts in one statement and fills in their ids.
// Ids are assigned in the order of ts (WITH ORDINALITY), so a check's
// transitions in one batch keep their order; each returned id is matched
// back by its result key rather than by the order rows come back in. A
// pause or resume has no tick (scheduled_at is NULL), so only one of them
// may be in ts.
func insertTransitions(ctx context.Context, tx pgx.Tx, ts []check.Transition) error {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	var (
		ids, services, from, to, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at                            = make([]time.Time, n)
		sched                         = make([]*time.Time, n)
		latency                       = make([]int64, n)
		index                         = make(map[resultKey]int, n)
		regions                       = make([]string, n)
		states                        = make([]map[string]check.State, n)
	)
	for i, t := range ts {
		ids[i], services[i], from[i], to[i], errs[i] = t.CheckID, t.Service, string(t.From), string(t.To), t.Error
		at[i], sched[i], latency[i] = t.At, nullTime(t.ScheduledAt), t.Latency.Microseconds()
		regions[i], states[i] = t.ResultRegion(), t.Regions
		index[resultKey{t.CheckID, storedTime(t.ScheduledAt), regions[i]}] = i
	}
	if len(index) != n {
		return fmt.Errorf("log transitions: %d rows share a check and tick", n-len(index))
	}
	rows, err := tx.Query(ctx, `INSERT INTO transitions (check_id, service, from_state, to_state, at, latency_us, error, scheduled_at, region, regions)
		SELECT id, service, from_state, to_state, at, latency, err, sched, region, states
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::text[], $8::timestamptz[], $9::text[], $10::jsonb[])
			WITH ORDINALITY AS v(id, service, from_state, to_state, at, latency, err, sched, region, states, ord)
		ORDER BY ord
		RETURNING id, check_id, scheduled_at, region`, ids, services, from, to, at, latency, errs, sched, regions, states)
	if err != nil {
		return fmt.Errorf("log transitions: %w", err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var (
			id              int64
			checkID, region string
			at              *time.Time
		)
		if err := rows.Scan(&id, &checkID, &at, &region); err != nil {
			return fmt.Errorf("log transitions: %w", err)
		}
		i, ok := index[resultKey{checkID, fromNullTime(at), region}]
		if !ok {
			return fmt.Errorf("log transitions: unexpected row for %s", checkID)
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
