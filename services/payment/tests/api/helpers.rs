//! The harness: a database, a provisioned sale, and booking, payment and the PSP simulator
//! running in process on free ports.

use std::time::{Duration, Instant};

use booking::{
    inventory::{Inventory, ZoneAvailability},
    startup::Application as Booking,
};
use payment::{
    config::PaymentConfig,
    psp::simulator::{Simulator, SimulatorConfig},
    startup::Application as Payment,
};
use provisioning::{Provisioner, QueueSpec, SaleSpec, ZoneSpec};
use rdkafka::consumer::Consumer as _;
use reconcile::{Report, Sources};
use serde_json::{Value, json};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner},
    config::Env,
    ids::{SaleId, ZoneId},
    kafka::{EventPublisher, KafkaConfig},
    postgres::PostgresConfig,
    redis::RedisConfig,
};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const API_KEY: &str = "sk_test_payment_harness";
pub const WEBHOOK_SECRET: &str = "whsec_payment_harness";

/// A sale with one zone `a` of `seats` seats at 25.00 EUR, cap 4, open now, run by `organizer`.
pub fn spec(seats: u32) -> SaleSpec {
    let id = format!("p-{}", &Uuid::new_v4().simple().to_string()[..10]);
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
        organizer_id: Some(Uuid::new_v4()),
        queue: QueueSpec::default(),
    }
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

/// The JSON body of a response.
pub async fn body(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
}

/// A free loopback port (for the simulator, whose address payment needs before it starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn redis() -> redis::aio::ConnectionManager {
    RedisConfig::from_env(&Env::default())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// One running service.
pub struct Running {
    pub base: String,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
    }
}

/// The topic of a sale a consumer group reads.
type TopicOf = fn(&SaleId) -> String;

/// A sale with booking, payment and the PSP simulator serving it.
pub struct World {
    pub sale: SaleSpec,
    pub signer: TokenSigner,
    pub booking_db: PgPool,
    pub payment_db: PgPool,
    pub booking: Running,
    pub psp: Running,
    pub payment: Option<Running>,
    pub http: reqwest::Client,
    payment_env: Vec<(String, String)>,
    /// Consumer groups of this world's services, with the topic each reads.
    groups: Vec<(String, TopicOf)>,
}

