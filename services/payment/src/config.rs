//! Payment's configuration from the environment.

use std::time::Duration;

use secrecy::SecretString;
use shared::{
    auth::AuthConfig,
    config::{ConfigError, Env, HttpConfig},
    kafka::KafkaConfig,
    postgres::PostgresConfig,
    redis::RedisConfig,
    sales::SaleScope,
};

/// How to reach the PSP.
#[derive(Debug, Clone)]
pub struct PspConfig {
    /// Base URL of the PSP's API.
    pub url: String,
    /// The API key presented to the PSP.
    pub api_key: SecretString,
    /// The secret the PSP signs webhooks with.
    pub webhook_secret: SecretString,
    /// How long a PSP call may take.
    pub timeout: Duration,
    /// How far a webhook's timestamp may be from now.
    pub webhook_tolerance: Duration,
}

/// Everything the payment service needs to start.
#[derive(Debug, Clone)]
pub struct PaymentConfig {
    /// Listener.
    pub http: HttpConfig,
    /// PostgreSQL.
    pub postgres: PostgresConfig,
    /// Redis (the registry of provisioned sales).
    pub redis: RedisConfig,
    /// Kafka.
    pub kafka: KafkaConfig,
    /// Token verification.
    pub auth: AuthConfig,
    /// Sales served.
    pub sales: SaleScope,
    /// Run migrations at start.
    pub migrate: bool,
    /// Booking's base URL; `{sale}` is replaced by the sale id.
    pub booking_url: String,
    /// How long a call to booking may take.
    pub booking_timeout: Duration,
    /// The PSP.
    pub psp: PspConfig,
    /// Whether this process publishes the outbox.
    pub relay: bool,
    /// How long the relay sleeps when the outbox is empty (a notification wakes it sooner).
    pub relay_interval: Duration,
    /// How often the PSP sync worker looks for payments waiting on the PSP.
    pub sync_interval: Duration,
    /// How long a payment waits on the PSP before the worker acts (retry, poll, refund).
    pub sync_after: Duration,
    /// Consumer group reading the bookings topics.
    pub bookings_group: String,
}

impl PaymentConfig {
    /// Reads `PAYMENT_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, "PAYMENT", 8084)?,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env)?,
            auth: AuthConfig::from_env(env)?,
            sales: SaleScope::from_env(env, "PAYMENT_SALES")?,
            migrate: env.parse_or("PAYMENT_MIGRATE", true)?,
            booking_url: env.http_url_or("PAYMENT_BOOKING_URL", "http://127.0.0.1:8083")?,
            booking_timeout: env.millis_or("PAYMENT_BOOKING_TIMEOUT_MS", 3_000)?,
            psp: PspConfig {
                url: env.http_url_or("PAYMENT_PSP_URL", "http://127.0.0.1:8085")?,
                api_key: env.secret_or_local_file("PAYMENT_PSP_API_KEY", ".dev/psp/api-key")?,
                webhook_secret: env.secret_or_local_file(
                    "PAYMENT_PSP_WEBHOOK_SECRET",
                    ".dev/psp/webhook-secret",
                )?,
                timeout: env.millis_or("PAYMENT_PSP_TIMEOUT_MS", 3_000)?,
                webhook_tolerance: Duration::from_secs(
                    env.parse_or("PAYMENT_WEBHOOK_TOLERANCE_SECONDS", 300)?,
                ),
            },
            relay: env.parse_or("PAYMENT_RELAY", true)?,
            relay_interval: env.millis_or("PAYMENT_RELAY_INTERVAL_MS", 200)?,
            sync_interval: env.millis_or("PAYMENT_PSP_SYNC_INTERVAL_MS", 500)?,
            sync_after: env.millis_or("PAYMENT_PSP_SYNC_AFTER_MS", 5_000)?,
            bookings_group: env.string_or("PAYMENT_BOOKINGS_GROUP", "payment-bookings"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PAYMENT_BOOKING_URL", "booking:8083"),
            ("PAYMENT_PSP_URL", "ftp://psp"),
            ("PAYMENT_SALES", "Not A Sale"),
            ("PAYMENT_PSP_TIMEOUT_MS", "0"),
        ] {
            let env = Env::default()
                .with(name, value)
                .with("PAYMENT_PSP_API_KEY", "an-api-key-for-tests")
                .with("PAYMENT_PSP_WEBHOOK_SECRET", "a-webhook-secret-for-tests");
            let err = PaymentConfig::from_env(&env).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
