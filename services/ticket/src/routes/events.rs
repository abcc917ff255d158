//! Events: organizers draft, publish and cancel their own; everyone browses what is published.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use shared::{
    auth::AuthUser,
    extract::{ValidJson, ValidQuery},
    problem::{FieldProblem, ProblemSchema},
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    access,
    domain::{Checks, MAX_DESCRIPTION, MAX_TITLE},
    error::TicketError,
    http::{Audience, conditional_json, to_json},
    routes::parse_id,
    search::{Browse, BrowseParams},
    state::AppState,
    store::{self, EventRow},
    views::{self, EventPage, EventSummary, EventView},
};

/// A new event, or (in a PATCH) the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventBody {
    /// URL slug: a-z, 0-9 and '-', up to 80 characters; unique among the organizer's events.
    #[serde(default)]
    pub slug: Option<String>,
    /// Title, up to 200 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// Description, up to 10000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Category slug such as `concert`, up to 40 characters.
    #[serde(default)]
    pub category: Option<String>,
    /// Up to 10 absolute http(s) image URLs.
    #[serde(default)]
    pub image_urls: Option<Vec<String>>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(browse).post(create))
        .route(
            "/api/v1/events/{id}",
            get(read).patch(update).delete(delete),
        )
        .route("/api/v1/events/{id}/publish", post(publish))
        .route("/api/v1/events/{id}/cancel", post(cancel))
}

/// Checks an event body; with `current`, absent fields keep their values (a PATCH).
fn check(body: EventBody, current: Option<&EventRow>) -> Result<EventRow, TicketError> {
    let mut checks = Checks::default();
    let slug = match (&body.slug, current) {
        (Some(slug), _) => checks.slug("slug", slug).map(String::from),
        (None, Some(c)) => Some(c.slug.clone()),
        (None, None) => {
            checks.fail("slug", "is required");
            None
        }
    };
    let title = match (&body.title, current) {
        (Some(title), _) => checks.line("title", title, MAX_TITLE),
        (None, Some(c)) => Some(c.title.clone()),
        (None, None) => {
            checks.fail("title", "is required");
            None
        }
    };
    let description = match (&body.description, current) {
        (Some(d), _) => checks.paragraph("description", d, MAX_DESCRIPTION),
        (None, Some(c)) => Some(c.description.clone()),
        (None, None) => Some(String::new()),
    };
    let category = match (&body.category, current) {
        (Some(c), _) => checks.category("category", c),
        (None, Some(c)) => Some(c.category.clone()),
        (None, None) => {
            checks.fail("category", "is required");
            None
        }
    };
    let image_urls = match (&body.image_urls, current) {
        (Some(urls), _) => checks.image_urls("imageUrls", urls),
        (None, Some(c)) => Some(c.image_urls.clone()),
        (None, None) => Some(Vec::new()),
    };
    match (slug, title, description, category, image_urls) {
        (Some(slug), Some(title), Some(description), Some(category), Some(image_urls))
            if checks.is_clean() =>
        {
            let now = time::OffsetDateTime::now_utc();
            Ok(EventRow {
                event_id: current.map_or_else(Uuid::now_v7, |c| c.event_id),
                owner_id: current.map_or(Uuid::nil(), |c| c.owner_id),
                slug,
                title,
                description,
                category,
                image_urls,
                status: current.map_or_else(|| "draft".to_owned(), |c| c.status.clone()),
                published_at: current.and_then(|c| c.published_at),
                created_at: current.map_or(now, |c| c.created_at),
                updated_at: now,
            })
        }
        _ => Err(checks.into_error()),
    }
}

