//! Booking's errors and their problem+json rendering.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::problem::Problem;

/// Everything a booking request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Unknown sale.
    #[error("unknown sale")]
    SaleNotFound,
    /// Unknown zone.
    #[error("unknown zone")]
    ZoneNotFound,
    /// The sale is not open yet.
    #[error("the sale is not open yet")]
    SaleNotOpen,
    /// The sale has closed.
    #[error("the sale has closed")]
    SaleClosed,
    /// The sale is suspended.
    #[error("the sale is suspended")]
    SaleSuspended,
    /// Not enough seats.
    #[error("not enough seats left: {0}")]
    SoldOut(i64),
    /// The per-user cap would be exceeded.
    #[error("per-user cap reached; {0} more seats allowed")]
    UserCap(i64),
    /// The idempotency key was used with another body.
    #[error("idempotency key reused with a different body")]
    IdempotencyMismatch,
    /// Unknown reservation (or another user's).
    #[error("unknown reservation")]
    ReservationNotFound,
    /// The reservation is no longer held.
    #[error("the reservation is {0}, not held")]
    NotHeld(String),
    /// The sale has no queue.
    #[error("the sale has no queue; reserve without a queue pass")]
    QueueDisabled,
    /// The caller is not in the sale's queue.
    #[error("you are not in this sale's queue; join it first")]
    NotInQueue,
    /// The sale queues buyers and the reservation came without a pass.
    #[error(
        "this sale admits buyers through its queue: join it, and reserve with the pass it hands out in the Queue-Pass header"
    )]
    QueuePassRequired,
    /// The pass is unknown, used, lapsed, another buyer's or another sale's.
    #[error(
        "the queue pass is not valid for you and this sale (used, expired, or not yours); join the queue again"
    )]
    QueuePassInvalid,
    /// The event log did not acknowledge the reservation.
    #[error("the event log is unavailable")]
    EventLogUnavailable,
    /// Redis failed.
    #[error("inventory store failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// PostgreSQL failed.
    #[error("database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl BookingError {
    /// Stable label for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SaleNotFound => "sale_not_found",
            Self::ZoneNotFound => "zone_not_found",
            Self::SaleNotOpen => "sale_not_open",
            Self::SaleClosed => "sale_closed",
            Self::SaleSuspended => "sale_suspended",
            Self::SoldOut(_) => "sold_out",
            Self::UserCap(_) => "per_user_cap_reached",
            Self::IdempotencyMismatch => "idempotency_key_reused",
            Self::ReservationNotFound => "reservation_not_found",
            Self::NotHeld(_) => "reservation_not_held",
            Self::QueueDisabled => "queue_disabled",
            Self::NotInQueue => "not_in_queue",
            Self::QueuePassRequired => "queue_pass_required",
            Self::QueuePassInvalid => "queue_pass_invalid",
            Self::EventLogUnavailable => "event_log_unavailable",
            Self::Redis(_) => "inventory_unavailable",
            Self::Database(_) => "database_unavailable",
        }
    }

    fn problem(&self) -> Problem {
        let code = self.code();
        match self {
            Self::SaleNotFound
            | Self::ZoneNotFound
            | Self::ReservationNotFound
            | Self::NotInQueue => Problem::not_found(code, self.to_string()),
            Self::SaleNotOpen | Self::SaleClosed | Self::SaleSuspended => {
                Problem::new(StatusCode::FORBIDDEN, code, "Sale not open")
                    .with_detail(self.to_string())
            }
            Self::SoldOut(_) => {
                Problem::new(StatusCode::CONFLICT, code, "Sold out").with_detail(self.to_string())
            }
            Self::UserCap(_) => Problem::new(StatusCode::CONFLICT, code, "Per-user cap reached")
                .with_detail(self.to_string()),
            Self::NotHeld(_) => Problem::new(StatusCode::CONFLICT, code, "Reservation not held")
                .with_detail(self.to_string()),
            Self::QueueDisabled => {
                Problem::new(StatusCode::CONFLICT, code, "No queue").with_detail(self.to_string())
            }
            Self::QueuePassRequired => {
                Problem::new(StatusCode::FORBIDDEN, code, "Queue pass required")
                    .with_detail(self.to_string())
                    .with_field(
                        "Queue-Pass",
                        "required: this sale admits buyers through its queue",
                    )
            }
            Self::QueuePassInvalid => {
                Problem::new(StatusCode::FORBIDDEN, code, "Queue pass not valid")
                    .with_detail(self.to_string())
                    .with_field("Queue-Pass", "not a live pass of yours for this sale")
            }
            Self::IdempotencyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Idempotency key reused",
            )
            .with_field(
                "Idempotency-Key",
                "this key was already used with a different request body",
            ),
            Self::EventLogUnavailable => Problem::unavailable(
                code,
                "the reservation could not be recorded and was not made; retry",
            ),
            Self::Redis(err) => {
                tracing::error!(error = %err, "redis failed");
                Problem::unavailable(code, "the inventory store is unavailable; retry")
            }
            Self::Database(err) => {
                tracing::error!(error = %err, "database failed");
                Problem::unavailable(code, "the database is unavailable; retry")
            }
        }
    }
}

impl IntoResponse for BookingError {
    fn into_response(self) -> Response {
        metrics::counter!("booking_errors_total", "code" => self.code()).increment(1);
        self.problem().into_response()
    }
}
