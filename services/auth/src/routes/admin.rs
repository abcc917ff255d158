//! Administration: changing a user's role.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::patch,
};
use serde::Deserialize;
use shared::{
    auth::{AuthUser, Role},
    extract::ValidJson,
    problem::ProblemSchema,
};
use uuid::Uuid;

use crate::{error::AuthError, routes::account::UserView, state::AppState, store};

/// A role change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// customer, organizer or admin.
    #[schema(value_type = String, example = "organizer")]
    pub role: Role,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/users/{id}/role", patch(set_role))
}

/// Changes a user's role (admins only). Tokens carry the new role from the user's next refresh or login.
#[utoipa::path(
    patch, path = "/api/v1/auth/users/{id}/role", tag = "admin", request_body = RoleBody,
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn set_role(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<RoleBody>,
) -> Result<Json<UserView>, AuthError> {
    if caller.role != Role::Admin {
        return Err(AuthError::Forbidden);
    }
    let id: Uuid = id.parse().map_err(|_| AuthError::UserNotFound)?;
    let user = store::set_role(&state.db, id, body.role)
        .await?
        .ok_or(AuthError::UserNotFound)?;
    tracing::info!(admin.id = %caller.id, user.id = %id, role = store::role_name(body.role), "role changed");
    Ok(Json(user.into()))
}
