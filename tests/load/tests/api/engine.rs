//! The open-loop engine against a server that stalls: arrivals keep their schedule, latency
//! counts from the intended send time, and the in-flight bound sheds rather than waits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, routing::get};
use loadtest::{
    engine::{self, EngineSettings, SHED},
    http::LoadClient,
    schedule::Profile,
    workload::FixedGet,
};

/// A server that answers after `delay`, recording the most requests it held at once.
async fn stalling_server(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let current = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (c, p) = (current.clone(), peak.clone());
    let app = Router::new().route(
        "/",
        get(move || {
            let (c, p) = (c.clone(), p.clone());
            async move {
                let now = c.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                c.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), peak)
}

fn settings(max_in_flight: usize) -> EngineSettings {
    EngineSettings {
        max_in_flight,
        label: "test".into(),
        progress: false,
    }
}

#[tokio::test]
async fn a_slow_server_does_not_slow_the_arrivals_and_its_delay_shows_in_the_latency() {
    let (url, peak) = stalling_server(Duration::from_millis(300)).await;
    let outcome = engine::drive(
        Arc::new(FixedGet::new(url.parse().unwrap())),
        LoadClient::new(1000, Duration::from_secs(5)),
        &Profile::Constant {
            rate: 100.0,
            seconds: 1.0,
        },
        &settings(1000),
        None,
    )
    .await
    .unwrap();
    let stats = outcome.stats;
    assert_eq!(
        (stats.scheduled, stats.sent, stats.answered),
        (100, 100, 100)
    );
    assert_eq!(stats.ok.get("200"), Some(&100));
    assert!(stats.latency.p50 >= 300.0, "{:?}", stats.latency);
    assert!(
        peak.load(Ordering::SeqCst) >= 10,
        "requests were sent while earlier ones were still waiting (open loop), peak {}",
        peak.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn arrivals_beyond_the_in_flight_bound_are_shed_and_counted_as_errors() {
    let (url, peak) = stalling_server(Duration::from_millis(400)).await;
    let outcome = engine::drive(
        Arc::new(FixedGet::new(url.parse().unwrap())),
        LoadClient::new(5, Duration::from_secs(5)),
        &Profile::Constant {
            rate: 100.0,
            seconds: 0.5,
        },
        &settings(5),
        None,
    )
    .await
    .unwrap();
    let stats = outcome.stats;
    assert_eq!(stats.scheduled, 50);
    assert!(stats.shed > 0, "{stats:?}");
    assert_eq!(stats.errors.get(SHED), Some(&stats.shed));
    assert_eq!(stats.sent + stats.shed, stats.scheduled);
    assert_eq!(stats.answered, stats.sent);
    assert!(
        peak.load(Ordering::SeqCst) <= 5,
        "never more than the bound in flight"
    );
    assert!((stats.error_rate - stats.shed as f64 / 50.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_request_past_its_timeout_is_an_error_measured_at_the_time_it_was_given_up() {
    let (url, _) = stalling_server(Duration::from_secs(3)).await;
    let outcome = engine::drive(
        Arc::new(FixedGet::new(url.parse().unwrap())),
        LoadClient::new(10, Duration::from_millis(200)),
        &Profile::Burst {
            count: 3,
            spread_seconds: 0.0,
        },
        &settings(10),
        None,
    )
    .await
    .unwrap();
    let stats = outcome.stats;
    assert_eq!(stats.errors.get("timeout"), Some(&3));
    assert_eq!(stats.answered, 0);
    assert_eq!(stats.latency.count, 3);
    assert!(stats.latency.p50 >= 200.0, "{:?}", stats.latency);
    assert!((stats.error_rate - 1.0).abs() < 1e-9);
}
