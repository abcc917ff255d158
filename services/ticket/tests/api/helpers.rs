//! The harness: a ticket service and a gateway in front of it, on free ports, with a fresh
//! database, its own cache namespace and a key pair that mints every role's tokens.

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner},
    config::Env,
};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

/// A caller: a bearer token, or anonymous.
#[derive(Clone)]
pub struct Caller {
    pub token: Option<String>,
}

pub struct Stack {
    /// The gateway's base URL: every request goes through it.
    pub base: String,
    pub database_url: String,
    pub jwks_file: PathBuf,
    pub namespace: String,
    pub db: sqlx::PgPool,
    pub http: reqwest::Client,
    pub owner: Caller,
    pub other: Caller,
    pub customer: Caller,
    pub admin: Caller,
    pub anonymous: Caller,
    _ticket: DropGuard,
    _gateway: DropGuard,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.jwks_file);
    }
}

impl Stack {
    /// A stack whose booking service is unreachable.
    pub async fn spawn() -> Self {
        Self::with(&[]).await
    }

    /// A stack with extra ticket settings.
    pub async fn with(extra: &[(&str, &str)]) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(shared::telemetry::init("ticket-test"));
        }
        let database_url =
            shared::postgres::create_database(&shared::postgres::test_server(), "ticket_test")
                .await
                .unwrap();
        let namespace = database_url.rsplit('/').next().unwrap().to_owned();
        let signer = TokenSigner::generate("ticket-test").unwrap();
        let jwks_file = std::env::temp_dir().join(format!("{namespace}-jwks.json"));
        std::fs::write(&jwks_file, signer.jwks().to_string()).unwrap();
        let jwks = jwks_file.display().to_string();

        let mut env = Env::default()
            .with("TICKET_PORT", "0")
            .with("DATABASE_URL", database_url.clone())
            .with("AUTH_JWKS_FILE", jwks.clone())
            .with("TICKET_CACHE_NAMESPACE", namespace.clone())
            .with("TICKET_BOOKING_URL", "http://127.0.0.1:1");
        for (k, v) in extra {
            env = env.with(k, *v);
        }
        let config = ticket::config::TicketConfig::from_env(&env).unwrap();
        let db = config.postgres.pool(ticket::startup::SCHEMA).unwrap();
        let app = ticket::startup::Application::build(config).await.unwrap();
        let ticket_url = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));

        let gateway_env = Env::default()
            .with("GATEWAY_PORT", "0")
            .with("AUTH_JWKS_FILE", jwks)
            .with("GATEWAY_CATALOG_UPSTREAM", ticket_url)
            .with("GATEWAY_AUTH_UPSTREAM", "http://127.0.0.1:1")
            .with("GATEWAY_RATE_LIMIT_NAMESPACE", format!("rl-{namespace}"))
            .with("GATEWAY_RATE_LIMITS", "default=100000/100000");
        let gateway = gateway::startup::Application::build(
            gateway::config::GatewayConfig::from_env(&gateway_env).unwrap(),
        )
        .await
        .unwrap();
        let base = format!("http://127.0.0.1:{}", gateway.port());
        let gateway_shutdown = CancellationToken::new();
        tokio::spawn(gateway.run_until_stopped(gateway_shutdown.clone()));

        let caller = |role: Role| {
            let claims = Claims::new(
                Uuid::new_v4(),
                role,
                Duration::from_secs(600),
                DEFAULT_ISSUER,
                DEFAULT_AUDIENCE,
            );
            Caller {
                token: Some(signer.sign(&claims).unwrap()),
            }
        };
        Self {
            owner: caller(Role::Organizer),
            other: caller(Role::Organizer),
            customer: caller(Role::Customer),
            admin: caller(Role::Admin),
            anonymous: Caller { token: None },
            base,
            database_url,
            jwks_file,
            namespace,
            db,
            http: reqwest::Client::new(),
            _ticket: shutdown.drop_guard(),
            _gateway: gateway_shutdown.drop_guard(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request through the gateway as `who`.
    pub async fn send(
        &self,
        who: &Caller,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = &who.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, who: &Caller, path: &str) -> reqwest::Response {
        self.send(who, reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, who: &Caller, path: &str, body: Value) -> reqwest::Response {
        self.send(who, reqwest::Method::POST, path, Some(body))
            .await
    }

    pub async fn patch(&self, who: &Caller, path: &str, body: Value) -> reqwest::Response {
        self.send(who, reqwest::Method::PATCH, path, Some(body))
            .await
    }

    pub async fn put(&self, who: &Caller, path: &str, body: Value) -> reqwest::Response {
        self.send(who, reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, who: &Caller, path: &str) -> reqwest::Response {
        self.send(who, reqwest::Method::DELETE, path, None).await
    }

    /// The JSON of a response that must have `status`.
    pub async fn json(response: reqwest::Response, status: u16) -> Value {
        let got = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(got, status, "unexpected status; body: {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Creates a venue as `who`.
    pub async fn venue(&self, who: &Caller, name: &str, city: &str) -> Value {
        Self::json(
            self.post(
                who,
                "/api/v1/venues",
                json!({"name": name, "address": "1 Main Street", "city": city, "timezone": "Europe/Berlin"}),
            )
            .await,
            201,
        )
        .await
    }

    /// Creates a draft event as `who`.
    pub async fn event(&self, who: &Caller, slug: &str, title: &str, category: &str) -> Value {
        Self::json(
            self.post(
                who,
                "/api/v1/events",
                json!({"slug": slug, "title": title, "category": category,
                       "description": format!("{title}: an evening to remember"),
                       "imageUrls": ["https://img.example/poster.jpg"]}),
            )
            .await,
            201,
        )
        .await
    }

    /// Adds a show at `venue` starting at `starts_at`, sold by `sale`, with a window open now.
    pub async fn show(
        &self,
        who: &Caller,
        event: &Value,
        venue: &Value,
        starts_at: &str,
        sale: &str,
    ) -> Value {
        Self::json(
            self.post(
                who,
                &format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap()),
                json!({"venueId": venue["id"], "startsAt": starts_at, "doorsAt": null,
                       "saleId": sale, "saleStartsAt": "2026-01-01T00:00:00Z",
                       "saleEndsAt": "2030-12-31T23:59:59Z", "holdTtlSeconds": 300}),
            )
            .await,
            201,
        )
        .await
    }

    /// Creates or replaces a zone.
    pub async fn zone(&self, who: &Caller, show: &Value, id: &str, capacity: i64, price: i64) {
        let response = self
            .put(
                who,
                &format!("/api/v1/shows/{}/zones/{id}", show["id"].as_str().unwrap()),
                json!({"name": id.to_uppercase(), "capacity": capacity, "priceMinor": price,
                       "currency": "EUR", "perUserCap": 4}),
            )
            .await;
        assert!(
            response.status() == 201 || response.status() == 200,
            "{}",
            response.text().await.unwrap()
        );
    }

    /// A published event of `who` with one show (sold by `sale`) at `venue` and one zone.
    pub async fn published(
        &self,
        who: &Caller,
        slug: &str,
        title: &str,
        category: &str,
        venue: &Value,
        starts_at: &str,
    ) -> (Value, Value) {
        let event = self.event(who, slug, title, category).await;
        let sale = format!("s-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let show = self.show(who, &event, venue, starts_at, &sale).await;
        self.zone(who, &show, "floor", 100, 5000).await;
        let published = Self::json(
            self.post(
                who,
                &format!("/api/v1/events/{}/publish", event["id"].as_str().unwrap()),
                json!({}),
            )
            .await,
            200,
        )
        .await;
        (published, show)
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns its body.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "expected {code}; body: {body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], code, "{body}");
    body
}

/// The fields a problem names.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Provisioning clients, checking sales against the catalog at `catalog` when given.
pub async fn provisioner(catalog: Option<&str>) -> provisioning::Provisioner {
    let env = Env::default();
    let kafka = shared::kafka::KafkaConfig::from_env(&env).unwrap();
    let redis = shared::redis::RedisConfig::from_env(&env)
        .unwrap()
        .connect()
        .await
        .unwrap();
    provisioning::Provisioner::new(
        redis,
        kafka.admin().unwrap(),
        shared::kafka::EventPublisher::new(kafka.producer().unwrap(), Duration::from_secs(5)),
    )
    .with_catalog(
        catalog
            .map(|url| provisioning::catalog::CatalogCheck::new(url, None, Duration::from_secs(5))),
    )
}
