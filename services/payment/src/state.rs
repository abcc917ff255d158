//! The application state shared by handlers and workers.

use std::sync::Arc;

use axum::extract::FromRef;
use shared::{auth::TokenVerifier, sales::Sales};
use sqlx::PgPool;

use crate::{booking_client::BookingClient, config::PaymentConfig, psp::Psp};

/// Built once at start.
#[derive(Clone)]
pub struct AppState {
    /// The `payment` schema.
    pub db: PgPool,
    /// The payment service provider.
    pub psp: Arc<dyn Psp>,
    /// Booking, for reading reservations.
    pub booking: BookingClient,
    /// Access-token verification.
    pub verifier: Arc<TokenVerifier>,
    /// Sales served.
    pub sales: Sales,
    /// Settings.
    pub config: Arc<PaymentConfig>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}
