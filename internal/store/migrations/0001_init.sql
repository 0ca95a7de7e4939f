-- The registry. One row per check, whichever registry declared it. Rows are
-- soft-deleted so that history stays readable after DELETE.
CREATE TABLE services (
    id                text PRIMARY KEY,
    name              text NOT NULL,
    type              text NOT NULL,
    url               text NOT NULL,
    method            text NOT NULL DEFAULT '',
    expected_status   integer NOT NULL DEFAULT 0,
    grpc_service      text NOT NULL DEFAULT '',
    interval_ms       bigint NOT NULL CHECK (interval_ms > 0),
    timeout_ms        double precision NOT NULL CHECK (timeout_ms > 0),
    failure_threshold integer NOT NULL CHECK (failure_threshold >= 1),
    success_threshold integer NOT NULL CHECK (success_threshold >= 1),
    tags              text[] NOT NULL DEFAULT '{}',
    paused            boolean NOT NULL DEFAULT false,
    source            text NOT NULL DEFAULT 'api',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz,
    -- The next grid point to dispatch. NULL while paused or deleted, so the
    -- scheduler's partial index holds only checks that can become due.
    next_run_at       timestamptz
);

-- Names are unique among active services only: a deleted name can be reused.
CREATE UNIQUE INDEX services_name_active ON services (name) WHERE deleted_at IS NULL;
CREATE INDEX services_due ON services (next_run_at) WHERE next_run_at IS NOT NULL;
CREATE INDEX services_tags ON services USING gin (tags);

-- Current state per check. Kept apart from services so that the scheduler
-- (which updates next_run_at) and the workers (which update state) never
-- contend for the same row lock.
CREATE TABLE check_state (
    check_id              text PRIMARY KEY REFERENCES services (id),
    state                 text NOT NULL,
    consecutive_successes integer NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_scheduled_at     timestamptz,
    last_checked_at       timestamptz,
    last_latency_us       bigint,
    last_error            text NOT NULL DEFAULT '',
    last_change_at        timestamptz
);

-- Append-only probe history. The primary key makes a redelivered job's
-- second insert a no-op and serves the newest-first history query.
CREATE TABLE check_results (
    check_id     text NOT NULL,
    scheduled_at timestamptz NOT NULL,
    checked_at   timestamptz NOT NULL,
    success      boolean NOT NULL,
    latency_us   bigint NOT NULL,
    http_status  integer,
    error        text NOT NULL DEFAULT '',
    PRIMARY KEY (check_id, scheduled_at)
);

-- Append-only event log; id is the WebSocket resume point.
CREATE TABLE transitions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id     text NOT NULL,
    service      text NOT NULL,
    from_state   text NOT NULL,
    to_state     text NOT NULL,
    at           timestamptz NOT NULL,
    latency_us   bigint NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT '',
    -- The tick of the result that caused it; NULL for pause and resume.
    scheduled_at timestamptz
);
CREATE INDEX transitions_check ON transitions (check_id, id);
-- At most one transition per result, which lets a redelivered job find the
-- transition its first delivery logged and publish it again.
CREATE UNIQUE INDEX transitions_result ON transitions (check_id, scheduled_at) WHERE scheduled_at IS NOT NULL;
