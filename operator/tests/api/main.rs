//! The operator's integration tests: the generated CRD and its CEL rules, provisioning against
//! the real Redis and broker, the `operator` binary, and (ignored) a real kind cluster.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod helpers;
#[path = "../../src/testsupport.rs"]
mod testsupport;

mod cel;
mod cli;
mod crd;
mod kind;
mod provisioning;
