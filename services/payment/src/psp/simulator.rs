//! The built-in PSP simulator, the default provider: a Stripe-like HTTP API with idempotency
//! keys, asynchronous authorise and capture, HMAC-signed webhooks retried until acknowledged, and
//! configurable latency, decline rate and failure modes (slow answers that time the caller out,
//! duplicate webhooks, out-of-order webhooks). Test payment methods force a behaviour per charge:
//! `pm_card_visa` succeeds, `pm_card_declined` is declined, `pm_card_timeout` answers its first
//! call too late, `pm_card_duplicate_webhooks` and `pm_card_out_of_order_webhooks` misbehave as
//! named. It keeps its state in memory: it plays one PSP account, run it once per environment.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shared::{
    config::{ConfigError, Env, HttpConfig},
    extract::ValidJson,
    problem::Problem,
    server,
};
use tokio::{
    net::TcpListener,
    sync::{Mutex, mpsc},
};
use tokio_util::{sync::CancellationToken, time::DelayQueue};
use uuid::Uuid;

use super::{
    Charge, ChargeStatus, CreateCharge, CreateRefund, Event, EventKind, Refund, RefundStatus,
    signature,
};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Listener.
    pub http: HttpConfig,
    /// The API key callers must present as a bearer token.
    pub api_key: SecretString,
    /// The secret webhooks are signed with.
    pub webhook_secret: SecretString,
    /// Where webhooks go; `{sale}` is replaced by the charge's sale.
    pub webhook_url: String,
    /// Shortest time to decide (and again to capture) a charge, or to settle a refund.
    pub latency_min: Duration,
    /// Longest such time.
    pub latency_max: Duration,
    /// Share of charges declined, 0 to 1.
    pub decline_rate: f64,
    /// Share of create calls answered only after `slow_answer`.
    pub timeout_rate: f64,
    /// How late a slow answer comes.
    pub slow_answer: Duration,
    /// Share of charges whose webhooks are each delivered twice.
    pub duplicate_rate: f64,
    /// Share of charges whose `charge.captured` arrives before `charge.authorized`.
    pub out_of_order_rate: f64,
    /// Deliveries of one webhook before giving up.
    pub webhook_attempts: u32,
    /// Wait before the first redelivery; it doubles each time.
    pub webhook_retry: Duration,
}

fn rate(env: &Env, name: &str) -> Result<f64, ConfigError> {
    let value: f64 = env.parse_or(name, 0.0)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            name: name.into(),
            reason: format!("{value} is not between 0 and 1"),
        })
    }
}

impl SimulatorConfig {
    /// Reads `PSP_*` with local defaults (secrets shared with payment through `.dev/psp/`).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let latency = env.string_or("PSP_LATENCY_MS", "50-200");
        let bad_latency = || ConfigError {
            name: "PSP_LATENCY_MS".into(),
            reason: format!("{latency:?} is not milliseconds or a range like 50-200"),
        };
        let (min, max) = match latency.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u64>().map_err(|_| bad_latency())?,
                b.trim().parse::<u64>().map_err(|_| bad_latency())?,
            ),
            None => {
                let ms = latency.trim().parse::<u64>().map_err(|_| bad_latency())?;
                (ms, ms)
            }
        };
        if min > max {
            return Err(bad_latency());
        }
        Ok(Self {
            http: HttpConfig::from_env(env, "PSP", 8085)?,
            api_key: env.secret_or_local_file("PSP_API_KEY", ".dev/psp/api-key")?,
            webhook_secret: env
                .secret_or_local_file("PSP_WEBHOOK_SECRET", ".dev/psp/webhook-secret")?,
            webhook_url: env.string_or(
                "PSP_WEBHOOK_URL",
                "http://127.0.0.1:8084/api/v1/sales/{sale}/payments/webhook",
            ),
            latency_min: Duration::from_millis(min),
            latency_max: Duration::from_millis(max),
            decline_rate: rate(env, "PSP_DECLINE_RATE")?,
            timeout_rate: rate(env, "PSP_TIMEOUT_RATE")?,
            slow_answer: env.millis_or("PSP_SLOW_ANSWER_MS", 10_000)?,
            duplicate_rate: rate(env, "PSP_DUPLICATE_WEBHOOK_RATE")?,
            out_of_order_rate: rate(env, "PSP_OUT_OF_ORDER_RATE")?,
            webhook_attempts: env.parse_or("PSP_WEBHOOK_ATTEMPTS", 12)?,
            webhook_retry: env.millis_or("PSP_WEBHOOK_RETRY_MS", 250)?,
        })
    }
}

