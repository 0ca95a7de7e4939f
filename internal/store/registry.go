package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// serviceColumns is the select list scanService expects.
const serviceColumns = probeColumns + `, s.failure_threshold, s.success_threshold, s.tags, s.paused,
	s.source, s.created_at, s.updated_at, s.slo_target, ` + stateColumns

const serviceFrom = ` FROM services s JOIN check_state cs ON cs.check_id = s.id`

func scanService(row pgx.Row) (registry.Service, error) {
	var sv registry.Service
	c, snap := checkScan{c: &sv.Check}, snapshotScan{s: &sv.State}
	var slo *float64
	dest := append(c.dest(), &sv.FailureThreshold, &sv.SuccessThreshold, &sv.Tags, &sv.Paused,
		&sv.Source, &sv.CreatedAt, &sv.UpdatedAt, &slo)
	if err := row.Scan(append(dest, snap.dest()...)...); err != nil {
		return registry.Service{}, err
	}
	if slo != nil {
		sv.SLOTarget = *slo
	}
	c.decode()
	snap.decode()
	sv.CreatedAt, sv.UpdatedAt = sv.CreatedAt.UTC(), sv.UpdatedAt.UTC()
	if sv.Tags == nil {
		sv.Tags = []string{}
	}
	return sv, nil
}

// CreateService registers c, which the caller has defaulted and validated.
// The store assigns the id (unless c.ID is set) and the timestamps, and
// schedules the first tick on the check's stable phase.
func (s *Store) CreateService(ctx context.Context, c *check.Check) (registry.Service, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Source == "" {
		c.Source = check.SourceAPI
	}
	now := s.nowMicros()
	c.CreatedAt, c.UpdatedAt = now, now
	var next *time.Time
	if !c.Paused {
		t := check.FirstTick(c.ID, now, c.Interval)
		next = &t
	}
	state := check.StateUnknown
	if c.Paused {
		state = check.StatePaused
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO services (id, name, type, url, method, expected_status,
			grpc_service, interval_ms, timeout_ms, failure_threshold, success_threshold, tags, paused,
			source, created_at, updated_at, slo_target)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$15,$16)`,
			c.ID, c.Name, string(c.Type), c.URL, c.Method, c.ExpectedStatus, c.GRPCService,
			c.Interval.Milliseconds(), durationMs(c.Timeout), c.FailureThreshold, c.SuccessThreshold,
			nonNil(c.Tags), c.Paused, c.Source, now, sloTarget(c))
		if err != nil {
			return err
		}
		if err := saveOptions(ctx, tx, c); err != nil {
			return err
		}
		if err := setSchedule(ctx, tx, c.ID, next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO check_state (check_id, state, last_change_at) VALUES ($1, $2, $3)`,
			c.ID, string(state), now)
		return err
	})
	if isUniqueViolation(err, "services_name_active") {
		return registry.Service{}, registry.ErrNameTaken
	}
	if isUniqueViolation(err, "services_pkey") {
		return registry.Service{}, fmt.Errorf("create service %q: id %s already exists", c.Name, c.ID)
	}
	if err != nil {
		return registry.Service{}, fmt.Errorf("create service %q: %w", c.Name, err)
	}
	return s.GetService(ctx, c.ID)
}

func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

// GetService returns one active service with its state.
func (s *Store) GetService(ctx context.Context, id string) (registry.Service, error) {
	sv, err := scanService(s.pool.QueryRow(ctx,
		`SELECT `+serviceColumns+serviceFrom+` WHERE s.id = $1 AND s.deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return registry.Service{}, registry.ErrNotFound
	}
	if err != nil {
		return registry.Service{}, fmt.Errorf("get service %s: %w", id, err)
	}
	one := []registry.Service{sv}
	if err := s.withRegionStates(ctx, one); err != nil {
		return registry.Service{}, fmt.Errorf("get service %s: %w", id, err)
	}
	return one[0], nil
}

// ServiceExists reports whether id names a service, optionally counting
// deleted ones (whose history is still served).
func (s *Store) ServiceExists(ctx context.Context, id string, includeDeleted bool) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM services WHERE id = $1 AND ($2 OR deleted_at IS NULL))`,
		id, includeDeleted).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up service %s: %w", id, err)
	}
	return ok, nil
}

