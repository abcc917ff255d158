//! Live availability per zone: real numbers from a real booking service, "unknown" without one.

use std::time::Duration;

use serde_json::{Value, json};
use shared::{config::Env, ids::SaleId};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Stack, provisioner};

fn availability(event: &Value) -> Vec<Value> {
    event["shows"][0]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["availability"].clone())
        .collect()
}

#[tokio::test]
async fn availability_is_unknown_not_an_error_when_booking_is_unreachable() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let (event, show) = s
        .published(
            &s.owner,
            "offline",
            "Offline",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    let detail = Stack::json(
        s.get(
            &s.anonymous,
            &format!("/api/v1/events/{}", event["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(availability(&detail), [json!({"status": "unknown"})]);
    assert_eq!(detail["shows"][0]["zones"][0]["capacity"], 100);
    let show = Stack::json(
        s.get(
            &s.customer,
            &format!("/api/v1/shows/{}", show["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        show["zones"][0]["availability"],
        json!({"status": "unknown"})
    );
}

#[tokio::test]
async fn availability_shows_the_real_booking_services_numbers_as_seats_are_reserved() {
    let s = Stack::with(&[("TICKET_AVAILABILITY_TTL_MS", "100")]).await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let event = s.event(&s.owner, "live", "Live", "concert").await;
    let sale = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let show = s
        .show(&s.owner, &event, &venue, "2030-01-01T19:00:00Z", &sale)
        .await;
    s.zone(&s.owner, &show, "floor", 40, 2500).await;
    s.zone(&s.owner, &show, "vip", 5, 9900).await;
    s.zone(&s.owner, &show, "terrace", 5, 1000).await;
    let e = event["id"].as_str().unwrap();
    assert_eq!(
        s.post(&s.owner, &format!("/api/v1/events/{e}/publish"), json!({}))
            .await
            .status(),
        200
    );

    // The organizer's catalog entry becomes the sale: open it now, render its manifest, and
    // provision it through the catalog check (which refuses a sale missing one of its zones).
    let show_path = format!("/api/v1/shows/{}", show["id"].as_str().unwrap());
    let opens = (time::OffsetDateTime::now_utc() - Duration::from_secs(60))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        s.patch(&s.owner, &show_path, json!({"saleStartsAt": opens}))
            .await
            .status(),
        200
    );
    let yaml = s
        .get(&s.owner, &format!("{show_path}/flashsale"))
        .await
        .text()
        .await
        .unwrap();
    let spec = provisioning::SaleSpec::from_yaml(&yaml).unwrap();
    let mut partial = spec.clone();
    partial.zones.retain(|z| z.id.as_str() != "terrace");
    let refused = provisioner(Some(&s.base))
        .await
        .apply(&partial)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("zones[terrace]"), "{refused}");
    provisioner(Some(&s.base)).await.apply(&spec).await.unwrap();

    let group = uuid::Uuid::new_v4().simple().to_string();
    let env = Env::default()
        .with("BOOKING_PORT", "0")
        .with("DATABASE_URL", s.database_url.clone())
        .with("AUTH_JWKS_FILE", s.jwks_file.display().to_string())
        .with("BOOKING_SALES", sale.clone())
        .with("BOOKING_RECORDER_GROUP", format!("rec-{group}"))
        .with("BOOKING_CONFIRMER_GROUP", format!("conf-{group}"));
    let booking = booking::startup::Application::build(
        booking::config::BookingConfig::from_env(&env).unwrap(),
    )
    .await
    .unwrap();
    let booking_url = format!("http://127.0.0.1:{}", booking.port());
    let booking_shutdown = CancellationToken::new();
    let booking_task = tokio::spawn(booking.run_until_stopped(booking_shutdown.clone()));

    // A second ticket service on the same catalog, now pointed at the booking service.
    let mut env = Env::default()
        .with("TICKET_PORT", "0")
        .with("DATABASE_URL", s.database_url.clone())
        .with("AUTH_JWKS_FILE", s.jwks_file.display().to_string())
        .with("TICKET_CACHE_NAMESPACE", s.namespace.clone())
        .with("TICKET_AVAILABILITY_TTL_MS", "100");
    env = env.with("TICKET_BOOKING_URL", booking_url.clone());
    let app =
        ticket::startup::Application::build(ticket::config::TicketConfig::from_env(&env).unwrap())
            .await
            .unwrap();
    let ticket_url = format!("http://127.0.0.1:{}", app.port());
    let ticket_shutdown = CancellationToken::new();
    let _ticket = ticket_shutdown.clone().drop_guard();
    tokio::spawn(app.run_until_stopped(ticket_shutdown));

    let read = || async {
        reqwest::get(format!("{ticket_url}/api/v1/events/{e}"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        availability(&read().await),
        [
            json!({"status": "live", "available": 40, "held": 0, "sold": 0}),
            json!({"status": "live", "available": 5, "held": 0, "sold": 0}),
            json!({"status": "live", "available": 5, "held": 0, "sold": 0}),
        ]
    );

    let buyer = s.customer.token.clone().unwrap();
    let reserved = reqwest::Client::new()
        .post(format!("{booking_url}/api/v1/sales/{sale}/reservations"))
        .bearer_auth(&buyer)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"zone": "vip", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201, "{}", reserved.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let after = availability(&read().await);
    assert_eq!(
        after[2],
        json!({"status": "live", "available": 3, "held": 2, "sold": 0})
    );
    assert_eq!(after[0]["available"], 40);

    // Stop the booking service (its Kafka clients) before the runtime goes away, then clean up
    // the sale's Redis keys; its topics stay (deleting a topic on the local broker wipes them all).
    booking_shutdown.cancel();
    booking_task.await.unwrap().unwrap();
    provisioner(None)
        .await
        .delete_inventory(&SaleId::parse(&sale).unwrap())
        .await
        .unwrap();
}
