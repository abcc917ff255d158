//! Public availability of a sale: per zone available / held / sold.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};
use serde::Serialize;

use crate::{
    error::BookingError, inventory::ZoneAvailability, routes::reservations::served_sale,
    state::AppState,
};

/// Availability of one sale.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// Sale id.
    pub sale: String,
    /// Per zone.
    pub zones: Vec<ZoneAvailability>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/sales/{sale}/availability", get(availability))
}

/// Live seat counts per zone (public).
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/availability", tag = "sales",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 200, body = Availability),
        (status = 404, description = "Unknown sale", body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale))]
pub async fn availability(
    State(state): State<AppState>,
    Path(sale): Path<String>,
) -> Result<Json<Availability>, BookingError> {
    let sale = served_sale(&state, &sale)?;
    let zones = state
        .inventory
        .availability(&sale)
        .await?
        .ok_or(BookingError::SaleNotFound)?;
    Ok(Json(Availability {
        sale: sale.to_string(),
        zones,
    }))
}
