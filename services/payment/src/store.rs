//! Payment's PostgreSQL record: payments and their transitions, each committed together with the
//! event it causes (the transactional outbox), PSP events seen, idempotency keys and sale terms.

use shared::{
    events::{
        Envelope, PaymentEvent, PaymentFailed, PaymentRefunded, PaymentSucceeded, payments_topic,
    },
    ids::SaleId,
};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    domain::{PaymentStatus, RefundReason},
    psp::{Event, EventKind},
};

/// Channel the relay listens on for fresh outbox rows.
pub const OUTBOX_CHANNEL: &str = "payment_outbox";

/// A payment as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    /// Id.
    pub payment_id: Uuid,
    /// Sale.
    pub sale_id: String,
    /// The reservation paid for.
    pub reservation_id: Uuid,
    /// The payer.
    pub user_id: Uuid,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Payment method token.
    pub payment_method: String,
    /// Status as stored.
    pub status: String,
    /// Current attempt.
    pub attempt: i32,
    /// The PSP's charge id of the current attempt.
    pub psp_payment_id: Option<String>,
    /// Why the last attempt failed.
    pub failure_reason: Option<String>,
    /// `confirmed` or `rejected` by booking.
    pub booking_outcome: Option<String>,
    /// Booking's reason for a rejection.
    pub booking_reason: Option<String>,
    /// Why it was refunded.
    pub refund_reason: Option<String>,
    /// Who asked for the refund (absent when automatic).
    pub refund_requested_by: Option<Uuid>,
    /// The PSP's refund id.
    pub psp_refund_id: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// When captured.
    pub captured_at: Option<OffsetDateTime>,
    /// When refunded.
    pub refunded_at: Option<OffsetDateTime>,
}

impl PaymentRow {
    /// The status (unknown stored values read as pending; the check constraint rules them out).
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Pending)
    }
}

const COLUMNS: &str = "payment_id, sale_id, reservation_id, user_id, amount_minor, currency, payment_method, status, attempt,
    psp_payment_id, failure_reason, booking_outcome, booking_reason, refund_reason, refund_requested_by, psp_refund_id,
    created_at, updated_at, captured_at, refunded_at";

/// What a sale lets payment do, from its configuration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleTerms {
    /// Sale.
    pub sale_id: String,
    /// When reservations close.
    pub closes_at: OffsetDateTime,
    /// Whether buyers may cancel paid bookings.
    pub allow_buyer_cancellation: bool,
    /// The organizer.
    pub organizer_id: Option<Uuid>,
}

/// One payment.
pub async fn payment(pool: &PgPool, id: Uuid) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payment_id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The payment of a reservation.
pub async fn payment_of_reservation(
    pool: &PgPool,
    reservation: Uuid,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE reservation_id = $1"
    ))
    .bind(reservation)
    .fetch_optional(pool)
    .await
}

/// A user's payments across sales, newest first, after `before` (a cursor).
pub async fn payments_of_user(
    pool: &PgPool,
    user: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND ($2::uuid IS NULL OR payment_id < $2)
         ORDER BY payment_id DESC LIMIT $3"
    ))
    .bind(user)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Every payment of a sale (for reconciliation).
pub async fn payments_of_sale(
    pool: &PgPool,
    sale: &SaleId,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE sale_id = $1 ORDER BY payment_id"
    ))
    .bind(sale.as_str())
    .fetch_all(pool)
    .await
}

/// Outbox rows not yet published.
pub async fn outbox_backlog(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
}

/// A sale's terms, if its configuration has arrived.
pub async fn sale_terms(pool: &PgPool, sale: &SaleId) -> Result<Option<SaleTerms>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sale_id, closes_at, allow_buyer_cancellation, organizer_id FROM sales WHERE sale_id = $1",
    )
    .bind(sale.as_str())
    .fetch_optional(pool)
    .await
}

