//! Reserve, read, cancel and list, with owner-only access.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;
use shared::keys::SaleKeys;
use time::OffsetDateTime;

use crate::helpers::{World, assert_problem, body, count_by_type, spec};

#[tokio::test]
async fn the_amount_comes_from_the_sale_price_and_the_reservation_is_recorded() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (user, token) = world.token();
    let response = app.reserve(&token, "a", 3, "k1").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let reservation = body(response).await;
    assert_eq!(reservation["amountMinor"], 7500);
    assert_eq!(reservation["currency"], "EUR");
    assert_eq!(reservation["status"], "held");
    assert!(location.ends_with(reservation["id"].as_str().unwrap()));
    let expires = OffsetDateTime::parse(
        reservation["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let created = OffsetDateTime::parse(
        reservation["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires - created, Duration::from_secs(600));

    let id: uuid::Uuid = reservation["id"].as_str().unwrap().parse().unwrap();
    let events = world
        .booking_events(|events| count_by_type(events).contains_key("ReservationCreated"))
        .await;
    let created_event = events
        .iter()
        .find(|e| e.event.type_name() == "ReservationCreated")
        .unwrap();
    let shared::events::BookingEvent::ReservationCreated(snapshot) = &created_event.event else {
        unreachable!()
    };
    assert_eq!(
        (
            snapshot.reservation_id,
            snapshot.user_id,
            snapshot.amount_minor
        ),
        (id, user, 7500)
    );
    world.audit().await;
    let row = booking::store::reservation(&world.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.quantity, row.amount_minor),
        ("held", 3, 7500)
    );
}

#[tokio::test]
async fn a_price_sent_by_the_client_is_refused() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    let response = app
        .http
        .post(app.url(&format!("/api/v1/sales/{}/reservations", app.sale)))
        .bearer_auth(&token)
        .header("Idempotency-Key", "k")
        .json(&json!({"zone": "a", "quantity": 1, "amountMinor": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "invalid_body").await;
    assert_eq!(world.live().await.held, 0);
}

#[tokio::test]
async fn only_the_owner_reads_or_cancels_a_reservation_and_cancelling_returns_the_seats() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, owner) = world.token();
    let (_, stranger) = world.token();
    let id = body(app.reserve(&owner, "a", 2, "k").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.reservation_url(&id);

    let mine = app.http.get(&url).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(body(mine).await["status"], "held");
    assert_problem(
        app.http
            .get(&url)
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap(),
        404,
        "reservation_not_found",
    )
    .await;
    assert_problem(
        app.http
            .delete(&url)
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap(),
        404,
        "reservation_not_found",
    )
    .await;
    assert_eq!(world.live().await.held, 2);

    let cancelled = app
        .http
        .delete(&url)
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_eq!(body(cancelled).await["status"], "cancelled");
    let live = world.live().await;
    assert_eq!((live.available, live.held), (10, 0));
    assert_problem(
        app.http
            .delete(&url)
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap(),
        409,
        "reservation_not_held",
    )
    .await;

    world
        .booking_events(|events| count_by_type(events).contains_key("ReservationCancelled"))
        .await;
    world.audit().await;
}

#[tokio::test]
async fn my_bookings_are_paginated_newest_first_and_private() {
    let world = World::new(spec(50)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    let (_, other) = world.token();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            body(app.reserve(&token, "a", 1, &format!("k{i}")).await).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.reserve(&other, "a", 1, "o").await;
    world.audit().await;
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url("/api/v1/me/bookings?limit=3");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = body(app.http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = app
        .http
        .get(app.url("/api/v1/me/bookings?limit=0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_reserve_past_the_per_user_cap_takes_nothing_and_says_how_many_seats_are_left() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, first) = world.token();
    let (second_user, second) = world.token();
    let (_, third) = world.token();
    let detail = |problem: serde_json::Value| problem["detail"].as_str().unwrap().to_owned();

    assert_eq!(app.reserve(&first, "a", 3, "first-3").await.status(), 201);
    let over = app.reserve(&first, "a", 2, "first-2").await;
    let over = assert_problem(over, 409, "per_user_cap_reached").await;
    assert_eq!(detail(over), "per-user cap reached; 1 more seats allowed");
    // The refusal kept nothing under its key: the same request, retried, is refused again.
    let again = app.reserve(&first, "a", 2, "first-2").await;
    assert_problem(again, 409, "per_user_cap_reached").await;
    // The refusal took nothing from the buyer's cap: the last seat of it can still be held.
    assert_eq!(app.reserve(&first, "a", 1, "first-1").await.status(), 201);

    // A buyer asking for more than the cap at once leaves no count behind.
    let over = app.reserve(&second, "a", 5, "second-5").await;
    let over = assert_problem(over, 409, "per_user_cap_reached").await;
    assert_eq!(detail(over), "per-user cap reached; 4 more seats allowed");
    let field = format!("a:{second_user}");
    let keys = SaleKeys::new(&world.sale.sale_id);
    let counted: Option<i64> = crate::helpers::redis()
        .await
        .hget(keys.user_quantities(), &field)
        .await
        .unwrap();
    assert_eq!(counted, None, "a refused reserve left a count");
    assert_eq!(app.reserve(&second, "a", 4, "second-4").await.status(), 201);

    // Two seats are left. A buyer at their cap asking for more than that hears about the cap;
    // one below it hears that the seats are gone.
    let over = app.reserve(&first, "a", 3, "first-3-again").await;
    let over = assert_problem(over, 409, "per_user_cap_reached").await;
    assert_eq!(detail(over), "per-user cap reached; 0 more seats allowed");
    let gone = app.reserve(&third, "a", 3, "third-3").await;
    assert_eq!(
        detail(assert_problem(gone, 409, "sold_out").await),
        "not enough seats left: 2"
    );

    let live = world.live().await;
    assert_eq!((live.available, live.held, live.sold), (2, 8, 0));
    world.audit().await;
}

#[tokio::test]
async fn a_sale_outside_its_window_refuses_reservations() {
    let mut early = spec(10);
    early.starts_at = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    early.ends_at = early.starts_at + Duration::from_secs(3600);
    let world = World::new(early).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    assert_problem(app.reserve(&token, "a", 1, "k").await, 403, "sale_not_open").await;

    let mut late = spec(10);
    late.starts_at = OffsetDateTime::now_utc() - Duration::from_secs(7200);
    late.ends_at = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    let world = World::new(late).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    assert_problem(app.reserve(&token, "a", 1, "k").await, 403, "sale_closed").await;
}

#[tokio::test]
async fn when_the_event_log_is_down_the_hold_is_released_and_the_client_may_retry() {
    let world = World::new(spec(10)).await;
    let app = world
        .spawn(&[
            ("KAFKA_BROKERS", "127.0.0.1:1"),
            ("KAFKA_PRODUCE_TIMEOUT_MS", "1500"),
        ])
        .await;
    let (_, token) = world.token();
    let response = app.reserve(&token, "a", 2, "k").await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, 503, "event_log_unavailable").await;
    let live = world.live().await;
    assert_eq!((live.available, live.held), (10, 0));

    app.stop().await;
    // The key was forgotten with the hold, so the retry against a healthy service succeeds.
    let healthy = world.spawn(&[]).await;
    assert_eq!(healthy.reserve(&token, "a", 2, "k").await.status(), 201);
    world.audit().await;
}
