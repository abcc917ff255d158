//! The ceilings: the fixed-body server under the same engine, and redis-benchmark running
//! booking's reserve script.

use loadtest::{
    ceiling::{self, FIXED_BODY, RedisCeiling},
    report::Kind,
    schedule::Profile,
};
use shared::{config::Env, kafka::KafkaConfig, postgres::PostgresConfig, redis::RedisConfig};
use tokio_util::sync::CancellationToken;

use crate::helpers::tool;

#[tokio::test]
async fn the_fixed_body_server_answers_every_arrival_of_the_http_ceiling_run() {
    let listener = ceiling::bind_fixed("127.0.0.1", 0).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(ceiling::serve_fixed(listener, shutdown.clone()));
    let body = reqwest::get(format!("{base}/anything")).await.unwrap();
    assert_eq!(body.status(), 200);
    assert_eq!(body.text().await.unwrap(), FIXED_BODY);

    let profile = Profile::Constant {
        rate: 200.0,
        seconds: 1.0,
    };
    let report = loadtest::run::http_ceiling(&base, profile, "ceiling-http", &tool())
        .await
        .unwrap();
    shutdown.cancel();
    assert_eq!(report.kind, Kind::HttpCeiling);
    assert_eq!(report.stats.ok.get("200"), Some(&200));
    assert!(report.stats.errors.is_empty(), "{:?}", report.stats.errors);
    assert!(report.stats.achieved_rps > 0.0);
    assert!(report.audit.is_none());
}

#[tokio::test]
async fn redis_benchmark_calls_the_reserve_function_and_every_call_holds_a_seat() {
    let env = Env::default();
    let backends = loadtest::run::Backends {
        redis: RedisConfig::from_env(&env).unwrap(),
        postgres: PostgresConfig::from_env(&env).unwrap(),
        kafka: KafkaConfig::from_env(&env).unwrap(),
    };
    let report = ceiling::redis(
        &RedisCeiling {
            requests: 2000,
            clients: 10,
            name: "ceiling-redis".into(),
            command: "loadgen (test)".into(),
        },
        &backends,
    )
    .await
    .unwrap();
    assert_eq!(report.kind, Kind::RedisCeiling);
    assert!(report.stats.achieved_rps > 0.0);
    let held = report.stats.ok["OK"];
    assert!((1980..=2000).contains(&held), "{held}");
    assert!(report.command.contains(" FCALL booking_"));
    assert!(report.stats.latency.p99 >= report.stats.latency.p50);
}
