//! Property test of the whole loop against the sandbox (5.12, 6.9 and 6.14 modes), with either
//! credential: the administrator (with or without `manager:` in the file) or the billing account
//! itself (the manager's own credential, no `manager:`). For random live states (nested groups with a device
//! in the child group, a device and a group outside the billing account linked by an
//! administrator, users the manager does and does not manage, a manager with a random user limit
//! close to the number of users it manages, a device limit and an expiration, users with
//! expirations before, at and after the manager's) and random fleet files (expirations and device
//! limits among them), exactly one of these holds:
//!
//! - the plan is refused at plan time with no write, and its problems are exactly those an
//!   oracle in this file computes from the case by Traccar's rules (each rule's message, for
//!   each user it concerns, with the user-limit arithmetic), no more and no fewer;
//! - one apply yields exactly the file's effective access for every managed user (the devices it
//!   sees, directly or through its groups and their children), the file's fields, this fleet's
//!   marker and the billing account's management, prunes as the file says, the re-plan is empty,
//!   no action is a no-op, nothing outside the managed scope changes, no request is refused by
//!   the sandbox, and at no point between requests does a user have more effective access than
//!   it had before or than the file grants (checked inside the sandbox before every request it
//!   receives).
//!
//! The properties every backend shares (no no-op action; after the apply the file's fields, links
//! and marker, prune as the file says, nothing else changed, an empty re-plan) are checked by
//! `crate::property`, the same code the telematics property test runs
//! (`telematics::convergence`); the rest of this file is Traccar's.
//!
//! One case is generated deliberately rather than by accident: as the manager, a file user whose
//! email a user outside the manager's view already holds. No read tells a manager that the email
//! is taken, so the plan cannot refuse it; the test checks what fleetform promises instead: that
//! create alone fails, with a message saying why (not the database's), its links are skipped,
//! everything else converges as above, and the re-plan holds only that user's create and links.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fleetform::apply;
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::{self, DEMO_ADMIN, DEMO_MANAGER};
use fleetform::config;
use fleetform::core::model::{Action, UserKey};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value as Json, json};
use traccar_sandbox::{
    FaultHook, LoggedRequest, ObjectType, Sandbox, SandboxConfig, Store, TraccarVersion,
};

/// Every user's effective access, by lower-cased email: the uniqueIds of the devices it sees.
pub type Effective = BTreeMap<String, BTreeSet<String>>;

/// Every user's effective access in the store, by lower-cased email: the uniqueIds of the
/// devices it may see, linked directly or in a linked group or any group below one.
pub fn effective(store: &Store) -> Effective {
    let mut out = BTreeMap::new();
    for user in store.users() {
        let mut groups = store.linked(ObjectType::User, user.id, ObjectType::Group);
        loop {
            let below: Vec<i64> = store
                .groups()
                .filter(|g| groups.contains(&g.group_id) && !groups.contains(&g.id))
                .map(|g| g.id)
                .collect();
            if below.is_empty() {
                break;
            }
            groups.extend(below);
        }
        let direct = store.linked(ObjectType::User, user.id, ObjectType::Device);
        let devices: BTreeSet<String> = store
            .devices()
            .filter(|d| direct.contains(&d.id) || groups.contains(&d.group_id))
            .filter_map(|d| d.unique_id.clone())
            .collect();
        let email = user.email.clone().unwrap_or_default().to_lowercase();
        out.insert(email, devices);
    }
    out
}

const USERS: [&str; 4] = [
    "ann@fleet.test",
    "Bob@fleet.test",
    "cid@fleet.test",
    "dee@fleet.test",
];
const OUTSIDER: &str = "outsider@fleet.test";
/// The devices a file may list: the billing account's (BT-000104 is in `Vienna-North`), then
/// one an administrator created outside it.
const DEVICES: [&str; 6] = [
    "BT-000101",
    "BT-000102",
    "BT-000104",
    "BT-000107",
    "BT-000108",
    OUT_DEVICE,
];
/// Index of `OUT_DEVICE` in `DEVICES`.
const OUT: usize = 5;
/// `Vienna-North` is a child of `Vienna`; `Outside` is not the manager's.
const GROUPS: [&str; 4] = ["Vienna", "Graz", "Vienna-North", "Outside"];
/// Index of `Outside` in `GROUPS`.
const OUTSIDE: usize = 3;
/// A device an administrator created: not one of the billing account's, in no group.
const OUT_DEVICE: &str = "OUT-1";
/// A device in the group `Outside`.
const OUT_GROUP_DEVICE: &str = "OUT-2";

/// The group each device is in after the setup (none for `OUT-1`).
fn group_of(device: &str) -> Option<&'static str> {
    match device {
        "BT-000104" => Some("Vienna-North"),
        OUT_GROUP_DEVICE => Some("Outside"),
        OUT_DEVICE => None,
        d if d < "BT-000107" => Some("Vienna"),
        _ => Some("Graz"),
    }
}

/// Every device on the server after the setup.
fn all_devices() -> Vec<String> {
    let mut out: Vec<String> = (101..=112).map(|n| format!("BT-000{n}")).collect();
    out.push(OUT_DEVICE.into());
    out.push(OUT_GROUP_DEVICE.into());
    out
}

/// The groups a user linked to `groups` sees: those and their children (`Vienna-North`).
fn closure(groups: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = groups.into_iter().collect();
    if out.contains("Vienna") {
        out.insert("Vienna-North".into());
    }
    out
}

/// The devices a user with these direct links sees.
fn effective_of(devices: &BTreeSet<String>, groups: &BTreeSet<String>) -> BTreeSet<String> {
    let seen = closure(groups.iter().cloned());
    all_devices()
        .into_iter()
        .filter(|d| devices.contains(d) || group_of(d).is_some_and(|g| seen.contains(g)))
        .collect()
}

