//! plan: pure. Turns desired x live into an ordered `Plan`, checks it against what the acting
//! account may do, summarises it, and simulates it (for tests: simulate(live, plan) == desired).
//!
//! CONTRACT (other modules rely on these; the implementation is being written):
//! - `Plan { fleet, account, actions }`: actions in execution order.
//! - `Phase::of(&Action)`; `Plan::phases()` yields consecutive runs of one phase.
//! - `Plan::summary() -> Summary { create, update, delete, disable, link, unlink }`.
//! - `plan(&Desired, &Live) -> Result<Plan, Vec<Problem>>`.
//! - `simulate(&Live, &Plan) -> Live`.

use serde::Serialize;

use crate::model::{Account, Action};

/// The version of the JSON plan format (`format_version`).
pub const FORMAT_VERSION: u32 = 1;

/// A complete plan, computed before the first write.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub fleet: String,
    pub account: Account,
    /// In execution order: grouped by phase, phases in `Phase` order.
    pub actions: Vec<Action>,
}

/// Execution phases, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Unlink,
    Disable,
    Delete,
    Update,
    Create,
    Link,
}

impl Phase {
    pub fn of(action: &Action) -> Phase {
        match action {
            Action::Unlink { .. } => Phase::Unlink,
            Action::DisableUser { .. } => Phase::Disable,
            Action::DeleteUser { .. } => Phase::Delete,
            Action::UpdateUser { .. } => Phase::Update,
            Action::CreateUser { .. } => Phase::Create,
            Action::Link { .. } => Phase::Link,
        }
    }
}

impl Plan {
    /// Consecutive runs of actions of one phase, in order.
    pub fn phases(&self) -> impl Iterator<Item = (Phase, &[Action])> {
        self.actions
            .chunk_by(|a, b| Phase::of(a) == Phase::of(b))
            .map(|run| (Phase::of(&run[0]), run))
    }
}
