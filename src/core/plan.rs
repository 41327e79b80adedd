//! plan: pure. Turns desired x live into an ordered `Plan`, checks it against what the acting
//! account may do, summarises it, and simulates it (for tests: simulate(live, plan) == desired).
//! It must not do I/O and must not print: problems are returned as values, every one of them at
//! once, and `main` decides how to show them.
//!
//! CONTRACT (other modules rely on these):
//! - `Plan::new(backend, fleet, account, actions)`: actions in execution order, each assessed
//!   for risk once (`Plan::steps` gives them with their `Assessed`; `Plan::retain` narrows).
//! - `Phase::of(&Action)`; `Plan::phases()` yields consecutive runs of one phase.
//! - `Plan::summary() -> Summary { create, update, delete, disable, link, unlink,
//!   create_object, update_object, delete_object }`.
//! - `plan(&Desired, &Live) -> Result<Plan, Vec<Problem>>`.
//! - `simulate(&Live, &Plan) -> Live`: a disable also records `DISABLED_AT_ATTRIBUTE` at
//!   `Live::now` (and enabling forgets it), as backends with attributes must, so `pruneAfter`
//!   converges.
//!
//! Design: the order of a plan.
//! Phases run in this order: Unlink, Disable, Delete, DeleteObject, Update, CreateObject,
//! UpdateObject, Create, Link. Revocations come before grants, so a run that stops half way
//! (network error, server refusal, Ctrl-C) leaves less access than before, never more: a user
//! may briefly lose a device it keeps, but no one ever briefly gains a device the file takes
//! away. Update comes before Create and Link because an update may tighten a user (readonly,
//! disabled, expirationTime) and must land before the user is given anything new; Create
//! precedes Link because a new user must exist to be linked. Objects (devices, groups) are
//! deleted after the unlinks from them (the server would drop those links with the object
//! anyway), and created before the links and updates that need them: an object update may set
//! a reference to a new object (a device moved into a new group). Object creates and updates
//! run after the users' updates, since moving a device into a group grants its users access.
//! Actions inside a phase are independent of each other (a backend may run them concurrently)
//! and are sorted by user (lower-cased email) or object (kind, key), then link kind and
//! target, so the same inputs always give the same plan, byte for byte. The one exception,
//! object creates and updates that need another of the same phase (a group and its parent),
//! run in waves (`core::objects::waves`), each wave a phase of its own in `Plan::phases`.
//! Deletes of a kind whose deletion deletes the objects that name it (Traccar's saved commands
//! take their notifications with them) run after the object updates (`late_delete`), a
//! second DeleteObject run: a kept notification the plan switches to another command must be
//! switched before the old command goes.
//!
//! Design: refusals. `plan` first collects every problem with the inputs (unknown devices and
//! groups, users fleetform never manages, users of another fleet, what the acting role cannot
//! do) and fails with all of them, each naming the file position and what to do. A plan that
//! is returned can be applied by the acting account as it stands.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::diff::diff;
use crate::core::model::{
    Account, Action, DISABLED_AT_ATTRIBUTE, Desired, Field, LinkKind, Live, LiveUser, Problem,
    Subject, UserKey, Value, linked,
};
use crate::core::model::{Description, RiskClass};
pub use crate::core::phase::Phase;
use crate::core::risk::Risk;

/// The version of the JSON plan format (`format_version`).
pub const FORMAT_VERSION: u32 = 1;

/// A complete plan, computed before the first write.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The backend the plan is for.
    #[serde(skip)]
    pub backend: &'static Description,
    pub fleet: String,
    pub account: Account,
    /// In execution order: grouped by phase, phases in `Phase` order. Narrow a plan with
    /// `retain`, which keeps `risks` in step.
    pub actions: Vec<Action>,
    /// What each action does to access, one per action (`Plan::new` assesses them).
    #[serde(skip)]
    risks: Vec<Assessed>,
}

/// What one action does to access, assessed once when the plan is made (`core::risk`): its
/// label, and for an update the label of each field change, in order. Views only format these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessed {
    pub risk: Risk,
    pub changes: Vec<Risk>,
    /// What the server does on its own because of this action (an object delete's cascade,
    /// `core::cascade`), one line each, for the views. Empty for every other action.
    pub cascades: Vec<String>,
}

impl Assessed {
    fn of(backend: &Description, action: &Action) -> Assessed {
        if let Some((kind, _)) = action.object() {
            let spec = backend.object(kind);
            return Assessed {
                risk: crate::core::risk::object_risk(spec, action),
                changes: match action {
                    Action::UpdateObject { changes, .. } => changes
                        .iter()
                        .map(|c| crate::core::risk::object_change_risk(spec, c))
                        .collect(),
                    _ => Vec::new(),
                },
                cascades: Vec::new(),
            };
        }
        Assessed {
            risk: crate::core::risk::risk(action),
            changes: match action {
                Action::UpdateUser { changes, .. } => {
                    changes.iter().map(crate::core::risk::change_risk).collect()
                }
                _ => Vec::new(),
            },
            cascades: Vec::new(),
        }
    }

