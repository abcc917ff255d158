//! The money path: reserve → pay → webhook → confirmed; a late payment refunded; a decline
//! retried; a PSP timeout retried without a second charge.

use shared::auth::Role;

use crate::helpers::{World, body, eventually, spec};

#[tokio::test]
async fn paying_a_hold_confirms_it_in_postgresql_and_redis() {
    let world = World::new(spec(10)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 2).await;

    let first = world
        .pay(&token, reservation, "pay-1", "pm_card_visa")
        .await;
    assert_eq!(first.status(), 201);
    let created = body(first).await;
    assert_eq!(
        created["amountMinor"], 5000,
        "the amount is the reservation's"
    );
    assert_eq!(created["currency"], "EUR");
    let payment = created["id"].as_str().unwrap().to_owned();

    // The same request again answers with the same payment; another key too (one per reservation).
    let again = body(
        world
            .pay(&token, reservation, "pay-1", "pm_card_visa")
            .await,
    )
    .await;
    assert_eq!(again["id"], created["id"]);
    let other_key = world
        .pay(&token, reservation, "pay-2", "pm_card_visa")
        .await;
    assert_eq!(other_key.status(), 200);
    assert_eq!(body(other_key).await["id"], created["id"]);

    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    let booked = eventually(
        20,
        "booking reads the reservation as confirmed",
        async || {
            let r = world.reservation(&token, reservation).await;
            (r["status"] == "confirmed").then_some(r)
        },
    )
    .await;
    assert_eq!(booked["paymentId"], payment.as_str());
    let live = world.live().await;
    assert_eq!((live.held, live.sold, live.available), (0, 2, 8));
    let report = world.assert_reconciled().await;
    assert_eq!((report.totals.captured, report.totals.confirmed), (1, 1));
    assert_eq!(world.charges_at_psp(reservation).await.len(), 1);

    // The buyer's list shows it.
    let mine = body(
        world
            .http
            .get(format!("{}/api/v1/me/payments", world.payment_base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], payment.as_str());
}

#[tokio::test]
async fn a_payment_that_lands_after_the_hold_expired_is_refunded_automatically() {
    let mut sale = spec(5);
    sale.hold_ttl_seconds = 1;
    // The PSP takes longer to capture than the hold lives.
    let world = World::start(sale, &[("PSP_LATENCY_MS", "1500")], &[]).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let created = world.pay(&token, reservation, "late", "pm_card_visa").await;
    assert_eq!(created.status(), 201);
    let payment = body(created).await["id"].as_str().unwrap().to_owned();

    let refunded = world
        .payment_becomes(&token, &payment, "refunded", Some("rejected"))
        .await;
    assert_eq!(refunded["refundReason"], "booking_rejected");
    let r = world.reservation(&token, reservation).await;
    assert_eq!(r["status"], "expired");
    let live = world.live().await;
    assert_eq!((live.held, live.sold, live.available), (0, 0, 5));
    let report = world.assert_reconciled().await;
    assert_eq!((report.totals.refunded, report.totals.confirmed), (1, 0));
}

#[tokio::test]
async fn a_declined_payment_books_nothing_and_the_buyer_may_try_again() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let declined = body(
        world
            .pay(&token, reservation, "try-1", "pm_card_declined")
            .await,
    )
    .await;
    let payment = declined["id"].as_str().unwrap().to_owned();
    let failed = world
        .payment_becomes(&token, &payment, "failed", None)
        .await;
    assert!(failed["failureReason"].is_string(), "{failed}");
    assert!(failed.get("booking").is_none());
    assert_eq!(
        world.reservation(&token, reservation).await["status"],
        "held"
    );
    assert_eq!(world.live().await.held, 1);

    let retry = world
        .pay(&token, reservation, "try-2", "pm_card_visa")
        .await;
    assert_eq!(retry.status(), 201);
    let retried = body(retry).await;
    assert_eq!(
        retried["id"],
        payment.as_str(),
        "still the reservation's one payment"
    );
    assert_eq!(retried["attempt"], 2);
    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    assert_eq!(
        world.reservation(&token, reservation).await["status"],
        "confirmed"
    );
    // Two attempts, two PSP charges under two keys; only the second took money.
    let charges = world.charges_at_psp(reservation).await;
    assert_eq!(charges.len(), 2, "{charges:?}");
    assert_eq!(
        charges.iter().filter(|c| c["status"] == "captured").count(),
        1
    );
    world.assert_reconciled().await;
}

#[tokio::test]
async fn a_psp_timeout_then_a_retry_charges_once() {
    // The PSP answers the first create call after 1.5 s; payment gives up after 300 ms.
    let world = World::start(
        spec(5),
        &[("PSP_SLOW_ANSWER_MS", "1500")],
        &[("PAYMENT_PSP_TIMEOUT_MS", "300")],
    )
    .await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let created = world
        .pay(&token, reservation, "slow", "pm_card_timeout")
        .await;
    assert_eq!(
        created.status(),
        201,
        "the payment is recorded even when the PSP is slow"
    );
    let payment = body(created).await["id"].as_str().unwrap().to_owned();
    // The buyer retries at once with the same key; the sync worker retries as well.
    let retried = world
        .pay(&token, reservation, "slow", "pm_card_timeout")
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(body(retried).await["id"], payment.as_str());

    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    let charges = world.charges_at_psp(reservation).await;
    assert_eq!(charges.len(), 1, "one charge for every try: {charges:?}");
    world.assert_reconciled().await;
}
