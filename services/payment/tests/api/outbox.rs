//! The payment process dies after committing a capture and before publishing it: the outbox
//! keeps the event and the next relay sends it.

use shared::auth::Role;

use crate::helpers::{World, body, eventually, spec};

#[tokio::test]
async fn a_capture_committed_but_never_published_is_relayed_by_the_next_process() {
    // The first process commits state changes but never publishes (as if killed right after
    // each commit).
    let mut world = World::start(spec(5), &[], &[("PAYMENT_RELAY", "false")]).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let payment = body(world.pay(&token, reservation, "k", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&token, &payment, "captured", None)
        .await;
    let backlog = eventually(10, "the capture's event waits in the outbox", async || {
        let n = payment::store::outbox_backlog(&world.payment_db)
            .await
            .unwrap();
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(backlog, 1);
    world.payment.take().unwrap().stop().await;
    // Nothing was published, so booking still holds the seats unpaid.
    assert_eq!(
        world.reservation(&token, reservation).await["status"],
        "held"
    );
    assert_eq!(world.live().await.held, 1);

    world.payment = Some(world.spawn_payment(&[("PAYMENT_RELAY", "true")]).await);
    eventually(20, "the relayed capture confirms the booking", async || {
        (world.reservation(&token, reservation).await["status"] == "confirmed").then_some(())
    })
    .await;
    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    assert_eq!(
        payment::store::outbox_backlog(&world.payment_db)
            .await
            .unwrap(),
        0
    );
    let report = world.assert_reconciled().await;
    assert_eq!((report.totals.captured, report.totals.confirmed), (1, 1));
}