/// How one charge misbehaves, decided when it is created.
#[derive(Debug, Clone, Copy, Default)]
struct Quirks {
    decline: bool,
    slow_first_answer: bool,
    duplicate_webhooks: bool,
    out_of_order: bool,
}

struct ChargeRecord {
    charge: Charge,
    request: CreateCharge,
    quirks: Quirks,
    answered: bool,
    refund: Option<String>,
}

#[derive(Default)]
struct Ledger {
    charges: HashMap<String, ChargeRecord>,
    charge_by_key: HashMap<String, String>,
    refunds: HashMap<String, (Refund, String, CreateRefund)>,
    refund_by_key: HashMap<String, String>,
}

enum Action {
    Decide(String),
    Capture(String),
    SettleRefund(String),
    Deliver(Event, u32),
}

#[derive(Clone)]
struct Sim {
    config: Arc<SimulatorConfig>,
    ledger: Arc<Mutex<Ledger>>,
    actions: mpsc::UnboundedSender<(Action, Duration)>,
}

/// A built, bound, not yet running simulator.
pub struct Simulator {
    listener: TcpListener,
    router: Router,
    sim: Sim,
    queue: mpsc::UnboundedReceiver<(Action, Duration)>,
}

fn refused(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(status, code, "Refused").with_detail(detail)
}

impl Simulator {
    /// Binds the simulator's listener.
    pub async fn build(config: SimulatorConfig) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sim = Sim {
            config: Arc::new(config.clone()),
            ledger: Arc::default(),
            actions: tx,
        };
        let router = server::with_standard_layers(
            Router::new()
                .route("/v1/charges", post(create_charge).get(list_charges))
                .route("/v1/charges/{id}", get(read_charge))
                .route("/v1/charges/{id}/refunds", post(create_refund))
                .route("/v1/refunds/{id}", get(read_refund))
                .route("/healthz", get(|| async { "ok" }))
                .route("/readyz", get(|| async { "ok" }))
                .with_state(sim.clone()),
        );
        let listener = server::bind(&config.http).await?;
        Ok(Self {
            listener,
            router,
            sim,
            queue: rx,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves and processes charges until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(port = self.port(), "PSP simulator listening");
        let engine = tokio::spawn(engine(self.sim, self.queue, shutdown.clone()));
        let served = server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = engine.await;
        served.map_err(Into::into)
    }
}

impl Sim {
    fn latency(&self) -> Duration {
        let (min, max) = (self.config.latency_min, self.config.latency_max);
        if max <= min {
            return min;
        }
        rand::thread_rng().gen_range(min..=max)
    }

    fn schedule(&self, action: Action, after: Duration) {
        // The engine only stops at shutdown; an action scheduled after that is moot.
        let _ = self.actions.send((action, after));
    }

    fn emit(&self, kind: EventKind, duplicate: bool, after: Duration) {
        let event = Event {
            id: format!("evt_{}", Uuid::new_v4().simple()),
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
            kind,
        };
        if duplicate {
            self.schedule(
                Action::Deliver(event.clone(), 0),
                after + Duration::from_millis(30),
            );
        }
        self.schedule(Action::Deliver(event, 0), after);
    }

    fn authorized(&self, header: &HeaderMap) -> Result<(), Problem> {
        let presented = header
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented == Some(self.config.api_key.expose_secret()) {
            Ok(())
        } else {
            Err(Problem::unauthenticated(
                "invalid_api_key",
                "a valid API key is required",
            ))
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(|| {
            Problem::bad_request("missing_idempotency_key", "send an Idempotency-Key header")
        })
}

fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::thread_rng().gen_bool(rate.min(1.0))
}

async fn create_charge(
    State(sim): State<Sim>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<CreateCharge>,
) -> Result<Response, Problem> {
    sim.authorized(&headers)?;
    let key = idempotency_key(&headers)?;
    if request.amount_minor < 0
        || request.currency.len() != 3
        || !request.currency.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
            "amount must be >= 0 in a three-letter currency",
        ));
    }
    if !request.payment_method.starts_with("pm_") {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payment_method",
            "unknown payment method",
        ));
    }
    let (charge, quirks, first_answer, created) = {
        let mut ledger = sim.ledger.lock().await;
        if let Some(id) = ledger.charge_by_key.get(&key).cloned() {
            let record = ledger.charges.get_mut(&id).ok_or_else(Problem::internal)?;
            if record.request != request {
                return Err(refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this key was used with a different request",
                ));
            }
            let first = !record.answered;
            record.answered = true;
            (record.charge.clone(), record.quirks, first, false)
        } else {
            let method = request.payment_method.as_str();
            let quirks = Quirks {
                decline: method == "pm_card_declined"
                    || (method == "pm_card_visa" || !method.starts_with("pm_card_"))
                        && roll(sim.config.decline_rate),
                slow_first_answer: method == "pm_card_timeout" || roll(sim.config.timeout_rate),
                duplicate_webhooks: method == "pm_card_duplicate_webhooks"
                    || roll(sim.config.duplicate_rate),
                out_of_order: method == "pm_card_out_of_order_webhooks"
                    || roll(sim.config.out_of_order_rate),
            };
            let charge = Charge {
                id: format!("ch_{}", Uuid::new_v4().simple()),
                status: ChargeStatus::Processing,
                amount_minor: request.amount_minor,
                currency: request.currency.clone(),
                reference: request.reference,
                metadata: request.metadata.clone(),
                failure_reason: None,
            };
            ledger.charge_by_key.insert(key.clone(), charge.id.clone());
            ledger.charges.insert(
                charge.id.clone(),
                ChargeRecord {
                    charge: charge.clone(),
                    request: request.clone(),
                    quirks,
                    answered: true,
                    refund: None,
                },
            );
            (charge, quirks, true, true)
        }
    };
    if created {
        metrics::counter!("psp_simulator_charges_total").increment(1);
        sim.schedule(Action::Decide(charge.id.clone()), sim.latency());
    }
    if quirks.slow_first_answer && first_answer {
        // The charge exists and proceeds; only this answer comes too late for the caller.
        tokio::time::sleep(sim.config.slow_answer).await;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(charge)).into_response())
}