/// Records a sale's configuration unless a newer one is already applied.
pub async fn configure_sale(
    tx: &mut Transaction<'_, Postgres>,
    terms: &SaleTerms,
    configured_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sales (sale_id, closes_at, allow_buyer_cancellation, organizer_id, configured_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sale_id) DO UPDATE SET closes_at = $2, allow_buyer_cancellation = $3,
             organizer_id = $4, configured_at = $5
         WHERE sales.configured_at < $5",
    )
    .bind(&terms.sale_id)
    .bind(terms.closes_at)
    .bind(terms.allow_buyer_cancellation)
    .bind(terms.organizer_id)
    .bind(configured_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The payment a user's idempotency key names, with the fingerprint of its request.
pub async fn idempotency(
    pool: &PgPool,
    user: Uuid,
    key: &str,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_id, fingerprint FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// A new payment as the pay request describes it.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// Sale.
    pub sale: SaleId,
    /// Reservation.
    pub reservation_id: Uuid,
    /// Payer.
    pub user_id: Uuid,
    /// Amount from the reservation.
    pub amount_minor: i64,
    /// Currency from the reservation.
    pub currency: String,
    /// Payment method token.
    pub payment_method: String,
}

/// Whether a pay request made something new.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new payment or a new attempt.
    New(PaymentRow),
    /// The reservation's payment already existed (made concurrently or earlier).
    Existing(PaymentRow),
}

async fn remember_key(
    tx: &mut Transaction<'_, Postgres>,
    user: Uuid,
    key: &str,
    payment: Uuid,
    fingerprint: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, payment_id, fingerprint) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(payment)
    .bind(fingerprint)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates the reservation's payment (pending), or finds the one a concurrent request made.
pub async fn create_payment(
    pool: &PgPool,
    new: &NewPayment,
    key: &str,
    fingerprint: &str,
) -> Result<Created, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted: Option<PaymentRow> = sqlx::query_as(&format!(
        "INSERT INTO payments (payment_id, sale_id, reservation_id, user_id, amount_minor, currency, payment_method, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
         ON CONFLICT (reservation_id) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(new.sale.as_str())
    .bind(new.reservation_id)
    .bind(new.user_id)
    .bind(new.amount_minor)
    .bind(&new.currency)
    .bind(&new.payment_method)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        return Ok(
            match payment_of_reservation(pool, new.reservation_id).await? {
                Some(row) => Created::Existing(row),
                None => return Err(sqlx::Error::RowNotFound),
            },
        );
    };
    remember_key(&mut tx, new.user_id, key, row.payment_id, fingerprint).await?;
    tx.commit().await?;
    Ok(Created::New(row))
}

