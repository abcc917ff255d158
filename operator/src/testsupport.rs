//! Test support shared by the unit and integration tests (included by path in both).
//!
//! tansu 0.6, the local broker, deletes every topic it holds when asked to delete one, so a test
//! that deletes topics runs against a [`PrivateBroker`] of its own, and other tests clean up only
//! their Redis keys ([`forget_sale`]), leaving their uniquely named topics on the shared broker.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use operator::backend::Backend;
use shared::{config::Env, ids::SaleId, kafka::KafkaConfig, keys::SaleKeys, redis::RedisConfig};

/// A sale id no other test uses, so tests share Redis and the broker safely.
pub fn unique_sale(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// The local Redis (`REDIS_URL`) with the Kafka at `brokers`.
pub fn backend_with_kafka(brokers: &str) -> Backend {
    Backend::new(
        RedisConfig::from_env(&Env::process()).expect("REDIS_URL"),
        KafkaConfig::from_env(&Env::default().with("KAFKA_BROKERS", brokers))
            .expect("KAFKA_BROKERS"),
        Duration::from_secs(20),
    )
}

/// Redis and Kafka of the local stack, or as `REDIS_URL` and `KAFKA_BROKERS` say.
pub fn local_backend() -> Backend {
    backend_with_kafka(
        &KafkaConfig::from_env(&Env::process())
            .expect("KAFKA_BROKERS")
            .brokers,
    )
}

/// A tansu broker on a free loopback port with its own storage, stopped when dropped.
pub struct PrivateBroker {
    child: Child,
    dir: PathBuf,
    /// Its bootstrap address, for `KAFKA_BROKERS`.
    pub brokers: String,
}

fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return path.into();
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-broker.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/install-broker.sh");
    assert!(out.status.success(), "scripts/install-broker.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("a path").trim())
}

impl PrivateBroker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("tansu-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&dir)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let broker = Self {
            child,
            dir,
            brokers: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&broker.brokers).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private broker did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a sale's Redis keys and registry entry, leaving its topics alone.
pub async fn forget_sale(redis: &mut redis::aio::ConnectionManager, sale: &SaleId) {
    let pattern = SaleKeys::new(sale).all_pattern();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(redis)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: () = redis::cmd("UNLINK")
            .arg(&keys)
            .query_async(redis)
            .await
            .expect("UNLINK");
    }
    let _: () = redis::cmd("SREM")
        .arg(shared::keys::SALES_REGISTRY)
        .arg(sale.as_str())
        .query_async(redis)
        .await
        .expect("SREM");
}
