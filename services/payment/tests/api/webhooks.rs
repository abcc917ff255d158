//! Webhooks and events delivered twice, late or out of order change nothing twice; forged and
//! stale webhooks are refused.

use std::time::Duration;

use payment::psp::signature;
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
};
use serde_json::{Value, json};
use shared::{
    auth::Role,
    config::Env,
    events::{bookings_topic, payments_topic},
    kafka::{EventPublisher, KafkaConfig},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{WEBHOOK_SECRET, World, body, eventually, spec};

#[tokio::test]
async fn duplicate_and_out_of_order_webhooks_confirm_once() {
    let world = World::new(spec(10)).await;
    let mut payments = Vec::new();
    for method in [
        "pm_card_duplicate_webhooks",
        "pm_card_out_of_order_webhooks",
    ] {
        let (_, token) = world.user(Role::Customer);
        let reservation = world.reserve(&token, 1).await;
        let created = body(world.pay(&token, reservation, "k", method).await).await;
        payments.push((
            token,
            reservation,
            created["id"].as_str().unwrap().to_owned(),
        ));
    }
    for (token, reservation, payment) in &payments {
        world
            .payment_becomes(token, payment, "captured", Some("confirmed"))
            .await;
        assert_eq!(
            world.reservation(token, *reservation).await["status"],
            "confirmed"
        );
    }
    assert_eq!(world.live().await.sold, 2);
    let report = world.assert_reconciled().await;
    assert_eq!((report.totals.captured, report.totals.confirmed), (2, 2));
    // The quirks happened: the late `charge.authorized` was recorded and ignored as stale, and
    // second copies of the other charge's webhooks were answered as duplicates. The simulator
    // holds the late webhook back 200 ms past the capture's, so it may land after the payment
    // was confirmed: wait for it.
    let (_, _, out_of_order) = &payments[1];
    let out_of_order = out_of_order.parse::<Uuid>().unwrap();
    eventually(10, "the late charge.authorized is recorded as stale", async || {
        let stale: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM psp_events e JOIN payments p ON p.psp_payment_id = e.object_id
             WHERE p.payment_id = $1 AND e.event_type = 'charge.authorized' AND e.outcome = 'stale'",
        )
        .bind(out_of_order)
        .fetch_one(&world.payment_db)
        .await
        .unwrap();
        assert!(stale <= 1, "{stale} stale authorisations recorded");
        (stale == 1).then_some(())
    })
    .await;
    eventually(10, "a duplicate webhook is answered as one", async || {
        let metrics = world
            .http
            .get(format!("{}/metrics", world.payment_base()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let duplicates: f64 = metrics
            .lines()
            .find(|l| {
                l.starts_with("payment_webhooks_total") && l.contains("outcome=\"duplicate\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        (duplicates >= 1.0).then_some(())
    })
    .await;
}

/// Posts `body` to the webhook signed at `timestamp` with `secret`.
async fn post_webhook(
    world: &World,
    body: &[u8],
    timestamp: i64,
    secret: &[u8],
) -> reqwest::Response {
    world
        .http
        .post(format!(
            "{}/api/v1/sales/{}/payments/webhook",
            world.payment_base(),
            world.sale.sale_id
        ))
        .header(signature::HEADER, signature::sign(secret, timestamp, body))
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forged_stale_and_unsigned_webhooks_are_refused_and_a_replayed_one_changes_nothing() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let created = body(world.pay(&token, reservation, "k", "pm_card_visa").await).await;
    let payment = created["id"].as_str().unwrap().to_owned();
    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;

    // A genuine-looking event that would refund the payment if it were believed.
    let charge = world.charges_at_psp(reservation).await.remove(0);
    let forged: Value = json!({
        "id": format!("evt_{}", Uuid::new_v4().simple()),
        "created": OffsetDateTime::now_utc().unix_timestamp(),
        "type": "refund.succeeded",
        "data": {
            "id": "re_forged", "chargeId": charge["id"], "status": "succeeded",
            "amountMinor": 2500, "metadata": charge["metadata"],
        },
    });
    let bytes = serde_json::to_vec(&forged).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();

    let wrong_key = post_webhook(&world, &bytes, now, b"not-the-secret").await;
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(body(wrong_key).await["code"], "invalid_signature");
    let stale = post_webhook(&world, &bytes, now - 3600, WEBHOOK_SECRET.as_bytes()).await;
    assert_eq!(stale.status(), 401);
    let unsigned = world
        .http
        .post(format!(
            "{}/api/v1/sales/{}/payments/webhook",
            world.payment_base(),
            world.sale.sale_id
        ))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // The body changed after signing.
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b" ");
    let signed_then_changed = world
        .http
        .post(format!(
            "{}/api/v1/sales/{}/payments/webhook",
            world.payment_base(),
            world.sale.sale_id
        ))
        .header(
            signature::HEADER,
            signature::sign(WEBHOOK_SECRET.as_bytes(), now, &bytes),
        )
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_then_changed.status(), 401);
    assert_eq!(
        body(world.read_payment(&token, &payment).await).await["status"],
        "captured"
    );

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM psp_events WHERE event_id = $1")
        .bind(forged["id"].as_str().unwrap())
        .fetch_one(&world.payment_db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused webhook is not even recorded as seen");

    // A replay of an event already applied, correctly signed: acknowledged, changes nothing.
    let applied: String = sqlx::query_scalar(
        "SELECT event_id FROM psp_events WHERE event_type = 'charge.captured' AND object_id = $1",
    )
    .bind(charge["id"].as_str().unwrap())
    .fetch_one(&world.payment_db)
    .await
    .unwrap();
    let replay = json!({
        "id": applied,
        "created": now,
        "type": "charge.captured",
        "data": charge,
    });
    let replayed = post_webhook(
        &world,
        &serde_json::to_vec(&replay).unwrap(),
        now,
        WEBHOOK_SECRET.as_bytes(),
    )
    .await;
    assert_eq!(replayed.status(), 200);
    assert_eq!(body(replayed).await["outcome"], "duplicate");
    let report = world.assert_reconciled().await;
    assert_eq!(
        (
            report.totals.captured,
            report.totals.confirmed,
            report.totals.refunded
        ),
        (1, 1, 0)
    );
}

/// Every message of `topic` so far, as raw key and payload.
async fn read_all(topic: &str, at_least: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer: StreamConsumer = KafkaConfig::from_env(&Env::default())
        .unwrap()
        .consumer(&format!("replay-{}", Uuid::new_v4()))
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    while let Ok(Ok(message)) = tokio::time::timeout(
        Duration::from_secs(if messages.len() >= at_least { 2 } else { 20 }),
        consumer.recv(),
    )
    .await
    {
        messages.push((
            message.key().unwrap_or_default().to_vec(),
            message.payload().unwrap_or_default().to_vec(),
        ));
    }
    assert!(
        messages.len() >= at_least,
        "{topic}: {} messages",
        messages.len()
    );
    messages
}

#[tokio::test]
async fn redelivered_kafka_events_change_nothing() {
    let world = World::start(spec(5), &[], &[]).await;
    // One payment captured and confirmed.
    let (_, buyer) = world.user(Role::Customer);
    let kept = world.reserve(&buyer, 1).await;
    let kept_payment = body(world.pay(&buyer, kept, "a", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&buyer, &kept_payment, "captured", Some("confirmed"))
        .await;

    let publisher = EventPublisher::new(
        KafkaConfig::from_env(&Env::default())
            .unwrap()
            .producer()
            .unwrap(),
        Duration::from_secs(5),
    );
    let before = world.assert_reconciled().await;
    // Every event of both topics delivered once more, to booking and payment alike.
    for topic in [
        payments_topic(&world.sale.sale_id),
        bookings_topic(&world.sale.sale_id),
    ] {
        for (key, payload) in read_all(&topic, 1).await {
            publisher
                .publish_encoded(&topic, &String::from_utf8(key).unwrap(), &payload)
                .await
                .unwrap();
        }
    }
    // Every consumer group has read (and committed) past the copies.
    world.wait_until_consumed().await;
    let (_, marker) = world.user(Role::Customer);
    let marked = world.reserve(&marker, 1).await;
    let marker_payment = body(world.pay(&marker, marked, "m", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&marker, &marker_payment, "captured", Some("confirmed"))
        .await;
    let after = world.assert_reconciled().await;
    assert_eq!(after.totals.captured, before.totals.captured + 1);
    assert_eq!(after.totals.confirmed, before.totals.confirmed + 1);
    let live = world.live().await;
    assert_eq!((live.sold, live.held), (2, 0));
}
