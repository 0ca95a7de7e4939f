package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// rowQuerier reads rows: the pool, or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryRegionStates reads the region snapshots of the checks ids, by check
// and region. A check that has no rows has no entry.
func queryRegionStates(ctx context.Context, q rowQuerier, ids []string) (map[string]map[string]check.Snapshot, error) {
	rows, err := q.Query(ctx, `SELECT cs.check_id, cs.region, `+stateColumns+`
		FROM check_region_state cs WHERE cs.check_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read region states: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]check.Snapshot{}
	for rows.Next() {
		var (
			id, region string
			s          check.Snapshot
		)
		snap := snapshotScan{s: &s}
		if err := rows.Scan(append([]any{&id, &region}, snap.dest()...)...); err != nil {
			return nil, fmt.Errorf("scan region state: %w", err)
		}
		snap.decode()
		if out[id] == nil {
			out[id] = map[string]check.Snapshot{}
		}
		out[id][region] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read region states: %w", err)
	}
	return out, nil
}

// withRegionStates fills in the RegionStates of the services that list
// regions, in one query for all of them; services without regions cost
// nothing, and a page without any costs no query.
func (s *Store) withRegionStates(ctx context.Context, svcs []registry.Service) error {
	var ids []string
	for i := range svcs {
		if len(svcs[i].Regions) > 0 {
			ids = append(ids, svcs[i].ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	states, err := queryRegionStates(ctx, s.pool, ids)
	if err != nil {
		return err
	}
	for i := range svcs {
		svcs[i].RegionStates = states[svcs[i].ID]
	}
	return nil
}

// CountRegionStates counts the active, unpaused checks with regions by
// region and by the state each counts that region in (check.Counted: a
// region without a snapshot, or whose newest tick trails the check's
// newest by more than check.StaleAfter, is UNKNOWN), in one grouped
// query. Paused checks are left out: they are not probed, and counting
// their regions UNKNOWN would read as regions that lost their workers.
//
// The rule is check.Counted's, repeated in SQL so that the count never
// reads every snapshot into the process; TestCountRegionStatesAgrees
// holds the two together.
func (s *Store) CountRegionStates(ctx context.Context) ([]registry.RegionCount, error) {
	rows, err := s.pool.Query(ctx, `WITH listed AS (
			SELECT s.id, s.interval_ms, r.region
			FROM services s CROSS JOIN LATERAL unnest(s.regions) AS r(region)
			WHERE s.deleted_at IS NULL AND NOT s.paused AND cardinality(s.regions) > 0),
		newest AS (
			SELECT check_id, max(last_scheduled_at) AS at FROM check_region_state
			WHERE check_id IN (SELECT id FROM listed) GROUP BY check_id)
		SELECT l.region,
			CASE WHEN cs.state IS NULL OR cs.state = '' THEN $1
				WHEN COALESCE(cs.last_scheduled_at >= n.at - $2::bigint * greatest(l.interval_ms, $3::bigint) * interval '1 millisecond',
					n.at IS NULL) THEN cs.state
				ELSE $1 END AS counted,
			count(*)
		FROM listed l
		LEFT JOIN check_region_state cs ON cs.check_id = l.id AND cs.region = l.region
		LEFT JOIN newest n ON n.check_id = l.id
		GROUP BY 1, 2
		ORDER BY 1, 2`,
		string(check.StateUnknown), int64(check.StaleTicks), check.MinInterval.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("count region states: %w", err)
	}
	defer rows.Close()
	out := []registry.RegionCount{}
	for rows.Next() {
		var (
			c     registry.RegionCount
			state string
		)
		if err := rows.Scan(&c.Region, &state, &c.Checks); err != nil {
			return nil, fmt.Errorf("count region states: %w", err)
		}
		c.State = check.State(state)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count region states: %w", err)
	}
	return out, nil
}
