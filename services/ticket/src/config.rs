//! The ticket service's configuration from the environment.

use std::time::Duration;

use shared::{
    auth::AuthConfig,
    config::{ConfigError, Env, HttpConfig},
    postgres::PostgresConfig,
    redis::RedisConfig,
};

/// Everything the ticket service needs to start.
#[derive(Debug, Clone)]
pub struct TicketConfig {
    /// Listener.
    pub http: HttpConfig,
    /// PostgreSQL.
    pub postgres: PostgresConfig,
    /// Redis (the read-through cache).
    pub redis: RedisConfig,
    /// Token verification.
    pub auth: AuthConfig,
    /// Booking service URL template; `{sale}` is replaced by the sale id.
    pub booking_url: String,
    /// How long a booking availability call may take before availability shows as unknown.
    pub booking_timeout: Duration,
    /// How long live availability is reused.
    pub availability_ttl: Duration,
    /// How long a cached public read lives at most (writes invalidate it sooner).
    pub cache_ttl: Duration,
    /// Key prefix of the cache in Redis.
    pub cache_namespace: String,
    /// Run migrations at start.
    pub migrate: bool,
}

impl TicketConfig {
    /// Reads `TICKET_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let booking_url = env.string_or("TICKET_BOOKING_URL", "http://127.0.0.1:8083");
        let probe = booking_url.replace("{sale}", "sale");
        if reqwest::Url::parse(&probe)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true)
        {
            return Err(ConfigError {
                name: "TICKET_BOOKING_URL".into(),
                reason: format!("{booking_url:?} is not an http(s) URL"),
            });
        }
        Ok(Self {
            http: HttpConfig::from_env(env, "TICKET", 8082)?,
            postgres: PostgresConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            auth: AuthConfig::from_env(env)?,
            booking_url: booking_url.trim_end_matches('/').to_owned(),
            booking_timeout: env.millis_or("TICKET_BOOKING_TIMEOUT_MS", 500)?,
            availability_ttl: env.millis_or("TICKET_AVAILABILITY_TTL_MS", 2_000)?,
            cache_ttl: env.millis_or("TICKET_CACHE_TTL_MS", 60_000)?,
            cache_namespace: env.string_or("TICKET_CACHE_NAMESPACE", "ticket"),
            migrate: env.parse_or("TICKET_MIGRATE", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_url_that_is_not_http_names_the_variable() {
        let env = Env::default().with("TICKET_BOOKING_URL", "ftp://{sale}-booking");
        let err = TicketConfig::from_env(&env).unwrap_err();
        assert_eq!(err.name, "TICKET_BOOKING_URL");
        let env = Env::default().with("TICKET_BOOKING_URL", "http://{sale}-booking:8083/");
        assert_eq!(
            TicketConfig::from_env(&env).unwrap().booking_url,
            "http://{sale}-booking:8083"
        );
    }
}
