//! Rate limiting: a token bucket per route and per caller (the user when authenticated, else the
//! client IP), kept in Redis so all replicas share it. When Redis cannot be reached the request
//! is let through (fail open) and counted: buying must not stop because the limiter's store did.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue};
use redis::{Script, aio::ConnectionManager};
use shared::config::{ConfigError, Env};

/// Rate and burst of one route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: u32,
}

/// Limits per route name, with a default.
#[derive(Debug, Clone)]
pub struct Limits {
    default: Limit,
    per_route: HashMap<String, Limit>,
}

impl Limits {
    /// Reads `GATEWAY_RATE_LIMITS`: `route=rate/burst` pairs, comma separated; `default` applies
    /// to routes not listed.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = "GATEWAY_RATE_LIMITS";
        let raw = env.string_or(name, "default=50/100,auth=5/20");
        let bad = |entry: &str| ConfigError {
            name: name.into(),
            reason: format!("{entry:?} is not route=rate/burst with rate > 0 and burst >= 1"),
        };
        let mut per_route = HashMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (route, spec) = entry.split_once('=').ok_or_else(|| bad(entry))?;
            let (rate, burst) = spec.split_once('/').ok_or_else(|| bad(entry))?;
            let limit = Limit {
                rate: rate.trim().parse().map_err(|_| bad(entry))?,
                burst: burst.trim().parse().map_err(|_| bad(entry))?,
            };
            if !(limit.rate > 0.0 && limit.burst >= 1) {
                return Err(bad(entry));
            }
            per_route.insert(route.trim().to_owned(), limit);
        }
        let default = per_route.remove("default").unwrap_or(Limit {
            rate: 50.0,
            burst: 100,
        });
        Ok(Self { default, per_route })
    }

    /// The limit of a route.
    pub fn of(&self, route: &str) -> Limit {
        self.per_route.get(route).copied().unwrap_or(self.default)
    }
}

/// A decision with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket size.
    pub limit: u32,
    /// Tokens left.
    pub remaining: i64,
    /// Seconds until a token is available (when refused).
    pub retry_after: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
}

impl Decision {
    /// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert(
            "ratelimit-remaining",
            HeaderValue::from(self.remaining.max(0)),
        );
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset));
    }
}

/// The shared limiter.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    script: std::sync::Arc<Script>,
    limits: std::sync::Arc<Limits>,
    namespace: String,
}

impl RateLimiter {
    /// A limiter over `conn`, with keys under `namespace`.
    pub fn new(conn: ConnectionManager, limits: Limits, namespace: String) -> Self {
        Self {
            conn,
            script: std::sync::Arc::new(Script::new(include_str!("token_bucket.lua"))),
            limits: std::sync::Arc::new(limits),
            namespace,
        }
    }

    /// Takes a token for `caller` on `route`; `None` when Redis could not answer (fail open).
    pub async fn check(&self, route: &str, caller: &str) -> Option<Decision> {
        let limit = self.limits.of(route);
        let mut conn = self.conn.clone();
        let key = format!("{}:{{{route}:{caller}}}", self.namespace);
        let reply: redis::RedisResult<(i64, i64, i64, i64)> = self
            .script
            .key(key)
            .arg(limit.rate)
            .arg(limit.burst)
            .invoke_async(&mut conn)
            .await;
        match reply {
            Ok((allowed, remaining, wait_ms, full_ms)) => Some(Decision {
                allowed: allowed == 1,
                limit: limit.burst,
                remaining,
                retry_after: ((wait_ms.max(0) as u64).div_ceil(1000)).max(1),
                reset: (full_ms.max(0) as u64).div_ceil(1000),
            }),
            Err(err) => {
                metrics::counter!("gateway_rate_limit_unavailable_total").increment(1);
                tracing::warn!(error = %err, "rate limiter unavailable; letting the request through");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_per_route_with_a_default() {
        let limits = Limits::from_env(
            &Env::default().with("GATEWAY_RATE_LIMITS", "default=10/20, auth=1.5/3"),
        )
        .unwrap();
        assert_eq!(
            limits.of("auth"),
            Limit {
                rate: 1.5,
                burst: 3
            }
        );
        assert_eq!(
            limits.of("sale_booking"),
            Limit {
                rate: 10.0,
                burst: 20
            }
        );
        for bad in ["auth=0/3", "auth=1/0", "auth", "auth=x/1"] {
            assert!(
                Limits::from_env(&Env::default().with("GATEWAY_RATE_LIMITS", bad)).is_err(),
                "{bad}"
            );
        }
    }
}
