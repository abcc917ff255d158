//! Nothing acknowledged is lost when a process dies: outbox entries a dead replica had read but
//! not relayed are claimed and published by a live one; nor when the outbox stream itself goes.

use std::time::Duration;

use booking::{
    domain::{IdempotencyKey, Quantity},
    inventory::{CancelOutcome, Inventory, ReserveOutcome, ReserveRequest},
};
use shared::{
    config::Env,
    ids::ZoneId,
    keys::{OUTBOX_GROUP, SaleKeys},
    redis::RedisConfig,
};
use uuid::Uuid;

use crate::helpers::{World, spec};

/// A connection to the tests' Redis, and the inventory on it.
async fn inventory() -> (redis::aio::ConnectionManager, Inventory) {
    let conn = RedisConfig::from_env(&Env::default())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (conn.clone(), Inventory::new(conn, Duration::from_secs(60)))
}

/// Reserves one seat for a new buyer and cancels it: a `ReservationCancelled` entry in the outbox.
async fn cancelled_reservation(inventory: &Inventory, world: &World) -> Uuid {
    let request = ReserveRequest {
        user: Uuid::new_v4(),
        zone: ZoneId::parse("a").unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        idempotency_key: IdempotencyKey::parse("once").unwrap(),
        pass: None,
    };
    let ReserveOutcome::Created(hold) = inventory
        .reserve(&world.sale.sale_id, &request)
        .await
        .unwrap()
    else {
        panic!("reserve failed")
    };
    assert_eq!(
        inventory
            .cancel(&world.sale.sale_id, hold.id, hold.user)
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    hold.id
}

/// Waits until the sale's topic carries the cancellation of `reservation`.
async fn published_cancellation(world: &World, reservation: Uuid) {
    world
        .booking_events(|events| {
            events.iter().any(|e| {
                matches!(
                    &e.event,
                    shared::events::BookingEvent::ReservationCancelled(s) if s.reservation_id == reservation
                )
            })
        })
        .await;
}

#[tokio::test]
async fn a_relay_whose_outbox_stream_was_deleted_makes_it_again_and_relays_what_follows() {
    let world = World::new(spec(10)).await;
    let (conn, inventory) = inventory().await;
    let _app = world.spawn(&[]).await;

    // The running relay reads the outbox with its group...
    let first = cancelled_reservation(&inventory, &world).await;
    published_cancellation(&world, first).await;
    // ...then the stream goes, group and all.
    let mut redis = conn.clone();
    let _: () = redis::cmd("DEL")
        .arg(SaleKeys::new(&world.sale.sale_id).outbox())
        .query_async(&mut redis)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Before the fix the relay kept reading with a group that no longer existed (NOGROUP), and
    // this cancellation never left the outbox.
    let second = cancelled_reservation(&inventory, &world).await;
    published_cancellation(&world, second).await;
    world.audit().await;
}

#[tokio::test]
async fn entries_left_pending_by_a_dead_relay_are_published_by_another() {
    let world = World::new(spec(10)).await;
    let (conn, inventory) = inventory().await;
    let cancelled = cancelled_reservation(&inventory, &world).await;

    // A replica reads the cancellation from the outbox and dies before publishing it.
    let outbox = SaleKeys::new(&world.sale.sale_id).outbox();
    let mut redis = conn.clone();
    let taken: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(OUTBOX_GROUP)
        .arg("dead-replica")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&outbox)
        .arg(">")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_ne!(
        taken,
        redis::Value::Nil,
        "the dead replica should have taken the entry"
    );

    let _app = world.spawn(&[]).await;
    published_cancellation(&world, cancelled).await;
    world.audit().await;
}
