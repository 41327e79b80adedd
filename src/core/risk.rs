//! risk: pure. Labels every action of a plan with what it does to people's access, so a
//! reviewer sees the dangerous lines first (markdown report, text view, JSON `risk`). It only
//! classifies: it must not reorder, filter or refuse actions (refusals live in `safety`).
//!
//! Design: one label per action, the most serious that applies, in `Risk`'s declaration order
//! (privilege escalation, account removed, access revoked, access granted, none). An update
//! is labelled by its most serious field change (`change_risk`), by the field's risk class in
//! its backend's description (`RiskClass`; Traccar's in `backend/traccar/rules.rs`):
//! - a restriction turned off, the disabled flag turned off (an enabled flag turned back on),
//!   a limit raised (-1, unlimited, is
//!   the highest), or an expiry moved later or removed: privilege escalation;
//! - the disabled flag turned on (an enabled flag turned off): account removed;
//! - a restriction turned on, a limit lowered, an expiry brought forward or set: access
//!   revoked;
//! - profile fields and attributes: none.
//!
//! Creating a user grants access; creating one with a non-zero limit that grants a role (a
//! Traccar `userLimit` makes a manager) is an escalation. Links grant, unlinks revoke, deletes
//! and disables remove the account.
//!
//! Objects (`object_risk`): deleting one is *object removed*. A reference decides who sees an
//! object (a device is seen by the users of its group, a group by those of its ancestors), so
//! setting one, on a create or an update, is *access granted* (the target's users gain the
//! object) and clearing one is *access revoked*; a move from one target to another is labelled
//! a grant, the side a reviewer must not miss. Other object fields, and adopting an object,
//! change no one's access.

use std::fmt;

use serde::Serialize;

use crate::core::model::RiskClass;
use crate::core::model::{Action, Field, FieldChange, ObjectSpec, Value};

/// What an action does to access. Declared from most to least serious, so `Ord` sorts risky
/// changes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    PrivilegeEscalation,
    AccountRemoved,
    ObjectRemoved,
    AccessRevoked,
    AccessGranted,
    None,
}

impl Risk {
    /// Every label, most serious first.
    pub const ALL: [Risk; 6] = [
        Risk::PrivilegeEscalation,
        Risk::AccountRemoved,
        Risk::ObjectRemoved,
        Risk::AccessRevoked,
        Risk::AccessGranted,
        Risk::None,
    ];

