//! The ticket service's integration tests: the real service behind the real gateway, over HTTP,
//! against real PostgreSQL and Redis (and a real booking service for live availability).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod helpers;

mod authorization;
mod availability;
mod bad_input;
mod binary;
mod browse;
mod caching;
mod flashsale;
mod openapi;
