//! The real auth service behind the gateway: the account lifecycle, and token attacks refused
//! by the gateway with keys fetched from auth's JWKS endpoint.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner},
    config::Env,
    keys_dir::KeyDir,
};
use tokio_util::sync::CancellationToken;

use crate::{Gateway, gateway_with, problem};

struct Stack {
    gateway: Gateway,
    keys: KeyDir,
    db: sqlx::PgPool,
    _auth: tokio_util::sync::DropGuard,
}

async fn stack() -> Stack {
    let database_url =
        shared::postgres::create_database(&shared::postgres::test_server(), "gw_auth_test")
            .await
            .unwrap();
    let name = database_url.rsplit('/').next().unwrap().to_owned();
    let keys_dir = std::env::temp_dir().join(format!("{name}-keys"));
    let env = Env::default()
        .with("AUTH_PORT", "0")
        .with("DATABASE_URL", database_url.clone())
        .with("AUTH_KEYS_DIR", keys_dir.display().to_string())
        .with("AUTH_THROTTLE_NAMESPACE", name.clone());
    let config = auth::config::AuthServiceConfig::from_env(&env).unwrap();
    let db = config.postgres.pool(auth::startup::SCHEMA).unwrap();
    let app = auth::startup::Application::build(config).await.unwrap();
    let auth_url = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let jwks = format!("{auth_url}/.well-known/jwks.json");
    let gateway = gateway_with(
        "http://127.0.0.1:1",
        TokenSigner::generate("unused").unwrap(),
        &[
            ("GATEWAY_AUTH_UPSTREAM", auth_url.as_str()),
            ("AUTH_JWKS_URL", jwks.as_str()),
            ("GATEWAY_RATE_LIMIT_NAMESPACE", name.as_str()),
        ],
    )
    .await;
    Stack {
        gateway,
        keys: KeyDir::new(keys_dir),
        db,
        _auth: shutdown.drop_guard(),
    }
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.base)
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn me(&self, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_account_lifecycle_works_through_the_gateway() {
    let s = stack().await;
    let creds =
        json!({"email": "lifecycle@example.com", "password": "correct horse battery staple"});
    assert_eq!(
        s.post("/api/v1/auth/register", creds.clone())
            .await
            .status(),
        202
    );
    let login: Value = s
        .post("/api/v1/auth/login", creds.clone())
        .await
        .json()
        .await
        .unwrap();
    let access = login["accessToken"].as_str().unwrap();
    let me: Value = s.me(access).await.json().await.unwrap();
    assert_eq!(me["email"], "lifecycle@example.com");

    let rotated: Value = s
        .post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": login["refreshToken"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    problem(
        s.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": login["refreshToken"]}),
        )
        .await,
        401,
        "refresh_token_reused",
    )
    .await;

    let second: Value = s
        .post("/api/v1/auth/login", creds.clone())
        .await
        .json()
        .await
        .unwrap();
    let out = reqwest::Client::new()
        .post(s.url("/api/v1/auth/logout-all"))
        .bearer_auth(second["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    for token in [&rotated["refreshToken"], &second["refreshToken"]] {
        problem(
            s.post("/api/v1/auth/refresh", json!({"refreshToken": token}))
                .await,
            401,
            "invalid_refresh_token",
        )
        .await;
    }

    // A role change takes effect with the next login.
    auth::store::set_role_by_email(&s.db, "lifecycle@example.com", Role::Organizer)
        .await
        .unwrap();
    let again: Value = s
        .post("/api/v1/auth/login", creds)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = s
        .me(again["accessToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "organizer");
}

#[tokio::test]
async fn every_kind_of_forged_or_stale_token_is_a_401_at_the_gateway() {
    let s = stack().await;
    let creds = json!({"email": "target@example.com", "password": "correct horse battery staple"});
    s.post("/api/v1/auth/register", creds.clone()).await;
    let good: Value = s
        .post("/api/v1/auth/login", creds)
        .await
        .json()
        .await
        .unwrap();
    let good = good["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(s.me(&good).await.status(), 200);

    let signer = s.keys.load().unwrap().pop().unwrap();
    let kid = signer.kid().to_owned();
    let sub = s.me(&good).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let claims = || {
        Claims::new(
            sub,
            Role::Admin,
            Duration::from_secs(600),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
    };
    let encode = |header: Value, claims: &Claims, signature: &str| {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        )
    };
    let public_key = URL_SAFE_NO_PAD
        .decode(signer.jwk()["x"].as_str().unwrap())
        .unwrap();
    let hs256_with_public_key = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(&public_key),
        )
        .unwrap()
    };
    let mut expired = claims();
    expired.exp = expired.iat - 60;
    let mut not_yet = claims();
    not_yet.nbf += 3600;
    let mut wrong_audience = claims();
    wrong_audience.aud = "another-platform".into();
    let mut wrong_issuer = claims();
    wrong_issuer.iss = "someone-else".into();
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap()),
            parts[2]
        )
    };
    let attacks = [
        (
            "alg none",
            encode(
                json!({"alg": "none", "typ": "JWT", "kid": kid}),
                &claims(),
                "",
            ),
        ),
        ("HS256 signed with the public key", hs256_with_public_key),
        (
            "wrong key",
            TokenSigner::generate(&kid)
                .unwrap()
                .sign(&claims())
                .unwrap(),
        ),
        (
            "unknown kid",
            TokenSigner::generate("no-such-key")
                .unwrap()
                .sign(&claims())
                .unwrap(),
        ),
        ("expired", signer.sign(&expired).unwrap()),
        ("not yet valid", signer.sign(&not_yet).unwrap()),
        ("wrong audience", signer.sign(&wrong_audience).unwrap()),
        ("wrong issuer", signer.sign(&wrong_issuer).unwrap()),
        ("tampered payload", tampered),
    ];
    for (name, token) in attacks {
        let response = s.me(&token).await;
        assert_eq!(response.status(), 401, "{name}");
        problem(response, 401, "invalid_token").await;
    }
}
