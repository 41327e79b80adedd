//! The telematics user service's description and rules: the user fields a fleet file manages
//! on an instance (user group) of the service, what a change of each does to access, its
//! capabilities and the rules the engine asks for through `core::model::Rules`. Pure: no I/O.
//!
//! The model (from ../shared/telematics/API-NOTES.md §5):
//! - Users are keyed by `clientId`, the service's `UserFields.ClientId`: the operator's own id
//!   for the user, compared exactly (case-sensitive). Users without one are never read.
//! - Profile fields (`UserProfile`) and the telematics flags (`UserFields`) are data about the
//!   driver, not access: `RiskClass::Profile`. The flags count as a permission set, so `export
//!   --infer-roles` folds drivers with the same flags into roles.
//! - `enabled` is the account's state, `RiskClass::Enable` (`false` locks the user out of the
//!   SDK). How `UserFields.Enabled` and `Status` relate is UNVERIFIED (notes §5.7), so the
//!   backend reads `enabled` as false when either says so and writes both (see `wire.rs`).
//! - No links, no attributes, no managing account. `prune:` is `deactivate` (the default:
//!   the user keeps its data), `delete` (irreversible: the user and all its telematics data)
//!   or `keep`.
//!
//! The rules:
//! - A user this fleet registered that the backend cannot manage (it shares its clientId with
//!   other users on the server, or has a status fleetform does not know) stops the plan, so a
//!   prune never guesses which of several users it means (`read.rs` marks them untouchable).
//! - Registering users needs the instance key (`TELEMATICS_INSTANCE_KEY`): without it the
//!   account's role says so and a plan that creates users is refused before any write.
//! - `birthday` is a date, `yyyy-MM-dd`; `gender` one of `Male`, `Female`, `Other`, `None`,
//!   spelled as the service gives them back (another spelling would be planned on every run).

use crate::core::model::{Action, Desired, Field, Live, Problem, Prune, Value};
use crate::core::model::{
    Capabilities, Description, FieldSpec, FieldType, KeySpec, RiskClass, Rules,
};

/// The acting account's role (`Account::role`): an admin API credential with the instance key,
/// which may register users.
pub const ADMIN: &str = "admin";
/// An admin API credential without `TELEMATICS_INSTANCE_KEY`: it may read, update, deactivate
/// and delete, but not register users.
pub const ADMIN_WITHOUT_KEY: &str = "admin without instance key";

/// The marker (`LiveUser::marker`) of a user another fleetform fleet registered: its
/// DeviceToken proves a fleetform registration, not which fleet (see `ownership.rs`).
pub const ANOTHER_FLEET: &str = "(another fleetform fleet)";

const fn profile(name: &'static str, doc: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty: FieldType::Text,
        risk: RiskClass::Profile,
        // The service may give an empty text back as null (UNVERIFIED): they are the same.
        empty_is_null: true,
        nullable: false,
        permission: false,
        write_only: false,
        doc,
    }
}

const fn flag(name: &'static str, doc: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty: FieldType::Bool,
        risk: RiskClass::Profile,
        empty_is_null: false,
        nullable: false,
        permission: true,
        write_only: false,
        doc,
    }
}

/// The service's user fields, in display order (profile, telematics flags, then `enabled`).
/// The docs are the help text of the fleet file's schema.
static FIELDS: [FieldSpec; 17] = [
    profile("firstName", "First name."),
    profile("lastName", "Last name."),
    profile("nickname", "Nickname."),
    profile(
        "email",
        "The driver's email (profile data here, not the key: users are keyed by `clientId`).",
    ),
    profile("phone", "Phone number, e.g. \"+4366412345678\" (quote it)."),
    profile(
        "gender",
        "As the service spells it: `Male`, `Female`, `Other` or `None`.",
    ),
    profile("birthday", "Date of birth, `yyyy-MM-dd` (quote it)."),
    profile(
        "maritalStatus",
        "As the service stores it (its Android SDK sends `1` married, `2` widowed, `3`\ndivorced, `4` single; quote it).",
    ),
    FieldSpec {
        name: "childrenCount",
        ty: FieldType::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        risk: RiskClass::Profile,
        empty_is_null: false,
        nullable: false,
        permission: false,
        write_only: false,
        doc: "Number of children.",
    },
    profile("country", "Country."),
    profile("district", "District."),
    profile("city", "City."),
    profile("address", "Address."),
    flag(
        "enableTracking",
        "Telematics flag: the SDK records trips for this user.",
    ),
    flag(
        "enableLogging",
        "Telematics flag: the SDK writes its diagnostic log for this user.",
    ),
    flag(
        "enableRealTimeLocation",
        "Telematics flag: the user's location is shared in real time (the application must\nhave real-time location switched on too).",
    ),
    FieldSpec {
        name: "enabled",
        ty: FieldType::Bool,
        risk: RiskClass::Enable,
        empty_is_null: false,
        nullable: false,
        permission: false,
        write_only: false,
        doc: "`false` deactivates the user (it keeps its data); `true` activates it. fleetform\nwrites both the service's `Enabled` flag and its `Status`, and reads a user as\ndeactivated when either says so.",
    },
];

