-- Finished deliveries are pruned by the history maintenance pass once they
-- are older than the retention (issue 14): without it the delivery log
-- grows by one row per channel for every transition, forever. The pass
-- deletes in small batches, oldest first; this index is what lets each
-- batch find its rows without scanning the table. Pending rows are never
-- in it, so the claim's writes to them cost it nothing.
CREATE INDEX deliveries_finished ON deliveries (created_at) WHERE state <> 'pending';
