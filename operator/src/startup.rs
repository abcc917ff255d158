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
                    Err(err) => tracing::debug!(error = %err, "reconciliation not completed"),
                }
            });
        tracing::info!(port = listener.local_addr()?.port(), "operator listening");
        let server = server::serve(listener, router, shutdown.clone());
        let (served, ()) = tokio::join!(server, async {
            controller.await;
            // The controller also stops on its own (e.g. its watch fails for good): stop serving.
            shutdown.cancel();
        });
        tracing::info!("operator stopped");
        served.context("serving HTTP")
    }
}
