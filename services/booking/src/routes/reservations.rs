//! Reservations: reserve (`POST`), read (`GET`) and cancel (`DELETE`), owner only.

use std::borrow::Cow;

use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use shared::{
    auth::AuthUser,
    events::{BookingEvent, ReservationStatus},
    extract::ValidJson,
    ids::{SaleId, ZoneId},
    problem::{Problem, ProblemSchema},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    domain::{Hold, IdempotencyKey, Quantity, from_ms},
    error::BookingError,
    inventory::{CancelOutcome, ReleaseOutcome, ReserveOutcome, ReserveRequest},
    publish::publish_booking_event,
    queue::pass::QueuePass,
    state::AppState,
    store::{self, ReservationRow},
};

/// Body of a reserve request. Prices are never taken from the client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    /// Zone to reserve in.
    pub zone: String,
    /// Seats, 1-20.
    #[schema(minimum = 1, maximum = 20)]
    pub quantity: i64,
}

// Its strings borrow from the hold it shows, when there is one: a new reservation's answer
// copies none.
/// A reservation as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView<'a> {
    /// Reservation id.
    pub id: Uuid,
    /// Sale.
    #[schema(value_type = String)]
    pub sale: Cow<'a, str>,
    /// Zone.
    #[schema(value_type = String)]
    pub zone: Cow<'a, str>,
    /// Seats.
    pub quantity: u32,
    /// Price of all seats in minor units, from the sale's price.
    pub amount_minor: i64,
    /// Currency.
    #[schema(value_type = String)]
    pub currency: Cow<'a, str>,
    /// Status: held, confirmed, cancelled, expired or released.
    pub status: ReservationStatus,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When an unpaid hold lapses.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The payment that confirmed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<Uuid>,
}

impl<'a> ReservationView<'a> {
    fn from_hold(sale: &'a SaleId, hold: &'a Hold) -> Self {
        Self {
            id: hold.id,
            sale: Cow::Borrowed(sale.as_str()),
            zone: Cow::Borrowed(hold.zone.as_str()),
            quantity: hold.quantity,
            amount_minor: hold.amount_minor,
            currency: Cow::Borrowed(&hold.currency),
            status: hold.status,
            created_at: from_ms(hold.created_at_ms),
            expires_at: from_ms(hold.expires_at_ms),
            payment_id: hold.payment_id,
        }
    }
}

impl From<ReservationRow> for ReservationView<'static> {
    fn from(row: ReservationRow) -> Self {
        Self {
            id: row.reservation_id,
            sale: Cow::Owned(row.sale_id),
            zone: Cow::Owned(row.zone_id),
            quantity: row.quantity.max(0) as u32,
            amount_minor: row.amount_minor,
            currency: Cow::Owned(row.currency),
            status: ReservationStatus::parse(&row.status).unwrap_or(ReservationStatus::Released),
            created_at: row.created_at,
            expires_at: row.expires_at,
            payment_id: row.payment_id,
        }
    }
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sales/{sale}/reservations", post(reserve))
        .route(
            "/api/v1/sales/{sale}/reservations/{id}",
            get(read).delete(cancel),
        )
}

/// Parses a sale id from the path and checks this process serves it; anything else is a 404.
pub fn served_sale(state: &AppState, raw: &str) -> Result<SaleId, BookingError> {
    SaleId::parse(raw)
        .ok()
        .filter(|sale| state.sales.serves(sale))
        .ok_or(BookingError::SaleNotFound)
}

/// A reserve request's `Idempotency-Key` and `Queue-Pass`, read where the request holds them (its
/// headers are not copied); each is judged when the handler reaches it, so an unknown sale is
/// still a 404 before a bad header is a 400.
pub struct ReserveHeaders {
    key: Result<IdempotencyKey, Problem>,
    pass: Result<Option<QueuePass>, Problem>,
}

impl<S: Send + Sync> FromRequestParts<S> for ReserveHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            key: IdempotencyKey::from_headers(&parts.headers),
            pass: QueuePass::from_headers(&parts.headers),
        })
    }
}

