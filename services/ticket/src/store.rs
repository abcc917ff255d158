//! The ticket schema: rows and the queries that read and write them.

use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{TicketError, violated};

/// A venue as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenueRow {
    /// Id.
    pub venue_id: Uuid,
    /// The organizer who manages it.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// IANA time zone.
    pub timezone: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Id.
    pub event_id: Uuid,
    /// The organizer who manages it.
    pub owner_id: Uuid,
    /// Slug, unique per organizer (and among published events).
    pub slug: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Image URLs.
    pub image_urls: Vec<String>,
    /// draft, published or cancelled.
    pub status: String,
    /// When it was published.
    pub published_at: Option<OffsetDateTime>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

impl EventRow {
    /// Whether anyone may read it.
    pub fn is_published(&self) -> bool {
        self.status == "published"
    }
}

/// A show as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShowRow {
    /// Id.
    pub show_id: Uuid,
    /// Its event.
    pub event_id: Uuid,
    /// Where it takes place.
    pub venue_id: Uuid,
    /// When it starts.
    pub starts_at: OffsetDateTime,
    /// When doors open.
    pub doors_at: Option<OffsetDateTime>,
    /// The FlashSale that sells it.
    pub sale_id: Option<String>,
    /// When the sale opens.
    pub sale_starts_at: Option<OffsetDateTime>,
    /// When the sale closes.
    pub sale_ends_at: Option<OffsetDateTime>,
    /// How long an unpaid hold lives.
    pub hold_ttl_seconds: i32,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A zone as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ZoneRow {
    /// Its show.
    pub show_id: Uuid,
    /// Zone id (the sale's zone id).
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// Seats.
    pub capacity: i32,
    /// Price per seat in minor units.
    pub price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Most seats per buyer.
    pub per_user_cap: i32,
    /// Display order.
    pub sort_order: i32,
}

const VENUE_COLUMNS: &str =
    "venue_id, owner_id, name, address, city, timezone, created_at, updated_at";
const EVENT_COLUMNS: &str = "event_id, owner_id, slug, title, description, category, image_urls, status, published_at, created_at, updated_at";
const SHOW_COLUMNS: &str = "show_id, event_id, venue_id, starts_at, doors_at, sale_id, sale_starts_at, sale_ends_at, hold_ttl_seconds, created_at, updated_at";
const ZONE_COLUMNS: &str =
    "show_id, zone_id, name, capacity, price_minor, currency, per_user_cap, sort_order";

/// Maps the named constraints of a show write to domain errors.
fn show_error(err: sqlx::Error) -> TicketError {
    match violated(&err) {
        Some("shows_sale_unique") => TicketError::SaleTaken,
        Some("shows_venue_exists") => TicketError::field("venueId", "no such venue"),
        Some("shows_doors_before_start") => {
            TicketError::field("doorsAt", "must not be after startsAt")
        }
        Some("shows_sale_window_ordered") => {
            TicketError::field("saleEndsAt", "must be after saleStartsAt")
        }
        _ => err.into(),
    }
}

/// Maps the named constraints of an event write to domain errors.
fn event_error(err: sqlx::Error) -> TicketError {
    match violated(&err) {
        Some("events_owner_slug_unique" | "events_published_slug_unique") => TicketError::SlugTaken,
        _ => err.into(),
    }
}

// ---- venues ----

/// Inserts a venue.
pub async fn insert_venue(pool: &PgPool, venue: &VenueRow) -> Result<VenueRow, TicketError> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO venues (venue_id, owner_id, name, address, city, timezone) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING {VENUE_COLUMNS}"
    ))
    .bind(venue.venue_id)
    .bind(venue.owner_id)
    .bind(&venue.name)
    .bind(&venue.address)
    .bind(&venue.city)
    .bind(&venue.timezone)
    .fetch_one(pool)
    .await?)
}

/// A venue by id.
pub async fn venue(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<VenueRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VENUE_COLUMNS} FROM venues WHERE venue_id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Whether a show of a published event takes place at the venue (which makes it public).
pub async fn venue_is_public(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM shows s JOIN events e ON e.event_id = s.event_id
                        WHERE s.venue_id = $1 AND e.status = 'published')",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Replaces a venue's fields.
pub async fn update_venue(pool: &PgPool, venue: &VenueRow) -> Result<VenueRow, TicketError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE venues SET name = $2, address = $3, city = $4, timezone = $5, updated_at = now()
         WHERE venue_id = $1 RETURNING {VENUE_COLUMNS}"
    ))
    .bind(venue.venue_id)
    .bind(&venue.name)
    .bind(&venue.address)
    .bind(&venue.city)
    .bind(&venue.timezone)
    .fetch_one(pool)
    .await?)
}

