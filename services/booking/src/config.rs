//! Booking's configuration from the environment.

use std::time::Duration;

use shared::{
    auth::AuthConfig,
    config::{ConfigError, Env, HttpConfig},
    kafka::KafkaConfig,
    postgres::PostgresConfig,
    redis::RedisConfig,
    sales::SaleScope,
};

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
    /// How often the queues admit and their event streams are updated.
    pub queue_tick: Duration,
    /// Events published together share a message (off: one event per message).
    pub event_batching: bool,
}

impl BookingConfig {
    /// Reads `BOOKING_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, "BOOKING", 8083)?,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env)?,
            auth: AuthConfig::from_env(env)?,
            sales: SaleScope::from_env(env, "BOOKING_SALES")?,
            migrate: env.parse_or("BOOKING_MIGRATE", true)?,
            sweep_interval: env.millis_or("BOOKING_SWEEP_INTERVAL_MS", 250)?,
            relay_interval: env.millis_or("BOOKING_RELAY_INTERVAL_MS", 20)?,
            idempotency_ttl: env.millis_or("BOOKING_IDEMPOTENCY_TTL_MS", 86_400_000)?,
            recorder_group: env.string_or("BOOKING_RECORDER_GROUP", "booking-recorder"),
            confirmer_group: env.string_or("BOOKING_CONFIRMER_GROUP", "booking-confirmer"),
            queue_tick: env.millis_or("BOOKING_QUEUE_TICK_MS", 200)?,
            event_batching: env.parse_or("BOOKING_EVENT_BATCHING", true)?,
        })
    }
}
