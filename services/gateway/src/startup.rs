//! Building the gateway and running it until shutdown.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, routing::any};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use shared::{
    auth::TokenVerifier,
    health::{self, Check},
    server,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::GatewayConfig,
    metrics::ProxyMetrics,
    proxy::{ProxyState, proxy},
    rate_limit::RateLimiter,
};

/// A built, bound, not yet running gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Builds the client pool and binds.
    pub async fn build(config: GatewayConfig) -> anyhow::Result<Self> {
        let verifier = Arc::new(TokenVerifier::new(config.auth.clone()));
        if let Err(err) = verifier.preload().await {
            tracing::warn!(error = %err, "verification keys not loaded yet; retrying on first request");
        }
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        // Idle upstream connections are kept up to what a burst has open (the pool opens one per
        // request in flight); a smaller bound closes and reopens connections all through a rush.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4096)
            .build(connector);
        let redis = config
            .redis
            .connect()
            .await
            .context("connecting to Redis")?;
        let limiter = RateLimiter::new(
            redis.clone(),
            config.limits.clone(),
            config.limit_namespace.clone(),
        );
        // The recorder first: handles registered before it is installed would count nowhere.
        let metrics_handle = shared::metrics::install();
        let state = Arc::new(ProxyState {
            config: Arc::new(config.clone()),
            client,
            verifier,
            limiter,
            metrics: ProxyMetrics::register(),
        });
        let router = server::with_standard_layers(
            Router::new()
                .route("/", any(proxy))
                .route("/{*path}", any(proxy))
                .with_state(state)
                .merge(health::router(vec![Check::redis(redis)], metrics_handle)),
        );
        let router = match cors(&config.cors_origins) {
            Some(layer) => router.layer(layer),
            None => router,
        };
        let listener = server::bind(&config.http).await.with_context(|| {
            format!(
                "binding {}:{} (GATEWAY_HOST/GATEWAY_PORT)",
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
            "gateway listening"
        );
        server::serve(self.listener, self.router, shutdown)
            .await
            .context("serving HTTP")?;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// CORS for the allowed origins only; `None` when no origin is allowed.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                "idempotency-key".parse().unwrap_or(header::ACCEPT),
                "queue-pass".parse().unwrap_or(header::ACCEPT),
            ])
            .expose_headers([header::RETRY_AFTER, header::LOCATION])
            .max_age(Duration::from_secs(600)),
    )
}