impl World {
    /// Provisions `sale` and starts everything; `psp` and `payment` add or override variables.
    pub async fn start(sale: SaleSpec, psp: &[(&str, &str)], payment: &[(&str, &str)]) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(shared::telemetry::init("payment-test"));
        }
        let database_url =
            shared::postgres::create_database(&shared::postgres::test_server(), "payment_test")
                .await
                .unwrap();
        let name = database_url.rsplit('/').next().unwrap().to_owned();
        let signer = TokenSigner::generate("test-key").unwrap();
        let jwks_file = std::env::temp_dir().join(format!("{name}-jwks.json"));
        std::fs::write(&jwks_file, signer.jwks().to_string()).unwrap();
        provisioner().await.apply(&sale).await.unwrap();
        let group = Uuid::new_v4().simple().to_string();

        let booking_env = Env::default()
            .with("BOOKING_PORT", "0")
            .with("DATABASE_URL", database_url.clone())
            .with("AUTH_JWKS_FILE", jwks_file.display().to_string())
            .with("BOOKING_SALES", sale.sale_id.to_string())
            .with("BOOKING_RECORDER_GROUP", format!("rec-{group}"))
            .with("BOOKING_CONFIRMER_GROUP", format!("conf-{group}"))
            .with("BOOKING_SWEEP_INTERVAL_MS", "100");
        let app = Booking::build(booking::config::BookingConfig::from_env(&booking_env).unwrap())
            .await
            .unwrap();
        let booking = run(app.port(), |s| app.run_until_stopped(s));

        let psp_port = free_port();
        let mut payment_env: Vec<(String, String)> = [
            ("PAYMENT_PORT", "0".to_owned()),
            ("DATABASE_URL", database_url.clone()),
            ("AUTH_JWKS_FILE", jwks_file.display().to_string()),
            ("PAYMENT_SALES", sale.sale_id.to_string()),
            ("PAYMENT_BOOKING_URL", booking.base.clone()),
            ("PAYMENT_PSP_URL", format!("http://127.0.0.1:{psp_port}")),
            ("PAYMENT_PSP_API_KEY", API_KEY.to_owned()),
            ("PAYMENT_PSP_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("PAYMENT_BOOKINGS_GROUP", format!("pay-{group}")),
            ("PAYMENT_PSP_SYNC_INTERVAL_MS", "100".to_owned()),
            ("PAYMENT_PSP_SYNC_AFTER_MS", "1000".to_owned()),
            ("PAYMENT_RELAY_INTERVAL_MS", "100".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        payment_env.extend(
            payment
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let first = spawn_payment(&payment_env).await;

        let mut psp_env = Env::default()
            .with("PSP_PORT", psp_port.to_string())
            .with("PSP_API_KEY", API_KEY)
            .with("PSP_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .with(
                "PSP_WEBHOOK_URL",
                format!("{}/api/v1/sales/{{sale}}/payments/webhook", first.base),
            )
            .with("PSP_LATENCY_MS", "20-60")
            .with("PSP_WEBHOOK_RETRY_MS", "100");
        for (k, v) in psp {
            psp_env = psp_env.with(k, *v);
        }
        let simulator = Simulator::build(SimulatorConfig::from_env(&psp_env).unwrap())
            .await
            .unwrap();
        let psp = run(simulator.port(), |s| simulator.run_until_stopped(s));

        let options = |schema: &str| {
            PostgresConfig {
                url: database_url.clone().into(),
                max_connections: 2,
            }
            .options(schema)
            .unwrap()
        };
        let pool = |schema: &str| {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect_lazy_with(options(schema))
        };
        Self {
            booking_db: pool(booking::startup::SCHEMA),
            payment_db: pool(payment::startup::SCHEMA),
            sale,
            signer,
            booking,
            psp,
            payment: Some(first),
            http: reqwest::Client::new(),
            payment_env,
            groups: vec![
                (format!("rec-{group}"), shared::events::bookings_topic),
                (format!("conf-{group}"), shared::events::payments_topic),
                (format!("pay-{group}"), shared::events::bookings_topic),
            ],
        }
    }

    /// Starts everything with default settings.
    pub async fn new(sale: SaleSpec) -> Self {
        Self::start(sale, &[], &[]).await
    }

    /// The running payment service's base URL.
    pub fn payment_base(&self) -> &str {
        &self.payment.as_ref().expect("payment runs").base
    }

    /// Starts another payment process like the first, with `extra` on top.
    pub async fn spawn_payment(&self, extra: &[(&str, &str)]) -> Running {
        let mut env = self.payment_env.clone();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        spawn_payment(&env).await
    }

    /// A token for a new user with `role`.
    pub fn user(&self, role: Role) -> (Uuid, String) {
        let user = Uuid::new_v4();
        (user, self.token_for(user, role))
    }

    /// A token for `user` with `role`.
    pub fn token_for(&self, user: Uuid, role: Role) -> String {
        let claims = Claims::new(
            user,
            role,
            Duration::from_secs(600),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        );
        self.signer.sign(&claims).unwrap()
    }

    /// Reserves `quantity` seats of zone `a`; returns the reservation id.
    pub async fn reserve(&self, token: &str, quantity: u32) -> Uuid {
        let response = self
            .http
            .post(format!(
                "{}/api/v1/sales/{}/reservations",
                self.booking.base, self.sale.sale_id
            ))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&json!({ "zone": "a", "quantity": quantity }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        body(response).await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The reservation as booking answers its owner.
    pub async fn reservation(&self, token: &str, id: Uuid) -> Value {
        body(
            self.http
                .get(format!(
                    "{}/api/v1/sales/{}/reservations/{id}",
                    self.booking.base, self.sale.sale_id
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The pay URL of a reservation.
    pub fn pay_url(&self, reservation: Uuid) -> String {
        format!(
            "{}/api/v1/sales/{}/reservations/{reservation}/payment",
            self.payment_base(),
            self.sale.sale_id
        )
    }

    /// A payment's URL.
    pub fn payment_url(&self, payment: &str) -> String {
        format!(
            "{}/api/v1/sales/{}/payments/{payment}",
            self.payment_base(),
            self.sale.sale_id
        )
    }

    /// Pays for a reservation with `method` under `key`.
    pub async fn pay(
        &self,
        token: &str,
        reservation: Uuid,
        key: &str,
        method: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.pay_url(reservation))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({ "paymentMethod": method }))
            .send()
            .await
            .unwrap()
    }

    /// Reads a payment as `token`'s user.
    pub async fn read_payment(&self, token: &str, payment: &str) -> reqwest::Response {
        self.http
            .get(self.payment_url(payment))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Waits until the payment reads as `status` (and, if given, booking's outcome).
    pub async fn payment_becomes(
        &self,
        token: &str,
        payment: &str,
        status: &str,
        booking: Option<&str>,
    ) -> Value {
        eventually(
            20,
            &format!("payment {payment} is {status} / {booking:?}"),
            async || {
                let view = body(self.read_payment(token, payment).await).await;
                (view["status"] == status && booking.is_none_or(|b| view["booking"] == b))
                    .then_some(view)
            },
        )
        .await
    }

    /// Waits until every consumer group of this world has committed the end of its topic.
    pub async fn wait_until_consumed(&self) {
        let kafka = KafkaConfig::from_env(&Env::default()).unwrap();
        for (group, topic_of) in &self.groups {
            let topic = topic_of(&self.sale.sale_id);
            // A client of the group that never subscribes: it reads the group's committed
            // offsets without joining (and so without upsetting) the group.
            let client = kafka_client(&kafka, group);
            eventually(30, &format!("{group} consumed {topic}"), async || {
                let mut wanted = rdkafka::TopicPartitionList::new();
                let mut ends = Vec::new();
                for partition in 0..i32::from(self.sale.partitions) {
                    let (_, high) = client
                        .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                        .ok()?;
                    wanted.add_partition(&topic, partition);
                    ends.push(high);
                }
                let committed = client
                    .committed_offsets(wanted, Duration::from_secs(5))
                    .ok()?;
                let done = committed.elements().iter().zip(&ends).all(|(e, high)| {
                    *high == 0 || matches!(e.offset(), rdkafka::Offset::Offset(o) if o >= *high)
                });
                done.then_some(())
            })
            .await;
        }
    }

    /// Zone `a` as Redis counts it.
    pub async fn live(&self) -> ZoneAvailability {
        self.inventory()
            .await
            .availability(&self.sale.sale_id)
            .await
            .unwrap()
            .unwrap()
            .remove(0)
    }

    async fn inventory(&self) -> Inventory {
        Inventory::new(redis().await, Duration::from_secs(60))
    }

    /// Reconciles the sale, waiting up to 20 s for it to settle.
    pub async fn reconcile(&self) -> Report {
        let sources = Sources {
            booking: self.booking_db.clone(),
            payment: self.payment_db.clone(),
            inventory: self.inventory().await,
        };
        reconcile::settled(&sources, &self.sale.sale_id, Duration::from_secs(20))
            .await
            .unwrap()
    }

    /// Asserts the sale reconciles with zero discrepancies.
    pub async fn assert_reconciled(&self) -> Report {
        let report = self.reconcile().await;
        assert!(report.is_clean(), "{report}");
        report
    }

    /// The charges the simulator holds for a reservation.
    pub async fn charges_at_psp(&self, reservation: Uuid) -> Vec<Value> {
        let list = body(
            self.http
                .get(format!(
                    "{}/v1/charges?reference={reservation}",
                    self.psp.base
                ))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap(),
        )
        .await;
        list["data"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no charge list: {list}"))
    }
}

fn run<F>(port: u16, start: impl FnOnce(CancellationToken) -> F) -> Running
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(start(shutdown.clone()));
    Running {
        base: format!("http://127.0.0.1:{port}"),
        shutdown,
        handle,
    }
}

async fn spawn_payment(vars: &[(String, String)]) -> Running {
    let mut env = Env::default();
    for (k, v) in vars {
        env = env.with(k, v.clone());
    }
    let app = Payment::build(PaymentConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    run(app.port(), |s| app.run_until_stopped(s))
}

/// Clients for provisioning.
pub async fn provisioner() -> Provisioner {
    let kafka = KafkaConfig::from_env(&Env::default()).unwrap();
    Provisioner::new(
        redis().await,
        kafka.admin().unwrap(),
        EventPublisher::new(kafka.producer().unwrap(), Duration::from_secs(5)),
    )
}

fn kafka_client(kafka: &KafkaConfig, group: &str) -> rdkafka::consumer::BaseConsumer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}
