//! The test harness: a booking service on a free port, its own database, its own sale.

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use booking::{config::BookingConfig, inventory::ZoneAvailability, startup::Application, store};
use futures::StreamExt;
use provisioning::{Provisioner, QueueSpec, SaleSpec, ZoneSpec};
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
};
use redis::AsyncCommands;
use serde_json::{Value, json};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner},
    config::Env,
    events::{BookingEvent, Envelope},
    ids::{SaleId, ZoneId},
    kafka::{EventPublisher, KafkaConfig},
    redis::RedisConfig,
};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A sale spec with one zone `a` of `seats` seats at 25.00 EUR, cap 4, open now.
pub fn spec(seats: u32) -> SaleSpec {
    let id = format!("t-{}", &Uuid::new_v4().simple().to_string()[..10]);
    SaleSpec {
        sale_id: SaleId::parse(&id).unwrap(),
        starts_at: OffsetDateTime::now_utc() - Duration::from_secs(60),
        ends_at: OffsetDateTime::now_utc() + Duration::from_secs(3600),
        hold_ttl_seconds: 600,
        partitions: 2,
        zones: vec![ZoneSpec {
            id: ZoneId::parse("a").unwrap(),
            seats,
            price_minor: 2500,
            currency: "EUR".into(),
            per_user_cap: 4,
        }],
        allow_buyer_cancellation: false,
        organizer_id: None,
        queue: QueueSpec::default(),
    }
}

/// A sale like [`spec`] whose queue admits `rate` buyers a second, at most `max_active`
/// admitted-but-not-reserved at once, with passes that live `pass_ttl` seconds.
pub fn queued(seats: u32, rate: u32, max_active: u32, pass_ttl: u32) -> SaleSpec {
    let mut sale = spec(seats);
    sale.queue = QueueSpec {
        enabled: true,
        admission_per_second: rate,
        max_active,
        pass_ttl_seconds: pass_ttl,
    };
    sale
}

