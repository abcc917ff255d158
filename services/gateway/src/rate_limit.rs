//! Rate limiting: a token bucket per route and per caller (the user when authenticated, else the
//! client IP), kept in Redis so all replicas share it. When Redis cannot be reached the request
//! is let through (fail open) and counted: buying must not stop because the limiter's store did.
//!
//! A replica may take several tokens from the shared bucket at once (a lease) and spend them
//! locally for a short while, so a busy caller costs one Redis call per lease rather than per
//! request. Leased tokens leave the bucket before they are spent and a replica holds at most one
//! lease per bucket, so replicas together admit at most what the bucket allows plus one lease
//! each (at most a tenth of the burst); tokens a lease does not spend before it lapses are lost,
//! which only refuses early. `RateLimit-Remaining` is the shared bucket's count at the replica's
//! last call to Redis.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use rand::Rng;
use redis::{Script, aio::ConnectionManager};
use shared::config::{ConfigError, Env};

/// Most tokens one lease may hold.
const MAX_LEASE: u32 = 1_000;
/// How long a lease's tokens may be spent, at most; each lease lives a random part of it, at
/// least half, so leases taken together (every buyer of a sale at its opening) do not lapse
/// together and send all their callers to Redis in the same instant.
const LEASE_TTL: Duration = Duration::from_secs(5);
/// Callers with a live lease kept per replica; the least recently used beyond it are dropped.
const MAX_LEASES: u64 = 100_000;

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
    lease_ms: u64,
}

impl Limit {
    /// Tokens a replica takes at once: the rate of `lease_ms` milliseconds, at most a tenth of the
    /// burst (so one replica cannot drain a bucket others share) and at most [`MAX_LEASE`];
    /// at least one, which is one Redis call per request.
    pub fn lease(&self, lease_ms: u64) -> u32 {
        let tokens = (self.rate * lease_ms as f64 / 1000.0).min(f64::from(self.burst) / 10.0);
        (tokens.floor() as u32).clamp(1, MAX_LEASE)
    }
}

impl Limits {
    /// Reads `GATEWAY_RATE_LIMITS`: `route=rate/burst` pairs, comma separated; `default` applies
    /// to routes not listed. `GATEWAY_RATE_LIMIT_LEASE_MS` (default 100, 0 for none) is how many
    /// milliseconds of a route's rate a replica may take from the shared bucket at once.
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
            if !(limit.rate > 0.0 && limit.rate.is_finite() && limit.burst >= 1) {
                return Err(bad(entry));
            }
            per_route.insert(route.trim().to_owned(), limit);
        }
        let default = per_route.remove("default").unwrap_or(Limit {
            rate: 50.0,
            burst: 100,
        });
        let lease_ms = env.parse_or("GATEWAY_RATE_LIMIT_LEASE_MS", 100)?;
        Ok(Self {
            default,
            per_route,
            lease_ms,
        })
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

/// The bucket size.
static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// Tokens left in the bucket.
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// Seconds until the bucket is full again.
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl Decision {
    /// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(
            RATELIMIT_REMAINING.clone(),
            HeaderValue::from(self.remaining.max(0)),
        );
        headers.insert(RATELIMIT_RESET.clone(), HeaderValue::from(self.reset));
    }
}

/// Tokens this replica took from a shared bucket and has not spent yet.
#[derive(Debug)]
struct Lease {
    tokens: u32,
    /// Tokens the shared bucket had left at the last answer from Redis.
    bucket_left: i64,
    /// When the shared bucket is full again, as of that answer.
    full_at: Instant,
    /// When the unspent tokens lapse.
    expires: Instant,
    /// Whether a request is asking Redis for a lease for this bucket right now.
    leasing: bool,
}

/// The leases of one replica, by bucket key.
struct Leases {
    /// Keys carry the client's address or verified user id; at most `MAX_LEASES` are kept.
    cache: moka::sync::Cache<String, Arc<Mutex<Lease>>, shared::KeyHasher>,
}

/// A request asking Redis for a lease; the next may ask once it is dropped.
struct Leasing {
    lease: Arc<Mutex<Lease>>,
}