/// Which account fleetform runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The administrator, no `manager:` in the file.
    Admin,
    /// The administrator, with `manager: fleet@acme.example`.
    AdminForManager,
    /// The billing account `fleet@acme.example` itself; no `manager:`.
    Manager,
}

/// An expiration date: before, at or after the manager's own (`Ceiling`), all in the future.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Day {
    Earlier,
    Ceiling,
    Later,
}

impl Day {
    /// As the fleet file and fleetform's messages spell it.
    fn rfc3339(self) -> &'static str {
        match self {
            Day::Earlier => "2080-01-01T00:00:00Z",
            Day::Ceiling => "2090-01-01T00:00:00Z",
            Day::Later => "2095-01-01T00:00:00Z",
        }
    }

    /// As Traccar's JSON spells it.
    fn wire(self) -> &'static str {
        match self {
            Day::Earlier => "2080-01-01T00:00:00.000+00:00",
            Day::Ceiling => "2090-01-01T00:00:00.000+00:00",
            Day::Later => "2095-01-01T00:00:00.000+00:00",
        }
    }
}

/// The manager's user limit, chosen relative to the number of users it manages before and
/// after the run, so that the plan's creates, links and deletes cross it.
#[derive(Clone, Copy, Debug)]
enum LimitChoice {
    Unlimited,
    /// 0: not a manager (as a credential, a plain user).
    Zero,
    /// The number it manages now plus this (at least 1).
    Now(i64),
    /// The number it would manage after the plan plus this (at least 1): at 0, a plan whose
    /// creates ran before its deletes would be refused half-way by the server.
    After(i64),
}

#[derive(Clone, Debug)]
struct ManagerSpec {
    /// `userLimit` (-1: unlimited, 0: not a manager).
    user_limit: i64,
    device_limit: i64,
    /// Its own `expirationTime`: `None` or `Some(Day::Ceiling)`.
    expiration: Option<Day>,
}

#[derive(Clone, Debug)]
struct LiveUserSpec {
    /// None: unmarked; Some(true): this fleet; Some(false): another fleet.
    marker: Option<bool>,
    /// The billing account manages it (as the manager credential: it sees it).
    managed: bool,
    readonly: bool,
    device_readonly: bool,
    disabled: bool,
    /// Disabled by fleetform (`fleetformDisabledAt` set): enabled again when in the file.
    disabled_by_us: bool,
    device_limit: i64,
    expiration: Option<Day>,
    devices: BTreeSet<usize>,
    groups: BTreeSet<usize>,
}

/// `expirationTime` in the file: `null` or a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    Never,
    At(Day),
}

#[derive(Clone, Debug)]
struct DesiredUserSpec {
    name: Option<String>,
    readonly: Option<bool>,
    device_readonly: Option<bool>,
    device_limit: Option<i64>,
    expiration: Option<Expiry>,
    devices: BTreeSet<usize>,
    groups: BTreeSet<usize>,
}

#[derive(Clone, Debug)]
struct Case {
    mode: Mode,
    manager: ManagerSpec,
    live: Vec<Option<LiveUserSpec>>,
    outsider_devices: BTreeSet<usize>,
    outsider_managed: bool,
    desired: Vec<Option<DesiredUserSpec>>,
    /// As the manager: this file user exists outside the manager's view (its email is taken).
    hidden: Option<usize>,
    prune: &'static str,
    /// 5.12 and 6.9 cannot list group links (they are inferred), 6.14 can as administrator.
    version: TraccarVersion,
}

/// A subset of the first `n` indices, and index `extra` with probability `p`.
fn links(n: usize, extra: usize, p: f64) -> impl Strategy<Value = BTreeSet<usize>> {
    (
        proptest::collection::btree_set(0..n, 0..=n),
        prop::bool::weighted(p),
    )
        .prop_map(move |(mut set, with)| {
            if with {
                set.insert(extra);
            }
            set
        })
}

fn day() -> impl Strategy<Value = Day> {
    select(vec![Day::Earlier, Day::Ceiling, Day::Later])
}

fn live_user() -> impl Strategy<Value = LiveUserSpec> {
    (
        (
            select(vec![None, Some(true), Some(false)]),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.5),
        ),
        (
            select(vec![0i64, -1, 3]),
            proptest::option::of(day()),
            links(OUT, OUT, 0.15),
            links(OUTSIDE, OUTSIDE, 0.15),
        ),
    )
        .prop_map(
            |(
                (marker, managed, readonly, device_readonly, disabled, by_us),
                (device_limit, expiration, devices, groups),
            )| LiveUserSpec {
                marker,
                managed,
                readonly,
                device_readonly,
                disabled,
                disabled_by_us: disabled && by_us,
                device_limit,
                expiration,
                devices,
                groups,
            },
        )
}

