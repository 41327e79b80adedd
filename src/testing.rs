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
