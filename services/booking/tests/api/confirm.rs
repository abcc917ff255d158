//! Confirmation by payment: a live hold becomes sold; expired, cancelled or already-paid
//! reservations are refused and ask for a refund.

use std::time::{Duration, Instant};

use booking::inventory::{ConfirmOutcome, Inventory, PaymentClaim};
use shared::{
    config::Env,
    events::{
        BookingEvent, Envelope, PaymentEvent, PaymentRefunded, PaymentSucceeded, payments_topic,
    },
    kafka::{EventPublisher, KafkaConfig},
    redis::RedisConfig,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{TestApp, World, body, count_by_type, spec};

async fn pay(world: &World, reservation: Uuid, user: Uuid, payment: Uuid) {
    let event = PaymentEvent::PaymentSucceeded(PaymentSucceeded {
        payment_id: payment,
        reservation_id: reservation,
        user_id: user,
        amount_minor: 2500,
        currency: "EUR".into(),
    });
    publish_payment_event(world, reservation, &format!("{payment}/succeeded"), event).await;
}

async fn refund(world: &World, reservation: Uuid, user: Uuid, payment: Uuid) {
    let event = PaymentEvent::PaymentRefunded(PaymentRefunded {
        payment_id: payment,
        reservation_id: reservation,
        user_id: user,
        amount_minor: 2500,
        currency: "EUR".into(),
        reason: "organizer".into(),
    });
    publish_payment_event(world, reservation, &format!("{payment}/refunded"), event).await;
}

async fn publish_payment_event(world: &World, reservation: Uuid, dedup: &str, event: PaymentEvent) {
    let kafka = KafkaConfig::from_env(&Env::default()).unwrap();
    let publisher = EventPublisher::new(kafka.producer().unwrap(), Duration::from_secs(5));
    let envelope = Envelope::new(
        world.sale.sale_id.clone(),
        OffsetDateTime::now_utc(),
        dedup,
        event,
    );
    publisher
        .publish(
            &payments_topic(&world.sale.sale_id),
            &reservation.to_string(),
            &envelope,
        )
        .await
        .unwrap();
}

async fn reserve_one(world: &World, app: &TestApp) -> (Uuid, Uuid, String) {
    let (user, token) = world.token();
    let reservation = body(app.reserve(&token, "a", 1, "k").await).await;
    (
        reservation["id"].as_str().unwrap().parse().unwrap(),
        user,
        token,
    )
}

async fn inventory() -> Inventory {
    Inventory::new(
        RedisConfig::from_env(&Env::default())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        Duration::from_secs(60),
    )
}

fn claim(user: Uuid, amount_minor: i64) -> PaymentClaim {
    PaymentClaim {
        payment_id: Uuid::new_v4(),
        user_id: user,
        amount_minor,
        currency: "EUR".into(),
    }
}

fn rejections(events: &[Envelope<BookingEvent>]) -> Vec<(Uuid, String)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            BookingEvent::ConfirmRejected(r) => Some((r.payment_id, r.reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_payment_confirms_a_live_hold_once_even_when_redelivered() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (id, user, token) = reserve_one(&world, &app).await;
    let payment = Uuid::new_v4();
    pay(&world, id, user, payment).await;
    pay(&world, id, user, payment).await;

    let started = Instant::now();
    while world.live().await.sold != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "payment never confirmed the hold"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read = body(
        app.http
            .get(app.reservation_url(&id.to_string()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["status"], "confirmed");
    assert_eq!(read["paymentId"], payment.to_string());
    world.audit().await;
    let row = booking::store::reservation(&world.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.payment_id),
        ("confirmed", Some(payment))
    );
    // The redelivered payment changed nothing and asked for no refund.
    let live = world.live().await;
    assert_eq!((live.held, live.sold), (0, 1));
    let events = world
        .booking_events(|events| count_by_type(events).contains_key("ReservationConfirmed"))
        .await;
    assert!(rejections(&events).is_empty());
}

async fn wait_for(
    world: &World,
    what: &str,
    done: impl Fn(&booking::inventory::ZoneAvailability) -> bool,
) {
    let started = Instant::now();
    while !done(&world.live().await) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_refunded_payment_returns_the_seats_it_bought_once_and_a_stranger_refund_returns_none() {
    let world = World::new(spec(10)).await;
    let app = world.spawn(&[]).await;
    let (id, user, token) = reserve_one(&world, &app).await;
    let payment = Uuid::new_v4();
    pay(&world, id, user, payment).await;
    wait_for(&world, "confirmation", |z| z.sold == 1).await;

    // A refund of a payment that did not confirm this reservation sells nothing back.
    refund(&world, id, user, Uuid::new_v4()).await;
    refund(&world, id, user, payment).await;
    refund(&world, id, user, payment).await;
    wait_for(&world, "the refund", |z| z.sold == 0).await;
    let live = world.live().await;
    assert_eq!((live.available, live.held, live.sold), (10, 0, 0));

    let read = body(
        app.http
            .get(app.reservation_url(&id.to_string()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["status"], "refunded");
    world.audit().await;
    let row = booking::store::reservation(&world.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "refunded");
    // The buyer's cap is free again: four more seats may be held.
    let again = app.reserve(&token, "a", 4, "k2").await;
    assert_eq!(again.status(), 201);
    world.audit().await;
}

#[tokio::test]
async fn a_payment_after_expiry_is_rejected_with_a_refund_request() {
    let mut sale = spec(10);
    sale.hold_ttl_seconds = 1;
    let world = World::new(sale).await;
    let app = world.spawn(&[]).await;
    let (id, user, _) = reserve_one(&world, &app).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let payment = Uuid::new_v4();
    pay(&world, id, user, payment).await;
    let events = world
        .booking_events(|events| !rejections(events).is_empty())
        .await;
    assert_eq!(rejections(&events), vec![(payment, "expired".to_owned())]);
    assert_eq!(world.live().await.sold, 0);
    world.audit().await;
}

#[tokio::test]
async fn confirm_tells_live_expired_cancelled_and_already_paid_apart() {
    let mut sale = spec(10);
    sale.hold_ttl_seconds = 2;
    let world = World::new(sale).await;
    let app = world.spawn(&[("BOOKING_SWEEP_INTERVAL_MS", "60000")]).await;
    let inventory = inventory().await;
    let sale_id = &world.sale.sale_id;

    let (live, owner, _) = reserve_one(&world, &app).await;
    // A payment of the wrong amount, currency or payer confirms nothing.
    assert_eq!(
        inventory
            .confirm(sale_id, live, &claim(owner, 2499))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("mismatch".into())
    );
    let mut euros_in_dollars = claim(owner, 2500);
    euros_in_dollars.currency = "USD".into();
    assert_eq!(
        inventory
            .confirm(sale_id, live, &euros_in_dollars)
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("mismatch".into())
    );
    assert_eq!(
        inventory
            .confirm(sale_id, live, &claim(Uuid::new_v4(), 2500))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("mismatch".into())
    );

    let payment = claim(owner, 2500);
    assert_eq!(
        inventory.confirm(sale_id, live, &payment).await.unwrap(),
        ConfirmOutcome::Confirmed
    );
    assert_eq!(
        inventory.confirm(sale_id, live, &payment).await.unwrap(),
        ConfirmOutcome::AlreadyConfirmed
    );
    assert_eq!(
        inventory
            .confirm(sale_id, live, &claim(owner, 2500))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("confirmed".into())
    );

    let (cancelled, buyer, token) = reserve_one(&world, &app).await;
    app.http
        .delete(app.reservation_url(&cancelled.to_string()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        inventory
            .confirm(sale_id, cancelled, &claim(buyer, 2500))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("cancelled".into())
    );

    // The sweeper is idle here, so this hold is past its expiry but not yet released: confirm
    // must still refuse it, and releases it on the way.
    let (expired, buyer, _) = reserve_one(&world, &app).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        inventory
            .confirm(sale_id, expired, &claim(buyer, 2500))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("expired".into())
    );
    assert_eq!(
        inventory
            .confirm(sale_id, Uuid::new_v4(), &claim(buyer, 2500))
            .await
            .unwrap(),
        ConfirmOutcome::Rejected("unknown".into())
    );
    let live_counts = world.live().await;
    assert_eq!(
        (live_counts.available, live_counts.held, live_counts.sold),
        (9, 0, 1)
    );
    world.audit().await;
}
