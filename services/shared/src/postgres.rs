//! PostgreSQL pool set-up, with each service confined to its own schema.

use std::{str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Executor, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::{ConfigError, Env};

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Connection URL; may carry a password.
    pub url: SecretString,
    /// Largest pool size.
    pub max_connections: u32,
}

impl PostgresConfig {
    /// Reads `DATABASE_URL` and `DATABASE_MAX_CONNECTIONS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let config = Self {
            url: env.secret_or(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/booking_rush",
            ),
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
        };
        config.options("public")?;
        Ok(config)
    }

    /// Connection options with `search_path` set to `schema`.
    pub fn options(&self, schema: &str) -> Result<PgConnectOptions, ConfigError> {
        let options =
            PgConnectOptions::from_str(self.url.expose_secret()).map_err(|e| ConfigError {
                name: "DATABASE_URL".into(),
                reason: format!("not a PostgreSQL URL: {e}"),
            })?;
        Ok(options
            .options([("search_path", schema)])
            .application_name("booking-rush"))
    }

    /// A lazily connecting pool whose connections see only `schema`.
    pub fn pool(&self, schema: &str) -> Result<PgPool, ConfigError> {
        Ok(PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(self.options(schema)?))
    }
}

/// Creates `schema` if needed and applies the service's migrations inside it.
pub async fn migrate(pool: &PgPool, schema: &str, migrator: &Migrator) -> Result<(), sqlx::Error> {
    pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
        .await?;
    migrator.run(pool).await?;
    Ok(())
}

/// Creates a database named `{prefix}_{random}` on the server at `server_url` (a URL without a
/// database) and returns its URL. Test harnesses use it for a fresh database per test.
pub async fn create_database(server_url: &str, prefix: &str) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server_url}/postgres")).await?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    Ok(format!("{server_url}/{name}"))
}

/// The PostgreSQL server tests use: `TEST_PG_SERVER`, or the local default.
pub fn test_server() -> String {
    std::env::var("TEST_PG_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Checks that PostgreSQL answers.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    pool.execute("SELECT 1").await.map(|_| ())
}
