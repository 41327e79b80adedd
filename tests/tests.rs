//! fleetform's integration tests, compiled into one test binary (`cargo test --test tests`):
//! the library pipeline and the real binary against the in-process Traccar sandbox
//! (`traccar_sandbox`). The sandbox's own conformance suite lives beside it, in
//! `crates/traccar-sandbox/tests/conformance/`.

#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: helpers outside #[test] functions may panic and report progress"
)]

mod cli;
mod config_files;
mod convergence;
mod e2e;
mod faults;
mod gitops;
mod objects;
mod observations;
mod requests;
mod safety_targets;
mod security;