/// Starts a new attempt of a declined payment; `None` when it is no longer declined.
pub async fn retry_failed(
    pool: &PgPool,
    payment: Uuid,
    payment_method: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<PaymentRow> = sqlx::query_as(&format!(
        "UPDATE payments SET status = 'pending', attempt = attempt + 1, psp_payment_id = NULL,
             failure_reason = NULL, payment_method = $2, psp_checked_at = now(), updated_at = now()
         WHERE payment_id = $1 AND status = 'failed' RETURNING {COLUMNS}"
    ))
    .bind(payment)
    .bind(payment_method)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = &row {
        remember_key(&mut tx, row.user_id, key, row.payment_id, fingerprint).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// Records the PSP's charge id of an attempt.
pub async fn set_psp_charge(
    pool: &PgPool,
    payment: Uuid,
    attempt: i32,
    charge: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET psp_payment_id = $3, updated_at = now()
         WHERE payment_id = $1 AND attempt = $2 AND psp_payment_id IS NULL",
    )
    .bind(payment)
    .bind(attempt)
    .bind(charge)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records the PSP's refund id.
pub async fn set_psp_refund(pool: &PgPool, payment: Uuid, refund: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET psp_refund_id = $2, updated_at = now()
         WHERE payment_id = $1 AND psp_refund_id IS NULL",
    )
    .bind(payment)
    .bind(refund)
    .execute(pool)
    .await?;
    Ok(())
}

/// Appends an event to the outbox inside the transaction of the change that caused it.
async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    row: &PaymentRow,
    event: PaymentEvent,
) -> Result<(), sqlx::Error> {
    let sale = SaleId::parse(&row.sale_id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let dedup = format!("{}/{}/{}", row.payment_id, row.attempt, event.type_name());
    let envelope = Envelope::new(sale.clone(), OffsetDateTime::now_utc(), &dedup, event);
    let payload = serde_json::to_string(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO outbox (topic, message_key, payload) VALUES ($1, $2, $3)")
        .bind(payments_topic(&sale))
        .bind(row.reservation_id.to_string())
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks an attempt failed and announces it; `false` when the attempt was already decided.
pub async fn fail_attempt(
    pool: &PgPool,
    payment: Uuid,
    attempt: i32,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let failed = fail(&mut tx, payment, attempt, reason).await?;
    tx.commit().await?;
    Ok(failed)
}

async fn fail(
    tx: &mut Transaction<'_, Postgres>,
    payment: Uuid,
    attempt: i32,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<PaymentRow> = sqlx::query_as(&format!(
        "UPDATE payments SET status = 'failed', failure_reason = $3, updated_at = now()
         WHERE payment_id = $1 AND attempt = $2 AND status IN ('pending', 'authorized') RETURNING {COLUMNS}"
    ))
    .bind(payment)
    .bind(attempt)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let event = PaymentEvent::PaymentFailed(PaymentFailed {
        payment_id: row.payment_id,
        reservation_id: row.reservation_id,
        user_id: row.user_id,
        reason: reason.to_owned(),
    });
    enqueue(tx, &row, event).await?;
    Ok(true)
}

/// What applying a PSP event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// This event id was applied before.
    Duplicate,
    /// The payment moved (the label names where to).
    Moved(&'static str),
    /// The event changed nothing: it is older news than the payment's state, or names no payment.
    Ignored(&'static str),
}

impl Applied {
    /// A bounded label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Moved(l) | Self::Ignored(l) => l,
        }
    }
}

/// Applies a PSP event once: the event id, the payment's move and the event it publishes commit
/// together. Moves only go forward, so duplicates and out-of-order deliveries change nothing.
pub async fn apply_event(pool: &PgPool, event: &Event) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO psp_events (event_id, event_type, object_id, outcome) VALUES ($1, $2, $3, '')
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(event.kind.type_name())
    .bind(event.kind.object_id())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Applied::Duplicate);
    }
    let meta = event.kind.metadata();
    let applied = match &event.kind {
        EventKind::ChargeAuthorized(charge) => {
            let moved = sqlx::query(
                "UPDATE payments SET status = 'authorized', psp_payment_id = COALESCE(psp_payment_id, $3), updated_at = now()
                 WHERE payment_id = $1 AND attempt = $2 AND status = 'pending'",
            )
            .bind(meta.payment_id)
            .bind(meta.attempt)
            .bind(&charge.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 1 {
                Applied::Moved("authorized")
            } else {
                Applied::Ignored("stale")
            }
        }
        EventKind::ChargeCaptured(charge) => {
            let row: Option<PaymentRow> = sqlx::query_as(&format!(
                "UPDATE payments SET status = 'captured', captured_at = now(),
                     psp_payment_id = COALESCE(psp_payment_id, $3), psp_checked_at = now(), updated_at = now()
                 WHERE payment_id = $1 AND attempt = $2 AND status IN ('pending', 'authorized', 'failed')
                   AND amount_minor = $4 AND currency = $5
                 RETURNING {COLUMNS}"
            ))
            .bind(meta.payment_id)
            .bind(meta.attempt)
            .bind(&charge.id)
            .bind(charge.amount_minor)
            .bind(&charge.currency)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => {
                    let event = PaymentEvent::PaymentSucceeded(PaymentSucceeded {
                        payment_id: row.payment_id,
                        reservation_id: row.reservation_id,
                        user_id: row.user_id,
                        amount_minor: row.amount_minor,
                        currency: row.currency.clone(),
                    });
                    enqueue(&mut tx, &row, event).await?;
                    Applied::Moved("captured")
                }
                None => {
                    let current: Option<(i64, String, i32, Option<String>)> = sqlx::query_as(
                        "SELECT amount_minor, currency, attempt, psp_payment_id FROM payments WHERE payment_id = $1",
                    )
                    .bind(meta.payment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let orphan = match current {
                        Some((a, c, _, _)) if a != charge.amount_minor || c != charge.currency => {
                            Some("amount_mismatch")
                        }
                        Some((_, _, attempt, _)) if attempt != meta.attempt => {
                            Some("stale_attempt")
                        }
                        Some((_, _, _, Some(id))) if id != charge.id => Some("another_charge"),
                        Some(_) => None,
                        None => Some("unknown_payment"),
                    };
                    match orphan {
                        Some(reason) => {
                            tracing::error!(payment.id = %meta.payment_id, charge.id = %charge.id, reason,
                                "the PSP captured money no payment stands for; refunding it");
                            record_orphan(&mut tx, charge, reason).await?;
                            Applied::Moved("orphan")
                        }
                        None => Applied::Ignored("stale"),
                    }
                }
            }
        }
        EventKind::ChargeFailed(charge) => {
            let reason = charge.failure_reason.as_deref().unwrap_or("failed");
            if fail(&mut tx, meta.payment_id, meta.attempt, reason).await? {
                Applied::Moved("failed")
            } else {
                Applied::Ignored("stale")
            }
        }
        EventKind::RefundSucceeded(refund) => {
            let row: Option<PaymentRow> = sqlx::query_as(&format!(
                "UPDATE payments SET status = 'refunded', refunded_at = now(),
                     psp_refund_id = COALESCE(psp_refund_id, $2), updated_at = now()
                 WHERE payment_id = $1 AND status = 'refund_pending' RETURNING {COLUMNS}"
            ))
            .bind(meta.payment_id)
            .bind(&refund.id)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => {
                    let event = PaymentEvent::PaymentRefunded(PaymentRefunded {
                        payment_id: row.payment_id,
                        reservation_id: row.reservation_id,
                        user_id: row.user_id,
                        amount_minor: row.amount_minor,
                        currency: row.currency.clone(),
                        reason: row.refund_reason.clone().unwrap_or_default(),
                    });
                    enqueue(&mut tx, &row, event).await?;
                    Applied::Moved("refunded")
                }
                None => {
                    let orphan = sqlx::query(
                        "UPDATE orphan_charges SET refunded_at = now(), refund_id = COALESCE(refund_id, $2)
                         WHERE charge_id = $1 AND refunded_at IS NULL",
                    )
                    .bind(&refund.charge_id)
                    .bind(&refund.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if orphan == 1 {
                        Applied::Moved("orphan_refunded")
                    } else {
                        Applied::Ignored("stale")
                    }
                }
            }
        }
    };
    sqlx::query("UPDATE psp_events SET outcome = $2 WHERE event_id = $1")
        .bind(&event.id)
        .bind(applied.label())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(applied)
}