    /// The label of the `i`th field change of an update (`None` for anything else).
    pub fn change(&self, i: usize) -> Risk {
        self.changes.get(i).copied().unwrap_or(Risk::None)
    }
}

/// How many actions of each kind a plan holds (`create`, `update`, `delete`, `disable` count
/// users; `*_object` count objects of every kind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub disable: usize,
    pub link: usize,
    pub unlink: usize,
    pub create_object: usize,
    pub update_object: usize,
    pub delete_object: usize,
}

impl Summary {
    /// Whether the plan holds object actions.
    pub fn has_objects(&self) -> bool {
        self.create_object + self.update_object + self.delete_object > 0
    }
}

impl Plan {
    /// A plan of `actions` (in execution order), each assessed for risk.
    pub fn new(
        backend: &'static Description,
        fleet: String,
        account: Account,
        actions: Vec<Action>,
    ) -> Plan {
        let risks = actions.iter().map(|a| Assessed::of(backend, a)).collect();
        Plan {
            backend,
            fleet,
            account,
            actions,
            risks,
        }
    }

    /// Each action with its assessment, in order.
    pub fn steps(&self) -> impl Iterator<Item = (&Action, &Assessed)> {
        debug_assert_eq!(self.actions.len(), self.risks.len(), "risks in step");
        self.actions.iter().zip(&self.risks)
    }

    /// Sets the cascade lines of each action (`core::cascade::of`, or as a saved plan holds
    /// them), in order; missing entries are empty.
    pub fn set_cascades(&mut self, cascades: Vec<Vec<String>>) {
        for (assessed, lines) in self.risks.iter_mut().zip(cascades) {
            assessed.cascades = lines;
        }
    }

    /// Keeps only the actions `keep` accepts (and their assessments).
    pub fn retain(&mut self, keep: impl Fn(&Action) -> bool) {
        let kept: Vec<(Action, Assessed)> = std::mem::take(&mut self.actions)
            .into_iter()
            .zip(std::mem::take(&mut self.risks))
            .filter(|(action, _)| keep(action))
            .collect();
        (self.actions, self.risks) = kept.into_iter().unzip();
    }

    /// Consecutive runs of actions of one phase, in order; object creates and updates that
    /// need another of their phase run in a later run of the same phase (`objects::waves`).
    pub fn phases(&self) -> impl Iterator<Item = (Phase, &[Action])> {
        let waves = crate::core::objects::waves(self.backend, &self.actions);
        let mut runs: Vec<(Phase, &[Action])> = Vec::new();
        let mut start = 0;
        for i in 1..=self.actions.len() {
            let boundary = i == self.actions.len()
                || Phase::of(&self.actions[i]) != Phase::of(&self.actions[start])
                || waves[i] != waves[start];
            if boundary {
                runs.push((Phase::of(&self.actions[start]), &self.actions[start..i]));
                start = i;
            }
        }
        runs.into_iter()
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for action in &self.actions {
            let count = match action {
                Action::CreateUser { .. } => &mut summary.create,
                Action::UpdateUser { .. } => &mut summary.update,
                Action::DeleteUser { .. } => &mut summary.delete,
                Action::DisableUser { .. } => &mut summary.disable,
                Action::Link { .. } | Action::LinkObject { .. } => &mut summary.link,
                Action::Unlink { .. } | Action::UnlinkObject { .. } => &mut summary.unlink,
                Action::CreateObject { .. } => &mut summary.create_object,
                Action::UpdateObject { .. } => &mut summary.update_object,
                Action::DeleteObject { .. } => &mut summary.delete_object,
            };
            *count += 1;
        }
        summary
    }

    /// The key of a user named `raw`, by the backend's rule.
    pub fn key(&self, raw: &str) -> UserKey {
        self.backend.key.key(raw)
    }

