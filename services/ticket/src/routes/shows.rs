//! Shows of an event and their zones; a show's FlashSale manifest.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::Deserialize;
use shared::{auth::AuthUser, extract::ValidJson, problem::ProblemSchema};
use sqlx::{Postgres, Transaction};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    access,
    domain::{Checks, MAX_CAPACITY, MAX_HOLD_TTL, MAX_PER_USER_CAP, MAX_TITLE, nullable},
    error::TicketError,
    flashsale::Terms,
    http::{Audience, conditional_json, to_json},
    routes::{
        events::{ensure_complete, lock_for_write},
        parse_id,
    },
    state::AppState,
    store::{self, EventRow, ShowRow, ZoneRow},
    views::{self, ShowView, ZoneView},
};

/// A new show, or (in a PATCH) the fields to change; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShowBody {
    /// Venue id (a venue of the event's organizer).
    #[serde(default)]
    pub venue_id: Option<String>,
    /// Start (RFC 3339).
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Doors open (RFC 3339), not after the start.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub doors_at: Option<Option<String>>,
    /// The FlashSale that sells the show (a DNS label, unique across shows).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sale_id: Option<Option<String>>,
    /// When the sale opens (RFC 3339).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sale_starts_at: Option<Option<String>>,
    /// When the sale closes (RFC 3339), after it opens.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sale_ends_at: Option<Option<String>>,
    /// How long an unpaid hold lives, 1-3600 seconds (default 600).
    #[serde(default)]
    pub hold_ttl_seconds: Option<i64>,
}

/// A zone of a show (created or replaced whole).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneBody {
    /// Display name, up to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Seats, 1-1000000.
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Price per seat in minor units, 0-1000000000.
    #[serde(default)]
    pub price_minor: Option<i64>,
    /// ISO 4217 currency code.
    #[serde(default)]
    pub currency: Option<String>,
    /// Most seats one buyer may hold or own, 1-100.
    #[serde(default)]
    pub per_user_cap: Option<i64>,
    /// Display order, ascending (default 0).
    #[serde(default)]
    pub sort_order: Option<i64>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/{id}/shows", post(create))
        .route("/api/v1/shows/{id}", get(read).patch(update).delete(delete))
        .route(
            "/api/v1/shows/{id}/zones/{zone}",
            put(put_zone).delete(delete_zone),
        )
        .route("/api/v1/shows/{id}/flashsale", get(flashsale))
}

fn time_field(checks: &mut Checks, field: &str, raw: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339)
        .map_err(|_| {
            checks.fail(
                field,
                "must be an RFC 3339 time such as 2026-05-01T19:30:00+02:00",
            )
        })
        .ok()
}