/// A raw Redis connection.
pub async fn redis() -> redis::aio::ConnectionManager {
    RedisConfig::from_env(&Env::default())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `seconds` with `what`.
pub async fn eventually<T>(
    seconds: u64,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clients for provisioning.
pub async fn provisioner() -> Provisioner {
    let env = Env::default();
    let kafka = KafkaConfig::from_env(&env).unwrap();
    let redis = RedisConfig::from_env(&env)
        .unwrap()
        .connect()
        .await
        .unwrap();
    Provisioner::new(
        redis,
        kafka.admin().unwrap(),
        EventPublisher::new(kafka.producer().unwrap(), Duration::from_secs(5)),
    )
}

/// A test database, a key pair and a provisioned sale, before any service runs.
pub struct World {
    pub sale: SaleSpec,
    pub database_url: String,
    pub jwks_file: PathBuf,
    pub signer: TokenSigner,
    pub db: PgPool,
}

impl World {
    /// A fresh database and a provisioned `sale`.
    pub async fn new(sale: SaleSpec) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(shared::telemetry::init("booking-test"));
        }
        let database_url =
            shared::postgres::create_database(&shared::postgres::test_server(), "booking_test")
                .await
                .unwrap();
        let name = database_url.rsplit('/').next().unwrap().to_owned();
        let signer = TokenSigner::generate("test-key").unwrap();
        let jwks_file = std::env::temp_dir().join(format!("{name}-jwks.json"));
        std::fs::write(&jwks_file, signer.jwks().to_string()).unwrap();
        provisioner().await.apply(&sale).await.unwrap();
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(
                shared::postgres::PostgresConfig {
                    url: database_url.clone().into(),
                    max_connections: 2,
                }
                .options(booking::startup::SCHEMA)
                .unwrap(),
            )
            .await
            .unwrap();
        Self {
            sale,
            database_url,
            jwks_file,
            signer,
            db,
        }
    }

    /// The environment a booking process of this world runs with.
    pub fn env(&self) -> Vec<(String, String)> {
        let group = Uuid::new_v4().simple().to_string();
        [
            ("BOOKING_PORT", "0".to_owned()),
            ("DATABASE_URL", self.database_url.clone()),
            ("AUTH_JWKS_FILE", self.jwks_file.display().to_string()),
            ("BOOKING_SALES", self.sale.sale_id.to_string()),
            ("BOOKING_RECORDER_GROUP", format!("rec-{group}")),
            ("BOOKING_CONFIRMER_GROUP", format!("conf-{group}")),
            ("BOOKING_SWEEP_INTERVAL_MS", "100".to_owned()),
            ("BOOKING_QUEUE_TICK_MS", "50".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts an in-process booking service; later entries of `extra` win.
    pub async fn spawn(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut env = Env::default();
        for (k, v) in self.env() {
            env = env.with(&k, v);
        }
        for (k, v) in extra {
            env = env.with(k, *v);
        }
        let app = Application::build(BookingConfig::from_env(&env).unwrap())
            .await
            .unwrap();
        let port = app.port();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            sale: self.sale.sale_id.clone(),
            http: reqwest::Client::new(),
            shutdown,
            handle: Some(handle),
        }
    }

    /// Starts an in-process gateway in front of `booking`, verifying this world's tokens.
    pub async fn gateway(&self, booking: &TestApp) -> Gateway {
        let limits = "default=1000000/1000000,auth=1000000/1000000";
        let env = Env::default()
            .with("GATEWAY_PORT", "0")
            .with("AUTH_JWKS_FILE", self.jwks_file.display().to_string())
            .with("GATEWAY_SALE_BOOKING_UPSTREAM", booking.base.clone())
            .with("GATEWAY_BOOKING_UPSTREAM", booking.base.clone())
            .with("GATEWAY_AUTH_UPSTREAM", "http://127.0.0.1:1")
            .with("GATEWAY_RATE_LIMITS", limits)
            .with(
                "GATEWAY_RATE_LIMIT_NAMESPACE",
                format!("gw-{}", Uuid::new_v4().simple()),
            );
        let app = gateway::startup::Application::build(
            gateway::config::GatewayConfig::from_env(&env).unwrap(),
        )
        .await
        .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Gateway {
            app: TestApp {
                base,
                sale: self.sale.sale_id.clone(),
                http: reqwest::Client::new(),
                shutdown,
                handle: None,
            },
        }
    }

    /// Checks the queue's own books: nobody both waiting and admitted, every waiting or admitted
    /// buyer holding an entry, at most `maxActive` admitted, every handed-out pass live and its
    /// buyer's.
    pub async fn audit_queue(&self) {
        let mut redis = redis().await;
        let keys = shared::keys::SaleKeys::new(&self.sale.sale_id);
        let line: Vec<String> = redis.zrange(keys.queue("line"), 0, -1).await.unwrap();
        let active: Vec<String> = redis.zrange(keys.queue("active"), 0, -1).await.unwrap();
        let tickets: HashMap<String, String> = redis.hgetall(keys.queue("tickets")).await.unwrap();
        let passes: HashMap<String, String> = redis.hgetall(keys.queue("passes")).await.unwrap();
        for user in &line {
            assert!(
                !active.contains(user),
                "{user} is both waiting and admitted"
            );
            assert!(tickets.contains_key(user), "{user} waits without an entry");
        }
        for user in &active {
            assert!(
                tickets.contains_key(user),
                "{user} is admitted without an entry"
            );
        }
        if self.sale.queue.enabled {
            assert!(
                active.len() <= self.sale.queue.max_active as usize,
                "{} admitted at once, max {}",
                active.len(),
                self.sale.queue.max_active
            );
        }
        for (user, pass) in &passes {
            assert!(
                active.contains(user),
                "{user} holds a pass without an admission"
            );
            let owner: Option<String> = redis.hget(keys.queue_pass(pass), "user").await.unwrap();
            assert_eq!(owner.as_deref(), Some(user.as_str()), "pass of {user}");
        }
    }

    /// A token for a new customer.
    pub fn token(&self) -> (Uuid, String) {
        let user = Uuid::new_v4();
        (user, self.token_for(user))
    }

    /// A token for `user`.
    pub fn token_for(&self, user: Uuid) -> String {
        let claims = Claims::new(
            user,
            Role::Customer,
            Duration::from_secs(600),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        );
        self.signer.sign(&claims).unwrap()
    }

    /// Live counts of zone `a` in Redis.
    pub async fn live(&self) -> ZoneAvailability {
        let conn = RedisConfig::from_env(&Env::default())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let inventory = booking::inventory::Inventory::new(conn, Duration::from_secs(60));
        inventory
            .availability(&self.sale.sale_id)
            .await
            .unwrap()
            .unwrap()
            .remove(0)
    }

    /// Waits until the work is done — outbox relayed, no hold past its expiry, PostgreSQL equal to
    /// Redis for every zone — checking available + held + sold == capacity and nothing negative,
    /// and the queue's books.
    pub async fn audit(&self) {
        self.audit_queue().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let conn = RedisConfig::from_env(&Env::default())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let inventory = booking::inventory::Inventory::new(conn, Duration::from_secs(60));
            let live = inventory
                .availability(&self.sale.sale_id)
                .await
                .unwrap()
                .unwrap();
            let recorded = store::zone_totals(&self.db, &self.sale.sale_id)
                .await
                .unwrap();
            for zone in &live {
                assert_eq!(
                    zone.available + zone.held + zone.sold,
                    zone.capacity,
                    "Redis invariant broken: {zone:?}"
                );
                assert!(
                    zone.available >= 0 && zone.held >= 0 && zone.sold >= 0,
                    "negative count: {zone:?}"
                );
            }
            let mut redis = inventory.connection().clone();
            let keys = shared::keys::SaleKeys::new(&self.sale.sale_id);
            let outbox_left: usize = redis::cmd("XLEN")
                .arg(keys.outbox())
                .query_async(&mut redis)
                .await
                .unwrap();
            let overdue_ms =
                (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64 - 2_000;
            let overdue: usize = redis::cmd("ZCOUNT")
                .arg(keys.expiries())
                .arg("-inf")
                .arg(overdue_ms)
                .query_async(&mut redis)
                .await
                .unwrap();
            let matches = outbox_left == 0
                && overdue == 0
                && live.len() == recorded.len()
                && live.iter().zip(&recorded).all(|(l, r)| {
                    l.zone == r.zone_id
                        && l.capacity == i64::from(r.capacity)
                        && l.held == i64::from(r.held)
                        && l.sold == i64::from(r.sold)
                        && r.held_rows == i64::from(r.held)
                        && r.sold_rows == i64::from(r.sold)
                });
            if matches {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL never caught up with Redis:\n{live:?}\n{recorded:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Reads the sale's bookings topic from the start until `done` holds for what was read.
    pub async fn booking_events(
        &self,
        done: impl Fn(&[Envelope<BookingEvent>]) -> bool,
    ) -> Vec<Envelope<BookingEvent>> {
        let topic = shared::events::bookings_topic(&self.sale.sale_id);
        read_topic(&topic, |events: &[Envelope<BookingEvent>]| done(events)).await
    }
}

/// Reads a topic from the start with a fresh group until `done` holds (or 20 s pass).
pub async fn read_topic<E: serde::de::DeserializeOwned>(
    topic: &str,
    done: impl Fn(&[Envelope<E>]) -> bool,
) -> Vec<Envelope<E>> {
    let consumer: StreamConsumer = KafkaConfig::from_env(&Env::default())
        .unwrap()
        .consumer(&format!("reader-{}", Uuid::new_v4()))
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "topic {topic} never had the expected events; read {} events",
            events.len()
        );
        if let Ok(Ok(message)) = tokio::time::timeout(left, consumer.recv()).await
            && let Some(payload) = message.payload()
        {
            events.extend(
                shared::kafka::decode_payload(payload)
                    .into_iter()
                    .map(Result::unwrap),
            );
        }
    }
    events
}

/// A running in-process booking service.
pub struct TestApp {
    pub base: String,
    pub sale: SaleId,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// `POST` a reservation.
    pub async fn reserve(
        &self,
        token: &str,
        zone: &str,
        quantity: i64,
        key: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/api/v1/sales/{}/reservations",
                self.base, self.sale
            ))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({ "zone": zone, "quantity": quantity }))
            .send()
            .await
            .unwrap()
    }

    /// A URL under the service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The reservations URL of any sale.
    pub fn reserve_url_for(&self, sale: &str) -> String {
        self.url(&format!("/api/v1/sales/{sale}/reservations"))
    }

    /// The path of a reservation of this sale.
    pub fn reservation_url(&self, id: &str) -> String {
        self.url(&format!("/api/v1/sales/{}/reservations/{id}", self.sale))
    }

    /// `POST` with a queue pass.
    pub async fn reserve_with_pass(
        &self,
        token: &str,
        zone: &str,
        quantity: i64,
        key: &str,
        pass: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/api/v1/sales/{}/reservations",
                self.base, self.sale
            ))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .header("Queue-Pass", pass)
            .json(&json!({ "zone": zone, "quantity": quantity }))
            .send()
            .await
            .unwrap()
    }

    /// The queue URL of this sale.
    pub fn queue_url(&self) -> String {
        self.url(&format!("/api/v1/sales/{}/queue", self.sale))
    }

    async fn queue_call(&self, method: reqwest::Method, token: &str) -> reqwest::Response {
        self.http
            .request(method, self.queue_url())
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Joins the queue.
    pub async fn join(&self, token: &str) -> reqwest::Response {
        self.queue_call(reqwest::Method::POST, token).await
    }

    /// The caller's place in the queue.
    pub async fn queue_status(&self, token: &str) -> reqwest::Response {
        self.queue_call(reqwest::Method::GET, token).await
    }

    /// The caller's place as JSON, asserting a 200.
    pub async fn place(&self, token: &str) -> Value {
        let response = self.queue_status(token).await;
        assert_eq!(response.status(), 200, "queue status");
        body(response).await
    }

    /// Leaves the queue.
    pub async fn leave(&self, token: &str) -> reqwest::Response {
        self.queue_call(reqwest::Method::DELETE, token).await
    }

    /// Opens the caller's queue event stream.
    pub async fn queue_events(&self, token: &str) -> EventStream {
        let response = self
            .http
            .get(format!("{}/events", self.queue_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "opening the event stream");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            buffer: String::new(),
        }
    }

    /// Waits until the caller is admitted (polling) and returns the pass.
    pub async fn wait_for_pass(&self, token: &str) -> String {
        eventually(20, "the buyer is admitted", async || {
            let place = self.place(token).await;
            place["pass"].as_str().map(str::to_owned)
        })
        .await
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An in-process gateway.
pub struct Gateway {
    /// The gateway as an app: its URLs lead through the gateway to booking.
    pub app: TestApp,
}

/// A server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// `event:` name.
    pub name: String,
    /// `data:` as JSON.
    pub data: Value,
}

/// Reads server-sent events from a response body.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl EventStream {
    /// The next event (comments skipped); `None` when the stream ends. Fails after `seconds`.
    pub async fn next(&mut self, seconds: u64) -> Option<SseEvent> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if !data.is_empty() {
                    return Some(SseEvent {
                        name,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event within {seconds} s");
            match tokio::time::timeout(left, self.body.next()).await {
                Ok(Some(chunk)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk.unwrap())),
                Ok(None) => return None,
                Err(_) => panic!("no event within {seconds} s"),
            }
        }
    }

    /// Reads events until one named `name`, returning it and the events before it.
    pub async fn until(&mut self, name: &str, seconds: u64) -> (SseEvent, Vec<SseEvent>) {
        let mut before = Vec::new();
        loop {
            let event = self
                .next(seconds)
                .await
                .unwrap_or_else(|| panic!("stream ended before `{name}`: {before:?}"));
            if event.name == name {
                return (event, before);
            }
            before.push(event);
        }
    }
}

/// Reads a JSON body.
pub async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Asserts a problem+json error with `status` and `code`.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "unexpected status for expected {code}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    problem
}

/// Counts events by type name.
pub fn count_by_type(events: &[Envelope<BookingEvent>]) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for e in events {
        *counts.entry(e.event.type_name()).or_insert(0) += 1;
    }
    counts
}

impl Drop for World {
    /// Takes the sale out of Redis so a local `make dev` stack never sees test sales.
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(RedisConfig::from_env(&Env::default()).unwrap().url)
        else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let sale = self.sale.sale_id.as_str();
        let _: redis::RedisResult<()> = redis::cmd("SREM")
            .arg(shared::keys::SALES_REGISTRY)
            .arg(sale)
            .query(&mut conn);
        let pattern = shared::keys::SaleKeys::new(&self.sale.sale_id).all_pattern();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("UNLINK").arg(&keys).query(&mut conn);
        }
        let _ = std::fs::remove_file(&self.jwks_file);
    }
}