// UpdateService runs mutate on the stored check with its row locked and
// saves the result. An error from mutate aborts the update and is returned
// unchanged, so validation errors reach the caller as they are. A change of
// interval re-anchors the schedule; pausing is SetPaused's job and a change
// of Paused by mutate is ignored.
func (s *Store) UpdateService(ctx context.Context, id string, mutate func(*check.Check) error) (registry.Service, error) {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanService(tx.QueryRow(ctx, `SELECT `+serviceColumns+serviceFrom+`
			WHERE s.id = $1 AND s.deleted_at IS NULL FOR UPDATE OF s`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return registry.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock service: %w", err)
		}
		next := cur.Check
		next.Tags = slices.Clone(cur.Tags)
		if err := mutate(&next); err != nil {
			return err
		}
		next.ID, next.Paused, next.CreatedAt, next.Source = cur.ID, cur.Paused, cur.CreatedAt, cur.Source
		return s.saveCheck(ctx, tx, &next, cur.Interval != next.Interval)
	})
	if err != nil {
		return registry.Service{}, err
	}
	return s.GetService(ctx, id)
}

// saveCheck writes every registered field of c; reschedule moves the next
// tick onto the grid of a changed interval.
func (s *Store) saveCheck(ctx context.Context, tx pgx.Tx, c *check.Check, reschedule bool) error {
	now := s.nowMicros()
	var next *time.Time
	if reschedule && !c.Paused {
		t := check.FirstTick(c.ID, now, c.Interval)
		next = &t
	}
	_, err := tx.Exec(ctx, `UPDATE services SET name=$2, type=$3, url=$4, method=$5, expected_status=$6,
		grpc_service=$7, interval_ms=$8, timeout_ms=$9, failure_threshold=$10, success_threshold=$11,
		tags=$12, updated_at=$13, slo_target=$14
		WHERE id = $1`,
		c.ID, c.Name, string(c.Type), c.URL, c.Method, c.ExpectedStatus, c.GRPCService,
		c.Interval.Milliseconds(), durationMs(c.Timeout), c.FailureThreshold, c.SuccessThreshold,
		nonNil(c.Tags), now, sloTarget(c))
	if isUniqueViolation(err, "services_name_active") {
		return registry.ErrNameTaken
	}
	if err != nil {
		return fmt.Errorf("update service %s: %w", c.ID, err)
	}
	if err := saveOptions(ctx, tx, c); err != nil {
		return err
	}
	if reschedule && !c.Paused {
		return setSchedule(ctx, tx, c.ID, next)
	}
	return nil
}