/// Creates a draft event owned by the caller (organizers and admins).
#[utoipa::path(
    post, path = "/api/v1/events", tag = "events", request_body = EventBody,
    responses(
        (status = 201, body = EventView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<EventBody>,
) -> Result<Response, TicketError> {
    access::require_organizer(&user)?;
    let mut row = check(body, None)?;
    row.owner_id = user.id;
    let row = store::insert_event(&state.db, &row).await?;
    state.cache.invalidate().await;
    let location = format!("/api/v1/events/{}", row.event_id);
    let view = views::event(&state.db, row).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Published events: filters, text search, sort and cursor pagination.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events", params(BrowseParams),
    responses(
        (status = 200, body = EventPage, headers(("ETag" = String, description = "Validator for If-None-Match"))),
        (status = 304, description = "Not modified"),
        (status = 400, body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn browse(
    State(state): State<AppState>,
    ValidQuery(params): ValidQuery<BrowseParams>,
    headers: HeaderMap,
) -> Result<Response, TicketError> {
    let query = Browse::parse(&params)?;
    let body = state
        .cache
        .read_through(&query.cache_key(), || async {
            let (rows, next_cursor) = query.run(&state.db).await?;
            let page = EventPage {
                items: rows
                    .into_iter()
                    .map(|l| EventSummary::of(l.event, Some(l.first_show)))
                    .collect(),
                next_cursor,
            };
            Ok(Some(to_json(&page)?))
        })
        .await?
        .unwrap_or_default();
    Ok(conditional_json(&headers, body, Audience::Public))
}

/// The published event with this id or slug.
async fn find_public(state: &AppState, id_or_slug: &str) -> Result<Option<EventRow>, TicketError> {
    let row = match parse_id(id_or_slug) {
        Some(id) => store::event(&state.db, id).await?,
        None => store::event_by_slug(&state.db, id_or_slug, None, false).await?,
    };
    Ok(row.filter(EventRow::is_published))
}

/// An event the caller manages, by id or (their own) slug.
async fn find_managed(
    state: &AppState,
    user: Option<&AuthUser>,
    id_or_slug: &str,
) -> Result<EventRow, TicketError> {
    let Some(user) = user else {
        return Err(TicketError::EventNotFound);
    };
    let row = match parse_id(id_or_slug) {
        Some(id) => store::event(&state.db, id).await?,
        None => {
            store::event_by_slug(&state.db, id_or_slug, Some(user.id), access::is_admin(user))
                .await?
        }
    };
    row.filter(|e| access::manages(Some(user), e.owner_id))
        .ok_or(TicketError::EventNotFound)
}

/// An event by id or slug with its shows, zones and live availability per zone. Drafts and
/// cancelled events are visible only to their organizer and admins.
#[utoipa::path(
    get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event id or slug")),
    responses(
        (status = 200, body = EventView, headers(("ETag" = String, description = "Validator for If-None-Match"))),
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
        .read_through(&format!("event:{id}"), || async {
            match find_public(&state, &id).await? {
                Some(row) => Ok(Some(to_json(&views::event(&state.db, row).await?)?)),
                None => Ok(None),
            }
        })
        .await?;
    let (mut view, audience) = match cached {
        Some(bytes) => (
            serde_json::from_slice::<EventView>(&bytes)
                .map_err(|e| TicketError::Internal(e.into()))?,
            Audience::Public,
        ),
        None => {
            let row = find_managed(&state, user.as_ref(), &id).await?;
            (views::event(&state.db, row).await?, Audience::Private)
        }
    };
    views::with_availability(&state.booking, &mut view.shows).await;
    Ok(conditional_json(&headers, to_json(&view)?, audience))
}

/// Loads and locks an event for a write by `user`.
pub async fn lock_for_write(
    tx: &mut Transaction<'_, Postgres>,
    user: &AuthUser,
    id: Uuid,
) -> Result<EventRow, TicketError> {
    let event = store::lock_event(tx, id)
        .await?
        .ok_or(TicketError::EventNotFound)?;
    access::authorize_write(
        user,
        event.owner_id,
        event.is_published(),
        TicketError::EventNotFound,
    )?;
    Ok(event)
}

/// What a published event lacks: at least one show, and per show a sale id, a sale window and zones.
pub async fn missing(
    tx: &mut Transaction<'_, Postgres>,
    event: Uuid,
) -> Result<Vec<FieldProblem>, sqlx::Error> {
    let shows = store::shows_of(&mut **tx, event).await?;
    let ids: Vec<Uuid> = shows.iter().map(|s| s.show_id).collect();
    let zones = store::zones_of(&mut **tx, &ids).await?;
    let mut problems = Vec::new();
    let mut fail = |field: String, message: &str| {
        problems.push(FieldProblem {
            field,
            message: message.to_owned(),
        })
    };
    if shows.is_empty() {
        fail("shows".into(), "at least one show is required");
    }
    for show in &shows {
        let at = |f: &str| format!("shows[{}].{f}", show.show_id);
        if show.sale_id.is_none() {
            fail(
                at("saleId"),
                "the FlashSale that sells the show is required",
            );
        }
        if show.sale_starts_at.is_none() {
            fail(at("saleStartsAt"), "the sale window is required");
        }
        if show.sale_ends_at.is_none() {
            fail(at("saleEndsAt"), "the sale window is required");
        }
        if !zones.iter().any(|z| z.show_id == show.show_id) {
            fail(
                at("zones"),
                "at least one zone with capacity and price is required",
            );
        }
    }
    Ok(problems)
}

/// After a change to a published event's shows or zones: refuses one that leaves it incomplete.
pub async fn ensure_complete(
    tx: &mut Transaction<'_, Postgres>,
    event: &EventRow,
) -> Result<(), TicketError> {
    if !event.is_published() {
        return Ok(());
    }
    let problems = missing(tx, event.event_id).await?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TicketError::Incomplete(problems))
    }
}

fn not_cancelled(event: &EventRow) -> Result<(), TicketError> {
    if event.status == "cancelled" {
        Err(TicketError::Cancelled)
    } else {
        Ok(())
    }
}

/// Changes an event's descriptive fields (its organizer or an admin); absent fields are kept.
#[utoipa::path(
    patch, path = "/api/v1/events/{id}", tag = "events", request_body = EventBody,
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = EventView),
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
    ValidJson(body): ValidJson<EventBody>,
) -> Result<Json<EventView>, TicketError> {
    let id = parse_id(&id).ok_or(TicketError::EventNotFound)?;
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, id).await?;
    not_cancelled(&event)?;
    let changed = check(body, Some(&event))?;
    let row = store::update_event(&mut tx, &changed).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    Ok(Json(views::event(&state.db, row).await?))
}

