#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: helpers outside #[test] functions may panic and report progress"
)]

mod config_files;
mod conformance;
mod convergence;
mod e2e;
mod faults;
mod gitops;
mod requests;
mod safety_targets;
mod security;
