-- Money the PSP captured that no payment stands for: a capture of an attempt that is no longer
-- the payment's current one, of another amount, or of an unknown payment. Each is refunded by
-- the sync worker (PSP key `refund-orphan-<charge>`) and counted by the reconciliation until it is.
CREATE TABLE orphan_charges (
    charge_id     TEXT PRIMARY KEY,
    payment_id    UUID NOT NULL,
    sale_id       TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    refund_id     TEXT,
    refunded_at   TIMESTAMPTZ,
    checked_at    TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX orphan_charges_unrefunded ON orphan_charges (checked_at) WHERE refunded_at IS NULL;
CREATE INDEX orphan_charges_by_sale ON orphan_charges (sale_id);
