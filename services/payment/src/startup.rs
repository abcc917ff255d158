//! Building the application (clients, migrations, listener) and running it until shutdown.

use std::sync::Arc;

use anyhow::Context;
use shared::{
    auth::TokenVerifier,
    consume::Subscription,
    events::bookings_topic,
    health::{self, Check},
    kafka::EventPublisher,
    sales::Sales,
    server,
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    booking_client::BookingClient, bookings, config::PaymentConfig, psp::http::HttpPsp, relay,
    routes, state::AppState, sync,
};

/// Payment's migrations (schema `payment`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/payment");

/// The schema payment owns.
pub const SCHEMA: &str = "payment";

/// A built, bound, not yet running payment service.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    publisher: EventPublisher,
    router: axum::Router,
}

impl Application {
    /// Connects to the backing services, migrates, and binds the listener.
    pub async fn build(config: PaymentConfig) -> anyhow::Result<Self> {
        let db = config.postgres.pool(SCHEMA).context("DATABASE_URL")?;
        if config.migrate {
            shared::postgres::migrate(&db, SCHEMA, &MIGRATOR)
                .await
                .context("migrating the payment schema")?;
        }
        let redis = config
            .redis
            .connect()
            .await
            .context("connecting to Redis")?;
        let producer = config
            .kafka
            .producer()
            .context("creating the Kafka producer")?;
        let publisher = EventPublisher::new(producer.clone(), config.kafka.produce_timeout);
        let verifier = Arc::new(TokenVerifier::new(config.auth.clone()));
        if let Err(err) = verifier.preload().await {
            tracing::warn!(error = %err, "verification keys not loaded yet; retrying on first request");
        }
        let psp = HttpPsp::new(
            &config.psp.url,
            config.psp.api_key.clone(),
            config.psp.timeout,
        )
        .context("PAYMENT_PSP_URL")?;
        let state = AppState {
            db: db.clone(),
            psp: Arc::new(psp),
            booking: BookingClient::new(&config.booking_url, config.booking_timeout),
            verifier,
            sales: Sales::new(config.sales.clone(), redis.clone()),
            config: Arc::new(config),
        };
        let checks = vec![
            Check::postgres(db),
            Check::redis(redis),
            Check::kafka(producer),
        ];
        let router = server::with_standard_layers(
            routes::router()
                .with_state(state.clone())
                .merge(health::router(checks, shared::metrics::install())),
        );
        let http = &state.config.http;
        let listener = server::bind(http).await.with_context(|| {
            format!(
                "binding {}:{} (PAYMENT_HOST/PAYMENT_PORT)",
                http.host, http.port
            )
        })?;
        Ok(Self {
            listener,
            state,
            publisher,
            router,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves and runs the background workers until `shutdown` is cancelled, then stops them all.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            publisher,
            router,
        } = self;
        let config = Arc::clone(&state.config);
        let mut tasks = JoinSet::new();
        if config.relay {
            tasks.spawn(relay::run(
                state.db.clone(),
                publisher.clone(),
                config.relay_interval,
                shutdown.clone(),
            ));
        } else {
            tracing::warn!("PAYMENT_RELAY=false: this process does not publish the outbox");
        }
        tasks.spawn(sync::run(
            state.db.clone(),
            Arc::clone(&state.psp),
            config.sync_interval,
            config.sync_after,
            shutdown.clone(),
        ));
        let consumer = config
            .kafka
            .consumer(&config.bookings_group)
            .context("creating the bookings consumer")?;
        tasks.spawn(bookings::run(
            Subscription::new(consumer, state.sales.clone(), bookings_topic),
            state.db.clone(),
            shutdown.clone(),
        ));
        tracing::info!(port = listener.local_addr()?.port(), "payment listening");
        let served = server::serve(listener, router, shutdown.clone()).await;
        shutdown.cancel();
        server::join_within_grace(tasks).await;
        publisher.flush(server::SHUTDOWN_GRACE);
        tracing::info!("payment stopped");
        served.context("serving HTTP")
    }
}
