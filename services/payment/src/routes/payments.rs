//! Payments: pay for a reservation (owner), read one, list mine.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use shared::{
    auth::{AuthUser, Role},
    extract::{IdempotencyKey, ValidJson, ValidQuery, next_cursor, page_limit},
    ids::SaleId,
    problem::{Problem, ProblemSchema},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    charging,
    domain::{DEFAULT_PAYMENT_METHOD, PaymentMethod, PaymentStatus, RefundReason},
    error::PaymentError,
    state::AppState,
    store::{self, Created, NewPayment, PaymentRow, SaleTerms},
};

/// Body of a pay request: only how to pay. The amount is the reservation's.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PayBody {
    /// A payment method token from the PSP (default `pm_card_visa`).
    pub payment_method: Option<String>,
}

/// A payment as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// Payment id.
    pub id: Uuid,
    /// Sale.
    pub sale: String,
    /// The reservation paid for.
    pub reservation_id: Uuid,
    /// Amount in minor units, from the reservation.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// pending, authorized, captured, failed, refund_pending or refunded.
    pub status: PaymentStatus,
    /// Attempts made (a declined payment may be tried again while the hold lasts).
    pub attempt: i32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// `confirmed` once booking confirmed the seats, `rejected` if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<String>,
    /// Why it was refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<RefundReason>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&PaymentRow> for PaymentView {
    fn from(row: &PaymentRow) -> Self {
        Self {
            id: row.payment_id,
            sale: row.sale_id.clone(),
            reservation_id: row.reservation_id,
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            status: row.status(),
            attempt: row.attempt,
            failure_reason: row.failure_reason.clone(),
            booking: row.booking_outcome.clone(),
            refund_reason: row.refund_reason.as_deref().and_then(RefundReason::parse),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/sales/{sale}/reservations/{id}/payment",
            post(pay).get(payment_of_reservation),
        )
        .route("/api/v1/sales/{sale}/payments/{id}", get(read))
        .route("/api/v1/me/payments", get(list_mine))
}

/// The served sale named in the path; anything else is a 404.
pub fn served_sale(state: &AppState, raw: &str) -> Result<SaleId, PaymentError> {
    state.sales.resolve(raw).ok_or(PaymentError::SaleNotFound)
}

/// Whether `user` may see `payment`: its payer, an admin, or the sale's organizer.
pub fn may_view(user: &AuthUser, payment: &PaymentRow, terms: Option<&SaleTerms>) -> bool {
    payment.user_id == user.id
        || user.role == Role::Admin
        || (user.role == Role::Organizer && terms.is_some_and(|t| t.organizer_id == Some(user.id)))
}

/// Loads a payment of `sale` that `user` may see.
pub async fn visible_payment(
    state: &AppState,
    sale: &SaleId,
    id: Uuid,
    user: &AuthUser,
) -> Result<(PaymentRow, Option<SaleTerms>), PaymentError> {
    let payment = store::payment(&state.db, id)
        .await?
        .filter(|p| p.sale_id == sale.as_str())
        .ok_or(PaymentError::PaymentNotFound)?;
    let terms = store::sale_terms(&state.db, sale).await?;
    if may_view(user, &payment, terms.as_ref()) {
        Ok((payment, terms))
    } else {
        Err(PaymentError::PaymentNotFound)
    }
}

