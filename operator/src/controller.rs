//! The reconciler: finalizer first, owned objects applied, inventory and topics provisioned,
//! status computed from what was observed, events on transitions, requeue at the next transition.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::{autoscaling::v2::HorizontalPodAutoscaler, core::v1::ConfigMap};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event as KubeEvent, EventType, Recorder, Reporter},
        finalizer::{self, Event},
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    backend::{Backend, BackendError},
    config::OperatorConfig,
    crd::{CleanupPolicy, FlashSale, FlashSaleStatus, Phase},
    resources::{self, BuildError, SaleObjects, WorkloadObjects},
    status::{self, INVENTORY_READY, Observed, Problem, READY, TOPICS_READY, WorkloadState},
};

/// The finalizer the operator puts on every FlashSale.
pub const FINALIZER: &str = "booking-rush.dev/cleanup";

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "flashsale-operator";

/// Why a reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a call.
    #[error("kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// The finalizer machinery failed (adding, removing, or the wrapped reconciliation).
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The owned objects could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Cleaning up Redis and Kafka failed and the time to retry has not run out.
    #[error("cleanup: {0}")]
    Cleanup(#[source] BackendError),
    /// An object could not be encoded.
    #[error("encoding: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Error {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            Self::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.metric_label()
                }
                _ => "finalizer",
            },
            Self::Build(_) => "build",
            Self::Cleanup(_) => "cleanup",
            Self::Encode(_) => "encode",
        }
    }
}

/// What every reconciliation shares.
#[derive(Clone)]
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Redis and Kafka.
    pub backend: Backend,
    /// The operator's configuration.
    pub config: Arc<OperatorConfig>,
    /// Publishes Kubernetes events.
    pub recorder: Recorder,
}

impl Context {
    /// A context over these clients.
    pub fn new(client: Client, backend: Backend, config: Arc<OperatorConfig>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            backend,
            config,
        }
    }
}

