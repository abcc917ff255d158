//! HTTP routes, one module per resource, merged here.

use axum::{Json, Router, routing::get};
use shared::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::state::AppState;

pub mod account;
pub mod admin;
pub mod jwks;
pub mod session;

/// Auth's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Booking Rush auth service", description = "Accounts, sessions and access tokens."),
    paths(
        account::register,
        account::me,
        account::update_me,
        session::login,
        session::refresh,
        session::logout,
        session::logout_everywhere,
        admin::set_role,
        jwks::jwks,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Every auth route, and `/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .merge(account::router())
        .merge(session::router())
        .merge(admin::router())
        .merge(jwks::router())
}
