//! The harness: auth, booking and the gateway on free ports against a fresh database, with
//! login throttling and rate limits set out of reach, for one sale of the test's own.

use std::{path::PathBuf, time::Duration};

use loadtest::run::{Backends, ScenarioRun, Tool};
use loadtest::scenario::{Knobs, Scenario};
use shared::{
    config::Env, ids::SaleId, kafka::KafkaConfig, postgres::PostgresConfig, redis::RedisConfig,
};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

/// Out of reach of any test: the limits are on (their Redis calls happen), never hit.
const NO_LIMIT: &str = "1000000";

/// A running stack serving one sale id.
pub struct Stack {
    pub gateway: String,
    pub booking: String,
    pub auth: String,
    pub sale: SaleId,
    pub backends: Backends,
    pub out_dir: PathBuf,
    keys_dir: PathBuf,
    _services: DropGuard,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.keys_dir);
        let _ = std::fs::remove_dir_all(&self.out_dir);
    }
}

impl Stack {
    /// Starts auth, booking (serving only `sale`'s id) and the gateway.
    pub async fn start(tag: &str) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(shared::telemetry::init("loadtest-test"));
        }
        let sale = loadtest::sale::new_sale_id(tag).unwrap();
        let database_url =
            shared::postgres::create_database(&shared::postgres::test_server(), "loadtest_test")
                .await
                .unwrap();
        let name = database_url.rsplit('/').next().unwrap().to_owned();
        let keys_dir = std::env::temp_dir().join(format!("{name}-keys"));
        let out_dir = std::env::temp_dir().join(format!("{name}-reports"));
        let jwks = keys_dir.join("jwks.json").display().to_string();
        let shutdown = CancellationToken::new();

        let auth_env = Env::default()
            .with("AUTH_PORT", "0")
            .with("DATABASE_URL", database_url.clone())
            .with("AUTH_KEYS_DIR", keys_dir.display().to_string())
            .with("AUTH_THROTTLE_NAMESPACE", format!("lt-{name}"))
            .with("AUTH_MAX_ATTEMPTS_PER_IP", NO_LIMIT)
            .with("AUTH_MAX_FAILURES_PER_ACCOUNT", NO_LIMIT);
        let auth = auth::startup::Application::build(
            auth::config::AuthServiceConfig::from_env(&auth_env).unwrap(),
        )
        .await
        .unwrap();
        let auth_url = format!("http://127.0.0.1:{}", auth.port());
        tokio::spawn(auth.run_until_stopped(shutdown.clone()));

        let group = Uuid::new_v4().simple().to_string();
        let booking_env = Env::default()
            .with("BOOKING_PORT", "0")
            .with("DATABASE_URL", database_url.clone())
            .with("AUTH_JWKS_FILE", jwks.clone())
            .with("BOOKING_SALES", sale.to_string())
            .with("BOOKING_RECORDER_GROUP", format!("rec-{group}"))
            .with("BOOKING_CONFIRMER_GROUP", format!("conf-{group}"))
            .with("BOOKING_SWEEP_INTERVAL_MS", "100");
        let booking = booking::startup::Application::build(
            booking::config::BookingConfig::from_env(&booking_env).unwrap(),
        )
        .await
        .unwrap();
        let booking_url = format!("http://127.0.0.1:{}", booking.port());
        tokio::spawn(booking.run_until_stopped(shutdown.clone()));

        let limits = format!("default={NO_LIMIT}/{NO_LIMIT},auth={NO_LIMIT}/{NO_LIMIT}");
        let gateway_env = Env::default()
            .with("GATEWAY_PORT", "0")
            .with("AUTH_JWKS_FILE", jwks)
            .with("GATEWAY_AUTH_UPSTREAM", auth_url.clone())
            .with("GATEWAY_BOOKING_UPSTREAM", booking_url.clone())
            .with("GATEWAY_SALE_BOOKING_UPSTREAM", booking_url.clone())
            .with("GATEWAY_RATE_LIMITS", limits)
            .with("GATEWAY_RATE_LIMIT_NAMESPACE", format!("lt-{name}"));
        let gateway = gateway::startup::Application::build(
            gateway::config::GatewayConfig::from_env(&gateway_env).unwrap(),
        )
        .await
        .unwrap();
        let gateway_url = format!("http://127.0.0.1:{}", gateway.port());
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));

        let env = Env::default().with("DATABASE_URL", database_url);
        Self {
            gateway: gateway_url,
            booking: booking_url,
            auth: auth_url,
            sale,
            backends: Backends {
                redis: RedisConfig::from_env(&env).unwrap(),
                postgres: PostgresConfig::from_env(&env).unwrap(),
                kafka: KafkaConfig::from_env(&env).unwrap(),
            },
            out_dir,
            keys_dir,
            _services: shutdown.drop_guard(),
        }
    }

    /// A run of `scenario` at `target` for this stack's sale.
    pub fn run(&self, scenario: Scenario, target: &str, knobs: Knobs) -> ScenarioRun {
        ScenarioRun {
            scenario,
            knobs,
            target: target.to_owned(),
            auth: self.gateway.clone(),
            buyers_file: None,
            signup_concurrency: 4,
            name: scenario.name().to_owned(),
            drain_timeout: Duration::from_secs(30),
            keep_sale: false,
            seed: 7,
            sale_id: Some(self.sale.clone()),
            server_route: None,
        }
    }
}

/// The tool as tests run it: quiet, with a short timeout.
pub fn tool() -> Tool {
    Tool {
        max_in_flight: None,
        warm_connections: None,
        timeout: Duration::from_secs(10),
        threads: 1,
        progress: false,
        out_dir: std::env::temp_dir(),
        command: "loadgen (test)".into(),
    }
}
