//! The properties of the whole loop that hold on every backend, checked through the `Backend`
//! trait and the model only, so the property tests of both backends run the same code
//! (`convergence` on the Traccar sandbox, `telematics::convergence` on the telematics one):
//!
//! - before the apply, no planned action is a no-op: each changes something that is there (or
//!   absent) now (`before`);
//! - after it, every user the file lists holds the file's fields (by the engine's own equality)
//!   and links, and this fleet's marker; every user of this fleet that left the file follows
//!   `prune`; every other user is exactly as it was, and no user appeared outside the fleet;
//!   and the re-plan is empty (`after`).
//!
//! Users whose actions a case expects to fail (`expected_failures`) are left out of `after`'s
//! checks, and the re-plan may hold only their actions.

use std::collections::BTreeSet;

use fleetform::backend::Backend;
use fleetform::core::model::{
    Action, Desired, Field, Live, LiveObject, ObjectKind, Prune, Scope, UserKey, Value, linked,
};
use fleetform::core::plan::Plan;
use proptest::test_runner::TestCaseError;

/// fleetform's applied record (an attribute it keeps on Traccar users), not a file field.
fn is_record(field: &Field) -> bool {
    field.name() == "attributes.fleetformApplied"
}

/// The users fleetform never touches: those the backend marks, the acting account, the
/// manager.
fn untouchable(desired: &Desired, live: &Live) -> BTreeSet<UserKey> {
    let mut keys: BTreeSet<UserKey> = live
        .users
        .iter()
        .filter(|(_, u)| u.untouchable.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    keys.insert(desired.key(&live.account.email));
    keys.extend(desired.manager.clone());
    keys
}

/// Whether the server's value is the file's, as the README defines it: a null attribute is an
/// absent key, and an empty text is no value where the field says so.
fn same_value(field: &Field, want: &Value, have: Option<&Value>) -> bool {
    let empty = |v: &Value| matches!(v, Value::Text(t) if t.is_empty());
    match field {
        Field::Attribute(_) => match (want, have) {
            (Value::Null, None) => true,
            (_, None) | (Value::Null, Some(_)) => false,
            (w, Some(h)) => w == h,
        },
        Field::Scalar(s) if s.spec().empty_is_null => {
            let norm = |v: Option<&Value>| match v {
                None => Value::Null,
                Some(v) if empty(v) => Value::Null,
                Some(v) => v.clone(),
            };
            norm(Some(want)) == norm(have)
        }
        Field::Scalar(_) => Some(want) == have || (*want == Value::Null && have.is_none()),
    }
}

/// The object `key` of `kind` in `live`, if the fetch read it.
fn live_object<'a>(live: &'a Live, kind: ObjectKind, key: &str) -> Option<&'a LiveObject> {
    live.objects.get(&kind)?.get(key)
}

/// The object properties of `after` (see the header): every object the file lists holds the
/// file's fields and this fleet's marker; one of this fleet's that left the file is deleted
/// when its kind may be and `prune: delete` says so, and is as it was otherwise; every other
/// object is exactly as it was, and none appeared outside the file.
fn objects_after(
    desired: &Desired,
    before: &Live,
    live: &Live,
    text: &str,
) -> Result<(), TestCaseError> {
    for spec in desired.backend.objects {
        let Some(wanted) = desired.objects.get(&spec.kind) else {
            continue;
        };
        let (was, now) = (before.objects.get(&spec.kind), live.objects.get(&spec.kind));
        let (Some(was), Some(now)) = (was, now) else {
            return Err(fail(format!("{}s were not read\n{text}", spec.kind)));
        };
        for (key, want) in wanted {
            let Some(have) = now.get(key) else {
                return Err(fail(format!(
                    "{} {key} is not on the server\n{text}",
                    spec.kind
                )));
            };
            for (field, value) in &want.fields {
                if !same_value(field, value, have.fields.get(field)) {
                    return Err(fail(format!(
                        "{} {key}: {field} is {:?}, the file says {value:?}\n{text}",
                        spec.kind,
                        have.fields.get(field)
                    )));
                }
            }
            for (target_kind, targets) in &want.links {
                let got = have.links.get(target_kind);
                if got != Some(targets) {
                    return Err(fail(format!(
                        "{} {key}: {target_kind} links {got:?}, the file says {targets:?}\n{text}",
                        spec.kind
                    )));
                }
            }
            if have.marker.as_deref() != Some(desired.fleet.as_str()) {
                return Err(fail(format!(
                    "{} {key} does not carry fleet {}'s marker: {:?}\n{text}",
                    spec.kind, desired.fleet, have.marker
                )));
            }
        }
        for (key, old) in was {
            if wanted.contains_key(key) {
                continue;
            }
            let ours = old.marker.as_deref() == Some(desired.fleet.as_str());
            let gone = ours && spec.deletable && desired.prune == Prune::Delete;
            let follows = if gone {
                !now.contains_key(key)
            } else {
                now.get(key) == Some(&cascaded(desired, spec, old, before, live))
            };
            if !follows {
                return Err(fail(format!(
                    "{} {key} is outside the file and {}: {old:?} -> {:?}\n{text}",
                    spec.kind,
                    if gone { "was not deleted" } else { "changed" },
                    now.get(key)
                )));
            }
        }
        if let Some(stray) = now
            .keys()
            .find(|key| !was.contains_key(*key) && !wanted.contains_key(*key))
        {
            return Err(fail(format!(
                "{} {stray} appeared outside the file\n{text}",
                spec.kind
            )));
        }
    }
    Ok(())
}

