//! Payment's integration tests: booking, payment and the PSP simulator in process, over HTTP,
//! against real PostgreSQL, Redis and a Kafka-protocol broker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod helpers;

mod authorization;
mod bad_input;
mod flow;
mod openapi;
mod orphans;
mod outbox;
mod race;
mod webhooks;
