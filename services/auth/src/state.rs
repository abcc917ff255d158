//! The application state shared by handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::auth::TokenVerifier;
use sqlx::PgPool;

use crate::{config::AuthServiceConfig, keys::KeyRing, throttle::Throttle};

/// Built once at start.
#[derive(Clone)]
pub struct AppState {
    /// The `auth` schema.
    pub db: PgPool,
    /// Signing keys.
    pub keys: KeyRing,
    /// Verifies the access tokens presented to `/me` and admin routes.
    pub verifier: Arc<TokenVerifier>,
    /// Login throttling.
    pub throttle: Throttle,
    /// Settings.
    pub config: Arc<AuthServiceConfig>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}
