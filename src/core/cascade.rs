//! cascade: pure. What the server does on its own when the plan deletes an object, so the plan
//! can show it as lines of their own under the delete instead of leaving it implied: the
//! objects whose reference to it the server clears (a deleted group leaves its devices and
//! child groups without one), the objects it deletes with it (`OnDelete::Delete`), and the
//! links to it it drops (every user, device or group linked to the object loses that link).
//!
//! Only what the live state shows is listed, and only what the plan does not already do or
//! undo: an object the plan deletes anyway, a reference the plan moves elsewhere in the same
//! run, a link the plan removes itself are not cascades. Links of users fleetform did not read
//! (outside the file and the fleet) are not known here; the renderers say "and its links" for
//! those.

use std::collections::BTreeSet;

use crate::core::model::{Action, Desired, Live, ObjectKind, OnDelete, Value, linked};

/// The cascade lines of each action of `actions`, in order (empty for every action but an
/// object delete with consequences).
pub fn of(desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Vec<String>> {
    let deleted = deleted(actions);
    actions
        .iter()
        .map(|action| match action {
            Action::DeleteObject { kind, key } => {
                lines(desired, live, actions, &deleted, (*kind, key))
            }
            _ => Vec::new(),
        })
        .collect()
}

/// The objects `actions` delete, by kind and key.
pub fn deleted(actions: &[Action]) -> BTreeSet<(ObjectKind, &str)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteObject { kind, key } => Some((*kind, key.as_str())),
            _ => None,
        })
        .collect()
}

/// Whether `actions` change `field` of the object `(kind, key)` (so the server's clearing of
/// it is not the end state).
fn moved(actions: &[Action], (kind, key): (ObjectKind, &str), field: &str) -> bool {
    actions.iter().any(|a| match a {
        Action::UpdateObject {
            kind: k,
            key: o,
            changes,
            ..
        } => *k == kind && o == key && changes.iter().any(|c| c.field.name() == field),
        _ => false,
    })
}

