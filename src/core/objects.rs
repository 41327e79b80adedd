//! objects: pure. The engine's side of the objects a backend manages besides users (Traccar's
//! devices and groups; any kind a backend declares in `Description::objects`): their diff,
//! the problems with them that need no backend rule, the order of their creates and updates
//! inside a phase, and what a plan does to them in `simulate`. Nothing here names a kind: every
//! rule reads the kind's `ObjectSpec`. It must not do I/O.
//!
//! Design:
//! - Scope. A kind is managed only when the file has its section (`Desired::objects` holds
//!   it); then its objects in the file are created or updated, and objects carrying this
//!   fleet's marker that left the section are deleted with `prune: delete` when the kind is
//!   `deletable` (never devices). `prune: disable` and `keep` leave them: objects have no
//!   disabled state that would mean "pruned". Objects of another fleet are never touched (a
//!   problem when the file names one), unmarked objects are touched only when the file names
//!   them: the update that first writes to one adopts it (adds the marker) and says so.
//! - Fields as for users: only the fields an entry names are compared (`diff::same_value`),
//!   references compare by the target's key (a device's group by name), a null attribute
//!   means "key absent". An update lists only what changes; the backend writes the whole
//!   object it reads again (read-modify-write), keeping what the file does not manage.
//! - The billing account. As administrator with `manager:` (`Rules::owner`), every object of a
//!   kind users link to (`ObjectSpec::link`) that the manager does not see yet is linked to it
//!   (`Action::Link` for the manager), so the fleet stays in the billing account; a run as the
//!   manager needs no link (the server links the creator). The backend adds the links its
//!   rules know the plan's other changes need (`Rules::owner_keeps`: Traccar's group moved out
//!   from under the manager's groups).
//! - Names several objects share (`Live::ambiguous`) are never created or updated: the file
//!   cannot say which one it means, so `check` reports them.
//! - Order inside a phase (`waves`): a create or update that needs (`Action::needs`) an object
//!   another action of the same phase creates or updates runs in a later wave (groups before
//!   their children, groups before their devices, a parent's move before its child's). The
//!   file's references have no cycles (config refuses them), so the waves are finite.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::core::model::same_value;
use crate::core::model::{
    Action, Desired, DesiredObject, Field, FieldChange, LinkKind, Live, LiveObject, ObjectKind,
    ObjectSpec, Problem, Prune, Subject, Value, linked,
};
use crate::core::phase::Phase;

/// The actions that move the managed objects of `live` to `desired` (and link new ones to the
/// billing account), in no particular order. Never contains a no-op.
pub fn diff(desired: &Desired, live: &Live) -> Vec<Action> {
    let mut actions = Vec::new();
    let owner = desired.backend.rules.owner(desired, live);
    let empty = BTreeMap::new();
    for spec in desired.backend.objects {
        let Some(wanted) = desired.objects.get(&spec.kind) else {
            continue;
        };
        let have = live.objects.get(&spec.kind).unwrap_or(&empty);
        let ambiguous = spec
            .link
            .map(|link| linked(&live.ambiguous, link))
            .cloned()
            .unwrap_or_default();
        for (key, want) in wanted {
            if ambiguous.contains(key) {
                continue;
            }
            match have.get(key) {
                None => create(spec, want, &mut actions),
                Some(object) if other_fleet(desired, object) => continue,
                Some(object) => update(spec, want, object, &mut actions),
            }
            links(spec, want, have.get(key), &mut actions);
            if let (Some(owner), Some(link)) = (&owner, spec.link)
                && !owner_sees(desired, live, link, key)
            {
                actions.push(Action::Link {
                    email: owner.clone(),
                    kind: link,
                    target: key.clone(),
                });
            }
        }
        if spec.deletable && desired.prune == Prune::Delete {
            for (key, object) in have {
                if !wanted.contains_key(key)
                    && object.marker.as_deref() == Some(desired.fleet.as_str())
                {
                    actions.push(Action::DeleteObject {
                        kind: spec.kind,
                        key: key.clone(),
                    });
                }
            }
        }
    }
    let keeps = desired.backend.rules.owner_keeps(desired, live, &actions);
    actions.extend(keeps);
    actions
}

fn other_fleet(desired: &Desired, object: &LiveObject) -> bool {
    object
        .marker
        .as_deref()
        .is_some_and(|fleet| fleet != desired.fleet)
}

/// Whether the managing account already sees `key` through `link`: what the backend read of
/// it (`Live::owner_targets`), or a direct link it holds.
fn owner_sees(desired: &Desired, live: &Live, link: LinkKind, key: &str) -> bool {
    linked(&live.owner_targets, link).contains(key)
        || desired
            .manager
            .as_ref()
            .and_then(|m| live.users.get(m))
            .is_some_and(|m| linked(&m.links, link).contains(key))
}

fn create(spec: &'static ObjectSpec, want: &DesiredObject, actions: &mut Vec<Action>) {
    // A null attribute means "absent", which a new object already is.
    let fields = want
        .fields
        .iter()
        .filter(|(field, value)| !(matches!(field, Field::Attribute(_)) && **value == Value::Null))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    actions.push(Action::CreateObject {
        kind: spec.kind,
        key: want.key.clone(),
        fields,
    });
}

/// The links and unlinks that make the lists an entry gives (`DesiredObject::links`) the
/// object's direct links; a list left out is left alone, and a new object has none yet.
fn links(
    spec: &'static ObjectSpec,
    want: &DesiredObject,
    have: Option<&LiveObject>,
    actions: &mut Vec<Action>,
) {
    let empty = BTreeSet::new();
    for (target_kind, targets) in &want.links {
        let linked = have
            .and_then(|o| o.links.get(target_kind))
            .unwrap_or(&empty);
        for target in targets.difference(linked) {
            actions.push(Action::LinkObject {
                kind: spec.kind,
                key: want.key.clone(),
                target_kind: *target_kind,
                target: target.clone(),
            });
        }
        for target in linked.difference(targets) {
            actions.push(Action::UnlinkObject {
                kind: spec.kind,
                key: want.key.clone(),
                target_kind: *target_kind,
                target: target.clone(),
            });
        }
    }
}