/// Checks a show body against the current show (or a fresh one) and the event it belongs to.
async fn check(
    state: &AppState,
    user: &AuthUser,
    event: &EventRow,
    body: ShowBody,
    current: Option<ShowRow>,
) -> Result<ShowRow, TicketError> {
    let mut checks = Checks::default();
    let now = OffsetDateTime::now_utc();
    let mut show = current.unwrap_or(ShowRow {
        show_id: Uuid::now_v7(),
        event_id: event.event_id,
        venue_id: Uuid::nil(),
        starts_at: now,
        doors_at: None,
        sale_id: None,
        sale_starts_at: None,
        sale_ends_at: None,
        hold_ttl_seconds: 600,
        created_at: now,
        updated_at: now,
    });
    let creating = show.venue_id.is_nil();
    match (&body.venue_id, creating) {
        (Some(raw), _) => match parse_id(raw) {
            Some(id) => match store::venue(&state.db, id).await? {
                Some(v) if v.owner_id == event.owner_id || access::is_admin(user) => {
                    show.venue_id = id;
                }
                _ => checks.fail("venueId", "no such venue of the event's organizer"),
            },
            None => checks.fail("venueId", "must be a venue id (a UUID)"),
        },
        (None, true) => checks.fail("venueId", "is required"),
        (None, false) => {}
    }
    match (&body.starts_at, creating) {
        (Some(raw), _) => {
            if let Some(t) = time_field(&mut checks, "startsAt", raw) {
                show.starts_at = t;
            }
        }
        (None, true) => checks.fail("startsAt", "is required"),
        (None, false) => {}
    }
    let mut optional_time = |field: &str,
                             value: &Option<Option<String>>,
                             slot: &mut Option<OffsetDateTime>| {
        match value {
            Some(Some(raw)) => {
                if let Some(t) = time_field(&mut checks, field, raw) {
                    *slot = Some(t);
                }
            }
            Some(None) => *slot = None,
            None => {}
        }
    };
    optional_time("doorsAt", &body.doors_at, &mut show.doors_at);
    optional_time(
        "saleStartsAt",
        &body.sale_starts_at,
        &mut show.sale_starts_at,
    );
    optional_time("saleEndsAt", &body.sale_ends_at, &mut show.sale_ends_at);
    match &body.sale_id {
        Some(Some(raw)) => {
            if let Some(id) = checks.sale_id("saleId", raw) {
                show.sale_id = Some(id.to_string());
            }
        }
        Some(None) => show.sale_id = None,
        None => {}
    }
    if let Some(ttl) = body.hold_ttl_seconds
        && let Some(ttl) = checks.within("holdTtlSeconds", ttl, 1..=MAX_HOLD_TTL)
    {
        show.hold_ttl_seconds = ttl as i32;
    }
    if let Some(doors) = show.doors_at
        && doors > show.starts_at
    {
        checks.fail("doorsAt", "must not be after startsAt");
    }
    if let (Some(open), Some(close)) = (show.sale_starts_at, show.sale_ends_at)
        && close <= open
    {
        checks.fail("saleEndsAt", "must be after saleStartsAt");
    }
    checks.finish()?;
    Ok(show)
}

