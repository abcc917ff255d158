//! The standard layers as a client sees them through a served router: request ids, panic-to-500,
//! the body limit and the not-found fallback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

use axum::{
    Router,
    body::Bytes,
    routing::{get, post},
};
use shared::server::{self, BODY_LIMIT, REQUEST_ID};
use tokio_util::sync::CancellationToken;

/// A handler that fails the way a bug would.
async fn boom() -> &'static str {
    panic!("handler failure")
}

/// Serves a small router with the standard layers on a free port; returns its base URL.
async fn spawn() -> (String, CancellationToken) {
    let router = server::with_standard_layers(
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route("/boom", get(boom))
            .route("/echo", post(|body: Bytes| async move { body })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let shutdown = CancellationToken::new();
    tokio::spawn(server::serve(listener, router, shutdown.clone()));
    (base, shutdown)
}

/// Sends a `GET` to `path` and checks the answer is a problem+json of `status` with a request id.
async fn expect_problem(client: &reqwest::Client, base: &str, path: &str, status: u16) {
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), status, "{path}");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "{path}");
    assert!(
        response.headers().contains_key(REQUEST_ID.as_str()),
        "{path}"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_sent_one_is_kept() {
    let (base, shutdown) = spawn().await;
    let client = reqwest::Client::new();
    let fresh = client.get(format!("{base}/ok")).send().await.expect("send");
    assert_eq!(fresh.status(), 200);
    let id = fresh.headers()[REQUEST_ID.as_str()]
        .to_str()
        .expect("ascii");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id} is not a uuid");

    let sent = client
        .get(format!("{base}/ok"))
        .header(REQUEST_ID.as_str(), "trace-me-1")
        .send()
        .await
        .expect("send");
    assert_eq!(sent.headers()[REQUEST_ID.as_str()], "trace-me-1");

    expect_problem(&client, &base, "/nowhere", 404).await;
    shutdown.cancel();
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let (base, shutdown) = spawn().await;
    let client = reqwest::Client::new();
    expect_problem(&client, &base, "/boom", 500).await;
    let after = client.get(format!("{base}/ok")).send().await.expect("send");
    assert_eq!(after.status(), 200);
    assert_eq!(after.text().await.expect("body"), "fine");
    shutdown.cancel();
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_those_within_pass() {
    let (base, shutdown) = spawn().await;
    let client = reqwest::Client::new();
    let within = vec![b'a'; BODY_LIMIT];
    let echoed = client
        .post(format!("{base}/echo"))
        .body(within.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.bytes().await.expect("body").len(), within.len());

    let over = client
        .post(format!("{base}/echo"))
        .body(vec![b'a'; BODY_LIMIT + 1])
        .send()
        .await
        .expect("send");
    assert_eq!(over.status(), 413);
    shutdown.cancel();
}

/// More connections than a listener from tokio's `TcpListener::bind` queues (129 here) finish
/// their handshake while the server accepts none: the first buyers of a sale's opening are
/// queued, not dropped to retry a second later. The kernel caps the queue at
/// `net.core.somaxconn`, so the burst stays within it.
#[tokio::test]
async fn a_burst_of_connections_beyond_the_default_backlog_is_queued_not_dropped() {
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    let burst = somaxconn.min(1_500);
    let listener = server::listen("127.0.0.1", 0).await.expect("listen");
    let address = listener.local_addr().expect("address");
    let connects = (0..burst).map(|_| {
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            tokio::net::TcpStream::connect(address),
        )
    });
    let streams = futures::future::join_all(connects).await;
    let connected = streams.iter().filter(|s| matches!(s, Ok(Ok(_)))).count();
    assert_eq!(
        connected, burst,
        "{connected} of {burst} connections completed while nothing accepted"
    );
}
