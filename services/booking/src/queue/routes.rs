//! The queue's HTTP routes: join, status and leave under `/api/v1/sales/{sale}/queue`, and the
//! event stream at `…/queue/events`. Every route acts on the caller's own entry only.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::{auth::AuthUser, ids::SaleId, problem::ProblemSchema};

use crate::{
    error::BookingError,
    queue::{
        events,
        store::{Reading, Refusal},
        view::QueueView,
    },
    routes::reservations::served_sale,
    state::AppState,
};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/sales/{sale}/queue",
            get(queue_status).post(join_queue).delete(leave_queue),
        )
        .route(
            "/api/v1/sales/{sale}/queue/events",
            get(events::queue_events),
        )
}

/// The error a refused queue request answers with.
pub fn refused(refusal: Refusal) -> BookingError {
    match refusal {
        Refusal::SaleNotFound => BookingError::SaleNotFound,
        Refusal::Disabled => BookingError::QueueDisabled,
        Refusal::Suspended => BookingError::SaleSuspended,
        Refusal::Closed => BookingError::SaleClosed,
    }
}

/// The view of a reading, or 404 for a buyer who never joined.
pub fn view_of(sale: &SaleId, reading: &Reading) -> Result<QueueView, BookingError> {
    QueueView::new(sale.as_str(), &reading.entry, &reading.summary).ok_or(BookingError::NotInQueue)
}

/// Joins the sale's queue. Before the sale opens the buyer enters the pre-queue, shuffled at
/// opening; after it they queue first-in-first-out. One place per account: joining again answers
/// the same place.
#[utoipa::path(
    post, path = "/api/v1/sales/{sale}/queue", tag = "queue",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 201, description = "Joined", body = QueueView),
        (status = 200, description = "Already in the queue: the same place", body = QueueView),
        (status = 401, description = "Missing or invalid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Sale closed or suspended", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The sale has no queue (`queue_disabled`): reserve without a pass", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, user.id = %user.id))]
pub async fn join_queue(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    user: AuthUser,
) -> Result<Response, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    let (created, reading) = state
        .queue
        .store
        .join(&sale, user.id)
        .await?
        .map_err(refused)?;
    metrics::counter!("booking_queue_joins_total", "outcome" => if created { "joined" } else { "again" })
        .increment(1);
    let view = view_of(&sale, &reading)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/sales/{sale}/queue")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The caller's place in the queue: position, buyers ahead, ETA from the measured drain rate,
/// whether the sale is sold out; once admitted, the single-use pass to reserve with.
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/queue", tag = "queue",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 200, body = QueueView),
        (status = 401, description = "Missing or invalid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale, or the caller never joined its queue (`not_in_queue`)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The sale has no queue", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, user.id = %user.id))]
pub async fn queue_status(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    user: AuthUser,
) -> Result<Json<QueueView>, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    let reading = state
        .queue
        .store
        .status(&sale, user.id)
        .await?
        .map_err(refused)?;
    Ok(Json(view_of(&sale, &reading)?))
}

/// Leaves the queue; an admission ends and its pass stops working.
#[utoipa::path(
    delete, path = "/api/v1/sales/{sale}/queue", tag = "queue",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 204, description = "Left"),
        (status = 401, description = "Missing or invalid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale, or the caller is not in its queue (`not_in_queue`)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The sale has no queue", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, user.id = %user.id))]
pub async fn leave_queue(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    user: AuthUser,
) -> Result<StatusCode, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    if state
        .queue
        .store
        .leave(&sale, user.id)
        .await?
        .map_err(refused)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(BookingError::NotInQueue)
    }
}
