//! Money the PSP captured that no payment stands for is refunded, and the reconciliation reports
//! whatever does not add up.

use std::time::Duration;

use payment::psp::{ChargeMetadata, CreateCharge, Psp, http::HttpPsp};
use secrecy::SecretString;
use shared::auth::Role;
use uuid::Uuid;

use crate::helpers::{API_KEY, World, body, eventually, spec};

#[tokio::test]
async fn a_capture_of_an_attempt_that_is_not_the_payments_is_refunded() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let payment: Uuid = body(world.pay(&token, reservation, "k", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    world
        .payment_becomes(&token, &payment.to_string(), "captured", Some("confirmed"))
        .await;

    // A second charge for the same payment under another attempt, as a PSP that lost track of a
    // retry would make: captured, but not the payment's.
    let psp = HttpPsp::new(
        &world.psp.base,
        SecretString::from(API_KEY),
        Duration::from_secs(5),
    )
    .unwrap();
    let stray = psp
        .create_charge(
            &format!("{reservation}-7"),
            &CreateCharge {
                amount_minor: 2500,
                currency: "EUR".into(),
                payment_method: "pm_card_visa".into(),
                reference: reservation,
                metadata: ChargeMetadata {
                    payment_id: payment,
                    sale_id: world.sale.sale_id.to_string(),
                    attempt: 7,
                },
            },
        )
        .await
        .unwrap();
    let refunded_at = eventually(20, "the stray capture is refunded", async || {
        let row: Option<(String, Option<time::OffsetDateTime>)> =
            sqlx::query_as("SELECT reason, refunded_at FROM orphan_charges WHERE charge_id = $1")
                .bind(&stray.id)
                .fetch_optional(&world.payment_db)
                .await
                .unwrap();
        match row {
            Some((reason, Some(at))) => {
                assert_eq!(reason, "stale_attempt");
                Some(at)
            }
            _ => None,
        }
    })
    .await;
    assert!(refunded_at <= time::OffsetDateTime::now_utc());
    // The payment itself is untouched: still captured, still the booking's.
    let view = body(world.read_payment(&token, &payment.to_string()).await).await;
    assert_eq!(
        (view["status"].as_str(), view["attempt"].as_i64()),
        (Some("captured"), Some(1))
    );
    let report = world.assert_reconciled().await;
    assert_eq!(report.totals.orphans_refunded, 1);
    assert_eq!((report.totals.captured, report.totals.confirmed), (1, 1));
}

#[tokio::test]
async fn the_reconciliation_reports_money_that_does_not_add_up() {
    let world = World::new(spec(5)).await;
    let (_, token) = world.user(Role::Customer);
    let reservation = world.reserve(&token, 1).await;
    let payment = body(world.pay(&token, reservation, "k", "pm_card_visa").await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .payment_becomes(&token, &payment, "captured", Some("confirmed"))
        .await;
    world.assert_reconciled().await;

    // An unrefunded capture nobody stands for…
    sqlx::query(
        "INSERT INTO orphan_charges (charge_id, payment_id, sale_id, attempt, amount_minor, currency, reason, checked_at)
         VALUES ('ch_planted', $1, $2, 9, 2500, 'EUR', 'planted', 'infinity')",
    )
    .bind(Uuid::new_v4())
    .bind(world.sale.sale_id.as_str())
    .execute(&world.payment_db)
    .await
    .unwrap();
    // …and a captured payment whose booking no longer says it was confirmed by it.
    sqlx::query("UPDATE reservations SET payment_id = NULL WHERE reservation_id = $1")
        .bind(reservation)
        .execute(&world.booking_db)
        .await
        .unwrap();
    let report = reconcile_once(&world).await;
    let text = report.to_string();
    assert!(!report.is_clean());
    assert!(text.contains("charge ch_planted"), "{text}");
    assert!(text.contains(&format!("payment {payment}")), "{text}");
    assert!(
        text.contains("captured but neither confirmed nor refunded"),
        "{text}"
    );
    assert!(
        text.contains(&format!("reservation {reservation}")),
        "{text}"
    );
}

async fn reconcile_once(world: &World) -> reconcile::Report {
    let sources = reconcile::Sources {
        booking: world.booking_db.clone(),
        payment: world.payment_db.clone(),
        inventory: booking::inventory::Inventory::new(
            shared::redis::RedisConfig::from_env(&shared::config::Env::default())
                .unwrap()
                .connect()
                .await
                .unwrap(),
            Duration::from_secs(60),
        ),
    };
    reconcile::reconcile(&sources, &world.sale.sale_id)
        .await
        .unwrap()
}
