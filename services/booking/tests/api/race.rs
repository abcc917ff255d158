//! Overselling under contention: the atomic script holds, and a check-then-act control oversells.

use std::{sync::Arc, time::Duration};

use redis::AsyncCommands;
use shared::{config::Env, keys::SaleKeys, redis::RedisConfig};

use crate::helpers::{World, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_concurrent_reserves_for_a_hundred_seats_hold_exactly_a_hundred() {
    let world = World::new(spec(100)).await;
    let app = Arc::new(world.spawn(&[]).await);
    let users: Vec<String> = (0..500).map(|_| world.token().1).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..2000 {
        let app = Arc::clone(&app);
        let token = users[attempt % 500].clone();
        tasks.spawn(async move {
            let response = app.reserve(&token, "a", 1, &format!("k-{attempt}")).await;
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    let mut created = 0;
    let mut sold_out = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            (201, _) => created += 1,
            (409, _) => sold_out += 1,
            (other, body) => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(created, 100);
    assert_eq!(sold_out, 1900);
    let live = world.live().await;
    assert_eq!((live.available, live.held, live.sold), (0, 100, 0));
    world.audit().await;
}

/// The negative control: the same contention against a check-then-decrement with no atomicity
/// oversells, which shows the race above is real and the test can catch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_non_atomic_check_then_decrement_oversells_under_the_same_race() {
    let sale = spec(100);
    let zone_key = SaleKeys::new(&sale.sale_id).zone(&sale.zones[0].id);
    let conn = RedisConfig::from_env(&Env::default())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let _: () = conn
        .clone()
        .hset_multiple(&zone_key, &[("available", 100), ("held", 0)])
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        let mut conn = conn.clone();
        let zone_key = zone_key.clone();
        tasks.spawn(async move {
            let available: i64 = conn.hget(&zone_key, "available").await.unwrap();
            if available < 1 {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _: i64 = conn.hincr(&zone_key, "available", -1).await.unwrap();
            let _: i64 = conn.hincr(&zone_key, "held", 1).await.unwrap();
            true
        });
    }
    let mut granted = 0;
    while let Some(ok) = tasks.join_next().await {
        granted += usize::from(ok.unwrap());
    }
    let available: i64 = conn.clone().hget(&zone_key, "available").await.unwrap();
    let _: () = conn.clone().del(&zone_key).await.unwrap();
    assert!(
        granted > 100,
        "expected overselling without the atomic script, granted {granted}"
    );
    assert!(available < 0, "expected a negative count, got {available}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_buyer_racing_past_the_per_user_cap_gets_exactly_the_cap() {
    let world = World::new(spec(100)).await;
    let app = Arc::new(world.spawn(&[]).await);
    let (_, token) = world.token();
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..30 {
        let app = Arc::clone(&app);
        let token = token.clone();
        tasks.spawn(async move { app.reserve(&token, "a", 1, &format!("cap-{attempt}")).await });
    }
    let mut created = 0;
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            409 => {
                crate::helpers::assert_problem(response, 409, "per_user_cap_reached").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(world.live().await.held, 4);
    world.audit().await;
}