/// A file user, and whether its link to `OUT-1` and to `Outside` differs from what the live
/// user has (as the manager) or is there at all (as the administrator for a manager); resolved
/// in `case()`, which knows the mode and the live user.
fn desired_user() -> impl Strategy<Value = (DesiredUserSpec, bool, bool)> {
    (
        (
            proptest::option::of(select(vec!["Alpha".to_string(), "Beta".to_string()])),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::weighted(0.15, select(vec![0i64, -1, 3])),
            proptest::option::weighted(
                0.4,
                prop_oneof![Just(Expiry::Never), day().prop_map(Expiry::At)],
            ),
        ),
        (
            proptest::collection::btree_set(0..OUT, 0..=OUT),
            proptest::collection::btree_set(0..OUTSIDE, 0..=OUTSIDE),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
        ),
    )
        .prop_map(
            |(
                (name, readonly, device_readonly, device_limit, expiration),
                (devices, groups, flip_device, flip_group),
            )| {
                (
                    DesiredUserSpec {
                        name,
                        readonly,
                        device_readonly,
                        device_limit,
                        expiration,
                        devices,
                        groups,
                    },
                    flip_device,
                    flip_group,
                )
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            prop_oneof![
                1 => Just(Mode::Admin),
                1 => Just(Mode::AdminForManager),
                2 => Just(Mode::Manager),
            ],
            prop_oneof![
                2 => Just(LimitChoice::Unlimited),
                1 => Just(LimitChoice::Zero),
                3 => (-1i64..=2).prop_map(LimitChoice::Now),
                4 => (-1i64..=1).prop_map(LimitChoice::After),
            ],
            select(vec![-1i64, 0, 5]),
            proptest::option::of(Just(Day::Ceiling)),
            select(vec![
                TraccarVersion::V5_12,
                TraccarVersion::V6_9,
                TraccarVersion::V6_14,
            ]),
            select(vec!["delete", "delete", "disable", "keep"]),
        ),
        (
            proptest::collection::vec(proptest::option::of(live_user()), USERS.len()),
            links(OUT, OUT, 0.5),
            any::<bool>(),
            proptest::collection::vec(proptest::option::of(desired_user()), USERS.len()),
            proptest::option::weighted(0.25, 0..USERS.len()),
            (any::<bool>(), prop::bool::weighted(0.3)),
        ),
    )
        .prop_map(
            |(
                (mode, limit, device_limit, expiration, version, prune),
                (
                    mut live,
                    outsider_devices,
                    outsider_managed,
                    desired,
                    hidden,
                    (trouble, claim_other),
                ),
            )| {
                // Half the cases break the rules on purpose (links outside the billing account,
                // another fleet's user, limits and expirations a manager may not set, a plain
                // user); the others stay within them but for the user limit, so that most get
                // to apply.
                let claim_other = trouble && claim_other;
                let limit = match limit {
                    LimitChoice::Zero if !trouble => LimitChoice::Unlimited,
                    other => other,
                };
                // As the manager, every live user is one it manages, but for one deliberate
                // case: a user outside its view that the file wants (its email is taken).
                let hidden = hidden.filter(|_| mode == Mode::Manager);
                let mut desired: Vec<Option<DesiredUserSpec>> = desired
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let forced = hidden == Some(i);
                        let (mut d, mut flip_device, mut flip_group) = match d {
                            Some(d) => d,
                            None if forced => (
                                DesiredUserSpec {
                                    name: None,
                                    readonly: None,
                                    device_readonly: None,
                                    device_limit: None,
                                    expiration: None,
                                    devices: BTreeSet::new(),
                                    groups: BTreeSet::new(),
                                },
                                false,
                                false,
                            ),
                            None => return None,
                        };
                        if !trouble {
                            flip_device = false;
                            flip_group = false;
                            if mode == Mode::Manager {
                                d.device_limit = None;
                                if expiration.is_some() {
                                    d.expiration = d.expiration.map(|e| match e {
                                        Expiry::Never | Expiry::At(Day::Later) => {
                                            Expiry::At(Day::Earlier)
                                        }
                                        other => other,
                                    });
                                }
                            }
                        }
                        // What the acting account sees of the live user's links.
                        let seen = live[i].as_ref().filter(|_| !forced);
                        let (has_device, has_group) = seen.map_or((false, false), |l| {
                            (l.devices.contains(&OUT), l.groups.contains(&OUTSIDE))
                        });
                        // As the manager the file mostly keeps the links it cannot change; as
                        // the administrator for a manager it mostly leaves out what is not the
                        // manager's.
                        let (device, group) = match mode {
                            Mode::AdminForManager => (flip_device, flip_group),
                            _ => (has_device != flip_device, has_group != flip_group),
                        };
                        if device {
                            d.devices.insert(OUT);
                        }
                        if group {
                            d.groups.insert(OUTSIDE);
                        }
                        Some(d)
                    })
                    .collect();
                for (i, l) in live.iter_mut().enumerate() {
                    if let Some(l) = l {
                        if mode == Mode::Manager {
                            l.managed = hidden != Some(i);
                        }
                        // A user of another fleet in this file is refused; only sometimes, so
                        // that most cases get to apply.
                        if l.marker == Some(false) && !claim_other && hidden != Some(i) {
                            desired[i] = None;
                        }
                    }
                }
                if let Some(i) = hidden
                    && live[i].is_none()
                {
                    live[i] = Some(LiveUserSpec {
                        marker: None,
                        managed: false,
                        readonly: false,
                        device_readonly: false,
                        disabled: false,
                        disabled_by_us: false,
                        device_limit: 0,
                        expiration: None,
                        devices: BTreeSet::from([0]),
                        groups: BTreeSet::new(),
                    });
                }
                let mut case = Case {
                    mode,
                    manager: ManagerSpec {
                        user_limit: -1,
                        device_limit,
                        expiration,
                    },
                    live,
                    outsider_devices,
                    outsider_managed,
                    desired,
                    hidden,
                    prune,
                    version,
                };
                let (now, added, removed) = case.limit_counts();
                case.manager.user_limit = match limit {
                    LimitChoice::Unlimited => -1,
                    LimitChoice::Zero => 0,
                    LimitChoice::Now(offset) => (now + offset).max(1),
                    LimitChoice::After(offset) => {
                        (now + added.len() as i64 - removed + offset).max(1)
                    }
                };
                case
            },
        )
}

/// One problem the plan must report: about file user `user` (index into `USERS`), or about the
/// whole run, with a message containing `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    user: Option<usize>,
    text: String,
}

