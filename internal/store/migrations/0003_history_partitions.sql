-- History that lasts: check_results becomes a table partitioned by day,
-- hourly rollups per check keep the long view, and services get an SLO.
--
-- One table of every result ever recorded grew without bound (~195 MiB per
-- million results) and every uptime query counted raw rows. Partitions by
-- scheduled_at let retention drop a whole day at once (no DELETE, no
-- vacuum debt, no bloated index), and each day's index stays small enough
-- to sit in memory while it is written. The primary key keeps the
-- partition key, so a redelivered result is still a no-op insert.
--
-- The existing table is not copied (an empty one is dropped): it is attached as one partition,
-- check_results_legacy, covering everything before the day after
-- tomorrow. Attaching only validates the bound (one scan, no rewrite), and
-- retention drops the legacy partition whole once its newest day is older
-- than VIGIL_RESULTS_RETENTION: every existing result is kept until then.
-- The maintenance loop (internal/store/partitions.go) creates the daily
-- partitions from there on, some days ahead; a default partition catches
-- any result no partition covers (a late result for a dropped day, a clock
-- far ahead), so an insert never fails for want of a partition.

ALTER TABLE check_results RENAME TO check_results_legacy;
ALTER TABLE check_results_legacy RENAME CONSTRAINT check_results_pkey TO check_results_legacy_pkey;

CREATE TABLE check_results (
    check_id     text NOT NULL,
    scheduled_at timestamptz NOT NULL,
    checked_at   timestamptz NOT NULL,
    success      boolean NOT NULL,
    latency_us   bigint NOT NULL,
    http_status  integer,
    error        text NOT NULL DEFAULT '',
    PRIMARY KEY (check_id, scheduled_at)
) PARTITION BY RANGE (scheduled_at);

CREATE TABLE check_results_default PARTITION OF check_results DEFAULT;

-- Which partitions exist and what they cover, written in the same
-- transaction as each CREATE and DROP: the maintenance loop plans from it
-- rather than parsing the catalog's bound expressions.
CREATE TABLE history_partitions (
    name        text PRIMARY KEY,
    parent      text NOT NULL,
    lower_bound timestamptz NOT NULL,
    upper_bound timestamptz NOT NULL
);

DO $$
DECLARE
    cutover timestamptz := date_trunc('day', now(), 'UTC') + interval '2 days';
    newest  timestamptz;
BEGIN
    SELECT max(scheduled_at) INTO newest FROM check_results_legacy;
    IF newest IS NULL THEN
        -- A fresh install has nothing to keep: daily partitions from the start.
        DROP TABLE check_results_legacy;
        RETURN;
    END IF;
    IF newest >= cutover THEN
        cutover := date_trunc('day', newest, 'UTC') + interval '1 day';
    END IF;
    EXECUTE format('ALTER TABLE check_results ATTACH PARTITION check_results_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
    INSERT INTO history_partitions VALUES ('check_results_legacy', 'check_results', '-infinity', cutover);
END
$$;

-- The latency histogram's bucket bounds in microseconds, log-spaced by a
-- factor of 1.2 from 100 µs to 60 s: a p95 read from it is within 20% of
-- the true value. The bounds are part of the stored format (a rollup's
-- histogram counts per bucket of these), so they never change in place;
-- store.latencyBounds must equal them (a test checks).
CREATE FUNCTION vigil_latency_bounds() RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '{100,120,144,173,207,249,299,358,430,516,619,743,892,1070,1284,1541,1849,2219,2662,3195,3834,4601,5521,6625,7950,9540,11448,13737,16484,19781,23738,28485,34182,41019,49222,59067,70880,85056,102067,122481,146977,176373,211647,253977,304772,365726,438871,526646,631975,758370,910044,1092053,1310463,1572556,1887067,2264480,2717376,3260852,3913022,4695626,5634751,6761702,8114042,9736850,11684221,14021065,16825278,20190333,24228400,29074080,34888896,41866675,50240010,60288012}'::bigint[] $$;

-- One row per check and hour (UTC) with results: counts, latency sum, min
-- and max, and a sparse histogram: for each bucket used, in bucket order,
-- its number as width_bucket numbers it over vigil_latency_bounds (2 bytes)
-- and its count (4 bytes), big-endian. Six bytes a bucket, where two
-- arrays cost 40 bytes of headers before their first element, and decoded
-- without any per-element work by the queries that sum thousands of hours. Partitioned by 30-day ranges so
-- that VIGIL_ROLLUP_RETENTION drops whole partitions too.
CREATE TABLE check_rollups (
    check_id       text NOT NULL,
    hour           timestamptz NOT NULL,
    checks         integer NOT NULL,
    failures       integer NOT NULL,
    latency_sum_us bigint NOT NULL,
    latency_min_us bigint NOT NULL,
    latency_max_us bigint NOT NULL,
    hist           bytea NOT NULL,
    PRIMARY KEY (check_id, hour)
) PARTITION BY RANGE (hour);

CREATE TABLE check_rollups_default PARTITION OF check_rollups DEFAULT;

-- The hours whose rollup is stale: the record path adds (check, hour) for
-- every result it newly stores, in the result's own transaction, so a
-- maintenance pass that sees the mark also sees the result. A pass
-- recomputes each marked closed hour from the raw rows and removes the
-- mark; a redelivered result stores nothing and marks nothing, and a late
-- one marks its old hour again. Hours are recomputed, never incremented,
-- so running a pass twice changes nothing.
CREATE TABLE rollup_marks (
    check_id text NOT NULL,
    hour     timestamptz NOT NULL,
    PRIMARY KEY (check_id, hour)
);

-- rollups_through: every marked hour before it had been rolled up when the
-- last pass ended; queries read rollups before it and raw rows after.
CREATE TABLE history_state (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    rollups_through  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO history_state DEFAULT VALUES;

-- The existing results' rollups are computed here, from the table as it is:
-- later passes only see marks.
INSERT INTO check_rollups
SELECT check_id, hour, sum(n)::integer, sum(f)::integer, sum(s)::bigint, min(mn), max(mx),
       string_agg(int2send(bucket::smallint) || int4send(n::integer), ''::bytea ORDER BY bucket)
FROM (
    SELECT check_id, date_trunc('hour', scheduled_at, 'UTC') AS hour,
           width_bucket(latency_us, vigil_latency_bounds()) AS bucket,
           count(*) AS n, count(*) FILTER (WHERE NOT success) AS f,
           sum(latency_us) AS s, min(latency_us) AS mn, max(latency_us) AS mx
    FROM check_results
    GROUP BY 1, 2, 3
) b
GROUP BY check_id, hour;

-- A service's availability objective in percent (99.9); NULL: none set.
ALTER TABLE services ADD COLUMN slo_target double precision
    CHECK (slo_target IS NULL OR (slo_target > 0 AND slo_target < 100));
