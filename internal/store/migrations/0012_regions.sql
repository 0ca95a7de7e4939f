-- Probing from many locations (issue 18): a check may list the regions it
-- is probed from and how many of them must see it DOWN.
--
-- The defaults mean "the default region alone", so existing rows keep
-- probing exactly as before, one job per tick on the jobs queue, and a
-- scheduler of an earlier release, which does not select these columns,
-- publishes the jobs it always published. quorum is 0 exactly when
-- regions is empty; validation (check.ValidateRegions) keeps the rest of
-- its bounds, the CHECK only the invariant the record path relies on.
ALTER TABLE services
    ADD COLUMN regions text[] NOT NULL DEFAULT '{}',
    ADD COLUMN quorum integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT services_quorum CHECK (
        (cardinality(regions) = 0 AND quorum = 0)
        OR (quorum BETWEEN 1 AND cardinality(regions)));

-- Every result is recorded under the region that probed it. A check with
-- regions gets one result per region and tick, so the results key gains
-- the region: a redelivered job's insert stays a no-op, and the regions of
-- one tick no longer collide. Existing rows, and every result of a check
-- without regions, are the 'default' region's. Adding a column with a
-- constant default rewrites nothing; swapping the key rebuilds its index
-- on every partition once, here, and the new key keeps (check_id,
-- scheduled_at) as its prefix, so the history queries that read the old
-- one read this one the same way.
ALTER TABLE check_results ADD COLUMN region text NOT NULL DEFAULT 'default';
ALTER TABLE check_results DROP CONSTRAINT check_results_pkey;
ALTER TABLE check_results ADD PRIMARY KEY (check_id, scheduled_at, region);

-- A transition of a check with regions is caused by one region's result,
-- and two regions' results of one tick may each cause one (a late result
-- of a tick the others have passed), so the key that lets a redelivered
-- job find the transition its first recording logged gains the region
-- too. regions holds every region's state at that moment ({"eu": "DOWN",
-- ...}); NULL for a check without regions, whose transitions read as
-- before.
ALTER TABLE transitions
    ADD COLUMN region text NOT NULL DEFAULT 'default',
    ADD COLUMN regions jsonb;
DROP INDEX transitions_result;
CREATE UNIQUE INDEX transitions_result ON transitions (check_id, scheduled_at, region) WHERE scheduled_at IS NOT NULL;

-- Each region's own state of a check with regions: check.Apply's snapshot,
-- per region, with the check's thresholds. check_state keeps the voted
-- state (check.Vote), which is what every reader already reads. Rows exist
-- only for checks with regions, so recording a check without them reads
-- and writes nothing here. Writers hold the check's check_state row lock
-- (Record locks it first), so these rows need no lock of their own.
CREATE TABLE check_region_state (
    check_id              text NOT NULL REFERENCES services (id),
    region                text NOT NULL,
    state                 text NOT NULL,
    consecutive_successes integer NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_scheduled_at     timestamptz,
    last_checked_at       timestamptz,
    last_latency_us       bigint,
    last_error            text NOT NULL DEFAULT '',
    last_change_at        timestamptz,
    PRIMARY KEY (check_id, region)
);
