//! Fairness: early joiners are shuffled at opening into a recorded permutation, later joiners
//! queue first-in-first-out behind them, and one account holds one place however often it joins.

use std::{collections::HashSet, sync::Arc, time::Duration};

use booking::queue::shuffle::permutation;
use redis::AsyncCommands;
use shared::keys::SaleKeys;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{join_body, join_in_order, places};
use crate::helpers::{World, assert_problem, eventually, queued, redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buyers_who_join_before_opening_are_shuffled_at_opening_into_a_recorded_permutation_and_later_buyers_queue_behind_them()
 {
    // One buyer at a time is admitted and nobody reserves, so places stay still once the first
    // is admitted.
    let mut sale = queued(100, 1, 1, 600);
    sale.starts_at = OffsetDateTime::now_utc() + Duration::from_secs(4);
    let world = World::new(sale).await;
    let app = Arc::new(world.spawn(&[]).await);
    let early: Vec<(Uuid, String)> = (0..30).map(|_| world.token()).collect();
    let mut joins = tokio::task::JoinSet::new();
    for (_, token) in &early {
        let (app, token) = (Arc::clone(&app), token.clone());
        joins.spawn(async move { join_body(&app, &token).await });
    }
    while let Some(joined) = joins.join_next().await {
        let (status, place) = joined.unwrap();
        assert_eq!(status, 201, "{place}");
        assert_eq!(place["state"], "pre_queue");
        assert_eq!(place["saleStatus"], "opens_later");
        assert!(
            place.get("position").is_none(),
            "no order before the shuffle"
        );
    }
    assert_eq!(app.place(&early[0].1).await["preQueue"], 30);
    let mut stream = app.queue_events(&early[7].1).await;
    let (first, _) = stream.until("position", 5).await;
    assert_eq!(first.data["state"], "pre_queue");

    // At opening the pre-queue is shuffled into line, and the first of it admitted.
    eventually(
        15,
        "the pre-queue is in line and one buyer admitted",
        async || {
            let place = app.place(&early[0].1).await;
            (place["state"] != "pre_queue" && place["waiting"] == 29).then_some(())
        },
    )
    .await;
    // The stream opened in the pre-queue learns its buyer's place from the shuffled order.
    let after = stream.next(10).await.unwrap();
    assert!(
        after.data["state"] == "waiting" || after.data["state"] == "admitted",
        "{after:?}"
    );

    let late = join_in_order(&world, &app, 5).await;
    let late_positions: Vec<u64> = places(&app, &late)
        .await
        .iter()
        .map(|p| p["position"].as_u64().unwrap())
        .collect();
    assert_eq!(
        late_positions,
        [30, 31, 32, 33, 34],
        "behind the 29 still waiting, in joining order"
    );

    // The order is in Redis, with its seed...
    let keys = SaleKeys::new(&world.sale.sale_id);
    let mut conn = redis().await;
    let order: Vec<String> = conn.lrange(keys.queue("order"), 0, -1).await.unwrap();
    let seed: u64 = conn
        .hget::<_, _, String>(keys.queue("state"), "seed")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let early_ids: HashSet<String> = early.iter().map(|(u, _)| u.to_string()).collect();
    assert_eq!(order.len(), 30);
    assert_eq!(
        order.iter().cloned().collect::<HashSet<_>>(),
        early_ids,
        "a permutation of the early joiners"
    );
    // ...and each buyer's place follows it.
    let early_places = places(&app, &early).await;
    for ((user, _), place) in early.iter().zip(&early_places) {
        let ticket = order.iter().position(|u| *u == user.to_string()).unwrap() as u64 + 1;
        if ticket == 1 {
            assert_eq!(place["state"], "admitted");
        } else {
            assert_eq!(place["position"].as_u64(), Some(ticket - 1), "{place}");
        }
    }

    // The recorder keeps the same order and seed in PostgreSQL, and the seed re-creates it from
    // the order of joining.
    let (recorded_seed, recorded) = eventually(20, "the shuffle is recorded", async || {
        booking::store::recorded_shuffle(&world.db, &world.sale.sale_id)
            .await
            .unwrap()
            .filter(|(_, places)| places.len() == 30)
    })
    .await;
    assert_eq!(recorded_seed, seed);
    let recorded_users: Vec<String> = recorded.iter().map(|p| p.user_id.to_string()).collect();
    assert_eq!(recorded_users, order);
    let ranks: Vec<u32> = recorded.iter().map(|p| p.joined_rank as u32).collect();
    assert_eq!(
        ranks,
        permutation(seed, 30),
        "the seed re-creates the order"
    );
    assert_ne!(
        ranks,
        (0..30).collect::<Vec<u32>>(),
        "the order is not the order of joining"
    );
    world.audit().await;
}

#[tokio::test]
async fn after_opening_buyers_are_admitted_first_in_first_out_and_leaving_moves_those_behind_up() {
    let world = World::new(queued(100, 100, 2, 600)).await;
    let app = world.spawn(&[]).await;
    let buyers = join_in_order(&world, &app, 6).await;
    eventually(10, "two buyers are admitted", async || {
        let p = places(&app, &buyers).await;
        (p[0]["state"] == "admitted" && p[1]["state"] == "admitted").then_some(())
    })
    .await;
    let p = places(&app, &buyers).await;
    let positions: Vec<Option<u64>> = p[2..].iter().map(|p| p["position"].as_u64()).collect();
    assert_eq!(positions, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(p[2]["waiting"], 4);

    assert_eq!(app.leave(&buyers[3].1).await.status(), 204);
    assert_eq!(app.place(&buyers[3].1).await["state"], "left");
    assert_eq!(app.place(&buyers[4].1).await["position"], 2);
    assert_eq!(app.place(&buyers[5].1).await["position"], 3);

    // The first buyer reserves: room for one more, and it is the next in line, not a later one.
    let pass = app.wait_for_pass(&buyers[0].1).await;
    let reserved = app
        .reserve_with_pass(&buyers[0].1, "a", 1, "k1", &pass)
        .await;
    assert_eq!(reserved.status(), 201);
    app.wait_for_pass(&buyers[2].1).await;
    assert_eq!(app.place(&buyers[4].1).await["position"], 1);
    assert_eq!(app.place(&buyers[0].1).await["state"], "pass_used");

    // Joining again after the pass was used queues at the end.
    let (status, again) = join_body(&app, &buyers[0].1).await;
    assert_eq!(status, 201);
    assert_eq!(again["position"], 3);

    assert_problem(app.leave(&buyers[3].1).await, 404, "not_in_queue").await;
    let (_, stranger) = world.token();
    assert_problem(app.queue_status(&stranger).await, 404, "not_in_queue").await;
    world.audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_account_joining_twenty_times_at_once_gets_one_place() {
    let world = World::new(queued(100, 1, 1, 600)).await;
    let app = Arc::new(world.spawn(&[]).await);
    // The first buyer is admitted and holds the only admission, so nobody else moves.
    let blocker = join_in_order(&world, &app, 1).await;
    app.wait_for_pass(&blocker[0].1).await;
    let (_, token) = world.token();
    let others: Vec<String> = (0..10).map(|_| world.token().1).collect();
    let mut joins = tokio::task::JoinSet::new();
    // Twenty joins of the buyer interleaved with two each of ten others.
    for i in 0..40 {
        let app = Arc::clone(&app);
        let mine = i % 2 == 0;
        let token = if mine {
            token.clone()
        } else {
            others[(i / 2) % 10].clone()
        };
        joins.spawn(async move { (mine, join_body(&app, &token).await) });
    }
    let mut mine = Vec::new();
    while let Some(joined) = joins.join_next().await {
        let (is_mine, (status, place)) = joined.unwrap();
        assert!(status == 201 || status == 200, "{status} {place}");
        if is_mine {
            mine.push((status, place["position"].as_u64().unwrap()));
        }
    }
    assert_eq!(mine.len(), 20);
    assert_eq!(
        mine.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{mine:?}"
    );
    let positions: HashSet<u64> = mine.iter().map(|(_, p)| *p).collect();
    assert_eq!(positions.len(), 1, "one place: {mine:?}");
    let mut conn = redis().await;
    let keys = SaleKeys::new(&world.sale.sale_id);
    let handed_out: u64 = conn
        .hget::<_, _, String>(keys.queue("state"), "next")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        handed_out, 12,
        "one ticket per account: the blocker, the buyer and 10 others"
    );
    let waiting: u64 = conn.zcard(keys.queue("line")).await.unwrap();
    assert_eq!(waiting, 11);
    world.audit().await;
}

/// The negative control: the same burst of joins against a check-then-insert without atomicity
/// hands one account several places, which shows the race above is real.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_non_atomic_check_then_insert_gives_one_account_several_places() {
    let prefix = format!("race-join-{}", Uuid::new_v4().simple());
    let (tickets, next) = (format!("{prefix}:tickets"), format!("{prefix}:next"));
    let conn = redis().await;
    let mut joins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (mut conn, tickets, next) = (conn.clone(), tickets.clone(), next.clone());
        joins.spawn(async move {
            let existing: Option<u64> = conn.hget(&tickets, "buyer").await.unwrap();
            if let Some(ticket) = existing {
                return ticket;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let ticket: u64 = conn.incr(&next, 1).await.unwrap();
            let _: () = conn.hset(&tickets, "buyer", ticket).await.unwrap();
            ticket
        });
    }
    let mut handed_out = HashSet::new();
    while let Some(ticket) = joins.join_next().await {
        handed_out.insert(ticket.unwrap());
    }
    let _: () = conn.clone().del(&[&tickets, &next]).await.unwrap();
    assert!(
        handed_out.len() > 1,
        "expected several places for one account without atomicity, got {handed_out:?}"
    );
}
