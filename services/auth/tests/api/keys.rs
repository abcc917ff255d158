//! Key rotation: the new key signs, the old one keeps verifying until it is retired.

use std::time::Duration;

use shared::keys_dir::KeyDir;

use crate::helpers::TestApp;

#[tokio::test]
async fn after_rotation_old_and_new_tokens_both_verify() {
    let app = TestApp::spawn(&[("AUTH_KEY_RELOAD_MS", "100")]).await;
    let (email, password) = app.register().await;
    let before = app.login(&email, &password).await;
    let old_kid = KeyDir::new(&app.keys_dir)
        .load()
        .unwrap()
        .last()
        .unwrap()
        .kid()
        .to_owned();
    let new_kid = KeyDir::new(&app.keys_dir).rotate().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let after = app.login(&email, &password).await;
    let header = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_eq!(header(before["accessToken"].as_str().unwrap()), old_kid);
    assert_eq!(header(after["accessToken"].as_str().unwrap()), new_kid);
    let jwks: serde_json::Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    for token in [&before["accessToken"], &after["accessToken"]] {
        let me = app
            .http
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(token.as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        app.claims(token.as_str().unwrap()).await;
    }
}
