//! fleetform: declarative, GitOps-style reconciliation of Traccar fleets.
//!
//! Glossary (used with these meanings everywhere):
//! - **desired**: the fleet as the YAML file wants it (`model::Desired`, built by `config`).
//! - **live**: the fleet as the server has it (`model::Live`, read by a `backend`).
//! - **change** / **action**: one step that moves live towards desired (`model::Action`).
//! - **plan**: every action, ordered in phases, computed completely before the first write.
//! - **link** / **unlink**: give / take a user's access to a device or a device group.
//! - **prune**: what happens to users this fleet manages that left the file.
//! - **manager**: the fleet's billing account, never modified and never unlinked from its devices.
//! - **marker**: the attribute naming the fleet that owns a user; only marked users are pruned.
//!
//! - **risk**: what an action does to access (escalation, removal, revocation, grant).
//!
//! The pipeline: `config::load` / `config::load_many` -> `Backend::describe` + `Backend::fetch`
//! -> `plan::plan` (which runs `diff::diff`) -> `target::restrict` (`--target`) -> `render`
//! (labels from `risk`) -> `safety::check` (apply only) -> `apply::apply`. Only `config::load*`
//! and the backend do I/O; `diff`, `plan`, `target`, `risk`, `safety` and `render` are pure.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod diff;
pub mod drift;
pub mod export;
pub mod gitops_args;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod render;
pub mod risk;
pub mod safety;
pub mod saved;
pub mod secret;
pub mod target;
pub mod workflow;