/// Adds a show to an event (its organizer or an admin).
#[utoipa::path(
    post, path = "/api/v1/events/{id}/shows", tag = "shows", request_body = ShowBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 201, body = ShowView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Sale id taken, or event cancelled", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ShowBody>,
) -> Result<Response, TicketError> {
    let id = parse_id(&id).ok_or(TicketError::EventNotFound)?;
    let mut tx = state.db.begin().await?;
    let event = writable_event(&mut tx, &user, id).await?;
    let show = check(&state, &user, &event, body, None).await?;
    let row = store::insert_show(&mut tx, &show).await?;
    ensure_complete(&mut tx, &event).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    let view = one_show(&state, row).await?;
    let location = format!("/api/v1/shows/{}", view.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

async fn writable_event(
    tx: &mut Transaction<'_, Postgres>,
    user: &AuthUser,
    id: Uuid,
) -> Result<EventRow, TicketError> {
    let event = lock_for_write(tx, user, id).await?;
    if event.status == "cancelled" {
        return Err(TicketError::Cancelled);
    }
    Ok(event)
}

/// Loads a show and locks its event for a write by `user`.
async fn writable_show(
    tx: &mut Transaction<'_, Postgres>,
    user: &AuthUser,
    id: &str,
) -> Result<(EventRow, ShowRow), TicketError> {
    let id = parse_id(id).ok_or(TicketError::ShowNotFound)?;
    let show = store::show(&mut **tx, id)
        .await?
        .ok_or(TicketError::ShowNotFound)?;
    let event = writable_event(tx, user, show.event_id)
        .await
        .map_err(|e| match e {
            TicketError::EventNotFound => TicketError::ShowNotFound,
            other => other,
        })?;
    Ok((event, show))
}

async fn one_show(state: &AppState, row: ShowRow) -> Result<ShowView, TicketError> {
    views::shows(&state.db, vec![row])
        .await?
        .pop()
        .ok_or(TicketError::ShowNotFound)
}

/// A show the caller may read, and whether it is public.
async fn readable(
    state: &AppState,
    user: Option<&AuthUser>,
    id: &str,
) -> Result<(EventRow, ShowRow), TicketError> {
    let id = parse_id(id).ok_or(TicketError::ShowNotFound)?;
    let show = store::show(&state.db, id)
        .await?
        .ok_or(TicketError::ShowNotFound)?;
    let event = store::event(&state.db, show.event_id)
        .await?
        .ok_or(TicketError::ShowNotFound)?;
    if event.is_published() || access::manages(user, event.owner_id) {
        Ok((event, show))
    } else {
        Err(TicketError::ShowNotFound)
    }
}

/// A show with its venue, zones and live availability; public once its event is published.
#[utoipa::path(
    get, path = "/api/v1/shows/{id}", tag = "shows",
    params(("id" = Uuid, Path, description = "Show id")),
    responses(
        (status = 200, body = ShowView, headers(("ETag" = String, description = "Validator for If-None-Match"))),
        (status = 304, description = "Not modified"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn read(
    State(state): State<AppState>,
    user: Option<AuthUser>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TicketError> {
    let cached = state
        .cache
        .read_through(&format!("show:{id}"), || async {
            match readable(&state, None, &id).await {
                Ok((_, show)) => Ok(Some(to_json(&one_show(&state, show).await?)?)),
                Err(TicketError::ShowNotFound) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await?;
    let (view, audience) = match cached {
        Some(bytes) => (
            serde_json::from_slice::<ShowView>(&bytes)
                .map_err(|e| TicketError::Internal(e.into()))?,
            Audience::Public,
        ),
        None => {
            let (_, show) = readable(&state, user.as_ref(), &id).await?;
            (one_show(&state, show).await?, Audience::Private)
        }
    };
    let mut shows = [view];
    views::with_availability(&state.booking, &mut shows).await;
    let [view] = shows;
    Ok(conditional_json(&headers, to_json(&view)?, audience))
}

/// Changes a show (its organizer or an admin); absent fields keep their values, `null` clears.
#[utoipa::path(
    patch, path = "/api/v1/shows/{id}", tag = "shows", request_body = ShowBody,
    params(("id" = Uuid, Path, description = "Show id")),
    responses(
        (status = 200, body = ShowView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ShowBody>,
) -> Result<Json<ShowView>, TicketError> {
    let mut tx = state.db.begin().await?;
    let (event, show) = writable_show(&mut tx, &user, &id).await?;
    let changed = check(&state, &user, &event, body, Some(show)).await?;
    let row = store::update_show(&mut tx, &changed).await?;
    ensure_complete(&mut tx, &event).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    Ok(Json(one_show(&state, row).await?))
}

/// Deletes a show and its zones (a published event keeps at least one show).
#[utoipa::path(
    delete, path = "/api/v1/shows/{id}", tag = "shows",
    params(("id" = Uuid, Path, description = "Show id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A published event would be incomplete", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, TicketError> {
    let mut tx = state.db.begin().await?;
    let (event, show) = writable_show(&mut tx, &user, &id).await?;
    store::delete_show(&mut tx, show.show_id).await?;
    ensure_complete(&mut tx, &event).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

fn check_zone(show: Uuid, zone: &str, body: ZoneBody) -> Result<ZoneRow, TicketError> {
    let mut checks = Checks::default();
    let zone_id = checks.zone_id("zone", zone);
    let name = match body.name.as_deref() {
        Some(raw) => checks.line("name", raw, MAX_TITLE),
        None => {
            checks.fail("name", "is required");
            None
        }
    };
    let mut number = |field: &str, value: Option<i64>, range| {
        if value.is_none() {
            checks.fail(field, "is required");
        }
        value.and_then(|v| checks.within(field, v, range))
    };
    let capacity = number("capacity", body.capacity, 1..=MAX_CAPACITY);
    let price = number(
        "priceMinor",
        body.price_minor,
        0..=provisioning::MAX_PRICE_MINOR,
    );
    let cap = number("perUserCap", body.per_user_cap, 1..=MAX_PER_USER_CAP);
    let sort = checks.within("sortOrder", body.sort_order.unwrap_or(0), -10_000..=10_000);
    let currency = match &body.currency {
        Some(c) => checks.currency("currency", c),
        None => {
            checks.fail("currency", "is required");
            None
        }
    };
    match (zone_id, name, capacity, price, cap, sort, currency) {
        (
            Some(id),
            Some(name),
            Some(capacity),
            Some(price),
            Some(cap),
            Some(sort),
            Some(currency),
        ) if checks.is_clean() => Ok(ZoneRow {
            show_id: show,
            zone_id: id.to_string(),
            name,
            capacity: capacity as i32,
            price_minor: price,
            currency,
            per_user_cap: cap as i32,
            sort_order: sort as i32,
        }),
        _ => Err(checks.into_error()),
    }
}

/// Creates (201) or replaces (200) a zone of a show; the zone id is the sale's zone id.
#[utoipa::path(
    put, path = "/api/v1/shows/{id}/zones/{zone}", tag = "shows", request_body = ZoneBody,
    params(("id" = Uuid, Path, description = "Show id"), ("zone" = String, Path, description = "Zone id (a-z, 0-9, '-')")),
    responses(
        (status = 200, description = "Replaced", body = ZoneView),
        (status = 201, description = "Created", body = ZoneView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn put_zone(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, zone)): Path<(String, String)>,
    ValidJson(body): ValidJson<ZoneBody>,
) -> Result<Response, TicketError> {
    let mut tx = state.db.begin().await?;
    let (event, show) = writable_show(&mut tx, &user, &id).await?;
    let row = check_zone(show.show_id, &zone, body)?;
    let created = store::upsert_zone(&mut tx, &row).await?;
    ensure_complete(&mut tx, &event).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ZoneView::from(row))).into_response())
}

/// Deletes a zone of a show (a published event's shows keep at least one zone).
#[utoipa::path(
    delete, path = "/api/v1/shows/{id}/zones/{zone}", tag = "shows",
    params(("id" = Uuid, Path, description = "Show id"), ("zone" = String, Path, description = "Zone id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A published event would be incomplete", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_zone(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, zone)): Path<(String, String)>,
) -> Result<StatusCode, TicketError> {
    let mut tx = state.db.begin().await?;
    let (event, show) = writable_show(&mut tx, &user, &id).await?;
    if !store::delete_zone(&mut tx, show.show_id, &zone).await? {
        return Err(TicketError::ZoneNotFound);
    }
    ensure_complete(&mut tx, &event).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The show's FlashSale manifest (YAML), ready for `operator provision -f` or `kubectl apply -f`
/// (its organizer or an admin).
#[utoipa::path(
    get, path = "/api/v1/shows/{id}/flashsale", tag = "shows",
    params(("id" = Uuid, Path, description = "Show id")),
    responses(
        (status = 200, description = "FlashSale manifest", body = String, content_type = "application/yaml"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The show lacks a sale id, window or zones", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn flashsale(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, TicketError> {
    let (event, show) = readable(&state, Some(&user), &id).await?;
    access::authorize_write(
        &user,
        event.owner_id,
        event.is_published(),
        TicketError::ShowNotFound,
    )?;
    let yaml = render(&state, &show).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        )],
        yaml,
    )
        .into_response())
}

/// The FlashSale manifest of a show.
pub async fn render(state: &AppState, show: &ShowRow) -> Result<String, TicketError> {
    let event = store::event(&state.db, show.event_id)
        .await?
        .ok_or(TicketError::ShowNotFound)?;
    let zones = store::zones_of(&state.db, &[show.show_id]).await?;
    Terms::of(show, event.owner_id, zones)?.manifest()
}
