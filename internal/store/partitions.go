package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// partitioned is one table partitioned by ranges of a timestamptz key, in
// ranges of a fixed width aligned to the zero time (whole UTC days).
type partitioned struct {
	parent string
	key    string
	width  time.Duration
}

var (
	// resultsTable is cut by day: retention drops a day at a time, and a
	// day of results at 50,000 checks every 10 s (432 M rows) is as much as
	// one index should hold while it is written.
	resultsTable = partitioned{parent: "check_results", key: "scheduled_at", width: 24 * time.Hour}
	// rollupsTable is cut by 30 days: 24 rows per check a day, kept for
	// a year and more.
	rollupsTable = partitioned{parent: "check_rollups", key: "hour", width: 30 * 24 * time.Hour}
	// dailyTable is cut like rollupsTable and kept as long: one row per
	// check a day.
	dailyTable = partitioned{parent: "check_rollups_daily", key: "day", width: 30 * 24 * time.Hour}
)

func (p partitioned) floor(t time.Time) time.Time { return t.UTC().Truncate(p.width) }

func (p partitioned) name(lower time.Time) string { return p.parent + "_p" + lower.Format("20060102") }

func (p partitioned) defaultName() string { return p.parent + "_default" }

// partitionRange is one partition's bounds, [lower, upper).
type partitionRange struct {
	name         string
	lower, upper time.Time
}

func listPartitions(ctx context.Context, conn *pgx.Conn, parent string) ([]partitionRange, error) {
	// -infinity (the legacy partition's lower bound) reads as NULL, the
	// zero time.
	rows, err := conn.Query(ctx, `SELECT name, nullif(lower_bound, '-infinity'), upper_bound FROM history_partitions
		WHERE parent = $1 ORDER BY lower_bound`, parent)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", parent, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (partitionRange, error) {
		var (
			p     partitionRange
			lower *time.Time
		)
		err := r.Scan(&p.name, &lower, &p.upper)
		p.lower, p.upper = fromNullTime(lower), p.upper.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", parent, err)
	}
	return out, nil
}

// ensurePartitions creates the partitions of every aligned range that
// meets [from, to) and no existing partition covers. Each one gets its own
// short transaction: creating a partition locks the parent, briefly, and
// a maintenance pass must never hold up the record path for long.
func ensurePartitions(ctx context.Context, conn *pgx.Conn, p partitioned, from, to time.Time) ([]string, error) {
	have, err := listPartitions(ctx, conn, p.parent)
	if err != nil {
		return nil, err
	}
	// Newest first: the ranges being written now and next come before the
	// backfill of the retention window, so a first pass on a busy install
	// (34 daily partitions to make) does not leave today's results routed
	// to the default partition while it makes last month's.
	var lowers []time.Time
	for lower := p.floor(from); lower.Before(to); lower = lower.Add(p.width) {
		lowers = append(lowers, lower)
	}
	var created []string
	for _, lower := range slices.Backward(lowers) {
		upper := lower.Add(p.width)
		if overlaps(have, lower, upper) {
			continue
		}
		name := p.name(lower)
		if err := createPartition(ctx, conn, p, name, lower, upper); err != nil {
			return created, err
		}
		created = append(created, name)
	}
	return created, nil
}

func overlaps(have []partitionRange, lower, upper time.Time) bool {
	for _, h := range have {
		if (h.lower.IsZero() || h.lower.Before(upper)) && lower.Before(h.upper) {
			return true
		}
	}
	return false
}

// createPartition creates one partition. Rows the default partition holds
// for its range (results that arrived before it existed) move into it in
// the same transaction: PostgreSQL refuses a partition whose range the
// default partition already has rows of.
func createPartition(ctx context.Context, conn *pgx.Conn, p partitioned, name string, lower, upper time.Time) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := setLockTimeout(ctx, tx); err != nil {
			return err
		}
		parent, def, part := pgx.Identifier{p.parent}.Sanitize(), pgx.Identifier{p.defaultName()}.Sanitize(), pgx.Identifier{name}.Sanitize()
		key := pgx.Identifier{p.key}.Sanitize()
		// Hold inserts off until the partition exists: a row routed to the
		// default between the move below and the CREATE makes PostgreSQL
		// refuse the partition, and under steady load that happened on every
		// pass, so the day never got its partition. SHARE ROW EXCLUSIVE
		// conflicts with the inserts' ROW EXCLUSIVE; they wait for the
		// move of the (normally few) stranded rows, bounded by lock_timeout.
		if _, err := tx.Exec(ctx, `LOCK TABLE `+parent+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock %s to create %s: %w", p.parent, name, err)
		}
		var stranded bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+def+` WHERE `+key+` >= $1 AND `+key+` < $2)`,
			lower, upper).Scan(&stranded); err != nil {
			return fmt.Errorf("look for rows of %s in %s: %w", name, def, err)
		}
		if stranded {
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE vigil_moving ON COMMIT DROP AS
				WITH moved AS (DELETE FROM `+def+` WHERE `+key+` >= $1 AND `+key+` < $2 RETURNING *)
				SELECT * FROM moved`, lower, upper); err != nil {
				return fmt.Errorf("move rows of %s out of %s: %w", name, def, err)
			}
		}
		// The bounds are times this code made, printed in a fixed format.
		if _, err := tx.Exec(ctx, `CREATE TABLE `+part+` PARTITION OF `+parent+
			` FOR VALUES FROM ('`+lower.Format(time.RFC3339)+`') TO ('`+upper.Format(time.RFC3339)+`')`); err != nil {
			return fmt.Errorf("create partition %s: %w", name, err)
		}
		if stranded {
			if _, err := tx.Exec(ctx, `INSERT INTO `+parent+` SELECT * FROM vigil_moving`); err != nil {
				return fmt.Errorf("move rows into %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO history_partitions (name, parent, lower_bound, upper_bound)
			VALUES ($1, $2, $3, $4)`, name, p.parent, lower, upper); err != nil {
			return fmt.Errorf("note partition %s: %w", name, err)
		}
		return nil
	})
}

// dropPartitions drops every partition wholly before cutoff, and deletes
// the default partition's rows before cutoff's partition boundary (the
// default only ever holds the few rows no partition covered).
func dropPartitions(ctx context.Context, conn *pgx.Conn, p partitioned, cutoff time.Time) ([]string, error) {
	have, err := listPartitions(ctx, conn, p.parent)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, h := range have {
		if h.upper.After(cutoff) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := setLockTimeout(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{h.name}.Sanitize()); err != nil {
				return fmt.Errorf("drop partition %s: %w", h.name, err)
			}
			_, err := tx.Exec(ctx, `DELETE FROM history_partitions WHERE name = $1`, h.name)
			return err
		})
		if err != nil {
			return dropped, err
		}
		dropped = append(dropped, h.name)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM `+pgx.Identifier{p.defaultName()}.Sanitize()+
		` WHERE `+pgx.Identifier{p.key}.Sanitize()+` < $1`, p.floor(cutoff)); err != nil {
		return dropped, fmt.Errorf("expire rows of %s: %w", p.defaultName(), err)
	}
	return dropped, nil
}

// setLockTimeout keeps a DDL statement from queueing behind a long query
// for long: while it waits for its lock every insert queues behind it. A
// pass that times out tries again next time.
func setLockTimeout(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return fmt.Errorf("set lock timeout: %w", err)
	}
	return nil
}
