//! HTTP routes, one module per resource, merged here.

use axum::Router;

use crate::state::AppState;

pub mod availability;
pub mod bookings;
pub mod reservations;

/// Every booking route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(reservations::router())
        .merge(availability::router())
        .merge(bookings::router())
}
