-- AlertChannel resources (Kubernetes mode) cover only the ServiceChecks of
-- their own namespace. A ServiceCheck's row is named "<namespace>/<name>"
-- and its labels are its tags, so a channel's label selector is its
-- selector_tags plus this namespace; '' (every REST channel) covers checks
-- of any name.
ALTER TABLE channels ADD COLUMN selector_namespace text NOT NULL DEFAULT '';
