//! Auth's errors and their problem+json rendering.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::problem::Problem;

/// Everything an auth request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong email or password (deliberately not saying which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many attempts.
    #[error("too many attempts")]
    Throttled(u64),
    /// The refresh token is unknown, expired or revoked.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// An already-rotated refresh token was presented; its family is revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// The current password given to change the password is wrong.
    #[error("current password is wrong")]
    WrongCurrentPassword,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Unknown user.
    #[error("unknown user")]
    UserNotFound,
    /// No signing key is loaded.
    #[error("no signing key")]
    NoSigningKey,
    /// PostgreSQL failed.
    #[error("database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else internal.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

impl AuthError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled(_) => "too_many_attempts",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::WrongCurrentPassword => "wrong_current_password",
            Self::Forbidden => "forbidden",
            Self::UserNotFound => "user_not_found",
            Self::NoSigningKey => "signing_key_unavailable",
            Self::Database(_) => "database_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let code = self.code();
        metrics::counter!("auth_errors_total", "code" => code).increment(1);
        let problem = match &self {
            Self::InvalidCredentials => {
                Problem::unauthenticated(code, "the email or password is wrong")
            }
            Self::Throttled(seconds) => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, code, "Too many attempts")
                    .with_detail("too many login attempts; wait before trying again")
                    .with_retry_after(*seconds)
            }
            Self::InvalidRefreshToken => {
                Problem::unauthenticated(code, "the refresh token is invalid, expired or revoked")
            }
            Self::RefreshTokenReused => Problem::unauthenticated(
                code,
                "this refresh token was already used; the session has been revoked, log in again",
            ),
            Self::WrongCurrentPassword => Problem::new(StatusCode::FORBIDDEN, code, "Forbidden")
                .with_field("currentPassword", "is wrong"),
            Self::Forbidden => Problem::new(StatusCode::FORBIDDEN, code, "Forbidden")
                .with_detail("this needs the admin role"),
            Self::UserNotFound => Problem::not_found(code, "no such user"),
            Self::NoSigningKey => Problem::unavailable(code, "no signing key is loaded"),
            Self::Database(err) => {
                tracing::error!(error = %err, "database failed");
                Problem::unavailable(code, "the database is unavailable; retry")
            }
            Self::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}