impl Leases {
    fn new() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_LEASES)
                .time_to_idle(LEASE_TTL)
                .build_with_hasher(shared::KeyHasher::default()),
        }
    }

    /// Spends a leased token of `key`, if a live lease has one.
    fn spend(&self, key: &str, limit: Limit) -> Option<Decision> {
        let lease = self.cache.get(key)?;
        let mut lease = lease.lock().ok()?;
        let now = Instant::now();
        if lease.tokens == 0 || lease.expires <= now {
            return None;
        }
        lease.tokens -= 1;
        Some(Decision {
            allowed: true,
            limit: limit.burst,
            remaining: lease.bucket_left,
            retry_after: 1,
            reset: lease
                .full_at
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil() as u64,
        })
    }

    /// Lets the caller ask Redis for a lease of `key`, unless another request is asking: the
    /// others meanwhile take one token per call, so concurrent misses never lease more than one
    /// lease's worth.
    fn start(&self, key: &str) -> Option<Leasing> {
        let now = Instant::now();
        let lease = self.cache.get_with(key.to_owned(), || {
            Arc::new(Mutex::new(Lease {
                tokens: 0,
                bucket_left: 0,
                full_at: now,
                expires: now,
                leasing: false,
            }))
        });
        let mut state = lease.lock().ok()?;
        if state.leasing {
            return None;
        }
        state.leasing = true;
        drop(state);
        Some(Leasing { lease })
    }
}

impl Leasing {
    /// Keeps `tokens` more, holding at most `cap`, until the lease lapses.
    fn keep(&self, tokens: u32, cap: u32, bucket_left: i64, full_at: Instant) {
        let now = Instant::now();
        if let Ok(mut lease) = self.lease.lock() {
            if lease.tokens == 0 || lease.expires <= now {
                // A new lease; tokens already held keep the life they started with.
                lease.tokens = 0;
                lease.expires = now + lease_life();
            }
            lease.tokens = lease.tokens.saturating_add(tokens).min(cap);
            lease.bucket_left = bucket_left;
            lease.full_at = full_at;
        }
    }
}

/// A new lease's life: between half of [`LEASE_TTL`] and all of it.
fn lease_life() -> Duration {
    rand::thread_rng().gen_range(LEASE_TTL / 2..=LEASE_TTL)
}

impl Drop for Leasing {
    fn drop(&mut self) {
        if let Ok(mut lease) = self.lease.lock() {
            lease.leasing = false;
        }
    }
}

/// The shared limiter.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    script: Arc<Script>,
    limits: Arc<Limits>,
    namespace: String,
    leases: Arc<Leases>,
}

impl RateLimiter {
    /// A limiter over `conn`, with keys under `namespace`.
    pub fn new(conn: ConnectionManager, limits: Limits, namespace: String) -> Self {
        Self {
            conn,
            script: Arc::new(Script::new(include_str!("token_bucket.lua"))),
            limits: Arc::new(limits),
            namespace,
            leases: Arc::new(Leases::new()),
        }
    }

