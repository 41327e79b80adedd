//! target: pure. `--target EMAIL` narrows a finished plan to the actions about the named users,
//! for a quick fix to one person without touching the rest of the fleet. It only filters: it
//! must not add, reorder or change actions, so a targeted plan is always a sub-sequence of the
//! full plan and keeps its phase order.
//!
//! The objects the kept actions need that the plan creates (a new group a targeted user is
//! linked to, and its parent) are kept too, so the narrowed plan applies; other object
//! actions are left for a full run.
//!
//! A target must name a user the fleet knows: one in the file, or a live user carrying this
//! fleet's marker (so a pruned user can be targeted). Emails match case-insensitively. An
//! unknown target is an error naming it, rather than a silently empty plan, because a typo
//! would otherwise look like "no changes".

use std::collections::BTreeSet;
use std::fmt;

use crate::core::model::{Action, Desired, Live, Subject, UserKey};
use crate::core::plan::Plan;

/// The targets that name no user of the fleet, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTargets(pub Vec<String>);

impl fmt::Display for UnknownTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--target {}: not a user of the fleet file, nor a user the fleet manages on the \
             server; check the spelling",
            self.0.join(", --target ")
        )
    }
}

impl std::error::Error for UnknownTargets {}

/// The actions of `plan` about the `targets` (all of them when `targets` is empty).
pub fn restrict(
    plan: Plan,
    targets: &[String],
    desired: &Desired,
    live: &Live,
) -> Result<Plan, UnknownTargets> {
    if targets.is_empty() {
        return Ok(plan);
    }
    let known = |key: &UserKey| {
        desired.users.contains_key(key)
            || live
                .users
                .get(key)
                .is_some_and(|u| u.marker.as_deref() == Some(desired.fleet.as_str()))
    };
    let unknown: Vec<String> = targets
        .iter()
        .filter(|t| !known(&desired.key(t)))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(UnknownTargets(unknown));
    }
    let keys: BTreeSet<UserKey> = targets.iter().map(|t| desired.key(t)).collect();
    let targeted = |a: &Action| {
        a.user()
            .is_some_and(|email| keys.contains(&desired.key(email)))
    };
    let backend = desired.backend;
    let mut needed: BTreeSet<Subject> = plan
        .actions
        .iter()
        .filter(|a| targeted(a))
        .flat_map(|a| a.needs(backend))
        .collect();
    // What the needed creates need in turn (a group's parent), until nothing is added.
    loop {
        let more: Vec<Subject> = plan
            .actions
            .iter()
            .filter(|a| matches!(a, Action::CreateObject { .. }))
            .filter(|a| needed.contains(&a.subject(backend)))
            .flat_map(|a| a.needs(backend))
            .filter(|need| !needed.contains(need))
            .collect();
        if more.is_empty() {
            break;
        }
        needed.extend(more);
    }
    let mut plan = plan;
    plan.retain(|a| {
        targeted(a)
            || (matches!(a, Action::CreateObject { .. }) && needed.contains(&a.subject(backend)))
    });
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, desired, have, live, set, want};
    use crate::core::model::Prune;
    use crate::core::plan::plan;
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, TRACCAR, tf};

    fn emails(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| a.email().to_string()).collect()
    }

    #[test]
    fn target_table() {
        let mut a = want("A@x.test");
        a.links.insert(DEVICE, set(&["D1"]));
        let mut d = desired(vec![a, want("b@x.test")]);
        d.prune = Prune::Delete;
        let l = live(
            "admin",
            vec![
                have("old@x.test", Some(FLEET)),
                have("theirs@x.test", Some("other")),
            ],
        );
        let full = plan(&d, &l).expect("plan");
        type Emails = Vec<&'static str>;
        let table: Vec<(&str, Emails, Result<Emails, Emails>)> = vec![
            (
                "no target: everything",
                vec![],
                Ok(vec!["old@x.test", "A@x.test", "b@x.test", "A@x.test"]),
            ),
            (
                "one user, case-insensitive, all its actions in order",
                vec!["a@X.TEST"],
                Ok(vec!["A@x.test", "A@x.test"]),
            ),
            ("a pruned user", vec!["old@x.test"], Ok(vec!["old@x.test"])),
            (
                "several, repeated",
                vec!["b@x.test", "old@x.test", "B@x.test"],
                Ok(vec!["old@x.test", "b@x.test"]),
            ),
            (
                "unknown and other fleets' users are named",
                vec!["a@x.test", "nobody@x.test", "theirs@x.test"],
                Err(vec!["nobody@x.test", "theirs@x.test"]),
            ),
        ];
        for (name, targets, expected) in table {
            let targets: Vec<String> = targets.into_iter().map(String::from).collect();
            let got = restrict(full.clone(), &targets, &d, &l).map(|p| emails(&p));
            let expected = expected
                .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
                .map_err(|v| UnknownTargets(v.into_iter().map(String::from).collect()));
            assert_eq!(got, expected, "case: {name}");
        }
    }

    #[test]
    fn the_error_names_every_unknown_target() {
        let text = UnknownTargets(vec!["x@y".into(), "z@y".into()]).to_string();
        assert!(
            text.starts_with("--target x@y, --target z@y: not a user"),
            "{text}"
        );
    }

    #[test]
    fn a_target_keeps_the_new_objects_it_needs() {
        use crate::backend::traccar::rules::GROUP_OBJECT;
        use crate::core::model::{DesiredObject, Field, Value};
        use crate::testing::GROUP;
        let parent: Field = TRACCAR
            .object(GROUP_OBJECT)
            .and_then(|s| s.field("parent"))
            .expect("parent");
        let group = |key: &str, parent_of: Option<&str>| {
            let fields = parent_of
                .map(|p| (parent.clone(), Value::Text(p.into())))
                .into_iter()
                .collect();
            let object = DesiredObject {
                links: Default::default(),
                key: key.into(),
                fields,
                origin: None,
            };
            (key.to_string(), object)
        };
        let mut a = want("a@x.test");
        a.links.insert(GROUP, set(&["Child"]));
        let mut d = desired(vec![a, want("b@x.test")]);
        d.objects.insert(
            GROUP_OBJECT,
            [
                group("Top", None),
                group("Child", Some("Top")),
                group("Other", None),
            ]
            .into(),
        );
        let l = live("admin", vec![]);
        let full = plan(&d, &l).expect("plan");
        let narrowed = restrict(full, &["a@x.test".into()], &d, &l).expect("known");
        let kept: Vec<String> = narrowed.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            kept,
            [
                "create group Top",
                "create group Child",
                "create user a@x.test",
                "link group Child to a@x.test"
            ]
        );
    }
}
