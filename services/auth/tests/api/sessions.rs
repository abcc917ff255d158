//! Refresh rotation, reuse detection and logout.

use serde_json::json;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let app = TestApp::spawn(&[]).await;
    let (email, password) = app.register().await;
    let first = app.login(&email, &password).await;
    let second: serde_json::Value = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(second["refreshToken"], first["refreshToken"]);

    // Someone replays the rotated token: the whole family dies, including the fresh token.
    problem(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await,
        401,
        "refresh_token_reused",
    )
    .await;
    problem(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": second["refreshToken"]}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Other sessions are untouched.
    let other = app.login(&email, &password).await;
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": other["refreshToken"]})
        )
        .await
        .status(),
        200
    );
    problem(
        app.post("/api/v1/auth/refresh", json!({"refreshToken": "made-up"}))
            .await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_ends_every_session() {
    let app = TestApp::spawn(&[]).await;
    let (email, password) = app.register().await;
    let a = app.login(&email, &password).await;
    let b = app.login(&email, &password).await;
    let c = app.login(&email, &password).await;
    let access = a["accessToken"].as_str().unwrap();

    let out = app
        .post_as(
            access,
            "/api/v1/auth/logout",
            json!({"refreshToken": a["refreshToken"]}),
        )
        .await;
    assert_eq!(out.status(), 204);
    problem(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": a["refreshToken"]}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    let b2: serde_json::Value = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": b["refreshToken"]}),
        )
        .await
        .json()
        .await
        .unwrap();

    let all = app
        .post_as(access, "/api/v1/auth/logout-all", json!({}))
        .await;
    assert_eq!(all.status(), 204);
    for token in [&b2["refreshToken"], &c["refreshToken"]] {
        problem(
            app.post("/api/v1/auth/refresh", json!({"refreshToken": token}))
                .await,
            401,
            "invalid_refresh_token",
        )
        .await;
    }
}

#[tokio::test]
async fn a_user_cannot_log_out_someone_elses_session() {
    let app = TestApp::spawn(&[]).await;
    let (email, password) = app.register().await;
    let victim = app.login(&email, &password).await;
    let (email, password) = app.register().await;
    let attacker = app.login(&email, &password).await;
    let response = app
        .post_as(
            attacker["accessToken"].as_str().unwrap(),
            "/api/v1/auth/logout",
            json!({"refreshToken": victim["refreshToken"]}),
        )
        .await;
    problem(response, 401, "invalid_refresh_token").await;
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": victim["refreshToken"]})
        )
        .await
        .status(),
        200
    );
}
