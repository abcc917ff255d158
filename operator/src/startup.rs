//! Building the operator and running it until shutdown: the controller and its HTTP endpoints.

use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client,
    api::ListParams,
    runtime::{Controller, watcher},
};
use shared::{
    health::{self, Check},
    server,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    backend::Backend,
    config::OperatorConfig,
    controller::{self, Context},
    crd::FlashSale,
    resources::MANAGER,
};

/// A built, bound, not yet running operator.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    context: Arc<Context>,
}

impl Application {
    /// Checks that the CRD is installed and binds the listener; `backend` connects lazily.
    pub async fn build(
        config: OperatorConfig,
        client: Client,
        backend: Backend,
    ) -> anyhow::Result<Self> {
        let probe: Api<FlashSale> = match &config.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        probe.list(&ListParams::default().limit(1)).await.context(
            "listing FlashSales failed: is the CRD installed (`operator crd | kubectl apply -f -`) and may this account list them?",
        )?;
        let checks = vec![
            Check::new("kubernetes", {
                let client = client.clone();
                move || {
                    let client = client.clone();
                    async move { client.apiserver_version().await.map(|_| ()) }
                }
            }),
            Check::new("redis", {
                let backend = backend.clone();
                move || {
                    let backend = backend.clone();
                    async move { backend.ping_redis().await }
                }
            }),
        ];
        let router =
            server::with_standard_layers(health::router(checks, shared::metrics::install()));
        let listener = server::bind(&config.http).await.with_context(|| {
            format!(
                "binding {}:{} (OPERATOR_HOST/OPERATOR_PORT)",
                config.http.host, config.http.port
            )
        })?;
        let context = Arc::new(Context::new(client, backend, Arc::new(config)));
        Ok(Self {
            listener,
            router,
            context,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Runs the controller and the HTTP endpoints until `shutdown` is cancelled, then lets
    /// reconciliations in flight finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            context,
        } = self;
        let client = context.client.clone();
        let grace = context.config.shutdown_grace;
        let (flashsales, deployments): (Api<FlashSale>, Api<Deployment>) =
            match &context.config.namespace {
                Some(ns) => (
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                ),
                None => (Api::all(client.clone()), Api::all(client.clone())),
            };
        let owned =
            watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
        let stop = shutdown.clone();
        let controller = Controller::new(flashsales, watcher::Config::default().any_semantic())
            .owns(deployments, owned)
            .graceful_shutdown_on(async move { stop.cancelled().await })
            .run(controller::reconcile, controller::error_policy, context)
            .for_each(|result| async move {
                match result {
                    Ok((object, _)) => tracing::debug!(flashsale = %object.name, "reconciled"),
                    // Reconciliation errors are logged by the error policy; a failing watch is not.
                    Err(kube::runtime::controller::Error::QueueError(err)) => {
                        tracing::warn!(error = %err, "watching FlashSales or Deployments failed")
                    }
                    Err(err) => tracing::debug!(error = %err, "reconciliation not completed"),
                }
            });
        tracing::info!(port = listener.local_addr()?.port(), "operator listening");
        let server = server::serve(listener, router, shutdown.clone());
        let stopped = async {
            tokio::select! {
                () = controller => {}
                // Reconciliations in flight get the grace period; a controller still waiting
                // for an unreachable API server is dropped then.
                () = async {
                    shutdown.cancelled().await;
                    tokio::time::sleep(grace).await;
                } => tracing::warn!("the controller did not stop within the grace period"),
            }
            // The controller also stops on its own (e.g. its watch fails for good): stop serving.
            shutdown.cancel();
        };
        let (served, ()) = tokio::join!(server, stopped);
        tracing::info!("operator stopped");
        served.context("serving HTTP")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{Request, Response, StatusCode};
    use kube::client::Body;
    use serde_json::json;
    use shared::config::Env;

    use super::*;
    use crate::testsupport::local_backend;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    fn config() -> OperatorConfig {
        let env = Env::default()
            .with("OPERATOR_PORT", "0")
            .with("OPERATOR_SHUTDOWN_GRACE_MS", "500");
        OperatorConfig::from_env(&env).unwrap()
    }

    /// Answers the next call with `status` and `body`, returning its path.
    async fn answer(handle: &mut Handle, status: StatusCode, body: serde_json::Value) -> String {
        let (request, send) = handle.next_request().await.expect("a call");
        let path = request.uri().path().to_owned();
        send.send_response(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
        path
    }

    fn mock() -> (Client, Handle) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (Client::new(service, "default"), handle)
    }

    #[tokio::test]
    async fn building_without_the_crd_installed_says_how_to_install_it() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            answer(
                &mut handle,
                StatusCode::NOT_FOUND,
                json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource" }),
            )
            .await
        });
        let err = Application::build(config(), client, local_backend())
            .await
            .err()
            .expect("build fails");
        assert_eq!(
            server.await.unwrap(),
            "/apis/booking-rush.dev/v1alpha1/flashsales"
        );
        assert!(
            format!("{err:#}").contains("is the CRD installed"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn the_operator_serves_health_readiness_and_metrics_and_stops_on_shutdown() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let list = json!({ "apiVersion": "booking-rush.dev/v1alpha1", "kind": "FlashSaleList",
                               "metadata": { "resourceVersion": "1" }, "items": [] });
            answer(&mut handle, StatusCode::OK, list).await;
            // Nothing else is answered: the API server then looks unreachable.
        });
        let app = Application::build(config(), client, local_backend())
            .await
            .unwrap();
        server.await.unwrap();
        let port = app.port();
        assert_ne!(port, 0);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let http = reqwest::Client::new();
        let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

        let health = http.get(url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let metrics = http.get(url("/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        let ready = http.get(url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503, "the API server does not answer");
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["checks"]["kubernetes"], "unavailable");
        assert_eq!(body["checks"]["redis"], "ok");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("stops within the grace period")
            .unwrap()
            .unwrap();
    }
}
