//! Login throttling per account and per client IP; X-Forwarded-For only from trusted proxies.

use serde_json::json;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn(&[("AUTH_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let (email, password) = app.register().await;
    for _ in 0..3 {
        problem(
            app.post(
                "/api/v1/auth/login",
                json!({"email": email, "password": "wrong password here"}),
            )
            .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let locked = app
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert!(
        locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    problem(locked, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn one_client_address_is_limited_and_a_spoofed_forwarded_for_does_not_escape_it() {
    // The test client (127.0.0.1) is not a trusted proxy here, so X-Forwarded-For is ignored.
    let app = TestApp::spawn(&[
        ("AUTH_MAX_ATTEMPTS_PER_IP", "4"),
        ("AUTH_TRUSTED_PROXIES", "10.0.0.0/8"),
    ])
    .await;
    for i in 0..4 {
        let response = app
            .http
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .json(&json!({"email": format!("x{i}@example.com"), "password": "whatever password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let fifth = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "198.51.100.99")
        .json(&json!({"email": "y@example.com", "password": "whatever password"}))
        .send()
        .await
        .unwrap();
    problem(fifth, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::spawn(&[("AUTH_MAX_ATTEMPTS_PER_IP", "2")]).await;
    let attempt = |ip: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", ip)
            .json(&json!({"email": "z@example.com", "password": "whatever password"}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("203.0.113.1").await.unwrap().status(), 401);
    }
    problem(
        attempt("203.0.113.1").await.unwrap(),
        429,
        "too_many_attempts",
    )
    .await;
    assert_eq!(attempt("203.0.113.2").await.unwrap().status(), 401);
}
