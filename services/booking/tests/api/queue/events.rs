//! Server-sent events through the real gateway: position updates as the line moves, then the
//! admission with its pass, which then reserves through the gateway too.

use crate::helpers::{World, assert_problem, body, queued};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_through_the_gateway_deliver_position_updates_and_the_admission() {
    let world = World::new(queued(100, 1, 100, 600)).await;
    let booking = world.spawn(&[]).await;
    let gateway = world.gateway(&booking).await;
    let app = &gateway.app;
    let buyers: Vec<String> = (0..5).map(|_| world.token().1).collect();
    for token in &buyers {
        assert_eq!(app.join(token).await.status(), 201);
    }
    let last = &buyers[4];
    let mut stream = app.queue_events(last).await;
    let (admitted, before) = stream.until("admitted", 20).await;
    let positions: Vec<u64> = before
        .iter()
        .inspect(|e| assert_eq!(e.name, "position", "{e:?}"))
        .map(|e| e.data["position"].as_u64().unwrap())
        .collect();
    assert!(
        positions.len() >= 2,
        "the line moved past several buyers: {positions:?}"
    );
    assert!(
        positions.windows(2).all(|w| w[1] < w[0]),
        "positions only go down: {positions:?}"
    );
    assert!(before.iter().all(|e| e.data["etaSeconds"].is_u64()));
    assert_eq!(admitted.data["state"], "admitted");
    let pass = admitted.data["pass"].as_str().unwrap().to_owned();
    assert!(
        stream.next(5).await.is_none(),
        "the stream ends with the admission"
    );

    let held = app.reserve_with_pass(last, "a", 2, "k", &pass).await;
    assert_eq!(held.status(), 201);
    assert_eq!(body(held).await["quantity"], 2);
    world.audit().await;
}

#[tokio::test]
async fn only_a_buyer_in_the_queue_gets_an_event_stream() {
    let world = World::new(queued(100, 1, 100, 600)).await;
    let booking = world.spawn(&[]).await;
    let (_, stranger) = world.token();
    let response = booking
        .http
        .get(format!("{}/events", booking.queue_url()))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not_in_queue").await;
    let anonymous = booking
        .http
        .get(format!("{}/events", booking.queue_url()))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "missing_token").await;
}
