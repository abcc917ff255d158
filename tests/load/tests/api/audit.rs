//! The audit next to its negative controls: a clean sale passes, and a seat conjured in Redis
//! or a key answered with two reservations fails it.

use std::time::Duration;

use loadtest::{
    audit::{Auditor, Expectation, Ledger, Subject},
    sale::SaleShape,
    workload::Ack,
};
use shared::keys::SaleKeys;
use uuid::Uuid;

use crate::helpers::Stack;

fn failed(report: &loadtest::audit::AuditReport) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

#[tokio::test]
async fn the_audit_passes_a_clean_sale_and_fails_a_conjured_seat_or_a_key_with_two_outcomes() {
    let stack = Stack::start("audit").await;
    let shape = SaleShape {
        sale_id: stack.sale.clone(),
        zones: 2,
        seats_per_zone: 10,
        per_user_cap: 2,
        hold_ttl_seconds: 60,
        partitions: 2,
        price_minor: 100,
        queue: None,
        opens_in_seconds: 0,
    };
    let provisioner = loadtest::sale::provisioner(&stack.backends.redis, &stack.backends.kafka)
        .await
        .unwrap();
    provisioner.apply(&shape.spec().unwrap()).await.unwrap();
    let redis = stack.backends.redis.connect().await.unwrap();
    let db = stack
        .backends
        .postgres
        .pool(booking::startup::SCHEMA)
        .unwrap();
    let zones = shape.zone_ids();
    let audit = |ledger: Ledger, drain: u64, expectations: Vec<Expectation>| {
        let auditor = Auditor::new(redis.clone(), db.clone(), Duration::from_secs(drain));
        let sale = stack.sale.clone();
        let zones = zones.clone();
        async move {
            auditor
                .audit(Subject {
                    sale: &sale,
                    ledger: &ledger,
                    key_prefix: "k-",
                    buyers: &[],
                    zones: &zones,
                    expectations: &expectations,
                })
                .await
                .unwrap()
        }
    };

    let clean = audit(Ledger::default(), 30, vec![Expectation::SeatsTaken(0)]).await;
    assert!(clean.passed, "{}", clean.render());
    assert_eq!(clean.checks.len(), 8);

    let promised_more = audit(Ledger::default(), 1, vec![Expectation::SeatsTaken(3)]).await;
    assert_eq!(
        failed(&promised_more),
        ["exactly the expected seats were taken"]
    );

    let mut two_outcomes = Ledger::default();
    let ack = Ack {
        key: 1,
        buyer: 0,
        zone: 0,
        quantity: 1,
        reservation: Uuid::new_v4(),
    };
    two_outcomes.acknowledge(ack);
    two_outcomes.acknowledge(Ack {
        reservation: Uuid::new_v4(),
        ..ack
    });
    assert_eq!(two_outcomes.conflicts().len(), 1);
    let report = audit(two_outcomes, 1, vec![]).await;
    assert_eq!(
        failed(&report),
        [
            "each Idempotency-Key maps to exactly one reservation",
            "every acknowledged reservation is recorded"
        ],
        "{}",
        report.render()
    );
    assert_eq!(report.verdict(), "FAIL");

    let mut conn = redis.clone();
    let zone = shared::ids::ZoneId::parse("z1").unwrap();
    let _: i64 = redis::cmd("HINCRBY")
        .arg(SaleKeys::new(&stack.sale).zone(&zone))
        .arg("available")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let conjured = audit(Ledger::default(), 1, vec![]).await;
    assert_eq!(
        failed(&conjured),
        ["available + held + sold == capacity in every zone"],
        "{}",
        conjured.render()
    );
    loadtest::sale::forget(&stack.backends.redis, &stack.sale)
        .await
        .unwrap();
}
