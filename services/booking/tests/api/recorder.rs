//! The record in PostgreSQL is idempotent and order-independent, and the database refuses an oversell.

use booking::store::{self, RecordError};
use shared::{
    events::{BookingEvent, Envelope, ReservationSnapshot, ReservationStatus},
    ids::ZoneId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{World, spec};

fn snapshot(id: Uuid, status: ReservationStatus, quantity: u32) -> ReservationSnapshot {
    ReservationSnapshot {
        reservation_id: id,
        user_id: Uuid::nil(),
        zone: ZoneId::parse("a").unwrap(),
        quantity,
        amount_minor: 2500 * i64::from(quantity),
        currency: "EUR".into(),
        status,
        created_at: OffsetDateTime::now_utc(),
        expires_at: OffsetDateTime::now_utc(),
        payment_id: None,
    }
}

async fn apply(world: &World, events: &[BookingEvent]) -> Result<(), RecordError> {
    let envelopes: Vec<Envelope<BookingEvent>> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            Envelope::new(
                world.sale.sale_id.clone(),
                OffsetDateTime::now_utc(),
                &i.to_string(),
                event.clone(),
            )
        })
        .collect();
    let mut tx = world.db.begin().await.unwrap();
    store::apply_batch(&mut tx, &envelopes).await?;
    tx.commit().await.unwrap();
    Ok(())
}

async fn recorded(world: &World) -> (i32, i32) {
    let totals = store::zone_totals(&world.db, &world.sale.sale_id)
        .await
        .unwrap();
    (totals[0].held, totals[0].sold)
}

#[tokio::test]
async fn redelivered_and_reordered_events_count_once() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    world.audit().await; // the recorder has applied the sale's configuration
    app.stop().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let created_a = BookingEvent::ReservationCreated(snapshot(a, ReservationStatus::Held, 2));
    let confirmed_a =
        BookingEvent::ReservationConfirmed(snapshot(a, ReservationStatus::Confirmed, 2));
    let created_b = BookingEvent::ReservationCreated(snapshot(b, ReservationStatus::Held, 3));
    let expired_b = BookingEvent::ReservationExpired(snapshot(b, ReservationStatus::Expired, 3));
    apply(&world, &[created_a.clone(), created_a.clone()])
        .await
        .unwrap();
    assert_eq!(recorded(&world).await, (2, 0));
    // Confirmation redelivered, and a stale creation arriving after it.
    apply(&world, &[confirmed_a.clone(), confirmed_a, created_a])
        .await
        .unwrap();
    assert_eq!(recorded(&world).await, (0, 2));
    // The expiry overtakes the creation: the late creation changes nothing.
    apply(&world, &[expired_b, created_b]).await.unwrap();
    assert_eq!(recorded(&world).await, (0, 2));
}

#[tokio::test]
async fn a_batch_of_holds_counts_each_new_hold_once_in_its_zone() {
    let mut sale = spec(100);
    let mut zone_b = sale.zones[0].clone();
    zone_b.id = ZoneId::parse("b").unwrap();
    sale.zones.push(zone_b);
    let world = World::new(sale).await;
    let app = world.spawn(&[]).await;
    world.audit().await;
    app.stop().await;
    let hold = |zone: &str, quantity| {
        let mut s = snapshot(Uuid::now_v7(), ReservationStatus::Held, quantity);
        s.zone = ZoneId::parse(zone).unwrap();
        s
    };
    let (a1, a2, b1) = (hold("a", 2), hold("a", 3), hold("b", 4));
    let mut cancelled_a2 = a2.clone();
    cancelled_a2.status = ReservationStatus::Cancelled;
    let b2 = hold("b", 1);
    let created = |s: &ReservationSnapshot| BookingEvent::ReservationCreated(s.clone());
    // A run of holds (one repeated inside it), a cancel, then a run holding a redelivery.
    apply(
        &world,
        &[
            created(&a1),
            created(&a2),
            created(&a1),
            created(&b1),
            BookingEvent::ReservationCancelled(cancelled_a2),
            created(&b2),
            created(&a2),
            created(&b1),
        ],
    )
    .await
    .unwrap();
    let totals = store::zone_totals(&world.db, &world.sale.sale_id)
        .await
        .unwrap();
    let held: Vec<(String, i32)> = totals.iter().map(|z| (z.zone_id.clone(), z.held)).collect();
    assert_eq!(held, [("a".to_owned(), 2), ("b".to_owned(), 5)]);
    assert!(totals.iter().all(|z| i64::from(z.held) == z.held_rows));
    for (id, status) in [
        (a1.reservation_id, "held"),
        (a2.reservation_id, "cancelled"),
    ] {
        let row = store::reservation(&world.db, id).await.unwrap().unwrap();
        assert_eq!(row.status, status);
    }
}

#[tokio::test]
async fn the_database_refuses_to_record_more_sold_seats_than_capacity() {
    let world = World::new(spec(3)).await;
    let app = world.spawn(&[]).await;
    world.audit().await;
    app.stop().await;
    let first = BookingEvent::ReservationConfirmed(snapshot(
        Uuid::now_v7(),
        ReservationStatus::Confirmed,
        2,
    ));
    apply(&world, &[first]).await.unwrap();
    let second = BookingEvent::ReservationConfirmed(snapshot(
        Uuid::now_v7(),
        ReservationStatus::Confirmed,
        2,
    ));
    let refused = apply(&world, &[second]).await.unwrap_err();
    assert!(
        matches!(refused, RecordError::Oversell { .. }),
        "{refused:?}"
    );
    assert_eq!(recorded(&world).await, (0, 2));
}

#[tokio::test]
async fn an_event_refused_as_an_oversell_is_set_aside_and_recording_goes_on() {
    use booking::publish::publish_booking_event;
    use shared::{
        batching::BatchPublisher,
        config::Env,
        kafka::{EventPublisher, KafkaConfig},
    };

    let world = World::new(spec(3)).await;
    let _app = world.spawn(&[]).await;
    world.audit().await;
    let kafka = KafkaConfig::from_env(&Env::default()).unwrap();
    let publisher = BatchPublisher::new(EventPublisher::new(
        kafka.producer().unwrap(),
        std::time::Duration::from_secs(5),
    ));
    let too_many = Uuid::now_v7();
    let fits = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    publish_booking_event(
        &publisher,
        &world.sale.sale_id,
        now,
        BookingEvent::ReservationConfirmed(snapshot(too_many, ReservationStatus::Confirmed, 4)),
    )
    .await
    .unwrap();
    publish_booking_event(
        &publisher,
        &world.sale.sale_id,
        now,
        BookingEvent::ReservationCreated(snapshot(fits, ReservationStatus::Held, 2)),
    )
    .await
    .unwrap();

    // The two events are keyed by reservation, so they may sit in different partitions and be
    // recorded in either order: wait for both outcomes.
    let rejection = || async {
        sqlx::query_as::<_, (String,)>(
            "SELECT reason FROM rejected_events WHERE event_type = 'ReservationConfirmed'",
        )
        .fetch_optional(&world.db)
        .await
        .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let reason = loop {
        let fits_recorded = store::reservation(&world.db, fits).await.unwrap().is_some();
        match rejection().await {
            Some((reason,)) if fits_recorded => break reason,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recording stopped behind the refused event, or the refused event was not set aside"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        store::reservation(&world.db, too_many)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(reason, store::SOLD_WITHIN_CAPACITY);
    assert_eq!(recorded(&world).await, (2, 0));
}