fn lines(
    desired: &Desired,
    live: &Live,
    actions: &[Action],
    deleted: &BTreeSet<(ObjectKind, &str)>,
    (kind, key): (ObjectKind, &str),
) -> Vec<String> {
    let mut out = Vec::new();
    for spec in desired.backend.objects {
        // Named objects, then those the server holds without a usable key (`#<id>`).
        let objects = live
            .objects
            .get(&spec.kind)
            .into_iter()
            .chain(live.unnamed.get(&spec.kind))
            .flatten();
        for reference in spec.refs.iter().filter(|r| r.target == kind) {
            let Some(field) = spec.field(reference.field) else {
                continue;
            };
            for (other, object) in objects.clone() {
                if object.fields.get(&field) != Some(&Value::Text(key.to_string()))
                    || deleted.contains(&(spec.kind, other.as_str()))
                {
                    continue;
                }
                match reference.on_delete {
                    OnDelete::Clear if !moved(actions, (spec.kind, other), reference.field) => {
                        out.push(format!(
                            "{} {other}: {} {key} -> none",
                            spec.kind, reference.field
                        ));
                    }
                    OnDelete::Clear => {}
                    // Switched away first (`plan::late_delete`): it stays.
                    OnDelete::Delete if moved(actions, (spec.kind, other), reference.field) => {}
                    OnDelete::Delete => {
                        out.push(format!(
                            "{} {other} is deleted with it (its {} is {key})",
                            spec.kind, reference.field
                        ));
                    }
                }
            }
        }
    }
    // Objects linked to it (a device's geofences) lose that link, unless the plan unlinks it
    // itself or deletes the object. Only lists the fetch read are known.
    for (owner_kind, objects) in &live.objects {
        for (owner, object) in objects {
            let linked_here = object.links.get(&kind).is_some_and(|t| t.contains(key));
            let handled = deleted.contains(&(*owner_kind, owner.as_str()))
                || actions.iter().any(|a| {
                    matches!(a, Action::UnlinkObject { kind: k, key: o, target_kind, target }
                        if k == owner_kind && o == owner && *target_kind == kind && target == key)
                });
            if linked_here && !handled {
                out.push(format!("{owner_kind} {owner}: loses its link to it"));
            }
        }
    }
    if let Some(link) = desired.backend.object(kind).and_then(|spec| spec.link) {
        for (user_key, user) in &live.users {
            if !linked(&user.links, link).contains(key) {
                continue;
            }
            let removed = actions.iter().any(|a| match a {
                Action::Unlink {
                    email,
                    kind: k,
                    target,
                } => *k == link && target == key && desired.key(email) == *user_key,
                Action::DeleteUser { email } => desired.key(email) == *user_key,
                _ => false,
            });
            if !removed {
                out.push(format!("{}: loses its link to it", user.email));
            }
        }
        // The billing account, whose links the backend reads apart from the users'.
        if let Some(manager) = &desired.manager
            && linked(&live.owner_targets, link).contains(key)
            && !live
                .users
                .get(manager)
                .is_some_and(|m| linked(&m.links, link).contains(key))
        {
            let email = live
                .users
                .get(manager)
                .map_or(manager.as_str(), |m| m.email.as_str());
            out.push(format!("{email}: loses its link to it"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::traccar::rules::{DEVICE_OBJECT, GEOFENCE, GROUP_OBJECT};
    use crate::core::diff::tests::{desired, have, live};
    use crate::core::model::{Field, LiveObject};

    fn object(key: &str, fields: Vec<(Field, Value)>) -> (String, LiveObject) {
        (
            key.to_string(),
            LiveObject {
                links: Default::default(),
                key: key.into(),
                marker: None,
                fields: fields.into_iter().collect(),
            },
        )
    }

    /// Deleting a group lists the device and the child group the server leaves without it,
    /// but not a device the plan moves elsewhere nor a child the plan deletes too; deleting a
    /// geofence lists the users the server unlinks, but not one the plan unlinks itself.
    #[test]
    fn a_delete_lists_what_the_server_does_with_it() {
        let d = desired(vec![]);
        let backend = d.backend;
        let group_field = |kind, name| {
            backend
                .object(kind)
                .and_then(|s| s.field(name))
                .expect("field")
        };
        let (group, parent) = (
            group_field(DEVICE_OBJECT, "group"),
            group_field(GROUP_OBJECT, "parent"),
        );
        let north = || Value::Text("North".into());
        let mut l = live("admin", vec![]);
        l.objects.insert(
            DEVICE_OBJECT,
            [
                object("BT-1", vec![(group.clone(), north())]),
                object("BT-2", vec![(group.clone(), north())]),
                object("BT-3", vec![(group.clone(), Value::Text("South".into()))]),
            ]
            .into(),
        );
        l.objects.insert(
            GROUP_OBJECT,
            [
                object("North", vec![]),
                object("Child", vec![(parent.clone(), north())]),
                object("Doomed", vec![(parent, north())]),
            ]
            .into(),
        );
        let mut ann = have("ann@x.at", None);
        ann.links
            .entry(GEOFENCE)
            .or_default()
            .insert("depot".into());
        let mut bob = have("bob@x.at", None);
        bob.links
            .entry(GEOFENCE)
            .or_default()
            .insert("depot".into());
        l.users
            .insert(crate::core::model::UserKey::new("ann@x.at"), ann);
        l.users
            .insert(crate::core::model::UserKey::new("bob@x.at"), bob);
        let actions = vec![
            Action::DeleteObject {
                kind: GROUP_OBJECT,
                key: "North".into(),
            },
            Action::DeleteObject {
                kind: GROUP_OBJECT,
                key: "Doomed".into(),
            },
            Action::UpdateObject {
                kind: DEVICE_OBJECT,
                key: "BT-2".into(),
                adopt: false,
                changes: vec![crate::core::model::FieldChange {
                    field: group,
                    before: north(),
                    after: Value::Text("South".into()),
                }],
            },
            Action::Unlink {
                email: "bob@x.at".into(),
                kind: GEOFENCE,
                target: "depot".into(),
            },
            Action::DeleteObject {
                kind: crate::backend::traccar::rules::GEOFENCE_OBJECT,
                key: "depot".into(),
            },
        ];
        // A device whose geofence list was read, linked to the geofence the plan deletes.
        if let Some(bt1) = l
            .objects
            .get_mut(&DEVICE_OBJECT)
            .and_then(|d| d.get_mut("BT-1"))
        {
            bt1.links.insert(
                crate::backend::traccar::rules::GEOFENCE_OBJECT,
                ["depot".to_string()].into(),
            );
        }
        let got = of(&d, &l, &actions);
        assert_eq!(
            got[0],
            // In the backend's order of kinds (groups, then devices).
            [
                "group Child: parent North -> none",
                "device BT-1: group North -> none"
            ]
        );
        assert!(got[1].is_empty(), "{got:?}");
        assert!(got[2].is_empty() && got[3].is_empty());
        assert_eq!(
            got[4],
            [
                "device BT-1: loses its link to it",
                "ann@x.at: loses its link to it"
            ]
        );
    }
}
