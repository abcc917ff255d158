-- The ticket catalog: venues, events, shows and their zones. Runs with search_path = ticket.
-- Every row belongs to the organizer who created it (owner_id, an auth user id).

CREATE TABLE venues (
    venue_id    UUID PRIMARY KEY,
    owner_id    UUID NOT NULL,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    city        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX venues_by_owner ON venues (owner_id, venue_id);
CREATE INDEX venues_by_city ON venues (lower(city));

CREATE TABLE events (
    event_id      UUID PRIMARY KEY,
    owner_id      UUID NOT NULL,
    slug          TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL,
    image_urls    TEXT[] NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'draft'
                      CONSTRAINT events_status_known CHECK (status IN ('draft', 'published', 'cancelled')),
    published_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Text search over title (weighted higher) and description, language-neutral.
    search        TSVECTOR GENERATED ALWAYS AS (
                      setweight(to_tsvector('simple', title), 'A') ||
                      setweight(to_tsvector('simple', description), 'B')
                  ) STORED,
    CONSTRAINT events_owner_slug_unique UNIQUE (owner_id, slug)
);

-- Public URLs use the slug alone, so at most one published event holds a given slug.
CREATE UNIQUE INDEX events_published_slug_unique ON events (slug) WHERE status = 'published';
CREATE INDEX events_by_owner ON events (owner_id, event_id);
CREATE INDEX events_published_by_category ON events (category) WHERE status = 'published';
CREATE INDEX events_search ON events USING GIN (search);

CREATE TABLE shows (
    show_id           UUID PRIMARY KEY,
    event_id          UUID NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    venue_id          UUID NOT NULL,
    starts_at         TIMESTAMPTZ NOT NULL,
    doors_at          TIMESTAMPTZ,
    sale_id           TEXT,
    sale_starts_at    TIMESTAMPTZ,
    sale_ends_at      TIMESTAMPTZ,
    hold_ttl_seconds  INTEGER NOT NULL DEFAULT 600,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT shows_venue_exists FOREIGN KEY (venue_id) REFERENCES venues (venue_id) ON DELETE RESTRICT,
    -- One FlashSale sells one show.
    CONSTRAINT shows_sale_unique UNIQUE (sale_id),
    CONSTRAINT shows_doors_before_start CHECK (doors_at IS NULL OR doors_at <= starts_at),
    CONSTRAINT shows_sale_window_ordered CHECK (sale_ends_at IS NULL OR sale_starts_at IS NULL OR sale_ends_at > sale_starts_at),
    CONSTRAINT shows_hold_ttl_range CHECK (hold_ttl_seconds BETWEEN 1 AND 3600)
);

CREATE INDEX shows_by_event ON shows (event_id, starts_at);
CREATE INDEX shows_by_venue ON shows (venue_id);
CREATE INDEX shows_by_start ON shows (starts_at);

CREATE TABLE zones (
    show_id       UUID NOT NULL REFERENCES shows (show_id) ON DELETE CASCADE,
    zone_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    capacity      INTEGER NOT NULL CONSTRAINT zones_capacity_positive CHECK (capacity > 0),
    price_minor   BIGINT NOT NULL CONSTRAINT zones_price_not_negative CHECK (price_minor >= 0),
    currency      TEXT NOT NULL,
    per_user_cap  INTEGER NOT NULL CONSTRAINT zones_cap_positive CHECK (per_user_cap > 0),
    sort_order    INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (show_id, zone_id)
);