impl Case {
    /// The live user at `i` as the acting account sees it.
    fn visible(&self, i: usize) -> Option<&LiveUserSpec> {
        let l = self.live[i].as_ref()?;
        (self.mode != Mode::Manager || l.managed).then_some(l)
    }

    /// The user-limit arithmetic of the run: how many users the billing account manages before
    /// it, the file users the plan adds to it (creates, and as the administrator for it, links
    /// of existing users), and how many of its users the plan deletes.
    fn limit_counts(&self) -> (i64, Vec<usize>, i64) {
        let now = self.live.iter().flatten().filter(|l| l.managed).count() as i64
            + i64::from(self.outsider_managed);
        let mut added = Vec::new();
        let mut removed = 0;
        for i in 0..USERS.len() {
            let have = self.visible(i);
            if self.desired[i].is_none() {
                // Pruned: only a visible user of this fleet (deleted, or disabled and kept).
                if have.is_some_and(|l| l.marker == Some(true) && l.managed)
                    && self.prune == "delete"
                {
                    removed += 1;
                }
            } else if have.is_none()
                || (self.mode == Mode::AdminForManager
                    && self.updated(i).is_some_and(|l| !l.managed))
            {
                added.push(i);
            }
        }
        (now, added, removed)
    }

    /// Whether file user `i` is one the plan updates (it exists, visible, of no other fleet).
    fn updated(&self, i: usize) -> Option<&LiveUserSpec> {
        self.desired[i].as_ref()?;
        self.visible(i).filter(|l| l.marker != Some(false))
    }

