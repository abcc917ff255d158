//! The application state shared by handlers.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use shared::{auth::TokenVerifier, batching::BatchPublisher, sales::Sales};
use sqlx::PgPool;

use crate::{inventory::Inventory, metrics::ReserveMetrics, queue::Queue};

/// Built once at start and handed to every request; a clone is one reference count (the router
/// clones the state for each request and each extractor that reads it).
#[derive(Clone)]
pub struct AppState(Arc<Components>);

/// What the handlers work with.
pub struct Components {
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
    /// The reserve path's counters.
    pub reserve_metrics: ReserveMetrics,
}

impl AppState {
    /// Shares `components` with every request.
    pub fn new(components: Components) -> Self {
        Self(Arc::new(components))
    }
}

impl Deref for AppState {
    type Target = Components;

    fn deref(&self) -> &Components {
        &self.0
    }
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}
