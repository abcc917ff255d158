//! The application state shared by handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::auth::TokenVerifier;
use sqlx::PgPool;

use crate::{availability::BookingClient, cache::Cache};

/// Built once at start.
#[derive(Clone)]
pub struct AppState {
    /// The `ticket` schema.
    pub db: PgPool,
    /// Public-read cache.
    pub cache: Cache,
    /// Live availability from booking.
    pub booking: BookingClient,
    /// Verifies access tokens.
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}
