//! Registration and the caller's own account.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use shared::{
    auth::{AuthUser, Role},
    extract::ValidJson,
    problem::{Problem, ProblemSchema},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    domain::{Email, Password, parse_display_name},
    error::AuthError,
    password,
    state::AppState,
    store::{self, UserRow},
};

/// A registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterBody {
    /// Email address.
    pub email: String,
    /// 12-128 characters.
    pub password: String,
    /// Optional display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The answer to a registration: the same whether or not the email was already registered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// What happens next.
    pub message: &'static str,
}

/// An account as its owner sees it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    #[schema(value_type = String, example = "customer")]
    pub role: Role,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.user_id,
            role: row.role(),
            email: row.email,
            display_name: row.display_name,
            created_at: row.created_at,
        }
    }
}

/// A change to the caller's account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMeBody {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New password (needs `currentPassword`).
    #[serde(default)]
    pub new_password: Option<String>,
    /// The current password.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/me", get(me).patch(update_me))
}

fn invalid(field: &str, message: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "Invalid request body",
    )
    .with_field(field, message)
}

/// Registers a customer. The answer never reveals whether the email was already registered.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "account", request_body = RegisterBody,
    responses(
        (status = 202, body = Registered),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RegisterBody>,
) -> Result<(StatusCode, Json<Registered>), axum::response::Response> {
    use axum::response::IntoResponse;
    let email = Email::parse(&body.email).map_err(|m| invalid("email", m).into_response())?;
    let password = Password::parse(&body.password, Some(&email))
        .map_err(|m| invalid("password", m).into_response())?;
    let name = parse_display_name(body.display_name.as_deref().unwrap_or_default())
        .map_err(|m| invalid("displayName", m).into_response())?;
    let hash = password::hash(password.expose().to_owned())
        .await
        .map_err(|e| AuthError::from(e).into_response())?;
    let created = store::insert_user(&state.db, Uuid::now_v7(), email.as_str(), &hash, &name)
        .await
        .map_err(|e| AuthError::from(e).into_response())?;
    metrics::counter!("auth_registrations_total", "outcome" => if created { "created" } else { "existing" }).increment(1);
    Ok((
        StatusCode::ACCEPTED,
        Json(Registered {
            message: "registered; log in with your email and password",
        }),
    ))
}

async fn load(state: &AppState, user: &AuthUser) -> Result<UserRow, AuthError> {
    store::user_by_id(&state.db, user.id)
        .await?
        .ok_or(AuthError::UserNotFound)
}

/// The caller's account.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "account",
    responses((status = 200, body = UserView), (status = 401, body = ProblemSchema, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<UserView>, AuthError> {
    Ok(Json(load(&state, &user).await?.into()))
}

/// Changes the caller's display name or password (a new password ends every other session).
#[utoipa::path(
    patch, path = "/api/v1/auth/me", tag = "account", request_body = UpdateMeBody,
    responses(
        (status = 200, body = UserView),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Wrong current password", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<UpdateMeBody>,
) -> Result<Json<UserView>, axum::response::Response> {
    use axum::response::IntoResponse;
    let current = load(&state, &user)
        .await
        .map_err(IntoResponse::into_response)?;
    let name = body
        .display_name
        .as_deref()
        .map(parse_display_name)
        .transpose()
        .map_err(|m| invalid("displayName", m).into_response())?;
    let mut new_hash = None;
    if let Some(new_password) = &body.new_password {
        let email = Email::parse(&current.email).ok();
        let password = Password::parse(new_password, email.as_ref())
            .map_err(|m| invalid("newPassword", m).into_response())?;
        let given = body.current_password.clone().unwrap_or_default();
        if !password::verify(given, Some(current.password_hash.clone())).await {
            return Err(AuthError::WrongCurrentPassword.into_response());
        }
        new_hash = Some(
            password::hash(password.expose().to_owned())
                .await
                .map_err(|e| AuthError::from(e).into_response())?,
        );
    }
    let updated = store::update_user(&state.db, user.id, name.as_deref(), new_hash.as_deref())
        .await
        .map_err(|e| AuthError::from(e).into_response())?
        .ok_or_else(|| AuthError::UserNotFound.into_response())?;
    if new_hash.is_some() {
        store::revoke_user(&state.db, user.id)
            .await
            .map_err(|e| AuthError::from(e).into_response())?;
    }
    Ok(Json(updated.into()))
}
