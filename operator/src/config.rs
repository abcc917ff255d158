//! The operator's configuration from the environment.

use std::time::Duration;

use shared::{
    config::{ConfigError, Env, HttpConfig},
    kafka::KafkaConfig,
    redis::RedisConfig,
};

/// Default port of the operator's `/healthz`, `/readyz` and `/metrics`.
pub const DEFAULT_PORT: u16 = 8090;

/// A reference to one key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    /// The Secret's name (in the FlashSale's namespace).
    pub name: String,
    /// The key within it.
    pub key: String,
}

impl SecretKey {
    fn from_env(env: &Env, prefix: &str, name: &str, key: &str) -> Self {
        Self {
            name: env.string_or(&format!("{prefix}_SECRET"), name),
            key: env.string_or(&format!("{prefix}_SECRET_KEY"), key),
        }
    }
}

/// What the per-sale workloads are given: images, backing-service addresses and secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadDefaults {
    /// Booking image when the FlashSale names none.
    pub booking_image: String,
    /// Payment image when the FlashSale names none.
    pub payment_image: String,
    /// `REDIS_URL` of the workloads.
    pub redis_url: String,
    /// `KAFKA_BROKERS` of the workloads.
    pub kafka_brokers: String,
    /// `AUTH_JWKS_URL` of the workloads.
    pub jwks_url: String,
    /// The Secret key holding `DATABASE_URL`.
    pub database: SecretKey,
    /// The payment service provider's URL; the payment service's built-in simulator when unset.
    pub psp_url: Option<String>,
    /// The Secret key holding the PSP webhook secret.
    pub psp_webhook_secret: SecretKey,
    /// The Secret key holding the PSP API key.
    pub psp_api_key: SecretKey,
    /// `RUST_LOG` of the workloads.
    pub rust_log: String,
}

impl WorkloadDefaults {
    /// Reads `OPERATOR_*` workload settings; backing services default to the operator's own.
    pub fn from_env(env: &Env, redis: &RedisConfig, kafka: &KafkaConfig) -> Self {
        let version = env!("CARGO_PKG_VERSION");
        Self {
            booking_image: env.string_or(
                "OPERATOR_BOOKING_IMAGE",
                &format!("booking-rush/booking:{version}"),
            ),
            payment_image: env.string_or(
                "OPERATOR_PAYMENT_IMAGE",
                &format!("booking-rush/payment:{version}"),
            ),
            redis_url: env.string_or("OPERATOR_WORKLOAD_REDIS_URL", &redis.url),
            kafka_brokers: env.string_or("OPERATOR_WORKLOAD_KAFKA_BROKERS", &kafka.brokers),
            jwks_url: env.string_or(
                "OPERATOR_AUTH_JWKS_URL",
                "http://auth:8081/.well-known/jwks.json",
            ),
            database: SecretKey::from_env(env, "OPERATOR_DATABASE", "booking-rush-database", "url"),
            psp_url: env.get("OPERATOR_PSP_URL"),
            psp_webhook_secret: SecretKey::from_env(
                env,
                "OPERATOR_PSP_WEBHOOK",
                "booking-rush-psp",
                "webhook-secret",
            ),
            psp_api_key: SecretKey::from_env(
                env,
                "OPERATOR_PSP_API_KEY",
                "booking-rush-psp",
                "api-key",
            ),
            rust_log: env.string_or("OPERATOR_WORKLOAD_RUST_LOG", "info"),
        }
    }
}

/// Everything the operator needs to start.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Listener of `/healthz`, `/readyz`, `/metrics`.
    pub http: HttpConfig,
    /// Redis the operator provisions inventory in and reads it back from.
    pub redis: RedisConfig,
    /// Kafka the operator creates topics in.
    pub kafka: KafkaConfig,
    /// Namespace to watch; every namespace when unset.
    pub namespace: Option<String>,
    /// How long after deletion the finalizer keeps retrying cleanup before giving up.
    pub cleanup_timeout: Duration,
    /// Longest a single provisioning or cleanup attempt may take.
    pub backend_timeout: Duration,
    /// How often a live sale's status is refreshed from Redis.
    pub live_refresh: Duration,
    /// How often any other sale is reconciled when nothing changes.
    pub idle_refresh: Duration,
    /// How long reconciliations in flight may finish after shutdown starts.
    pub shutdown_grace: Duration,
    /// What the per-sale workloads are given.
    pub workloads: WorkloadDefaults,
}

impl OperatorConfig {
    /// Reads `OPERATOR_*`, `REDIS_URL` and `KAFKA_BROKERS`, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let redis = RedisConfig::from_env(env)?;
        let kafka = KafkaConfig::from_env(env)?;
        let workloads = WorkloadDefaults::from_env(env, &redis, &kafka);
        Ok(Self {
            http: HttpConfig::from_env(env, "OPERATOR", DEFAULT_PORT)?,
            namespace: env.get("OPERATOR_NAMESPACE"),
            cleanup_timeout: Duration::from_secs(
                env.parse_or("OPERATOR_CLEANUP_TIMEOUT_SECONDS", 300)?,
            ),
            backend_timeout: env.millis_or("OPERATOR_BACKEND_TIMEOUT_MS", 20_000)?,
            live_refresh: env.millis_or("OPERATOR_LIVE_REFRESH_MS", 15_000)?,
            idle_refresh: env.millis_or("OPERATOR_IDLE_REFRESH_MS", 300_000)?,
            shutdown_grace: env.millis_or("OPERATOR_SHUTDOWN_GRACE_MS", 10_000)?,
            redis,
            kafka,
            workloads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_default_to_the_operators_backing_services() {
        let env = Env::default()
            .with("REDIS_URL", "redis://redis.example:6379")
            .with("KAFKA_BROKERS", "kafka-0:9092,kafka-1:9092")
            .with("OPERATOR_DATABASE_SECRET", "pg");
        let config = OperatorConfig::from_env(&env).unwrap();
        assert_eq!(config.workloads.redis_url, "redis://redis.example:6379");
        assert_eq!(config.workloads.kafka_brokers, "kafka-0:9092,kafka-1:9092");
        assert_eq!(config.workloads.database.name, "pg");
        assert_eq!(config.workloads.database.key, "url");
        assert_eq!(config.http.port, DEFAULT_PORT);
    }

    #[test]
    fn a_bad_timeout_names_its_variable() {
        let env = Env::default().with("OPERATOR_CLEANUP_TIMEOUT_SECONDS", "soon");
        let err = OperatorConfig::from_env(&env).unwrap_err();
        assert_eq!(err.name, "OPERATOR_CLEANUP_TIMEOUT_SECONDS");
    }
}