/// `old` as the server keeps it once the objects the apply deleted are gone: a reference to
/// one of them is none (Traccar clears a deleted group from its devices and child groups).
fn cascaded(
    desired: &Desired,
    spec: &fleetform::core::model::ObjectSpec,
    old: &LiveObject,
    before: &Live,
    live: &Live,
) -> LiveObject {
    let mut out = old.clone();
    for (field, value) in &mut out.fields {
        let Some(target) = spec.reference(field) else {
            continue;
        };
        let Value::Text(name) = value else {
            continue;
        };
        let deleted = live_object(before, target, name).is_some()
            && live.objects.contains_key(&target)
            && live_object(live, target, name).is_none()
            && desired.backend.object(target).is_some();
        if deleted {
            *value = Value::Null;
        }
    }
    out
}

/// What `before` read, for `after`.
pub struct Before {
    pub live: Live,
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Reads the live state of `desired`'s scope and checks that no action of `plan` is a no-op.
pub async fn before<B: Backend>(
    backend: &B,
    desired: &Desired,
    plan: &Plan,
) -> Result<Before, TestCaseError> {
    let live = backend
        .fetch(&Scope::of(desired))
        .await
        .map_err(|e| fail(format!("fetch: {e:#}")))?;
    let owner = desired.backend.owner_link();
    for action in &plan.actions {
        let user = live.users.get(&desired.key(action.email()));
        let effective = match action {
            Action::CreateUser { .. } => user.is_none(),
            Action::UpdateUser { changes, adopt, .. } => {
                *adopt || changes.iter().any(|c| c.before != c.after)
            }
            Action::Link { kind, target, .. } => user.is_none_or(|u| {
                if Some(*kind) == owner {
                    !u.managed_by.contains(&desired.key(target))
                } else {
                    !linked(&u.links, *kind).contains(target)
                }
            }),
            Action::Unlink { kind, target, .. } => user.is_some_and(|u| {
                if Some(*kind) == owner {
                    u.managed_by.contains(&desired.key(target))
                } else {
                    linked(&u.links, *kind).contains(target)
                }
            }),
            Action::DisableUser { .. } => user.is_some_and(|u| {
                desired.backend.disable_field().is_some_and(|f| {
                    !u.fields
                        .get(&f)
                        .is_some_and(|v| desired.backend.is_disabled_value(&f, v))
                })
            }),
            Action::DeleteUser { .. } => user.is_some(),
            Action::CreateObject { kind, key, .. } => live_object(&live, *kind, key).is_none(),
            Action::UpdateObject {
                kind,
                key,
                adopt,
                changes,
            } => live_object(&live, *kind, key).is_some_and(|have| {
                *adopt
                    || changes
                        .iter()
                        .any(|c| !same_value(&c.field, &c.after, have.fields.get(&c.field)))
            }),
            Action::DeleteObject { kind, key } => live_object(&live, *kind, key).is_some(),
            Action::LinkObject {
                kind,
                key,
                target_kind,
                target,
            } => live_object(&live, *kind, key)
                .is_none_or(|o| !o.links.get(target_kind).is_some_and(|t| t.contains(target))),
            Action::UnlinkObject {
                kind,
                key,
                target_kind,
                target,
            } => live_object(&live, *kind, key)
                .is_some_and(|o| o.links.get(target_kind).is_some_and(|t| t.contains(target))),
        };
        if !effective {
            return Err(fail(format!("no-op action {action:?}")));
        }
    }
    Ok(Before { live })
}

/// After the apply: see the module's header. `text` is the fleet file, for messages.
pub async fn after<B: Backend>(
    backend: &B,
    desired: &Desired,
    before: &Before,
    expected_failures: &BTreeSet<UserKey>,
    text: &str,
) -> Result<(), TestCaseError> {
    let live = backend
        .fetch(&Scope::of(desired))
        .await
        .map_err(|e| fail(format!("fetch after the apply: {e:#}")))?;
    let never = untouchable(desired, &before.live);
    for (key, want) in &desired.users {
        if expected_failures.contains(key) || never.contains(key) {
            continue;
        }
        let Some(have) = live.users.get(key) else {
            return Err(fail(format!("{key} is not on the server\n{text}")));
        };
        for (field, value) in &want.fields {
            if is_record(field) || field.spec().is_some_and(|s| s.write_only) {
                continue;
            }
            if !same_value(field, value, have.fields.get(field)) {
                return Err(fail(format!(
                    "{key}: {field} is {:?}, the file says {value:?}\n{text}",
                    have.fields.get(field)
                )));
            }
        }
        for (spec, _) in desired.backend.file_links() {
            if desired.unmanaged.contains(&spec.kind) {
                continue;
            }
            let (got, wanted) = (
                linked(&have.links, spec.kind),
                linked(&want.links, spec.kind),
            );
            if got != wanted {
                return Err(fail(format!(
                    "{key}: {} links {got:?}, the file says {wanted:?}\n{text}",
                    spec.kind
                )));
            }
        }
        if have.marker.as_deref() != Some(desired.fleet.as_str()) {
            return Err(fail(format!(
                "{key} does not carry fleet {}'s marker: {:?}\n{text}",
                desired.fleet, have.marker
            )));
        }
    }
    for (key, was) in &before.live.users {
        if desired.users.contains_key(key) || expected_failures.contains(key) {
            continue;
        }
        let now = live.users.get(key);
        let ours = was.marker.as_deref() == Some(desired.fleet.as_str()) && !never.contains(key);
        if !ours {
            if now != Some(was) {
                return Err(fail(format!(
                    "{key} is outside the fleet and changed:\n{was:?}\n{now:?}\n{text}"
                )));
            }
            continue;
        }
        let disabled = |user: &fleetform::core::model::LiveUser| {
            desired.backend.disable_field().is_some_and(|f| {
                user.fields
                    .get(&f)
                    .is_some_and(|v| desired.backend.is_disabled_value(&f, v))
            })
        };
        let follows = match desired.prune {
            Prune::Delete => now.is_none(),
            Prune::Disable | Prune::Deactivate => match now {
                Some(user) => disabled(user),
                // `pruneAfter` deletes what fleetform disabled long enough ago.
                None => desired.prune_after.is_some(),
            },
            Prune::Keep => now == Some(was),
        };
        if !follows {
            return Err(fail(format!(
                "{key} left the file and does not follow prune: {}: {now:?}\n{text}",
                desired.prune.name()
            )));
        }
    }
    for key in live.users.keys() {
        if !before.live.users.contains_key(key)
            && !desired.users.contains_key(key)
            && !expected_failures.contains(key)
        {
            return Err(fail(format!("{key} appeared outside the fleet\n{text}")));
        }
    }
    objects_after(desired, &before.live, &live, text)?;
    let again = fleetform::make_plan(backend, desired)
        .await
        .map_err(|e| fail(format!("re-plan: {e:#}")))?;
    let stray: Vec<&Action> = again
        .actions
        .iter()
        .filter(|a| !expected_failures.contains(&desired.key(a.email())))
        .collect();
    if !stray.is_empty() {
        return Err(fail(format!("re-plan not empty: {stray:?}\n{text}")));
    }
    Ok(())
}