fn update(
    spec: &'static ObjectSpec,
    want: &DesiredObject,
    have: &LiveObject,
    actions: &mut Vec<Action>,
) {
    let changes: Vec<FieldChange> = want
        .fields
        .iter()
        .filter(|(field, _)| !field.spec().is_some_and(|s| s.write_only))
        .filter(|(field, value)| !same_value(field, value, have.fields.get(*field)))
        .map(|(field, value)| FieldChange {
            field: field.clone(),
            before: have.fields.get(field).cloned().unwrap_or(Value::Null),
            after: value.clone(),
        })
        .collect();
    // A kind that cannot carry the marker is never adopted.
    let adopt = have.marker.is_none() && spec.marked;
    if !changes.is_empty() || adopt {
        actions.push(Action::UpdateObject {
            kind: spec.kind,
            key: have.key.clone(),
            adopt,
            changes,
        });
    }
}

/// The keys of `kind` that exist once the plan is applied, as far as references and links go:
/// the file's objects of the kind, the live ones, and the targets the account may link.
pub fn known(desired: &Desired, live: &Live, kind: ObjectKind) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = desired
        .objects
        .get(&kind)
        .map(|objects| objects.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(objects) = live.objects.get(&kind) {
        keys.extend(objects.keys().cloned());
    }
    if let Some(link) = desired.backend.object(kind).and_then(|spec| spec.link) {
        keys.extend(linked(&live.targets, link).iter().cloned());
    }
    keys
}

/// Whether the plan creates or keeps `target` as an object of the kind users link to by
/// `link`: an entry of the file's section of that kind.
pub fn in_file(desired: &Desired, link: LinkKind, target: &str) -> bool {
    desired
        .backend
        .object_linked_by(link)
        .and_then(|spec| desired.objects.get(&spec.kind))
        .is_some_and(|objects| objects.contains_key(target))
}

/// The objects the plan deletes (marked by this fleet, left the section, `prune: delete`).
fn deleted(desired: &Desired, live: &Live) -> BTreeSet<(ObjectKind, String)> {
    diff(desired, live)
        .into_iter()
        .filter_map(|a| match a {
            Action::DeleteObject { kind, key } => Some((kind, key)),
            _ => None,
        })
        .collect()
}

/// Every problem with the file's objects that needs no backend rule: an object another
/// fleet's marker claims, a name several objects share, a new object without a field its kind
/// requires (`ObjectSpec::required`), a reference to nothing, a user link or an object's
/// listed link to an object the plan deletes, a listed link to nothing.
pub fn check(desired: &Desired, live: &Live) -> Vec<Problem> {
    let mut problems = Vec::new();
    let empty = BTreeMap::new();
    let deleted = deleted(desired, live);
    for spec in desired.backend.objects {
        let Some(wanted) = desired.objects.get(&spec.kind) else {
            continue;
        };
        let have = live.objects.get(&spec.kind).unwrap_or(&empty);
        for (key, want) in wanted {
            let mut problem = |message: String| {
                problems.push(Problem {
                    user: None,
                    origin: want.origin.clone(),
                    message: format!("{} {key}: {message}", spec.kind),
                })
            };
            if spec
                .link
                .is_some_and(|link| linked(&live.ambiguous, link).contains(key))
            {
                problem(format!(
                    "several {kind}s on the server have this {}; rename them so it is unique",
                    spec.key,
                    kind = spec.kind
                ));
                continue;
            }
            if let Some(other) = have.get(key).and_then(|o| o.marker.as_deref())
                && other != desired.fleet
            {
                problem(format!(
                    "belongs to fleet {other}; remove it from one of the two fleet files (and \
                     from the other fleet first if it should move here)"
                ));
                continue;
            }
            // Values outside what the server lists for the field (`Live::choices`).
            for (field, value) in &want.fields {
                let Some(name) = field.spec().map(|s| s.name) else {
                    continue;
                };
                let Some(allowed) = live.choices.get(&(spec.kind, name)) else {
                    continue;
                };
                let words = match value {
                    Value::Text(text) => vec![text.clone()],
                    other => other.words(),
                };
                let unknown: Vec<String> =
                    words.into_iter().filter(|w| !allowed.contains(w)).collect();
                if !unknown.is_empty() {
                    problem(format!(
                        "`{name}` lists {}, which the server does not have (it has: {}); \
                         remove it, or configure it on the server first",
                        unknown.join(", "),
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ));
                }
            }
            if !have.contains_key(key) {
                for name in spec.required {
                    let given = spec
                        .field(name)
                        .and_then(|field| want.fields.get(&field))
                        .is_some_and(|value| *value != Value::Null);
                    if !given {
                        problem(format!(
                            "is not on the server and a new {} needs `{name}`: give it one",
                            spec.kind
                        ));
                    }
                }
            }
            for (target_kind, targets) in &want.links {
                let (Some(target_spec), Some(list)) = (
                    desired.backend.object(*target_kind),
                    spec.lists.iter().find(|l| l.target == *target_kind),
                ) else {
                    continue;
                };
                let known = known(desired, live, *target_kind);
                let ambiguous = target_spec
                    .link
                    .map(|link| linked(&live.ambiguous, link))
                    .cloned()
                    .unwrap_or_default();
                for target in targets {
                    if ambiguous.contains(target) {
                        problem(format!(
                            "its `{}` lists {target_kind} {target}, which is ambiguous: several \
                             {target_kind}s on the server have this {}; rename them so it is \
                             unique",
                            list.file_key, target_spec.key
                        ));
                    } else if !known.contains(target) {
                        problem(format!(
                            "its `{}` lists {target_kind} {target}, which does not exist on the \
                             server{}; add it under `{}:` or fix the name",
                            list.file_key,
                            if desired.objects.contains_key(target_kind) {
                                " nor in the file"
                            } else {
                                " (or the account cannot see it)"
                            },
                            target_spec.section
                        ));
                    } else if deleted.contains(&(*target_kind, target.clone())) {
                        problem(format!(
                            "its `{}` lists {target_kind} {target}, but it left the file's `{}:` \
                             and this plan deletes it (prune: delete); add it back there, or \
                             remove it from the list",
                            list.file_key, target_spec.section
                        ));
                    }
                }
            }
            for reference in spec.refs {
                let Some(field) = spec.field(reference.field) else {
                    continue;
                };
                let Some(Value::Text(target)) = want.fields.get(&field) else {
                    continue;
                };
                let Some(target_spec) = desired.backend.object(reference.target) else {
                    continue;
                };
                let ambiguous = target_spec
                    .link
                    .is_some_and(|link| linked(&live.ambiguous, link).contains(target));
                if ambiguous {
                    problem(format!(
                        "its {} {target} is ambiguous: several {}s on the server have this \
                         name; rename them so it is unique",
                        reference.field, reference.target
                    ));
                } else if !known(desired, live, reference.target).contains(target) {
                    problem(format!(
                        "its {} {target} does not exist on the server{}; add it under `{}:` \
                         or fix the name",
                        reference.field,
                        if desired.objects.contains_key(&reference.target) {
                            " nor in the file"
                        } else {
                            " (or the account cannot see it)"
                        },
                        target_spec.section
                    ));
                }
            }
        }
    }
    for want in desired.users.values() {
        for (kind, key) in &deleted {
            let Some(link) = desired.backend.object(*kind).and_then(|s| s.link) else {
                continue;
            };
            if linked(&want.links, link).contains(key) {
                problems.push(Problem {
                    user: Some(want.email.clone()),
                    origin: want.origin.clone(),
                    message: format!(
                        "{kind} {key} is linked to this user, but it left the file's `{}:` and \
                         this plan deletes it (prune: delete); add it back there, or remove it \
                         from the user's links",
                        desired
                            .backend
                            .object(*kind)
                            .map_or("", |spec| spec.section)
                    ),
                });
            }
        }
    }
    problems
}

