//! Shared test helpers: unique sales, the local backend, raw Redis access.

use std::{path::PathBuf, time::Duration};

use operator::backend::Backend;
use provisioning::SaleSpec;
use serde_json::json;
use shared::{config::Env, kafka::KafkaConfig, redis::RedisConfig};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A sale id no other test uses.
pub fn unique_sale(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A valid, open sale spec with one zone of `seats` and `partitions` per topic.
pub fn spec(sale: &str, seats: u32, partitions: u16) -> SaleSpec {
    serde_json::from_value(json!({
        "saleId": sale,
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "partitions": partitions,
        "zones": [{ "id": "floor", "seats": seats, "priceMinor": 5000, "currency": "EUR", "perUserCap": 4 }]
    }))
    .unwrap()
}

/// Redis and Kafka of the local stack (or as REDIS_URL and KAFKA_BROKERS say).
pub fn backend() -> Backend {
    backend_with_kafka(&KafkaConfig::from_env(&Env::process()).unwrap().brokers)
}

/// The local Redis with the Kafka at `brokers`.
pub fn backend_with_kafka(brokers: &str) -> Backend {
    Backend::new(
        RedisConfig::from_env(&Env::process()).unwrap(),
        KafkaConfig::from_env(&Env::default().with("KAFKA_BROKERS", brokers)).unwrap(),
        Duration::from_secs(20),
    )
}

/// Forgets a sale's Redis keys; its uniquely named topics stay on the shared broker.
pub async fn forget(sale: &SaleSpec) {
    crate::testsupport::forget_sale(&mut redis().await, &sale.sale_id).await;
}

/// A raw Redis connection.
pub async fn redis() -> redis::aio::ConnectionManager {
    RedisConfig::from_env(&Env::process())
        .unwrap()
        .connect()
        .await
        .unwrap()
}
