-- Payment's record: one payment per reservation, the PSP events seen, and the transactional
-- outbox. Runs with search_path = payment.

-- What payment needs to know of a sale, learned from its SaleConfigured events.
CREATE TABLE sales (
    sale_id                   TEXT PRIMARY KEY,
    closes_at                 TIMESTAMPTZ NOT NULL,
    allow_buyer_cancellation  BOOLEAN NOT NULL,
    organizer_id              UUID,
    -- Time of the configuration applied; an older copy (from a lagging partition) is ignored.
    configured_at             TIMESTAMPTZ NOT NULL
);

CREATE TABLE payments (
    payment_id          UUID PRIMARY KEY,
    sale_id             TEXT NOT NULL,
    reservation_id      UUID NOT NULL CONSTRAINT payments_one_per_reservation UNIQUE,
    user_id             UUID NOT NULL,
    amount_minor        BIGINT NOT NULL CONSTRAINT payments_amount_not_negative CHECK (amount_minor >= 0),
    currency            TEXT NOT NULL,
    payment_method      TEXT NOT NULL,
    status              TEXT NOT NULL CONSTRAINT payments_status_known
                            CHECK (status IN ('pending', 'authorized', 'captured', 'failed', 'refund_pending', 'refunded')),
    -- A declined attempt may be followed by another; each attempt has its own PSP idempotency key.
    attempt             INTEGER NOT NULL DEFAULT 1 CONSTRAINT payments_attempt_positive CHECK (attempt >= 1),
    psp_payment_id      TEXT,
    failure_reason      TEXT,
    -- What booking made of the captured payment: confirmed the hold, or refused it.
    booking_outcome     TEXT CONSTRAINT payments_booking_outcome_known
                            CHECK (booking_outcome IN ('confirmed', 'rejected')),
    booking_reason      TEXT,
    refund_reason       TEXT,
    refund_requested_by UUID,
    psp_refund_id       TEXT,
    -- When the PSP sync worker last looked at (or claimed) this payment.
    psp_checked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    captured_at         TIMESTAMPTZ,
    refunded_at         TIMESTAMPTZ,
    -- Money that went back must have been captured first.
    CONSTRAINT payments_refund_needs_capture CHECK (status NOT IN ('refund_pending', 'refunded') OR captured_at IS NOT NULL)
);

-- "My payments": newest first per user; payment ids are UUIDv7, so they sort by time.
CREATE INDEX payments_by_user ON payments (user_id, payment_id DESC);
CREATE INDEX payments_by_sale ON payments (sale_id, status);
-- The PSP sync worker's queue: only payments still waiting on the PSP.
CREATE INDEX payments_waiting_on_psp ON payments (psp_checked_at)
    WHERE status IN ('pending', 'authorized', 'refund_pending');

-- A buyer's Idempotency-Key maps to one payment request.
CREATE TABLE idempotency_keys (
    user_id      UUID NOT NULL,
    key          TEXT NOT NULL,
    payment_id   UUID NOT NULL REFERENCES payments (payment_id),
    fingerprint  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- Every PSP event applied, by its id: a redelivered webhook changes nothing.
CREATE TABLE psp_events (
    event_id     TEXT PRIMARY KEY,
    event_type   TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Events committed with the state change that caused them, published by the relay.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    topic        TEXT NOT NULL,
    message_key  TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
