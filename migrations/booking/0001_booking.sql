-- Booking's record of every sale, zone and reservation, written by the recorder from the
-- sale's bookings topic. Runs with search_path = booking.

CREATE TABLE sales (
    sale_id           TEXT PRIMARY KEY,
    opens_at          TIMESTAMPTZ NOT NULL,
    closes_at         TIMESTAMPTZ NOT NULL,
    hold_ttl_seconds  INTEGER NOT NULL,
    -- Time of the SaleConfigured event applied; an older copy (from a lagging partition) is ignored.
    configured_at     TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A zone row can be created by a reservation event that overtook the sale's configuration on
-- another partition; its configuration columns are filled in when SaleConfigured arrives, and
-- the capacity check applies from then on (a NULL capacity passes a CHECK).
CREATE TABLE zones (
    sale_id       TEXT NOT NULL,
    zone_id       TEXT NOT NULL,
    capacity      INTEGER,
    price_minor   BIGINT,
    currency      TEXT,
    per_user_cap  INTEGER,
    held          INTEGER NOT NULL DEFAULT 0,
    sold          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sale_id, zone_id),
    CONSTRAINT zones_capacity_not_negative CHECK (capacity >= 0),
    CONSTRAINT zones_counts_not_negative CHECK (held >= 0 AND sold >= 0),
    -- The second wall against overselling: sold seats never exceed the zone's capacity.
    CONSTRAINT zones_sold_within_capacity CHECK (sold <= capacity)
);

CREATE TABLE reservations (
    reservation_id  UUID PRIMARY KEY,
    sale_id         TEXT NOT NULL,
    zone_id         TEXT NOT NULL,
    user_id         UUID NOT NULL,
    quantity        INTEGER NOT NULL CONSTRAINT reservations_quantity_positive CHECK (quantity > 0),
    amount_minor    BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CONSTRAINT reservations_status_known
                        CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired', 'released')),
    payment_id      UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- "My bookings": newest first per user; reservation ids are UUIDv7, so they sort by time.
CREATE INDEX reservations_by_user ON reservations (user_id, reservation_id DESC);
CREATE INDEX reservations_by_sale_status ON reservations (sale_id, status);

-- Events the database refused as an oversell (zones_sold_within_capacity). They are kept here,
-- logged and counted, instead of blocking every other sale's recording behind them.
CREATE TABLE rejected_events (
    event_id     UUID PRIMARY KEY,
    sale_id      TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    event        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
