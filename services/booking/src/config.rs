//! Booking's configuration from the environment.

use std::time::Duration;

use shared::{
    auth::AuthConfig,
    config::{ConfigError, Env, HttpConfig},
    ids::SaleId,
    kafka::KafkaConfig,
    postgres::PostgresConfig,
    redis::RedisConfig,
};

/// Which sales this process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleScope {
    /// Every provisioned sale (local mode).
    All,
    /// Only these (a per-sale deployment).
    Only(Vec<SaleId>),
}

/// Everything the booking service needs to start.
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// Listener.
    pub http: HttpConfig,
    /// PostgreSQL.
    pub postgres: PostgresConfig,
    /// Redis.
    pub redis: RedisConfig,
    /// Kafka.
    pub kafka: KafkaConfig,
    /// Token verification.
    pub auth: AuthConfig,
    /// Sales served.
    pub sales: SaleScope,
    /// Run migrations at start.
    pub migrate: bool,
    /// How often due holds are expired.
    pub sweep_interval: Duration,
    /// How long the relay waits when the outbox is empty.
    pub relay_interval: Duration,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// Consumer group of the recorder.
    pub recorder_group: String,
    /// Consumer group of the payment confirmer.
    pub confirmer_group: String,
}

impl BookingConfig {
    /// Reads `BOOKING_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let sales = match env.string_or("BOOKING_SALES", "*").trim() {
            "*" => SaleScope::All,
            list => SaleScope::Only(
                list.split(',')
                    .map(|s| SaleId::parse(s.trim()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ConfigError {
                        name: "BOOKING_SALES".into(),
                        reason: e.to_string(),
                    })?,
            ),
        };
        Ok(Self {
            http: HttpConfig::from_env(env, "BOOKING", 8083)?,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env)?,
            auth: AuthConfig::from_env(env)?,
            sales,
            migrate: env.parse_or("BOOKING_MIGRATE", true)?,
            sweep_interval: env.millis_or("BOOKING_SWEEP_INTERVAL_MS", 250)?,
            relay_interval: env.millis_or("BOOKING_RELAY_INTERVAL_MS", 20)?,
            idempotency_ttl: env.millis_or("BOOKING_IDEMPOTENCY_TTL_MS", 86_400_000)?,
            recorder_group: env.string_or("BOOKING_RECORDER_GROUP", "booking-recorder"),
            confirmer_group: env.string_or("BOOKING_CONFIRMER_GROUP", "booking-confirmer"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_list_is_validated() {
        let env = Env::default().with("BOOKING_SALES", "demo, other");
        assert_eq!(
            BookingConfig::from_env(&env).unwrap().sales,
            SaleScope::Only(vec![
                SaleId::parse("demo").unwrap(),
                SaleId::parse("other").unwrap()
            ])
        );
        let bad = Env::default().with("BOOKING_SALES", "Demo!");
        assert!(
            BookingConfig::from_env(&bad)
                .unwrap_err()
                .to_string()
                .contains("BOOKING_SALES")
        );
    }
}
