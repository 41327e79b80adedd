//! safety: pure. Decides whether a plan removes too much to be applied without an explicit
//! override (`--allow-mass-removal`), the way octoDNS's `TooMuchChange` and peribolos's
//! `--maximum-removal-delta` do. It only judges a finished plan against the state it was made
//! from; it must not change the plan and must not do I/O. `commands::apply_command` calls it
//! after the plan is shown and before asking for confirmation; `plan` never refuses for it.
//!
//! Design: the numbers.
//! - The fleet's **managed users** are the live users `diff` could touch: those carrying this
//!   fleet's marker, and those the file names that already exist, minus the users fleetform never
//!   touches (administrators, the acting account, the manager). Users the plan would create are
//!   not counted: they are not there yet.
//! - A **removal** is a managed user that the plan deletes or disables, or whose update turns
//!   `disabled` on (the file can remove access as surely as pruning can). Each user counts once.
//! - **Links** are the direct device and group links of the managed users; **unlinks** are the
//!   plan's unlink actions (a deleted user's links go with it and count as its removal).
//!
//! The refusals (each is skipped with `--allow-mass-removal`):
//! 1. removals > `maxRemovalPercent`% of managed users, once there are `minManagedForPercent`
//!    managed users (defaults 25% and 8);
//! 2. every managed user removed, when there is at least one, unless `allowRemoveAll: true`
//!    (an emptied or truncated file is the classic GitOps accident);
//! 3. unlinks > `maxUnlinkPercent`% of links, once there are `minLinksForPercent` links
//!    (defaults 25% and 20).
//!
//! Objects (the file's sections) are judged by rules 1 and 2, per kind, with the same limits:
//! a kind's **managed objects** are the live ones carrying this fleet's marker or listed in the
//! file, its **removals** the plan's deletes of that kind (devices are never deleted, so only
//! kinds the backend lets fleetform delete, such as groups, can breach). An emptied `groups:`
//! section is refused like an emptied `users:`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::core::diff::untouchable;
use crate::core::model::Description;
use crate::core::model::{Action, Desired, Live, LiveUser, ObjectKind, UserKey, linked};
use crate::core::plan::Plan;

/// The flag that overrides every refusal.
pub const OVERRIDE_FLAG: &str = "--allow-mass-removal";

/// One limit a plan exceeds, with the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breach {
    /// Rule 1: too large a share of the managed users deleted or disabled.
    TooManyRemovals {
        removals: usize,
        managed: usize,
        max_percent: u32,
    },
    /// Rule 2: every managed user deleted or disabled.
    RemovesEveryone { managed: usize },
    /// Rule 3: too large a share of the links removed.
    TooManyUnlinks {
        unlinks: usize,
        links: usize,
        max_percent: u32,
    },
    /// Rule 1 for objects of one kind.
    TooManyObjectRemovals {
        kind: ObjectKind,
        removals: usize,
        managed: usize,
        max_percent: u32,
    },
    /// Rule 2 for objects of one kind.
    RemovesEveryObject { kind: ObjectKind, managed: usize },
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::TooManyRemovals {
                removals,
                managed,
                max_percent,
            } => write!(
                f,
                "the plan deletes or disables {removals} of the fleet's {managed} managed users \
                 ({}%), more than the limit of {max_percent}% (safety.maxRemovalPercent)",
                percent(*removals, *managed)
            ),
            Breach::RemovesEveryone { managed } => write!(
                f,
                "the plan deletes or disables every one of the fleet's {managed} managed \
                 {} (set safety.allowRemoveAll: true if that is the intent)",
                if *managed == 1 { "user" } else { "users" }
            ),
            Breach::TooManyUnlinks {
                unlinks,
                links,
                max_percent,
            } => write!(
                f,
                "the plan removes {unlinks} of the managed users' {links} device and group \
                 links ({}%), more than the limit of {max_percent}% (safety.maxUnlinkPercent)",
                percent(*unlinks, *links)
            ),
            Breach::TooManyObjectRemovals {
                kind,
                removals,
                managed,
                max_percent,
            } => write!(
                f,
                "the plan deletes {removals} of the fleet's {managed} managed {kind}s ({}%), \
                 more than the limit of {max_percent}% (safety.maxRemovalPercent)",
                percent(*removals, *managed)
            ),
            Breach::RemovesEveryObject { kind, managed } => write!(
                f,
                "the plan deletes every one of the fleet's {managed} managed {kind}{} (set \
                 safety.allowRemoveAll: true if that is the intent)",
                if *managed == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Apply's refusal: every limit exceeded. Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyRefusal {
    pub breaches: Vec<Breach>,
}

