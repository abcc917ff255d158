//! Admission: the configured rate holds with two replicas, nobody is admitted twice, admission
//! stops and says so when nothing is left to sell and resumes as holds expire, and lapsed passes
//! make room.

use std::{collections::HashSet, sync::Arc, time::Duration};

use redis::AsyncCommands;
use shared::keys::SaleKeys;
use uuid::Uuid;

use super::{join_in_order, places};
use crate::helpers::{World, assert_problem, body, eventually, queued, redis};

/// Admission times (ms) of every admitted buyer still holding an admission: the expiry of each
/// admission minus the pass lifetime.
async fn admission_times(world: &World) -> Vec<i64> {
    let mut conn = redis().await;
    let key = SaleKeys::new(&world.sale.sale_id).queue("active");
    let admitted: Vec<(String, f64)> = conn.zrange_withscores(key, 0, -1).await.unwrap();
    let ttl = i64::from(world.sale.queue.pass_ttl_seconds) * 1000;
    let mut times: Vec<i64> = admitted.iter().map(|(_, at)| *at as i64 - ttl).collect();
    times.sort_unstable();
    times
}

async fn admitted_total(world: &World) -> u64 {
    let mut conn = redis().await;
    let raw: Option<String> = conn
        .hget(
            SaleKeys::new(&world.sale.sale_id).queue("state"),
            "admitted",
        )
        .await
        .unwrap();
    raw.map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_together_admit_at_the_configured_rate() {
    let world = World::new(queued(10_000, 10, 10_000, 600)).await;
    let first = Arc::new(world.spawn(&[]).await);
    let second = Arc::new(world.spawn(&[]).await);
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..120 {
        let app = if i % 2 == 0 { &first } else { &second };
        let (app, token) = (Arc::clone(app), world.token().1);
        joins.spawn(async move { app.join(&token).await.status().as_u16() });
    }
    while let Some(status) = joins.join_next().await {
        assert_eq!(status.unwrap(), 201);
    }
    let times = eventually(20, "4.5 s of admissions", async || {
        let times = admission_times(&world).await;
        (times.len() > 10 && times[times.len() - 1] - times[0] >= 4_500).then_some(times)
    })
    .await;
    // The bucket holds at most one second of admissions while nobody waits, so the first
    // admissions may come up to 10 at once; after them, 10 a second. One replica's worth would
    // be about 40 in 4 s, two replicas each admitting at the rate about 80.
    let start = times[0];
    let first_batch = times.iter().filter(|t| **t == start).count();
    assert!(first_batch <= 10, "first batch {first_batch}");
    let within = |from: i64, to: i64| times.iter().filter(|t| **t > from && **t <= to).count();
    let admitted = within(start, start + 4_000);
    assert!(
        (32..=50).contains(&admitted),
        "{admitted} admitted in the 4 s after the first batch at 10/s by two replicas (40 + what the first batch left of the bucket expected)"
    );
    world.audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_admitting_at_once_never_admit_a_buyer_twice() {
    let world = World::new(queued(10_000, 100_000, 10_000, 600)).await;
    let first = world.spawn(&[("BOOKING_QUEUE_TICK_MS", "5")]).await;
    let second = world.spawn(&[("BOOKING_QUEUE_TICK_MS", "5")]).await;
    let buyers = join_in_order(&world, &first, 300).await;
    eventually(20, "every buyer is admitted", async || {
        (admission_times(&world).await.len() == 300).then_some(())
    })
    .await;
    assert_eq!(
        admitted_total(&world).await,
        300,
        "each of 300 buyers admitted once"
    );
    let mut passes = HashSet::new();
    for (i, (_, token)) in buyers.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        let place = app.place(token).await;
        assert_eq!(place["state"], "admitted");
        assert!(passes.insert(place["pass"].as_str().unwrap().to_owned()));
    }
    world.audit().await;
}

/// The negative control: two admitters that read the head of the line and then remove what they
/// read, without atomicity, admit some buyers twice — the race `ZPOPMIN` inside one script closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admitting_without_atomicity_admits_buyers_twice() {
    let line = format!("race-line-{}", Uuid::new_v4().simple());
    let conn = redis().await;
    let members: Vec<(u64, String)> = (1..=300).map(|i| (i, format!("buyer-{i}"))).collect();
    let _: () = conn.clone().zadd_multiple(&line, &members).await.unwrap();
    let mut admitters = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (mut conn, line) = (conn.clone(), line.clone());
        admitters.spawn(async move {
            let mut admitted = Vec::new();
            loop {
                let head: Vec<String> = conn.zrange(&line, 0, 9).await.unwrap();
                if head.is_empty() {
                    return admitted;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                let _: () = conn.zrem(&line, &head).await.unwrap();
                admitted.extend(head);
            }
        });
    }
    let mut admissions = Vec::new();
    while let Some(admitted) = admitters.join_next().await {
        admissions.extend(admitted.unwrap());
    }
    let distinct: HashSet<&String> = admissions.iter().collect();
    assert_eq!(distinct.len(), 300);
    assert!(
        admissions.len() > 300,
        "expected double admissions without atomicity, got {} admissions",
        admissions.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_buyers_hear_the_sale_sold_out_and_admission_resumes_when_holds_expire() {
    let mut sale = queued(2, 100, 10, 600);
    sale.hold_ttl_seconds = 2;
    let world = World::new(sale).await;
    let app = world.spawn(&[]).await;
    let buyers = join_in_order(&world, &app, 5).await;
    // Two seats: two buyers are admitted, and the others wait while those two may take them.
    let first_two = [
        app.wait_for_pass(&buyers[0].1).await,
        app.wait_for_pass(&buyers[1].1).await,
    ];
    let p = places(&app, &buyers).await;
    assert_eq!(p[2]["state"], "waiting");
    assert_eq!(p[2]["position"], 1);
    assert_eq!(p[2]["soldOut"], false);
    let mut third = app.queue_events(&buyers[2].1).await;
    let (opening, _) = third.until("position", 5).await;
    assert_eq!(opening.data["position"], 1);

    for (i, pass) in first_two.iter().enumerate() {
        let (_, token) = &buyers[i];
        let held = app
            .reserve_with_pass(token, "a", 1, &format!("k{i}"), pass)
            .await;
        assert_eq!(held.status(), 201);
    }
    // Nothing is left to sell: the waiting buyers are told, and nobody is admitted.
    let (sold_out, _) = third.until("sold_out", 10).await;
    assert_eq!(sold_out.data["soldOut"], true);
    assert_eq!(sold_out.data["saleStatus"], "sold_out");
    assert_eq!(sold_out.data["state"], "waiting");
    assert!(sold_out.data.get("etaSeconds").is_none());
    let polled = app.place(&buyers[3].1).await;
    assert_eq!(
        (&polled["soldOut"], &polled["state"]),
        (&serde_json::json!(true), &serde_json::json!("waiting"))
    );
    assert_eq!(world.live().await.available, 0);

    // The holds lapse unpaid, their seats return, and the next two are admitted.
    let (admitted, _) = third.until("admitted", 15).await;
    assert_eq!(admitted.data["state"], "admitted");
    assert_eq!(admitted.data["soldOut"], false);
    let pass = admitted.data["pass"].as_str().unwrap().to_owned();
    assert!(
        third.next(5).await.is_none(),
        "the stream ends with the admission"
    );
    app.wait_for_pass(&buyers[3].1).await;
    assert_eq!(app.place(&buyers[4].1).await["position"], 1);
    let held = app
        .reserve_with_pass(&buyers[2].1, "a", 1, "k-third", &pass)
        .await;
    assert_eq!(body(held).await["status"], "held");
    world.audit().await;
}

#[tokio::test]
async fn a_pass_lapses_unused_and_its_place_goes_to_the_next_buyer() {
    let world = World::new(queued(100, 100, 1, 1)).await;
    let app = world.spawn(&[]).await;
    let buyers = join_in_order(&world, &app, 2).await;
    let pass = app.wait_for_pass(&buyers[0].1).await;
    assert_eq!(app.place(&buyers[1].1).await["position"], 1, "max active 1");
    app.wait_for_pass(&buyers[1].1).await;
    assert_eq!(app.place(&buyers[0].1).await["state"], "pass_expired");
    assert_problem(
        app.reserve_with_pass(&buyers[0].1, "a", 1, "late", &pass)
            .await,
        403,
        "queue_pass_invalid",
    )
    .await;
    assert_eq!(world.live().await.held, 0);
    world.audit().await;
}
