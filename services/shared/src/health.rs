//! `/healthz`, `/readyz` and `/metrics` for every service.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Map, Value, json};

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named dependency probe used by `/readyz`.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    probe: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl Check {
    /// A check called `name` that succeeds when `probe` does.
    pub fn new<F, Fut, E>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self {
            name,
            probe: Arc::new(move || {
                let fut = probe();
                Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
            }),
        }
    }
}

impl Check {
    /// PostgreSQL answers `SELECT 1`.
    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new("postgres", move || {
            let pool = pool.clone();
            async move { crate::postgres::ping(&pool).await }
        })
    }

    /// Redis answers `PING`.
    pub fn redis(conn: redis::aio::ConnectionManager) -> Self {
        Self::new("redis", move || {
            let conn = conn.clone();
            async move { crate::redis::ping(&conn).await }
        })
    }

    /// The Kafka cluster answers a metadata request.
    pub fn kafka(producer: rdkafka::producer::FutureProducer) -> Self {
        Self::new("kafka", move || {
            let producer = producer.clone();
            async move { crate::kafka::ping(&producer).await }
        })
    }
}

#[derive(Clone)]
struct OpsState {
    checks: Arc<Vec<Check>>,
    metrics: PrometheusHandle,
}

/// Routes for liveness, readiness (probing each check) and Prometheus metrics.
pub fn router(checks: Vec<Check>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<OpsState>| async move { s.metrics.render() }),
        )
        .with_state(OpsState {
            checks: Arc::new(checks),
            metrics,
        })
}

async fn readyz(State(state): State<OpsState>) -> (StatusCode, Json<Value>) {
    let results = futures::future::join_all(state.checks.iter().map(|check| async move {
        let outcome = tokio::time::timeout(Duration::from_secs(3), (check.probe)()).await;
        let outcome = outcome.unwrap_or_else(|_| Err("timed out".to_owned()));
        (check.name, outcome)
    }))
    .await;
    let mut all_ok = true;
    let mut body = Map::new();
    for (name, outcome) in results {
        match outcome {
            Ok(()) => body.insert(name.into(), json!("ok")),
            Err(reason) => {
                all_ok = false;
                tracing::warn!(dependency = name, %reason, "readiness check failed");
                body.insert(name.into(), json!("unavailable"))
            }
        };
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if all_ok {"ready"} else {"not_ready"}, "checks": body})),
    )
}
