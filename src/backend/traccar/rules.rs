//! Traccar's description and rules: the user fields fleetform manages on a Traccar server, its
//! link kinds, and the rules of Traccar's permission model that the engine asks for through
//! `core::model::Rules`. Pure: no I/O.
//!
//! The rules (from ../shared/traccar/API-NOTES.md and observations of real servers):
//! - Administrators, the acting account and the fleet's manager (billing account) are never
//!   managed: the backend marks administrators `untouchable` when it reads them.
//! - A plain user may not manage other users at all.
//! - As administrator with `manager:` set, every fleet user is created under the manager and
//!   linked to it (kind `manager`), and every linked device must be one of the manager's, so
//!   the whole fleet stays in the billing account. The manager must exist.
//! - A manager cannot set `deviceLimit`/`userLimit`: Traccar forces both to 0 on users a manager
//!   creates and refuses to change them on update. A manager manages the users it creates.

use crate::core::model::{Action, Desired, Field, Live, Problem, UserKey, Value};
use crate::core::model::{
    Capabilities, Description, FieldSpec, FieldType, KeySpec, LinkSpec, RiskClass, Rules,
};

/// The acting account's roles, as `Account::role` spells them.
pub const ADMIN: &str = "admin";
pub const MANAGER: &str = "manager";
pub const USER: &str = "user";

/// The role of the account fleetform runs as on a Traccar server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Manager,
    User,
}

impl Role {
    /// The name in `Account::role` and in plans.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => ADMIN,
            Role::Manager => MANAGER,
            Role::User => USER,
        }
    }
}

/// The link kind that puts a user under a manager (billing) account. Only ever linked, by
/// administrator runs that name a manager; never unlinked.
pub const MANAGER_LINK: &str = "manager";

const fn field(name: &'static str, ty: FieldType, risk: RiskClass, doc: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        risk,
        empty_is_null: false,
        nullable: false,
        permission: false,
        doc,
    }
}

const fn permission(
    name: &'static str,
    ty: FieldType,
    risk: RiskClass,
    doc: &'static str,
) -> FieldSpec {
    FieldSpec {
        permission: true,
        ..field(name, ty, risk, doc)
    }
}

/// Traccar stores limits as 32-bit Java ints; -1 is unlimited.
const LIMIT: FieldType = FieldType::Int {
    min: -1,
    max: i32::MAX as i64,
};

/// Traccar's user fields, in display order (the order of plans and applied records). The docs
/// are the help text of the fleet file's schema.
static FIELDS: [FieldSpec; 10] = [
    FieldSpec {
        empty_is_null: true,
        ..field("name", FieldType::Text, RiskClass::Profile, "Display name.")
    },
    FieldSpec {
        empty_is_null: true,
        nullable: true,
        ..field(
            "phone",
            FieldType::Text,
            RiskClass::Profile,
            "Phone number. `null` means \"no phone number\".",
        )
    },
    permission(
        "readonly",
        FieldType::Bool,
        RiskClass::Restriction,
        "Read-only user: may not create, edit or delete anything, nor change links.",
    ),
    permission(
        "deviceReadonly",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not create, edit or delete devices (but may still see and use them).",
    ),
    permission(
        "limitCommands",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not send commands to devices.",
    ),
    permission(
        "disableReports",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not run reports or export positions.",
    ),
    field(
        "disabled",
        FieldType::Bool,
        RiskClass::Disable,
        "A disabled user can not log in.",
    ),
    permission(
        "deviceLimit",
        LIMIT,
        RiskClass::Limit { grants_role: false },
        "How many devices the user may create: -1 unlimited, 0 none, n at most n visible devices.",
    ),
    permission(
        "userLimit",
        LIMIT,
        RiskClass::Limit { grants_role: true },
        "How many users the user may manage: -1 unlimited, 0 none (not a manager).",
    ),
    FieldSpec {
        nullable: true,
        ..field(
            "expirationTime",
            FieldType::Time,
            RiskClass::Expiry,
            "When the account expires, as an RFC 3339 timestamp such as\n`2027-06-30T00:00:00Z`. `null` means it never expires.",
        )
    },
];