    /// Whether the server already matches the file.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Diffs, checks and orders. Fails with every problem found: problems with the account and
/// the manager first, then each user's, users in key order.
pub fn plan(desired: &Desired, live: &Live) -> Result<Plan, Vec<Problem>> {
    let rules = desired.backend.rules;
    let mut problems = check_inputs(desired, live);
    problems.extend(crate::core::objects::check(desired, live));
    problems.extend(rules.check(desired, live));
    let mut actions = diff(desired, live);
    problems.extend(rules.check_actions(desired, live, &actions));
    // Problems about the whole run first, then each user's, users in key order (stable: the
    // engine's own checks of a user before its backend's).
    problems.sort_by_cached_key(|p| p.user.as_deref().map(|user| desired.backend.key.key(user)));
    if !problems.is_empty() {
        return Err(problems);
    }
    sort(desired.backend, &mut actions);
    let cascades = crate::core::cascade::of(desired, live, &actions);
    let mut plan = Plan::new(
        desired.backend,
        desired.fleet.clone(),
        live.account.clone(),
        actions,
    );
    plan.set_cascades(cascades);
    Ok(plan)
}

/// Whether `action` deletes an object of a kind whose deletion deletes the objects that name
/// it (`OnDelete::Delete`, Traccar's saved commands and the notifications that use them): it
/// runs after the object updates, so that an object the plan keeps and switches away from it
/// is not deleted with it. Such kinds have no unique field another new object could need
/// freed first, and a later delete only keeps what every user had before a little longer.
pub(crate) fn late_delete(backend: &Description, action: &Action) -> bool {
    let Action::DeleteObject { kind, .. } = action else {
        return false;
    };
    backend.objects.iter().any(|spec| {
        spec.refs
            .iter()
            .any(|r| r.target == *kind && r.on_delete == crate::core::model::OnDelete::Delete)
    })
}

/// Puts `actions` in execution order (see the design comment).
pub(crate) fn sort(backend: &Description, actions: &mut Vec<Action>) {
    let waves = crate::core::objects::waves(backend, actions);
    let mut keyed: Vec<(OrderKey, Action)> = std::mem::take(actions)
        .into_iter()
        .zip(waves)
        .map(|(action, wave)| (order_key(backend, &action, wave), action))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    actions.extend(keyed.into_iter().map(|(_, a)| a));
}

type OrderKey = (Phase, bool, usize, Subject, Option<LinkKind>, String);

/// Phase, then wave, then user or object, then link kind and target: see the design comment.
/// A late delete (`late_delete`) runs after the object updates, in a delete phase of its own.
fn order_key(backend: &Description, action: &Action, wave: usize) -> OrderKey {
    let (kind, target) = match action {
        Action::Link { kind, target, .. } | Action::Unlink { kind, target, .. } => {
            (Some(*kind), target.clone())
        }
        _ => (None, String::new()),
    };
    let late = late_delete(backend, action);
    (
        if late {
            Phase::UpdateObject
        } else {
            Phase::of(action)
        },
        late,
        wave,
        action.subject(backend),
        kind,
        target,
    )
}

/// Everything wrong with the inputs, independent of the diff.
fn check_inputs(desired: &Desired, live: &Live) -> Vec<Problem> {
    let account = &live.account;
    let me = desired.key(&account.email);
    let mut problems = Vec::new();

    for (key, want) in &desired.users {
        let mut problem = |message: String| {
            problems.push(Problem {
                user: Some(want.email.clone()),
                origin: want.origin.clone(),
                message,
            })
        };

        // One reason per user is enough: the first that applies, most specific first.
        let have: Option<&LiveUser> = live.users.get(key);
        let other_fleet = have
            .and_then(|u| u.marker.as_deref())
            .filter(|fleet| *fleet != desired.fleet);
        if *key == me {
            problem(format!(
                "is the account fleetform runs as ({}); fleetform never manages it, remove the \
                 user from the file",
                account.email
            ));
        } else if desired.manager.as_ref() == Some(key) {
            problem(
                "is the fleet's manager account; fleetform never manages it, remove the user \
                 from the file"
                    .into(),
            );
        } else if let Some(reason) = have.and_then(|u| u.untouchable.as_deref()) {
            problem(reason.to_string());
        } else if let Some(other) = other_fleet {
            problem(format!(
                "belongs to fleet {other}; remove the user from one of the two fleet files \
                 (and from the other fleet first if it should move here)"
            ));
        }

        // A link that exists needs no write, even to an object the account cannot see (an
        // administrator's link to a managed user): keeping it is no refusal. A link to an
        // object the file's sections create or keep is checked with the object.
        for (spec, _) in desired.backend.file_links() {
            let kind = spec.kind;
            let have_links = have.map(|u| linked(&u.links, kind));
            for target in linked(&want.links, kind) {
                if crate::core::objects::in_file(desired, kind, target) {
                    continue;
                }
                if linked(&live.ambiguous, kind).contains(target) {
                    problem(format!(
                        "{kind} {target} is ambiguous: several {kind}s on the server have this \
                         name; rename them so the name is unique"
                    ));
                } else if !linked(&live.targets, kind).contains(target)
                    && !have_links.is_some_and(|l| l.contains(target))
                {
                    problem(format!(
                        "{kind} {target} is not visible to {} (check the {} or the account's \
                         {kind} links)",
                        account.email, spec.target_key
                    ));
                }
            }
        }
    }
    problems
}

/// What the server would look like after a successful apply of `plan` to `live`. A model of
/// the backend for tests: it changes exactly what each action says, nothing else.
pub fn simulate(live: &Live, plan: &Plan) -> Live {
    let mut next = live.clone();
    for action in &plan.actions {
        if action.object().is_some() {
            crate::core::objects::simulate(&mut next, plan.backend, &plan.fleet, action);
            continue;
        }
        let key = plan.key(action.email());
        match action {
            Action::CreateUser {
                email,
                fields,
                managed_by,
            } => {
                let mut user = LiveUser {
                    email: email.clone(),
                    untouchable: None,
                    marker: Some(plan.fleet.clone()),
                    fields: Default::default(),
                    links: Default::default(),
                    managed_by: managed_by.iter().map(|m| plan.key(m)).collect(),
                };
                if plan.backend.rules.creator_manages(live) {
                    user.managed_by.insert(plan.key(&plan.account.email));
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
                        // A backend forgets when fleetform disabled a user it enables again.
                        if change.field.spec().is_some_and(|s| {
                            matches!(s.risk, RiskClass::Disable | RiskClass::Enable)
                        }) && !plan.backend.is_disabled_value(&change.field, &change.after)
                        {
                            user.fields.remove(&disabled_at_field());
                        }
                    }
                    if *adopt {
                        user.marker = Some(plan.fleet.clone());
                    }
                }
            }
            Action::Link { kind, target, .. } | Action::Unlink { kind, target, .. } => {
                if let Some(user) = next.users.get_mut(&key) {
                    let is_link = matches!(action, Action::Link { .. });
                    let owner = plan.backend.link(*kind).is_some_and(|spec| spec.owner);
                    if owner {
                        let manager = plan.key(target);
                        if is_link {
                            user.managed_by.insert(manager);
                        } else {
                            user.managed_by.remove(&manager);
                        }
                    } else {
                        let links = user.links.entry(*kind).or_default();
                        if is_link {
                            links.insert(target.clone());
                        } else {
                            links.remove(target);
                        }
                        // A kind without links is absent, as a backend reads it.
                        if links.is_empty() {
                            user.links.remove(kind);
                        }
                    }
                }
            }
            Action::DisableUser { .. } => {
                if let Some(user) = next.users.get_mut(&key)
                    && let Some(disabled) = plan.backend.disable_field()
                {
                    let (value, _) = Description::disabled_and_enabled(&disabled);
                    user.fields.insert(disabled, value);
                    // What a backend must do where users have attributes: record when, for
                    // `pruneAfter` (a backend without them has nowhere to, and no `pruneAfter`).
                    if plan.backend.capabilities.attributes {
                        user.fields
                            .insert(disabled_at_field(), disabled_at_value(live.now));
                    }
                }
            }
            Action::DeleteUser { .. } => {
                next.users.remove(&key);
            }
            Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. }
            | Action::LinkObject { .. }
            | Action::UnlinkObject { .. } => {}
        }
    }
    next
}

