//! The gateway over HTTP in front of real upstream servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, Uri},
    response::Response,
    routing::{any, get},
};
use futures::StreamExt;
use gateway::{config::GatewayConfig, startup::Application};
use serde_json::{Value, json};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner},
    config::Env,
};
use tokio_util::sync::CancellationToken;

mod through_gateway;

/// An upstream that answers with what it received; `/slow` waits 2 s; `/events` streams SSE.
async fn upstream() -> SocketAddr {
    async fn echo(uri: Uri, headers: HeaderMap) -> Json<Value> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
            .collect();
        Json(json!({"path": uri.to_string(), "headers": headers}))
    }
    async fn events() -> Response {
        let stream = futures::stream::unfold(0, |n| async move {
            if n == 2 {
                return None;
            }
            if n == 1 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            Some((
                Ok::<_, std::io::Error>(format!("data: event {n}\n\n")),
                n + 1,
            ))
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap()
    }
    let app = Router::new()
        .route(
            "/api/v1/sales/{sale}/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .route("/api/v1/sales/{sale}/events", get(events))
        .fallback(any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Gateway {
    base: String,
    signer: TokenSigner,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn gateway(booking: &str) -> Gateway {
    let namespace = format!("rl-test-{}", uuid::Uuid::new_v4().simple());
    gateway_with(
        booking,
        TokenSigner::generate("gw-test").unwrap(),
        &[("GATEWAY_RATE_LIMIT_NAMESPACE", &namespace)],
    )
    .await
}

async fn gateway_with(booking: &str, signer: TokenSigner, extra: &[(&str, &str)]) -> Gateway {
    let jwks = std::env::temp_dir().join(format!("gw-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&jwks, signer.jwks().to_string()).unwrap();
    let mut env = Env::default()
        .with("GATEWAY_PORT", "0")
        .with("AUTH_JWKS_FILE", jwks.display().to_string())
        .with("GATEWAY_SALE_BOOKING_UPSTREAM", booking)
        .with("GATEWAY_AUTH_UPSTREAM", "http://127.0.0.1:1")
        .with("GATEWAY_UPSTREAM_TIMEOUT_MS", "5000")
        .with("GATEWAY_ROUTE_TIMEOUTS_MS", "sale_booking=500");
    for (k, v) in extra {
        env = env.with(k, *v);
    }
    let app = Application::build(GatewayConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Gateway {
        base,
        signer,
        _shutdown: shutdown.drop_guard(),
    }
}

fn token(signer: &TokenSigner) -> String {
    let claims = Claims::new(
        uuid::Uuid::new_v4(),
        Role::Customer,
        Duration::from_secs(60),
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
    );
    signer.sign(&claims).unwrap()
}

async fn problem(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status, "expected {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.json::<Value>().await.unwrap()["code"], code);
}

#[tokio::test]
async fn client_identity_headers_never_reach_the_upstream_and_authorization_does() {
    let up = upstream().await;
    let gw = gateway(&format!("http://{up}")).await;
    let token = token(&gw.signer);
    let seen: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/sales/demo/availability?x=1", gw.base))
        .bearer_auth(&token)
        .header("X-User-Id", "someone-else")
        .header("X-Auth-Role", "admin")
        .header("X-Forwarded-For", "6.6.6.6")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["path"], "/api/v1/sales/demo/availability?x=1");
    let headers = seen["headers"].as_object().unwrap();
    assert!(
        !headers.contains_key("x-user-id") && !headers.contains_key("x-auth-role"),
        "{headers:?}"
    );
    assert_eq!(headers["authorization"], format!("Bearer {token}"));
    assert_eq!(
        headers["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's chain is replaced"
    );
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn an_invalid_token_is_refused_before_any_upstream_is_called() {
    let gw = gateway("http://127.0.0.1:1").await;
    let impostor = TokenSigner::generate("gw-test").unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/sales/demo/availability", gw.base))
        .bearer_auth(token(&impostor))
        .send()
        .await
        .unwrap();
    problem(response, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_and_a_down_one_a_502() {
    let up = upstream().await;
    let gw = gateway(&format!("http://{up}")).await;
    let http = reqwest::Client::new();
    problem(
        http.get(format!("{}/api/v1/sales/demo/slow", gw.base))
            .send()
            .await
            .unwrap(),
        504,
        "upstream_timeout",
    )
    .await;
    problem(
        http.post(format!("{}/api/v1/auth/login", gw.base))
            .send()
            .await
            .unwrap(),
        502,
        "upstream_unavailable",
    )
    .await;
    problem(
        http.get(format!("{}/api/v1/nothing-here", gw.base))
            .send()
            .await
            .unwrap(),
        404,
        "route_not_found",
    )
    .await;
    problem(
        http.get(format!("{}/api/v1/sales/Bad.Sale/x", gw.base))
            .send()
            .await
            .unwrap(),
        404,
        "route_not_found",
    )
    .await;
}

#[tokio::test]
async fn server_sent_events_stream_through_unbuffered() {
    let up = upstream().await;
    let gw = gateway(&format!("http://{up}")).await;
    let started = Instant::now();
    let response = reqwest::get(format!("{}/api/v1/sales/demo/events", gw.base))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: event 0\n\n");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the first event waited for the second"
    );
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(&second[..], b"data: event 1\n\n");
}

#[tokio::test]
async fn the_gateway_answers_its_own_health_checks() {
    let gw = gateway("http://127.0.0.1:1").await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", gw.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", gw.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Two gateways sharing Redis: `rate` per second with bursts of `burst` on the sale routes.
async fn limited_pair(rate: &str, burst: &str) -> (Gateway, Gateway, TokenSigner) {
    let up = upstream().await;
    let namespace = format!("rl-test-{}", uuid::Uuid::new_v4().simple());
    let limits = format!("default=1000/1000,sale_booking={rate}/{burst}");
    let pem = TokenSigner::generate("gw-test").unwrap();
    let same =
        |s: &TokenSigner| TokenSigner::from_pem(s.kid(), s.private_pem().as_bytes()).unwrap();
    let extra = [
        ("GATEWAY_RATE_LIMIT_NAMESPACE", namespace.as_str()),
        ("GATEWAY_RATE_LIMITS", limits.as_str()),
    ];
    let a = gateway_with(&format!("http://{up}"), same(&pem), &extra).await;
    let b = gateway_with(&format!("http://{up}"), same(&pem), &extra).await;
    (a, b, pem)
}

#[tokio::test]
async fn two_gateways_share_one_bucket_burst_then_steady_rate() {
    let (a, b, signer) = limited_pair("10", "20").await;
    let token = token(&signer);
    let http = reqwest::Client::new();
    let hit = |gw: &Gateway| {
        http.get(format!("{}/api/v1/sales/demo/availability", gw.base))
            .bearer_auth(&token)
            .send()
    };
    for i in 0..20 {
        let response = hit(if i % 2 == 0 { &a } else { &b }).await.unwrap();
        assert_eq!(response.status(), 200, "request {i} of the burst");
        assert_eq!(response.headers()["ratelimit-limit"], "20");
    }
    let refused = hit(&a).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    problem(refused, 429, "rate_limited").await;

    // Steady state: about 10 per second get through, whichever gateway they hit.
    let started = Instant::now();
    let mut allowed = 0;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(2) {
        if hit(if i % 2 == 0 { &a } else { &b })
            .await
            .unwrap()
            .status()
            == 200
        {
            allowed += 1;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        (19..=22).contains(&allowed),
        "{allowed} allowed in 2 s at 10/s"
    );
}

/// Two gateways with leases of 10 tokens (0.5/s, burst 100, 100 s of rate per lease), sharing
/// one bucket or, when `shared` is false, each with a bucket of its own.
async fn leasing_pair(shared: bool) -> (Gateway, Gateway, TokenSigner, String) {
    let up = format!("http://{}", upstream().await);
    let namespace = || format!("rl-test-{}", uuid::Uuid::new_v4().simple());
    let ns_a = namespace();
    let ns_b = if shared { ns_a.clone() } else { namespace() };
    let pem = TokenSigner::generate("gw-test").unwrap();
    let same =
        |s: &TokenSigner| TokenSigner::from_pem(s.kid(), s.private_pem().as_bytes()).unwrap();
    let env = |ns: &str| {
        vec![
            ("GATEWAY_RATE_LIMIT_NAMESPACE", ns.to_owned()),
            (
                "GATEWAY_RATE_LIMITS",
                "default=1000/1000,sale_booking=0.5/100".to_owned(),
            ),
            ("GATEWAY_RATE_LIMIT_LEASE_MS", "100000".to_owned()),
        ]
    };
    let mut pair = Vec::new();
    for ns in [&ns_a, &ns_b] {
        let owned = env(ns);
        let extra: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pair.push(gateway_with(&up, same(&pem), &extra).await);
    }
    let b = pair.pop().unwrap();
    let a = pair.pop().unwrap();
    (a, b, pem, ns_a)
}

/// 200 concurrent requests of one caller split over both gateways, then 40 one by one on each
/// (spending what the leases still hold): how many the limiter let through (anything but a 429:
/// an admitted request the busy upstream answers late is still admitted).
async fn admitted_by_pair(a: &Gateway, b: &Gateway, token: &str) -> (usize, usize) {
    let http = reqwest::Client::new();
    let hit = |gw: &Gateway| {
        http.get(format!("{}/api/v1/sales/demo/availability", gw.base))
            .bearer_auth(token)
            .send()
    };
    let burst = futures::future::join_all((0..200).map(|i| hit(if i % 2 == 0 { a } else { b })))
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().status() != 429)
        .count();
    let mut after = 0;
    for gw in [a, b] {
        for _ in 0..40 {
            if hit(gw).await.unwrap().status() != 429 {
                after += 1;
            }
        }
    }
    (burst, after)
}

#[tokio::test]
async fn leased_tokens_come_out_of_the_shared_bucket_so_two_gateways_never_admit_more_than_it_holds()
 {
    let (a, b, signer, namespace) = leasing_pair(true).await;
    let token = token(&signer);
    // One request takes a lease of 10 tokens out of the shared bucket.
    let first = reqwest::Client::new()
        .get(format!("{}/api/v1/sales/demo/availability", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let left: f64 = redis::cmd("HGET")
        .arg(&keys[0])
        .arg("tokens")
        .query_async::<String>(&mut redis)
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (90.0..91.0).contains(&left),
        "{left} tokens left in the bucket"
    );

    let (burst, after) = admitted_by_pair(&a, &b, &token).await;
    let burst = burst + 1; // with the first request
    // 100 in the bucket, plus at most a few tokens refilled at 0.5/s while the test runs.
    assert!(burst <= 103, "{burst} admitted by the concurrent burst");
    assert!(
        (100..=103).contains(&(burst + after)),
        "{burst} + {after} admitted from a bucket of 100"
    );
}

#[tokio::test]
async fn negative_control_gateways_with_buckets_of_their_own_admit_twice_the_burst() {
    let (a, b, signer, _) = leasing_pair(false).await;
    let (burst, after) = admitted_by_pair(&a, &b, &token(&signer)).await;
    assert!(
        burst + after >= 200,
        "{burst} + {after} admitted: without the shared bucket each gateway admits its own 100"
    );
}

#[tokio::test]
async fn anonymous_callers_are_limited_by_address_and_a_spoofed_forwarded_for_does_not_escape() {
    let (a, _b, _) = limited_pair("0.1", "5").await;
    let http = reqwest::Client::new();
    for i in 0..5 {
        let response = http
            .get(format!("{}/api/v1/sales/demo/availability", a.base))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let spoofed = http
        .get(format!("{}/api/v1/sales/demo/availability", a.base))
        .header("X-Forwarded-For", "198.51.100.77")
        .send()
        .await
        .unwrap();
    problem(spoofed, 429, "rate_limited").await;
}

#[tokio::test]
async fn cors_answers_allowed_origins_only_and_big_bodies_are_refused() {
    let up = upstream().await;
    let namespace = format!("rl-test-{}", uuid::Uuid::new_v4().simple());
    let gw = gateway_with(
        &format!("http://{up}"),
        TokenSigner::generate("gw-test").unwrap(),
        &[
            ("GATEWAY_RATE_LIMIT_NAMESPACE", namespace.as_str()),
            ("GATEWAY_CORS_ORIGINS", "https://tickets.example"),
            ("GATEWAY_MAX_BODY_BYTES", "1000"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/sales/demo/reservations", gw.base),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
    };
    let allowed = preflight("https://tickets.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://tickets.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let with_pass = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/sales/demo/reservations", gw.base),
        )
        .header("Origin", "https://tickets.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, idempotency-key, queue-pass",
        )
        .send()
        .await
        .unwrap();
    let headers = with_pass.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("queue-pass"), "{headers}");

    let big = http
        .post(format!("{}/api/v1/sales/demo/reservations", gw.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 5000])
        .send()
        .await
        .unwrap();
    problem(big, 413, "body_too_large").await;
}

#[tokio::test]
async fn each_sale_is_routed_to_its_own_upstream_through_the_template() {
    // Sale ids are DNS labels, so a numeric id can stand for a port: the template
    // `http://127.0.0.1:{sale}` sends each sale to a different upstream server.
    let (first, second) = (upstream().await, upstream().await);
    let namespace = format!("rl-test-{}", uuid::Uuid::new_v4().simple());
    let gw = gateway_with(
        "http://127.0.0.1:{sale}",
        TokenSigner::generate("gw-test").unwrap(),
        &[("GATEWAY_RATE_LIMIT_NAMESPACE", namespace.as_str())],
    )
    .await;
    for addr in [first, second] {
        let seen: Value = reqwest::get(format!(
            "{}/api/v1/sales/{}/availability",
            gw.base,
            addr.port()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(
            seen["path"],
            format!("/api/v1/sales/{}/availability", addr.port())
        );
        assert_eq!(
            seen["headers"]["host"],
            format!("127.0.0.1:{}", addr.port())
        );
    }
}

#[tokio::test]
async fn proxied_requests_are_counted_by_route_and_outcome_on_the_metrics_endpoint() {
    let up = upstream().await;
    let gw = gateway(&format!("http://{up}")).await;
    let client = reqwest::Client::new();
    let scrape = || async {
        client
            .get(format!("{}/metrics", gw.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = |text: &str, series: &str| -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    };
    let ok = r#"gateway_requests_total{route="sale_booking",outcome="ok"}"#;
    let refused = r#"gateway_requests_total{route="sale_booking",outcome="invalid_token"}"#;
    let before = scrape().await;
    let (ok_before, refused_before) = (value(&before, ok), value(&before, refused));
    assert!(
        ok_before.is_some(),
        "{ok} not scraped before any request:\n{before}"
    );

    let answered = client
        .get(format!("{}/api/v1/sales/demo/availability", gw.base))
        .bearer_auth(token(&gw.signer))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status().as_u16(), 200);
    let refused_answer = client
        .get(format!("{}/api/v1/sales/demo/availability", gw.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    problem(refused_answer, 401, "invalid_token").await;

    let after = scrape().await;
    assert!(value(&after, ok) > ok_before, "{ok} did not grow:\n{after}");
    assert!(
        value(&after, refused) > refused_before,
        "{refused} did not grow:\n{after}"
    );
    assert!(
        value(
            &after,
            r#"gateway_upstream_seconds_count{route="sale_booking"}"#
        ) >= Some(1),
        "upstream time not recorded:\n{after}"
    );
}
