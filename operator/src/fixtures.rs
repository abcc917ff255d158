//! Test fixtures: FlashSale builders that chain, and a mocked API server that checks each call
//! of an expected sequence and answers as the API server would.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, Request, Response, StatusCode};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff};
use kube::{Client, Resource, ResourceExt, client::Body};
use serde_json::{Value, json};
use shared::{config::Env, kafka::KafkaConfig, redis::RedisConfig};

use crate::{
    backend::Backend,
    config::OperatorConfig,
    controller::{Context, FIELD_MANAGER, FINALIZER},
    crd::{CleanupPolicy, FlashSale, FlashSaleStatus},
};

impl FlashSale {
    /// A valid, open-now FlashSale in namespace `default`, as read from the API (uid, generation).
    pub fn test(sale: &str) -> Self {
        let mut fs: FlashSale = serde_json::from_value(json!({
            "apiVersion": "booking-rush.dev/v1alpha1",
            "kind": "FlashSale",
            "metadata": {
                "name": sale,
                "namespace": "default",
                "uid": uuid::Uuid::new_v4().to_string(),
                "generation": 1
            },
            "spec": {
                "saleId": sale,
                "startsAt": "2020-01-01T00:00:00Z",
                "endsAt": "2099-01-01T00:00:00Z",
                "holdTtlSeconds": 300,
                "partitions": 2,
                "zones": [
                    { "id": "floor", "seats": 100, "priceMinor": 5000, "currency": "EUR", "perUserCap": 4 },
                    { "id": "vip", "seats": 10, "priceMinor": 20000, "currency": "EUR", "perUserCap": 2 }
                ]
            }
        }))
        .expect("test FlashSale");
        fs.meta_mut().namespace = Some("default".into());
        fs
    }

    /// With the operator's finalizer, as after the first reconciliation.
    pub fn finalized(mut self) -> Self {
        self.finalizers_mut().push(FINALIZER.to_owned());
        self
    }

    /// Being deleted since `ago`.
    pub fn deleting_since(mut self, ago: Duration) -> Self {
        let since = jiff::Timestamp::now() - jiff::SignedDuration::try_from(ago).expect("duration");
        self.meta_mut().deletion_timestamp = Some(Time(since));
        self
    }

    /// With this cleanup policy.
    pub fn cleanup(mut self, policy: CleanupPolicy) -> Self {
        self.spec.cleanup_policy = policy;
        self
    }

    /// With the booking workload autoscaled between `min` and `max`.
    pub fn booking_autoscaled(mut self, min: i32, max: i32) -> Self {
        self.spec.booking.autoscaling.enabled = true;
        self.spec.booking.autoscaling.min_replicas = min;
        self.spec.booking.autoscaling.max_replicas = max;
        self
    }

    /// Suspended.
    pub fn suspended(mut self) -> Self {
        self.spec.suspend = true;
        self
    }

    /// With a zone listed twice, which only the operator's validation catches.
    pub fn with_duplicate_zone(mut self) -> Self {
        let zone = self.spec.sale.zones[0].clone();
        self.spec.sale.zones.push(zone);
        self
    }

    /// With `seats` in the first zone, as a new generation of the spec.
    pub fn with_first_zone_seats(mut self, seats: u32) -> Self {
        self.spec.sale.zones[0].seats = seats;
        self.metadata.generation = self.metadata.generation.map(|g| g + 1);
        self
    }

    /// With this status.
    pub fn with_status(mut self, status: FlashSaleStatus) -> Self {
        self.status = Some(status);
        self
    }
}

/// A backend nothing answers for.
pub fn unreachable_backend() -> Backend {
    let env = Env::default()
        .with("REDIS_URL", "redis://127.0.0.1:1")
        .with("KAFKA_BROKERS", "127.0.0.1:1");
    Backend::new(
        RedisConfig::from_env(&env).expect("REDIS_URL"),
        KafkaConfig::from_env(&env).expect("KAFKA_BROKERS"),
        Duration::from_secs(5),
    )
}