fn disabled_at_field() -> Field {
    Field::Attribute(DISABLED_AT_ATTRIBUTE.to_string())
}

/// The value a backend writes into `DISABLED_AT_ATTRIBUTE` when it disables a user at `now`:
/// RFC 3339 in UTC at second precision, e.g. `"2026-11-01T12:00:00Z"`.
pub fn disabled_at_value(now: DateTime<Utc>) -> Value {
    Value::Text(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A null attribute is an absent key; every other value is stored as is.
fn set_field(user: &mut LiveUser, field: &Field, value: &Value) {
    if matches!(field, Field::Attribute(_)) && *value == Value::Null {
        user.fields.remove(field);
    } else {
        user.fields.insert(field.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    //! Table-driven tests for problems, ordering and summary (peribolos style), then property
    //! tests for the algebra: plan, simulate, plan again.

    use super::*;
    use crate::core::diff::tests::{BOSS, FLEET, ME, desired, have, live, set, want, with_field};
    use crate::core::model::{DesiredUser, Prune};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, linked, tf};

    fn at(mut user: DesiredUser, origin: &str) -> DesiredUser {
        user.origin = Some(origin.into());
        user
    }

    fn messages(result: Result<Plan, Vec<Problem>>) -> Vec<String> {
        match result {
            Ok(plan) => panic!("expected problems, got {plan:?}"),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn problem_display_names_origin_user_and_what_to_do() {
        let mut user = at(want("max@x.at"), "fleet.yaml:12:5");
        user.links.insert(DEVICE, set(&["BT-1"]));
        let mut live = live("admin", vec![]);
        live.account.email = "admin@x".into();
        assert_eq!(
            messages(plan(&desired(vec![user]), &live)),
            vec![
                "fleet.yaml:12:5: user max@x.at: device BT-1 is not visible to admin@x (check \
                 the uniqueId or the account's device links)"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut admin = have("root@x.test", None);
        admin.untouchable = (true).then(|| crate::testing::ADMINISTRATOR.to_string());
        let mut bad_links = at(want("links@x.test"), "f.yaml:1:3");
        bad_links.links.insert(DEVICE, set(&["D1", "NOPE"]));
        bad_links
            .links
            .insert(GROUP, set(&["G1", "Twice", "Nowhere"]));
        let mut d = desired(vec![
            bad_links,
            at(want("root@x.test"), "f.yaml:2:3"),
            at(want(ME), "f.yaml:3:3"),
            at(want(BOSS), "f.yaml:4:3"),
            at(want("theirs@x.test"), "f.yaml:5:3"),
            at(want("fine@x.test"), "f.yaml:6:3"),
        ]);
        d.manager = Some(UserKey::new(BOSS));
        let live = live(
            "admin",
            vec![admin, have("theirs@x.test", Some("other-fleet"))],
        );
        let got = messages(plan(&d, &live));
        let expected = [
            "the manager account fleet@acme.example does not exist on the server",
            "f.yaml:5:3: user theirs@x.test: belongs to fleet other-fleet",
            "f.yaml:1:3: user links@x.test: device NOPE is not visible to Admin@Acme.example",
            "f.yaml:1:3: user links@x.test: group Nowhere is not visible",
            "f.yaml:1:3: user links@x.test: group Twice is ambiguous",
            "f.yaml:2:3: user root@x.test: is an administrator on the server",
            "f.yaml:3:3: user Admin@Acme.example: is the account fleetform runs as",
            "f.yaml:4:3: user fleet@acme.example: is the fleet's manager account",
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for prefix in expected {
            assert!(
                got.iter().any(|m| m.starts_with(prefix)),
                "missing {prefix:?} in {got:#?}"
            );
        }
        assert!(
            got.iter()
                .all(|m| m.contains("; ") || m.contains(" (check ")),
            "say what to do: {got:#?}"
        );
    }

    #[test]
    fn a_plain_user_account_is_one_problem() {
        let d = desired(vec![want("a@x.test"), want("b@x.test")]);
        let got = messages(plan(&d, &live("user", vec![])));
        assert_eq!(
            got,
            vec![
                "the account Admin@Acme.example is a plain user; run fleetform as an \
                 administrator or a manager"
            ]
        );
    }

    #[test]
    fn admin_with_manager_keeps_the_fleet_in_the_billing_account() {
        let mut user = want("a@x.test");
        user.links.insert(DEVICE, set(&["D1", "D2"]));
        let mut d = desired(vec![user]);
        d.manager = Some(UserKey::new(BOSS));
        let mut live = live("admin", vec![have(BOSS, None)]);
        live.owner_targets.insert(DEVICE, set(&["D1"]));
        assert_eq!(
            messages(plan(&d, &live)),
            vec![
                "user a@x.test: device D2 is not one of the manager's devices; the fleet must \
                 stay in the billing account (link the device to the manager first)"
            ]
        );
        live.owner_targets.insert(DEVICE, set(&["D1", "D2"]));
        assert!(plan(&d, &live).is_ok());
    }

    #[test]
    fn manager_account_restrictions() {
        let limit = "a manager account cannot set deviceLimit/userLimit (the server refuses \
                     it: Administrator access required); ask an administrator or remove the \
                     field";
        let mut marked = have("old@x.test", Some(FLEET));
        marked.fields.insert(tf("userLimit"), Value::Int(0));
        marked.fields.insert(tf("deviceLimit"), Value::Int(3));
        // (name, desired users, problems expected)
        let table: Vec<(&str, Vec<DesiredUser>, Vec<String>)> = vec![
            (
                "create with limits 0: allowed (what the server requires of a manager)",
                vec![{
                    let u = with_field(want("n@x.test"), tf("deviceLimit"), Value::Int(0));
                    with_field(u, tf("userLimit"), Value::Int(0))
                }],
                vec![],
            ),
            (
                "create with a non-zero limit",
                vec![with_field(
                    want("n@x.test"),
                    tf("deviceLimit"),
                    Value::Int(5),
                )],
                vec![format!("user n@x.test: deviceLimit 5: {limit}")],
            ),
            (
                "update that changes a limit",
                vec![with_field(
                    want("old@x.test"),
                    tf("userLimit"),
                    Value::Int(2),
                )],
                vec![format!("user old@x.test: userLimit 0 -> 2: {limit}")],
            ),
            (
                "update that leaves the limits as they are",
                vec![{
                    let u = with_field(want("old@x.test"), tf("deviceLimit"), Value::Int(3));
                    with_field(u, tf("name"), Value::Text("Old".into()))
                }],
                vec![],
            ),
        ];
        for (name, users, expected) in table {
            let result = plan(&desired(users), &live("manager", vec![marked.clone()]));
            let got = match result {
                Ok(_) => vec![],
                Err(problems) => problems.iter().map(ToString::to_string).collect(),
            };
            assert_eq!(got, expected, "case: {name}");
        }
    }

    #[test]
    fn phases_run_revocations_first_and_sort_inside_a_phase() {
        let mut b = have("B@x.test", Some(FLEET));
        b.links.insert(DEVICE, set(&["D1", "D3"]));
        let mut a = have("a@x.test", None);
        a.links.insert(GROUP, set(&["G1"]));
        let mut d = desired(vec![
            {
                let mut u = with_field(want("b@x.test"), tf("name"), Value::Text("B".into()));
                u.links.insert(DEVICE, set(&["D2"]));
                u
            },
            {
                let mut u = want("a@x.test");
                u.links.insert(DEVICE, set(&["D2"]));
                u
            },
            {
                let mut u = want("C@x.test");
                u.links.insert(GROUP, set(&["G2"]));
                u.links.insert(DEVICE, set(&["D1"]));
                u
            },
        ]);
        d.prune = Prune::Delete;
        let live = live(
            "admin",
            vec![
                b,
                a,
                have("z@x.test", Some(FLEET)),
                have("y@x.test", Some(FLEET)),
            ],
        );
        let plan = plan(&d, &live).expect("plan");
        let got: Vec<String> = plan
            .actions
            .iter()
            .map(|a| match a {
                Action::Link {
                    email,
                    kind,
                    target,
                    ..
                } => format!("link {email} {kind} {target}"),
                Action::Unlink {
                    email,
                    kind,
                    target,
                } => {
                    format!("unlink {email} {kind} {target}")
                }
                other => format!("{} {}", Phase::of(other), other.email()),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "unlink a@x.test group G1",
                "unlink B@x.test device D1",
                "unlink B@x.test device D3",
                "delete y@x.test",
                "delete z@x.test",
                "update a@x.test",
                "update B@x.test",
                "create C@x.test",
                "link a@x.test device D2",
                "link B@x.test device D2",
                "link C@x.test device D1",
                "link C@x.test group G2",
            ]
        );
        let phases: Vec<Phase> = plan.phases().map(|(phase, _)| phase).collect();
        assert_eq!(
            phases,
            vec![
                Phase::Unlink,
                Phase::Delete,
                Phase::Update,
                Phase::Create,
                Phase::Link
            ]
        );
        assert_eq!(
            plan.summary(),
            Summary {
                create: 1,
                update: 2,
                delete: 2,
                disable: 0,
                link: 4,
                unlink: 3,
                ..Summary::default()
            }
        );
        assert!(!plan.is_empty());
    }

    #[test]
    fn simulate_then_plan_again_is_empty() {
        let mut d = desired(vec![{
            let mut u = with_field(want("New@x.test"), tf("name"), Value::Text("N".into()));
            u.links.insert(DEVICE, set(&["D1"]));
            u
        }]);
        d.prune = Prune::Disable;
        let live = live("admin", vec![have("old@x.test", Some(FLEET))]);
        let first = plan(&d, &live).expect("plan");
        assert_eq!(first.summary().disable, 1);
        let after = simulate(&live, &first);
        let created = &after.users[&UserKey::new("new@x.test")];
        assert_eq!(created.marker.as_deref(), Some(FLEET));
        assert_eq!(*linked(&created.links, DEVICE), set(&["D1"]));
        assert_eq!(
            after.users[&UserKey::new("old@x.test")].fields[&tf("disabled")],
            Value::Bool(true)
        );
        let again = plan(&d, &after).expect("plan again");
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(again.summary(), Summary::default());
    }

    mod props {
        use std::collections::{BTreeMap, BTreeSet};

        use chrono::{TimeZone, Utc};
        use proptest::prelude::*;
        use proptest::sample::select;

        use super::super::*;
        use crate::core::diff::same_value;
        use crate::core::diff::tests::{BOSS, FLEET, ME, account};
        use crate::core::model::{DesiredUser, Prune};
        use crate::testing::{DEVICE, GROUP, Links, TRACCAR, linked, links_of, tf};

        /// The desired pool includes the acting account and the manager, which the fix-up
        /// drops again, so generation also exercises "never touched".
        const EMAILS: [&str; 7] = [
            "a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test", ME, BOSS,
        ];
        const DEVICES: [&str; 4] = ["D1", "D2", "D3", "D4"];
        const GROUPS: [&str; 3] = ["G1", "G2", "Twice"];

        fn email() -> impl Strategy<Value = String> {
            (select(&EMAILS[..]), any::<bool>()).prop_map(|(e, upper)| {
                if upper {
                    e.to_uppercase()
                } else {
                    e.to_string()
                }
            })
        }

        fn field() -> impl Strategy<Value = Field> {
            select(vec![
                tf("name"),
                tf("phone"),
                tf("readonly"),
                tf("disabled"),
                tf("deviceLimit"),
                tf("userLimit"),
                tf("expirationTime"),
                Field::Attribute("k1".into()),
                Field::Attribute("k2".into()),
            ])
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (0i64..3).prop_map(Value::Int),
                select(vec!["", "x", "y"]).prop_map(|s| Value::Text(s.into())),
                Just(Value::time(
                    Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
                )),
            ]
        }

        fn fields() -> impl Strategy<Value = BTreeMap<Field, Value>> {
            prop::collection::btree_map(field(), value(), 0..4)
        }

        fn names(pool: &'static [&'static str]) -> impl Strategy<Value = BTreeSet<String>> {
            prop::collection::btree_set(select(pool).prop_map(str::to_string), 0..=pool.len())
        }

        fn live_user() -> impl Strategy<Value = LiveUser> {
            (
                email(),
                prop::bool::weighted(0.15),
                select(vec![None, Some(FLEET), Some("other")]),
                fields(),
                names(&DEVICES),
                names(&GROUPS),
                select(vec![
                    None,
                    Some("2026-01-01T00:00:00Z"),
                    Some("2026-10-31T00:00:00Z"),
                    Some("garbage"),
                ]),
            )
                .prop_map(
                    |(email, administrator, marker, mut fields, devices, groups, disabled_at)| {
                        if let Some(at) = disabled_at {
                            fields.insert(disabled_at_field(), Value::Text(at.into()));
                        }
                        LiveUser {
                            email,
                            untouchable: administrator
                                .then(|| crate::testing::ADMINISTRATOR.to_string()),
                            marker: marker.map(str::to_string),
                            fields,
                            links: links_of(devices, groups),
                            managed_by: BTreeSet::new(),
                        }
                    },
                )
        }

        fn desired_user() -> impl Strategy<Value = DesiredUser> {
            (email(), fields(), names(&DEVICES), names(&GROUPS)).prop_map(
                |(email, fields, devices, groups)| DesiredUser {
                    email,
                    fields,
                    links: links_of(devices, groups),
                    origin: None,
                },
            )
        }

        /// A random desired and live pair that `plan` accepts: the generators are free, the
        /// fix-up removes exactly what `plan` refuses.
        fn case() -> impl Strategy<Value = (Desired, Live)> {
            (
                select(vec!["admin", "manager"]),
                (
                    select(vec![Prune::Delete, Prune::Disable, Prune::Keep]),
                    select(vec![None, Some(chrono::TimeDelta::days(30))]),
                ),
                any::<bool>(),
                prop::collection::vec(live_user(), 0..7),
                prop::collection::vec(desired_user(), 0..6),
                names(&DEVICES),
                names(&GROUPS),
                names(&DEVICES),
                any::<bool>(),
            )
                .prop_map(
                    |(
                        role,
                        (prune, prune_after),
                        has_manager,
                        live_users,
                        desired_users,
                        devices,
                        groups,
                        manager_devices,
                        twice_ambiguous,
                    )| {
                        fix_up(
                            role,
                            prune,
                            prune_after,
                            has_manager,
                            live_users,
                            desired_users,
                            devices,
                            groups,
                            manager_devices,
                            twice_ambiguous,
                        )
                    },
                )
        }

        #[allow(
            clippy::too_many_arguments,
            reason = "the tuple of one proptest strategy"
        )]
        fn fix_up(
            role: &str,
            prune: Prune,
            prune_after: Option<chrono::TimeDelta>,
            has_manager: bool,
            live_users: Vec<LiveUser>,
            desired_users: Vec<DesiredUser>,
            devices: BTreeSet<String>,
            groups: BTreeSet<String>,
            manager_devices: BTreeSet<String>,
            twice_ambiguous: bool,
        ) -> (Desired, Live) {
            let mut users: BTreeMap<UserKey, LiveUser> = live_users
                .into_iter()
                .map(|u| (UserKey::new(&u.email), u))
                .collect();
            let me = users.entry(UserKey::new(ME)).or_insert_with(|| LiveUser {
                email: ME.into(),
                untouchable: None,
                marker: None,
                fields: BTreeMap::new(),
                links: Default::default(),
                managed_by: BTreeSet::new(),
            });
            me.untouchable = (role == "admin").then(|| crate::testing::ADMINISTRATOR.to_string());
            // The acting account's and the manager's own limits and expiration are rules of
            // their own (tested in rules.rs): unlimited here.
            me.fields.remove(&tf("userLimit"));
            me.fields.remove(&tf("expirationTime"));
            if let Some(boss) = users.get_mut(&UserKey::new(BOSS)) {
                boss.fields.remove(&tf("userLimit"));
            }
            let manager = has_manager.then(|| UserKey::new(BOSS));
            let manager_devices = match (&manager, role) {
                (Some(key), "admin") => {
                    users.entry(key.clone()).or_insert_with(|| LiveUser {
                        email: BOSS.into(),
                        untouchable: None,
                        marker: None,
                        fields: BTreeMap::new(),
                        links: links_of(manager_devices.clone(), BTreeSet::new()),
                        managed_by: BTreeSet::new(),
                    });
                    Some(manager_devices)
                }
                _ => None,
            };
            let ambiguous: BTreeSet<String> = if twice_ambiguous {
                ["Twice".to_string()].into()
            } else {
                BTreeSet::new()
            };
            let live = Live {
                account: Account {
                    role: role.into(),
                    ..account(role)
                },
                users,
                targets: Links::from([(DEVICE, devices), (GROUP, groups)]),
                ambiguous: Links::from([(GROUP, ambiguous)]),
                owner_targets: manager_devices
                    .map(|devices| Links::from([(DEVICE, devices)]))
                    .unwrap_or_default(),
                now: Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
                objects: Default::default(),
                unnamed: Default::default(),
                choices: Default::default(),
            };

            let mut desired = Desired {
                backend: TRACCAR,
                fleet: FLEET.into(),
                manager: manager.clone(),
                prune,
                prune_after,
                safety: Default::default(),
                unmanaged: Default::default(),
                users: BTreeMap::new(),
                objects: Default::default(),
                field_origins: Default::default(),
            };
            for mut user in desired_users {
                let key = UserKey::new(&user.email);
                let refused = live.users.get(&key).is_some_and(|u| {
                    u.untouchable.is_some() || u.marker.as_deref().is_some_and(|m| m != FLEET)
                }) || key == UserKey::new(ME)
                    || Some(&key) == manager.as_ref();
                if refused {
                    continue;
                }
                let mut devices = linked(&user.links, DEVICE).clone();
                let mut groups = linked(&user.links, GROUP).clone();
                devices.retain(|d| {
                    linked(&live.targets, DEVICE).contains(d)
                        && live
                            .owner_targets
                            .get(&DEVICE)
                            .is_none_or(|m| m.contains(d))
                });
                groups.retain(|g| {
                    linked(&live.targets, GROUP).contains(g)
                        && !linked(&live.ambiguous, GROUP).contains(g)
                });
                // Links to objects the acting manager cannot see are refused when the plan
                // would remove them (a rule of their own, tested in rules.rs): keep the
                // generated cases to what a manager can change.
                if role == "manager"
                    && let Some(have) = live.users.get(&key)
                {
                    devices.extend(
                        linked(&have.links, DEVICE)
                            .difference(linked(&live.targets, DEVICE))
                            .cloned(),
                    );
                    groups.extend(
                        linked(&have.links, GROUP)
                            .difference(linked(&live.targets, GROUP))
                            .filter(|g| !linked(&live.ambiguous, GROUP).contains(*g))
                            .cloned(),
                    );
                }
                user.links = links_of(devices, groups);
                if role == "manager" {
                    user.fields
                        .retain(|f, _| !f.is("deviceLimit") && !f.is("userLimit"));
                }
                desired.users.insert(key, user);
            }
            (desired, live)
        }

        fn pruned(desired: &Desired, live: &Live, key: &UserKey, user: &LiveUser) -> bool {
            !desired.users.contains_key(key)
                && user.marker.as_deref() == Some(FLEET)
                && !crate::core::diff::untouchable(desired, live).contains(key)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn plan_converges_and_stays_in_scope((desired, live) in case()) {
                let first = plan(&desired, &live);
                prop_assert!(first.is_ok(), "{:?}", first.err());
                let Ok(first) = first else { unreachable!() };

                // Ordered: strictly increasing (phase, wave, subject, kind, target).
                let waves = crate::core::objects::waves(desired.backend, &first.actions);
                let keys: Vec<OrderKey> = first
                    .actions
                    .iter()
                    .zip(&waves)
                    .map(|(a, w)| order_key(desired.backend, a, *w))
                    .collect();
                for (pair, actions) in keys.windows(2).zip(first.actions.windows(2)) {
                    prop_assert!(pair[0] < pair[1], "{actions:?}");
                }

                // No action is a no-op: each one changes the simulated server.
                let mut state = live.clone();
                for action in &first.actions {
                    let step = Plan::new(
                        first.backend,
                        first.fleet.clone(),
                        first.account.clone(),
                        vec![action.clone()],
                    );
                    let next = simulate(&state, &step);
                    prop_assert_ne!(&next, &state, "no-op: {:?}", action);
                    state = next;
                }
                let after = simulate(&live, &first);
                prop_assert_eq!(&state, &after);

                // Planning again finds nothing to do.
                let again = plan(&desired, &after);
                prop_assert!(again.as_ref().is_ok_and(Plan::is_empty), "{:?}", again);

                // The managed scope reached desired.
                for (key, want) in &desired.users {
                    let got = after.users.get(key);
                    prop_assert!(got.is_some(), "missing {}", key);
                    let Some(got) = got else { unreachable!() };
                    prop_assert_eq!(got.marker.as_deref(), Some(FLEET));
                    prop_assert_eq!(linked(&got.links, DEVICE), linked(&want.links, DEVICE));
                    prop_assert_eq!(linked(&got.links, GROUP), linked(&want.links, GROUP));
                    for (field, value) in &want.fields {
                        prop_assert!(same_value(field, value, got.fields.get(field)), "{}", field);
                    }
                }

                // Pruned users follow `prune`; everyone else is exactly as before.
                for (key, before) in &live.users {
                    if desired.users.contains_key(key) {
                        continue;
                    }
                    let now = after.users.get(key);
                    if pruned(&desired, &live, key, before) {
                        match desired.prune {
                            Prune::Delete => prop_assert!(now.is_none()),
                            Prune::Disable | Prune::Deactivate => {
                                let was_disabled =
                                    before.fields.get(&tf("disabled")) == Some(&Value::Bool(true));
                                let expired = desired.prune_after.is_some_and(|grace| {
                                    crate::core::diff::disabled_at(before)
                                        .is_some_and(|at| at + grace <= live.now)
                                });
                                if was_disabled && expired {
                                    prop_assert!(now.is_none());
                                } else if was_disabled {
                                    prop_assert_eq!(now, Some(before));
                                } else {
                                    let mut expected = before.clone();
                                    expected.fields.insert(tf("disabled"), Value::Bool(true));
                                    expected
                                        .fields
                                        .insert(disabled_at_field(), disabled_at_value(live.now));
                                    prop_assert_eq!(now, Some(&expected));
                                }
                            }
                            Prune::Keep => prop_assert_eq!(now, Some(before)),
                        }
                    } else {
                        prop_assert_eq!(now, Some(before));
                    }
                }
                // Nothing appears that is not in the file.
                for key in after.users.keys() {
                    prop_assert!(live.users.contains_key(key) || desired.users.contains_key(key));
                }
            }
        }
    }
}
