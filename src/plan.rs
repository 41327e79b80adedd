//! plan: pure. Turns desired x live into an ordered `Plan`, checks it against what the acting
//! account may do, summarises it, and simulates it (for tests: simulate(live, plan) == desired).
//! It must not do I/O and must not print: problems are returned as values, every one of them at
//! once, and `main` decides how to show them.
//!
//! CONTRACT (other modules rely on these):
//! - `Plan { fleet, account, actions }`: actions in execution order.
//! - `Phase::of(&Action)`; `Plan::phases()` yields consecutive runs of one phase.
//! - `Plan::summary() -> Summary { create, update, delete, disable, link, unlink }`.
//! - `plan(&Desired, &Live) -> Result<Plan, Vec<Problem>>`.
//! - `simulate(&Live, &Plan) -> Live`.
//!
//! Design: the order of a plan.
//! Phases run in this order: Unlink, Disable, Delete, Update, Create, Link. Revocations come
//! before grants, so a run that stops half way (network error, server refusal, Ctrl-C) leaves
//! less access than before, never more: a user may briefly lose a device it keeps, but no one
//! ever briefly gains a device the file takes away. Update comes before Create and Link because
//! an update may tighten a user (readonly, disabled, expirationTime) and must land before the
//! user is given anything new; Create precedes Link because a new user must exist to be linked.
//! Actions inside a phase are independent of each other (a backend may run them concurrently)
//! and are sorted by user (lower-cased email), then link kind and target, so the same inputs
//! always give the same plan, byte for byte.
//!
//! Design: refusals. `plan` first collects every problem with the inputs (unknown devices and
//! groups, users fleetform never manages, users of another fleet, what the acting role cannot
//! do) and fails with all of them, each naming the file position and what to do. A plan that
//! is returned can be applied by the acting account as it stands.

use std::fmt;

use serde::Serialize;

use crate::diff::diff;
use crate::model::{
    Account, Action, Desired, Field, LinkKind, Live, LiveUser, Role, UserKey, Value,
};

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

/// Execution phases, in the order they run (see the design comment at the top).
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

    /// The snake_case name used in the JSON plan.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Unlink => "unlink",
            Phase::Disable => "disable",
            Phase::Delete => "delete",
            Phase::Update => "update",
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

/// How many actions of each kind a plan holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub disable: usize,
    pub link: usize,
    pub unlink: usize,
}

impl Plan {
    /// Consecutive runs of actions of one phase, in order.
    pub fn phases(&self) -> impl Iterator<Item = (Phase, &[Action])> {
        self.actions
            .chunk_by(|a, b| Phase::of(a) == Phase::of(b))
            .map(|run| (Phase::of(&run[0]), run))
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for action in &self.actions {
            let count = match action {
                Action::CreateUser { .. } => &mut summary.create,
                Action::UpdateUser { .. } => &mut summary.update,
                Action::DeleteUser { .. } => &mut summary.delete,
                Action::DisableUser { .. } => &mut summary.disable,
                Action::Link { .. } => &mut summary.link,
                Action::Unlink { .. } => &mut summary.unlink,
            };
            *count += 1;
        }
        summary
    }