type ApiServerHandle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The mocked API server: each `handle_*` expects the next call to be a particular one.
pub struct ApiServerVerifier(ApiServerHandle);

/// One call the mocked API server answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// The query string.
    pub query: String,
    /// The JSON body (null when empty).
    pub body: Value,
}

impl Context {
    /// A context whose client talks to a mocked API server, with this backend.
    pub fn test(backend: Backend) -> (Arc<Self>, ApiServerVerifier) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let mut config = OperatorConfig::from_env(&Env::default()).expect("default config");
        config.cleanup_timeout = Duration::from_secs(300);
        let ctx = Context::new(client, backend, Arc::new(config));
        (Arc::new(ctx), ApiServerVerifier(handle))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("response")
}

impl ApiServerVerifier {
    async fn next(&mut self, respond: impl FnOnce(&Call) -> (StatusCode, Value)) -> Call {
        let (request, send) = self
            .0
            .next_request()
            .await
            .expect("the reconciler made no further call");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let call = Call {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("JSON request body")
            },
        };
        let (status, response) = respond(&call);
        send.send_response(json_response(status, &response));
        call
    }

    /// Expects the JSON patch adding the finalizer.
    pub async fn handle_finalizer_add(&mut self, fs: &FlashSale) -> Call {
        let answer = fs.clone().finalized();
        let call = self
            .next(|_| (StatusCode::OK, serde_json::to_value(&answer).expect("fs")))
            .await;
        assert_eq!(call.method, Method::PATCH);
        assert_eq!(call.path, flashsale_path(fs));
        assert_eq!(
            call.body[1],
            json!({ "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] })
        );
        call
    }

    /// Expects the JSON patch removing the finalizer.
    pub async fn handle_finalizer_removal(&mut self, fs: &FlashSale) -> Call {
        let answer = serde_json::to_value(fs).expect("fs");
        let call = self.next(|_| (StatusCode::OK, answer)).await;
        assert_eq!(call.method, Method::PATCH);
        assert_eq!(call.path, flashsale_path(fs));
        assert_eq!(
            call.body[1],
            json!({ "op": "remove", "path": "/metadata/finalizers/0" })
        );
        call
    }

    /// Expects a server-side apply of `kind` named `name`; answers with the applied object,
    /// plus `status` when given.
    pub async fn handle_apply(
        &mut self,
        api: &str,
        plural: &str,
        name: &str,
        status: Option<Value>,
    ) -> Call {
        let call = self
            .next(|call| {
                let mut answer = call.body.clone();
                if let Some(status) = status {
                    answer["status"] = status;
                }
                (StatusCode::OK, answer)
            })
            .await;
        assert_eq!(call.method, Method::PATCH, "{call:?}");
        assert_eq!(
            call.path,
            format!("{api}/namespaces/default/{plural}/{name}")
        );
        assert!(
            call.query
                .contains(&format!("fieldManager={FIELD_MANAGER}")),
            "{}",
            call.query
        );
        assert!(call.query.contains("force=true"), "{}", call.query);
        call
    }

    /// Expects the deletion of an HPA that does not exist.
    pub async fn handle_hpa_delete(&mut self, name: &str) -> Call {
        let call = self
            .next(|_| {
                (
                    StatusCode::NOT_FOUND,
                    json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("horizontalpodautoscalers \"{name}\" not found"),
                        "reason": "NotFound", "code": 404
                    }),
                )
            })
            .await;
        assert_eq!(call.method, Method::DELETE);
        assert_eq!(
            call.path,
            format!("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/{name}")
        );
        call
    }

    /// Expects an event with this reason; returns it.
    pub async fn handle_event(&mut self, reason: &str) -> Call {
        let call = self
            .next(|call| (StatusCode::CREATED, call.body.clone()))
            .await;
        assert_eq!(call.method, Method::POST, "{call:?}");
        assert_eq!(
            call.path,
            "/apis/events.k8s.io/v1/namespaces/default/events"
        );
        assert_eq!(call.body["reason"], reason, "{:#}", call.body);
        call
    }

    /// Expects the status apply; returns the status written.
    pub async fn handle_status(&mut self, fs: &FlashSale) -> FlashSaleStatus {
        let answer = serde_json::to_value(fs).expect("fs");
        let call = self
            .next(|call| {
                let mut answer = answer;
                answer["status"] = call.body["status"].clone();
                (StatusCode::OK, answer)
            })
            .await;
        assert_eq!(call.method, Method::PATCH, "{call:?}");
        assert_eq!(call.path, format!("{}/status", flashsale_path(fs)));
        assert!(
            call.query
                .contains(&format!("fieldManager={FIELD_MANAGER}"))
        );
        serde_json::from_value(call.body["status"].clone()).expect("a FlashSale status")
    }

    /// Expects the owned objects of both workloads in order; `booking_hpa` and `payment_hpa` say
    /// whether an HPA is applied (else deleted); deployments answer with `deployment_status`.
    pub async fn handle_children(
        &mut self,
        sale: &str,
        booking_hpa: bool,
        payment_hpa: bool,
        deployment_status: Option<Value>,
    ) -> Children {
        let config_map = self
            .handle_apply("/api/v1", "configmaps", &format!("{sale}-config"), None)
            .await;
        let mut workloads = Vec::new();
        for (workload, hpa) in [("booking", booking_hpa), ("payment", payment_hpa)] {
            let name = format!("{sale}-{workload}");
            let deployment = self
                .handle_apply(
                    "/apis/apps/v1",
                    "deployments",
                    &name,
                    deployment_status.clone(),
                )
                .await;
            let service = self.handle_apply("/api/v1", "services", &name, None).await;
            let pdb = self
                .handle_apply("/apis/policy/v1", "poddisruptionbudgets", &name, None)
                .await;
            let hpa = if hpa {
                Some(
                    self.handle_apply(
                        "/apis/autoscaling/v2",
                        "horizontalpodautoscalers",
                        &name,
                        None,
                    )
                    .await,
                )
            } else {
                self.handle_hpa_delete(&name).await;
                None
            };
            workloads.push(WorkloadCalls {
                deployment,
                service,
                pdb,
                hpa,
            });
        }
        let payment = workloads.pop().expect("payment");
        let booking = workloads.pop().expect("booking");
        Children {
            config_map,
            booking,
            payment,
        }
    }

    /// Runs `scenario` against this server in a task; await the handle with [`timeout_after`].
    pub fn run<F, Fut, T>(self, scenario: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(scenario(self))
    }
}

/// The applies of one workload.
#[derive(Debug)]
pub struct WorkloadCalls {
    /// The Deployment apply.
    pub deployment: Call,
    /// The Service apply.
    pub service: Call,
    /// The PodDisruptionBudget apply.
    pub pdb: Call,
    /// The HPA apply, when autoscaling is on.
    pub hpa: Option<Call>,
}

/// The applies of one reconciliation.
#[derive(Debug)]
pub struct Children {
    /// The ConfigMap apply.
    pub config_map: Call,
    /// Booking's objects.
    pub booking: WorkloadCalls,
    /// Payment's objects.
    pub payment: WorkloadCalls,
}

fn flashsale_path(fs: &FlashSale) -> String {
    format!(
        "/apis/booking-rush.dev/v1alpha1/namespaces/default/flashsales/{}",
        fs.name_any()
    )
}

/// Waits for the scenario to finish: every expected call happened within the time.
pub async fn timeout_after<T>(seconds: u64, handle: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), handle)
        .await
        .expect("the reconciler did not make every expected call in time")
        .expect("the scenario's expectations held")
}
