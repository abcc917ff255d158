//! What clients see: venues, events, shows and zones, and how they are assembled from rows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shared::ids::SaleId;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    availability::BookingClient,
    store::{self, EventRow, ShowRow, VenueRow, ZoneRow},
};

/// A venue.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueView {
    /// Venue id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// IANA time zone of local times at the venue.
    pub timezone: String,
}

impl From<VenueRow> for VenueView {
    fn from(row: VenueRow) -> Self {
        Self {
            id: row.venue_id,
            name: row.name,
            address: row.address,
            city: row.city,
            timezone: row.timezone,
        }
    }
}

/// Live seats of a zone, or unknown when the booking service could not tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Availability {
    /// Counts from the booking service, a few seconds old at most.
    Live {
        /// Seats free to reserve.
        available: i64,
        /// Seats on hold.
        held: i64,
        /// Seats sold.
        sold: i64,
    },
    /// The booking service did not answer or does not sell this zone (yet).
    Unknown,
}

/// A zone of a show: the same zone the show's FlashSale sells.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneView {
    /// Zone id (the sale's zone id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seats.
    pub capacity: i32,
    /// Price per seat in minor units (cents).
    pub price_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Most seats one buyer may hold or own.
    pub per_user_cap: i32,
    /// Display order (ascending).
    pub sort_order: i32,
    /// Live availability (in public reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
}

impl From<ZoneRow> for ZoneView {
    fn from(row: ZoneRow) -> Self {
        Self {
            id: row.zone_id,
            name: row.name,
            capacity: row.capacity,
            price_minor: row.price_minor,
            currency: row.currency,
            per_user_cap: row.per_user_cap,
            sort_order: row.sort_order,
            availability: None,
        }
    }
}

/// A show with its venue and zones.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShowView {
    /// Show id.
    pub id: Uuid,
    /// Its event.
    pub event_id: Uuid,
    /// When it starts.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When doors open.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub doors_at: Option<OffsetDateTime>,
    /// Where.
    pub venue: VenueView,
    /// The FlashSale that sells it.
    pub sale_id: Option<String>,
    /// When the sale opens.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sale_starts_at: Option<OffsetDateTime>,
    /// When the sale closes.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sale_ends_at: Option<OffsetDateTime>,
    /// How long an unpaid hold lives, in seconds.
    pub hold_ttl_seconds: i32,
    /// Zones in display order.
    pub zones: Vec<ZoneView>,
}

/// An event with its shows.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Event id.
    pub id: Uuid,
    /// URL slug.
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
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Shows, earliest first.
    pub shows: Vec<ShowView>,
}

/// An event in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    /// Event id.
    pub id: Uuid,
    /// URL slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Image URLs.
    pub image_urls: Vec<String>,
    /// draft, published or cancelled.
    pub status: String,
    /// Start of its first show matching the filters (public listing only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub first_show_at: Option<OffsetDateTime>,
    /// When it was published.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
}

impl EventSummary {
    /// The summary of a row.
    pub fn of(row: EventRow, first_show_at: Option<OffsetDateTime>) -> Self {
        Self {
            id: row.event_id,
            slug: row.slug,
            title: row.title,
            category: row.category,
            image_urls: row.image_urls,
            status: row.status,
            first_show_at,
            published_at: row.published_at,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// The events.
    pub items: Vec<EventSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of venues.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenuePage {
    /// The venues.
    pub items: Vec<VenueView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Shows of these rows with their venues and zones.
pub async fn shows(pool: &PgPool, rows: Vec<ShowRow>) -> Result<Vec<ShowView>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|s| s.show_id).collect();
    let venue_ids: Vec<Uuid> = rows.iter().map(|s| s.venue_id).collect();
    let venues: HashMap<Uuid, VenueRow> = store::venues_by_id(pool, &venue_ids)
        .await?
        .into_iter()
        .map(|v| (v.venue_id, v))
        .collect();
    let mut zones: HashMap<Uuid, Vec<ZoneView>> = HashMap::new();
    for zone in store::zones_of(pool, &ids).await? {
        zones.entry(zone.show_id).or_default().push(zone.into());
    }
    Ok(rows
        .into_iter()
        .filter_map(|show| {
            let venue = venues.get(&show.venue_id)?.clone().into();
            Some(ShowView {
                id: show.show_id,
                event_id: show.event_id,
                starts_at: show.starts_at,
                doors_at: show.doors_at,
                venue,
                sale_id: show.sale_id,
                sale_starts_at: show.sale_starts_at,
                sale_ends_at: show.sale_ends_at,
                hold_ttl_seconds: show.hold_ttl_seconds,
                zones: zones.remove(&show.show_id).unwrap_or_default(),
            })
        })
        .collect())
}

/// An event with its shows, venues and zones.
pub async fn event(pool: &PgPool, row: EventRow) -> Result<EventView, sqlx::Error> {
    let shows = shows(pool, store::shows_of(pool, row.event_id).await?).await?;
    Ok(EventView {
        id: row.event_id,
        slug: row.slug,
        title: row.title,
        description: row.description,
        category: row.category,
        image_urls: row.image_urls,
        status: row.status,
        published_at: row.published_at,
        updated_at: row.updated_at,
        shows,
    })
}

/// Fills in every zone's live availability, asking each show's booking service once.
pub async fn with_availability(booking: &BookingClient, shows: &mut [ShowView]) {
    let sales: Vec<Option<SaleId>> = shows
        .iter()
        .map(|s| s.sale_id.as_deref().and_then(|id| SaleId::parse(id).ok()))
        .collect();
    let counts = futures::future::join_all(sales.iter().map(|sale| async move {
        match sale {
            Some(sale) => booking.counts(sale).await,
            None => None,
        }
    }))
    .await;
    for (show, counts) in shows.iter_mut().zip(counts) {
        for zone in &mut show.zones {
            zone.availability = Some(match counts.as_ref().and_then(|c| c.get(&zone.id)) {
                Some(c) => Availability::Live {
                    available: c.available,
                    held: c.held,
                    sold: c.sold,
                },
                None => Availability::Unknown,
            });
        }
    }
}
