//! Sessions: login, refresh (rotating), logout of this session and of every session.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{
    auth::{AuthUser, Claims},
    extract::ValidJson,
    problem::ProblemSchema,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    domain::Email,
    error::AuthError,
    password,
    state::AppState,
    store::{self, UserRow},
    throttle::Verdict,
};

/// Credentials.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh token presented back.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    pub refresh_token: String,
}

/// A fresh access token and its rotating refresh token.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Opaque; exchange it once at `/api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: u64,
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/logout-all", post(logout_everywhere))
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues an access token and a refresh token in `family`.
async fn issue(
    state: &AppState,
    user: &UserRow,
    family: Uuid,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<TokenPair, AuthError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let refresh_token = URL_SAFE_NO_PAD.encode(raw);
    let config = &state.config;
    let refresh_expires = OffsetDateTime::now_utc() + config.refresh_ttl;
    store::insert_refresh(
        &mut tx,
        family,
        user.user_id,
        &hash_token(&refresh_token),
        refresh_expires,
    )
    .await?;
    let signer = state.keys.signer().await.ok_or(AuthError::NoSigningKey)?;
    let claims = Claims::new(
        user.user_id,
        user.role(),
        config.access_ttl,
        &config.issuer,
        &config.audience,
    );
    let access_token = signer
        .sign(&claims)
        .map_err(|e| AuthError::Internal(e.into()))?;
    tx.commit().await?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: config.access_ttl.as_secs(),
        refresh_token,
        refresh_expires_in: config.refresh_ttl.as_secs(),
    })
}

/// Logs in. Unknown email and wrong password get the same answer after the same work.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "session", request_body = LoginBody,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = ProblemSchema, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<LoginBody>,
) -> Result<Json<TokenPair>, AuthError> {
    let ip = shared::net::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    let email = Email::parse(&body.email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| body.email.trim().to_lowercase());
    if let Verdict::Wait(seconds) = state.throttle.check(&email, ip).await {
        metrics::counter!("auth_logins_total", "outcome" => "throttled").increment(1);
        return Err(AuthError::Throttled(seconds));
    }
    let user = store::user_by_email(&state.db, &email).await?;
    let ok = password::verify(
        body.password,
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    let Some(user) = user.filter(|_| ok) else {
        state.throttle.failed(&email).await;
        metrics::counter!("auth_logins_total", "outcome" => "failed").increment(1);
        return Err(AuthError::InvalidCredentials);
    };
    state.throttle.succeeded(&email).await;
    metrics::counter!("auth_logins_total", "outcome" => "ok").increment(1);
    let tx = state.db.begin().await?;
    Ok(Json(issue(&state, &user, Uuid::now_v7(), tx).await?))
}

/// Exchanges a refresh token for a new pair. A token already exchanged revokes its whole family.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "session", request_body = RefreshBody,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Invalid, expired, revoked or reused", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RefreshBody>,
) -> Result<Json<TokenPair>, AuthError> {
    let mut tx = state.db.begin().await?;
    let row = store::lock_refresh(&mut tx, &hash_token(&body.refresh_token))
        .await?
        .ok_or(AuthError::InvalidRefreshToken)?;
    if row.used_at.is_some() {
        let revoked = store::revoke_family(&mut *tx, row.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user.id = %row.user_id, family = %row.family_id, revoked, "refresh token reused; session family revoked");
        metrics::counter!("auth_refresh_reuse_total").increment(1);
        return Err(AuthError::RefreshTokenReused);
    }
    if row.revoked_at.is_some() || row.expires_at <= OffsetDateTime::now_utc() {
        return Err(AuthError::InvalidRefreshToken);
    }
    store::mark_used(&mut tx, row.token_id).await?;
    let user = store::user_by_id(&state.db, row.user_id)
        .await?
        .ok_or(AuthError::InvalidRefreshToken)?;
    Ok(Json(issue(&state, &user, row.family_id, tx).await?))
}

/// Ends this session: its refresh token (and any rotated from it) stop working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "session", request_body = RefreshBody,
    responses((status = 204), (status = 401, body = ProblemSchema, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<RefreshBody>,
) -> Result<StatusCode, AuthError> {
    match store::refresh_owner(&state.db, &hash_token(&body.refresh_token)).await? {
        Some((family, owner)) if owner == user.id => {
            store::revoke_family(&state.db, family).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(AuthError::InvalidRefreshToken),
    }
}

/// Ends every session of the caller. Access tokens already issued live out their short TTL.
#[utoipa::path(
    post, path = "/api/v1/auth/logout-all", tag = "session",
    responses((status = 204), (status = 401, body = ProblemSchema, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn logout_everywhere(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, AuthError> {
    let revoked = store::revoke_user(&state.db, user.id).await?;
    tracing::info!(user.id = %user.id, revoked, "logged out everywhere");
    Ok(StatusCode::NO_CONTENT)
}
