//! Booking's PostgreSQL record: applying events idempotently, and the read queries.

use shared::{
    events::{
        BookingEvent, Envelope, QueueShuffled, ReservationSnapshot, ReservationStatus,
        SaleConfigured,
    },
    ids::SaleId,
};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

/// Name of the constraint that keeps sold seats within capacity.
pub const SOLD_WITHIN_CAPACITY: &str = "zones_sold_within_capacity";

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Recording would sell more seats than the zone has: an oversell caught by the database.
    #[error("oversell refused by {SOLD_WITHIN_CAPACITY} for sale {sale} zone {zone}")]
    Oversell {
        /// Sale.
        sale: String,
        /// Zone.
        zone: String,
    },
    /// Any other database failure.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn constraint(err: &sqlx::Error) -> Option<&str> {
    err.as_database_error().and_then(|e| e.constraint())
}

/// Applies one event inside `tx`. Replaying an event changes nothing.
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    envelope: &Envelope<BookingEvent>,
) -> Result<(), RecordError> {
    match &envelope.event {
        BookingEvent::SaleConfigured(config) => {
            configure(tx, &envelope.sale, envelope.time, config).await
        }
        BookingEvent::ReservationCreated(s)
        | BookingEvent::ReservationConfirmed(s)
        | BookingEvent::ReservationCancelled(s)
        | BookingEvent::ReservationExpired(s)
        | BookingEvent::ReservationReleased(s)
        | BookingEvent::ReservationRefunded(s) => record_reservation(tx, &envelope.sale, s).await,
        BookingEvent::ConfirmRejected(_) => Ok(()),
        BookingEvent::QueueShuffled(shuffled) => {
            record_shuffle(tx, &envelope.sale, envelope.time, shuffled).await
        }
    }
}

/// Applies a batch of events inside `tx`, in order. Runs of new holds, the bulk of a sale's
/// traffic, are written with one insert and one counter update per zone instead of two
/// statements per event.
pub async fn apply_batch(
    tx: &mut Transaction<'_, Postgres>,
    envelopes: &[Envelope<BookingEvent>],
) -> Result<(), RecordError> {
    let mut rest = envelopes;
    while let Some(first) = rest.first() {
        let holds: Vec<&ReservationSnapshot> = rest
            .iter()
            .map_while(|e| new_hold(e).filter(|_| e.sale == first.sale))
            .collect();
        if holds.len() > 1 {
            record_new_holds(tx, &first.sale, &holds).await?;
            rest = &rest[holds.len()..];
        } else {
            apply(tx, first).await?;
            rest = &rest[1..];
        }
    }
    Ok(())
}

/// The snapshot of an event that creates a hold.
fn new_hold(envelope: &Envelope<BookingEvent>) -> Option<&ReservationSnapshot> {
    match &envelope.event {
        BookingEvent::ReservationCreated(s) if s.status == ReservationStatus::Held => Some(s),
        _ => None,
    }
}

/// Records new holds of one sale: rows already recorded (redeliveries) change nothing, and each
/// zone's held count grows by the seats of the rows that were new.
async fn record_new_holds(
    tx: &mut Transaction<'_, Postgres>,
    sale: &SaleId,
    holds: &[&ReservationSnapshot],
) -> Result<(), RecordError> {
    let mut seen = std::collections::HashSet::with_capacity(holds.len());
    let holds: Vec<&ReservationSnapshot> = holds
        .iter()
        .copied()
        .filter(|s| seen.insert(s.reservation_id))
        .collect();
    let inserted: Vec<(String, i32)> = sqlx::query_as(
        "INSERT INTO reservations (reservation_id, sale_id, zone_id, user_id, quantity, amount_minor, currency,
                                   status, created_at, expires_at)
         SELECT id, $1, zone, usr, qty, amount, currency, 'held', created, expires
         FROM UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::bigint[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[])
              AS h(id, zone, usr, qty, amount, currency, created, expires)
         ON CONFLICT (reservation_id) DO NOTHING
         RETURNING zone_id, quantity",
    )
    .bind(sale.as_str())
    .bind(holds.iter().map(|s| s.reservation_id).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.zone.as_str()).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.user_id).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.quantity as i32).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.amount_minor).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.currency.as_str()).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.created_at).collect::<Vec<_>>())
    .bind(holds.iter().map(|s| s.expires_at).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    // One update per zone, in zone order so concurrent recorders lock rows in the same order.
    let mut held: std::collections::BTreeMap<String, i32> = Default::default();
    for (zone, quantity) in inserted {
        *held.entry(zone).or_default() += quantity;
    }
    for (zone, seats) in held {
        add_to_zone(tx, sale, &zone, seats, 0).await?;
    }
    Ok(())
}

