//! HTTP routes, one module per resource, merged here.

use axum::{Json, Router, routing::get};
use shared::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::state::AppState;

pub mod payments;
pub mod refunds;
pub mod webhook;

/// Payment's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Booking Rush payment service", description = "Pay for a reservation, read payments, refund them; the PSP's webhook."),
    paths(
        payments::pay,
        payments::payment_of_reservation,
        payments::read,
        payments::list_mine,
        refunds::refund,
        webhook::webhook,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Every payment route, and `/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .merge(payments::router())
        .merge(refunds::router())
        .merge(webhook::router())
}
