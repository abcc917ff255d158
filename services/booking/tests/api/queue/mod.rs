//! The virtual waiting room: fairness, admission, the queue pass and the event stream.

mod admission;
mod events;
mod fairness;
mod pass;

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, World, body};

/// Joins `count` new buyers one after another; their ids and tokens, in joining order.
pub async fn join_in_order(world: &World, app: &TestApp, count: usize) -> Vec<(Uuid, String)> {
    let mut buyers = Vec::new();
    for _ in 0..count {
        let (user, token) = world.token();
        let joined = app.join(&token).await;
        assert_eq!(joined.status(), 201, "joining");
        buyers.push((user, token));
    }
    buyers
}

/// The place of each buyer.
pub async fn places(app: &TestApp, buyers: &[(Uuid, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (_, token) in buyers {
        out.push(app.place(token).await);
    }
    out
}

/// The JSON of a join.
pub async fn join_body(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app.join(token).await;
    (response.status().as_u16(), body(response).await)
}
