//! Nothing acknowledged is lost when a process dies: outbox entries a dead replica had read but
//! not relayed are claimed and published by a live one.

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

use crate::helpers::{World, count_by_type, spec};

#[tokio::test]
async fn entries_left_pending_by_a_dead_relay_are_published_by_another() {
    let world = World::new(spec(10)).await;
    let conn = RedisConfig::from_env(&Env::default())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let inventory = Inventory::new(conn.clone(), Duration::from_secs(60));
    let request = ReserveRequest {
        user: Uuid::new_v4(),
        zone: ZoneId::parse("a").unwrap(),
        quantity: Quantity::parse(2).unwrap(),
        idempotency_key: IdempotencyKey::parse("k").unwrap(),
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
    let events = world
        .booking_events(|events| count_by_type(events).contains_key("ReservationCancelled"))
        .await;
    let cancelled = events
        .iter()
        .find(|e| e.event.type_name() == "ReservationCancelled")
        .unwrap();
    let shared::events::BookingEvent::ReservationCancelled(snapshot) = &cancelled.event else {
        unreachable!()
    };
    assert_eq!(snapshot.reservation_id, hold.id);
    world.audit().await;
}
