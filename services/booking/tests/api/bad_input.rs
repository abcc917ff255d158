//! Bad input gets a clear 4xx problem+json, never a 5xx.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use shared::auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner};
use uuid::Uuid;

use crate::helpers::{World, assert_problem, spec};

#[tokio::test]
async fn malformed_bodies_and_headers_are_named_4xx_problems() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    let url = app.url(&format!("/api/v1/sales/{}/reservations", app.sale));
    let post = |body: &'static str, key: Option<&'static str>| {
        let mut request = app
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };

    assert_problem(
        post("{\"zone\": ", Some("k")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(post("[]", Some("k")).await.unwrap(), 422, "invalid_body").await;
    assert_problem(
        post(r#"{"zone":"a"}"#, Some("k")).await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert_problem(
        post(r#"{"zone":"a","quantity":"two"}"#, Some("k"))
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert_problem(
        post(r#"{"zone":"a","quantity":1e40}"#, Some("k"))
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    for quantity in ["0", "-1", "21", "99999999999"] {
        let body: &'static str =
            Box::leak(format!(r#"{{"zone":"a","quantity":{quantity}}}"#).into_boxed_str());
        let problem =
            assert_problem(post(body, Some("k")).await.unwrap(), 422, "invalid_body").await;
        assert_eq!(problem["errors"][0]["field"], "quantity", "{problem}");
    }
    let problem = assert_problem(
        post(r#"{"zone":"Bad Zone!","quantity":1}"#, Some("k"))
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "zone");
    assert_problem(
        post(r#"{"zone":"nosuch","quantity":1}"#, Some("k"))
            .await
            .unwrap(),
        404,
        "zone_not_found",
    )
    .await;
    assert_problem(
        post(r#"{"zone":"a","quantity":1}"#, None).await.unwrap(),
        400,
        "missing_idempotency_key",
    )
    .await;
    let long_key: &'static str = Box::leak("k".repeat(200).into_boxed_str());
    assert_problem(
        post(r#"{"zone":"a","quantity":1}"#, Some(long_key))
            .await
            .unwrap(),
        400,
        "invalid_idempotency_key",
    )
    .await;

    let text = app
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Idempotency-Key", "k")
        .body("zone=a")
        .send()
        .await
        .unwrap();
    assert_problem(text, 415, "unsupported_media_type").await;
    let huge = app
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Idempotency-Key", "k")
        .header("content-type", "application/json")
        .body(vec![b' '; 200_000])
        .send()
        .await
        .unwrap();
    assert_problem(huge, 413, "body_too_large").await;

    // The sale is checked before the headers: an unknown sale is a 404 whatever else is wrong.
    for headers in [
        &[("Idempotency-Key", "k")][..],
        &[("Queue-Pass", "not a pass!")][..],
    ] {
        let mut request = app
            .http
            .post(app.reserve_url_for("no-such-sale"))
            .bearer_auth(&token)
            .json(&json!({"zone":"a","quantity":1}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        assert_problem(request.send().await.unwrap(), 404, "sale_not_found").await;
    }
    assert_problem(
        app.http
            .get(app.reservation_url("not-a-uuid"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        404,
        "reservation_not_found",
    )
    .await;
    assert_problem(
        app.http.get(app.url("/nope")).send().await.unwrap(),
        404,
        "route_not_found",
    )
    .await;
    assert_eq!(world.live().await.held, 0);
}

fn unsigned(claims: &Claims) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(br#"{"alg":"none","typ":"JWT","kid":"test-key"}"#);
    let payload = engine.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn missing_or_forged_tokens_are_401_problems() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let url = app.url(&format!("/api/v1/sales/{}/reservations", app.sale));
    let claims = |ttl: i64| {
        let mut c = Claims::new(
            Uuid::new_v4(),
            Role::Customer,
            Duration::from_secs(600),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        );
        c.exp = c.iat + ttl;
        c
    };
    let impostor = TokenSigner::generate("test-key").unwrap();
    let expired = world.signer.sign(&claims(-120)).unwrap();
    let mut wrong_audience = claims(600);
    wrong_audience.aud = "elsewhere".into();
    let tampered = {
        let good = world.signer.sign(&claims(600)).unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut admin = claims(600);
        admin.role = Role::Admin;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&admin).unwrap());
        parts.join(".")
    };
    let cases = [
        ("wrong key", impostor.sign(&claims(600)).unwrap()),
        ("expired", expired),
        ("alg none", unsigned(&claims(600))),
        (
            "wrong audience",
            world.signer.sign(&wrong_audience).unwrap(),
        ),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        let response = app
            .http
            .post(&url)
            .bearer_auth(token)
            .header("Idempotency-Key", "k")
            .json(&json!({"zone":"a","quantity":1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
        assert_problem(response, 401, "invalid_token").await;
    }
    let none = app
        .http
        .post(&url)
        .header("Idempotency-Key", "k")
        .json(&json!({"zone":"a","quantity":1}))
        .send()
        .await
        .unwrap();
    assert_problem(none, 401, "missing_token").await;
    // A client-sent identity header is no identity at all.
    let spoofed = app
        .http
        .get(app.url("/api/v1/me/bookings"))
        .header("X-User-Id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_problem(spoofed, 401, "missing_token").await;
    assert_eq!(world.live().await.held, 0);
}
