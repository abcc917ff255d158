//! Building the auth service and running it until shutdown.

use std::sync::Arc;

use anyhow::Context;
use shared::{
    auth::{AuthConfig, KeySource, TokenVerifier},
    health::{self, Check},
    keys_dir::KeyDir,
    server,
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    config::AuthServiceConfig, keys::KeyRing, routes, state::AppState, throttle::Throttle,
};

/// Auth's migrations (schema `auth`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/auth");

/// The schema auth owns.
pub const SCHEMA: &str = "auth";

/// A built, bound, not yet running auth service.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
}

impl Application {
    /// Connects, migrates, loads the keys and binds.
    pub async fn build(config: AuthServiceConfig) -> anyhow::Result<Self> {
        let db = config.postgres.pool(SCHEMA).context("DATABASE_URL")?;
        if config.migrate {
            shared::postgres::migrate(&db, SCHEMA, &MIGRATOR)
                .await
                .context("migrating the auth schema")?;
        }
        let redis = config
            .redis
            .connect()
            .await
            .context("connecting to Redis")?;
        let keys = KeyRing::open(KeyDir::new(&config.keys_dir)).with_context(|| {
            format!(
                "loading signing keys from {} (AUTH_KEYS_DIR)",
                config.keys_dir.display()
            )
        })?;
        let verifier = Arc::new(TokenVerifier::new(AuthConfig {
            keys: KeySource::Dir(config.keys_dir.clone()),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }));
        let state = AppState {
            db: db.clone(),
            keys,
            verifier,
            throttle: Throttle::new(
                redis.clone(),
                config.throttle_namespace.clone(),
                config.max_failures_per_account,
                config.max_attempts_per_ip,
                config.throttle_window,
            ),
            config: Arc::new(config.clone()),
        };
        let checks = vec![Check::postgres(db.clone()), Check::redis(redis.clone())];
        let router = server::with_standard_layers(
            routes::router()
                .with_state(state.clone())
                .merge(health::router(checks, shared::metrics::install())),
        );
        let listener = server::bind(&config.http).await.with_context(|| {
            format!(
                "binding {}:{} (AUTH_HOST/AUTH_PORT)",
                config.http.host, config.http.port
            )
        })?;
        Ok(Self {
            listener,
            state,
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

    /// Serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            router,
        } = self;
        let mut tasks = JoinSet::new();
        tasks.spawn(
            state
                .keys
                .clone()
                .refresh(state.config.key_reload, shutdown.clone()),
        );
        tracing::info!(port = listener.local_addr()?.port(), "auth listening");
        let served = server::serve(listener, router, shutdown.clone()).await;
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        tracing::info!("auth stopped");
        served.context("serving HTTP")
    }
}