    /// The oracle: every problem Traccar's rules give this case (from the case alone, never
    /// from fleetform's plan). Empty: the plan must be made and applied.
    fn problems(&self) -> Vec<Expected> {
        let m = DEMO_MANAGER;
        let mut out = Vec::new();
        let mut push = |user: Option<usize>, text: String| out.push(Expected { user, text });
        let as_manager = self.mode == Mode::Manager;
        let plain = as_manager && self.manager.user_limit == 0;
        let manager_role = as_manager && !plain;
        if plain {
            // Refused before reading: nothing else is known, or could be done.
            push(None, format!("the account {m} is a plain user"));
            return out;
        }
        for i in 0..USERS.len() {
            let Some(d) = &self.desired[i] else {
                continue;
            };
            let have = self.visible(i);
            if have.is_some_and(|l| l.marker == Some(false)) {
                push(
                    Some(i),
                    "belongs to fleet other; remove the user from one of the two fleet files"
                        .into(),
                );
            }
            // Links to objects outside the billing account.
            let has_device = have.is_some_and(|l| l.devices.contains(&OUT));
            let has_group = have.is_some_and(|l| l.groups.contains(&OUTSIDE));
            let wants_device = d.devices.contains(&OUT);
            let wants_group = d.groups.contains(&OUTSIDE);
            match self.mode {
                Mode::Manager => {
                    if wants_device && !has_device {
                        push(
                            Some(i),
                            format!("device {OUT_DEVICE} is not visible to {m}"),
                        );
                    }
                    if wants_group && !has_group {
                        push(Some(i), format!("group Outside is not visible to {m}"));
                    }
                }
                Mode::AdminForManager => {
                    if wants_device {
                        push(
                            Some(i),
                            format!(
                                "device {OUT_DEVICE} is not one of the manager's devices; the fleet must stay in the billing account"
                            ),
                        );
                    }
                    if wants_group {
                        push(
                            Some(i),
                            format!(
                                "group Outside is not one the manager {m} sees; the fleet must stay in the billing account"
                            ),
                        );
                    }
                }
                Mode::Admin => {}
            }
            match self.updated(i) {
                None if have.is_some() => {} // another fleet's user: not planned at all
                None => {
                    if manager_role {
                        if let Some(v) = d.device_limit.filter(|v| *v != 0) {
                            push(Some(i), format!("deviceLimit {v}: {LIMITS}"));
                        }
                        if let (Some(Expiry::At(day)), Some(c)) =
                            (d.expiration, self.manager.expiration)
                            && day > c
                        {
                            push(Some(i), later(day, c));
                        }
                    }
                }
                Some(l) => {
                    if as_manager {
                        if l.devices.contains(&OUT) && !wants_device {
                            push(
                                Some(i),
                                format!(
                                    "device {OUT_DEVICE} is linked to this user, but {m} cannot see it and so cannot change this link with this credential (the server refuses: Device access denied)"
                                ),
                            );
                        }
                        if l.groups.contains(&OUTSIDE) && !wants_group {
                            push(
                                Some(i),
                                format!(
                                    "group Outside is linked to this user (or seen through a parent group that may go too), but {m} cannot see it and so cannot change this link with this credential (the server refuses: Group access denied)"
                                ),
                            );
                        }
                    }
                    if manager_role {
                        if let Some(v) = d.device_limit.filter(|v| *v != l.device_limit) {
                            push(
                                Some(i),
                                format!("deviceLimit {} -> {v}: {LIMITS}", l.device_limit),
                            );
                        }
                        let before = l.expiration.map_or(Expiry::Never, Expiry::At);
                        match (d.expiration, self.manager.expiration) {
                            (Some(Expiry::Never), Some(c)) if before != Expiry::Never => push(
                                Some(i),
                                format!(
                                    "expirationTime null (never expires) is later than {m}'s own ({}): {CEILING}",
                                    c.rfc3339()
                                ),
                            ),
                            (Some(Expiry::At(day)), Some(c))
                                if before != Expiry::At(day) && day > c =>
                            {
                                push(Some(i), later(day, c))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        // The user limit: as the manager, or as the administrator for it.
        let limit = self.manager.user_limit;
        if (manager_role || self.mode == Mode::AdminForManager) && limit > 0 {
            let (now, added, removed) = self.limit_counts();
            let after = now + added.len() as i64 - removed;
            if after > limit {
                for &i in &added {
                    push(
                        Some(i),
                        format!(
                            "the plan makes {m} manage {after} users, over its userLimit {limit} \
                             ({now} now, +{} added, -{removed} deleted); the server refuses the users \
                             past the limit (Manager user limit reached)",
                            added.len()
                        ),
                    );
                }
            }
        }
        out
    }
}

/// The rule a manager breaks by setting a limit.
const LIMITS: &str = "a manager account cannot set deviceLimit/userLimit (the server refuses it: \
                      Administrator access required)";

/// The rule a manager breaks by giving a later expiration than its own.
const CEILING: &str = "a manager may only give expirations up to its own (the server refuses it: \
                       Administrator access required)";

/// The expiration-ceiling problem of a date later than the manager's own.
fn later(day: Day, ceiling: Day) -> String {
    format!(
        "expirationTime {} is later than {DEMO_MANAGER}'s own ({}): {CEILING}",
        day.rfc3339(),
        ceiling.rfc3339()
    )
}

/// Matches a refused plan's message against the oracle: every line a problem it expects (the
/// user's problems located at the user's line), every expected problem reported, and the count.
fn check_refusal(shown: &str, mut expected: Vec<Expected>) -> Result<(), String> {
    // A problem of the whole run that stops the read says only that.
    if let [Expected { user: None, text }] = expected.as_slice()
        && !shown.contains("found before any change was made")
    {
        return match shown.contains(text.as_str()) {
            true => Ok(()),
            false => Err(format!("refused, but not because {text:?}")),
        };
    }
    let mut lines: Vec<&str> = shown.lines().collect();
    let summary = lines.pop().unwrap_or_default();
    let count = lines.len();
    let want_summary = if count == 1 {
        "1 problem found before any change was made".to_string()
    } else {
        format!("{count} problems found before any change was made")
    };
    if !summary.contains(&want_summary) {
        return Err(format!("summary {summary:?}, want {want_summary:?}"));
    }
    for line in lines {
        // `prop.yaml:LINE:COL: user EMAIL: message`, or a problem of the whole run.
        let (origin, rest) = match line.strip_prefix("prop.yaml:") {
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                let (l, c) = (parts.next(), parts.next());
                let located = l.is_some_and(|l| l.parse::<u32>().is_ok())
                    && c.is_some_and(|c| c.parse::<u32>().is_ok());
                if !located {
                    return Err(format!("a bad position in {line:?}"));
                }
                (true, parts.next().unwrap_or_default().trim_start())
            }
            None => (false, line),
        };
        let user = rest
            .strip_prefix("user ")
            .and_then(|r| r.split_once(": "))
            .map(|(email, _)| email);
        let index = user.and_then(|u| USERS.iter().position(|e| e.eq_ignore_ascii_case(u)));
        if user.is_some() != origin || user.is_some() != index.is_some() {
            return Err(format!("a user's problem without its position: {line:?}"));
        }
        let Some(at) = expected
            .iter()
            .position(|e| e.user == index && rest.contains(&e.text))
        else {
            return Err(format!(
                "a problem the case does not hold: {line:?}\nexpected: {expected:?}"
            ));
        };
        expected.remove(at);
    }
    if expected.is_empty() {
        Ok(())
    } else {
        Err(format!("problems not reported: {expected:?}"))
    }
}

fn yaml(case: &Case) -> String {
    let mut s = format!("version: 1\nfleet: prop\nprune: {}\n", case.prune);
    if case.mode == Mode::AdminForManager {
        s.push_str(&format!("manager: {DEMO_MANAGER}\n"));
    }
    if case.desired.iter().all(Option::is_none) {
        s.push_str("users: []\n");
    } else {
        s.push_str("users:\n");
    }
    for (i, d) in case.desired.iter().enumerate() {
        let Some(d) = d else { continue };
        // Emails match case-insensitively; the taken one is spelt as the server has it, so the
        // server's unique index sees the same string.
        let email = if case.hidden == Some(i) {
            USERS[i].to_string()
        } else {
            USERS[i].to_uppercase()
        };
        s.push_str(&format!("  - email: {email}\n"));
        if let Some(n) = &d.name {
            s.push_str(&format!("    name: {n}\n"));
        }
        if let Some(r) = d.readonly {
            s.push_str(&format!("    readonly: {r}\n"));
        }
        if let Some(r) = d.device_readonly {
            s.push_str(&format!("    deviceReadonly: {r}\n"));
        }
        if let Some(v) = d.device_limit {
            s.push_str(&format!("    deviceLimit: {v}\n"));
        }
        match d.expiration {
            Some(Expiry::Never) => s.push_str("    expirationTime: null\n"),
            Some(Expiry::At(day)) => {
                s.push_str(&format!("    expirationTime: {}\n", day.rfc3339()))
            }
            None => {}
        }
        let devices: Vec<&str> = d.devices.iter().map(|&j| DEVICES[j]).collect();
        let groups: Vec<&str> = d.groups.iter().map(|&j| GROUPS[j]).collect();
        s.push_str(&format!("    devices: [{}]\n", devices.join(", ")));
        s.push_str(&format!("    groups: [{}]\n", groups.join(", ")));
    }
    s
}

struct Admin {
    http: reqwest::Client,
    url: String,
    password: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .basic_auth(DEMO_ADMIN, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Json::Null)
    }

    async fn ids(&self, path: &str, key: &str) -> BTreeMap<String, i64> {
        let list = self.call(reqwest::Method::GET, path, None).await;
        list.as_array()
            .expect("array")
            .iter()
            .map(|o| {
                (
                    o[key].as_str().unwrap_or_default().to_string(),
                    o["id"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }

    async fn user(&self, email: &str) -> Option<Json> {
        let users = self.call(reqwest::Method::GET, "/api/users", None).await;
        users
            .as_array()
            .expect("array")
            .iter()
            .find(|u| {
                u["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .cloned()
    }

    async fn link(&self, body: Json) {
        self.call(reqwest::Method::POST, "/api/permissions", Some(body))
            .await;
    }
}

/// A user and its direct links, as the administrator reads them.
async fn user_state(admin: &Admin, user: &Json) -> Json {
    let id = user["id"].as_i64().unwrap_or(0);
    let devices = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/devices?userId={id}"),
            None,
        )
        .await;
    let groups = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/groups?userId={id}"),
            None,
        )
        .await;
    json!({"user": user, "devices": devices, "groups": groups})
}

/// Everything outside the managed scope, for the "nothing else moves" check.
async fn outside_state(admin: &Admin, managed: &BTreeSet<UserKey>) -> Json {
    let users = admin.call(reqwest::Method::GET, "/api/users", None).await;
    let mut out = Vec::new();
    for u in users.as_array().expect("array") {
        let email = u["email"].as_str().unwrap_or_default();
        if !managed.contains(&UserKey::new(email)) {
            out.push(user_state(admin, u).await);
        }
    }
    Json::Array(out)
}

/// The emails the billing account manages, lower-cased.
async fn managed_by_manager(admin: &Admin, manager_id: i64) -> BTreeSet<String> {
    admin
        .ids(&format!("/api/users?userId={manager_id}"), "email")
        .await
        .into_keys()
        .map(|e| e.to_lowercase())
        .collect()
}

/// Builds the case's live state through the API, as an operator would by hand. Returns the
/// manager's id.
async fn build_live(admin: &Admin, case: &Case) -> i64 {
    use reqwest::Method;
    // The world outside the billing account, and a nested group under the manager's Vienna
    // with one of its devices in it.
    admin
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "Out", "uniqueId": OUT_DEVICE})),
        )
        .await;
    let outside = admin
        .call(
            Method::POST,
            "/api/groups",
            Some(json!({"name": "Outside"})),
        )
        .await;
    admin
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "Out 2", "uniqueId": OUT_GROUP_DEVICE, "groupId": outside["id"]})),
        )
        .await;
    let vienna = admin.ids("/api/groups?all=true", "name").await["Vienna"];
    let north = admin
        .call(
            Method::POST,
            "/api/groups",
            Some(json!({"name": "Vienna-North", "groupId": vienna})),
        )
        .await;
    let devices = admin.call(Method::GET, "/api/devices?all=true", None).await;
    let mut moved = devices
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["uniqueId"] == "BT-000104")
        .expect("BT-000104")
        .clone();
    moved["groupId"] = north["id"].clone();
    admin
        .call(
            Method::PUT,
            &format!("/api/devices/{}", moved["id"]),
            Some(moved),
        )
        .await;
    let manager_id = admin.ids("/api/users", "email").await[DEMO_MANAGER];
    let device_ids = admin.ids("/api/devices?all=true", "uniqueId").await;
    let group_ids = admin.ids("/api/groups?all=true", "name").await;

