//! Bad input gets a clear problem+json naming what is wrong, and writes nothing.

use serde_json::json;
use shared::auth::Role;

use crate::helpers::{World, body, spec};

#[tokio::test]
async fn bad_requests_get_problems_naming_what_is_wrong() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let url = world.pay_url(reservation);
    let post = |body: serde_json::Value, key: Option<&str>| {
        let mut request = world.http.post(&url).bearer_auth(&token).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };

    let no_key = post(json!({}), None).await.unwrap();
    assert_eq!(no_key.status(), 400);
    assert_eq!(no_key.headers()["content-type"], "application/problem+json");
    assert!(
        body(no_key).await["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );

    let unknown_field = post(json!({ "amountMinor": 1 }), Some("a")).await.unwrap();
    assert_eq!(unknown_field.status(), 422);
    assert!(
        body(unknown_field)
            .await
            .to_string()
            .contains("amountMinor")
    );

    let bad_method = post(json!({ "paymentMethod": "4111 1111 1111 1111" }), Some("b"))
        .await
        .unwrap();
    assert_eq!(bad_method.status(), 422);
    assert!(body(bad_method).await.to_string().contains("paymentMethod"));

    let not_json = world
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Idempotency-Key", "c")
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert!(not_json.status().is_client_error());

    let not_a_reservation = world
        .http
        .post(url.replace(&reservation.to_string(), "not-a-uuid"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "d")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_reservation.status(), 404);

    let other_sale = world
        .http
        .post(url.replace(world.sale.sale_id.as_str(), "someone-elses-sale"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "e")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(other_sale.status(), 404);
    assert_eq!(body(other_sale).await["code"], "sale_not_found");

    let bad_limit = world
        .http
        .get(format!(
            "{}/api/v1/me/payments?limit=0",
            world.payment_base()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_limit.status(), 400);

    // Nothing was written by any of them.
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&world.payment_db)
        .await
        .unwrap();
    assert_eq!(written, 0);

    // The same key for a different request is refused.
    let first = post(json!({ "paymentMethod": "pm_card_declined" }), Some("same"))
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let reused = post(json!({ "paymentMethod": "pm_card_visa" }), Some("same"))
        .await
        .unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(body(reused).await["code"], "idempotency_key_reused");
}
