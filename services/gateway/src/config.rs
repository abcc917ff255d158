//! The gateway's configuration from the environment.

use std::time::Duration;

use ipnet::IpNet;
use shared::{
    auth::AuthConfig,
    config::{ConfigError, Env, HttpConfig},
};

use crate::{rate_limit::Limits, routing::Upstreams};

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listener.
    pub http: HttpConfig,
    /// Token verification (auth's JWKS).
    pub auth: AuthConfig,
    /// Where each family of routes goes.
    pub upstreams: Upstreams,
    /// How long an upstream may take to start answering, per route.
    pub timeouts: RouteTimeouts,
    /// Peers whose `X-Forwarded-For` is kept (and appended to).
    pub trusted_proxies: Vec<IpNet>,
    /// Redis, for the rate limiter.
    pub redis: shared::redis::RedisConfig,
    /// Rate limits per route.
    pub limits: Limits,
    /// Key prefix of the rate-limit buckets.
    pub limit_namespace: String,
    /// Browser origins allowed by CORS; none when empty.
    pub cors_origins: Vec<String>,
    /// Largest request body forwarded.
    pub max_body_bytes: u64,
}

/// Upstream timeouts: a default and per-route overrides.
#[derive(Debug, Clone)]
pub struct RouteTimeouts {
    default: Duration,
    per_route: Vec<(String, Duration)>,
}

impl RouteTimeouts {
    /// Reads `GATEWAY_UPSTREAM_TIMEOUT_MS` (default) and `GATEWAY_ROUTE_TIMEOUTS_MS` (`route=ms,…`).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = "GATEWAY_ROUTE_TIMEOUTS_MS";
        let per_route = env
            .string_or(name, "")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let bad = || ConfigError {
                    name: name.into(),
                    reason: format!("{entry:?} is not route=milliseconds (> 0)"),
                };
                let (route, ms) = entry.split_once('=').ok_or_else(bad)?;
                let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
                if ms == 0 {
                    return Err(bad());
                }
                Ok((route.trim().to_owned(), Duration::from_millis(ms)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            default: env.millis_or("GATEWAY_UPSTREAM_TIMEOUT_MS", 10_000)?,
            per_route,
        })
    }

    /// The timeout of a route.
    pub fn of(&self, route: &str) -> Duration {
        self.per_route
            .iter()
            .find(|(r, _)| r == route)
            .map_or(self.default, |(_, d)| *d)
    }
}

impl GatewayConfig {
    /// Reads `GATEWAY_*` and the shared variables, with local defaults.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, "GATEWAY", 8080)?,
            auth: AuthConfig::from_env(env)?,
            upstreams: Upstreams {
                auth: env.http_url_or("GATEWAY_AUTH_UPSTREAM", "http://127.0.0.1:8081")?,
                catalog: env.http_url_or("GATEWAY_CATALOG_UPSTREAM", "http://127.0.0.1:8082")?,
                booking: env.http_url_or("GATEWAY_BOOKING_UPSTREAM", "http://127.0.0.1:8083")?,
                payment: env.http_url_or("GATEWAY_PAYMENT_UPSTREAM", "http://127.0.0.1:8084")?,
                sale_booking: env
                    .http_url_or("GATEWAY_SALE_BOOKING_UPSTREAM", "http://127.0.0.1:8083")?,
                sale_payment: env
                    .http_url_or("GATEWAY_SALE_PAYMENT_UPSTREAM", "http://127.0.0.1:8084")?,
            },
            timeouts: RouteTimeouts::from_env(env)?,
            trusted_proxies: shared::net::parse_cidrs(env, "GATEWAY_TRUSTED_PROXIES", "")?,
            redis: shared::redis::RedisConfig::from_env(env)?,
            limits: Limits::from_env(env)?,
            limit_namespace: env.string_or("GATEWAY_RATE_LIMIT_NAMESPACE", "ratelimit"),
            cors_origins: env
                .string_or("GATEWAY_CORS_ORIGINS", "")
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            max_body_bytes: env.parse_or("GATEWAY_MAX_BODY_BYTES", 1_048_576)?,
        })
    }
}
