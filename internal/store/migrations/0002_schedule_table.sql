-- The schedule moves out of services into a narrow table of its own.
--
-- The scheduler rewrites every active check's next tick once per interval:
-- at thousands of checks a second that is the hottest write in the system.
-- In services each of those writes copied the whole registry row and added
-- an entry to every one of its indexes (the primary key, the active-name
-- index, the due index and the GIN index on tags), and left services full of
-- dead versions that every worker's record had to step over when it joined
-- services for thresholds. Here a write copies an id and a timestamp and
-- touches two indexes, and services only changes when the registry does.
--
-- A row exists only while its check can become due: registering or resuming
-- a check inserts it, pausing or deleting it removes it.
CREATE TABLE schedule (
    check_id    text PRIMARY KEY REFERENCES services (id),
    next_run_at timestamptz NOT NULL
);

INSERT INTO schedule (check_id, next_run_at)
SELECT id, next_run_at FROM services WHERE next_run_at IS NOT NULL;

CREATE INDEX schedule_due ON schedule (next_run_at);

-- A scheduler of an earlier release, still running during an upgrade,
-- fails on the missing column (and retries, logging why) rather than
-- dispatching the same ticks a second time from a stale copy.
DROP INDEX services_due;
ALTER TABLE services DROP COLUMN next_run_at;
