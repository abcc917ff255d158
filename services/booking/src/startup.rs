//! Building the application (clients, migrations, listener) and running it until shutdown.

use std::sync::Arc;

use anyhow::Context;
use shared::{
    auth::TokenVerifier,
    batching::BatchPublisher,
    consume::Subscription,
    events::{bookings_topic, payments_topic},
    health::{self, Check},
    kafka::EventPublisher,
    sales::Sales,
    server,
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    config::BookingConfig,
    confirmer,
    inventory::Inventory,
    metrics::ReserveMetrics,
    queue::{Queue, feed, store::QueueStore},
    recorder, relay, routes,
    state::{AppState, Components},
    sweeper,
};

/// Booking's migrations (schema `booking`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/booking");

/// The schema booking owns.
pub const SCHEMA: &str = "booking";

/// A built, bound, not yet running booking service.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: BookingConfig,
    router: axum::Router,
}

impl Application {
    /// Connects to the backing services, migrates, and binds the listener.
    pub async fn build(config: BookingConfig) -> anyhow::Result<Self> {
        let db = config.postgres.pool(SCHEMA).context("DATABASE_URL")?;
        if config.migrate {
            shared::postgres::migrate(&db, SCHEMA, &MIGRATOR)
                .await
                .context("migrating the booking schema")?;
        }
        let redis = config
            .redis
            .connect()
            .await
            .context("connecting to Redis")?;
        warn_unless_durable(&redis).await;
        crate::library::library()
            .load(&mut redis.clone())
            .await
            .context("loading booking's Redis function library (needs Redis 7 or later)")?;
        let producer = config
            .kafka
            .producer()
            .context("creating the Kafka producer")?;
        let single = EventPublisher::new(producer.clone(), config.kafka.produce_timeout);
        let publisher = if config.event_batching {
            BatchPublisher::new(single)
        } else {
            BatchPublisher::unbatched(single)
        };
        let verifier = Arc::new(TokenVerifier::new(config.auth.clone()));
        if let Err(err) = verifier.preload().await {
            tracing::warn!(error = %err, "verification keys not loaded yet; retrying on first request");
        }
        // Installed before the state, whose counters register with it.
        let prometheus = shared::metrics::install();
        let state = AppState::new(Components {
            inventory: Inventory::new(redis.clone(), config.idempotency_ttl),
            publisher,
            db: db.clone(),
            verifier,
            sales: Sales::new(config.sales.clone(), redis.clone()),
            queue: Queue {
                store: QueueStore::new(redis.clone()),
                feeds: feed::Feeds::default(),
                stop: CancellationToken::new(),
            },
            reserve_metrics: ReserveMetrics::register(),
        });
        let checks = vec![
            Check::postgres(db.clone()),
            Check::redis(redis.clone()),
            Check::kafka(producer.clone()),
        ];
        let router = server::with_standard_layers(
            routes::router()
                .with_state(state.clone())
                .merge(health::router(checks, prometheus)),
        );
        let listener = server::bind(&config.http).await.with_context(|| {
            format!(
                "binding {}:{} (BOOKING_HOST/BOOKING_PORT)",
                config.http.host, config.http.port
            )
        })?;
        Ok(Self {
            listener,
            state,
            config,
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
            config,
            router,
        } = self;
        let mut tasks = JoinSet::new();
        let instance = format!("booking-{}", uuid::Uuid::new_v4().simple());
        tasks.spawn(sweeper::run(
            state.sales.clone(),
            state.inventory.clone(),
            config.sweep_interval,
            shutdown.clone(),
        ));
        tasks.spawn(relay::run(
            state.sales.clone(),
            state.inventory.connection().clone(),
            state.publisher.clone(),
            instance,
            config.relay_interval,
            shutdown.clone(),
        ));
        tasks.spawn(feed::run(
            state.sales.clone(),
            state.queue.store.clone(),
            state.queue.feeds.clone(),
            config.queue_tick,
            shutdown.clone(),
        ));
        // Event streams never end on their own; they end when the service starts stopping, so
        // the graceful shutdown is not held up by them.
        tasks.spawn({
            let (shutdown, streams) = (shutdown.clone(), state.queue.stop.clone());
            async move {
                shutdown.cancelled().await;
                streams.cancel();
            }
        });
        let recorder_consumer = config
            .kafka
            .consumer(&config.recorder_group)
            .context("creating the recorder consumer")?;
        tasks.spawn(recorder::run(
            Subscription::new(recorder_consumer, state.sales.clone(), bookings_topic),
            state.db.clone(),
            shutdown.clone(),
        ));
        let confirmer_consumer = config
            .kafka
            .consumer(&config.confirmer_group)
            .context("creating the confirmer consumer")?;
        tasks.spawn(confirmer::run(
            Subscription::new(confirmer_consumer, state.sales.clone(), payments_topic),
            state.inventory.clone(),
            shutdown.clone(),
        ));
        tracing::info!(port = listener.local_addr()?.port(), "booking listening");
        let served = server::serve(listener, router, shutdown.clone()).await;
        shutdown.cancel();
        server::join_within_grace(tasks).await;
        state.publisher.flush(server::SHUTDOWN_GRACE);
        tracing::info!("booking stopped");
        served.context("serving HTTP")
    }
}

/// Holds live only in Redis: without an append-only log a Redis restart forgets acknowledged holds.
async fn warn_unless_durable(redis: &redis::aio::ConnectionManager) {
    let mut conn = redis.clone();
    let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut conn)
        .await;
    if let Ok(reply) = reply
        && reply.get(1).map(String::as_str) == Some("no")
    {
        tracing::warn!(
            "Redis runs without appendonly: a Redis restart would lose live holds; enable appendonly in production"
        );
    }
}
