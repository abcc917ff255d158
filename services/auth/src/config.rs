//! Auth's configuration from the environment.

use std::{path::PathBuf, time::Duration};

use ipnet::IpNet;
use shared::{
    auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    config::{ConfigError, Env, HttpConfig},
    postgres::PostgresConfig,
    redis::RedisConfig,
};

/// Everything the auth service needs to start.
#[derive(Debug, Clone)]
pub struct AuthServiceConfig {
    /// Listener.
    pub http: HttpConfig,
    /// PostgreSQL.
    pub postgres: PostgresConfig,
    /// Redis (login throttling).
    pub redis: RedisConfig,
    /// Signing keys (`<kid>.pem`).
    pub keys_dir: PathBuf,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Failed logins per account before it is throttled.
    pub max_failures_per_account: u32,
    /// Login attempts per client IP per window.
    pub max_attempts_per_ip: u32,
    /// Throttling window.
    pub throttle_window: Duration,
    /// Redis key prefix of the throttling counters.
    pub throttle_namespace: String,
    /// How often the key directory is re-read.
    pub key_reload: Duration,
    /// Run migrations at start.
    pub migrate: bool,
}

impl AuthServiceConfig {
    /// Reads `AUTH_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, "AUTH", 8081)?,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            keys_dir: env.string_or("AUTH_KEYS_DIR", ".dev/keys").into(),
            issuer: env.string_or("AUTH_ISSUER", DEFAULT_ISSUER),
            audience: env.string_or("AUTH_AUDIENCE", DEFAULT_AUDIENCE),
            access_ttl: Duration::from_secs(env.parse_or("AUTH_ACCESS_TTL_SECONDS", 900)?),
            refresh_ttl: Duration::from_secs(
                env.parse_or("AUTH_REFRESH_TTL_SECONDS", 30 * 86_400)?,
            ),
            trusted_proxies: shared::net::parse_cidrs(
                env,
                "AUTH_TRUSTED_PROXIES",
                "127.0.0.1/32,::1/128",
            )?,
            max_failures_per_account: env.parse_or("AUTH_MAX_FAILURES_PER_ACCOUNT", 5)?,
            max_attempts_per_ip: env.parse_or("AUTH_MAX_ATTEMPTS_PER_IP", 50)?,
            throttle_window: Duration::from_secs(
                env.parse_or("AUTH_THROTTLE_WINDOW_SECONDS", 900)?,
            ),
            throttle_namespace: env.string_or("AUTH_THROTTLE_NAMESPACE", "auth"),
            key_reload: env.millis_or("AUTH_KEY_RELOAD_MS", 30_000)?,
            migrate: env.parse_or("AUTH_MIGRATE", true)?,
        })
    }
}
