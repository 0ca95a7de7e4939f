-- Status pages: what a team shows the world about a chosen set of services.
--
-- A page selects the services carrying any of its tags (REST), or, when
-- service_ids is not NULL, exactly the services listed there: a Kubernetes
-- StatusPage resolves its label selector to the ServiceChecks of its own
-- namespace, which tags alone cannot express (and must not reach beyond).
-- Rows are deleted outright: a page has no history worth keeping.
CREATE TABLE status_pages (
    id          text PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    title       text NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    service_ids text[],
    public      boolean NOT NULL DEFAULT false,
    source      text NOT NULL DEFAULT 'api',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Badges ask "is this service on any public page?" on every request.
CREATE INDEX status_pages_public_tags ON status_pages USING gin (tags) WHERE public;
CREATE INDEX status_pages_public_ids ON status_pages USING gin (service_ids) WHERE public;
