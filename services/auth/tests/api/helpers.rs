//! The harness: an auth service on a free port with its own database, keys and throttle namespace.

use std::path::PathBuf;

use auth::{config::AuthServiceConfig, startup::Application};
use serde_json::{Value, json};
use shared::{
    auth::{AuthConfig, Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeySource, TokenVerifier},
    config::Env,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub keys_dir: PathBuf,
    pub db: sqlx::PgPool,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.keys_dir);
    }
}

impl TestApp {
    /// Starts an auth service; `extra` overrides the environment.
    pub async fn spawn(extra: &[(&str, &str)]) -> Self {
        let database_url =
            shared::postgres::create_database(&shared::postgres::test_server(), "auth_test")
                .await
                .unwrap();
        let name = database_url.rsplit('/').next().unwrap().to_owned();
        let keys_dir = std::env::temp_dir().join(format!("{name}-keys"));
        let mut env = Env::default()
            .with("AUTH_PORT", "0")
            .with("DATABASE_URL", database_url.clone())
            .with("AUTH_KEYS_DIR", keys_dir.display().to_string())
            .with("AUTH_THROTTLE_NAMESPACE", format!("test-{name}"));
        for (k, v) in extra {
            env = env.with(k, *v);
        }
        let config = AuthServiceConfig::from_env(&env).unwrap();
        let db = config.postgres.pool(auth::startup::SCHEMA).unwrap();
        let app = Application::build(config).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Self {
            base,
            http: reqwest::Client::new(),
            keys_dir,
            db,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a fresh account; returns its email and password.
    pub async fn register(&self) -> (String, String) {
        let email = format!("buyer-{}@example.com", Uuid::new_v4().simple());
        let password = "correct horse battery staple".to_owned();
        let response = self
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 202);
        (email, password)
    }

    /// Logs in; returns the token pair.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "login failed");
        response.json().await.unwrap()
    }

    /// Verifies an access token the way the other services do: against the published JWKS.
    pub async fn claims(&self, access_token: &str) -> Claims {
        let verifier = TokenVerifier::new(AuthConfig {
            keys: KeySource::Url(self.url("/.well-known/jwks.json")),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        });
        Claims::clone(&verifier.verify(access_token).await.unwrap())
    }
}

pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "expected {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    body
}
