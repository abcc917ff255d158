//! The load tool's integration tests: scenarios against the real services (auth, booking and
//! the gateway in-process on free ports) with real PostgreSQL, Redis and the broker, the audit
//! next to a negative control, the open-loop engine, and the ceilings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod helpers;

mod audit;
mod ceilings;
mod engine;
mod recording;
mod scenarios;
