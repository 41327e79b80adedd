//! Test fixtures shared by the unit tests: Traccar's description (the backend the existing
//! table-driven tests were written against) and its fields by name. Compiled for tests only.

use crate::core::model::Description;
use crate::core::model::Field;

/// The Traccar backend's description.
pub(crate) static TRACCAR: &Description = &crate::backend::traccar::rules::DESCRIPTION;

/// The Traccar field named `name`.
pub(crate) fn tf(name: &str) -> Field {
    crate::backend::traccar::rules::field_named(name)
}

pub(crate) use crate::backend::traccar::rules::{DEVICE, GROUP};
pub(crate) use crate::core::model::{Links, linked};

/// Traccar links: these devices and groups (a kind without targets is left out, as a backend
/// reads it).
pub(crate) fn links_of(
    devices: std::collections::BTreeSet<String>,
    groups: std::collections::BTreeSet<String>,
) -> crate::core::model::Links {
    [(DEVICE, devices), (GROUP, groups)]
        .into_iter()
        .filter(|(_, targets)| !targets.is_empty())
        .collect()
}

/// The reason Traccar's reader gives for an administrator (`LiveUser::untouchable`).
pub(crate) use crate::backend::traccar::rules::ADMINISTRATOR;