/// Deletes a venue no show uses.
pub async fn delete_venue(pool: &PgPool, id: Uuid) -> Result<(), TicketError> {
    sqlx::query("DELETE FROM venues WHERE venue_id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(|err| match violated(&err) {
            Some("shows_venue_exists") => TicketError::VenueInUse,
            _ => err.into(),
        })?;
    Ok(())
}

/// One page of venues: public ones (hosting a published event), or those of `owner` (all when
/// `owner` is `None` and `public_only` is false), optionally in a city, ordered by name then id.
pub async fn list_venues(
    pool: &PgPool,
    public_only: bool,
    owner: Option<Uuid>,
    city: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<VenueRow>, sqlx::Error> {
    let mut q =
        QueryBuilder::<Postgres>::new(format!("SELECT {VENUE_COLUMNS} FROM venues v WHERE TRUE"));
    if public_only {
        q.push(
            " AND EXISTS (SELECT 1 FROM shows s JOIN events e ON e.event_id = s.event_id
                          WHERE s.venue_id = v.venue_id AND e.status = 'published')",
        );
    }
    if let Some(owner) = owner {
        q.push(" AND owner_id = ").push_bind(owner);
    }
    if let Some(city) = city {
        q.push(" AND lower(city) = lower(")
            .push_bind(city)
            .push(")");
    }
    if let Some((name, id)) = after {
        q.push(" AND (lower(name), venue_id) > (lower(")
            .push_bind(name)
            .push("), ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY lower(name), venue_id LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// Venues by id.
pub async fn venues_by_id(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<VenueRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VENUE_COLUMNS} FROM venues WHERE venue_id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
}

// ---- events ----

/// Inserts a draft event.
pub async fn insert_event(pool: &PgPool, event: &EventRow) -> Result<EventRow, TicketError> {
    sqlx::query_as(&format!(
        "INSERT INTO events (event_id, owner_id, slug, title, description, category, image_urls)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {EVENT_COLUMNS}"
    ))
    .bind(event.event_id)
    .bind(event.owner_id)
    .bind(&event.slug)
    .bind(&event.title)
    .bind(&event.description)
    .bind(&event.category)
    .bind(&event.image_urls)
    .fetch_one(pool)
    .await
    .map_err(event_error)
}

/// An event by id.
pub async fn event(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// An event by id, locked until the transaction ends (serialises its writes).
pub async fn lock_event(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// The published event with this slug, or else `owner`'s event with it (with `any_owner`, the
/// newest of anyone's).
pub async fn event_by_slug(
    pool: &PgPool,
    slug: &str,
    owner: Option<Uuid>,
    any_owner: bool,
) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE slug = $1 AND (status = 'published' OR owner_id = $2 OR $3)
         ORDER BY (status = 'published') DESC, (owner_id = $2) DESC, created_at DESC LIMIT 1"
    ))
    .bind(slug)
    .bind(owner)
    .bind(any_owner)
    .fetch_optional(pool)
    .await
}

/// Replaces an event's descriptive fields.
pub async fn update_event(
    tx: &mut Transaction<'_, Postgres>,
    event: &EventRow,
) -> Result<EventRow, TicketError> {
    sqlx::query_as(&format!(
        "UPDATE events SET slug = $2, title = $3, description = $4, category = $5, image_urls = $6,
                           updated_at = now()
         WHERE event_id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(event.event_id)
    .bind(&event.slug)
    .bind(&event.title)
    .bind(&event.description)
    .bind(&event.category)
    .bind(&event.image_urls)
    .fetch_one(&mut **tx)
    .await
    .map_err(event_error)
}

/// Sets an event's status (stamping `published_at` when it is published).
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
) -> Result<EventRow, TicketError> {
    sqlx::query_as(&format!(
        "UPDATE events SET status = $2, updated_at = now(),
                published_at = CASE WHEN $2 = 'published' THEN now() ELSE published_at END
         WHERE event_id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .fetch_one(&mut **tx)
    .await
    .map_err(event_error)
}

/// Deletes an event with its shows and zones.
pub async fn delete_event(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM events WHERE event_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One page of `owner`'s events (every event when `None`), newest first, optionally by status.
pub async fn list_own_events(
    pool: &PgPool,
    owner: Option<Uuid>,
    status: Option<&str>,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let mut q =
        QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE"));
    if let Some(owner) = owner {
        q.push(" AND owner_id = ").push_bind(owner);
    }
    if let Some(status) = status {
        q.push(" AND status = ").push_bind(status.to_owned());
    }
    if let Some((created, id)) = after {
        q.push(" AND (created_at, event_id) < (")
            .push_bind(created)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, event_id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

// ---- shows and zones ----

/// Inserts a show.
pub async fn insert_show(
    tx: &mut Transaction<'_, Postgres>,
    show: &ShowRow,
) -> Result<ShowRow, TicketError> {
    sqlx::query_as(&format!(
        "INSERT INTO shows (show_id, event_id, venue_id, starts_at, doors_at, sale_id, sale_starts_at,
                            sale_ends_at, hold_ttl_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {SHOW_COLUMNS}"
    ))
    .bind(show.show_id)
    .bind(show.event_id)
    .bind(show.venue_id)
    .bind(show.starts_at)
    .bind(show.doors_at)
    .bind(&show.sale_id)
    .bind(show.sale_starts_at)
    .bind(show.sale_ends_at)
    .bind(show.hold_ttl_seconds)
    .fetch_one(&mut **tx)
    .await
    .map_err(show_error)
}

/// Replaces a show's fields.
pub async fn update_show(
    tx: &mut Transaction<'_, Postgres>,
    show: &ShowRow,
) -> Result<ShowRow, TicketError> {
    sqlx::query_as(&format!(
        "UPDATE shows SET venue_id = $2, starts_at = $3, doors_at = $4, sale_id = $5,
                          sale_starts_at = $6, sale_ends_at = $7, hold_ttl_seconds = $8, updated_at = now()
         WHERE show_id = $1 RETURNING {SHOW_COLUMNS}"
    ))
    .bind(show.show_id)
    .bind(show.venue_id)
    .bind(show.starts_at)
    .bind(show.doors_at)
    .bind(&show.sale_id)
    .bind(show.sale_starts_at)
    .bind(show.sale_ends_at)
    .bind(show.hold_ttl_seconds)
    .fetch_one(&mut **tx)
    .await
    .map_err(show_error)
}

/// A show by id.
pub async fn show(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ShowRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOW_COLUMNS} FROM shows WHERE show_id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The show a sale sells.
pub async fn show_by_sale(pool: &PgPool, sale: &str) -> Result<Option<ShowRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOW_COLUMNS} FROM shows WHERE sale_id = $1"
    ))
    .bind(sale)
    .fetch_optional(pool)
    .await
}

/// An event's shows, earliest first.
pub async fn shows_of(db: impl PgExecutor<'_>, event: Uuid) -> Result<Vec<ShowRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOW_COLUMNS} FROM shows WHERE event_id = $1 ORDER BY starts_at, show_id"
    ))
    .bind(event)
    .fetch_all(db)
    .await
}

/// Deletes a show and its zones.
pub async fn delete_show(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM shows WHERE show_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The zones of these shows, in display order.
pub async fn zones_of(
    db: impl PgExecutor<'_>,
    shows: &[Uuid],
) -> Result<Vec<ZoneRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ZONE_COLUMNS} FROM zones WHERE show_id = ANY($1) ORDER BY sort_order, zone_id"
    ))
    .bind(shows)
    .fetch_all(db)
    .await
}

/// Creates or replaces a zone; `true` when it was created.
pub async fn upsert_zone(
    tx: &mut Transaction<'_, Postgres>,
    zone: &ZoneRow,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO zones (show_id, zone_id, name, capacity, price_minor, currency, per_user_cap, sort_order)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (show_id, zone_id) DO UPDATE SET
             name = EXCLUDED.name, capacity = EXCLUDED.capacity, price_minor = EXCLUDED.price_minor,
             currency = EXCLUDED.currency, per_user_cap = EXCLUDED.per_user_cap,
             sort_order = EXCLUDED.sort_order, updated_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(zone.show_id)
    .bind(&zone.zone_id)
    .bind(&zone.name)
    .bind(zone.capacity)
    .bind(zone.price_minor)
    .bind(&zone.currency)
    .bind(zone.per_user_cap)
    .bind(zone.sort_order)
    .fetch_one(&mut **tx)
    .await
}

/// Deletes a zone; `false` when there was none.
pub async fn delete_zone(
    tx: &mut Transaction<'_, Postgres>,
    show: Uuid,
    zone: &str,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM zones WHERE show_id = $1 AND zone_id = $2")
            .bind(show)
            .bind(zone)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}
