-- Notification channels and the durable delivery queue (issue 14).
--
-- Delivery work is written in the transaction that records a transition:
-- one row per matching channel. The dispatcher reads this table, never the
-- transitions log, because an identity id is taken before commit and a
-- reader of "id > last seen" skips a transition that commits after a
-- higher one. That is tolerable for a dashboard's replay, not for a page.

-- A channel is soft-deleted so its delivery log stays readable, and names
-- are unique among active channels only.
CREATE TABLE channels (
    id                 text PRIMARY KEY,
    name               text NOT NULL,
    type               text NOT NULL,
    url                text NOT NULL,
    -- Write-only: never selected by any read the API serves.
    secret             text NOT NULL DEFAULT '',
    email_to           text[] NOT NULL DEFAULT '{}',
    -- A check is covered when its tags contain every one of these.
    selector_tags      text[] NOT NULL DEFAULT '{}',
    send_resolved      boolean NOT NULL DEFAULT true,
    repeat_interval_ms bigint NOT NULL DEFAULT 0 CHECK (repeat_interval_ms >= 0),
    source             text NOT NULL DEFAULT 'api',
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz
);
CREATE UNIQUE INDEX channels_name_active ON channels (name) WHERE deleted_at IS NULL;

-- One row per message owed: seq 0 is the transition itself, seq n its
-- n-th reminder. The unique key makes a redelivered job, or two replicas
-- scheduling the same reminder, insert nothing twice. The id is what the
-- receiver sees as X-Vigil-Delivery, the same on every retry.
CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    channel_id      text NOT NULL REFERENCES channels (id),
    transition_id   bigint NOT NULL,
    check_id        text NOT NULL,
    seq             integer NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A claim leases the row instead of holding its lock while sending;
    -- a process that dies mid-send loses the lease and another retries.
    lease           text,
    lease_until     timestamptz,
    status_code     integer,
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (channel_id, transition_id, seq)
);
-- What the claim scans: only pending rows, by when they are due.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
-- Per-service order: is an earlier message to this channel still pending?
CREATE INDEX deliveries_order ON deliveries (channel_id, check_id, transition_id, seq) WHERE state = 'pending';
-- The delivery log, newest first, and the reminders' "last message".
CREATE INDEX deliveries_log ON deliveries (channel_id, created_at DESC, id DESC);
CREATE INDEX deliveries_last ON deliveries (channel_id, check_id, transition_id DESC, seq DESC);
