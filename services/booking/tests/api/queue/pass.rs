//! The queue pass: required with the queue on, single-use under concurrent reserves, bound to
//! its buyer and sale, never an access token, and given back when the reservation could not be
//! recorded.

use std::{sync::Arc, time::Duration};

use redis::AsyncCommands;
use uuid::Uuid;

use super::join_in_order;
use crate::helpers::{World, assert_problem, body, queued, redis, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pass_buys_one_reservation_however_many_reserves_race_with_it() {
    let world = World::new(queued(100, 100, 10, 600)).await;
    let app = Arc::new(world.spawn(&[]).await);
    let buyer = join_in_order(&world, &app, 1).await.remove(0);
    let pass = app.wait_for_pass(&buyer.1).await;
    let mut reserves = tokio::task::JoinSet::new();
    for attempt in 0..20 {
        let (app, token, pass) = (Arc::clone(&app), buyer.1.clone(), pass.clone());
        reserves.spawn(async move {
            app.reserve_with_pass(&token, "a", 1, &format!("k-{attempt}"), &pass)
                .await
        });
    }
    let mut created = 0;
    while let Some(response) = reserves.join_next().await {
        let response = response.unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            _ => {
                assert_problem(response, 403, "queue_pass_invalid").await;
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(world.live().await.held, 1);
    assert_eq!(app.place(&buyer.1).await["state"], "pass_used");
    world.audit().await;
}

/// The negative control: checking the pass and using it up in separate steps lets several of
/// the same racing reserves through, which shows the race above is real.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checking_a_pass_and_using_it_up_separately_lets_it_be_used_twice() {
    let key = format!("race-pass-{}", Uuid::new_v4().simple());
    let conn = redis().await;
    let _: () = conn.clone().hset(&key, "user", "buyer").await.unwrap();
    let mut reserves = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (mut conn, key) = (conn.clone(), key.clone());
        reserves.spawn(async move {
            let owner: Option<String> = conn.hget(&key, "user").await.unwrap();
            if owner.as_deref() != Some("buyer") {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _: () = conn.del(&key).await.unwrap();
            true
        });
    }
    let mut granted = 0;
    while let Some(ok) = reserves.join_next().await {
        granted += usize::from(ok.unwrap());
    }
    assert!(
        granted > 1,
        "expected the pass to be used more than once, granted {granted}"
    );
}

#[tokio::test]
async fn with_the_queue_on_a_reserve_needs_a_live_pass_of_the_buyer_for_this_sale() {
    let world = World::new(queued(100, 100, 10, 600)).await;
    let app = world.spawn(&[]).await;
    let buyers = join_in_order(&world, &app, 2).await;
    let (owner, other) = (&buyers[0].1, &buyers[1].1);
    let pass = app.wait_for_pass(owner).await;
    app.wait_for_pass(other).await;

    let missing = assert_problem(
        app.reserve(owner, "a", 1, "k0").await,
        403,
        "queue_pass_required",
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "Queue-Pass");
    assert_problem(
        app.reserve_with_pass(owner, "a", 1, "k1", "not a pass!")
            .await,
        400,
        "invalid_queue_pass",
    )
    .await;
    assert_problem(
        app.reserve_with_pass(other, "a", 1, "k2", &pass).await,
        403,
        "queue_pass_invalid",
    )
    .await;
    let (_, stranger) = world.token();
    assert_problem(
        app.reserve_with_pass(&stranger, "a", 1, "k3", &pass).await,
        403,
        "queue_pass_invalid",
    )
    .await;
    assert_problem(
        app.reserve_with_pass(
            owner,
            "a",
            1,
            "k4",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await,
        403,
        "queue_pass_invalid",
    )
    .await;

    // Another sale, served by its own booking service, does not know the pass.
    let elsewhere = World::new(queued(100, 100, 10, 600)).await;
    let other_app = elsewhere.spawn(&[]).await;
    let token = elsewhere.token_for(buyers[0].0);
    assert_eq!(other_app.join(&token).await.status(), 201);
    other_app.wait_for_pass(&token).await;
    assert_problem(
        other_app
            .reserve_with_pass(&token, "a", 1, "k5", &pass)
            .await,
        403,
        "queue_pass_invalid",
    )
    .await;

    // None of the refusals used the pass up: its buyer still reserves with it, once. A sold-out
    // zone or the cap leaves it too.
    assert_problem(
        app.reserve_with_pass(owner, "a", 5, "k6", &pass).await,
        409,
        "per_user_cap_reached",
    )
    .await;
    assert_eq!(
        app.reserve_with_pass(owner, "a", 2, "k7", &pass)
            .await
            .status(),
        201
    );
    assert_problem(
        app.reserve_with_pass(owner, "a", 1, "k8", &pass).await,
        403,
        "queue_pass_invalid",
    )
    .await;
    // A retry of the same reservation is answered from its idempotency key, pass or not.
    let replay = app.reserve(owner, "a", 2, "k7").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    world.audit().await;
    elsewhere.audit().await;
}

#[tokio::test]
async fn a_pass_is_not_an_access_token_for_booking_or_the_gateway() {
    let world = World::new(queued(100, 100, 10, 600)).await;
    let app = world.spawn(&[]).await;
    let gateway = world.gateway(&app).await;
    let buyer = join_in_order(&world, &app, 1).await.remove(0);
    let pass = app.wait_for_pass(&buyer.1).await;
    for base in [&app, &gateway.app] {
        assert_problem(
            base.reserve_with_pass(&pass, "a", 1, "k", &pass).await,
            401,
            "invalid_token",
        )
        .await;
        assert_problem(base.queue_status(&pass).await, 401, "invalid_token").await;
        let mine = base
            .http
            .get(base.url("/api/v1/me/bookings"))
            .bearer_auth(&pass)
            .send()
            .await
            .unwrap();
        assert_problem(mine, 401, "invalid_token").await;
    }
    assert_eq!(world.live().await.held, 0);
    assert_eq!(app.place(&buyer.1).await["state"], "admitted");
    world.audit().await;
}

#[tokio::test]
async fn when_the_event_log_is_down_the_pass_comes_back_with_the_released_hold() {
    let world = World::new(queued(10, 100, 10, 600)).await;
    let broken = world
        .spawn(&[
            ("KAFKA_BROKERS", "127.0.0.1:1"),
            ("KAFKA_PRODUCE_TIMEOUT_MS", "1500"),
        ])
        .await;
    let buyer = join_in_order(&world, &broken, 1).await.remove(0);
    let pass = broken.wait_for_pass(&buyer.1).await;
    let refused = broken.reserve_with_pass(&buyer.1, "a", 2, "k", &pass).await;
    assert_problem(refused, 503, "event_log_unavailable").await;
    let place = broken.place(&buyer.1).await;
    assert_eq!(place["state"], "admitted");
    assert_eq!(place["pass"], pass.as_str(), "the same pass, given back");
    broken.stop().await;

    let healthy = world.spawn(&[]).await;
    let held = healthy
        .reserve_with_pass(&buyer.1, "a", 2, "k", &pass)
        .await;
    assert_eq!(body(held).await["status"], "held");
    assert_eq!(healthy.place(&buyer.1).await["state"], "pass_used");
    world.audit().await;
}

#[tokio::test]
async fn with_the_queue_off_there_is_nothing_to_join_and_reserving_needs_no_pass() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    assert_problem(app.join(&token).await, 409, "queue_disabled").await;
    assert_problem(app.queue_status(&token).await, 409, "queue_disabled").await;
    assert_problem(app.leave(&token).await, 409, "queue_disabled").await;
    // A pass sent anyway changes nothing.
    let held = app
        .reserve_with_pass(&token, "a", 1, "k", "leftover-pass")
        .await;
    assert_eq!(held.status(), 201);
    let unknown_sale = app
        .http
        .post(app.url("/api/v1/sales/no-such-sale/queue"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(unknown_sale, 404, "sale_not_found").await;
    world.audit().await;
}
