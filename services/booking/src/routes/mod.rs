//! HTTP routes, one module per resource, merged here.

use axum::{Json, Router, routing::get};
use shared::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::state::AppState;

pub mod availability;
pub mod bookings;
pub mod reservations;

/// Booking's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Booking Rush booking service", description = "Queue for, reserve, read and cancel seats of a flash sale."),
    paths(
        reservations::reserve,
        reservations::read,
        reservations::cancel,
        availability::availability,
        bookings::list,
        crate::queue::routes::join_queue,
        crate::queue::routes::queue_status,
        crate::queue::routes::leave_queue,
        crate::queue::events::queue_events,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Every booking route, and `/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .merge(reservations::router())
        .merge(availability::router())
        .merge(bookings::router())
        .merge(crate::queue::routes::router())
}
