//! Redis client set-up.

use redis::{Client, aio::ConnectionManager, aio::ConnectionManagerConfig};
use std::time::Duration;

use crate::config::{ConfigError, Env};

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Connection URL.
    pub url: String,
}

impl RedisConfig {
    /// Reads `REDIS_URL`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.string_or("REDIS_URL", "redis://127.0.0.1:6379");
        Client::open(url.as_str()).map_err(|e| ConfigError {
            name: "REDIS_URL".into(),
            reason: format!("not a Redis URL: {e}"),
        })?;
        Ok(Self { url })
    }

    /// A multiplexed, self-reconnecting connection.
    pub async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        let client = Client::open(self.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(3))
            .set_response_timeout(Duration::from_secs(3))
            .set_number_of_retries(2);
        ConnectionManager::new_with_config(client, config).await
    }
}

/// Checks that Redis answers.
pub async fn ping(conn: &ConnectionManager) -> redis::RedisResult<()> {
    let mut conn = conn.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
}
