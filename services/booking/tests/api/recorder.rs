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
    let mut tx = world.db.begin().await.unwrap();
    for (i, event) in events.iter().enumerate() {
        let envelope = Envelope::new(
            world.sale.sale_id.clone(),
            OffsetDateTime::now_utc(),
            &i.to_string(),
            event.clone(),
        );
        store::apply(&mut tx, &envelope).await?;
    }
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
        config::Env,
        kafka::{EventPublisher, KafkaConfig},
    };

    let world = World::new(spec(3)).await;
    let _app = world.spawn(&[]).await;
    world.audit().await;
    let kafka = KafkaConfig::from_env(&Env::default()).unwrap();
    let publisher =
        EventPublisher::new(kafka.producer().unwrap(), std::time::Duration::from_secs(5));
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

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store::reservation(&world.db, fits).await.unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "recording stopped behind the refused event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        store::reservation(&world.db, too_many)
            .await
            .unwrap()
            .is_none()
    );
    let (reason,): (String,) = sqlx::query_as(
        "SELECT reason FROM rejected_events WHERE event_type = 'ReservationConfirmed'",
    )
    .fetch_one(&world.db)
    .await
    .unwrap();
    assert_eq!(reason, store::SOLD_WITHIN_CAPACITY);
    assert_eq!(recorded(&world).await, (2, 0));
}
