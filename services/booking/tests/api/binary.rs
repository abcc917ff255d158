//! The real `booking` binary end to end: reserve over HTTP → event in Kafka → row in PostgreSQL,
//! and a clean exit on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{World, body, count_by_type, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_records_a_reservation_through_kafka_and_stops_cleanly_on_sigterm() {
    let world = World::new(spec(20)).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_booking"))
        .envs(world.env())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(log) = serde_json::from_str::<serde_json::Value>(&line)
                && log["message"] == "booking listening"
            {
                let _ = port_tx.send(log["port"].as_u64().unwrap_or_default());
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary never started listening");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(body(ready).await["checks"]["kafka"], "ok");

    let (_, token) = world.token();
    let response = http
        .post(format!(
            "{base}/api/v1/sales/{}/reservations",
            world.sale.sale_id
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", "e2e")
        .json(&serde_json::json!({"zone": "a", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id: uuid::Uuid = body(response).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    world
        .booking_events(|events| count_by_type(events).contains_key("ReservationCreated"))
        .await;
    world.audit().await;
    let row = booking::store::reservation(&world.db, id)
        .await
        .unwrap()
        .expect("row recorded");
    assert_eq!(row.quantity, 2);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The handles are registered at start, so a counter that shows is not enough: it counted.
    assert!(
        metrics
            .lines()
            .any(|line| line == r#"booking_reservations_total{outcome="created"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|line| line == r#"booking_reservations_total{outcome="replayed"} 0"#),
        "{metrics}"
    );

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the binary did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
}