fn answer(status: StatusCode, payment: &PaymentRow) -> Response {
    let mut response = (status, Json(PaymentView::from(payment))).into_response();
    let location = format!(
        "/api/v1/sales/{}/payments/{}",
        payment.sale_id, payment.payment_id
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Starts the charge of a fresh attempt and reads the payment back (a refusal fails it at once;
/// a slow PSP leaves it pending for the sync worker).
async fn charge_and_reload(
    state: &AppState,
    payment: PaymentRow,
) -> Result<PaymentRow, PaymentError> {
    if let Err(err) = charging::start_charge(&state.db, state.psp.as_ref(), &payment).await {
        tracing::warn!(payment.id = %payment.payment_id, error = %err, "charge not started; the sync worker will retry with the same key");
    }
    Ok(store::payment(&state.db, payment.payment_id)
        .await?
        .unwrap_or(payment))
}

/// Pays for a held reservation: creates (or returns) its one payment and starts the charge.
#[utoipa::path(
    post, path = "/api/v1/sales/{sale}/reservations/{id}/payment", tag = "payments",
    params(
        ("sale" = String, Path, description = "Sale id"),
        ("id" = Uuid, Path, description = "Reservation id"),
        ("Idempotency-Key" = String, Header, description = "Unique per intended payment; 1-128 visible ASCII characters"),
    ),
    request_body = PayBody,
    responses(
        (status = 201, description = "A new payment (or a new attempt after a decline); its outcome follows asynchronously", body = PaymentView),
        (status = 200, description = "The reservation's existing payment", body = PaymentView),
        (status = 400, description = "Missing or invalid Idempotency-Key, unreadable body", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale or reservation, or another buyer's", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The reservation is no longer held", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or the key was used for another request", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "Booking or the database is unavailable; retry", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, reservation.id = %id_raw, user.id = %user.id))]
pub async fn pay(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
    key: IdempotencyKey,
    headers: HeaderMap,
    ValidJson(body): ValidJson<PayBody>,
) -> Result<Response, Response> {
    let fail = |e: PaymentError| e.into_response();
    let sale = served_sale(&state, &sale_raw).map_err(fail)?;
    let reservation: Uuid = id_raw
        .parse()
        .map_err(|_| fail(PaymentError::ReservationNotFound))?;
    let method = PaymentMethod::parse(
        body.payment_method
            .as_deref()
            .unwrap_or(DEFAULT_PAYMENT_METHOD),
    )
    .map_err(|m| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "Invalid request body",
        )
        .with_field("paymentMethod", m)
        .into_response()
    })?;
    let fingerprint = format!("{sale}/{reservation}/{}", method.as_str());

    // A repeated request answers with what the first one made.
    if let Some((payment_id, seen)) = store::idempotency(&state.db, user.id, key.as_str())
        .await
        .map_err(|e| fail(e.into()))?
    {
        if seen != fingerprint {
            return Err(fail(PaymentError::IdempotencyMismatch));
        }
        let payment = store::payment(&state.db, payment_id)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or_else(|| fail(PaymentError::PaymentNotFound))?;
        let payment = charge_and_reload(&state, payment).await.map_err(fail)?;
        return Ok(answer(StatusCode::OK, &payment));
    }
    // One payment per reservation: anything but a declined one is the answer.
    let existing = store::payment_of_reservation(&state.db, reservation)
        .await
        .map_err(|e| fail(e.into()))?;
    if let Some(payment) = &existing {
        if payment.user_id != user.id || payment.sale_id != sale.as_str() {
            return Err(fail(PaymentError::ReservationNotFound));
        }
        if payment.status() != PaymentStatus::Failed {
            let payment = charge_and_reload(&state, payment.clone())
                .await
                .map_err(fail)?;
            return Ok(answer(StatusCode::OK, &payment));
        }
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| fail(PaymentError::ReservationNotFound))?;
    let held = state
        .booking
        .reservation(&sale, reservation, authorization)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail(PaymentError::ReservationNotFound))?;
    if held.status != "held" {
        return Err(fail(PaymentError::ReservationNotPayable(held.status)));
    }
    let created = match existing {
        Some(declined) => {
            match store::retry_failed(
                &state.db,
                declined.payment_id,
                method.as_str(),
                key.as_str(),
                &fingerprint,
            )
            .await
            .map_err(|e| fail(e.into()))?
            {
                Some(row) => Created::New(row),
                None => Created::Existing(
                    store::payment(&state.db, declined.payment_id)
                        .await
                        .map_err(|e| fail(e.into()))?
                        .unwrap_or(declined),
                ),
            }
        }
        None => store::create_payment(
            &state.db,
            &NewPayment {
                sale: sale.clone(),
                reservation_id: held.id,
                user_id: user.id,
                amount_minor: held.amount_minor,
                currency: held.currency.clone(),
                payment_method: method.as_str().to_owned(),
            },
            key.as_str(),
            &fingerprint,
        )
        .await
        .map_err(|e| fail(e.into()))?,
    };
    let (status, payment) = match created {
        Created::New(row) => {
            metrics::counter!("payment_payments_total", "outcome" => "created").increment(1);
            (StatusCode::CREATED, row)
        }
        Created::Existing(row) => (StatusCode::OK, row),
    };
    let payment = charge_and_reload(&state, payment).await.map_err(fail)?;
    Ok(answer(status, &payment))
}

fn parse_id(raw: &str, missing: PaymentError) -> Result<Uuid, PaymentError> {
    raw.parse().map_err(|_| missing)
}

/// The payment of a reservation: its payer, an admin, or the sale's organizer.
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/reservations/{id}/payment", tag = "payments",
    params(("sale" = String, Path, description = "Sale id"), ("id" = Uuid, Path, description = "Reservation id")),
    responses(
        (status = 200, body = PaymentView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No payment, or not the caller's to see", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, reservation.id = %id_raw))]
pub async fn payment_of_reservation(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
) -> Result<Json<PaymentView>, PaymentError> {
    let sale = served_sale(&state, &sale_raw)?;
    let reservation = parse_id(&id_raw, PaymentError::PaymentNotFound)?;
    let payment = store::payment_of_reservation(&state.db, reservation)
        .await?
        .ok_or(PaymentError::PaymentNotFound)?;
    let (payment, _) = visible_payment(&state, &sale, payment.payment_id, &user).await?;
    Ok(Json(PaymentView::from(&payment)))
}

/// One payment: its payer, an admin, or the sale's organizer.
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/payments/{id}", tag = "payments",
    params(("sale" = String, Path, description = "Sale id"), ("id" = Uuid, Path, description = "Payment id")),
    responses(
        (status = 200, body = PaymentView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's to see", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, payment.id = %id_raw))]
pub async fn read(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
) -> Result<Json<PaymentView>, PaymentError> {
    let sale = served_sale(&state, &sale_raw)?;
    let id = parse_id(&id_raw, PaymentError::PaymentNotFound)?;
    let (payment, _) = visible_payment(&state, &sale, id, &user).await?;
    Ok(Json(PaymentView::from(&payment)))
}

/// Query of the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// One page of payments.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPage {
    /// Payments, newest first.
    pub items: Vec<PaymentView>,
    /// Cursor of the next page, absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Uuid>,
}

/// The caller's payments across sales, newest first.
#[utoipa::path(
    get, path = "/api/v1/me/payments", tag = "payments",
    params(ListQuery),
    responses(
        (status = 200, body = PaymentPage),
        (status = 400, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn list_mine(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<PaymentPage>, Response> {
    let limit = page_limit(query.limit).map_err(IntoResponse::into_response)?;
    let mut rows = store::payments_of_user(&state.db, user.id, query.cursor, limit + 1)
        .await
        .map_err(|e| PaymentError::from(e).into_response())?;
    let next_cursor = next_cursor(&mut rows, limit, |r| r.payment_id);
    Ok(Json(PaymentPage {
        items: rows.iter().map(PaymentView::from).collect(),
        next_cursor,
    }))
}
