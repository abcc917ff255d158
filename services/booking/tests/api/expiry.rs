//! Unpaid holds expire, their seats return, and several replicas never release one twice.

use std::time::{Duration, Instant};

use crate::helpers::{World, body, count_by_type, spec};

#[tokio::test]
async fn an_unpaid_hold_expires_and_its_seats_return_within_about_a_second() {
    let mut sale = spec(10);
    sale.hold_ttl_seconds = 1;
    let world = World::new(sale).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    let reservation = body(app.reserve(&token, "a", 3, "k").await).await;
    assert_eq!(reservation["status"], "held");

    let started = Instant::now();
    while world.live().await.held != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "hold never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let live = world.live().await;
    assert_eq!((live.available, live.held, live.sold), (10, 0, 0));
    let read = app
        .http
        .get(app.reservation_url(reservation["id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(body(read).await["status"], "expired");
    world
        .booking_events(|events| count_by_type(events).contains_key("ReservationExpired"))
        .await;
    world.audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_sweeping_at_once_release_each_hold_exactly_once() {
    let mut sale = spec(300);
    sale.hold_ttl_seconds = 1;
    let world = World::new(sale).await;
    let first = world.spawn(&[("BOOKING_SWEEP_INTERVAL_MS", "10")]).await;
    let _second = world.spawn(&[("BOOKING_SWEEP_INTERVAL_MS", "10")]).await;
    let _third = world.spawn(&[("BOOKING_SWEEP_INTERVAL_MS", "10")]).await;
    for i in 0..100 {
        let (_, token) = world.token();
        assert_eq!(
            first
                .reserve(&token, "a", 2, &format!("k{i}"))
                .await
                .status(),
            201
        );
    }
    let started = Instant::now();
    while world.live().await.held != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "holds never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = world.live().await;
    assert_eq!(
        (live.available, live.held),
        (300, 0),
        "a double release would push available past capacity"
    );
    let events = world
        .booking_events(|events| count_by_type(events).get("ReservationExpired") >= Some(&100))
        .await;
    let expired: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e.event.type_name() == "ReservationExpired")
        .map(|e| e.id)
        .collect();
    assert_eq!(expired.len(), 100);
    world.audit().await;
}
