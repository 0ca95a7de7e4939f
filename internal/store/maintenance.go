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
	// DefaultDaysBudget bounds one pass's daily rollups, pauses included:
	// about one maintenance interval (maintenance.DefaultInterval). A new
	// day brings a daily rollup for every check at once (50,000 at 50,000
	// checks), which, paced, outlasts many intervals; without a bound the
	// pass that does it holds the maintenance lock all that time, and no
	// other pass creates or drops partitions meanwhile.
	DefaultDaysBudget = time.Minute
	// DefaultDeliveryBatch and DefaultDeliveryBatches bound the pruning of
	// finished deliveries: each DELETE takes at most a batch of rows (its
	// row locks are short), and a pass stops after this many batches, so
	// a backlog of years is worked off over several passes instead of in
	// one long one.
	DefaultDeliveryBatch   = 1000
	DefaultDeliveryBatches = 50
)

// HistoryPolicy says what a maintenance pass keeps and prepares.
type HistoryPolicy struct {
	ResultsRetention time.Duration
	RollupRetention  time.Duration
	Ahead            time.Duration
	Grace            time.Duration
	// Chunk is how many marked hours one rollup transaction recomputes.
	Chunk int
	// DeliveriesRetention is how long finished deliveries (delivered or
	// failed) stay in the delivery log; ResultsRetention when zero, so the
	// log reaches back as far as the raw results it tells of.
	DeliveriesRetention time.Duration
	// DeliveryBatch and DeliveryBatches bound one pass's pruning of them.
	DeliveryBatch   int
	DeliveryBatches int
	// Duty is the share of the pass's wall time spent in rollup and
	// pruning statements (DefaultMaintenanceDuty); 1 or more runs them
	// back to back.
	Duty float64
	// DaysBudget is how long one pass rebuilds daily rollups before it
	// leaves the rest marked for the next (DefaultDaysBudget when zero,
	// no bound when negative).
	DaysBudget time.Duration
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
	if p.DeliveriesRetention <= 0 {
		p.DeliveriesRetention = p.ResultsRetention
	}
	if p.DeliveryBatch <= 0 {
		p.DeliveryBatch = DefaultDeliveryBatch
	}
	if p.DeliveryBatches <= 0 {
		p.DeliveryBatches = DefaultDeliveryBatches
	}
	if p.Duty <= 0 {
		p.Duty = DefaultMaintenanceDuty
	}
	if p.DaysBudget == 0 {
		p.DaysBudget = DefaultDaysBudget
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
	// PrunedDeliveries counts the finished deliveries deleted.
	PrunedDeliveries int
}

// Maintain runs one maintenance pass as of now: partitions for the
// retention windows and the days ahead; hourly rollups of every marked
// closed hour; expired raw partitions; daily rollups of the marked days
// (as many as p.DaysBudget allows); expired rollup partitions; finished
// deliveries. Any number of processes may call it; a session
// advisory lock lets one pass run at a time and the others return with Ran
// false. The lock is keyed by the schema, so installs that share a
// database in different schemas do not wait for each other. It is a
// session lock on one connection: if the process dies the lock goes with
// the connection, and the next pass anywhere takes over.
func (s *Store) Maintain(ctx context.Context, now time.Time, p HistoryPolicy) (MaintenanceReport, error) {
	p = p.WithDefaults()
	return s.maintainPaced(ctx, now, p, newPacer(p.Duty))
}

func (s *Store) maintainPaced(ctx context.Context, now time.Time, p HistoryPolicy, pace pacer) (MaintenanceReport, error) {
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
	rep, err := maintain(ctx, conn, now, p, pace)
	rep.Ran = true
	return rep, err
}

// maintain runs the pass; pace spreads its rollup chunks and pruning
// batches over time (see DefaultMaintenanceDuty).
func maintain(ctx context.Context, conn *pgx.Conn, now time.Time, p HistoryPolicy, pace pacer) (MaintenanceReport, error) {
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
	// Hourly rollups first: a day's results are rolled up before
	// retention drops them. Daily rollups are built from the hourly ones,
	// so the raw partitions can go before them, and do: the daily rollups
	// of a new day are the longest part of a pass, bounded by
	// p.DaysBudget, and an expired day must not wait for them.
	n, err := rollUp(ctx, conn, now, p, pace)
	rep.RolledUp = n
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	dropped, err := dropPartitions(ctx, conn, resultsTable, now.Add(-p.ResultsRetention))
	rep.Dropped = append(rep.Dropped, dropped...)
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	n, err = rollUpDays(ctx, conn, now.Add(-p.Grace).Truncate(time.Hour), p.Chunk, p.DaysBudget, pace)
	rep.RolledUpDays = n
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	// Hourly rollups go after the daily ones that are built from them.
	for _, t := range []partitioned{rollupsTable, dailyTable} {
		dropped, err := dropPartitions(ctx, conn, t, now.Add(-p.RollupRetention))
		rep.Dropped = append(rep.Dropped, dropped...)
		if err != nil {
			return rep, fmt.Errorf("maintenance: %w", err)
		}
	}
	pruned, err := pruneDeliveries(ctx, conn, now.Add(-p.DeliveriesRetention), p.DeliveryBatch, p.DeliveryBatches, pace)
	rep.PrunedDeliveries = pruned
	if err != nil {
		return rep, fmt.Errorf("maintenance: %w", err)
	}
	return rep, nil
}

// pruneDeliveries deletes finished deliveries created before cutoff, in
// statements of at most batch rows (each its own short transaction: no
// lock outlives a batch), until one finds fewer than batch or batches
// have run. Pending rows are never touched, however old: they are work
// still owed. Nor is the newest message of a (channel, check) pair,
// whatever its age: reminders are timed from it, and a check that stays
// DOWN longer than the retention must still be repeated.
func pruneDeliveries(ctx context.Context, conn *pgx.Conn, cutoff time.Time, batch, batches int, pace pacer) (int, error) {
	total := 0
	for range batches {
		began := time.Now()
		tag, err := conn.Exec(ctx, `DELETE FROM deliveries WHERE id IN (
				SELECT d.id FROM deliveries d
				WHERE d.state <> 'pending' AND d.created_at < $1
				  AND EXISTS (SELECT 1 FROM deliveries n
					WHERE n.channel_id = d.channel_id AND n.check_id = d.check_id
					  AND (n.transition_id, n.seq) > (d.transition_id, d.seq))
				ORDER BY d.created_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED)
			AND state <> 'pending'`, storedTime(cutoff), batch)
		if err != nil {
			return total, fmt.Errorf("prune deliveries: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < batch {
			break
		}
		if err := pace.after(ctx, began); err != nil {
			return total, err
		}
	}
	return total, nil
}