impl fmt::Display for SafetyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refusing to apply: ")?;
        for (i, breach) in self.breaches.iter().enumerate() {
            if i > 0 {
                f.write_str("; and ")?;
            }
            write!(f, "{breach}")?;
        }
        write!(
            f,
            ". Nothing was changed. Review the plan and pass {OVERRIDE_FLAG} to apply it anyway, \
             or change the limits under `safety:` in the fleet file"
        )
    }
}

impl std::error::Error for SafetyRefusal {}

/// The numbers `check` judges, for tests and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub managed: usize,
    pub removals: usize,
    pub links: usize,
    pub unlinks: usize,
}

/// The number of file-managed links `user` holds (the `Links` of the design comment).
pub fn link_count(backend: &Description, user: &LiveUser) -> usize {
    backend
        .file_links()
        .map(|(spec, _)| linked(&user.links, spec.kind).len())
        .sum()
}

/// Counts managed users, removals, links and unlinks (see the design comment), where the links
/// of the users in `unread` were not read and count as the number given (what they held when
/// a saved plan was made).
pub fn counts_with(
    desired: &Desired,
    live: &Live,
    plan: &Plan,
    unread: &BTreeMap<UserKey, usize>,
) -> Counts {
    let never = untouchable(desired, live);
    let managed: BTreeSet<&UserKey> = live
        .users
        .iter()
        .filter(|(key, user)| {
            !never.contains(*key)
                && (user.marker.as_deref() == Some(desired.fleet.as_str())
                    || desired.users.contains_key(*key))
        })
        .map(|(key, _)| key)
        .collect();
    let links = managed
        .iter()
        .filter_map(|key| match unread.get(*key) {
            Some(count) => Some(*count),
            None => live
                .users
                .get(*key)
                .map(|user| link_count(desired.backend, user)),
        })
        .sum();
    let removed: BTreeSet<UserKey> = plan
        .actions
        .iter()
        .filter(|action| removes(plan.backend, action))
        .map(|action| plan.key(action.email()))
        .filter(|key| managed.contains(key))
        .collect();
    let unlinks = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Unlink { .. }))
        .count();
    Counts {
        managed: managed.len(),
        removals: removed.len(),
        links,
        unlinks,
    }
}

/// Per managed object kind, in the backend's order: its managed objects and the plan's
/// deletes of them (see the design comment).
pub fn object_counts(
    desired: &Desired,
    live: &Live,
    plan: &Plan,
) -> Vec<(ObjectKind, usize, usize)> {
    desired
        .backend
        .objects
        .iter()
        .filter_map(|spec| {
            let listed = desired.objects.get(&spec.kind)?;
            let managed = live.objects.get(&spec.kind).map_or(0, |objects| {
                objects
                    .iter()
                    .filter(|(key, o)| {
                        o.marker.as_deref() == Some(desired.fleet.as_str())
                            || listed.contains_key(*key)
                    })
                    .count()
            });
            let removals = plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::DeleteObject { kind, .. } if *kind == spec.kind))
                .count();
            Some((spec.kind, managed, removals))
        })
        .collect()
}

fn removes(backend: &Description, action: &Action) -> bool {
    match action {
        Action::DeleteUser { .. } | Action::DisableUser { .. } => true,
        Action::UpdateUser { changes, .. } => changes
            .iter()
            .any(|c| backend.is_disabled_value(&c.field, &c.after)),
        _ => false,
    }
}

