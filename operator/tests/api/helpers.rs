//! Test helpers of the integration tests: sale specs, raw Redis access, the repository root.

use std::path::PathBuf;

use provisioning::SaleSpec;
use serde_json::json;
use shared::{config::Env, redis::RedisConfig};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
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