    let mut specs: Vec<(&str, LiveUserSpec)> = case
        .live
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.clone().map(|l| (USERS[i], l)))
        .collect();
    specs.push((
        OUTSIDER,
        LiveUserSpec {
            marker: None,
            managed: case.outsider_managed,
            readonly: false,
            device_readonly: false,
            disabled: false,
            disabled_by_us: false,
            device_limit: 0,
            expiration: None,
            devices: case.outsider_devices.clone(),
            groups: BTreeSet::new(),
        },
    ));
    for (email, spec) in &specs {
        let mut attributes = serde_json::Map::new();
        match spec.marker {
            Some(true) => {
                attributes.insert("fleetform".into(), json!("prop"));
            }
            Some(false) => {
                attributes.insert("fleetform".into(), json!("other"));
            }
            None => {}
        }
        if spec.disabled_by_us {
            attributes.insert("fleetformDisabledAt".into(), json!("2024-01-01T00:00:00Z"));
        }
        let user = admin
            .call(
                Method::POST,
                "/api/users",
                Some(
                    json!({"name": "Live", "email": email, "password": "p-long-enough",
                    "readonly": spec.readonly, "deviceReadonly": spec.device_readonly,
                    "disabled": spec.disabled, "deviceLimit": spec.device_limit,
                    "expirationTime": spec.expiration.map(Day::wire),
                    "attributes": attributes}),
                ),
            )
            .await;
        let uid = user["id"].as_i64().expect("id");
        for &d in &spec.devices {
            admin
                .link(json!({"userId": uid, "deviceId": device_ids[DEVICES[d]]}))
                .await;
        }
        for &g in &spec.groups {
            admin
                .link(json!({"userId": uid, "groupId": group_ids[GROUPS[g]]}))
                .await;
        }
        if spec.managed {
            admin
                .link(json!({"userId": manager_id, "managedUserId": uid}))
                .await;
        }
    }
    // The manager's limits and expiration, last: an administrator's links ignore them.
    let mut manager = admin
        .call(Method::GET, &format!("/api/users/{manager_id}"), None)
        .await;
    manager["userLimit"] = json!(case.manager.user_limit);
    manager["deviceLimit"] = json!(case.manager.device_limit);
    manager["expirationTime"] = json!(case.manager.expiration.map(Day::wire));
    admin
        .call(
            Method::PUT,
            &format!("/api/users/{manager_id}"),
            Some(manager),
        )
        .await;
    manager_id
}

/// An apply watched from inside the sandbox.
pub struct Watched {
    pub report: apply::Report,
    /// Every user's effective access before the apply.
    pub before: Effective,
    /// Every user's effective access before each request the apply sent.
    pub seen: Vec<Effective>,
    /// The requests the sandbox refused (status outside 2xx).
    pub refused: Vec<LoggedRequest>,
}

