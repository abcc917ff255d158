//! The caller's holds and bookings across sales, newest first, paginated by cursor.

use axum::{Json, Router, extract::State, routing::get};
use serde::{Deserialize, Serialize};
use shared::{
    auth::AuthUser,
    extract::{ValidQuery, next_cursor, page_limit},
};
use uuid::Uuid;

use crate::{error::BookingError, routes::reservations::ReservationView, state::AppState, store};

/// Query of the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1-100 (default 20).
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// One page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingPage {
    /// Reservations, newest first.
    pub items: Vec<ReservationView<'static>>,
    /// Cursor of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Uuid>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/me/bookings", get(list))
}

/// The caller's holds and bookings across sales, newest first.
#[utoipa::path(
    get, path = "/api/v1/me/bookings", tag = "reservations",
    params(ListQuery),
    responses(
        (status = 200, body = BookingPage),
        (status = 400, body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
        (status = 401, body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<BookingPage>, axum::response::Response> {
    use axum::response::IntoResponse;
    let limit = page_limit(query.limit).map_err(IntoResponse::into_response)?;
    let mut rows = store::reservations_of_user(&state.db, user.id, query.cursor, limit + 1)
        .await
        .map_err(|e| BookingError::from(e).into_response())?;
    let next_cursor = next_cursor(&mut rows, limit, |r| r.reservation_id);
    Ok(Json(BookingPage {
        items: rows.into_iter().map(ReservationView::from).collect(),
        next_cursor,
    }))
}