/// The wave of each action inside its phase (see the design comment): 0 for an action that
/// needs nothing another action of its phase creates or updates, else one more than the
/// highest wave it needs.
pub fn waves(backend: &crate::core::model::Description, actions: &[Action]) -> Vec<usize> {
    let mut waves = vec![0; actions.len()];
    let mut phases: BTreeMap<Phase, Vec<usize>> = BTreeMap::new();
    for (i, action) in actions.iter().enumerate() {
        if action.object().is_some() {
            phases.entry(Phase::of(action)).or_default().push(i);
        }
    }
    for indices in phases.values() {
        let by_subject: HashMap<Subject, usize> = indices
            .iter()
            .map(|&i| (actions[i].subject(backend), i))
            .collect();
        let mut memo: HashMap<usize, usize> = HashMap::new();
        for &i in indices {
            waves[i] = wave(backend, actions, &by_subject, &mut memo, i, 0);
        }
    }
    waves
}

fn wave(
    backend: &crate::core::model::Description,
    actions: &[Action],
    by_subject: &HashMap<Subject, usize>,
    memo: &mut HashMap<usize, usize>,
    i: usize,
    depth: usize,
) -> usize {
    if let Some(w) = memo.get(&i) {
        return *w;
    }
    // References form no cycles (config refuses them); the bound only guards a hostile saved
    // plan.
    if depth > by_subject.len() {
        return 0;
    }
    let mut w = 0;
    for need in actions[i].needs(backend) {
        if let Some(&j) = by_subject.get(&need)
            && j != i
        {
            w = w.max(1 + wave(backend, actions, by_subject, memo, j, depth + 1));
        }
    }
    memo.insert(i, w);
    w
}

