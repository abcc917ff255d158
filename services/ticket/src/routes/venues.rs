//! Venues: organizers manage their own; a venue is public once a published event plays there.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use shared::{auth::AuthUser, extract::ValidJson, extract::ValidQuery, problem::ProblemSchema};
use uuid::Uuid;

use crate::{
    access,
    domain::{Checks, MAX_ADDRESS, MAX_CITY, MAX_TITLE},
    error::TicketError,
    http::{Audience, conditional_json, to_json},
    routes::{NameCursor, parse_id},
    search::parse_limit,
    state::AppState,
    store::{self, VenueRow},
    views::{VenuePage, VenueView},
};

/// A new venue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VenueBody {
    /// Name, up to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Street address, up to 500 characters.
    #[serde(default)]
    pub address: Option<String>,
    /// City, up to 100 characters.
    #[serde(default)]
    pub city: Option<String>,
    /// IANA time zone, such as Europe/Berlin.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Query of the venue listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VenueParams {
    /// Only venues in this city (case-insensitive).
    pub city: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/venues", get(list).post(create))
        .route(
            "/api/v1/venues/{id}",
            get(read).patch(update).delete(delete),
        )
}

/// Checks a venue body; with `current`, absent fields keep their values (a PATCH).
fn check(body: VenueBody, current: Option<&VenueRow>) -> Result<VenueFields, TicketError> {
    let mut checks = Checks::default();
    let mut field =
        |name: &str, value: Option<String>, old: Option<&String>, max: usize| match (value, old) {
            (Some(v), _) => checks.line(name, &v, max),
            (None, Some(old)) => Some(old.clone()),
            (None, None) => {
                checks.fail(name, "is required");
                None
            }
        };
    let name = field("name", body.name, current.map(|c| &c.name), MAX_TITLE);
    let address = field(
        "address",
        body.address,
        current.map(|c| &c.address),
        MAX_ADDRESS,
    );
    let city = field("city", body.city, current.map(|c| &c.city), MAX_CITY);
    let timezone = match (body.timezone, current) {
        (Some(tz), _) => checks.timezone("timezone", &tz),
        (None, Some(c)) => Some(c.timezone.clone()),
        (None, None) => {
            checks.fail("timezone", "is required");
            None
        }
    };
    match (name, address, city, timezone) {
        (Some(name), Some(address), Some(city), Some(timezone)) if checks.is_clean() => {
            Ok(VenueFields {
                name,
                address,
                city,
                timezone,
            })
        }
        _ => Err(checks.into_error()),
    }
}

struct VenueFields {
    name: String,
    address: String,
    city: String,
    timezone: String,
}

