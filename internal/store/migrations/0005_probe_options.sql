-- Probe options beyond method and status: conditions, several expected
-- statuses, request headers and body, and TLS verification settings.
--
-- Every column has a default that means "as before", so existing rows keep
-- probing exactly as they did and a scheduler of an earlier release, which
-- does not select them, publishes the jobs it always published.
--
-- request_headers holds [{"name": ..., "value": ...}] with the values in
-- clear: workers need them to probe, so they are no more secret here than
-- on the broker. The REST API never returns them (see docs/operations.md
-- for who can read them on the way). tls_ca_pem holds public certificates.
ALTER TABLE services
    ADD COLUMN conditions text[] NOT NULL DEFAULT '{}',
    ADD COLUMN expected_statuses text[] NOT NULL DEFAULT '{}',
    ADD COLUMN request_headers jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN request_body text NOT NULL DEFAULT '',
    ADD COLUMN tls_insecure_skip_verify boolean NOT NULL DEFAULT false,
    ADD COLUMN tls_server_name text NOT NULL DEFAULT '',
    ADD COLUMN tls_ca_pem text NOT NULL DEFAULT '';