/// What an object action does to `live` (a model of the backend for `plan::simulate`): a
/// create makes a marked object the account may link; an update sets its fields (and the
/// marker when it adopts); a delete removes it, its links, and every reference to it (as
/// Traccar clears a deleted group from its devices and child groups).
pub fn simulate(
    live: &mut Live,
    backend: &crate::core::model::Description,
    fleet: &str,
    action: &Action,
) {
    let set = |fields: &mut BTreeMap<Field, Value>, field: &Field, value: &Value| {
        if matches!(field, Field::Attribute(_)) && *value == Value::Null {
            fields.remove(field);
        } else {
            fields.insert(field.clone(), value.clone());
        }
    };
    match action {
        Action::CreateObject { kind, key, fields } => {
            let marked = backend.object(*kind).is_some_and(|s| s.marked);
            let mut object = LiveObject {
                key: key.clone(),
                marker: marked.then(|| fleet.to_string()),
                fields: BTreeMap::new(),
                links: BTreeMap::new(),
            };
            for (field, value) in fields {
                set(&mut object.fields, field, value);
            }
            live.objects
                .entry(*kind)
                .or_default()
                .insert(key.clone(), object);
            if let Some(link) = backend.object(*kind).and_then(|s| s.link) {
                live.targets.entry(link).or_default().insert(key.clone());
            }
        }
        Action::UpdateObject {
            kind,
            key,
            adopt,
            changes,
        } => {
            if let Some(object) = live.objects.get_mut(kind).and_then(|o| o.get_mut(key)) {
                for change in changes {
                    set(&mut object.fields, &change.field, &change.after);
                }
                if *adopt {
                    object.marker = Some(fleet.to_string());
                }
            }
        }
        Action::LinkObject {
            kind,
            key,
            target_kind,
            target,
        } => {
            if let Some(object) = live.objects.get_mut(kind).and_then(|o| o.get_mut(key)) {
                object
                    .links
                    .entry(*target_kind)
                    .or_default()
                    .insert(target.clone());
            }
        }
        Action::UnlinkObject {
            kind,
            key,
            target_kind,
            target,
        } => {
            if let Some(targets) = live
                .objects
                .get_mut(kind)
                .and_then(|o| o.get_mut(key))
                .and_then(|object| object.links.get_mut(target_kind))
            {
                targets.remove(target);
            }
        }
        Action::DeleteObject { kind, key } => {
            if let Some(objects) = live.objects.get_mut(kind) {
                objects.remove(key);
            }
            // The server drops the deleted object's links with it.
            for object in live.objects.values_mut().flat_map(|o| o.values_mut()) {
                if let Some(targets) = object.links.get_mut(kind) {
                    targets.remove(key);
                }
            }
            if let Some(link) = backend.object(*kind).and_then(|s| s.link) {
                for targets in [&mut live.targets, &mut live.owner_targets] {
                    if let Some(keys) = targets.get(&link).cloned() {
                        let mut keys = keys;
                        keys.remove(key);
                        targets.insert(link, keys);
                    }
                }
                for user in live.users.values_mut() {
                    if let Some(mut keys) = user.links.remove(&link) {
                        keys.remove(key);
                        if !keys.is_empty() {
                            user.links.insert(link, keys);
                        }
                    }
                }
            }
            for spec in backend.objects {
                for reference in spec.refs.iter().filter(|r| r.target == *kind) {
                    let Some(field) = spec.field(reference.field) else {
                        continue;
                    };
                    let Some(objects) = live.objects.get_mut(&spec.kind) else {
                        continue;
                    };
                    for object in objects.values_mut() {
                        if object.fields.get(&field) == Some(&Value::Text(key.clone())) {
                            object.fields.insert(field.clone(), Value::Null);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! Table-driven tests of the object diff and checks, then the order of a plan with objects
    //! (waves), its simulation and the round trip of object actions through their JSON.

    use super::*;
    use crate::backend::traccar::rules::{
        DEVICE_OBJECT, GROUP_OBJECT, MAINTENANCE_OBJECT, NOTIFICATION_OBJECT,
    };
    use crate::core::diff::tests::{BOSS, FLEET, desired, have, live, set, want};
    use crate::core::model::{Desired, UserKey};
    use crate::core::plan::{Plan, plan, simulate as simulate_plan};
    use crate::testing::{DEVICE, GROUP, TRACCAR};

    pub(crate) fn of(kind: ObjectKind, name: &str) -> Field {
        TRACCAR
            .object(kind)
            .and_then(|spec| spec.field(name))
            .unwrap_or_else(|| panic!("{kind} has no field {name}"))
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    pub(crate) fn wanted(key: &str, fields: Vec<(Field, Value)>) -> DesiredObject {
        DesiredObject {
            links: Default::default(),
            key: key.into(),
            fields: fields.into_iter().collect(),
            origin: Some(format!("f.yaml:{}:3", key.len())),
        }
    }

    pub(crate) fn held(key: &str, marker: Option<&str>, fields: Vec<(Field, Value)>) -> LiveObject {
        LiveObject {
            links: Default::default(),
            key: key.into(),
            marker: marker.map(str::to_string),
            fields: fields.into_iter().collect(),
        }
    }

    fn with(mut d: Desired, kind: ObjectKind, objects: Vec<DesiredObject>) -> Desired {
        d.objects.insert(
            kind,
            objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        );
        d
    }

    fn holding(mut l: Live, kind: ObjectKind, objects: Vec<LiveObject>) -> Live {
        let link = TRACCAR.object(kind).and_then(|s| s.link).expect("linked");
        for o in &objects {
            l.targets.entry(link).or_default().insert(o.key.clone());
        }
        l.objects.insert(
            kind,
            objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        );
        l
    }

    fn sorted(mut actions: Vec<Action>) -> Vec<String> {
        let mut out: Vec<String> = actions.drain(..).map(|a| format!("{a:?}")).collect();
        out.sort();
        out
    }

    #[test]
    fn diff_table() {
        let g = |key: &str, parent: Option<&str>| {
            wanted(
                key,
                vec![(of(GROUP_OBJECT, "parent"), parent.map_or(Value::Null, text))],
            )
        };
        let base = live("admin", vec![]);
        // (name, desired, live, expected actions)
        let cases: Vec<(&str, Desired, Live, Vec<Action>)> = vec![
            (
                "a section left out manages nothing, even marked objects",
                desired(vec![]),
                holding(
                    base.clone(),
                    GROUP_OBJECT,
                    vec![held("G1", Some(FLEET), vec![])],
                ),
                vec![],
            ),
            (
                "create a group under another and a device in it",
                with(
                    with(
                        desired(vec![]),
                        GROUP_OBJECT,
                        vec![g("North", Some("G1")), g("G1", None)],
                    ),
                    DEVICE_OBJECT,
                    vec![wanted(
                        "BT-9",
                        vec![
                            (of(DEVICE_OBJECT, "group"), text("North")),
                            (Field::Attribute("gone".into()), Value::Null),
                        ],
                    )],
                ),
                holding(
                    base.clone(),
                    GROUP_OBJECT,
                    vec![held(
                        "G1",
                        Some(FLEET),
                        vec![(of(GROUP_OBJECT, "parent"), Value::Null)],
                    )],
                ),
                vec![
                    Action::CreateObject {
                        kind: GROUP_OBJECT,
                        key: "North".into(),
                        fields: [(of(GROUP_OBJECT, "parent"), text("G1"))].into(),
                    },
                    Action::CreateObject {
                        kind: DEVICE_OBJECT,
                        key: "BT-9".into(),
                        fields: [(of(DEVICE_OBJECT, "group"), text("North"))].into(),
                    },
                ],
            ),
            (
                "update only what differs; an unmarked object is adopted",
                with(
                    desired(vec![]),
                    DEVICE_OBJECT,
                    vec![
                        wanted(
                            "D1",
                            vec![
                                (of(DEVICE_OBJECT, "name"), text("Bike 1")),
                                (of(DEVICE_OBJECT, "phone"), text("")),
                                (Field::Attribute("frame".into()), text("L")),
                            ],
                        ),
                        wanted("D2", vec![]),
                    ],
                ),
                holding(
                    base.clone(),
                    DEVICE_OBJECT,
                    vec![
                        held(
                            "D1",
                            Some(FLEET),
                            vec![
                                (of(DEVICE_OBJECT, "name"), text("Old")),
                                (of(DEVICE_OBJECT, "phone"), Value::Null),
                                (of(DEVICE_OBJECT, "model"), text("unmanaged")),
                            ],
                        ),
                        held("D2", None, vec![(of(DEVICE_OBJECT, "name"), text("x"))]),
                    ],
                ),
                vec![
                    Action::UpdateObject {
                        kind: DEVICE_OBJECT,
                        key: "D1".into(),
                        adopt: false,
                        changes: vec![
                            FieldChange {
                                field: of(DEVICE_OBJECT, "name"),
                                before: text("Old"),
                                after: text("Bike 1"),
                            },
                            FieldChange {
                                field: Field::Attribute("frame".into()),
                                before: Value::Null,
                                after: text("L"),
                            },
                        ],
                    },
                    Action::UpdateObject {
                        kind: DEVICE_OBJECT,
                        key: "D2".into(),
                        adopt: true,
                        changes: vec![],
                    },
                ],
            ),
            (
                "another fleet's object is never touched",
                with(desired(vec![]), GROUP_OBJECT, vec![g("G1", None)]),
                holding(
                    base.clone(),
                    GROUP_OBJECT,
                    vec![held(
                        "G1",
                        Some("other"),
                        vec![(of(GROUP_OBJECT, "parent"), text("X"))],
                    )],
                ),
                vec![],
            ),
            (
                "prune delete: marked groups that left the section go, others stay; devices never",
                with(
                    with(desired(vec![]), GROUP_OBJECT, vec![]),
                    DEVICE_OBJECT,
                    vec![],
                ),
                holding(
                    holding(
                        base.clone(),
                        GROUP_OBJECT,
                        vec![
                            held("Mine", Some(FLEET), vec![]),
                            held("Theirs", Some("other"), vec![]),
                            held("Unmarked", None, vec![]),
                        ],
                    ),
                    DEVICE_OBJECT,
                    vec![held("D1", Some(FLEET), vec![])],
                ),
                vec![Action::DeleteObject {
                    kind: GROUP_OBJECT,
                    key: "Mine".into(),
                }],
            ),
            (
                "a name several groups share is never created",
                with(desired(vec![]), GROUP_OBJECT, vec![g("Twice", None)]),
                base.clone(),
                vec![],
            ),
        ];
        for (name, d, l, expected) in cases {
            assert_eq!(sorted(diff(&d, &l)), sorted(expected), "case: {name}");
        }
        // prune disable and keep leave marked groups alone.
        for prune in [Prune::Disable, Prune::Keep] {
            let mut d = with(desired(vec![]), GROUP_OBJECT, vec![]);
            d.prune = prune;
            let l = holding(
                live("admin", vec![]),
                GROUP_OBJECT,
                vec![held("Mine", Some(FLEET), vec![])],
            );
            assert!(diff(&d, &l).is_empty(), "{prune:?}");
        }
    }

    /// As administrator with `manager:`, objects the manager does not see are linked to it.
    #[test]
    fn objects_join_the_billing_account() {
        let mut d = with(
            desired(vec![]),
            DEVICE_OBJECT,
            vec![
                wanted("New", vec![]),
                wanted("Seen", vec![]),
                wanted("Stray", vec![]),
            ],
        );
        d.manager = Some(UserKey::new(BOSS));
        let mut l = holding(
            live("admin", vec![have(BOSS, None)]),
            DEVICE_OBJECT,
            vec![
                held("Seen", Some(FLEET), vec![]),
                held("Stray", Some(FLEET), vec![]),
            ],
        );
        l.owner_targets.insert(DEVICE, set(&["Seen"]));
        let got = plan(&d, &l).expect("plan");
        let links: Vec<String> = got
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Link { .. }))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            links,
            [
                "link device New to fleet@acme.example",
                "link device Stray to fleet@acme.example"
            ]
        );
        // Run as the manager, the server links what it creates: no link.
        let mut as_manager = d.clone();
        as_manager.manager = Some(UserKey::new(BOSS));
        let m = plan(
            &as_manager,
            &holding(live("manager", vec![]), DEVICE_OBJECT, vec![]),
        )
        .expect("plan");
        assert!(
            m.actions.iter().all(|a| !matches!(a, Action::Link { .. })),
            "{:?}",
            m.actions
        );
        // Applied (simulated), the next plan is empty.
        let after = simulate_plan(&l, &got);
        let again = plan(&d, &after).expect("plan");
        assert!(again.is_empty(), "{:?}", again.actions);
    }

    /// A device's or group's given lists become links and unlinks (a new object's after its
    /// create, unlinks first), a list left out is left alone, `[]` removes every link; the
    /// actions round-trip through their JSON, and applied (simulated) the re-plan is empty.
    #[test]
    fn object_lists_link_what_is_missing_and_unlink_extras() {
        use crate::backend::traccar::rules::GEOFENCE_OBJECT;
        let links = |lists: Vec<(ObjectKind, &[&str])>| -> BTreeMap<ObjectKind, BTreeSet<String>> {
            lists.into_iter().map(|(k, t)| (k, set(t))).collect()
        };
        let mut d1 = wanted("D1", vec![]);
        d1.links = links(vec![(GEOFENCE_OBJECT, &["a", "b"])]);
        let mut d2 = wanted("D2", vec![]);
        d2.links = links(vec![(GEOFENCE_OBJECT, &["a"])]);
        let mut g = wanted("G", vec![]);
        g.links = links(vec![(GEOFENCE_OBJECT, &[])]);
        let d = with(
            with(desired(vec![]), DEVICE_OBJECT, vec![d1, d2]),
            GROUP_OBJECT,
            vec![g],
        );
        let mut have_d1 = held("D1", Some(FLEET), vec![]);
        // Read: its geofences; its notifications (not in the file) are left alone.
        have_d1.links = links(vec![
            (GEOFENCE_OBJECT, &["a", "x"]),
            (NOTIFICATION_OBJECT, &["n"]),
        ]);
        let mut have_g = held("G", Some(FLEET), vec![]);
        have_g.links = links(vec![(GEOFENCE_OBJECT, &["a"])]);
        let l = holding(
            holding(
                holding(
                    live("admin", vec![]),
                    GEOFENCE_OBJECT,
                    vec![
                        held("a", Some(FLEET), vec![]),
                        held("b", Some(FLEET), vec![]),
                        held("x", None, vec![]),
                    ],
                ),
                DEVICE_OBJECT,
                vec![have_d1],
            ),
            GROUP_OBJECT,
            vec![have_g],
        );
        assert!(check(&d, &l).is_empty(), "{:?}", check(&d, &l));
        let p = plan(&d, &l).expect("plan");
        let order: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "unlink geofence x from device D1",
                "unlink geofence a from group G",
                "create device D2",
                "link geofence b to device D1",
                "link geofence a to device D2",
            ]
        );
        assert_eq!((p.summary().link, p.summary().unlink), (2, 2));
        for action in &p.actions {
            let json = serde_json::to_value(action).expect("json");
            assert_eq!(Action::from_json(TRACCAR, &json).as_ref(), Ok(action));
            if let Action::LinkObject { .. } = action {
                assert_eq!(json["action"], "link_object");
                assert_eq!(json["target_kind"], "geofence");
            }
        }
        assert_eq!(
            p.actions[3].needs(TRACCAR),
            vec![Subject::Object(GEOFENCE_OBJECT, "b".into())]
        );
        let after = simulate_plan(&l, &p);
        let again = plan(&d, &after).expect("plan");
        assert!(again.is_empty(), "{:?}", again.actions);
    }

    /// A listed object that exists nowhere, or that the plan deletes, is a problem at the
    /// entry naming the list.
    #[test]
    fn object_lists_name_objects_that_exist_and_stay() {
        use crate::backend::traccar::rules::GEOFENCE_OBJECT;
        let mut d1 = wanted("D1", vec![]);
        d1.links = [(GEOFENCE_OBJECT, set(&["gone", "nowhere", "kept"]))].into();
        let mut d = with(
            with(desired(vec![]), DEVICE_OBJECT, vec![d1]),
            GEOFENCE_OBJECT,
            vec![wanted("kept", vec![])],
        );
        d.prune = Prune::Delete;
        let l = holding(
            live("admin", vec![]),
            GEOFENCE_OBJECT,
            vec![
                held("gone", Some(FLEET), vec![]),
                held("kept", Some(FLEET), vec![]),
            ],
        );
        let got: Vec<String> = check(&d, &l).iter().map(ToString::to_string).collect();
        let expected = [
            "f.yaml:2:3: device D1: its `geofences` lists geofence gone, but it left the file's `geofences:` and this plan deletes it",
            "f.yaml:2:3: device D1: its `geofences` lists geofence nowhere, which does not exist on the server nor in the file",
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for prefix in expected {
            assert!(
                got.iter().any(|m| m.starts_with(prefix)),
                "missing {prefix:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn problems_name_the_object_and_what_to_do() {
        let mut user = want("a@x.test");
        user.links.insert(GROUP, set(&["Mine"]));
        let d = with(
            with(
                desired(vec![user]),
                GROUP_OBJECT,
                vec![wanted("Theirs", vec![]), wanted("Twice", vec![])],
            ),
            DEVICE_OBJECT,
            vec![
                wanted("D1", vec![(of(DEVICE_OBJECT, "group"), text("Nowhere"))]),
                wanted("D2", vec![(of(DEVICE_OBJECT, "group"), text("Twice"))]),
            ],
        );
        let l = holding(
            live("admin", vec![]),
            GROUP_OBJECT,
            vec![
                held("Theirs", Some("other"), vec![]),
                held("Mine", Some(FLEET), vec![]),
            ],
        );
        let got: Vec<String> = check(&d, &l).iter().map(ToString::to_string).collect();
        let expected = [
            "f.yaml:6:3: group Theirs: belongs to fleet other",
            "f.yaml:5:3: group Twice: several groups on the server have this name",
            "f.yaml:2:3: device D1: its group Nowhere does not exist on the server nor in the file; add it under `groups:`",
            "f.yaml:2:3: device D2: its group Twice is ambiguous",
            "user a@x.test: group Mine is linked to this user, but it left the file's `groups:`",
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for prefix in expected {
            assert!(
                got.iter().any(|m| m.starts_with(prefix)),
                "missing {prefix:?} in {got:#?}"
            );
        }
        // The plan refuses them all at once.
        assert!(plan(&d, &l).is_err());
    }

    #[test]
    fn a_user_may_link_what_the_file_creates() {
        let mut user = want("a@x.test");
        user.links.insert(GROUP, set(&["New"]));
        user.links.insert(DEVICE, set(&["BT-1"]));
        let d = with(
            with(
                desired(vec![user]),
                GROUP_OBJECT,
                vec![wanted("New", vec![])],
            ),
            DEVICE_OBJECT,
            vec![wanted(
                "BT-1",
                vec![(of(DEVICE_OBJECT, "group"), text("New"))],
            )],
        );
        let l = live("admin", vec![]);
        let p = plan(&d, &l).expect("plan");
        let order: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "create group New",
                "create device BT-1",
                "create user a@x.test",
                "link device BT-1 to a@x.test",
                "link group New to a@x.test",
            ]
        );
        // Groups before their devices: two waves of the create phase.
        let phases: Vec<(Phase, usize)> = p.phases().map(|(ph, run)| (ph, run.len())).collect();
        assert_eq!(
            phases,
            [
                (Phase::CreateObject, 1),
                (Phase::CreateObject, 1),
                (Phase::Create, 1),
                (Phase::Link, 2)
            ]
        );
        let after = simulate_plan(&l, &p);
        assert!(plan(&d, &after).expect("plan").is_empty());
    }

    #[test]
    fn parents_come_before_children_and_moves_wait_for_their_target() {
        let parent = |key: &str, p: Option<&str>| {
            wanted(
                key,
                vec![(of(GROUP_OBJECT, "parent"), p.map_or(Value::Null, text))],
            )
        };
        let d = with(
            desired(vec![]),
            GROUP_OBJECT,
            vec![
                parent("C", Some("B")),
                parent("B", Some("A")),
                parent("A", None),
                // Live: X under Y; the file turns it round.
                parent("X", None),
                parent("Y", Some("X")),
            ],
        );
        let l = holding(
            live("admin", vec![]),
            GROUP_OBJECT,
            vec![
                held(
                    "X",
                    Some(FLEET),
                    vec![(of(GROUP_OBJECT, "parent"), text("Y"))],
                ),
                held(
                    "Y",
                    Some(FLEET),
                    vec![(of(GROUP_OBJECT, "parent"), Value::Null)],
                ),
            ],
        );
        let p = plan(&d, &l).expect("plan");
        let runs: Vec<Vec<String>> = p
            .phases()
            .map(|(_, run)| run.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            runs,
            [
                vec!["create group A"],
                vec!["create group B"],
                vec!["create group C"],
                vec!["update group X"],
                vec!["update group Y"],
            ]
        );
        assert!(plan(&d, &simulate_plan(&l, &p)).expect("plan").is_empty());
    }

    #[test]
    fn object_actions_round_trip_through_their_json() {
        let actions = vec![
            Action::CreateObject {
                kind: DEVICE_OBJECT,
                key: "BT-1".into(),
                fields: [
                    (of(DEVICE_OBJECT, "group"), text("Vienna")),
                    (of(DEVICE_OBJECT, "disabled"), Value::Bool(false)),
                    (
                        Field::Attribute("when".into()),
                        text("2027-01-01T00:00:00Z"),
                    ),
                ]
                .into(),
            },
            Action::UpdateObject {
                kind: GROUP_OBJECT,
                key: "North".into(),
                adopt: true,
                changes: vec![FieldChange {
                    field: of(GROUP_OBJECT, "parent"),
                    before: text("A"),
                    after: Value::Null,
                }],
            },
            Action::DeleteObject {
                kind: GROUP_OBJECT,
                key: "Old".into(),
            },
            // A list field (a set of words), a number and a reference of the later kinds.
            Action::UpdateObject {
                kind: NOTIFICATION_OBJECT,
                key: "theft".into(),
                adopt: false,
                changes: vec![
                    FieldChange {
                        field: of(NOTIFICATION_OBJECT, "alarms"),
                        before: Value::list(["sos".to_string()]),
                        after: Value::list(["movement".to_string(), "sos".to_string()]),
                    },
                    FieldChange {
                        field: of(NOTIFICATION_OBJECT, "command"),
                        before: text("engine-stop"),
                        after: Value::Null,
                    },
                ],
            },
            Action::CreateObject {
                kind: MAINTENANCE_OBJECT,
                key: "service".into(),
                fields: [
                    (of(MAINTENANCE_OBJECT, "type"), text("odometer")),
                    (of(MAINTENANCE_OBJECT, "period"), Value::Int(5_000_000)),
                ]
                .into(),
            },
        ];
        for action in actions {
            let json = serde_json::to_value(&action).expect("json");
            assert_eq!(
                Action::from_json(TRACCAR, &json),
                Ok(action.clone()),
                "{json}"
            );
        }
        let bad = serde_json::json!({"action": "create_object", "kind": "order", "key": "x"});
        assert!(Action::from_json(TRACCAR, &bad).is_err());
    }

    #[test]
    fn actions_say_what_they_need() {
        let link = Action::Link {
            email: "a@x.test".into(),
            kind: GROUP,
            target: "G".into(),
        };
        assert_eq!(
            link.needs(TRACCAR),
            [Subject::Object(GROUP_OBJECT, "G".into())]
        );
        let unlink = Action::Unlink {
            email: "a@x.test".into(),
            kind: GROUP,
            target: "G".into(),
        };
        assert!(unlink.needs(TRACCAR).is_empty(), "a revocation never waits");
        let create = Action::CreateObject {
            kind: DEVICE_OBJECT,
            key: "D".into(),
            fields: [
                (of(DEVICE_OBJECT, "group"), text("G")),
                (of(DEVICE_OBJECT, "name"), text("G")),
            ]
            .into(),
        };
        assert_eq!(
            create.needs(TRACCAR),
            [Subject::Object(GROUP_OBJECT, "G".into())]
        );
        assert_eq!(
            create.subject(TRACCAR),
            Subject::Object(DEVICE_OBJECT, "D".into())
        );
        assert_eq!(create.email(), "");
        let _ = Plan::new(
            TRACCAR,
            FLEET.into(),
            live("admin", vec![]).account,
            vec![create],
        );
    }

    mod properties {
        //! For random groups and devices on the server and in the file: the plan converges
        //! (simulated, the next plan is empty), never deletes a device, never touches another
        //! fleet's objects or unmarked ones the file does not name, and orders every create and
        //! update after the ones it needs.

        use proptest::prelude::*;
        use proptest::sample::select;

        use super::*;

        const GROUPS: [&str; 4] = ["A", "B", "C", "D"];
        const DEVICES: [&str; 3] = ["D1", "D2", "D3"];

        fn marker() -> impl Strategy<Value = Option<&'static str>> {
            select(vec![None, Some(FLEET), Some("other")])
        }

        /// Live groups with parents among earlier ones (the server has no cycles), devices in
        /// any of them.
        fn live_state() -> impl Strategy<Value = Live> {
            (
                prop::collection::vec((any::<bool>(), marker(), 0usize..5), GROUPS.len()),
                prop::collection::vec((any::<bool>(), marker(), 0usize..5), DEVICES.len()),
            )
                .prop_map(|(groups, devices)| {
                    let mut l = live("admin", vec![]);
                    l.ambiguous = Default::default();
                    let mut present = Vec::new();
                    let mut held_groups = Vec::new();
                    for (i, (exists, marker, parent)) in groups.into_iter().enumerate() {
                        if !exists {
                            continue;
                        }
                        let parent = present.get(parent).filter(|_| parent < i).cloned();
                        held_groups.push(held(
                            GROUPS[i],
                            marker,
                            vec![(
                                of(GROUP_OBJECT, "parent"),
                                parent.map_or(Value::Null, |p: String| text(&p)),
                            )],
                        ));
                        present.push(GROUPS[i].to_string());
                    }
                    let mut held_devices = Vec::new();
                    for (i, (exists, marker, group)) in devices.into_iter().enumerate() {
                        if exists {
                            let group = present.get(group).cloned();
                            held_devices.push(held(
                                DEVICES[i],
                                marker,
                                vec![(
                                    of(DEVICE_OBJECT, "group"),
                                    group.map_or(Value::Null, |g| text(&g)),
                                )],
                            ));
                        }
                    }
                    l.targets = Default::default();
                    holding(
                        holding(l, GROUP_OBJECT, held_groups),
                        DEVICE_OBJECT,
                        held_devices,
                    )
                })
        }

        /// A file: a random subset of groups (parents among earlier listed ones, or left out),
        /// devices in listed groups, names and attributes.
        fn desired_state() -> impl Strategy<Value = Desired> {
            (
                prop::collection::vec((any::<bool>(), 0usize..6), GROUPS.len()),
                prop::collection::vec((any::<bool>(), 0usize..6, any::<bool>()), DEVICES.len()),
                select(vec![Prune::Delete, Prune::Keep]),
                any::<bool>(),
            )
                .prop_map(|(groups, devices, prune, manage_devices)| {
                    let mut listed: Vec<String> = Vec::new();
                    let mut wanted_groups = Vec::new();
                    for (i, (keep, parent)) in groups.into_iter().enumerate() {
                        if !keep {
                            continue;
                        }
                        let mut fields = Vec::new();
                        // 4: left out (not managed); 5: top-level.
                        match parent {
                            4 => {}
                            5 => fields.push((of(GROUP_OBJECT, "parent"), Value::Null)),
                            p => {
                                if let Some(parent) = listed.get(p) {
                                    fields.push((of(GROUP_OBJECT, "parent"), text(parent)));
                                }
                            }
                        }
                        wanted_groups.push(wanted(GROUPS[i], fields));
                        listed.push(GROUPS[i].to_string());
                    }
                    let mut wanted_devices = Vec::new();
                    for (i, (keep, group, named)) in devices.into_iter().enumerate() {
                        if !keep {
                            continue;
                        }
                        let mut fields = Vec::new();
                        if named {
                            fields.push((of(DEVICE_OBJECT, "name"), text(&format!("Bike {i}"))));
                            fields.push((Field::Attribute("frame".into()), text("L")));
                        }
                        match group {
                            4 => {}
                            5 => fields.push((of(DEVICE_OBJECT, "group"), Value::Null)),
                            g => {
                                if let Some(group) = listed.get(g) {
                                    fields.push((of(DEVICE_OBJECT, "group"), text(group)));
                                }
                            }
                        }
                        wanted_devices.push(wanted(DEVICES[i], fields));
                    }
                    let mut d = with(desired(vec![]), GROUP_OBJECT, wanted_groups);
                    if manage_devices {
                        d = with(d, DEVICE_OBJECT, wanted_devices);
                    }
                    d.prune = prune;
                    d
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn objects_converge_and_stay_in_scope(live in live_state(), desired in desired_state()) {
                let first = plan(&desired, &live);
                // The only refusal these cases can meet: an object of another fleet named.
                let claimed = desired.objects.iter().any(|(kind, objects)| {
                    objects.keys().any(|key| {
                        live.objects
                            .get(kind)
                            .and_then(|o| o.get(key))
                            .is_some_and(|o| o.marker.as_deref() == Some("other"))
                    })
                });
                prop_assert_eq!(first.is_err(), claimed, "{:?}", first.as_ref().err());
                let Ok(first) = first else { return Ok(()); };

                // Every action runs after the create of what it needs, and after an update of
                // it in its own phase (a move waits for its target's).
                let mut done: BTreeSet<Subject> = BTreeSet::new();
                for (phase, run) in first.phases() {
                    for action in run {
                        for need in action.needs(desired.backend) {
                            let waits = first.actions.iter().any(|a| {
                                a.subject(desired.backend) == need
                                    && (matches!(a, Action::CreateObject { .. })
                                        || (a.object().is_some() && Phase::of(a) == phase))
                            });
                            prop_assert!(!waits || done.contains(&need), "{action} before {need}");
                        }
                    }
                    done.extend(run.iter().map(|a| a.subject(desired.backend)));
                }

                let after = simulate_plan(&live, &first);
                let again = plan(&desired, &after);
                prop_assert!(again.as_ref().is_ok_and(Plan::is_empty), "{:?}", again);

                for (kind, objects) in &live.objects {
                    let managed = desired.objects.get(kind);
                    for (key, before) in objects {
                        let now = after.objects.get(kind).and_then(|o| o.get(key));
                        let named = managed.is_some_and(|m| m.contains_key(key));
                        let ours = before.marker.as_deref() == Some(FLEET);
                        if *kind == DEVICE_OBJECT {
                            prop_assert!(now.is_some(), "device {key} deleted");
                        }
                        if named {
                            prop_assert_eq!(now.and_then(|o| o.marker.as_deref()), Some(FLEET));
                        } else if !(ours
                            && managed.is_some()
                            && desired.prune == Prune::Delete
                            && *kind != DEVICE_OBJECT)
                        {
                            // Left alone, but for a reference to a group the plan deleted.
                            let mut expected = before.clone();
                            for (field, value) in expected.fields.iter_mut() {
                                if let Value::Text(target) = value
                                    && field.spec().is_some_and(|s| s.name == "parent" || s.name == "group")
                                    && after.objects.get(&GROUP_OBJECT).is_none_or(|g| !g.contains_key(target))
                                {
                                    *value = Value::Null;
                                }
                            }
                            prop_assert_eq!(now, Some(&expected), "{} {} changed", kind, key);
                        } else {
                            prop_assert!(now.is_none(), "{kind} {key} kept");
                        }
                    }
                }
            }
        }
    }
}
