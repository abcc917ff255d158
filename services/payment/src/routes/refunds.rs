//! Refunds: the sale's organizer or an admin refunds a captured payment; the buyer cancels a paid
//! booking where the sale allows it. The seats return to the sale once the money has.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::post,
};
use serde::Deserialize;
use shared::{
    auth::{AuthUser, Role},
    problem::ProblemSchema,
};
use uuid::Uuid;

use crate::{
    charging,
    domain::{PaymentStatus, RefundReason},
    error::PaymentError,
    routes::payments::{PaymentView, served_sale, visible_payment},
    state::AppState,
    store::{self, PaymentRow, SaleTerms},
};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/sales/{sale}/payments/{id}/refund", post(refund))
}

/// Body of a refund request (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {}

/// Who may refund, and under which reason: an admin anything, the sale's organizer its sale's
/// payments, the buyer their own confirmed booking while the sale is open, if the sale allows it.
fn refund_reason(
    user: &AuthUser,
    payment: &PaymentRow,
    terms: Option<&SaleTerms>,
) -> Result<RefundReason, PaymentError> {
    if user.role == Role::Admin {
        return Ok(RefundReason::Admin);
    }
    if user.role == Role::Organizer && terms.is_some_and(|t| t.organizer_id == Some(user.id)) {
        return Ok(RefundReason::Organizer);
    }
    // Only the payer remains (visible_payment let no one else through).
    let Some(terms) = terms.filter(|t| t.allow_buyer_cancellation) else {
        return Err(PaymentError::RefundForbidden(
            "this sale does not let buyers cancel paid bookings",
        ));
    };
    if time::OffsetDateTime::now_utc() >= terms.closes_at {
        return Err(PaymentError::RefundForbidden(
            "paid bookings can only be cancelled while the sale is open",
        ));
    }
    if payment.booking_outcome.as_deref() != Some("confirmed") {
        return Err(PaymentError::RefundForbidden(
            "only a confirmed booking can be cancelled",
        ));
    }
    Ok(RefundReason::BuyerCancellation)
}

/// Refunds a captured payment in full; a booking it confirmed returns its seats to the sale.
#[utoipa::path(
    post, path = "/api/v1/sales/{sale}/payments/{id}/refund", tag = "payments",
    params(("sale" = String, Path, description = "Sale id"), ("id" = Uuid, Path, description = "Payment id")),
    responses(
        (status = 200, description = "Refund under way (or already done)", body = PaymentView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "The caller may see the payment but not refund it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's to see", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Not captured", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, payment.id = %id_raw, user.id = %user.id))]
pub async fn refund(
    State(state): State<AppState>,
    Path((sale_raw, id_raw)): Path<(String, String)>,
    user: AuthUser,
) -> Result<Json<PaymentView>, PaymentError> {
    let sale = served_sale(&state, &sale_raw)?;
    let id: Uuid = id_raw.parse().map_err(|_| PaymentError::PaymentNotFound)?;
    let (payment, terms) = visible_payment(&state, &sale, id, &user).await?;
    let reason = refund_reason(&user, &payment, terms.as_ref())?;
    match payment.status() {
        PaymentStatus::RefundPending | PaymentStatus::Refunded => {
            return Ok(Json(PaymentView::from(&payment)));
        }
        PaymentStatus::Captured => {}
        other => return Err(PaymentError::NotRefundable(other.as_str().to_owned())),
    }
    let Some(pending) = store::request_refund(&state.db, id, reason, Some(user.id)).await? else {
        // Moved meanwhile (refunded by someone else, say): answer with what it is now.
        let now = store::payment(&state.db, id)
            .await?
            .ok_or(PaymentError::PaymentNotFound)?;
        return match now.status() {
            PaymentStatus::RefundPending | PaymentStatus::Refunded => {
                Ok(Json(PaymentView::from(&now)))
            }
            other => Err(PaymentError::NotRefundable(other.as_str().to_owned())),
        };
    };
    metrics::counter!("payment_refunds_requested_total", "reason" => reason.as_str()).increment(1);
    tracing::info!(reason = reason.as_str(), "refund requested");
    if let Err(err) = charging::start_refund(&state.db, state.psp.as_ref(), &pending).await {
        tracing::warn!(error = %err, "refund not started; the sync worker will retry with the same key");
    }
    let now = store::payment(&state.db, id).await?.unwrap_or(pending);
    Ok(Json(PaymentView::from(&now)))
}