/// Records a slice of a sale's shuffled pre-queue; a slice delivered twice changes nothing.
async fn record_shuffle(
    tx: &mut Transaction<'_, Postgres>,
    sale: &SaleId,
    at: OffsetDateTime,
    shuffled: &QueueShuffled,
) -> Result<(), RecordError> {
    sqlx::query(
        "INSERT INTO queue_shuffles (sale_id, seed, pre_queue_size, shuffled_at)
         VALUES ($1, $2::text::numeric, $3, $4) ON CONFLICT (sale_id) DO NOTHING",
    )
    .bind(sale.as_str())
    .bind(shuffled.seed.to_string())
    .bind(shuffled.pre_queue_size as i32)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let positions: Vec<i32> = shuffled
        .placements
        .iter()
        .map(|p| p.position as i32)
        .collect();
    let users: Vec<Uuid> = shuffled.placements.iter().map(|p| p.user_id).collect();
    let ranks: Vec<i32> = shuffled
        .placements
        .iter()
        .map(|p| p.joined_rank as i32)
        .collect();
    sqlx::query(
        "INSERT INTO queue_positions (sale_id, position, user_id, joined_rank)
         SELECT $1, * FROM UNNEST($2::int[], $3::uuid[], $4::int[])
         ON CONFLICT (sale_id, position) DO NOTHING",
    )
    .bind(sale.as_str())
    .bind(&positions)
    .bind(&users)
    .bind(&ranks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One place of a sale's recorded pre-queue shuffle.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordedPlace {
    /// Position after the shuffle, from 1.
    pub position: i32,
    /// The buyer.
    pub user_id: Uuid,
    /// Their place in the order of joining, from 0.
    pub joined_rank: i32,
}

/// When the sale's configuration the recorder last applied was published; `None` before any.
pub async fn configured_at(
    pool: &PgPool,
    sale: &SaleId,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar("SELECT configured_at FROM sales WHERE sale_id = $1")
        .bind(sale.as_str())
        .fetch_optional(pool)
        .await
}

/// A sale's recorded shuffle: the seed and the order, by position.
pub async fn recorded_shuffle(
    pool: &PgPool,
    sale: &SaleId,
) -> Result<Option<(u64, Vec<RecordedPlace>)>, sqlx::Error> {
    let seed: Option<String> =
        sqlx::query_scalar("SELECT seed::text FROM queue_shuffles WHERE sale_id = $1")
            .bind(sale.as_str())
            .fetch_optional(pool)
            .await?;
    let Some(seed) = seed.and_then(|s| s.parse().ok()) else {
        return Ok(None);
    };
    let places = sqlx::query_as(
        "SELECT position, user_id, joined_rank FROM queue_positions WHERE sale_id = $1 ORDER BY position",
    )
    .bind(sale.as_str())
    .fetch_all(pool)
    .await?;
    Ok(Some((seed, places)))
}

async fn configure(
    tx: &mut Transaction<'_, Postgres>,
    sale: &SaleId,
    configured_at: OffsetDateTime,
    config: &SaleConfigured,
) -> Result<(), RecordError> {
    // The configuration goes to every partition, so copies arrive in any order: only a newer one
    // than the applied configuration changes anything.
    let newer = sqlx::query(
        "INSERT INTO sales (sale_id, opens_at, closes_at, hold_ttl_seconds, configured_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sale_id) DO UPDATE SET opens_at = $2, closes_at = $3, hold_ttl_seconds = $4,
                                             configured_at = $5, updated_at = now()
         WHERE sales.configured_at < $5",
    )
    .bind(sale.as_str())
    .bind(config.opens_at)
    .bind(config.closes_at)
    .bind(config.hold_ttl_seconds as i32)
    .bind(configured_at)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !newer {
        return Ok(());
    }
    for zone in &config.zones {
        sqlx::query(
            "INSERT INTO zones (sale_id, zone_id, capacity, price_minor, currency, per_user_cap)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sale_id, zone_id) DO UPDATE
             SET capacity = $3, price_minor = $4, currency = $5, per_user_cap = $6",
        )
        .bind(sale.as_str())
        .bind(zone.zone.as_str())
        .bind(zone.capacity as i32)
        .bind(zone.price_minor)
        .bind(&zone.currency)
        .bind(zone.per_user_cap as i32)
        .execute(&mut **tx)
        .await
        .map_err(|e| oversell_or(e, sale, zone.zone.as_str()))?;
    }
    Ok(())
}

fn oversell_or(err: sqlx::Error, sale: &SaleId, zone: &str) -> RecordError {
    match constraint(&err) {
        Some(SOLD_WITHIN_CAPACITY) => RecordError::Oversell {
            sale: sale.to_string(),
            zone: zone.to_owned(),
        },
        _ => RecordError::Database(err),
    }
}

/// Records a reservation's new status; only `held` moves on, and only once, so counters change once.
async fn record_reservation(
    tx: &mut Transaction<'_, Postgres>,
    sale: &SaleId,
    s: &ReservationSnapshot,
) -> Result<(), RecordError> {
    let zone = s.zone.as_str();
    let inserted = sqlx::query(
        "INSERT INTO reservations (reservation_id, sale_id, zone_id, user_id, quantity, amount_minor, currency,
                                   status, payment_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (reservation_id) DO NOTHING",
    )
    .bind(s.reservation_id)
    .bind(sale.as_str())
    .bind(zone)
    .bind(s.user_id)
    .bind(s.quantity as i32)
    .bind(s.amount_minor)
    .bind(&s.currency)
    .bind(s.status.as_str())
    .bind(s.payment_id)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    let from = if inserted {
        None
    } else {
        // The only moves: out of `held`, once; and `confirmed` to `refunded`, once. The row says
        // which one happened, so counters change exactly once whatever the order of delivery.
        let moved: Option<String> = sqlx::query_scalar(
            "WITH before AS (SELECT status FROM reservations WHERE reservation_id = $1 FOR UPDATE)
             UPDATE reservations r SET status = $2, payment_id = COALESCE($3, r.payment_id), updated_at = now()
             FROM before
             WHERE r.reservation_id = $1
               AND ((before.status = 'held' AND $2 <> 'held') OR (before.status = 'confirmed' AND $2 = 'refunded'))
             RETURNING before.status",
        )
        .bind(s.reservation_id)
        .bind(s.status.as_str())
        .bind(s.payment_id)
        .fetch_optional(&mut **tx)
        .await?;
        match moved.as_deref().and_then(ReservationStatus::parse) {
            Some(before) => Some(before),
            None => return Ok(()),
        }
    };
    let q = s.quantity as i32;
    let (held, sold) = match (from, s.status) {
        (None, ReservationStatus::Held) => (q, 0),
        (None, ReservationStatus::Confirmed) => (0, q),
        (None, _) => (0, 0),
        (Some(ReservationStatus::Confirmed), _) => (0, -q),
        (Some(_), ReservationStatus::Confirmed) => (-q, q),
        (Some(_), _) => (-q, 0),
    };
    if held != 0 || sold != 0 {
        add_to_zone(tx, sale, zone, held, sold).await?;
    }
    Ok(())
}

/// Moves a zone's held and sold counters by the given amounts.
async fn add_to_zone(
    tx: &mut Transaction<'_, Postgres>,
    sale: &SaleId,
    zone: &str,
    held: i32,
    sold: i32,
) -> Result<(), RecordError> {
    sqlx::query(
        // CHECK constraints apply to the proposed row before the conflict is detected, so the
        // inserted counts are clamped; a decrement only ever meets an existing row.
        "INSERT INTO zones (sale_id, zone_id, held, sold) VALUES ($1, $2, GREATEST($3, 0), GREATEST($4, 0))
         ON CONFLICT (sale_id, zone_id) DO UPDATE SET held = zones.held + $3, sold = zones.sold + $4",
    )
    .bind(sale.as_str())
    .bind(zone)
    .bind(held)
    .bind(sold)
    .execute(&mut **tx)
    .await
    .map_err(|e| oversell_or(e, sale, zone))?;
    Ok(())
}

/// A reservation as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    /// Id.
    pub reservation_id: Uuid,
    /// Sale.
    pub sale_id: String,
    /// Zone.
    pub zone_id: String,
    /// Owner.
    pub user_id: Uuid,
    /// Seats.
    pub quantity: i32,
    /// Total.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Status.
    pub status: String,
    /// Confirming payment.
    pub payment_id: Option<Uuid>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

const ROW_COLUMNS: &str = "reservation_id, sale_id, zone_id, user_id, quantity, amount_minor, currency, status, payment_id, created_at, expires_at";

/// One recorded reservation.
pub async fn reservation(pool: &PgPool, id: Uuid) -> Result<Option<ReservationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM reservations WHERE reservation_id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A user's reservations across sales, newest first, after `before` (a cursor).
pub async fn reservations_of_user(
    pool: &PgPool,
    user: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ReservationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM reservations
         WHERE user_id = $1 AND ($2::uuid IS NULL OR reservation_id < $2)
         ORDER BY reservation_id DESC LIMIT $3"
    ))
    .bind(user)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Every recorded reservation of a sale, oldest first.