#[derive(Deserialize)]
struct ChargeFilter {
    reference: Option<Uuid>,
}

async fn list_charges(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(filter): Query<ChargeFilter>,
) -> Result<Json<serde_json::Value>, Problem> {
    sim.authorized(&headers)?;
    let ledger = sim.ledger.lock().await;
    let mut charges: Vec<&Charge> = ledger
        .charges
        .values()
        .map(|r| &r.charge)
        .filter(|c| filter.reference.is_none_or(|r| c.reference == r))
        .collect();
    charges.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(serde_json::json!({ "data": charges })))
}

async fn read_charge(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Charge>, Problem> {
    sim.authorized(&headers)?;
    let ledger = sim.ledger.lock().await;
    ledger
        .charges
        .get(&id)
        .map(|r| Json(r.charge.clone()))
        .ok_or_else(|| Problem::not_found("charge_not_found", "no such charge"))
}

async fn create_refund(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(charge_id): Path<String>,
    ValidJson(request): ValidJson<CreateRefund>,
) -> Result<Response, Problem> {
    sim.authorized(&headers)?;
    let key = idempotency_key(&headers)?;
    let mut ledger = sim.ledger.lock().await;
    if let Some(id) = ledger.refund_by_key.get(&key).cloned() {
        let (refund, for_charge, original) =
            ledger.refunds.get(&id).ok_or_else(Problem::internal)?;
        if *for_charge != charge_id || *original != request {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this key was used with a different request",
            ));
        }
        return Ok((StatusCode::OK, Json(refund.clone())).into_response());
    }
    let record = ledger
        .charges
        .get_mut(&charge_id)
        .ok_or_else(|| Problem::not_found("charge_not_found", "no such charge"))?;
    if record.charge.status != ChargeStatus::Captured {
        return Err(refused(
            StatusCode::CONFLICT,
            "charge_not_captured",
            "only a captured charge can be refunded",
        ));
    }
    if record.refund.is_some() {
        return Err(refused(
            StatusCode::CONFLICT,
            "charge_already_refunded",
            "this charge was already refunded",
        ));
    }
    if request.amount_minor != record.charge.amount_minor {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
            "only full refunds are supported",
        ));
    }
    let refund = Refund {
        id: format!("re_{}", Uuid::new_v4().simple()),
        charge_id: charge_id.clone(),
        status: RefundStatus::Pending,
        amount_minor: request.amount_minor,
        metadata: record.charge.metadata.clone(),
    };
    record.refund = Some(refund.id.clone());
    ledger.refund_by_key.insert(key, refund.id.clone());
    ledger
        .refunds
        .insert(refund.id.clone(), (refund.clone(), charge_id, request));
    drop(ledger);
    metrics::counter!("psp_simulator_refunds_total").increment(1);
    sim.schedule(Action::SettleRefund(refund.id.clone()), sim.latency());
    Ok((StatusCode::CREATED, Json(refund)).into_response())
}

