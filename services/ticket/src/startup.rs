//! Building the ticket service and running it until shutdown.

use std::sync::Arc;

use anyhow::Context;
use shared::{
    auth::TokenVerifier,
    health::{self, Check},
    server,
};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    availability::BookingClient, cache::Cache, config::TicketConfig, routes, state::AppState,
};

/// The ticket service's migrations (schema `ticket`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/ticket");

/// The schema the ticket service owns.
pub const SCHEMA: &str = "ticket";

/// A built, bound, not yet running ticket service.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Connects, migrates and binds.
    pub async fn build(config: TicketConfig) -> anyhow::Result<Self> {
        let db = config.postgres.pool(SCHEMA).context("DATABASE_URL")?;
        if config.migrate {
            shared::postgres::migrate(&db, SCHEMA, &MIGRATOR)
                .await
                .context("migrating the ticket schema")?;
        }
        let redis = config
            .redis
            .connect()
            .await
            .context("connecting to Redis")?;
        let verifier = Arc::new(TokenVerifier::new(config.auth.clone()));
        if let Err(err) = verifier.preload().await {
            tracing::warn!(error = %err, "verification keys not loaded yet; retrying on first request");
        }
        let state = AppState {
            db: db.clone(),
            cache: Cache::new(
                redis.clone(),
                config.cache_namespace.clone(),
                config.cache_ttl,
            ),
            booking: BookingClient::new(
                config.booking_url.clone(),
                config.booking_timeout,
                config.availability_ttl,
            ),
            verifier,
        };
        let checks = vec![Check::postgres(db), Check::redis(redis)];
        let router = server::with_standard_layers(
            routes::router()
                .with_state(state)
                .merge(health::router(checks, shared::metrics::install())),
        );
        let listener = server::bind(&config.http).await.with_context(|| {
            format!(
                "binding {}:{} (TICKET_HOST/TICKET_PORT)",
                config.http.host, config.http.port
            )
        })?;
        Ok(Self { listener, router })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            port = self.listener.local_addr()?.port(),
            "ticket listening"
        );
        server::serve(self.listener, self.router, shutdown)
            .await
            .context("serving HTTP")?;
        tracing::info!("ticket stopped");
        Ok(())
    }
}