/// Applies `plan`, recording every user's effective access before each request the sandbox
/// receives (its fault hook runs before it handles one).
pub async fn apply_watched(
    sandbox: &Arc<Sandbox>,
    backend: &TraccarBackend,
    plan: &fleetform::core::plan::Plan,
) -> Watched {
    let before = sandbox.seed(|store| effective(store));
    let seen: Arc<Mutex<Vec<Effective>>> = Arc::default();
    let weak = Arc::downgrade(sandbox);
    let record = seen.clone();
    let hook: FaultHook = Arc::new(move |_| {
        if let Some(sandbox) = weak.upgrade() {
            let now = sandbox.seed(|store| effective(store));
            record.lock().expect("lock").push(now);
        }
        None
    });
    let apply_from = sandbox.requests().len();
    sandbox.set_fault_hook(Some(hook));
    let report = apply::apply(backend, plan, &mut Vec::new()).await;
    sandbox.set_fault_hook(None);
    let refused = sandbox.requests()[apply_from..]
        .iter()
        .filter(|r| !(200..300).contains(&r.status))
        .cloned()
        .collect();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    Watched {
        report,
        before,
        seen,
        refused,
    }
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = SandboxConfig {
        version: case.version,
        ..SandboxConfig::default()
    };
    let sandbox = Arc::new(Sandbox::start(config, listen).await.expect("sandbox"));
    let url = sandbox.url();
    let seeded = demo::seed(&url).await.expect("seed");
    let Credentials::Password { password, .. } = &seeded.admin else {
        unreachable!("demo seeds password credentials")
    };
    let admin = Admin {
        http: reqwest::Client::new(),
        url: url.clone(),
        password: password.expose().to_string(),
    };
    let manager_id = build_live(&admin, &case).await;

    let text = yaml(&case);
    let loaded =
        config::parse(&text, "prop.yaml").map_err(|p| TestCaseError::fail(p.to_string()))?;
    let credentials = match case.mode {
        Mode::Manager => &seeded.manager,
        Mode::Admin | Mode::AdminForManager => &seeded.admin,
    };
    let backend = TraccarBackend::connect(&url, credentials, Options::default())
        .await
        .expect("connect");
    let writes_from = sandbox.requests().len();
    let expected = case.problems();
    let planned = fleetform::make_plan(&backend, &loaded.desired).await;
    let plan = match planned {
        Ok(plan) if expected.is_empty() => plan,
        Ok(plan) => {
            return Err(TestCaseError::fail(format!(
                "planned although the case holds {expected:?}: {:?}\n{text}",
                plan.actions
            )));
        }
        Err(e) => {
            let shown = format!("{e:#}");
            if expected.is_empty() {
                return Err(TestCaseError::fail(format!("refused: {shown}\n{text}")));
            }
            // Refused for exactly the reasons the case holds, before any write.
            if let Err(why) = check_refusal(&shown, expected) {
                return Err(TestCaseError::fail(format!("{why}\n{shown}\n{text}")));
            }
            let writes: Vec<_> = sandbox.requests()[writes_from..]
                .iter()
                .filter(|r| r.method != "GET")
                .cloned()
                .collect();
            prop_assert!(writes.is_empty(), "a refused plan wrote: {writes:?}");
            stop(sandbox).await;
            return Ok(());
        }
    };

    // The properties every backend shares (`crate::property`): no action is a no-op here.
    let before_apply = crate::property::before(&backend, &loaded.desired, &plan).await?;
    let live = &before_apply.live;
    let managed: BTreeSet<UserKey> = live
        .users
        .iter()
        .filter(|(k, u)| {
            loaded.desired.users.contains_key(*k) || u.marker.as_deref() == Some("prop")
        })
        .map(|(k, _)| k.clone())
        .chain(loaded.desired.users.keys().cloned())
        .collect();
    let outside_before = outside_state(&admin, &managed).await;
    let hidden_before = match case.hidden {
        Some(i) => Some(user_state(&admin, &admin.user(USERS[i]).await.expect("taken")).await),
        None => None,
    };

    // The effective access of every user before the apply, then at every request the apply
    // sends (the sandbox calls the hook before handling each one).
    let fleet_emails: BTreeSet<String> = USERS.iter().map(|e| e.to_lowercase()).collect();
    let Watched {
        report,
        before,
        seen,
        refused,
    } = apply_watched(&sandbox, &backend, &plan).await;
    let hidden_email = case.hidden.map(|i| USERS[i]);
    match hidden_email {
        None => {
            prop_assert!(
                report.is_success(),
                "apply failed: {:?}\n{}",
                report.failed,
                text
            );
            prop_assert!(
                refused.is_empty(),
                "the sandbox refused {refused:?}\n{text}"
            );
        }
        Some(email) => {
            // The one create the manager could not foresee fails, alone, saying why; the
            // user's links are skipped, nothing else.
            let failed: Vec<String> = report
                .failed
                .iter()
                .map(|(a, f)| format!("{a:?}: {f}"))
                .collect();
            prop_assert!(
                report.failed.len() == 1
                    && matches!(&report.failed[0].0, Action::CreateUser { email: e, .. } if e == email),
                "failed: {failed:?}\n{text}"
            );
            prop_assert!(
                failed[0].contains(&format!(
                    "the email {email} is already taken by a user that {DEMO_MANAGER} cannot see"
                )) && !failed[0].contains("JdbcSQL"),
                "{failed:?}"
            );
            prop_assert!(
                report
                    .skipped
                    .iter()
                    .all(|(a, _)| a.email() == email && matches!(a, Action::Link { .. })),
                "skipped: {:?}",
                report.skipped
            );
            prop_assert!(
                refused.len() == 1
                    && refused[0].method == "POST"
                    && refused[0].path == "/api/users"
                    && refused[0].status == 400,
                "the sandbox refused {refused:?}\n{text}"
            );
        }
    }
    // Never more than the old state or the new file grants: the state after the apply is the
    // file's (asserted below), so each state seen must fit in the one before or the one after.
    let after = sandbox.seed(|store| effective(store));
    let none = BTreeSet::new();
    for (i, state) in seen.iter().enumerate() {
        for email in &fleet_emails {
            let now = state.get(email).unwrap_or(&none);
            let old = before.get(email).unwrap_or(&none);
            let new = after.get(email).unwrap_or(&none);
            prop_assert!(
                now.is_subset(old) || now.is_subset(new),
                "before request {i}, {email} could see {now:?}: more than before ({old:?}) or after ({new:?})\n{text}"
            );
        }
    }

    let again = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("re-plan");
    match hidden_email {
        None => prop_assert!(
            again.actions.is_empty(),
            "re-plan not empty: {:?}\n{}",
            again.actions,
            text
        ),
        Some(email) => prop_assert!(
            again.actions.iter().all(|a| a.email() == email)
                && again
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::CreateUser { .. }))
                    .count()
                    == 1,
            "re-plan: {:?}\n{}",
            again.actions,
            text
        ),
    }

    // The desired state, read back from the server.
    let under_manager = managed_by_manager(&admin, manager_id).await;
    for (i, d) in case.desired.iter().enumerate() {
        let Some(d) = d else { continue };
        let user = admin.user(USERS[i]).await.expect("desired user exists");
        if case.hidden == Some(i) {
            prop_assert_eq!(
                Some(user_state(&admin, &user).await),
                hidden_before.clone(),
                "the user outside the view changed"
            );
            continue;
        }
        if let Some(n) = &d.name {
            prop_assert_eq!(user["name"].as_str(), Some(n.as_str()));
        }
        if let Some(r) = d.readonly {
            prop_assert_eq!(user["readonly"].as_bool(), Some(r));
        }
        if let Some(r) = d.device_readonly {
            prop_assert_eq!(user["deviceReadonly"].as_bool(), Some(r));
        }
        if let Some(v) = d.device_limit {
            prop_assert_eq!(user["deviceLimit"].as_i64(), Some(v));
        }
        match d.expiration {
            Some(Expiry::Never) => prop_assert!(user["expirationTime"].is_null(), "{user}"),
            Some(Expiry::At(day)) => {
                prop_assert_eq!(user["expirationTime"].as_str(), Some(day.wire()))
            }
            None => {}
        }
        // Disabled only if it was, by someone other than fleetform.
        let disabled = case
            .visible(i)
            .is_some_and(|l| l.disabled && !l.disabled_by_us);
        prop_assert_eq!(user["disabled"].as_bool(), Some(disabled), "{}", user);
        prop_assert_eq!(user["attributes"]["fleetform"].as_str(), Some("prop"));
        if case.mode != Mode::Admin {
            prop_assert!(
                under_manager.contains(&USERS[i].to_lowercase()),
                "{} is not in the billing account\n{}",
                USERS[i],
                text
            );
        }
        let uid = user["id"].as_i64().expect("id");
        let devices: BTreeSet<String> = admin
            .ids(&format!("/api/devices?userId={uid}"), "uniqueId")
            .await
            .into_keys()
            .collect();
        let want_devices: BTreeSet<String> =
            d.devices.iter().map(|&j| DEVICES[j].to_string()).collect();
        prop_assert_eq!(&devices, &want_devices);
        // Effective access: the groups the user sees are exactly the file's groups and their
        // descendants, whatever the user was linked to before (directly to a child, say), and so
        // are the devices it sees.
        let groups: BTreeSet<String> = admin
            .ids(&format!("/api/groups?userId={uid}"), "name")
            .await
            .into_keys()
            .collect();
        let want_groups: BTreeSet<String> =
            d.groups.iter().map(|&j| GROUPS[j].to_string()).collect();
        prop_assert_eq!(groups, closure(want_groups.clone()), "{}", text);
        prop_assert_eq!(
            after.get(&USERS[i].to_lowercase()),
            Some(&effective_of(&want_devices, &want_groups)),
            "{}",
            text
        );
    }
    // Pruned users follow the policy; users the account cannot see are not pruned.
    for (i, l) in case.live.iter().enumerate() {
        if case.desired[i].is_some()
            || case.visible(i).is_none()
            || l.as_ref().and_then(|l| l.marker) != Some(true)
        {
            continue;
        }
        let user = admin.user(USERS[i]).await;
        match case.prune {
            "delete" => prop_assert!(user.is_none()),
            "disable" => prop_assert_eq!(user.expect("disabled")["disabled"].as_bool(), Some(true)),
            _ => prop_assert!(user.is_some()),
        }
    }
    let outside_after = outside_state(&admin, &managed).await;
    prop_assert_eq!(outside_before, outside_after);
    // And the properties every backend shares, by the same code as the telematics test.
    let expected_failures: BTreeSet<UserKey> = hidden_email.map(UserKey::new).into_iter().collect();
    crate::property::after(
        &backend,
        &loaded.desired,
        &before_apply,
        &expected_failures,
        &text,
    )
    .await?;
    stop(sandbox).await;
    Ok(())
}

/// Stops the sandbox (the hooks hold only weak references to it).
async fn stop(sandbox: Arc<Sandbox>) {
    if let Ok(sandbox) = Arc::try_unwrap(sandbox) {
        sandbox.shutdown().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn apply_converges_on_the_sandbox(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_case(case))?;
    }
}
