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