/// Whether `plan` may be applied: `Err` with every limit it exceeds, unless
/// `allow_mass_removal` (the `--allow-mass-removal` flag).
pub fn check(
    desired: &Desired,
    live: &Live,
    plan: &Plan,
    allow_mass_removal: bool,
) -> Result<(), SafetyRefusal> {
    check_with(desired, live, plan, allow_mass_removal, &BTreeMap::new())
}

/// `check`, with the plan-time link counts of the users whose links were not read again
/// (`counts_with`).
pub fn check_with(
    desired: &Desired,
    live: &Live,
    plan: &Plan,
    allow_mass_removal: bool,
    unread: &BTreeMap<UserKey, usize>,
) -> Result<(), SafetyRefusal> {
    if allow_mass_removal {
        return Ok(());
    }
    let limits = desired.safety;
    let n = counts_with(desired, live, plan, unread);
    let mut breaches = Vec::new();
    if n.managed >= limits.min_managed_for_percent
        && exceeds(n.removals, n.managed, limits.max_removal_percent)
    {
        breaches.push(Breach::TooManyRemovals {
            removals: n.removals,
            managed: n.managed,
            max_percent: limits.max_removal_percent,
        });
    }
    if n.managed > 0 && n.removals >= n.managed && !limits.allow_remove_all {
        breaches.push(Breach::RemovesEveryone { managed: n.managed });
    }
    if n.links >= limits.min_links_for_percent
        && exceeds(n.unlinks, n.links, limits.max_unlink_percent)
    {
        breaches.push(Breach::TooManyUnlinks {
            unlinks: n.unlinks,
            links: n.links,
            max_percent: limits.max_unlink_percent,
        });
    }
    for (kind, managed, removals) in object_counts(desired, live, plan) {
        if managed >= limits.min_managed_for_percent
            && exceeds(removals, managed, limits.max_removal_percent)
        {
            breaches.push(Breach::TooManyObjectRemovals {
                kind,
                removals,
                managed,
                max_percent: limits.max_removal_percent,
            });
        }
        if managed > 0 && removals >= managed && !limits.allow_remove_all {
            breaches.push(Breach::RemovesEveryObject { kind, managed });
        }
    }
    if breaches.is_empty() {
        Ok(())
    } else {
        Err(SafetyRefusal { breaches })
    }
}

/// `part / whole > max_percent / 100`, in integers.
fn exceeds(part: usize, whole: usize, max_percent: u32) -> bool {
    let max = usize::try_from(max_percent).unwrap_or(usize::MAX);
    part.saturating_mul(100) > whole.saturating_mul(max)
}

