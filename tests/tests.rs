//! fleetform's integration tests, compiled into one test binary (`cargo test --test tests`):
//! the library pipeline and the real binary against the in-process Traccar sandbox
//! (`traccar_sandbox`), and the telematics backend against the telematics sandbox
//! (`telematics_sandbox`, module `telematics`). The sandboxes' own conformance suites live
//! beside them, in `crates/*-sandbox/tests/conformance/`.

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
mod kinds;
mod object_links;
mod objects;
mod objects_property;
mod observations;
mod property;
mod requests;
mod safety_targets;
mod security;
mod telematics;
