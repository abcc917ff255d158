//! Booking's integration tests: the real service over HTTP against real PostgreSQL, Redis and a
//! Kafka-protocol broker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod helpers;

mod bad_input;
mod binary;
mod confirm;
mod expiry;
mod idempotency;
mod library;
mod openapi;
mod queue;
mod race;
mod recorder;
mod relay;
mod reservations;
