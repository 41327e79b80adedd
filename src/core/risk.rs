//! risk: pure. Labels every action of a plan with what it does to people's access, so a
//! reviewer sees the dangerous lines first (markdown report, text view, JSON `risk`). It only
//! classifies: it must not reorder, filter or refuse actions (refusals live in `safety`).
//!
//! Design: one label per action, the most serious that applies, in `Risk`'s declaration order
//! (privilege escalation, account removed, access revoked, access granted, none). An update
//! is labelled by its most serious field change (`change_risk`):
//! - a restriction (`readonly`, `deviceReadonly`, `limitCommands`, `disableReports`) turned off,
//!   `disabled` turned off, `deviceLimit`/`userLimit` raised (-1, unlimited, is the highest; a
//!   userLimit raised from 0 grants manager rights), or `expirationTime` moved later or removed:
//!   privilege escalation;
//! - `disabled` turned on: account removed;
//! - a restriction turned on, a limit lowered, an expiration brought forward or set: access
//!   revoked;
//! - names, phones and attributes: none.
//!
//! Creating a user grants access; creating one with a non-zero `userLimit` makes it a manager,
//! an escalation. Links grant, unlinks revoke, deletes and disables remove the account.

use std::fmt;

use serde::Serialize;

use crate::core::model::{Action, Field, FieldChange, Value};

/// What an action does to access. Declared from most to least serious, so `Ord` sorts risky
/// changes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    PrivilegeEscalation,
    AccountRemoved,
    AccessRevoked,
    AccessGranted,
    None,
}

impl Risk {
    /// Every label, most serious first.
    pub const ALL: [Risk; 5] = [
        Risk::PrivilegeEscalation,
        Risk::AccountRemoved,
        Risk::AccessRevoked,
        Risk::AccessGranted,
        Risk::None,
    ];

    /// The machine name, used in the JSON plan (`"risk"`).
    pub fn name(self) -> &'static str {
        match self {
            Risk::PrivilegeEscalation => "privilege_escalation",
            Risk::AccountRemoved => "account_removed",
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
            let manager = fields
                .get(&Field::UserLimit)
                .is_some_and(|v| !matches!(v, Value::Int(0) | Value::Null));
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
    }
}

/// The label of one field change of an update.
pub fn change_risk(change: &FieldChange) -> Risk {
    let (before, after) = (&change.before, &change.after);
    match change.field {
        Field::Readonly | Field::DeviceReadonly | Field::LimitCommands | Field::DisableReports => {
            match (is_on(before), is_on(after)) {
                (true, false) => Risk::PrivilegeEscalation,
                (false, true) => Risk::AccessRevoked,
                _ => Risk::None,
            }
        }
        Field::Disabled => match (is_on(before), is_on(after)) {
            (true, false) => Risk::PrivilegeEscalation,
            (false, true) => Risk::AccountRemoved,
            _ => Risk::None,
        },
        Field::DeviceLimit | Field::UserLimit => match limit_rank(after).cmp(&limit_rank(before)) {
            std::cmp::Ordering::Greater => Risk::PrivilegeEscalation,
            std::cmp::Ordering::Less => Risk::AccessRevoked,
            std::cmp::Ordering::Equal => Risk::None,
        },
        Field::ExpirationTime => match (before, after) {
            (Value::Time(b), Value::Time(a)) if a > b => Risk::PrivilegeEscalation,
            (Value::Time(b), Value::Time(a)) if a < b => Risk::AccessRevoked,
            (Value::Time(_), Value::Null) => Risk::PrivilegeEscalation,
            (Value::Null, Value::Time(_)) => Risk::AccessRevoked,
            _ => Risk::None,
        },
        Field::Name | Field::Phone | Field::Attribute(_) => Risk::None,
    }
}

fn is_on(value: &Value) -> bool {
    *value == Value::Bool(true)
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
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::core::model::LinkKind;

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
                update(Field::Readonly, t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "readonly on",
                update(Field::Readonly, f.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "readonly on from unset",
                update(Field::Readonly, n.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "readonly unset to false",
                update(Field::Readonly, n.clone(), f.clone()),
                None,
            ),
            (
                "deviceReadonly off",
                update(Field::DeviceReadonly, t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "limitCommands off",
                update(Field::LimitCommands, t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "disableReports off",
                update(Field::DisableReports, t.clone(), n.clone()),
                PrivilegeEscalation,
            ),
            (
                "disableReports on",
                update(Field::DisableReports, f.clone(), t.clone()),
                AccessRevoked,
            ),
            (
                "enabled again",
                update(Field::Disabled, t.clone(), f.clone()),
                PrivilegeEscalation,
            ),
            (
                "disabled in the file",
                update(Field::Disabled, f.clone(), t.clone()),
                AccountRemoved,
            ),
            (
                "deviceLimit raised",
                update(Field::DeviceLimit, int(1), int(5)),
                PrivilegeEscalation,
            ),
            (
                "deviceLimit unlimited",
                update(Field::DeviceLimit, int(100), int(-1)),
                PrivilegeEscalation,
            ),
            (
                "deviceLimit from unlimited",
                update(Field::DeviceLimit, int(-1), int(100)),
                AccessRevoked,
            ),
            (
                "manager rights granted",
                update(Field::UserLimit, int(0), int(3)),
                PrivilegeEscalation,
            ),
            (
                "manager rights from unset",
                update(Field::UserLimit, n.clone(), int(-1)),
                PrivilegeEscalation,
            ),
            (
                "userLimit lowered",
                update(Field::UserLimit, int(3), int(0)),
                AccessRevoked,
            ),
            (
                "expiry extended",
                update(Field::ExpirationTime, early.clone(), late.clone()),
                PrivilegeEscalation,
            ),
            (
                "expiry removed",
                update(Field::ExpirationTime, early.clone(), n.clone()),
                PrivilegeEscalation,
            ),
            (
                "expiry shortened",
                update(Field::ExpirationTime, late.clone(), early.clone()),
                AccessRevoked,
            ),
            (
                "expiry set",
                update(Field::ExpirationTime, n.clone(), early.clone()),
                AccessRevoked,
            ),
            (
                "name",
                update(Field::Name, n.clone(), Value::Text("A".into())),
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
                            field: Field::Readonly,
                            before: f.clone(),
                            after: t.clone(),
                        },
                        FieldChange {
                            field: Field::UserLimit,
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
                    fields: [(Field::UserLimit, int(0))].into(),
                    managed_by: Option::None,
                },
                AccessGranted,
            ),
            (
                "create a manager",
                Action::CreateUser {
                    email: "a@x.test".into(),
                    fields: [(Field::UserLimit, int(-1))].into(),
                    managed_by: Option::None,
                },
                PrivilegeEscalation,
            ),
            (
                "link",
                Action::Link {
                    email: "a@x.test".into(),
                    kind: LinkKind::Device,
                    target: "D".into(),
                },
                AccessGranted,
            ),
            (
                "unlink",
                Action::Unlink {
                    email: "a@x.test".into(),
                    kind: LinkKind::Group,
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
                "access_revoked",
                "access_granted",
                "none"
            ]
        );
        assert_eq!(Risk::None.tag(), "");
    }
}
