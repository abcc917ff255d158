//! The real binary serves (logging from worker threads while it answers) and stops on SIGTERM.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::Stack;

/// Kills the child if the test fails before it stopped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_public_reads_and_stops_on_sigterm() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let (event, _) = s
        .published(
            &s.owner,
            "binary-gig",
            "Binary Gig",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ticket"))
            .env("TICKET_PORT", port.to_string())
            .env("DATABASE_URL", &s.database_url)
            .env("AUTH_JWKS_FILE", &s.jwks_file)
            .env("TICKET_CACHE_NAMESPACE", &s.namespace)
            .env("TICKET_BOOKING_URL", "http://127.0.0.1:1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/events/{}",
        event["id"].as_str().unwrap()
    );
    let started = Instant::now();
    let detail = loop {
        match http.get(&url).send().await {
            Ok(response) => break response,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the binary never answered: {err}"),
        }
    };
    assert_eq!(detail.status(), 200);
    // Twice: the first read logged from a worker thread (availability unknown).
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "exited with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the binary did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
