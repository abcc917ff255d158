//! Redis read-through cache of public reads. Every write bumps one generation counter that is
//! part of every key, so one `INCR` invalidates everything at once; old entries expire by TTL.
//! When Redis is down, reads go to PostgreSQL (logged and counted), never to an error.

use std::{future::Future, time::Duration};

use redis::{AsyncCommands, aio::ConnectionManager};

use crate::error::TicketError;

/// The read-through cache.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    namespace: String,
    ttl: Duration,
}

impl Cache {
    /// A cache under `namespace` whose entries live at most `ttl`.
    pub fn new(conn: ConnectionManager, namespace: String, ttl: Duration) -> Self {
        Self {
            conn,
            namespace,
            ttl,
        }
    }

    fn generation_key(&self) -> String {
        format!("{}:cache:generation", self.namespace)
    }

    async fn generation(&self) -> redis::RedisResult<u64> {
        let mut conn = self.conn.clone();
        let generation: Option<u64> = conn.get(self.generation_key()).await?;
        Ok(generation.unwrap_or(0))
    }

    /// The cached JSON under `key`, or what `load` returns (cached when it is `Some`).
    pub async fn read_through<F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<Option<Vec<u8>>, TicketError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Vec<u8>>, TicketError>>,
    {
        let generation = match self.generation().await {
            Ok(generation) => generation,
            Err(err) => {
                tracing::warn!(error = %err, "cache unavailable; reading the database");
                metrics::counter!("ticket_cache_total", "outcome" => "unavailable").increment(1);
                return load().await;
            }
        };
        let full_key = format!("{}:cache:{generation}:{key}", self.namespace);
        let mut conn = self.conn.clone();
        match conn.get::<_, Option<Vec<u8>>>(&full_key).await {
            Ok(Some(hit)) => {
                metrics::counter!("ticket_cache_total", "outcome" => "hit").increment(1);
                return Ok(Some(hit));
            }
            Ok(None) => {
                metrics::counter!("ticket_cache_total", "outcome" => "miss").increment(1);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cache read failed; reading the database");
                metrics::counter!("ticket_cache_total", "outcome" => "unavailable").increment(1);
            }
        }
        let loaded = load().await?;
        if let Some(bytes) = &loaded {
            let stored: redis::RedisResult<()> = conn
                .set_ex(&full_key, bytes.as_slice(), self.ttl.as_secs().max(1))
                .await;
            if let Err(err) = stored {
                tracing::warn!(error = %err, "cache write failed");
            }
        }
        Ok(loaded)
    }

    /// Invalidates every cached read; called after each committed write.
    pub async fn invalidate(&self) {
        let mut conn = self.conn.clone();
        let bumped: redis::RedisResult<u64> = conn.incr(self.generation_key(), 1).await;
        if let Err(err) = bumped {
            // Entries still expire within the TTL; say so loudly.
            tracing::error!(error = %err, ttl_ms = self.ttl.as_millis() as u64, "cache invalidation failed; public reads may be stale until the TTL");
            metrics::counter!("ticket_cache_invalidation_failures_total").increment(1);
        }
    }
}
