//! HTTP routes, one module per resource, merged here.

use axum::{Json, Router, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use shared::openapi::BearerAuth;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::{error::TicketError, state::AppState};

pub mod catalog;
pub mod events;
pub mod shows;
pub mod venues;

/// The ticket service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Booking Rush ticket service", description = "The catalog: venues, events, shows and zones; public browsing with live availability; FlashSale manifests."),
    paths(
        venues::create,
        venues::list,
        venues::read,
        venues::update,
        venues::delete,
        events::create,
        events::browse,
        events::read,
        events::update,
        events::delete,
        events::publish,
        events::cancel,
        shows::create,
        shows::read,
        shows::update,
        shows::delete,
        shows::put_zone,
        shows::delete_zone,
        shows::flashsale,
        catalog::own_events,
        catalog::own_venues,
        catalog::sale_terms,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Every ticket route, and `/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .merge(venues::router())
        .merge(events::router())
        .merge(shows::router())
        .merge(catalog::router())
}

/// An id from a path segment; anything else is an unknown object.
pub fn parse_id(raw: &str) -> Option<Uuid> {
    raw.parse().ok()
}

/// Keyset cursor of listings ordered by name then id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameCursor {
    /// Name of the last item.
    pub name: String,
    /// Id of the last item.
    pub id: Uuid,
}

impl NameCursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads the text form, naming `cursor` when it is not one.
    pub fn decode(raw: &str) -> Result<Self, TicketError> {
        URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                TicketError::InvalidQuery("cursor", "is not a cursor of this listing".into())
            })
    }
}
