//! Object-level authorization: a buyer reaches only their own reservations and payments; the
//! sale's organizer and admins refund; a buyer cancels a paid booking only where the sale allows.

use shared::auth::Role;
use uuid::Uuid;

use crate::helpers::{World, body, eventually, spec};

async fn paid(world: &World) -> (Uuid, String, Uuid, String) {
    let (buyer, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let payment = body(world.pay(&token, reservation, "k", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    (buyer, token, reservation, payment)
}

async fn refund(world: &World, token: &str, payment: &str) -> reqwest::Response {
    world
        .http
        .post(format!("{}/refund", world.payment_url(payment)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn another_user_can_neither_read_nor_pay_nor_refund() {
    let world = World::new(spec(5)).await;
    let (_, _, reservation, payment) = paid(&world).await;
    let (_, stranger) = world.user(Role::Customer);
    let (_, other_organizer) = world.user(Role::Organizer);
    for token in [&stranger, &other_organizer] {
        let read = world.read_payment(token, &payment).await;
        assert_eq!(read.status(), 404);
        assert_eq!(body(read).await["code"], "payment_not_found");
        let by_reservation = world
            .http
            .get(world.pay_url(reservation))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(by_reservation.status(), 404);
        let pay = world.pay(token, reservation, "steal", "pm_card_visa").await;
        assert_eq!(pay.status(), 404);
        assert_eq!(body(pay).await["code"], "reservation_not_found");
        let refunded = refund(&world, token, &payment).await;
        assert_eq!(refunded.status(), 404);
    }
    // A stranger's own hold is still theirs alone to pay: paying someone else's unpaid hold fails.
    let (_, owner) = world.user(Role::Customer);
    let unpaid = world.reserve(&owner, 1).await;
    let pay = world.pay(&stranger, unpaid, "other", "pm_card_visa").await;
    assert_eq!(pay.status(), 404);
    assert!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM payments WHERE reservation_id = $1")
            .bind(unpaid)
            .fetch_one(&world.payment_db)
            .await
            .unwrap()
            == 0
    );
    let mine = body(
        world
            .http
            .get(format!("{}/api/v1/me/payments", world.payment_base()))
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
    // No token at all.
    let anonymous = world
        .http
        .get(world.payment_url(&payment))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    world.assert_reconciled().await;
}

#[tokio::test]
async fn the_organizer_of_the_sale_refunds_and_the_seats_go_back_to_the_sale() {
    let world = World::new(spec(5)).await;
    let (_, buyer, reservation, payment) = paid(&world).await;
    // The buyer may not: this sale does not allow buyer cancellation.
    let refused = refund(&world, &buyer, &payment).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(body(refused).await["code"], "refund_not_allowed");

    let organizer = world.token_for(world.sale.organizer_id.unwrap(), Role::Organizer);
    let seen = world.read_payment(&organizer, &payment).await;
    assert_eq!(seen.status(), 200, "the organizer sees the sale's payments");
    let refunding = refund(&world, &organizer, &payment).await;
    assert_eq!(refunding.status(), 200);
    let view = world
        .payment_becomes(&buyer, &payment, "refunded", None)
        .await;
    assert_eq!(view["refundReason"], "organizer");
    eventually(20, "booking returns the seats", async || {
        (world.reservation(&buyer, reservation).await["status"] == "refunded").then_some(())
    })
    .await;
    let live = world.live().await;
    assert_eq!((live.sold, live.available), (0, 5));
    // Refunding again answers with the refund, and moves no more money.
    let again = refund(&world, &organizer, &payment).await;
    assert_eq!(again.status(), 200);
    let report = world.assert_reconciled().await;
    assert_eq!((report.totals.refunded, report.totals.confirmed), (1, 0));
}

#[tokio::test]
async fn an_admin_refunds_any_payment_and_a_buyer_cancels_where_the_sale_allows() {
    let mut sale = spec(5);
    sale.allow_buyer_cancellation = true;
    let world = World::new(sale).await;
    let (_, admin) = world.user(Role::Admin);
    let (_, _, _, by_admin) = paid(&world).await;
    assert_eq!(refund(&world, &admin, &by_admin).await.status(), 200);
    let view = world
        .payment_becomes(&admin, &by_admin, "refunded", None)
        .await;
    assert_eq!(view["refundReason"], "admin");

    let (_, buyer, reservation, own) = paid(&world).await;
    // Sale terms arrive through the bookings topic; wait for the buyer's right to show.
    let cancelled = eventually(20, "the buyer may cancel", async || {
        let r = refund(&world, &buyer, &own).await;
        (r.status() == 200).then_some(r)
    })
    .await;
    assert_eq!(
        body(cancelled).await["status"]
            .as_str()
            .map(|s| s.starts_with("refund")),
        Some(true)
    );
    let view = world.payment_becomes(&buyer, &own, "refunded", None).await;
    assert_eq!(view["refundReason"], "buyer_cancellation");
    eventually(20, "booking returns the seats", async || {
        (world.reservation(&buyer, reservation).await["status"] == "refunded").then_some(())
    })
    .await;
    assert_eq!(world.live().await.sold, 0);
    // An unpaid (declined) payment has nothing to refund.
    let (_, other) = world.user(Role::Customer);
    let held = world.reserve(&other, 1).await;
    let declined = body(world.pay(&other, held, "d", "pm_card_declined").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&other, &declined, "failed", None)
        .await;
    let nothing = refund(&world, &admin, &declined).await;
    assert_eq!(nothing.status(), 409);
    assert_eq!(body(nothing).await["code"], "payment_not_refundable");
    world.assert_reconciled().await;
}
