package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of the history policy; VIGIL_RESULTS_RETENTION and
// VIGIL_ROLLUP_RETENTION override the retentions.
const (
	DefaultResultsRetention = 30 * 24 * time.Hour
	DefaultRollupRetention  = 400 * 24 * time.Hour
	// DefaultPartitionsAhead is how far ahead partitions exist: days of
	// maintenance outage before a result lands in the default partition.
	DefaultPartitionsAhead = 3 * 24 * time.Hour
	// DefaultRollupGrace is how long after an hour ends it is first rolled
	// up, so the results still in flight at its end are in it and the
	// hour's mark is not contended by their record transactions.
	DefaultRollupGrace = 5 * time.Minute
	defaultRollupChunk = 500
)

// HistoryPolicy says what a maintenance pass keeps and prepares.
type HistoryPolicy struct {
	ResultsRetention time.Duration
	RollupRetention  time.Duration
	Ahead            time.Duration
	Grace            time.Duration
	// Chunk is how many marked hours one rollup transaction recomputes.
	Chunk int
}

// WithDefaults fills the zero fields.
func (p HistoryPolicy) WithDefaults() HistoryPolicy {
	if p.ResultsRetention <= 0 {
		p.ResultsRetention = DefaultResultsRetention
	}
	if p.RollupRetention <= 0 {
		p.RollupRetention = DefaultRollupRetention
	}
	if p.Ahead <= 0 {
		p.Ahead = DefaultPartitionsAhead
	}
	if p.Grace <= 0 {
		p.Grace = DefaultRollupGrace
	}
	if p.Chunk <= 0 {
		p.Chunk = defaultRollupChunk
	}
	return p
}

// WithHistoryPolicy sets the policy queries serve by (how far raw results
// reach back); Maintain takes its own.
func WithHistoryPolicy(p HistoryPolicy) Option {
	return func(s *Store) { s.history = p.WithDefaults() }
}

// MaintenanceReport says what a pass did.
type MaintenanceReport struct {
	// Ran is false when another process held the maintenance lock.
	Ran      bool
	Created  []string
	Dropped  []string
	RolledUp int
	// RolledUpDays counts the daily rollups rebuilt from hourly ones.
	RolledUpDays int
}

// Maintain runs one maintenance pass as of now: partitions for the
// retention windows and the days ahead, rollups of every marked closed
// hour, then retention. Any number of processes may call it; a session
// advisory lock lets one pass run at a time and the others return with Ran
// false. The lock is keyed by the schema, so installs that share a
// database in different schemas do not wait for each other. It is a
// session lock on one connection: if the process dies the lock goes with
// the connection, and the next pass anywhere takes over.
func (s *Store) Maintain(ctx context.Context, now time.Time, p HistoryPolicy) (MaintenanceReport, error) {
	p = p.WithDefaults()
	now = now.UTC()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return MaintenanceReport{}, fmt.Errorf("maintenance: acquire connection: %w", err)
	}
	defer c.Release()
	conn := c.Conn()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.vigil.maintenance'))`).Scan(&got); err != nil {
		return MaintenanceReport{}, fmt.Errorf("maintenance: take lock: %w", err)
	}
	if !got {
		return MaintenanceReport{}, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext(current_schema() || '.vigil.maintenance'))`)
	}()
	rep, err := maintain(ctx, conn, now, p)
	rep.Ran = true
	return rep, err
}

func maintain(ctx context.Context, conn *pgx.Conn, now time.Time, p HistoryPolicy) (MaintenanceReport, error) {
	var rep MaintenanceReport
	for _, t := range []struct {
		table     partitioned
		retention time.Duration
	}{{resultsTable, p.ResultsRetention}, {rollupsTable, p.RollupRetention}, {dailyTable, p.RollupRetention}} {
		created, err := ensurePartitions(ctx, conn, t.table, now.Add(-t.retention), now.Add(p.Ahead))
		rep.Created = append(rep.Created, created...)
		if err != nil {
			return rep, fmt.Errorf("maintenance: %w", err)
		}
	}
	// Rollups first: a day's results are rolled up before retention drops
	// them.
	n, err := rollUp(ctx, conn, now, p)
	rep.RolledUp = n
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	n, err = rollUpDays(ctx, conn, now.Add(-p.Grace).Truncate(time.Hour), p.Chunk)
	rep.RolledUpDays = n
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	for _, t := range []struct {
		table     partitioned
		retention time.Duration
	}{{resultsTable, p.ResultsRetention}, {rollupsTable, p.RollupRetention}, {dailyTable, p.RollupRetention}} {
		dropped, err := dropPartitions(ctx, conn, t.table, now.Add(-t.retention))
		rep.Dropped = append(rep.Dropped, dropped...)
		if err != nil {
			return rep, fmt.Errorf("maintenance: %w", err)
		}
	}
	return rep, nil
}
