//! Conformance suite: pins the telematics user service's rules as
//! `shared/telematics/API-NOTES.md` describes them, over HTTP, against the in-process sandbox.
//! Each test is named after the rule it pins and cites the notes' section. Where the notes are
//! UNVERIFIED the test pins the sandbox's documented choice and says so.
//!
//! There is no public test instance of the real service, so unlike the Traccar suite this one
//! runs only against the sandbox. Every test starts its own sandbox on 127.0.0.1.
//!
//! One test binary: `cargo test -p telematics-sandbox --test conformance`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on what they do not expect"
)]

mod harness;

mod accounts;
mod auth;
mod envelope;
mod find;
mod listing;
mod registration;
mod sandbox;
mod update;
