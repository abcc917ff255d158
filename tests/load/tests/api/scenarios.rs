//! Scenarios end to end: buyers through auth, a fresh sale, open-loop load, reports, audit.

use loadtest::{
    report::{Kind, Report},
    scenario::{Knobs, Scenario, WaitMode},
};

use crate::helpers::{Stack, tool};

#[tokio::test]
async fn the_smoke_scenario_sells_out_a_small_sale_through_the_gateway_and_the_audit_passes() {
    let stack = Stack::start("smoke").await;
    let mut run = stack.run(Scenario::Smoke, &stack.gateway, Knobs::default());
    run.server_route = Some("/{*path}".to_owned());
    let report = loadtest::run::scenario(&run, &tool(), &stack.backends)
        .await
        .unwrap();
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.passed, "{}", audit.render());
    let stats = &report.stats;
    assert_eq!(stats.scheduled, 150, "50 req/s for 3 s");
    assert_eq!(stats.ok.get("201"), Some(&100), "{stats:?}");
    assert_eq!(stats.rejected.get("sold_out"), Some(&50), "{stats:?}");
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(stats.latency.count, 150);
    assert!(stats.latency.p50 > 0.0 && stats.latency.p50 <= stats.latency.max);
    assert!(
        audit
            .checks
            .iter()
            .any(|c| c.name == "exactly the expected seats were taken" && c.passed)
    );
    // The gateway timed every reservation of the run, and none of the sign-ups before it.
    let server = report
        .server
        .as_ref()
        .expect("the gateway's timing was read");
    assert_eq!(server.requests, 150, "{server:?}");
    assert_eq!(server.metrics, format!("{}/metrics", stack.gateway));
    assert!(server.p50.is_some() && server.p99.is_some(), "{server:?}");

    let written = report.write(&stack.out_dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["smoke.json", "smoke.svg", "smoke.md"]);
    let again = Report::read(&stack.out_dir.join("smoke.json")).unwrap();
    assert_eq!(again, report, "the JSON report reads back whole");
    let md = std::fs::read_to_string(stack.out_dir.join("smoke.md")).unwrap();
    assert!(md.contains("| audit | PASS |"), "{md}");
    assert!(
        md.contains("| server's own timing | 150 POST requests of route `/{*path}`: p50 "),
        "{md}"
    );
    assert!(md.contains("![latency and throughput per second](smoke.svg)"));
}

#[tokio::test]
async fn a_thundering_herd_straight_at_booking_takes_exactly_the_capacity() {
    let stack = Stack::start("herd").await;
    let knobs = Knobs {
        buyers: Some(40),
        capacity: Some(25),
        ..Knobs::default()
    };
    let mut run = stack.run(Scenario::Herd, &stack.booking, knobs);
    run.auth = stack.auth.clone();
    run.server_route = Some("/api/v1/sales/{sale}/reservations".to_owned());
    let report = loadtest::run::scenario(&run, &tool(), &stack.backends)
        .await
        .unwrap();
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.passed, "{}", audit.render());
    assert_eq!(report.kind, Kind::Scenario);
    assert_eq!(report.stats.ok.get("201"), Some(&25), "{:?}", report.stats);
    assert_eq!(report.stats.rejected.get("sold_out"), Some(&15));
    assert!(report.stats.errors.is_empty(), "{:?}", report.stats.errors);
    assert_eq!(report.load, "40 arrivals at the same instant");
    let server = report.server.as_ref().expect("booking's timing was read");
    assert_eq!(
        server.requests, 40,
        "booking timed every arrival: {server:?}"
    );
}

#[tokio::test]
async fn dirty_traffic_retries_reuses_keys_cancels_and_abandons_holds_and_the_books_still_balance()
{
    let stack = Stack::start("dirty").await;
    let knobs = Knobs {
        rate: Some(60.0),
        duration: Some(3.0),
        buyers: Some(12),
        hold_ttl: Some(2),
        ..Knobs::default()
    };
    let run = stack.run(Scenario::Dirty, &stack.gateway, knobs);
    let report = loadtest::run::scenario(&run, &tool(), &stack.backends)
        .await
        .unwrap();
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.passed, "{}", audit.render());
    let stats = &report.stats;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert!(stats.ok.get("201").copied().unwrap_or(0) > 20, "{stats:?}");
    assert!(stats.ok.contains_key("cancelled"), "{stats:?}");
    assert!(
        stats.rejected.contains_key("idempotency_key_reused"),
        "a reused key with another body is refused: {stats:?}"
    );
    assert!(
        audit
            .checks
            .iter()
            .any(|c| c.name == "every abandoned hold expired" && c.passed),
        "{}",
        audit.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_flash_sale_through_the_gateway_admits_at_its_rate_sells_out_and_tells_the_rest() {
    let stack = Stack::start("queued").await;
    let knobs = Knobs {
        buyers: Some(30),
        capacity: Some(10),
        admission_rate: Some(20),
        max_active: Some(5),
        opens_in: Some(2),
        spread: Some(0.5),
        ..Knobs::default()
    };
    let run = stack.run(Scenario::Queued, &stack.gateway, knobs);
    let report = loadtest::run::scenario(&run, &tool(), &stack.backends)
        .await
        .unwrap();
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.passed, "{}", audit.render());
    assert_eq!(report.kind, Kind::Queued);
    let queue = report.queue.as_ref().unwrap();
    assert_eq!(queue.joined, 30);
    assert_eq!(queue.pre_queue, 30, "every join came before opening");
    assert_eq!((queue.admitted, queue.reserved), (10, 10));
    assert_eq!(queue.told_sold_out, 20);
    assert_eq!(queue.left, 20);
    assert_eq!(queue.probes, queue.probes_refused);
    assert!(queue.probes >= 1, "{queue:?}");
    assert!(queue.position_updates >= 30, "{queue:?}");
    assert_eq!(queue.waited.count, 10);
    let stats = &report.stats;
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(stats.ok.get("joined"), Some(&30));
    assert_eq!(stats.ok.get("201"), Some(&10));
    assert_eq!(stats.ok.get("left"), Some(&20));
    assert_eq!(
        stats.rejected.get("queue_pass_required").copied(),
        Some(queue.probes)
    );
    for name in [
        "the queue admitted nobody twice",
        "no reservation without a queue pass",
        "admission held its configured rate",
        "every buyer was admitted or told the sale sold out",
        "exactly the expected seats were taken",
    ] {
        assert!(
            audit.checks.iter().any(|c| c.name == name && c.passed),
            "{name}: {}",
            audit.render()
        );
    }
    let md = report.markdown(None);
    assert!(md.contains("| wait for admission |"), "{md}");
}

#[tokio::test]
async fn queued_buyers_may_poll_instead_of_following_events() {
    let stack = Stack::start("queued-poll").await;
    let knobs = Knobs {
        buyers: Some(8),
        capacity: Some(4),
        admission_rate: Some(50),
        opens_in: Some(0),
        wait: Some(WaitMode::Poll),
        ..Knobs::default()
    };
    let run = stack.run(Scenario::Queued, &stack.booking, knobs);
    let mut run = run;
    run.auth = stack.auth.clone();
    let report = loadtest::run::scenario(&run, &tool(), &stack.backends)
        .await
        .unwrap();
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.passed, "{}", audit.render());
    let queue = report.queue.as_ref().unwrap();
    assert_eq!(queue.wait, WaitMode::Poll);
    assert_eq!((queue.reserved, queue.told_sold_out), (4, 4));
    assert_eq!(queue.pre_queue, 0, "the sale was open when they came");
}
