//! Concurrent pay requests for one reservation make one payment and one charge. The negative
//! control shows the race is real: the same concurrent charges sent to the PSP under keys of
//! their own (no shared idempotency key) charge many times.

use std::time::Duration;

use futures::future::join_all;
use payment::psp::{ChargeMetadata, CreateCharge, Psp, http::HttpPsp};
use secrecy::SecretString;
use shared::auth::Role;
use uuid::Uuid;

use crate::helpers::{API_KEY, World, body, spec};

const CONCURRENT: usize = 20;

#[tokio::test]
async fn concurrent_pay_requests_make_one_payment_and_one_charge() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let answers = join_all((0..CONCURRENT).map(|i| {
        let key = format!("race-{i}");
        let world = &world;
        let token = &token;
        async move { world.pay(token, reservation, &key, "pm_card_visa").await }
    }))
    .await;
    let mut ids = Vec::new();
    let mut created = 0;
    for answer in answers {
        let status = answer.status();
        assert!(status == 200 || status == 201, "{status}");
        created += usize::from(status == 201);
        ids.push(body(answer).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1, "exactly one request created the payment");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same payment");
    world
        .payment_becomes(&token, &ids[0], "captured", Some("confirmed"))
        .await;
    assert_eq!(world.charges_at_psp(reservation).await.len(), 1);
    world.assert_reconciled().await;
}

#[tokio::test]
async fn negative_control_without_a_shared_idempotency_key_the_psp_charges_every_concurrent_call() {
    let world = World::new(spec(5)).await;
    let psp = HttpPsp::new(
        &world.psp.base,
        SecretString::from(API_KEY),
        Duration::from_secs(5),
    )
    .unwrap();
    let reservation = Uuid::new_v4();
    let request = CreateCharge {
        amount_minor: 2500,
        currency: "EUR".into(),
        payment_method: "pm_card_visa".into(),
        reference: reservation,
        metadata: ChargeMetadata {
            payment_id: Uuid::new_v4(),
            sale_id: world.sale.sale_id.to_string(),
            attempt: 1,
        },
    };
    // The guard on: one key for every call, as payment sends.
    let shared_key = format!("{reservation}-1");
    let guarded = join_all((0..CONCURRENT).map(|_| psp.create_charge(&shared_key, &request))).await;
    let mut charge_ids: Vec<String> = guarded.into_iter().map(|c| c.unwrap().id).collect();
    charge_ids.dedup();
    assert_eq!(charge_ids.len(), 1);
    assert_eq!(world.charges_at_psp(reservation).await.len(), 1);

    // The guard off: a key per call, and every one of them is a charge.
    let unguarded = join_all((0..CONCURRENT).map(|i| {
        let key = format!("{reservation}-other-{i}");
        let request = &request;
        let psp = &psp;
        async move { psp.create_charge(&key, request).await }
    }))
    .await;
    assert!(unguarded.iter().all(Result::is_ok));
    assert_eq!(
        world.charges_at_psp(reservation).await.len(),
        1 + CONCURRENT
    );
}