static LINKS: [LinkSpec; 3] = [
    LinkSpec { kind: "device" },
    LinkSpec { kind: "group" },
    LinkSpec { kind: MANAGER_LINK },
];

/// Traccar's description.
pub static DESCRIPTION: Description = Description {
    kind: "traccar",
    key: KeySpec {
        name: "email",
        fold_case: true,
        email: true,
        example: "someone@example.com",
        doc: "The user's email, the login. Matched case-insensitively.",
    },
    fields: &FIELDS,
    links: &LINKS,
    capabilities: Capabilities {
        attributes: true,
        managing_account: true,
    },
    rules: &TraccarRules,
    login: "TRACCAR_TOKEN, or TRACCAR_EMAIL and TRACCAR_PASSWORD",
};

/// The declared Traccar field `name` (a programming error if it is not one).
pub fn field_named(name: &str) -> Field {
    DESCRIPTION
        .field(name)
        .unwrap_or_else(|| panic!("{name} is not a Traccar field"))
}

/// The reason an administrator is never managed (`LiveUser::untouchable`).
pub const ADMINISTRATOR: &str = "is an administrator on the server; fleetform never manages \
                                 administrators, remove the user from the file";

struct TraccarRules;

impl Rules for TraccarRules {
    fn check(&self, desired: &Desired, live: &Live) -> Vec<Problem> {
        let account = &live.account;
        let mut problems = Vec::new();
        if account.role == USER {
            problems.push(Problem {
                user: None,
                origin: None,
                message: format!(
                    "the account {} is a plain user; run fleetform as an administrator or a manager",
                    account.email
                ),
            });
        }
        // The manager must exist for an admin run to attach new users and check the billing
        // account; a manager run never sees other managers, so it is not checked there.
        let Some(manager) = desired.manager.as_ref().filter(|_| account.role == ADMIN) else {
            return problems;
        };
        if !live.users.contains_key(manager) {
            problems.push(Problem {
                user: None,
                origin: None,
                message: format!(
                    "the manager account {manager} does not exist on the server; create it \
                     or fix the fleet's `manager`"
                ),
            });
            return problems;
        }
        let allowed = live.manager_devices.clone().unwrap_or_default();
        for want in desired.users.values() {
            for device in &want.devices {
                if live.devices.contains(device) && !allowed.contains(device) {
                    problems.push(Problem {
                        user: Some(want.email.clone()),
                        origin: want.origin.clone(),
                        message: format!(
                            "device {device} is not one of the manager's devices; the fleet must \
                             stay in the billing account (link the device to the manager first)"
                        ),
                    });
                }
            }
        }
        problems
    }

    fn owner(&self, desired: &Desired, live: &Live) -> Option<String> {
        let manager = desired.manager.as_ref()?;
        (live.account.role == ADMIN).then(|| {
            live.users
                .get(manager)
                .map_or_else(|| manager.to_string(), |user| user.email.clone())
        })
    }

    fn check_actions(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
        if live.account.role != MANAGER {
            return Vec::new();
        }
        const MESSAGE: &str = "a manager account cannot change deviceLimit/userLimit; ask an \
                               administrator or remove the field";
        let is_limit = |field: &Field| field.is("deviceLimit") || field.is("userLimit");
        let mut problems = Vec::new();
        for action in actions {
            let wrong: Vec<String> = match action {
                Action::CreateUser { fields, .. } => fields
                    .iter()
                    .filter(|(field, value)| is_limit(field) && **value != Value::Int(0))
                    .map(|(field, value)| format!("{field} {value} (the server will set 0)"))
                    .collect(),
                Action::UpdateUser { changes, .. } => changes
                    .iter()
                    .filter(|change| is_limit(&change.field))
                    .map(|c| format!("{} {} -> {}", c.field, c.before, c.after))
                    .collect(),
                _ => continue,
            };
            let key = UserKey::new(action.email());
            let origin = desired.users.get(&key).and_then(|u| u.origin.clone());
            for what in wrong {
                problems.push(Problem {
                    user: Some(action.email().to_string()),
                    origin: origin.clone(),
                    message: format!("{what}: {MESSAGE}"),
                });
            }
        }
        problems
    }

    fn creator_manages(&self, live: &Live) -> bool {
        live.account.role == MANAGER
    }
}
