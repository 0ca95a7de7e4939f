-- Daily rollups: one row per check and UTC day, the sum of that day's
-- hourly rollups (same columns and histogram format as check_rollups).
-- Long windows read these instead of 24 hourly rows a day: a 400-day
-- uptime is ~400 rows, not 9,600. Partitioned by 30-day ranges like the
-- hourly rollups, and kept as long (VIGIL_ROLLUP_RETENTION).
CREATE TABLE check_rollups_daily (
    check_id       text NOT NULL,
    day            timestamptz NOT NULL,
    checks         integer NOT NULL,
    failures       integer NOT NULL,
    latency_sum_us bigint NOT NULL,
    latency_min_us bigint NOT NULL,
    latency_max_us bigint NOT NULL,
    hist           bytea NOT NULL,
    PRIMARY KEY (check_id, day)
) PARTITION BY RANGE (day);

CREATE TABLE check_rollups_daily_default PARTITION OF check_rollups_daily DEFAULT;

-- The days whose daily rollup is stale: a maintenance pass adds (check,
-- day) in the transaction that recomputes one of the day's hours, and
-- recomputes each marked whole day from its hourly rollups later in the
-- same pass. Only one pass runs at a time (the maintenance lock), so the
-- two steps never race.
CREATE TABLE rollup_day_marks (
    check_id text NOT NULL,
    day      timestamptz NOT NULL,
    PRIMARY KEY (check_id, day)
);

-- days_through: every marked day before it had been rolled up when the
-- last pass ended; queries read daily rollups only before it.
ALTER TABLE history_state ADD COLUMN days_through timestamptz NOT NULL DEFAULT '-infinity';

-- The days of the hourly rollups that exist already: the next pass builds
-- their daily rows.
INSERT INTO rollup_day_marks
SELECT DISTINCT check_id, date_trunc('day', hour, 'UTC') FROM check_rollups;