async fn read_refund(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Refund>, Problem> {
    sim.authorized(&headers)?;
    let ledger = sim.ledger.lock().await;
    ledger
        .refunds
        .get(&id)
        .map(|(r, _, _)| Json(r.clone()))
        .ok_or_else(|| Problem::not_found("refund_not_found", "no such refund"))
}

/// Runs scheduled actions: decisions, captures, refund settlements and webhook deliveries.
async fn engine(
    sim: Sim,
    mut incoming: mpsc::UnboundedReceiver<(Action, Duration)>,
    shutdown: CancellationToken,
) {
    let mut queue: DelayQueue<Action> = DelayQueue::new();
    let mut deliveries = tokio::task::JoinSet::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some((action, after)) = incoming.recv() => { queue.insert(action, after); }
            Some(expired) = queue.next(), if !queue.is_empty() => {
                match expired.into_inner() {
                    Action::Deliver(event, attempt) => {
                        let sim = sim.clone();
                        let http = http.clone();
                        deliveries.spawn(async move {
                            let delivered = deliver(&sim, &http, &event).await;
                            (event, attempt, delivered)
                        });
                    }
                    action => step(&sim, action).await,
                }
            }
            Some(done) = deliveries.join_next(), if !deliveries.is_empty() => {
                if let Ok((event, attempt, false)) = done {
                    if attempt + 1 < sim.config.webhook_attempts {
                        let wait = sim.config.webhook_retry * 2u32.saturating_pow(attempt.min(6));
                        queue.insert(Action::Deliver(event, attempt + 1), wait);
                    } else {
                        tracing::warn!(event.id = %event.id, "webhook abandoned after every attempt");
                        metrics::counter!("psp_simulator_webhooks_abandoned_total").increment(1);
                    }
                }
            }
        }
    }
    deliveries.abort_all();
}

/// Moves a charge or refund one step and emits its webhooks.
async fn step(sim: &Sim, action: Action) {
    let mut ledger = sim.ledger.lock().await;
    match action {
        Action::Decide(id) => {
            let Some(record) = ledger.charges.get_mut(&id) else {
                return;
            };
            let quirks = record.quirks;
            if quirks.decline {
                record.charge.status = ChargeStatus::Failed;
                record.charge.failure_reason = Some("card_declined".into());
                let charge = record.charge.clone();
                drop(ledger);
                sim.emit(
                    EventKind::ChargeFailed(charge),
                    quirks.duplicate_webhooks,
                    Duration::ZERO,
                );
                return;
            }
            record.charge.status = ChargeStatus::Authorized;
            let charge = record.charge.clone();
            drop(ledger);
            let capture_after = sim.latency();
            // Out of order: the authorisation's webhook is held back until after the capture's.
            let notify_after = if quirks.out_of_order {
                capture_after + Duration::from_millis(200)
            } else {
                Duration::ZERO
            };
            sim.emit(
                EventKind::ChargeAuthorized(charge),
                quirks.duplicate_webhooks,
                notify_after,
            );
            sim.schedule(Action::Capture(id), capture_after);
        }
        Action::Capture(id) => {
            let Some(record) = ledger.charges.get_mut(&id) else {
                return;
            };
            record.charge.status = ChargeStatus::Captured;
            let (charge, duplicate) = (record.charge.clone(), record.quirks.duplicate_webhooks);
            drop(ledger);
            metrics::counter!("psp_simulator_captures_total").increment(1);
            sim.emit(EventKind::ChargeCaptured(charge), duplicate, Duration::ZERO);
        }
        Action::SettleRefund(id) => {
            let Some((refund, _, _)) = ledger.refunds.get_mut(&id) else {
                return;
            };
            refund.status = RefundStatus::Succeeded;
            let refund = refund.clone();
            drop(ledger);
            sim.emit(EventKind::RefundSucceeded(refund), false, Duration::ZERO);
        }
        Action::Deliver(..) => {}
    }
}

/// Posts one signed webhook; `true` when the receiver acknowledged it with a 2xx.
async fn deliver(sim: &Sim, http: &reqwest::Client, event: &Event) -> bool {
    let Ok(body) = serde_json::to_vec(event) else {
        return true;
    };
    let url = sim
        .config
        .webhook_url
        .replace("{sale}", &event.kind.metadata().sale_id);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = signature::sign(
        sim.config.webhook_secret.expose_secret().as_bytes(),
        now,
        &body,
    );
    let outcome = http
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, header)
        .body(body)
        .send()
        .await;
    match outcome {
        Ok(response) if response.status().is_success() => {
            metrics::counter!("psp_simulator_webhooks_delivered_total").increment(1);
            true
        }
        Ok(response) => {
            tracing::debug!(status = %response.status(), event.id = %event.id, "webhook refused; will retry");
            false
        }
        Err(err) => {
            tracing::debug!(error = %err, event.id = %event.id, "webhook not delivered; will retry");
            false
        }
    }
}