/// Deletes a draft event with its shows and zones (published events are cancelled instead).
#[utoipa::path(
    delete, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, TicketError> {
    let id = parse_id(&id).ok_or(TicketError::EventNotFound)?;
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, id).await?;
    if event.status != "draft" {
        return Err(TicketError::NotDraft);
    }
    store::delete_event(&mut tx, id).await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes a draft once it is complete: a show, each with a sale id, a sale window and zones.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/publish", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = EventView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled, or the slug is held by a published event", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Incomplete; `errors` lists what is missing", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn publish(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<EventView>, TicketError> {
    let id = parse_id(&id).ok_or(TicketError::EventNotFound)?;
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, id).await?;
    not_cancelled(&event)?;
    let row = if event.is_published() {
        event
    } else {
        let problems = missing(&mut tx, id).await?;
        if !problems.is_empty() {
            return Err(TicketError::Incomplete(problems));
        }
        store::set_status(&mut tx, id, "published").await?
    };
    tx.commit().await?;
    state.cache.invalidate().await;
    tracing::info!(event.id = %id, user.id = %user.id, "event published");
    Ok(Json(views::event(&state.db, row).await?))
}

/// Cancels an event (draft or published); a cancelled event is no longer public.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/cancel", tag = "events",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = EventView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<EventView>, TicketError> {
    let id = parse_id(&id).ok_or(TicketError::EventNotFound)?;
    let mut tx = state.db.begin().await?;
    lock_for_write(&mut tx, &user, id).await?;
    let row = store::set_status(&mut tx, id, "cancelled").await?;
    tx.commit().await?;
    state.cache.invalidate().await;
    tracing::info!(event.id = %id, user.id = %user.id, "event cancelled");
    Ok(Json(views::event(&state.db, row).await?))
}