/// The telematics user service's description.
pub static DESCRIPTION: Description = Description {
    kind: "telematics",
    key: KeySpec {
        name: "clientId",
        fold_case: false,
        email: false,
        example: "drv-0001",
        doc: "The user's id in your own system (the service's ClientId): the key of the user,\ncompared exactly (case-sensitive).",
    },
    fields: &FIELDS,
    links: &[],
    objects: &[],
    capabilities: Capabilities {
        attributes: false,
        managing_account: false,
        prune: &[Prune::Deactivate, Prune::Delete, Prune::Keep],
        instance: true,
        delete_erases_data: true,
        generated_passwords: false,
    },
    rules: &TelematicsRules,
    login: "TELEMATICS_EMAIL and TELEMATICS_PASSWORD (and TELEMATICS_INSTANCE_KEY to register users)",
};

/// The declared telematics field `name` (a programming error if it is not one).
pub fn field_named(name: &str) -> Field {
    DESCRIPTION
        .field(name)
        .unwrap_or_else(|| panic!("{name} is not a telematics field"))
}

/// The values of `gender`, spelled as the service gives them back (notes §5.1).
pub const GENDERS: [&str; 4] = ["Male", "Female", "Other", "None"];

/// Whether `text` is a date written `yyyy-MM-dd`.
pub fn is_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
}

struct TelematicsRules;

impl Rules for TelematicsRules {
    fn check(&self, desired: &Desired, live: &Live) -> Vec<Problem> {
        let mut problems = Vec::new();
        // Users of this fleet the reader could not make manageable: a prune would skip them
        // silently, so the run stops and says why (users in the file are reported by the
        // engine, at their position).
        for (key, user) in &live.users {
            if let Some(reason) = &user.untouchable
                && user.marker.as_deref() == Some(desired.fleet.as_str())
                && !desired.users.contains_key(key)
            {
                problems.push(Problem {
                    user: Some(user.email.clone()),
                    origin: None,
                    message: format!("registered by fleet {} but {reason}", desired.fleet),
                });
            }
        }
        let birthday = field_named("birthday");
        let gender = field_named("gender");
        for want in desired.users.values() {
            if let Some(Value::Text(text)) = want.fields.get(&gender)
                && !GENDERS.contains(&text.as_str())
            {
                problems.push(Problem {
                    user: Some(want.email.clone()),
                    origin: want.origin.clone(),
                    message: format!(
                        "gender {text:?} is not one the service knows: write one of {} (as the \
                         service spells them, which is how it gives them back)",
                        GENDERS.join(", ")
                    ),
                });
            }
            if let Some(Value::Text(text)) = want.fields.get(&birthday)
                && !text.is_empty()
                && !is_date(text)
            {
                problems.push(Problem {
                    user: Some(want.email.clone()),
                    origin: want.origin.clone(),
                    message: format!(
                        "birthday {text:?} is not a date: write it as yyyy-MM-dd, e.g. \"1990-05-31\""
                    ),
                });
            }
        }
        problems
    }

    fn owner(&self, _: &Desired, _: &Live) -> Option<String> {
        None
    }

    fn check_actions(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
        if live.account.role != ADMIN_WITHOUT_KEY {
            return Vec::new();
        }
        actions
            .iter()
            .filter(|a| matches!(a, Action::CreateUser { .. }))
            .map(|action| {
                let want = desired.users.get(&desired.key(action.email()));
                Problem {
                    user: Some(action.email().to_string()),
                    origin: want.and_then(|u| u.origin.clone()),
                    message: "is not on the server, and registering users needs the instance's \
                              key: set TELEMATICS_INSTANCE_KEY (DataHub shows it with the \
                              instance id)"
                        .into(),
                }
            })
            .collect()
    }

    fn creator_manages(&self, _: &Live) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_client_id_compared_exactly() {
        assert_eq!(DESCRIPTION.key.name, "clientId");
        assert_ne!(DESCRIPTION.key.key("Drv-1"), DESCRIPTION.key.key("drv-1"));
        assert_eq!(DESCRIPTION.key.key(" drv-1 "), DESCRIPTION.key.key("drv-1"));
    }

    #[test]
    fn fields_are_the_issues_with_types_and_risk_classes() {
        let names: Vec<&str> = DESCRIPTION.fields.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "firstName",
                "lastName",
                "nickname",
                "email",
                "phone",
                "gender",
                "birthday",
                "maritalStatus",
                "childrenCount",
                "country",
                "district",
                "city",
                "address",
                "enableTracking",
                "enableLogging",
                "enableRealTimeLocation",
                "enabled"
            ]
        );
        let enabled = field_named("enabled");
        assert_eq!(DESCRIPTION.disable_field(), Some(enabled.clone()));
        assert!(DESCRIPTION.is_disabled_value(&enabled, &Value::Bool(false)));
        assert!(!DESCRIPTION.is_disabled_value(&enabled, &Value::Bool(true)));
        for flag in ["enableTracking", "enableLogging", "enableRealTimeLocation"] {
            let spec = field_named(flag).spec().expect("declared");
            assert_eq!(spec.ty, FieldType::Bool);
            assert!(spec.permission, "{flag} folds into roles");
        }
        assert_eq!(
            field_named("childrenCount").spec().map(|s| s.ty),
            Some(FieldType::Int {
                min: 0,
                max: i32::MAX as i64
            })
        );
        assert!(DESCRIPTION.links.is_empty());
        assert!(!DESCRIPTION.capabilities.attributes);
        assert_eq!(DESCRIPTION.capabilities.prune[0], Prune::Deactivate);
    }

    #[test]
    fn dates_are_yyyy_mm_dd() {
        assert!(is_date("1990-05-31"));
        assert!(!is_date("1990-5-31"));
        assert!(!is_date("31.05.1990"));
        assert!(!is_date("1990-02-30"));
        assert!(!is_date("1990-05-31T00:00:00"));
    }
}
