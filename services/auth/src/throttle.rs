//! Login throttling in Redis: failed attempts per account, all attempts per client IP, each in a
//! fixed window. Redis down → logins are not throttled (logged), rather than refused.

use std::{net::IpAddr, time::Duration};

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

/// Counts login attempts.
#[derive(Clone)]
pub struct Throttle {
    conn: ConnectionManager,
    namespace: String,
    per_account: u32,
    per_ip: u32,
    window: Duration,
}

/// A throttling decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Too many attempts; retry after this many seconds.
    Wait(u64),
}

impl Throttle {
    /// Limits per account and per IP within `window`, counted under the key prefix `namespace`.
    pub fn new(
        conn: ConnectionManager,
        namespace: String,
        per_account: u32,
        per_ip: u32,
        window: Duration,
    ) -> Self {
        Self {
            conn,
            namespace,
            per_account,
            per_ip,
            window,
        }
    }

    fn account_key(&self, email: &str) -> String {
        let digest = Sha256::digest(email.as_bytes());
        let hashed =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest);
        format!("{}:login-failures:{hashed}", self.namespace)
    }

    fn ip_key(&self, ip: IpAddr) -> String {
        format!("{}:login-attempts:{ip}", self.namespace)
    }

    /// Counts this attempt against the IP and checks both limits.
    pub async fn check(&self, email: &str, ip: IpAddr) -> Verdict {
        let mut conn = self.conn.clone();
        let window = self.window.as_secs().max(1);
        let result: redis::RedisResult<(u32, i64, Option<u32>, i64)> = redis::pipe()
            .cmd("INCR")
            .arg(self.ip_key(ip))
            .cmd("EXPIRE")
            .arg(self.ip_key(ip))
            .arg(window)
            .arg("NX")
            .ignore()
            .cmd("TTL")
            .arg(self.ip_key(ip))
            .cmd("GET")
            .arg(self.account_key(email))
            .cmd("TTL")
            .arg(self.account_key(email))
            .query_async(&mut conn)
            .await;
        match result {
            Ok((ip_attempts, ip_ttl, failures, account_ttl)) => {
                if failures.unwrap_or(0) >= self.per_account {
                    Verdict::Wait(account_ttl.max(1) as u64)
                } else if ip_attempts > self.per_ip {
                    Verdict::Wait(ip_ttl.max(1) as u64)
                } else {
                    Verdict::Allow
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "login throttle unavailable; not throttling");
                Verdict::Allow
            }
        }
    }

    /// Records a failed login for the account.
    pub async fn failed(&self, email: &str) {
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<()> = redis::pipe()
            .cmd("INCR")
            .arg(self.account_key(email))
            .ignore()
            .cmd("EXPIRE")
            .arg(self.account_key(email))
            .arg(self.window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "recording a failed login failed");
        }
    }

    /// Clears the account's failures after a successful login.
    pub async fn succeeded(&self, email: &str) {
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(self.account_key(email))
            .query_async(&mut conn)
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "clearing login failures failed");
        }
    }
}