fn validate(body: ReserveBody) -> Result<(ZoneId, Quantity), Problem> {
    let mut problem = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "Invalid request body",
    );
    let zone =
        ZoneId::parse(&body.zone).map_err(|e| problem.clone().with_field("zone", e.to_string()));
    let quantity =
        Quantity::parse(body.quantity).map_err(|m| problem.clone().with_field("quantity", m));
    match (zone, quantity) {
        (Ok(zone), Ok(quantity)) => Ok((zone, quantity)),
        (zone, quantity) => {
            for err in [zone.err(), quantity.err()].into_iter().flatten() {
                problem.errors.extend(err.errors);
            }
            Err(problem)
        }
    }
}

fn created(sale: &SaleId, hold: &Hold, replayed: bool) -> Response {
    let view = ReservationView::from_hold(sale, hold);
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    let location = [
        "/api/v1/sales/",
        sale.as_str(),
        "/reservations/",
        hold.id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer()),
    ]
    .concat();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Reserves seats: atomically checks the sale window, idempotency, the queue pass (when the sale
/// queues buyers), the per-user cap and availability, and answers once the reservation is durable
/// in the event log.
#[utoipa::path(
    post, path = "/api/v1/sales/{sale}/reservations", tag = "reservations",
    params(
        ("sale" = String, Path, description = "Sale id"),
        ("Idempotency-Key" = String, Header, description = "Unique per intended reservation; 1-128 visible ASCII characters"),
        ("Queue-Pass" = Option<String>, Header, description = "The pass the sale's queue handed out on admission; required when the sale queues buyers, used up by the reservation"),
    ),
    request_body = ReserveBody,
    responses(
        (status = 201, description = "Held (or the original reservation of a replayed key)", body = ReservationView),
        (status = 400, description = "Unreadable body, missing/invalid Idempotency-Key or malformed Queue-Pass", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Sale not open, closed or suspended; or the sale queues buyers and the Queue-Pass is missing (`queue_pass_required`) or not a live pass of the caller for this sale (`queue_pass_invalid`)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale or zone", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Sold out or per-user cap reached", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or the key was used with another body", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "Not recorded; retry after Retry-After", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, user.id = %user.id))]
pub async fn reserve(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    user: AuthUser,
    headers: ReserveHeaders,
    ValidJson(body): ValidJson<ReserveBody>,
) -> Result<Response, Response> {
    let sale = served_sale(&state, &sale_raw).map_err(IntoResponse::into_response)?;
    let key = headers.key.map_err(IntoResponse::into_response)?;
    let pass = headers.pass.map_err(IntoResponse::into_response)?;
    let (zone, quantity) = validate(body).map_err(IntoResponse::into_response)?;
    let request = ReserveRequest {
        user: user.id,
        zone,
        quantity,
        idempotency_key: key,
        pass,
    };
    let outcome = state
        .inventory
        .reserve(&sale, &request)
        .await
        .map_err(|e| BookingError::from(e).into_response())?;
    let result = match outcome {
        ReserveOutcome::Created(hold) => {
            let event = BookingEvent::ReservationCreated(hold.snapshot());
            match publish_booking_event(&state.publisher, &sale, from_ms(hold.created_at_ms), event)
                .await
            {
                Ok(()) => {
                    state.reserve_metrics.created();
                    return Ok(created(&sale, &hold, false));
                }
                Err(err) => {
                    tracing::error!(reservation.id = %hold.id, error = %err, "ReservationCreated not acknowledged; releasing the hold");
                    match state
                        .inventory
                        .release_unpublished(&sale, &hold, &request.idempotency_key)
                        .await
                    {
                        // A replay of this request published the reservation meanwhile: it stands.
                        Ok(ReleaseOutcome::Published) => return Ok(created(&sale, &hold, false)),
                        Ok(_) => {}
                        Err(err) => {
                            tracing::error!(reservation.id = %hold.id, error = %err, "release after failed publish failed; the hold will expire");
                        }
                    }
                    Err(BookingError::EventLogUnavailable)
                }
            }
        }
        ReserveOutcome::Replay(original) => return replay(&state, &sale, user.id, original).await,
        ReserveOutcome::IdempotencyMismatch => Err(BookingError::IdempotencyMismatch),
        ReserveOutcome::SaleNotFound => Err(BookingError::SaleNotFound),
        ReserveOutcome::SaleSuspended => Err(BookingError::SaleSuspended),
        ReserveOutcome::SaleNotOpen(_) => Err(BookingError::SaleNotOpen),
        ReserveOutcome::SaleClosed => Err(BookingError::SaleClosed),
        ReserveOutcome::ZoneNotFound => Err(BookingError::ZoneNotFound),
        ReserveOutcome::UserCap(left) => Err(BookingError::UserCap(left.max(0))),
        ReserveOutcome::SoldOut(left) => Err(BookingError::SoldOut(left.max(0))),
        ReserveOutcome::QueuePassRequired => Err(BookingError::QueuePassRequired),
        ReserveOutcome::QueuePassInvalid => Err(BookingError::QueuePassInvalid),
    };
    result.map_err(|e: BookingError| {
        metrics::counter!("booking_reservations_total", "outcome" => e.code()).increment(1);
        e.into_response()
    })
}

/// Answers a repeated request with the original reservation, re-publishing its creation so an
/// acknowledged reservation is always in the event log.
async fn replay(
    state: &AppState,
    sale: &SaleId,
    user: Uuid,
    original: Uuid,
) -> Result<Response, Response> {
    let hold = state
        .inventory
        .hold(sale, original)
        .await
        .map_err(|e| BookingError::from(e).into_response())?;
    let Some(hold) = hold.filter(|h| h.user == user) else {
        return Err(BookingError::ReservationNotFound.into_response());
    };
    let mut created_snapshot = hold.snapshot();
    created_snapshot.status = ReservationStatus::Held;
    created_snapshot.payment_id = None;
    let event = BookingEvent::ReservationCreated(created_snapshot);
    publish_booking_event(&state.publisher, sale, from_ms(hold.created_at_ms), event)
        .await
        .map_err(|err| {
            tracing::error!(reservation.id = %hold.id, error = %err, "replayed ReservationCreated not acknowledged");
            BookingError::EventLogUnavailable.into_response()
        })?;
    // The original request may still be failing to publish; marking the hold stops it from being
    // released, and a hold already released for that failure is not answered with a 201.
    if !state
        .inventory
        .mark_published(sale, hold.id)
        .await
        .map_err(|e| BookingError::from(e).into_response())?
    {
        return Err(BookingError::EventLogUnavailable.into_response());
    }
    state.reserve_metrics.replayed();
    Ok(created(sale, &hold, true))
}

fn parse_id(raw: &str) -> Result<Uuid, BookingError> {
    raw.parse().map_err(|_| BookingError::ReservationNotFound)
}

/// One reservation of the caller.
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/reservations/{id}", tag = "reservations",
    params(("sale" = String, Path, description = "Sale id"), ("id" = Uuid, Path, description = "Reservation id")),
    responses(
        (status = 200, body = ReservationView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another buyer's", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, reservation.id = %id_raw))]
pub async fn read(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
) -> Result<Response, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    let id = parse_id(&id_raw)?;
    if let Some(hold) = state.inventory.hold(&sale, id).await? {
        return if hold.user == user.id {
            Ok(Json(ReservationView::from_hold(&sale, &hold)).into_response())
        } else {
            Err(BookingError::ReservationNotFound)
        };
    }
    match store::reservation(&state.db, id).await? {
        Some(row) if row.user_id == user.id && row.sale_id == sale.as_str() => {
            Ok(Json(ReservationView::from(row)).into_response())
        }
        _ => Err(BookingError::ReservationNotFound),
    }
}

/// Cancels a live hold of the caller; its seats return to the sale.
#[utoipa::path(
    delete, path = "/api/v1/sales/{sale}/reservations/{id}", tag = "reservations",
    params(("sale" = String, Path, description = "Sale id"), ("id" = Uuid, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "Cancelled", body = ReservationView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another buyer's", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "No longer held", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, reservation.id = %id_raw))]
pub async fn cancel(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
) -> Result<Response, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    let id = parse_id(&id_raw)?;
    match state.inventory.cancel(&sale, id, user.id).await? {
        CancelOutcome::Cancelled => {
            let hold = state
                .inventory
                .hold(&sale, id)
                .await?
                .ok_or(BookingError::ReservationNotFound)?;
            Ok(Json(ReservationView::from_hold(&sale, &hold)).into_response())
        }
        CancelOutcome::NotFound => Err(BookingError::ReservationNotFound),
        CancelOutcome::NotHeld(status) => Err(BookingError::NotHeld(status)),
    }
}
