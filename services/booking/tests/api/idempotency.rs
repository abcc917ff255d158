//! Idempotency-Key semantics: replay, conflicting body, concurrent duplicates.

use std::sync::Arc;

use crate::helpers::{World, assert_problem, body, spec};

#[tokio::test]
async fn replaying_the_same_key_and_body_returns_the_original_reservation() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    let first = app.reserve(&token, "a", 2, "same").await;
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    let again = app.reserve(&token, "a", 2, "same").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first);
    assert_eq!(world.live().await.held, 2);
    world.audit().await;
}

/// A retry of a reserve that succeeded hears that success again after the zone sold out, and a
/// retry with another body hears of the mismatch, not that the seats are gone.
#[tokio::test]
async fn a_retry_after_the_zone_sold_out_replays_the_original_reservation() {
    let world = World::new(spec(3)).await;
    let app = world.spawn(&[]).await;
    let (_, early) = world.token();
    let (_, late) = world.token();
    let first = body(app.reserve(&early, "a", 2, "early").await).await;
    assert_eq!(app.reserve(&late, "a", 1, "late").await.status(), 201);
    assert_problem(app.reserve(&late, "a", 1, "later").await, 409, "sold_out").await;

    let again = app.reserve(&early, "a", 2, "early").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first);
    assert_problem(
        app.reserve(&early, "a", 1, "early").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(world.live().await.held, 3);
    world.audit().await;
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_refused() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, token) = world.token();
    assert_eq!(app.reserve(&token, "a", 1, "k").await.status(), 201);
    assert_problem(
        app.reserve(&token, "a", 2, "k").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(world.live().await.held, 1);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (_, alice) = world.token();
    let (_, bob) = world.token();
    let a = body(app.reserve(&alice, "a", 1, "shared-key").await).await;
    let b = body(app.reserve(&bob, "a", 1, "shared-key").await).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(world.live().await.held, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_make_one_hold() {
    let world = World::new(spec(10)).await;
    let app = Arc::new(world.spawn(&[]).await);
    let (_, token) = world.token();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..25 {
        let app = Arc::clone(&app);
        let token = token.clone();
        tasks.spawn(async move {
            let response = app.reserve(&token, "a", 3, "dup").await;
            assert_eq!(response.status(), 201);
            body(response).await["id"].as_str().unwrap().to_owned()
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(id) = tasks.join_next().await {
        ids.insert(id.unwrap());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(world.live().await.held, 3);
    world.audit().await;
}

/// A replay that published the reservation while the original request's publish was failing
/// keeps the hold; a hold already released for that failure is never answered as made.
#[tokio::test]
async fn a_replay_that_published_wins_over_the_failing_original() {
    use booking::{
        domain::{IdempotencyKey, Quantity},
        inventory::{Inventory, ReleaseOutcome, ReserveOutcome, ReserveRequest},
    };
    use shared::{config::Env, ids::ZoneId, redis::RedisConfig};

    let world = World::new(spec(10)).await;
    let inventory = Inventory::new(
        RedisConfig::from_env(&Env::default())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        std::time::Duration::from_secs(60),
    );
    let request = |key: &str| ReserveRequest {
        user: uuid::Uuid::new_v4(),
        zone: ZoneId::parse("a").unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        pass: None,
    };
    let sale = &world.sale.sale_id;

    let first = request("a");
    let ReserveOutcome::Created(hold) = inventory.reserve(sale, &first).await.unwrap() else {
        panic!()
    };
    assert!(inventory.mark_published(sale, hold.id).await.unwrap());
    assert_eq!(
        inventory
            .release_unpublished(sale, &hold, &first.idempotency_key)
            .await
            .unwrap(),
        ReleaseOutcome::Published
    );
    assert_eq!(world.live().await.held, 1);

    let second = request("b");
    let ReserveOutcome::Created(hold) = inventory.reserve(sale, &second).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        inventory
            .release_unpublished(sale, &hold, &second.idempotency_key)
            .await
            .unwrap(),
        ReleaseOutcome::Released
    );
    assert!(!inventory.mark_published(sale, hold.id).await.unwrap());
    assert_eq!(world.live().await.held, 1);
}
