-- Indexes for paging through the registry and searching it by name.
--
-- GET /api/v1/services pages by keyset on (name, id) in byte order (COLLATE
-- "C": the order is the same on every database whatever its locale, and it
-- is the order the in-memory registry uses). A page is then an index range
-- scan of `limit` rows, not a sort of every service: at 50,000 services the
-- difference is a few rows read against 50,000 sorted.
CREATE INDEX services_list ON services ((name COLLATE "C"), id) WHERE deleted_at IS NULL;

-- Name search (?q=) is a case-insensitive substring match (ILIKE '%q%').
-- A trigram GIN index serves it for queries of three characters or more.
-- pg_trgm ships with PostgreSQL and is a trusted extension (any role with
-- CREATE on the database may install it), but a managed database can still
-- refuse it. The search must not make the migration fail there, so the
-- index is created only when the extension is (or can be) installed;
-- without it the search still works, by a scan of the active services,
-- which stays in the tens of milliseconds at 50,000 (docs/architecture.md).
--
-- The extension is installed into public when missing, and the operator
-- class is named with the schema it actually lives in: Vigil may run in a
-- schema of its own (tests give each one its own) whose search_path does
-- not include the extension's schema.
DO $$
DECLARE
    ext_schema name;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
        EXCEPTION WHEN others THEN
            -- Not allowed here, or installed by a concurrent migration of
            -- another schema: look again below.
            RAISE NOTICE 'pg_trgm not installed (%); name search runs without an index', SQLERRM;
        END;
        SELECT n.nspname INTO ext_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_trgm';
    END IF;
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX services_name_trgm ON services USING gin (name %I.gin_trgm_ops) WHERE deleted_at IS NULL',
                       ext_schema);
    END IF;
END
$$;
