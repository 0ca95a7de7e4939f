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

-- No index beyond the slug's: an installation has tens of pages, and the
-- badge's question ("is this service on any public page?") joins each page
-- to one service row by its primary key.
