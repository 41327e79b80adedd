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
//! The pipeline, over plain values (no command-line types), used by the commands, the tests,
//! the benchmarks and the demo alike:
//!
//! ```text
//! config::load_many --> Desired --\
//!                                  plan (core::record -> core::plan -> core::diff, core::target)
//! Backend::fetch    --> Live -----/        |
//!                                          Plan --render--> text | json | markdown (views)
//!                                          |
//!                                          +--apply (core::safety, then apply::apply)--> Backend
//! ```
//!
//! Only `config` and the backend read; only `apply` (through the backend) writes. `core` and
//! `views` are pure. `cmd/` holds one file per command, `main.rs` prints errors and exits.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod core;
pub mod exit;
#[cfg(test)]
mod testing;
pub mod views;

use std::io::Write;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use crate::backend::Backend;
use crate::core::model::{Desired, Live, Scope};
use crate::core::plan::Plan;
use crate::views::render::{Format, Notes};

/// Options of `plan`.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Narrow the plan to these users (`--target`); empty: every user.
    pub targets: Vec<String>,
}

/// Options of `apply`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions<'a> {
    /// Apply even when the plan exceeds the file's safety limits (`--allow-mass-removal`).
    pub allow_mass_removal: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop starting new work; `None`: never cancelled.
    pub cancel: Option<&'a AtomicBool>,
    /// Where to count the actions settled (a progress bar); `None`: nowhere.
    pub progress: Option<&'a backend::Progress>,
}

/// Reads the live state the plan of `desired` needs: who the backend runs as, every user it
/// can see, and the links of the users in scope. No writes.
pub async fn fetch<B: Backend>(backend: &B, desired: &Desired) -> anyhow::Result<Live> {
    backend.describe().await?;
    backend
        .fetch(&Scope::of(desired))
        .await
        .context("reading the server's state")
}

/// The plan that moves `live` to `desired` (with each user's applied record, see
/// `core::record`), narrowed to `options.targets`. Fails with every problem of the inputs at
/// once, before anything is written.
pub fn plan(desired: &Desired, live: &Live, options: &PlanOptions) -> anyhow::Result<Plan> {
    let plan = core::record::plan_recorded(desired, live).map_err(|mut problems| {
        // In file order, as the file's own problems are: those about the whole run (no
        // origin) first, then by file, line and column.
        problems.sort_by_cached_key(|p| p.origin.as_deref().map(origin_key));
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "{}\n{} found before any change was made; nothing was applied",
            lines.join("\n"),
            views::count(problems.len(), "problem")
        )
    })?;
    Ok(core::target::restrict(
        plan,
        &options.targets,
        desired,
        live,
    )?)
}

/// `file:line:column` as a key that sorts lines as numbers.
fn origin_key(origin: &str) -> (String, u64, u64) {
    let mut parts = origin.rsplitn(3, ':');
    let column = parts.next().and_then(|c| c.parse().ok());
    let line = parts.next().and_then(|l| l.parse().ok());
    match (parts.next(), line, column) {
        (Some(file), Some(line), Some(column)) => (file.to_string(), line, column),
        _ => (origin.to_string(), 0, 0),
    }
}

/// `fetch`, then `plan`: the plan and the live state it was made from (for saved plans, drift
/// reports and the safety limits).
pub async fn fetch_and_plan<B: Backend>(
    backend: &B,
    desired: &Desired,
    options: &PlanOptions,
) -> anyhow::Result<(Plan, Live)> {
    let live = fetch(backend, desired).await?;
    let plan = plan(desired, &live, options)?;
    Ok((plan, live))
}

/// The whole fleet's plan against `backend`.
pub async fn make_plan<B: Backend>(backend: &B, desired: &Desired) -> anyhow::Result<Plan> {
    Ok(fetch_and_plan(backend, desired, &PlanOptions::default())
        .await?
        .0)
}

/// Writes `plan` in `format` (`color` only affects text).
pub fn render(
    plan: &Plan,
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    render_with(plan, &Notes::default(), format, color, out)
}

/// `render`, with what apply will do besides the actions (its refusal, the passwords).
pub fn render_with(
    plan: &Plan,
    notes: &Notes<'_>,
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => views::render::text_with(plan, notes, out, color),
        Format::Markdown => views::render::markdown_with(plan, notes, out),
        Format::Json => views::render::write_json_with(plan, notes, out),
    }
}

/// Checks `plan` against the file's safety limits (`desired` and the `live` state it was made
/// from), then applies it, writing progress to `progress`. The report says what was done,
/// failed and skipped; a refusal writes nothing.
pub async fn apply<B: Backend>(
    backend: &B,
    plan: &Plan,
    (desired, live): (&Desired, &Live),
    options: ApplyOptions<'_>,
    progress: &mut dyn Write,
) -> anyhow::Result<apply::Report> {
    core::safety::check(desired, live, plan, options.allow_mass_removal)?;
    let never = AtomicBool::new(false);
    let cancel = options.cancel.unwrap_or(&never);
    let none = backend::Progress::none();
    let bar = options.progress.unwrap_or(&none);
    Ok(apply::apply_with(backend, plan, progress, cancel, bar).await)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::core::model::Account;

    #[test]
    fn plan_time_problems_come_in_file_order() {
        // `b@` is on an earlier line than `a@` but sorts after it by key; line 10 comes after
        // line 6 (as a number, not as text).
        let mut text = String::from("version: 1\nfleet: acme\nusers:\n");
        text.push_str("  - email: b@x.test\n    devices: [NOPE-1]\n");
        text.push_str("  - email: a@x.test\n    devices: [NOPE-2]\n");
        text.push_str("  - email: c@x.test\n\n  - email: d@x.test\n    devices: [NOPE-3]\n");
        let loaded = config::parse(&text, "fleet.yaml").expect("valid");
        let live = Live {
            account: Account {
                backend: "traccar".into(),
                url: "http://127.0.0.1:1".into(),
                server_version: "6.14.5".into(),
                email: "admin@x.test".into(),
                role: "admin".into(),
            },
            users: Default::default(),
            targets: Default::default(),
            ambiguous: Default::default(),
            owner_targets: Default::default(),
            now: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            objects: Default::default(),
            unnamed: Default::default(),
            choices: Default::default(),
        };
        let message = plan(&loaded.desired, &live, &PlanOptions::default())
            .expect_err("unknown devices")
            .to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert!(lines[0].starts_with("fleet.yaml:4:"), "{message}");
        assert!(lines[1].starts_with("fleet.yaml:6:"), "{message}");
        assert!(lines[2].starts_with("fleet.yaml:10:"), "{message}");
        assert!(
            message.ends_with("3 problems found before any change was made; nothing was applied"),
            "{message}"
        );
    }
}
