//! The application state shared by handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::{auth::TokenVerifier, batching::BatchPublisher, sales::Sales};
use sqlx::PgPool;

use crate::{inventory::Inventory, queue::Queue};

/// Built once at start, cloned into each handler.
#[derive(Clone)]
pub struct AppState {
    /// Live sale state.
    pub inventory: Inventory,
    /// Booking events out.
    pub publisher: BatchPublisher,
    /// The recorded state.
    pub db: PgPool,
    /// Access-token verification.
    pub verifier: Arc<TokenVerifier>,
    /// Sales served.
    pub sales: Sales,
    /// The virtual queues.
    pub queue: Queue,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}
