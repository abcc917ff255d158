//! The organizer's workspace (their own venues and events in any status) and the sale terms
//! provisioning checks a FlashSale against.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use shared::{auth::AuthUser, extract::ValidQuery, ids::SaleId, problem::ProblemSchema};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    access,
    error::TicketError,
    http::{Audience, conditional_json, to_json},
    routes::{NameCursor, venues::venue_page},
    search::parse_limit,
    state::AppState,
    store,
    views::{EventPage, EventSummary, VenuePage},
};

/// Query of the organizer's event listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnEventParams {
    /// Only events in this status: draft, published or cancelled.
    pub status: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of the organizer's venue listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnVenueParams {
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One zone of a sale's terms, named as in a FlashSale spec.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneTerms {
    /// Zone id.
    pub id: String,
    /// Seats.
    pub seats: i32,
    /// Price per seat in minor units.
    pub price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Most seats per buyer.
    pub per_user_cap: i32,
}

/// What the catalog says a sale sells: the terms of the show it names.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaleTerms {
    /// Sale id.
    pub sale_id: String,
    /// The show the sale sells.
    pub show_id: Uuid,
    /// When the sale opens (absent while the show has no window).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    /// When the sale closes (absent while the show has no window).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Hold lifetime in seconds.
    pub hold_ttl_seconds: i32,
    /// The show's zones.
    pub zones: Vec<ZoneTerms>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/catalog/events", get(own_events))
        .route("/api/v1/catalog/venues", get(own_venues))
        .route("/api/v1/catalog/sales/{sale}", get(sale_terms))
}

#[derive(Debug, Serialize, Deserialize)]
struct CreatedCursor {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    id: Uuid,
}

/// The caller's events in any status, newest first (admins: every organizer's).
#[utoipa::path(
    get, path = "/api/v1/catalog/events", tag = "catalog", params(OwnEventParams),
    responses(
        (status = 200, body = EventPage),
        (status = 400, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn own_events(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(params): ValidQuery<OwnEventParams>,
    headers: HeaderMap,
) -> Result<Response, TicketError> {
    let owner = access::own_scope(&user)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let status = match params.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("draft" | "published" | "cancelled")) => Some(s),
        Some(_) => {
            return Err(TicketError::InvalidQuery(
                "status",
                "must be draft, published or cancelled".into(),
            ));
        }
    };
    let after = params
        .cursor
        .as_deref()
        .map(|raw| {
            URL_SAFE_NO_PAD
                .decode(raw.trim())
                .ok()
                .and_then(|b| serde_json::from_slice::<CreatedCursor>(&b).ok())
                .ok_or_else(|| {
                    TicketError::InvalidQuery("cursor", "is not a cursor of this listing".into())
                })
        })
        .transpose()?;
    let mut rows = store::list_own_events(
        &state.db,
        owner,
        status,
        after.map(|c| (c.at, c.id)),
        limit + 1,
    )
    .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| {
            URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&CreatedCursor {
                    at: e.created_at,
                    id: e.event_id,
                })
                .unwrap_or_default(),
            )
        })
    } else {
        None
    };
    let page = EventPage {
        items: rows
            .into_iter()
            .map(|e| EventSummary::of(e, None))
            .collect(),
        next_cursor,
    };
    Ok(conditional_json(
        &headers,
        to_json(&page)?,
        Audience::Private,
    ))
}

/// The caller's venues by name (admins: every venue).
#[utoipa::path(
    get, path = "/api/v1/catalog/venues", tag = "catalog", params(OwnVenueParams),
    responses(
        (status = 200, body = VenuePage),
        (status = 400, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn own_venues(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(params): ValidQuery<OwnVenueParams>,
    headers: HeaderMap,
) -> Result<Response, TicketError> {
    let owner = access::own_scope(&user)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let after = params
        .cursor
        .as_deref()
        .map(NameCursor::decode)
        .transpose()?;
    let page = venue_page(&state, false, owner, None, after, limit).await?;
    Ok(conditional_json(
        &headers,
        to_json(&page)?,
        Audience::Private,
    ))
}

/// The terms of the show a sale sells — public once its event is published, else for its
/// organizer and admins. Provisioning compares a FlashSale against these.
#[utoipa::path(
    get, path = "/api/v1/catalog/sales/{sale}", tag = "catalog",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 200, body = SaleTerms),
        (status = 404, description = "No (visible) show is sold by this sale", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn sale_terms(
    State(state): State<AppState>,
    user: Option<AuthUser>,
    Path(sale): Path<String>,
) -> Result<Json<SaleTerms>, TicketError> {
    let sale = SaleId::parse(&sale).map_err(|_| TicketError::SaleNotFound)?;
    let show = store::show_by_sale(&state.db, sale.as_str())
        .await?
        .ok_or(TicketError::SaleNotFound)?;
    let event = store::event(&state.db, show.event_id)
        .await?
        .ok_or(TicketError::SaleNotFound)?;
    if !event.is_published() && !access::manages(user.as_ref(), event.owner_id) {
        return Err(TicketError::SaleNotFound);
    }
    let zones = store::zones_of(&state.db, &[show.show_id]).await?;
    Ok(Json(SaleTerms {
        sale_id: sale.to_string(),
        show_id: show.show_id,
        starts_at: show.sale_starts_at,
        ends_at: show.sale_ends_at,
        hold_ttl_seconds: show.hold_ttl_seconds,
        zones: zones
            .into_iter()
            .map(|z| ZoneTerms {
                id: z.zone_id,
                seats: z.capacity,
                price_minor: z.price_minor,
                currency: z.currency,
                per_user_cap: z.per_user_cap,
            })
            .collect(),
    }))
}
