//! Conformance suite: pins Traccar's API rules over HTTP, against the in-process sandbox or, when
//! `TRACCAR_CONFORMANCE_URL` + `TRACCAR_CONFORMANCE_EMAIL` + `TRACCAR_CONFORMANCE_PASSWORD` are
//! set, against a real Traccar server (tests then adapt to its reported `version`).
//!
//! Every test creates its own objects with a random suffix (`conf-<suffix>...`), so the suite can
//! share a real server. Tests that need a fresh database, a specific version mode or in-process
//! hooks always start their own sandbox. The suite leaves its objects behind on a real server.
//!
//! One test binary: `cargo test -p traccar-sandbox --test conformance`.

mod harness;

mod audit;
mod auth;
mod calendars;
mod commands;
mod computed_attributes;
mod devices;
mod drivers;
mod errors;
mod geofences;
mod groups;
mod maintenance;
mod notifications;
mod permissions;
mod sandbox;
mod users;
mod versions;