pub async fn reservations_of_sale(
    pool: &PgPool,
    sale: &SaleId,
) -> Result<Vec<ReservationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM reservations WHERE sale_id = $1 ORDER BY reservation_id"
    ))
    .bind(sale.as_str())
    .fetch_all(pool)
    .await
}

/// Recorded counts of one zone.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ZoneTotals {
    /// Zone.
    pub zone_id: String,
    /// Capacity.
    pub capacity: i32,
    /// Seats on hold per the zone counter.
    pub held: i32,
    /// Seats sold per the zone counter.
    pub sold: i32,
    /// Seats on hold summed over held reservations.
    pub held_rows: i64,
    /// Seats sold summed over confirmed reservations.
    pub sold_rows: i64,
}

/// Keeps an event the database refused, so recording goes on behind it.
pub async fn reject(
    pool: &PgPool,
    envelope: &Envelope<BookingEvent>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rejected_events (event_id, sale_id, event_type, event, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(envelope.id)
    .bind(envelope.sale.as_str())
    .bind(envelope.event.type_name())
    .bind(serde_json::to_string(envelope).unwrap_or_default())
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Per-zone counters of a sale next to the sums over its reservation rows (configured zones only).
pub async fn zone_totals(pool: &PgPool, sale: &SaleId) -> Result<Vec<ZoneTotals>, sqlx::Error> {
    sqlx::query_as(
        "SELECT z.zone_id, z.capacity, z.held, z.sold,
                COALESCE(SUM(r.quantity) FILTER (WHERE r.status = 'held'), 0) AS held_rows,
                COALESCE(SUM(r.quantity) FILTER (WHERE r.status = 'confirmed'), 0) AS sold_rows
         FROM zones z LEFT JOIN reservations r ON r.sale_id = z.sale_id AND r.zone_id = z.zone_id
         WHERE z.sale_id = $1 AND z.capacity IS NOT NULL GROUP BY z.zone_id, z.capacity, z.held, z.sold ORDER BY z.zone_id",
    )
    .bind(sale.as_str())
    .fetch_all(pool)
    .await
}
