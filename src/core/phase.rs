//! phase: the execution phases of a plan and their order (revocations before grants, objects
//! before the links that need them; `plan`'s design comment gives the reasons). Pure; its own
//! file so that `plan` and `objects` both use it without importing each other.

use std::fmt;

use serde::Serialize;

use crate::core::model::Action;

/// Execution phases, in the order they run (see the design comment at the top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Unlink,
    Disable,
    Delete,
    DeleteObject,
    Update,
    CreateObject,
    UpdateObject,
    Create,
    Link,
}

impl Phase {
    pub fn of(action: &Action) -> Phase {
        match action {
            Action::Unlink { .. } | Action::UnlinkObject { .. } => Phase::Unlink,
            Action::DisableUser { .. } => Phase::Disable,
            Action::DeleteUser { .. } => Phase::Delete,
            Action::DeleteObject { .. } => Phase::DeleteObject,
            Action::UpdateUser { .. } => Phase::Update,
            Action::CreateObject { .. } => Phase::CreateObject,
            Action::UpdateObject { .. } => Phase::UpdateObject,
            Action::CreateUser { .. } => Phase::Create,
            Action::Link { .. } | Action::LinkObject { .. } => Phase::Link,
        }
    }

    /// The snake_case name used in the JSON plan.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Unlink => "unlink",
            Phase::Disable => "disable",
            Phase::Delete => "delete",
            Phase::DeleteObject => "delete_object",
            Phase::Update => "update",
            Phase::CreateObject => "create_object",
            Phase::UpdateObject => "update_object",
            Phase::Create => "create",
            Phase::Link => "link",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