    /// Takes a token for `caller` on `route`; `None` when Redis could not answer (fail open).
    pub async fn check(&self, route: &str, caller: &str) -> Option<Decision> {
        let limit = self.limits.of(route);
        let key = [self.namespace.as_str(), ":{", route, ":", caller, "}"].concat();
        if let Some(decision) = self.leases.spend(&key, limit) {
            return Some(decision);
        }
        let lease = limit.lease(self.limits.lease_ms);
        let leasing = (lease > 1).then(|| self.leases.start(&key)).flatten();
        let want = if leasing.is_some() { lease } else { 1 };
        let mut conn = self.conn.clone();
        let reply: redis::RedisResult<(i64, i64, i64, i64)> = self
            .script
            .key(&key)
            .arg(limit.rate)
            .arg(limit.burst)
            .arg(want)
            .invoke_async(&mut conn)
            .await;
        match reply {
            Ok((taken, remaining, wait_ms, full_ms)) => {
                if taken < 1 {
                    // Concurrent requests of this caller may have leased the last tokens meanwhile.
                    if let Some(decision) = self.leases.spend(&key, limit) {
                        return Some(decision);
                    }
                }
                let full_in = full_ms.max(0) as u64;
                let kept = u32::try_from(taken - 1).unwrap_or(0);
                if let Some(leasing) = leasing.as_ref().filter(|_| kept > 0) {
                    let full_at = Instant::now() + Duration::from_millis(full_in);
                    leasing.keep(kept, lease - 1, remaining, full_at);
                }
                Some(Decision {
                    allowed: taken >= 1,
                    limit: limit.burst,
                    remaining,
                    retry_after: (wait_ms.max(0) as u64).div_ceil(1000).max(1),
                    reset: full_in.div_ceil(1000),
                })
            }
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
        for bad in [
            "auth=0/3",
            "auth=1/0",
            "auth",
            "auth=x/1",
            "auth=inf/3",
            "auth=NaN/3",
        ] {
            assert!(
                Limits::from_env(&Env::default().with("GATEWAY_RATE_LIMITS", bad)).is_err(),
                "{bad}"
            );
        }
        assert_eq!(limits.lease_ms, 100);
        assert!(
            Limits::from_env(&Env::default().with("GATEWAY_RATE_LIMIT_LEASE_MS", "soon")).is_err()
        );
    }

    #[test]
    fn a_replica_asks_for_one_lease_at_a_time_and_holds_at_most_one() {
        let leases = Leases::new();
        let limit = Limit {
            rate: 50.0,
            burst: 100,
        };
        let full_at = Instant::now() + Duration::from_secs(2);
        assert!(leases.spend("k", limit).is_none(), "nothing leased yet");
        let first = leases.start("k").unwrap();
        assert!(
            leases.start("k").is_none(),
            "a lease is already being asked for"
        );
        assert!(leases.start("other").is_some(), "leases are per bucket");
        // A lease of 5: one spent by the request that asked, 4 kept; never more than the cap.
        first.keep(4, 4, 85, full_at);
        first.keep(4, 4, 85, full_at);
        drop(first);
        for _ in 0..4 {
            let decision = leases.spend("k", limit).unwrap();
            assert!(decision.allowed);
            assert_eq!(decision.remaining, 85);
            assert_eq!(decision.reset, 2);
        }
        assert!(leases.spend("k", limit).is_none(), "the lease is spent");
        assert!(
            leases.start("k").is_some(),
            "the next may ask once the first is done"
        );
    }

    /// Leases taken in the same instant lapse over half a lease's life, not together.
    #[test]
    fn leases_taken_together_lapse_at_different_times_within_their_life() {
        let leases = Leases::new();
        let taken = Instant::now();
        let expiries: Vec<Instant> = (0..200)
            .map(|i| {
                let key = format!("buyer-{i}");
                leases.start(&key).unwrap().keep(9, 9, 90, taken);
                let lease = leases.cache.get(&key).unwrap();
                lease.lock().unwrap().expires
            })
            .collect();
        let done = Instant::now();
        for expires in &expiries {
            assert!(
                *expires >= taken + LEASE_TTL / 2,
                "a lease lives at least half"
            );
            assert!(
                *expires <= done + LEASE_TTL,
                "a lease lives at most its whole life"
            );
        }
        let (first, last) = (
            expiries.iter().min().unwrap(),
            expiries.iter().max().unwrap(),
        );
        assert!(
            last.duration_since(*first) >= LEASE_TTL / 4,
            "200 leases taken together lapse within {:?} of each other",
            last.duration_since(*first)
        );
    }

    #[test]
    fn a_lease_is_a_slice_of_the_rate_never_more_than_a_tenth_of_the_burst() {
        let limit = |rate: f64, burst: u32| Limit { rate, burst };
        // The default limits: 5 tokens (100 ms at 50/s) for the API, one call per login.
        assert_eq!(limit(50.0, 100).lease(100), 5);
        assert_eq!(limit(5.0, 20).lease(100), 1);
        // A big rate with a small burst: a tenth of the burst.
        assert_eq!(limit(10_000.0, 200).lease(100), 20);
        // Limits out of reach: capped.
        assert_eq!(limit(1e9, 1_000_000_000).lease(100), MAX_LEASE);
        // No leasing: one token per call.
        assert_eq!(limit(1e9, 1_000_000_000).lease(0), 1);
        assert_eq!(limit(0.1, 5).lease(100_000), 1);
    }
}