    /// The machine name, used in the JSON plan (`"risk"`).
    pub fn name(self) -> &'static str {
        match self {
            Risk::PrivilegeEscalation => "privilege_escalation",
            Risk::AccountRemoved => "account_removed",
            Risk::ObjectRemoved => "object_removed",
            Risk::AccessRevoked => "access_revoked",
            Risk::AccessGranted => "access_granted",
            Risk::None => "none",
        }
    }

    /// The compact tag of the text view, e.g. `[escalation]`; empty for `None`.
    pub fn tag(self) -> &'static str {
        match self {
            Risk::PrivilegeEscalation => "[escalation]",
            Risk::AccountRemoved => "[removed]",
            Risk::ObjectRemoved => "[object removed]",
            Risk::AccessRevoked => "[revoked]",
            Risk::AccessGranted => "[granted]",
            Risk::None => "",
        }
    }

    /// The words people read, e.g. in the markdown report.
    pub fn title(self) -> &'static str {
        match self {
            Risk::PrivilegeEscalation => "privilege escalation",
            Risk::AccountRemoved => "account removed",
            Risk::ObjectRemoved => "object removed",
            Risk::AccessRevoked => "access revoked",
            Risk::AccessGranted => "access granted",
            Risk::None => "other",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// The label of one action (see the design comment).
pub fn risk(action: &Action) -> Risk {
    match action {
        Action::CreateUser { fields, .. } => {
            let manager = fields.iter().any(|(field, value)| {
                field.spec().is_some_and(|spec| {
                    spec.risk == RiskClass::Limit { grants_role: true }
                        && !matches!(value, Value::Int(0) | Value::Null)
                })
            });
            if manager {
                Risk::PrivilegeEscalation
            } else {
                Risk::AccessGranted
            }
        }
        Action::UpdateUser { changes, .. } => {
            changes.iter().map(change_risk).min().unwrap_or(Risk::None)
        }
        Action::Link { .. } => Risk::AccessGranted,
        Action::Unlink { .. } => Risk::AccessRevoked,
        Action::DisableUser { .. } | Action::DeleteUser { .. } => Risk::AccountRemoved,
        // Without the kind's spec references are not known: see `object_risk`.
        Action::CreateObject { .. } | Action::UpdateObject { .. } => Risk::None,
        // What an object has linked to it changes no user's access.
        Action::LinkObject { .. } | Action::UnlinkObject { .. } => Risk::None,
        Action::DeleteObject { .. } => Risk::ObjectRemoved,
    }
}

/// The label of an object action, `spec` being its kind's (see the design comment).
pub fn object_risk(spec: Option<&ObjectSpec>, action: &Action) -> Risk {
    let sets_reference = |field: &Field, value: &Value| {
        spec.is_some_and(|s| s.reference(field).is_some()) && *value != Value::Null
    };
    match action {
        Action::CreateObject { fields, .. } => {
            if fields.iter().any(|(f, v)| sets_reference(f, v)) {
                Risk::AccessGranted
            } else {
                Risk::None
            }
        }
        Action::UpdateObject { changes, .. } => changes
            .iter()
            .map(|c| object_change_risk(spec, c))
            .min()
            .map_or(Risk::None, |worst| match worst {
                // A move grants someone access, even when another change revokes.
                Risk::AccessRevoked
                    if changes
                        .iter()
                        .any(|c| object_change_risk(spec, c) == Risk::AccessGranted) =>
                {
                    Risk::AccessGranted
                }
                other => other,
            }),
        other => risk(other),
    }
}

/// The label of one field change of an object update: references only (see the design
/// comment).
pub fn object_change_risk(spec: Option<&ObjectSpec>, change: &FieldChange) -> Risk {
    if spec.is_none_or(|s| s.reference(&change.field).is_none()) {
        return Risk::None;
    }
    match (&change.before, &change.after) {
        (_, Value::Null) => Risk::AccessRevoked,
        _ => Risk::AccessGranted,
    }
}

/// The label of one field change of an update.
pub fn change_risk(change: &FieldChange) -> Risk {
    let (before, after) = (&change.before, &change.after);
    let class = change
        .field
        .spec()
        .map_or(RiskClass::Profile, |spec| spec.risk);
    match class {
        RiskClass::Restriction => match (is_on(before), is_on(after)) {
            (true, false) => Risk::PrivilegeEscalation,
            (false, true) => Risk::AccessRevoked,
            _ => Risk::None,
        },
        RiskClass::Disable => match (is_on(before), is_on(after)) {
            (true, false) => Risk::PrivilegeEscalation,
            (false, true) => Risk::AccountRemoved,
            _ => Risk::None,
        },
        // The other way round: `false` locks the user out (an unknown `before` counts as
        // enabled, so turning the flag off is always a removal).
        RiskClass::Enable => match (is_off(before), is_off(after)) {
            (true, false) if is_on(after) => Risk::PrivilegeEscalation,
            (false, true) => Risk::AccountRemoved,
            _ => Risk::None,
        },
        RiskClass::Limit { .. } => match limit_rank(after).cmp(&limit_rank(before)) {
            std::cmp::Ordering::Greater => Risk::PrivilegeEscalation,
            std::cmp::Ordering::Less => Risk::AccessRevoked,
            std::cmp::Ordering::Equal => Risk::None,
        },
        RiskClass::Expiry => match (before, after) {
            (Value::Time(b), Value::Time(a)) if a > b => Risk::PrivilegeEscalation,
            (Value::Time(b), Value::Time(a)) if a < b => Risk::AccessRevoked,
            (Value::Time(_), Value::Null) => Risk::PrivilegeEscalation,
            (Value::Null, Value::Time(_)) => Risk::AccessRevoked,
            _ => Risk::None,
        },
        RiskClass::Profile => Risk::None,
    }
}

fn is_on(value: &Value) -> bool {
    *value == Value::Bool(true)
}

fn is_off(value: &Value) -> bool {
    *value == Value::Bool(false)
}

/// Limits ordered by how much they allow: -1 (unlimited) above every number; absent as 0.
fn limit_rank(value: &Value) -> i64 {
    match value {
        Value::Int(-1) => i64::MAX,
        Value::Int(n) => *n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, tf};
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::core::model::Field;

    fn update(field: Field, before: Value, after: Value) -> Action {
        Action::UpdateUser {
            email: "a@x.test".into(),
            changes: vec![FieldChange {
                field,
                before,
                after,
            }],
            adopt: false,
        }
    }

    #[test]
    fn risk_table() {
        let early = Value::time(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        let late = Value::time(Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap());
        let (t, f, n) = (Value::Bool(true), Value::Bool(false), Value::Null);
        let int = Value::Int;
        use Risk::*;
        let table: Vec<(&str, Action, Risk)> = vec![
            (
                "readonly off",
                update(tf("readonly"), t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "readonly on",
                update(tf("readonly"), f.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "readonly on from unset",
                update(tf("readonly"), n.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "readonly unset to false",
                update(tf("readonly"), n.clone(), f.clone()),
                None,
            ),
            (
                "deviceReadonly off",
                update(tf("deviceReadonly"), t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "limitCommands off",
                update(tf("limitCommands"), t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "disableReports off",
                update(tf("disableReports"), t.clone(), n.clone()),
                PrivilegeEscalation,
            ),
            (
                "disableReports on",
                update(tf("disableReports"), f.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "enabled again",
                update(tf("disabled"), t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "disabled in the file",
                update(tf("disabled"), f.clone(), t.clone()),
                AccountRemoved,
            ),
            (
                "deviceLimit raised",
                update(tf("deviceLimit"), int(1), int(5)),
                PrivilegeEscalation,
            ),
            (
                "deviceLimit unlimited",
                update(tf("deviceLimit"), int(100), int(-1)),
                PrivilegeEscalation,
            ),
            (
                "deviceLimit from unlimited",
                update(tf("deviceLimit"), int(-1), int(100)),
                AccessRevoked,
            ),
            (
                "manager rights granted",
                update(tf("userLimit"), int(0), int(3)),
                PrivilegeEscalation,
            ),
            (
                "manager rights from unset",
                update(tf("userLimit"), n.clone(), int(-1)),
                PrivilegeEscalation,
            ),
            (
                "userLimit lowered",
                update(tf("userLimit"), int(3), int(0)),
                AccessRevoked,
            ),
            (
                "expiry extended",
                update(tf("expirationTime"), early.clone(), late.clone()),
                PrivilegeEscalation,
            ),
            (
                "expiry removed",
                update(tf("expirationTime"), early.clone(), n.clone()),
                PrivilegeEscalation,
            ),
            (
                "expiry shortened",
                update(tf("expirationTime"), late.clone(), early.clone()),
                AccessRevoked,
            ),
            (
                "expiry set",
                update(tf("expirationTime"), n.clone(), early.clone()),
                AccessRevoked,
            ),
            (
                "name",
                update(tf("name"), n.clone(), Value::Text("A".into())),
                None,
            ),
            (
                "attribute",
                update(Field::Attribute("k".into()), int(1), n.clone()),
                None,
            ),
            (
                "adopt only",
                Action::UpdateUser {
                    email: "a@x.test".into(),
                    changes: vec![],
                    adopt: true,
                },
                None,
            ),
            (
                "most serious change wins",
                Action::UpdateUser {
                    email: "a@x.test".into(),
                    changes: vec![
                        FieldChange {
                            field: tf("readonly"),
                            before: f.clone(),
                            after: t.clone(),
                        },
                        FieldChange {
                            field: tf("userLimit"),
                            before: int(0),
                            after: int(1),
                        },
                    ],
                    adopt: false,
                },
                PrivilegeEscalation,
            ),
            (
                "create",
                Action::CreateUser {
                    email: "a@x.test".into(),
                    fields: [(tf("userLimit"), int(0))].into(),
                    managed_by: Option::None,
                },
                AccessGranted,
            ),
            (
                "create a manager",
                Action::CreateUser {
                    email: "a@x.test".into(),
                    fields: [(tf("userLimit"), int(-1))].into(),
                    managed_by: Option::None,
                },
                PrivilegeEscalation,
            ),
            (
                "link",
                Action::Link {
                    email: "a@x.test".into(),
                    kind: DEVICE,
                    target: "D".into(),
                },
                AccessGranted,
            ),
            (
                "unlink",
                Action::Unlink {
                    email: "a@x.test".into(),
                    kind: GROUP,
                    target: "G".into(),
                },
                AccessRevoked,
            ),
            (
                "disable",
                Action::DisableUser {
                    email: "a@x.test".into(),
                },
                AccountRemoved,
            ),
            (
                "delete",
                Action::DeleteUser {
                    email: "a@x.test".into(),
                },
                AccountRemoved,
            ),
        ];
        for (name, action, want) in table {
            assert_eq!(risk(&action), want, "case: {name}");
        }
    }

    #[test]
    fn risky_sorts_first_and_names_are_stable() {
        let mut all = Risk::ALL.to_vec();
        all.reverse();
        all.sort();
        assert_eq!(all, Risk::ALL.to_vec());
        let names: Vec<&str> = Risk::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "privilege_escalation",
                "account_removed",
                "object_removed",
                "access_revoked",
                "access_granted",
                "none"
            ]
        );
        assert_eq!(Risk::None.tag(), "");
    }
}
