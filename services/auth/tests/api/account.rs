//! Registration, login and the caller's account.

use serde_json::json;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn register_login_and_read_and_change_my_account() {
    let app = TestApp::spawn(&[]).await;
    let (email, password) = app.register().await;
    let tokens = app.login(&email.to_uppercase(), &password).await;
    assert_eq!(tokens["tokenType"], "Bearer");
    let access = tokens["accessToken"].as_str().unwrap();
    let claims = app.claims(access).await;
    assert_eq!(claims.role, shared::auth::Role::Customer);

    let me: serde_json::Value = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["id"], claims.sub.to_string());

    let renamed = app
        .http
        .patch(app.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .json(&json!({"displayName": "Ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        renamed.json::<serde_json::Value>().await.unwrap()["displayName"],
        "Ann"
    );

    let wrong = app
        .http
        .patch(app.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .json(&json!({"newPassword": "another good passphrase", "currentPassword": "nope"}))
        .send()
        .await
        .unwrap();
    problem(wrong, 403, "wrong_current_password").await;
}

#[tokio::test]
async fn answers_never_reveal_whether_an_email_is_registered() {
    let app = TestApp::spawn(&[]).await;
    let (email, password) = app.register().await;
    let again = app
        .post(
            "/api/v1/auth/register",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(again.status(), 202);
    let wrong_password = app
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    let a = problem(wrong_password, 401, "invalid_credentials").await;
    let b = problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn bad_registrations_name_the_field() {
    let app = TestApp::spawn(&[]).await;
    let bad_email = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "not-an-email", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(
        problem(bad_email, 422, "invalid_body").await["errors"][0]["field"],
        "email"
    );
    let short = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "a@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(
        problem(short, 422, "invalid_body").await["errors"][0]["field"],
        "password"
    );
    let role = app
        .post(
            "/api/v1/auth/register",
            json!({"email": "b@example.com", "password": "correct horse battery", "role": "admin"}),
        )
        .await;
    problem(role, 422, "invalid_body").await;
    problem(
        app.http
            .get(app.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap(),
        401,
        "missing_token",
    )
    .await;
}

#[tokio::test]
async fn only_an_admin_changes_roles_and_the_new_role_arrives_with_the_next_refresh() {
    let app = TestApp::spawn(&[]).await;
    let (admin_email, password) = app.register().await;
    auth::store::set_role_by_email(&app.db, &admin_email, shared::auth::Role::Admin)
        .await
        .unwrap();
    let admin = app.login(&admin_email, &password).await;
    let (email, password) = app.register().await;
    let user = app.login(&email, &password).await;
    let user_access = user["accessToken"].as_str().unwrap();
    let user_id = app.claims(user_access).await.sub;
    let path = format!("/api/v1/auth/users/{user_id}/role");

    let by_customer = app
        .http
        .patch(app.url(&path))
        .bearer_auth(user_access)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    problem(by_customer, 403, "forbidden").await;

    let by_admin = app
        .http
        .patch(app.url(&path))
        .bearer_auth(admin["accessToken"].as_str().unwrap())
        .json(&json!({"role": "organizer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), 200);
    let refreshed: serde_json::Value = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refreshToken": user["refreshToken"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let claims = app.claims(refreshed["accessToken"].as_str().unwrap()).await;
    assert_eq!(claims.role, shared::auth::Role::Organizer);
}
