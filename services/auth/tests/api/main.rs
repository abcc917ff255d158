//! Auth's integration tests: the real service over HTTP against real PostgreSQL and Redis.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod helpers;

mod account;
mod keys;
mod openapi;
mod sessions;
mod throttling;