    /// Whether the server already matches the file.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// One reason a plan cannot be made, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The user's email as the file spells it, when the problem is about one user.
    pub user: Option<String>,
    /// Where the user is defined (`DesiredUser::origin`, `file:line:column`).
    pub origin: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(user) = &self.user {
            write!(f, "user {user}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// Diffs, checks and orders. Fails with every problem found, in file order.
pub fn plan(desired: &Desired, live: &Live) -> Result<Plan, Vec<Problem>> {
    let mut problems = check_inputs(desired, live);
    let mut actions = diff(desired, live);
    if live.account.role == Role::Manager {
        problems.extend(check_manager_limits(desired, &actions));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    actions.sort_by_cached_key(order_key);
    Ok(Plan {
        fleet: desired.fleet.clone(),
        account: live.account.clone(),
        actions,
    })
}

/// Phase, then user, then link kind and target: see the design comment.
fn order_key(action: &Action) -> (Phase, UserKey, Option<LinkKind>, String) {
    let (kind, target) = match action {
        Action::Link { kind, target, .. } | Action::Unlink { kind, target, .. } => {
            (Some(*kind), target.clone())
        }
        _ => (None, String::new()),
    };
    (
        Phase::of(action),
        UserKey::new(action.email()),
        kind,
        target,
    )
}

/// Everything wrong with the inputs, independent of the diff.
fn check_inputs(desired: &Desired, live: &Live) -> Vec<Problem> {
    let account = &live.account;
    let me = UserKey::new(&account.email);
    let mut problems = Vec::new();

    if account.role == Role::User {
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
    let manager_devices = match (&desired.manager, account.role) {
        (Some(manager), Role::Admin) => {
            if live.users.contains_key(manager) {
                Some(live.manager_devices.clone().unwrap_or_default())
            } else {
                problems.push(Problem {
                    user: None,
                    origin: None,
                    message: format!(
                        "the manager account {manager} does not exist on the server; create it \
                         or fix the fleet's `manager`"
                    ),
                });
                None
            }
        }
        _ => None,
    };

    for (key, want) in &desired.users {
        let mut problem = |message: String| {
            problems.push(Problem {
                user: Some(want.email.clone()),
                origin: want.origin.clone(),
                message,
            })
        };

        let have: Option<&LiveUser> = live.users.get(key);
        if have.is_some_and(|u| u.administrator) {
            problem(
                "is an administrator on the server; fleetform never manages administrators, \
                 remove the user from the file"
                    .into(),
            );
        }
        if *key == me {
            problem(format!(
                "is the account fleetform runs as ({}); fleetform never manages it, remove the \
                 user from the file",
                account.email
            ));
        }
        if desired.manager.as_ref() == Some(key) {
            problem(
                "is the fleet's manager account; fleetform never manages it, remove the user \
                 from the file"
                    .into(),
            );
        }
        if let Some(other) = have
            .and_then(|u| u.marker.as_deref())
            .filter(|fleet| *fleet != desired.fleet)
        {
            problem(format!(
                "belongs to fleet {other}; remove the user from one of the two fleet files \
                 (and from the other fleet first if it should move here)"
            ));
        }

        for device in &want.devices {
            if !live.devices.contains(device) {
                problem(format!(
                    "device {device} is not visible to {} (check the uniqueId or the account's \
                     device links)",
                    account.email
                ));
            } else if let Some(allowed) = &manager_devices
                && !allowed.contains(device)
            {
                problem(format!(
                    "device {device} is not one of the manager's devices; the fleet must stay \
                     in the billing account (link the device to the manager first)"
                ));
            }
        }
        for group in &want.groups {
            if live.ambiguous_groups.contains(group) {
                problem(format!(
                    "group {group} is ambiguous: several groups on the server have this name; \
                     rename them so the name is unique"
                ));
            } else if !live.groups.contains(group) {
                problem(format!(
                    "group {group} is not visible to {} (check the name or the account's group \
                     links)",
                    account.email
                ));
            }
        }
    }
    problems
}

/// A manager cannot set limits: Traccar forces both to 0 on users a manager creates and refuses
/// to change them on update.
fn check_manager_limits(desired: &Desired, actions: &[Action]) -> Vec<Problem> {
    const MESSAGE: &str = "a manager account cannot change deviceLimit/userLimit; ask an \
                           administrator or remove the field";
    let is_limit = |field: &Field| matches!(field, Field::DeviceLimit | Field::UserLimit);
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

/// What the server would look like after a successful apply of `plan` to `live`. A model of
/// the backend for tests: it changes exactly what each action says, nothing else.
pub fn simulate(live: &Live, plan: &Plan) -> Live {
    let mut next = live.clone();
    for action in &plan.actions {
        let key = UserKey::new(action.email());
        match action {
            Action::CreateUser {
                email,
                fields,
                managed_by,
            } => {
                let mut user = LiveUser {
                    email: email.clone(),
                    administrator: false,
                    marker: Some(plan.fleet.clone()),
                    fields: Default::default(),
                    devices: Default::default(),
                    groups: Default::default(),
                    managed_by: managed_by.iter().map(|m| UserKey::new(m)).collect(),
                };
                if plan.account.role == Role::Manager {
                    user.managed_by.insert(UserKey::new(&plan.account.email));
                }
                for (field, value) in fields {
                    set_field(&mut user, field, value);
                }
                next.users.insert(key, user);
            }
            Action::UpdateUser { changes, adopt, .. } => {
                if let Some(user) = next.users.get_mut(&key) {
                    for change in changes {
                        set_field(user, &change.field, &change.after);
                    }
                    if *adopt {
                        user.marker = Some(plan.fleet.clone());
                    }
                }
            }
            Action::Link { kind, target, .. } | Action::Unlink { kind, target, .. } => {
                if let Some(user) = next.users.get_mut(&key) {
                    let links = match kind {
                        LinkKind::Device => &mut user.devices,
                        LinkKind::Group => &mut user.groups,
                    };
                    if matches!(action, Action::Link { .. }) {
                        links.insert(target.clone());
                    } else {
                        links.remove(target);
                    }
                }
            }
            Action::DisableUser { .. } => {
                if let Some(user) = next.users.get_mut(&key) {
                    user.fields.insert(Field::Disabled, Value::Bool(true));
                }
            }
            Action::DeleteUser { .. } => {
                next.users.remove(&key);
            }
        }
    }
    next
}

/// A null attribute is an absent key; every other value is stored as is.
fn set_field(user: &mut LiveUser, field: &Field, value: &Value) {
    if matches!(field, Field::Attribute(_)) && *value == Value::Null {
        user.fields.remove(field);
    } else {
        user.fields.insert(field.clone(), value.clone());
    }
}