// setSchedule makes next the check's next tick, or takes the check off the
// schedule when next is nil (paused or deleted).
func setSchedule(ctx context.Context, tx pgx.Tx, id string, next *time.Time) error {
	var err error
	if next == nil {
		_, err = tx.Exec(ctx, `DELETE FROM schedule WHERE check_id = $1`, id)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO schedule (check_id, next_run_at) VALUES ($1, $2)
			ON CONFLICT (check_id) DO UPDATE SET next_run_at = excluded.next_run_at`, id, *next)
	}
	if err != nil {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}

// UpsertService creates or updates the service with c.ID, as the
// Kubernetes reconciler needs: the CR is the source of truth, so every
// registered field follows c. Paused is honoured when the row is created;
// later changes of it go through SetPaused, which logs the transition.
func (s *Store) UpsertService(ctx context.Context, c *check.Check) error {
	if c.ID == "" {
		return errors.New("upsert service: id is required")
	}
	exists, err := s.ServiceExists(ctx, c.ID, true)
	if err != nil {
		return err
	}
	if !exists {
		_, err = s.CreateService(ctx, c)
		return err
	}
	want := *c
	_, err = s.UpdateService(ctx, c.ID, func(cur *check.Check) error {
		want.ID, want.CreatedAt = cur.ID, cur.CreatedAt
		*cur = want
		return nil
	})
	return err
}

// DeleteService stops monitoring a service. Its results and transitions
// stay, and its name becomes free for a new registration.
func (s *Store) DeleteService(ctx context.Context, id string) error {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE services SET deleted_at = $2
			WHERE id = $1 AND deleted_at IS NULL`, id, s.nowMicros())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return registry.ErrNotFound
		}
		return setSchedule(ctx, tx, id, nil)
	})
	if errors.Is(err, registry.ErrNotFound) {
		return registry.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete service %s: %w", id, err)
	}
	return nil
}

// SetPaused pauses or resumes a service. It locks the check's state row,
// the same lock a worker takes to record a result, so once SetPaused has
// returned no result of a job queued before the pause is recorded. The
// transition is returned when the state changed, nil when it already was.
func (s *Store) SetPaused(ctx context.Context, id string, paused bool) (registry.Service, *check.Transition, error) {
	tr, err := withTxV(ctx, s, func(tx pgx.Tx) (*check.Transition, error) {
		return s.setPaused(ctx, tx, id, paused)
	})
	if err != nil {
		return registry.Service{}, nil, fmt.Errorf("set paused %s: %w", id, err)
	}
	sv, err := s.GetService(ctx, id)
	return sv, tr, err
}

// setPaused is SetPaused inside its transaction; the transition is nil
// when the state did not change.
func (s *Store) setPaused(ctx context.Context, tx pgx.Tx, id string, paused bool) (*check.Transition, error) {
	cur, err := scanService(tx.QueryRow(ctx, `SELECT `+serviceColumns+serviceFrom+`
		WHERE s.id = $1 AND s.deleted_at IS NULL FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, registry.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("lock service: %w", err)
	}
	now := s.nowMicros()
	move, next := check.Resume, (*time.Time)(nil)
	if paused {
		move = check.Pause
	} else {
		t := check.FirstTick(id, now, cur.Interval)
		next = &t
	}
	snap, changed := move(cur.State, now)
	if !changed && cur.Paused == paused {
		return nil, nil //nolint:nilnil // no transition: nothing changed
	}
	if _, err := tx.Exec(ctx, `UPDATE services SET paused = $2, updated_at = $3 WHERE id = $1`,
		id, paused, now); err != nil {
		return nil, fmt.Errorf("set paused: %w", err)
	}
	if err := setSchedule(ctx, tx, id, next); err != nil {
		return nil, err
	}
	if err := updateStates(ctx, tx, map[string]check.Snapshot{id: snap}); err != nil {
		return nil, err
	}
	if paused && len(cur.Regions) > 0 {
		// A resumed check starts from UNKNOWN in every region too, as
		// check.Resume starts the check's own counters afresh.
		if _, err := tx.Exec(ctx, `DELETE FROM check_region_state WHERE check_id = $1`, id); err != nil {
			return nil, fmt.Errorf("forget region states: %w", err)
		}
	}
	if !changed {
		return nil, nil //nolint:nilnil // no transition: nothing changed
	}
	ts := []check.Transition{{CheckID: id, Service: cur.Name, From: cur.State.State, To: snap.State, At: now}}
	if err := insertTransitions(ctx, tx, ts); err != nil {
		return nil, err
	}
	return &ts[0], nil
}

// sloTarget is c's SLO target as the column keeps it: NULL when unset.
func sloTarget(c *check.Check) *float64 {
	if c.SLOTarget == 0 {
		return nil
	}
	return &c.SLOTarget
}
