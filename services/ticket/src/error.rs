//! The ticket service's errors and their problem+json rendering.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::problem::{FieldProblem, Problem};

/// Everything a catalog request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// No such venue, or not one the caller may see.
    #[error("unknown venue")]
    VenueNotFound,
    /// No such event, or not one the caller may see.
    #[error("unknown event")]
    EventNotFound,
    /// No such show, or not one the caller may see.
    #[error("unknown show")]
    ShowNotFound,
    /// No such zone in the show.
    #[error("unknown zone")]
    ZoneNotFound,
    /// No show is sold by this sale (or the caller may not see it).
    #[error("no show for this sale")]
    SaleNotFound,
    /// The caller may see the object but not change it.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The body is well-formed but some fields are wrong.
    #[error("invalid fields")]
    Invalid(Vec<FieldProblem>),
    /// A query parameter is wrong.
    #[error("invalid query parameter {0}")]
    InvalidQuery(&'static str, String),
    /// The caller already has an event with this slug, or a published event holds it.
    #[error("slug taken")]
    SlugTaken,
    /// Another show is already sold by this sale id.
    #[error("sale id taken")]
    SaleTaken,
    /// Shows still take place at the venue.
    #[error("venue in use")]
    VenueInUse,
    /// Only drafts can be deleted.
    #[error("event is not a draft")]
    NotDraft,
    /// A cancelled event cannot change.
    #[error("event cancelled")]
    Cancelled,
    /// The event lacks what publishing (or a published event) needs.
    #[error("event incomplete")]
    Incomplete(Vec<FieldProblem>),
    /// The show lacks what a FlashSale needs.
    #[error("show not ready for sale")]
    NotReadyForSale(Vec<FieldProblem>),
    /// PostgreSQL failed.
    #[error("database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else internal.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

impl TicketError {
    /// One field problem as a 422.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// Stable code, also the metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::VenueNotFound => "venue_not_found",
            Self::EventNotFound => "event_not_found",
            Self::ShowNotFound => "show_not_found",
            Self::ZoneNotFound => "zone_not_found",
            Self::SaleNotFound => "sale_not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid(_) => "invalid_body",
            Self::InvalidQuery(..) => "invalid_query",
            Self::SlugTaken => "slug_taken",
            Self::SaleTaken => "sale_id_taken",
            Self::VenueInUse => "venue_in_use",
            Self::NotDraft => "event_not_draft",
            Self::Cancelled => "event_cancelled",
            Self::Incomplete(_) => "event_incomplete",
            Self::NotReadyForSale(_) => "show_not_ready_for_sale",
            Self::Database(_) => "database_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn problem(self) -> Problem {
        let code = self.code();
        let with_fields = |mut problem: Problem, errors: Vec<FieldProblem>| {
            problem.errors = errors;
            problem
        };
        let conflict = |detail: &str| {
            Problem::new(StatusCode::CONFLICT, code, "Conflict").with_detail(detail.to_owned())
        };
        match self {
            Self::VenueNotFound => Problem::not_found(code, "no such venue"),
            Self::EventNotFound => Problem::not_found(code, "no such event"),
            Self::ShowNotFound => Problem::not_found(code, "no such show"),
            Self::ZoneNotFound => Problem::not_found(code, "no such zone in this show"),
            Self::SaleNotFound => Problem::not_found(code, "no show is sold by this sale"),
            Self::Forbidden(detail) => {
                Problem::new(StatusCode::FORBIDDEN, code, "Forbidden").with_detail(detail)
            }
            Self::Invalid(errors) => with_fields(
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    "Invalid request body",
                )
                .with_detail("some fields are invalid"),
                errors,
            ),
            Self::InvalidQuery(field, message) => {
                Problem::bad_request(code, "the query string is invalid").with_field(field, message)
            }
            Self::SlugTaken => conflict(
                "the slug is already used by another of your events, or by a published event",
            )
            .with_field("slug", "already taken"),
            Self::SaleTaken => conflict("another show is already sold by this sale")
                .with_field("saleId", "already used by another show"),
            Self::VenueInUse => conflict("shows still take place at this venue"),
            Self::NotDraft => conflict("only draft events can be deleted; cancel it instead"),
            Self::Cancelled => conflict("the event is cancelled and can no longer change"),
            Self::Incomplete(errors) => with_fields(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Event incomplete")
                    .with_detail("a published event needs shows with a sale and zones"),
                errors,
            ),
            Self::NotReadyForSale(errors) => with_fields(
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    "Show not ready for sale",
                )
                .with_detail("a FlashSale needs a sale id, a sale window and zones"),
                errors,
            ),
            Self::Database(err) => {
                tracing::error!(error = %err, "database failed");
                Problem::unavailable(code, "the database is unavailable; retry")
            }
            Self::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for TicketError {
    fn into_response(self) -> Response {
        metrics::counter!("ticket_errors_total", "code" => self.code()).increment(1);
        self.problem().into_response()
    }
}

/// The name of the constraint a database error violated, if any.
pub fn violated(err: &sqlx::Error) -> Option<&str> {
    err.as_database_error().and_then(|e| e.constraint())
}