/// `part / whole` in whole percent, rounded down.
fn percent(part: usize, whole: usize) -> usize {
    part.saturating_mul(100).checked_div(whole).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, desired, have, live, set, want};
    use crate::core::model::{FieldChange, LiveUser, Safety, Value};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, tf};

    /// `n` live users of this fleet, `m{i}@x.test`, each with `links` device links.
    fn fleet_users(n: usize, links: usize) -> Vec<LiveUser> {
        (0..n)
            .map(|i| {
                let mut u = have(&format!("m{i}@x.test"), Some(FLEET));
                u.links
                    .insert(DEVICE, (0..links).map(|d| format!("D{d}")).collect());
                u
            })
            .collect()
    }

    fn plan_of(actions: Vec<Action>) -> Plan {
        Plan::new(
            TRACCAR,
            FLEET.into(),
            crate::core::diff::tests::account("admin"),
            actions,
        )
    }

    fn deletes(range: std::ops::Range<usize>) -> Vec<Action> {
        range
            .map(|i| Action::DeleteUser {
                email: format!("m{i}@x.test"),
            })
            .collect()
    }

    fn unlinks(users: std::ops::Range<usize>) -> Vec<Action> {
        users
            .map(|i| Action::Unlink {
                email: format!("m{i}@x.test"),
                kind: DEVICE,
                target: "D0".into(),
            })
            .collect()
    }

    fn kinds(result: Result<(), SafetyRefusal>) -> Vec<&'static str> {
        match result {
            Ok(()) => vec![],
            Err(refusal) => refusal
                .breaches
                .iter()
                .map(|b| match b {
                    Breach::TooManyRemovals { .. } => "removals",
                    Breach::RemovesEveryone { .. } => "everyone",
                    Breach::TooManyUnlinks { .. } => "unlinks",
                    Breach::TooManyObjectRemovals { .. } => "object removals",
                    Breach::RemovesEveryObject { .. } => "every object",
                })
                .collect(),
        }
    }

    #[test]
    fn safety_table() {
        let allow_all = Safety {
            allow_remove_all: true,
            ..Safety::default()
        };
        // (name, managed users, links each, actions, limits, override, expected refusals)
        type Row = (
            &'static str,
            usize,
            usize,
            Vec<Action>,
            Safety,
            bool,
            Vec<&'static str>,
        );
        let table: Vec<Row> = vec![
            ("nothing", 10, 0, vec![], Safety::default(), false, vec![]),
            (
                "25% of 8 is fine",
                8,
                0,
                deletes(0..2),
                Safety::default(),
                false,
                vec![],
            ),
            (
                "3 of 8 is too many",
                8,
                0,
                deletes(0..3),
                Safety::default(),
                false,
                vec!["removals"],
            ),
            (
                "below 8 the share is not checked",
                7,
                0,
                deletes(0..6),
                Safety::default(),
                false,
                vec![],
            ),
            (
                "all of 7",
                7,
                0,
                deletes(0..7),
                Safety::default(),
                false,
                vec!["everyone"],
            ),
            (
                "the only user",
                1,
                0,
                deletes(0..1),
                Safety::default(),
                false,
                vec!["everyone"],
            ),
            (
                "all, allowed by the file",
                3,
                0,
                deletes(0..3),
                allow_all,
                false,
                vec![],
            ),
            (
                "all of 10",
                10,
                0,
                deletes(0..10),
                Safety::default(),
                false,
                vec!["removals", "everyone"],
            ),
            (
                "override",
                10,
                0,
                deletes(0..10),
                Safety::default(),
                true,
                vec![],
            ),
            (
                "disable counts",
                8,
                0,
                (0..3)
                    .map(|i| Action::DisableUser {
                        email: format!("M{i}@x.test"),
                    })
                    .collect(),
                Safety::default(),
                false,
                vec!["removals"],
            ),
            (
                "disabled: true in the file counts",
                1,
                0,
                vec![Action::UpdateUser {
                    email: "m0@x.test".into(),
                    changes: vec![FieldChange {
                        field: tf("disabled"),
                        before: Value::Bool(false),
                        after: Value::Bool(true),
                    }],
                    adopt: false,
                }],
                Safety::default(),
                false,
                vec!["everyone"],
            ),
            (
                "5 of 20 links is fine",
                10,
                2,
                unlinks(0..5),
                Safety::default(),
                false,
                vec![],
            ),
            (
                "6 of 20 links is too many",
                10,
                2,
                unlinks(0..6),
                Safety::default(),
                false,
                vec!["unlinks"],
            ),
            (
                "below 20 links the share is not checked",
                19,
                1,
                unlinks(0..19),
                Safety::default(),
                false,
                vec![],
            ),
            (
                "stricter limits from the file",
                4,
                5,
                [deletes(0..1), unlinks(0..2)].concat(),
                Safety {
                    max_removal_percent: 10,
                    min_managed_for_percent: 2,
                    max_unlink_percent: 5,
                    min_links_for_percent: 1,
                    allow_remove_all: false,
                },
                false,
                vec!["removals", "unlinks"],
            ),
        ];
        for (name, managed, links, actions, safety, allow, want_kinds) in table {
            let mut d = desired(vec![]);
            d.safety = safety;
            let l = live("admin", fleet_users(managed, links));
            assert_eq!(
                kinds(check(&d, &l, &plan_of(actions), allow)),
                want_kinds,
                "case: {name}"
            );
        }
    }

    #[test]
    fn managed_users_are_marked_or_in_the_file_and_touchable() {
        let mut admin = have("root@x.test", Some(FLEET));
        admin.untouchable = (true).then(|| crate::testing::ADMINISTRATOR.to_string());
        admin.links.insert(DEVICE, set(&["D1"]));
        let mut adopted = have("new@x.test", None);
        adopted.links.insert(GROUP, set(&["G1"]));
        let l = live(
            "admin",
            vec![
                have("a@x.test", Some(FLEET)),
                adopted,
                admin,
                have("other@x.test", Some("other-fleet")),
                have("stranger@x.test", None),
            ],
        );
        let d = desired(vec![want("new@x.test"), want("created@x.test")]);
        let plan = plan_of(vec![Action::DeleteUser {
            email: "a@x.test".into(),
        }]);
        assert_eq!(
            counts_with(&d, &l, &plan, &BTreeMap::new()),
            Counts {
                managed: 2,
                removals: 1,
                links: 1,
                unlinks: 0
            }
        );
    }

    #[test]
    fn the_refusal_names_the_numbers_and_the_flag() {
        let d = desired(vec![]);
        let l = live("admin", fleet_users(10, 0));
        let refusal = check(&d, &l, &plan_of(deletes(0..3)), false).expect_err("refused");
        let text = refusal.to_string();
        assert!(
            text.contains("3 of the fleet's 10 managed users (30%)"),
            "{text}"
        );
        assert!(text.contains("limit of 25%"), "{text}");
        assert!(text.contains(OVERRIDE_FLAG), "{text}");
    }

    #[test]
    fn emptying_a_section_is_refused_like_emptying_the_users() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        use crate::core::model::{DesiredObject, LiveObject};
        let marked = |key: String| {
            let object = LiveObject {
                links: Default::default(),
                key: key.clone(),
                marker: Some(FLEET.into()),
                fields: Default::default(),
            };
            (key, object)
        };
        let mut l = live("admin", vec![]);
        l.objects.insert(
            GROUP_OBJECT,
            (0..8).map(|i| marked(format!("G{i}"))).collect(),
        );
        l.objects.insert(
            DEVICE_OBJECT,
            (0..8).map(|i| marked(format!("D{i}"))).collect(),
        );
        let keep = |n: usize| {
            let mut d = desired(vec![]);
            d.objects.insert(
                GROUP_OBJECT,
                (0..n)
                    .map(|i| {
                        let key = format!("G{i}");
                        let object = DesiredObject {
                            links: Default::default(),
                            key: key.clone(),
                            fields: Default::default(),
                            origin: None,
                        };
                        (key, object)
                    })
                    .collect(),
            );
            // An emptied device section removes nothing: devices are never deleted.
            d.objects.insert(DEVICE_OBJECT, Default::default());
            d
        };
        let breaches = |d: &Desired| {
            let p = crate::core::plan::plan(d, &l).expect("plan");
            check(d, &l, &p, false)
                .err()
                .map(|r| r.breaches)
                .unwrap_or_default()
        };
        assert_eq!(
            breaches(&keep(0)),
            [
                Breach::TooManyObjectRemovals {
                    kind: GROUP_OBJECT,
                    removals: 8,
                    managed: 8,
                    max_percent: 25
                },
                Breach::RemovesEveryObject {
                    kind: GROUP_OBJECT,
                    managed: 8
                }
            ]
        );
        assert!(
            breaches(&keep(0))[1]
                .to_string()
                .starts_with("the plan deletes every one of the fleet's 8 managed groups")
        );
        assert!(
            breaches(&keep(6)).is_empty(),
            "2 of 8 is 25%: within the limit"
        );
        assert_eq!(breaches(&keep(5)).len(), 1);
        let mut allowed = keep(0);
        allowed.safety.allow_remove_all = true;
        allowed.safety.max_removal_percent = 100;
        assert!(breaches(&allowed).is_empty());
    }
}