/// Reconciles one FlashSale.
#[tracing::instrument(skip_all, fields(flashsale = %fs.name_any(), namespace = fs.namespace().unwrap_or_default()))]
pub async fn reconcile(fs: Arc<FlashSale>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let namespace = fs
        .namespace()
        .unwrap_or_else(|| ctx.client.default_namespace().to_owned());
    let api: Api<FlashSale> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer::finalizer(&api, FINALIZER, fs, |event| async {
        match event {
            Event::Apply(fs) => apply(&fs, &ctx, &namespace).await,
            Event::Cleanup(fs) => cleanup(&fs, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!("operator_reconciliations_total", "result" => outcome).increment(1);
    metrics::histogram!("operator_reconcile_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    result
}

/// Retries a failed reconciliation: cleanup soon, anything else after a pause.
pub fn error_policy(fs: Arc<FlashSale>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(flashsale = %fs.name_any(), error = %error, "reconciliation failed");
    metrics::counter!("operator_reconcile_errors_total", "error" => error.metric_label())
        .increment(1);
    match error {
        Error::Finalizer(inner) if matches!(inner.as_ref(), finalizer::Error::CleanupFailed(_)) => {
            Action::requeue(Duration::from_secs(15))
        }
        _ => Action::requeue(Duration::from_secs(30)),
    }
}

async fn publish(ctx: &Context, fs: &FlashSale, type_: EventType, reason: &str, note: String) {
    let event = KubeEvent {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &fs.object_ref(&())).await {
        tracing::warn!(error = %err, reason, "event not recorded");
    }
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

async fn apply_object<K>(client: &Client, namespace: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.meta().name.clone().unwrap_or_default();
    let mut body = serde_json::to_value(object)?;
    body["apiVersion"] = json!(K::api_version(&()));
    body["kind"] = json!(K::kind(&()));
    api.patch(&name, &apply_params(), &Patch::Apply(body))
        .await
        .map_err(Error::Kube)
}

async fn apply_workload(
    client: &Client,
    namespace: &str,
    objects: &WorkloadObjects,
) -> Result<WorkloadState, Error> {
    let deployment = apply_object(client, namespace, &objects.deployment).await?;
    apply_object(client, namespace, &objects.service).await?;
    apply_object(client, namespace, &objects.pdb).await?;
    match &objects.hpa {
        Some(hpa) => {
            apply_object(client, namespace, hpa).await?;
        }
        None => {
            // Autoscaling off (or suspended): an HPA left from before must not fight the replicas.
            let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
            let name = objects.deployment.meta().name.clone().unwrap_or_default();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(Error::Kube(err)),
            }
        }
    }
    let status = deployment.status.unwrap_or_default();
    Ok(WorkloadState {
        replicas: status.replicas.unwrap_or_default(),
        ready: status.ready_replicas.unwrap_or_default(),
        available: status.available_replicas.unwrap_or_default(),
    })
}

async fn apply_objects(
    client: &Client,
    namespace: &str,
    objects: &SaleObjects,
) -> Result<(WorkloadState, WorkloadState), Error> {
    apply_object::<ConfigMap>(client, namespace, &objects.config_map).await?;
    let booking = apply_workload(client, namespace, &objects.booking).await?;
    let payment = apply_workload(client, namespace, &objects.payment).await?;
    Ok((booking, payment))
}

fn backend_problem(err: &BackendError) -> Problem {
    Problem::new(err.reason(), err.to_string())
}

/// Checks what the API server's schema and CEL rules cannot: the provisioning crate's rules.
pub fn validate(fs: &FlashSale) -> Result<(), Problem> {
    let mut messages: Vec<String> = match fs.spec.sale.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    // The sale's objects are named after its id: one FlashSale per sale id and namespace.
    if fs.name_any() != fs.spec.sale.sale_id.as_str() {
        messages.push(format!(
            "saleId: must equal metadata.name ({})",
            fs.name_any()
        ));
    }
    for (name, spec) in [("booking", &fs.spec.booking), ("payment", &fs.spec.payment)] {
        let scaling = &spec.autoscaling;
        if scaling.enabled && scaling.min_replicas > scaling.max_replicas {
            messages.push(format!(
                "{name}.autoscaling.minReplicas: must not exceed maxReplicas"
            ));
        }
        if spec.replicas < 0 {
            messages.push(format!("{name}.replicas: must not be negative"));
        }
    }
    if messages.is_empty() {
        Ok(())
    } else {
        Err(Problem::new("InvalidSpec", messages.join("; ")))
    }
}

fn condition_true(fs: &FlashSale, kind: &str) -> bool {
    fs.condition(kind).is_some_and(|c| c.status == "True")
}

async fn apply(fs: &FlashSale, ctx: &Context, namespace: &str) -> Result<Action, Error> {
    let now = OffsetDateTime::now_utc();
    let previous = fs.status.clone();
    let generation = fs.metadata.generation;
    let mut provisioned_generation = previous.as_ref().and_then(|s| s.provisioned_generation);

    let observed = match validate(fs) {
        Err(problem) => Observed {
            now,
            invalid: Some(problem),
            provisioned: None,
            inventory: Ok(Vec::new()),
            topics: Ok(Default::default()),
            booking: WorkloadState::default(),
            payment: WorkloadState::default(),
        },
        Ok(()) => {
            let objects = resources::build(fs, &ctx.config.workloads)?;
            let (booking, payment) = apply_objects(&ctx.client, namespace, &objects).await?;
            let stale = provisioned_generation != generation
                || !condition_true(fs, INVENTORY_READY)
                || !condition_true(fs, TOPICS_READY);
            let provisioned = if stale && !fs.spec.suspend {
                let outcome = ctx.backend.provision(&fs.spec.sale).await;
                if outcome.is_ok() {
                    provisioned_generation = generation;
                }
                Some(outcome.map_err(|e| backend_problem(&e)))
            } else {
                None
            };
            Observed {
                now,
                invalid: None,
                provisioned,
                inventory: ctx
                    .backend
                    .inventory(&fs.spec.sale)
                    .await
                    .map_err(|e| backend_problem(&e)),
                topics: ctx
                    .backend
                    .topic_partitions(&fs.spec.sale.sale_id)
                    .await
                    .map_err(|e| backend_problem(&e)),
                booking,
                payment,
            }
        }
    };

    let status = status::compute(fs, &observed, provisioned_generation);
    if previous.as_ref() != Some(&status) {
        write_status(ctx, fs, namespace, &status).await?;
    }
    announce(ctx, fs, previous.as_ref(), &status).await;
    Ok(next_action(fs, &status, ctx, now))
}

async fn write_status(
    ctx: &Context,
    fs: &FlashSale,
    namespace: &str,
    status: &FlashSaleStatus,
) -> Result<(), Error> {
    let api: Api<FlashSale> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({
        "apiVersion": FlashSale::api_version(&()),
        "kind": FlashSale::kind(&()),
        "status": status,
    });
    api.patch_status(&fs.name_any(), &apply_params(), &Patch::Apply(patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

/// Events for a phase change and for a new reason the sale is not ready.
async fn announce(
    ctx: &Context,
    fs: &FlashSale,
    previous: Option<&FlashSaleStatus>,
    status: &FlashSaleStatus,
) {
    let before = previous.map(|s| s.phase);
    if before != Some(status.phase) {
        let from = before.unwrap_or_default().as_str();
        let to = status.phase.as_str();
        let type_ = if status.phase == Phase::Failed {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, fs, type_, to, format!("phase {from} -> {to}")).await;
    }
    let ready = |s: &FlashSaleStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == READY && c.status == "False")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    if let Some((reason, message)) = ready(status)
        && previous.and_then(ready).map(|(r, _)| r) != Some(reason.clone())
        && !matches!(reason.as_str(), "Progressing" | "Suspended" | "InvalidSpec")
    {
        publish(ctx, fs, EventType::Warning, &reason, message).await;
    }
}

fn next_action(
    fs: &FlashSale,
    status: &FlashSaleStatus,
    ctx: &Context,
    now: OffsetDateTime,
) -> Action {
    let refresh = match status.phase {
        Phase::Failed => return Action::await_change(),
        Phase::Live | Phase::SoldOut => ctx.config.live_refresh,
        Phase::Pending | Phase::Provisioning => ctx.config.live_refresh,
        _ => ctx.config.idle_refresh,
    };
    let wait = status::until_next_transition(fs, now).map_or(refresh, |until| until.min(refresh));
    // A transition exactly now is observed a moment later, not in a tight loop.
    Action::requeue(wait.max(Duration::from_millis(500)))
}

async fn cleanup(fs: &FlashSale, ctx: &Context) -> Result<Action, Error> {
    let sale = &fs.spec.sale.sale_id;
    match fs.spec.cleanup_policy {
        CleanupPolicy::Retain => {
            publish(
                ctx,
                fs,
                EventType::Normal,
                "Retained",
                format!(
                    "cleanupPolicy Retain: the Redis inventory and topics of sale {sale} are kept"
                ),
            )
            .await;
            Ok(Action::await_change())
        }
        CleanupPolicy::Delete => match ctx.backend.delete(sale).await {
            Ok(()) => {
                publish(
                    ctx,
                    fs,
                    EventType::Normal,
                    "CleanedUp",
                    format!("deleted the Redis inventory and topics of sale {sale}"),
                )
                .await;
                Ok(Action::await_change())
            }
            Err(err) => {
                let deleting_for = fs
                    .metadata
                    .deletion_timestamp
                    .as_ref()
                    .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t.0))
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or_default();
                if deleting_for >= ctx.config.cleanup_timeout {
                    publish(
                        ctx,
                        fs,
                        EventType::Warning,
                        "CleanupAbandoned",
                        format!(
                            "gave up deleting the Redis inventory and topics of sale {sale} after {}s ({err}); remove them with `operator deprovision --sale {sale}`",
                            ctx.config.cleanup_timeout.as_secs()
                        ),
                    )
                    .await;
                    Ok(Action::await_change())
                } else {
                    publish(
                        ctx,
                        fs,
                        EventType::Warning,
                        "CleanupFailed",
                        format!("deleting the Redis inventory and topics of sale {sale} failed, retrying: {err}"),
                    )
                    .await;
                    Err(Error::Cleanup(err))
                }
            }
        },
    }
}

// Scenarios against a mocked API server (tower-test), with the real Redis and broker behind
// the backend; one scenario per expected sequence of API calls.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        crd::FlashSaleStatus,
        fixtures::{timeout_after, unreachable_backend},
        status::WORKLOADS_READY,
        testsupport::{PrivateBroker, backend_with_kafka, forget_sale, local_backend, unique_sale},
    };
    use redis::AsyncCommands;
    use serde_json::Value;
    use shared::keys::SaleKeys;

    async fn redis() -> redis::aio::ConnectionManager {
        shared::redis::RedisConfig::from_env(&shared::config::Env::process())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    fn replicas(call: &crate::fixtures::Call) -> &Value {
        &call.body["spec"]["replicas"]
    }

    fn condition<'a>(status: &'a FlashSaleStatus, kind: &str) -> (&'a str, &'a str) {
        let c = status.conditions.iter().find(|c| c.type_ == kind).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[tokio::test]
    async fn a_new_flashsale_gets_the_finalizer_before_anything_else() {
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&unique_sale("fin"));
        let expected = fs.clone();
        let scenario = server.run(|mut s| async move { s.handle_finalizer_add(&expected).await });
        let action = reconcile(Arc::new(fs), ctx).await.unwrap();
        timeout_after(5, scenario).await;
        assert_eq!(action, Action::await_change());
    }

    #[tokio::test]
    async fn children_are_applied_then_the_inventory_is_seeded_then_the_status_is_written() {
        let sale = unique_sale("apply");
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&sale).finalized();
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            let children = s.handle_children(&sale, false, false, None).await;
            let status = s.handle_status(&expected).await;
            s.handle_event("Provisioning").await;
            (children, status)
        });
        let action = reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let (children, status) = timeout_after(30, scenario).await;

        assert_eq!(children.config_map.body["kind"], "ConfigMap");
        assert_eq!(replicas(&children.booking.deployment), 2);
        assert_eq!(replicas(&children.payment.deployment), 2);
        let owner = &children.booking.service.body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], fs.metadata.uid.clone().unwrap().as_str());
        assert_eq!(children.payment.pdb.body["spec"]["maxUnavailable"], 1);

        // The deployments report no available pod yet; the backend was really provisioned.
        assert_eq!(status.phase, Phase::Provisioning);
        assert_eq!(condition(&status, INVENTORY_READY), ("True", "Seeded"));
        assert_eq!(condition(&status, TOPICS_READY), ("True", "Created"));
        assert_eq!(
            condition(&status, WORKLOADS_READY),
            ("False", "Progressing")
        );
        assert_eq!(status.provisioned_generation, Some(1));
        assert_eq!(status.sold_of_capacity.as_deref(), Some("0/110"));
        assert_eq!(action, Action::requeue(ctx_refresh()));
        ctx_cleanup(&fs).await;
    }

    fn ctx_refresh() -> Duration {
        OperatorConfig::from_env(&shared::config::Env::default())
            .unwrap()
            .live_refresh
    }

    /// Forgets the sale's Redis keys; its uniquely named topics stay (see testsupport).
    async fn ctx_cleanup(fs: &FlashSale) {
        forget_sale(&mut redis().await, &fs.spec.sale.sale_id).await;
    }

    #[tokio::test]
    async fn a_sale_whose_pods_are_available_goes_live_and_says_so() {
        let sale = unique_sale("live");
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&sale).finalized();
        let expected = fs.clone();
        let available =
            serde_json::json!({ "replicas": 2, "readyReplicas": 2, "availableReplicas": 2 });
        let scenario = server.run(move |mut s| async move {
            s.handle_children(&sale, false, false, Some(available))
                .await;
            let status = s.handle_status(&expected).await;
            s.handle_event("Live").await;
            status
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let status = timeout_after(30, scenario).await;
        assert_eq!(status.phase, Phase::Live);
        assert_eq!(condition(&status, READY), ("True", "SaleReady"));
        assert_eq!(status.booking_ready_replicas, 2);
        ctx_cleanup(&fs).await;
    }

    #[tokio::test]
    async fn with_autoscaling_on_the_deployment_apply_carries_no_replicas() {
        let sale = unique_sale("hpa");
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&sale).finalized().booking_autoscaled(3, 12);
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            let children = s.handle_children(&sale, true, false, None).await;
            s.handle_status(&expected).await;
            s.handle_event("Provisioning").await;
            children
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let children = timeout_after(30, scenario).await;
        let booking = &children.booking.deployment.body["spec"];
        assert!(booking.get("replicas").is_none(), "{booking:#}");
        let hpa = &children.booking.hpa.unwrap().body["spec"];
        assert_eq!(
            (hpa["minReplicas"].clone(), hpa["maxReplicas"].clone()),
            (3.into(), 12.into())
        );
        assert_eq!(replicas(&children.payment.deployment), 2);
        ctx_cleanup(&fs).await;
    }

    #[tokio::test]
    async fn a_suspended_sale_is_scaled_to_zero_without_touching_its_inventory() {
        let sale = unique_sale("suspend");
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&sale)
            .finalized()
            .booking_autoscaled(2, 5)
            .suspended();
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            let children = s.handle_children(&sale, false, false, None).await;
            let status = s.handle_status(&expected).await;
            s.handle_event("Suspended").await;
            (children, status)
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let (children, status) = timeout_after(30, scenario).await;
        assert_eq!(replicas(&children.booking.deployment), 0);
        assert_eq!(replicas(&children.payment.deployment), 0);
        assert_eq!(status.phase, Phase::Suspended);
        assert_eq!(
            status.provisioned_generation, None,
            "suspension provisions nothing"
        );
        let mut conn = redis().await;
        let meta: bool = conn
            .exists(SaleKeys::new(&fs.spec.sale.sale_id).meta())
            .await
            .unwrap();
        assert!(!meta);
    }

    #[tokio::test]
    async fn an_invalid_spec_gets_a_failed_condition_and_no_children() {
        let (ctx, server) = Context::test(local_backend());
        let fs = FlashSale::test(&unique_sale("invalid"))
            .finalized()
            .with_duplicate_zone();
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            let status = s.handle_status(&expected).await;
            let event = s.handle_event("Failed").await;
            (status, event)
        });
        let action = reconcile(Arc::new(fs), ctx).await.unwrap();
        let (status, event) = timeout_after(5, scenario).await;
        assert_eq!(status.phase, Phase::Failed);
        assert_eq!(condition(&status, READY), ("False", "InvalidSpec"));
        assert!(
            status.conditions[0]
                .message
                .contains("zones[2].id: duplicate zone id")
        );
        assert_eq!(event.body["type"], "Warning");
        assert_eq!(action, Action::await_change());
    }

    #[test]
    fn a_sale_id_other_than_the_name_is_invalid() {
        let mut fs = FlashSale::test("spring");
        assert!(validate(&fs).is_ok());
        fs.metadata.name = Some("autumn".into());
        let problem = validate(&fs).unwrap_err();
        assert_eq!(problem.reason, "InvalidSpec");
        assert_eq!(problem.message, "saleId: must equal metadata.name (autumn)");
    }

    #[tokio::test]
    async fn fewer_seats_than_held_and_sold_are_refused_with_a_condition() {
        let sale = unique_sale("shrink");
        let backend = local_backend();
        let fs = FlashSale::test(&sale).finalized();
        backend.provision(&fs.spec.sale).await.unwrap();
        // Forty floor seats are held by buyers.
        let floor = SaleKeys::new(&fs.spec.sale.sale_id).zone(&fs.spec.sale.zones[0].id);
        let mut conn = redis().await;
        let _: () = redis::pipe()
            .hincr(&floor, "available", -40)
            .hincr(&floor, "held", 40)
            .query_async(&mut conn)
            .await
            .unwrap();
        let live = FlashSaleStatus {
            phase: Phase::Live,
            provisioned_generation: Some(1),
            ..FlashSaleStatus::default()
        };
        let fs = fs.with_status(live).with_first_zone_seats(30);
        let (ctx, server) = Context::test(backend.clone());
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            s.handle_children(&sale, false, false, None).await;
            let status = s.handle_status(&expected).await;
            let warning = s.handle_event("SeatsBelowCommitted").await;
            (status, warning)
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let (status, warning) = timeout_after(30, scenario).await;
        assert_eq!(
            condition(&status, INVENTORY_READY),
            ("False", "SeatsBelowCommitted")
        );
        assert_eq!(
            status.provisioned_generation,
            Some(1),
            "the new generation was not provisioned"
        );
        assert_eq!(warning.body["type"], "Warning");
        let capacity: i64 = conn.hget(&floor, "capacity").await.unwrap();
        assert_eq!(capacity, 100, "the live inventory is untouched");
        ctx_cleanup(&fs).await;
    }

    #[tokio::test]
    async fn deletion_with_the_delete_policy_removes_inventory_and_topics_then_the_finalizer() {
        let broker = PrivateBroker::start();
        let backend = backend_with_kafka(&broker.brokers);
        let fs = FlashSale::test(&unique_sale("delete"))
            .finalized()
            .cleanup(CleanupPolicy::Delete)
            .deleting_since(Duration::from_secs(1));
        backend.provision(&fs.spec.sale).await.unwrap();
        let (ctx, server) = Context::test(backend.clone());
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            s.handle_event("CleanedUp").await;
            s.handle_finalizer_removal(&expected).await;
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        timeout_after(30, scenario).await;
        assert!(backend.inventory(&fs.spec.sale).await.unwrap().is_empty());
        let topics = backend
            .topic_partitions(&fs.spec.sale.sale_id)
            .await
            .unwrap();
        assert!(topics.is_empty(), "{topics:?}");
        let mut conn = redis().await;
        let registered: bool = conn
            .sismember(shared::keys::SALES_REGISTRY, fs.spec.sale.sale_id.as_str())
            .await
            .unwrap();
        assert!(!registered);
    }

    #[tokio::test]
    async fn deletion_with_the_retain_policy_keeps_inventory_and_removes_the_finalizer() {
        let backend = local_backend();
        let fs = FlashSale::test(&unique_sale("retain"))
            .finalized()
            .deleting_since(Duration::from_secs(1));
        assert_eq!(
            fs.spec.cleanup_policy,
            CleanupPolicy::Retain,
            "Retain is the default"
        );
        backend.provision(&fs.spec.sale).await.unwrap();
        let (ctx, server) = Context::test(backend.clone());
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            s.handle_event("Retained").await;
            s.handle_finalizer_removal(&expected).await;
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        timeout_after(30, scenario).await;
        assert_eq!(backend.inventory(&fs.spec.sale).await.unwrap().len(), 2);
        ctx_cleanup(&fs).await;
    }

    #[tokio::test]
    async fn an_unreachable_backend_keeps_the_finalizer_while_cleanup_may_still_succeed() {
        let (ctx, server) = Context::test(unreachable_backend());
        let fs = FlashSale::test(&unique_sale("retry"))
            .finalized()
            .cleanup(CleanupPolicy::Delete)
            .deleting_since(Duration::from_secs(10));
        let scenario = server.run(|mut s| async move { s.handle_event("CleanupFailed").await });
        let result = reconcile(Arc::new(fs.clone()), ctx.clone()).await;
        let event = timeout_after(30, scenario).await;
        assert_eq!(event.body["type"], "Warning");
        let err = result.unwrap_err();
        assert_eq!(err.metric_label(), "cleanup");
        assert_eq!(
            error_policy(Arc::new(fs), &err, ctx),
            Action::requeue(Duration::from_secs(15))
        );
    }

    #[tokio::test]
    async fn an_unreachable_backend_past_the_bound_gets_a_warning_and_the_finalizer_removed() {
        let (ctx, server) = Context::test(unreachable_backend());
        let fs = FlashSale::test(&unique_sale("abandon"))
            .finalized()
            .cleanup(CleanupPolicy::Delete)
            .deleting_since(Duration::from_secs(301));
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            let warning = s.handle_event("CleanupAbandoned").await;
            s.handle_finalizer_removal(&expected).await;
            warning
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let warning = timeout_after(30, scenario).await;
        assert_eq!(warning.body["type"], "Warning");
        let note = warning.body["note"].as_str().unwrap();
        assert!(note.contains("operator deprovision --sale"), "{note}");
    }

    #[tokio::test]
    async fn an_unchanged_status_is_not_written_again() {
        let sale = unique_sale("quiet");
        let backend = local_backend();
        let fs = FlashSale::test(&sale).finalized();
        // First pass: learn the status the operator writes.
        let (ctx, server) = Context::test(backend.clone());
        let expected = fs.clone();
        let scenario = server.run(move |mut s| async move {
            s.handle_children(&expected.spec.sale.sale_id.to_string(), false, false, None)
                .await;
            let status = s.handle_status(&expected).await;
            s.handle_event("Provisioning").await;
            status
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        let status = timeout_after(30, scenario).await;
        // Second pass with that status: children re-applied, no status write, no event.
        let fs = fs.with_status(status);
        let (ctx, server) = Context::test(backend);
        let scenario = server.run(move |mut s| async move {
            s.handle_children(&sale, false, false, None).await;
        });
        reconcile(Arc::new(fs.clone()), ctx).await.unwrap();
        timeout_after(30, scenario).await;
        ctx_cleanup(&fs).await;
    }
}
