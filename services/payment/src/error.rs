//! Payment's errors and their problem+json rendering.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::problem::Problem;

/// Everything a payment request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Unknown sale.
    #[error("unknown sale")]
    SaleNotFound,
    /// Unknown reservation, or another buyer's.
    #[error("unknown reservation")]
    ReservationNotFound,
    /// The reservation is not held any more; its status.
    #[error("the reservation is {0}; only a held reservation can be paid")]
    ReservationNotPayable(String),
    /// Unknown payment, or one the caller may not see.
    #[error("unknown payment")]
    PaymentNotFound,
    /// The payment is not in a state that allows a refund; its status.
    #[error("the payment is {0}; only a captured payment can be refunded")]
    NotRefundable(String),
    /// The caller may see the payment but not refund it.
    #[error("{0}")]
    RefundForbidden(&'static str),
    /// The key was used for another request.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// Booking could not be asked about the reservation.
    #[error("booking unavailable: {0}")]
    BookingUnavailable(String),
    /// PostgreSQL failed.
    #[error("database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl PaymentError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SaleNotFound => "sale_not_found",
            Self::ReservationNotFound => "reservation_not_found",
            Self::ReservationNotPayable(_) => "reservation_not_payable",
            Self::PaymentNotFound => "payment_not_found",
            Self::NotRefundable(_) => "payment_not_refundable",
            Self::RefundForbidden(_) => "refund_not_allowed",
            Self::IdempotencyMismatch => "idempotency_key_reused",
            Self::BookingUnavailable(_) => "booking_unavailable",
            Self::Database(_) => "database_unavailable",
        }
    }
}

impl IntoResponse for PaymentError {
    fn into_response(self) -> Response {
        let code = self.code();
        metrics::counter!("payment_errors_total", "code" => code).increment(1);
        let problem = match &self {
            Self::SaleNotFound | Self::ReservationNotFound | Self::PaymentNotFound => {
                Problem::not_found(code, self.to_string())
            }
            Self::ReservationNotPayable(_) => {
                Problem::new(StatusCode::CONFLICT, code, "Reservation not payable")
                    .with_detail(self.to_string())
            }
            Self::NotRefundable(_) => {
                Problem::new(StatusCode::CONFLICT, code, "Payment not refundable")
                    .with_detail(self.to_string())
            }
            Self::RefundForbidden(_) => {
                Problem::new(StatusCode::FORBIDDEN, code, "Forbidden").with_detail(self.to_string())
            }
            Self::IdempotencyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Idempotency key reused",
            )
            .with_field(
                "Idempotency-Key",
                "this key was already used for a different payment request",
            ),
            Self::BookingUnavailable(reason) => {
                tracing::error!(%reason, "booking unavailable");
                Problem::unavailable(code, "the reservation cannot be checked right now; retry")
            }
            Self::Database(err) => {
                tracing::error!(error = %err, "database failed");
                Problem::unavailable(code, "the database is unavailable; retry")
            }
        };
        problem.into_response()
    }
}