/// Creates a venue owned by the caller (organizers and admins).
#[utoipa::path(
    post, path = "/api/v1/venues", tag = "venues", request_body = VenueBody,
    responses(
        (status = 201, body = VenueView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<VenueBody>,
) -> Result<Response, TicketError> {
    access::require_organizer(&user)?;
    let fields = check(body, None)?;
    let now = time::OffsetDateTime::now_utc();
    let row = store::insert_venue(
        &state.db,
        &VenueRow {
            venue_id: Uuid::now_v7(),
            owner_id: user.id,
            name: fields.name,
            address: fields.address,
            city: fields.city,
            timezone: fields.timezone,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    state.cache.invalidate().await;
    let location = format!("/api/v1/venues/{}", row.venue_id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(VenueView::from(row)),
    )
        .into_response())
}

/// Loads a venue the caller may read: public ones, or their own (admins: any).
async fn readable(
    state: &AppState,
    user: Option<&AuthUser>,
    id: &str,
) -> Result<(VenueRow, bool), TicketError> {
    let id = parse_id(id).ok_or(TicketError::VenueNotFound)?;
    let venue = store::venue(&state.db, id)
        .await?
        .ok_or(TicketError::VenueNotFound)?;
    let public = store::venue_is_public(&state.db, id).await?;
    if public || access::manages(user, venue.owner_id) {
        Ok((venue, public))
    } else {
        Err(TicketError::VenueNotFound)
    }
}

/// A venue: public once a published event plays there; always to its organizer and admins.
#[utoipa::path(
    get, path = "/api/v1/venues/{id}", tag = "venues",
    params(("id" = Uuid, Path, description = "Venue id")),
    responses(
        (status = 200, body = VenueView, headers(("ETag" = String, description = "Validator for If-None-Match"))),
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
    let key = format!("venue:{id}");
    let cached = state
        .cache
        .read_through(&key, || async {
            match readable(&state, None, &id).await {
                Ok((venue, _)) => Ok(Some(to_json(&VenueView::from(venue))?)),
                Err(TicketError::VenueNotFound) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await?;
    if let Some(body) = cached {
        return Ok(conditional_json(&headers, body, Audience::Public));
    }
    let (venue, _) = readable(&state, user.as_ref(), &id).await?;
    Ok(conditional_json(
        &headers,
        to_json(&VenueView::from(venue))?,
        Audience::Private,
    ))
}

/// Public venues (where published events play), by name, optionally in one city.
#[utoipa::path(
    get, path = "/api/v1/venues", tag = "venues", params(VenueParams),
    responses(
        (status = 200, body = VenuePage),
        (status = 304, description = "Not modified"),
        (status = 400, body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<VenueParams>,
    headers: HeaderMap,
) -> Result<Response, TicketError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let city = params
        .city
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let after = params
        .cursor
        .as_deref()
        .map(NameCursor::decode)
        .transpose()?;
    let key = format!(
        "venues:{}",
        crate::http::digest(format!("{city:?}|{limit}|{:?}", params.cursor).as_bytes())
    );
    let body = state
        .cache
        .read_through(&key, || async {
            let page = venue_page(&state, true, None, city.as_deref(), after, limit).await?;
            Ok(Some(to_json(&page)?))
        })
        .await?
        .unwrap_or_default();
    Ok(conditional_json(&headers, body, Audience::Public))
}

/// One page of venues with its next cursor.
pub async fn venue_page(
    state: &AppState,
    public_only: bool,
    owner: Option<Uuid>,
    city: Option<&str>,
    after: Option<NameCursor>,
    limit: i64,
) -> Result<VenuePage, TicketError> {
    let mut rows = store::list_venues(
        &state.db,
        public_only,
        owner,
        city,
        after.as_ref().map(|c| (c.name.as_str(), c.id)),
        limit + 1,
    )
    .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|v| {
            NameCursor {
                name: v.name.clone(),
                id: v.venue_id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(VenuePage {
        items: rows.into_iter().map(VenueView::from).collect(),
        next_cursor,
    })
}

/// Changes a venue (its organizer or an admin); absent fields keep their values.
#[utoipa::path(
    patch, path = "/api/v1/venues/{id}", tag = "venues", request_body = VenueBody,
    params(("id" = Uuid, Path, description = "Venue id")),
    responses(
        (status = 200, body = VenueView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<VenueBody>,
) -> Result<Json<VenueView>, TicketError> {
    let (venue, public) = readable(&state, Some(&user), &id).await?;
    access::authorize_write(&user, venue.owner_id, public, TicketError::VenueNotFound)?;
    let fields = check(body, Some(&venue))?;
    let row = store::update_venue(
        &state.db,
        &VenueRow {
            name: fields.name,
            address: fields.address,
            city: fields.city,
            timezone: fields.timezone,
            ..venue
        },
    )
    .await?;
    state.cache.invalidate().await;
    Ok(Json(row.into()))
}

/// Deletes a venue no show takes place at (its organizer or an admin).
#[utoipa::path(
    delete, path = "/api/v1/venues/{id}", tag = "venues",
    params(("id" = Uuid, Path, description = "Venue id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Shows take place there", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, TicketError> {
    let (venue, public) = readable(&state, Some(&user), &id).await?;
    access::authorize_write(&user, venue.owner_id, public, TicketError::VenueNotFound)?;
    store::delete_venue(&state.db, venue.venue_id).await?;
    state.cache.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}