/// Asks for a refund of a captured payment; `None` when it is not captured (any more).
pub async fn request_refund(
    pool: &PgPool,
    payment: Uuid,
    reason: RefundReason,
    requested_by: Option<Uuid>,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET status = 'refund_pending', refund_reason = $2, refund_requested_by = $3,
             psp_checked_at = now(), updated_at = now()
         WHERE payment_id = $1 AND status = 'captured' RETURNING {COLUMNS}"
    ))
    .bind(payment)
    .bind(reason.as_str())
    .bind(requested_by)
    .fetch_optional(pool)
    .await
}

/// Booking confirmed the hold with this payment.
pub async fn booking_confirmed(
    tx: &mut Transaction<'_, Postgres>,
    payment: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET booking_outcome = 'confirmed', updated_at = now()
         WHERE payment_id = $1 AND booking_outcome IS DISTINCT FROM 'confirmed'",
    )
    .bind(payment)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Booking refused this payment: a captured payment becomes a refund, due at once.
pub async fn booking_rejected(
    tx: &mut Transaction<'_, Postgres>,
    payment: Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET booking_outcome = 'rejected', booking_reason = $2,
             status = CASE WHEN status = 'captured' THEN 'refund_pending' ELSE status END,
             refund_reason = CASE WHEN status = 'captured' THEN 'booking_rejected' ELSE refund_reason END,
             psp_checked_at = CASE WHEN status = 'captured' THEN '-infinity'::timestamptz ELSE psp_checked_at END,
             updated_at = now()
         WHERE payment_id = $1 AND booking_outcome IS NULL",
    )
    .bind(payment)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` payments that have waited on the PSP for `waited` or longer, for one
/// worker (others skip them), and restarts their clock.
pub async fn claim_waiting(
    pool: &PgPool,
    waited: std::time::Duration,
    limit: i64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET psp_checked_at = now() WHERE payment_id IN (
             SELECT payment_id FROM payments
             WHERE status IN ('pending', 'authorized', 'refund_pending')
               AND psp_checked_at < now() - make_interval(secs => $1)
             ORDER BY psp_checked_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(waited.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One unpublished outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Sequence.
    pub id: i64,
    /// Topic.
    pub topic: String,
    /// Message key.
    pub message_key: String,
    /// Encoded envelope.
    pub payload: String,
}

/// Takes up to `limit` outbox rows inside `tx`, locked against other relays; they are deleted
/// when `tx` commits, and stay when it rolls back.
pub async fn take_outbox(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let mut rows: Vec<OutboxRow> = sqlx::query_as(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, topic, message_key, payload",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

async fn record_orphan(
    tx: &mut Transaction<'_, Postgres>,
    charge: &crate::psp::Charge,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orphan_charges (charge_id, payment_id, sale_id, attempt, amount_minor, currency, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (charge_id) DO NOTHING",
    )
    .bind(&charge.id)
    .bind(charge.metadata.payment_id)
    .bind(&charge.metadata.sale_id)
    .bind(charge.metadata.attempt)
    .bind(charge.amount_minor)
    .bind(&charge.currency)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A capture no payment stands for, to be refunded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrphanCharge {
    /// The PSP's charge id.
    pub charge_id: String,
    /// The payment its metadata names.
    pub payment_id: Uuid,
    /// Sale.
    pub sale_id: String,
    /// Amount captured, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Why no payment stands for it.
    pub reason: String,
    /// The PSP's refund id, once asked.
    pub refund_id: Option<String>,
    /// When the refund settled.
    pub refunded_at: Option<OffsetDateTime>,
}

const ORPHAN_COLUMNS: &str =
    "charge_id, payment_id, sale_id, amount_minor, currency, reason, refund_id, refunded_at";

/// Claims up to `limit` unrefunded orphan captures not looked at for `waited`, for one worker.
pub async fn claim_orphans(
    pool: &PgPool,
    waited: std::time::Duration,
    limit: i64,
) -> Result<Vec<OrphanCharge>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE orphan_charges SET checked_at = now() WHERE charge_id IN (
             SELECT charge_id FROM orphan_charges
             WHERE refunded_at IS NULL AND checked_at < now() - make_interval(secs => $1)
             ORDER BY checked_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {ORPHAN_COLUMNS}"
    ))
    .bind(waited.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records the refund the PSP opened for an orphan capture.
pub async fn set_orphan_refund(
    pool: &PgPool,
    charge: &str,
    refund: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orphan_charges SET refund_id = $2 WHERE charge_id = $1 AND refund_id IS NULL",
    )
    .bind(charge)
    .bind(refund)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks an orphan capture refunded (its refund settled at the PSP).
pub async fn orphan_refunded(pool: &PgPool, charge: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orphan_charges SET refunded_at = now() WHERE charge_id = $1 AND refunded_at IS NULL")
        .bind(charge)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every orphan capture of a sale.
pub async fn orphans_of_sale(
    pool: &PgPool,
    sale: &SaleId,
) -> Result<Vec<OrphanCharge>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ORPHAN_COLUMNS} FROM orphan_charges WHERE sale_id = $1 ORDER BY created_at"
    ))
    .bind(sale.as_str())
    .fetch_all(pool)
    .await
}
