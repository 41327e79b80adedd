//! export: pure. Writes a fleet file (YAML text) from live state, for adopting a server that
//! fleetform does not manage yet (`fleetform export`). It must not do I/O: `workflow` fetches
//! twice through the `Backend` trait (once to list users, once with a scope of the exported
//! emails to read their links) and writes the text.
//!
//! Design:
//! - Who is exported: never administrators, the acting account or Traccar's temporary share
//!   users (the backend drops those); with `managed` only users carrying this fleet's marker,
//!   with `all` every user without a marker or with this fleet's (users of another fleet stay
//!   with their fleet), except unmarked managers (a user limit other than 0): a billing account
//!   listed as a user would be adopted and managed by the first apply. `left_out_managers`
//!   names them, so the command can say so in the file.
//! - What: name and phone when set, the permission fields (readonly, deviceReadonly,
//!   limitCommands, disableReports, deviceLimit, userLimit), disabled, expirationTime when set,
//!   direct device and group links. Attributes are not exported (they often hold app state such
//!   as push tokens); add the ones to manage by hand.
//! - `--infer-roles`: users with identical permission fields, when at least two share them,
//!   get a role `role-N` (most common first) instead of repeating the fields.
//! - `prune: keep`, so the adopted file deletes nothing until someone decides otherwise.
//! - Objects (`devices:`, `groups:`, every kind the backend declares), chosen by
//!   `select_objects` as users are: this fleet's marked objects, and with `all` the unmarked
//!   ones too, never another fleet's; a kind with none gets no section (it stays unmanaged).
//!   Every declared field with a value is written (references by the target's key), attributes
//!   are not (as for users). A section that is written lists every object its kind's
//!   references name, so the file stays complete (`notes` says which were added unmarked: the
//!   first apply adopts them); a reference to an object the file cannot name (another fleet's,
//!   or a name several objects share) is left out, and `notes` says so. A field whose value the
//!   file keeps in a file beside it (a calendar's iCalendar, `ObjectSpec::files`) is written as
//!   a path, and `files_beside` gives those files for the command to write.
//! - Users' lists of every kind, given-only ones (geofences, drivers, ...) where the user has
//!   links of the kind (the command reads them for every exported user).
//! - Devices' and groups' lists of linked objects (`ObjectSpec::lists`: geofences,
//!   notifications, ...), so the file is the whole truth: every exported device and group
//!   gets every list of a kind the account sees objects of (`object_lists` says which the
//!   command reads), `[]` included, so a link made by hand later shows in plans; a kind the
//!   account sees none of gets no list (nothing could be linked to it yet). A list names what
//!   is linked, whichever scope exported the target (a link does not claim the object: under
//!   `managed` an unmarked geofence stays out of `geofences:` but stays linked). A list with a
//!   target the file cannot name (a name several objects share, none at all, one the account
//!   cannot read) is left out, and `notes` says so: it stays unmanaged, as before.
//! - The YAML is written by hand (strings as JSON-quoted scalars, which YAML reads as is) and
//!   then checked with `config::parse`, so export never hands out a file fleetform refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::config;
use crate::core::model::{Description, RiskClass};
use crate::core::model::{
    Field, Live, LiveObject, LiveUser, ObjectKind, Objects, UserKey, Value, linked,
};
use crate::core::record::APPLIED_ATTRIBUTE;

/// Which users to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Users carrying this fleet's marker.
    Managed,
    /// Every user fleetform may manage that no other fleet claims.
    All,
}

/// Whether a field makes up a role under `--infer-roles` (the backend's permission fields).
fn is_permission(field: &Field) -> bool {
    field.spec().is_some_and(|spec| spec.permission)
}

/// The users to export (see the design comment).
pub fn select(backend: &Description, live: &Live, fleet: &str, which: Which) -> BTreeSet<UserKey> {
    let me = backend.key.key(&live.account.email);
    live.users
        .iter()
        .filter(|(key, user)| **key != me && user.untouchable.is_none())
        .filter(|(_, user)| match (which, user.marker.as_deref()) {
            (_, Some(marker)) => marker == fleet,
            (Which::All, None) => !is_manager(user),
            (Which::Managed, None) => false,
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// A user with power over other users: a limit that grants a role (`RiskClass::Limit {
/// grants_role }`, Traccar's `userLimit`) set to anything but 0. Such an account is usually a
/// billing account, not a fleet member.
fn is_manager(user: &LiveUser) -> bool {
    user.fields.iter().any(|(field, value)| {
        field
            .spec()
            .is_some_and(|spec| spec.risk == RiskClass::Limit { grants_role: true })
            && matches!(value, Value::Int(n) if *n != 0)
    })
}

/// The unmarked managers `select` leaves out under `all` (emails, as the server spells them).
pub fn left_out_managers(backend: &Description, live: &Live, which: Which) -> Vec<String> {
    let me = backend.key.key(&live.account.email);
    if which == Which::Managed {
        return Vec::new();
    }
    live.users
        .iter()
        .filter(|(key, user)| {
            **key != me && user.untouchable.is_none() && user.marker.is_none() && is_manager(user)
        })
        .map(|(_, user)| user.email.clone())
        .collect()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn yaml_value(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Time(t) => q(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        Value::Text(s) if s.is_empty() => return None,
        Value::Text(s) => q(s),
        Value::Json(j) => j.to_string(),
    })
}

/// The objects to export (see the design comment), by kind, as `live` should hold them for
/// `fleet_file`, and notes for the file's header about objects added or references dropped.
pub fn select_objects(
    backend: &'static Description,
    live: &Live,
    fleet: &str,
    which: Which,
) -> (Objects<LiveObject>, Vec<String>) {
    let mut notes = Vec::new();
    let eligible = |object: &LiveObject| match object.marker.as_deref() {
        Some(marker) => marker == fleet,
        None => which == Which::All,
    };
    let mut chosen: Objects<LiveObject> = BTreeMap::new();
    for spec in backend.objects {
        let Some(objects) = live.objects.get(&spec.kind) else {
            continue;
        };
        let kept: BTreeMap<String, LiveObject> = objects
            .iter()
            .filter(|(_, o)| eligible(o))
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        if !kept.is_empty() {
            chosen.insert(spec.kind, kept);
        }
    }
    // References: to an exported section, the target joins it (until nothing is added); to an
    // object the file cannot name, the field is left out.
    loop {
        let mut added: Vec<(ObjectKind, LiveObject)> = Vec::new();
        let mut dropped: Vec<(ObjectKind, String, Field)> = Vec::new();
        for spec in backend.objects {
            for (key, object) in chosen.get(&spec.kind).into_iter().flatten() {
                for reference in spec.refs {
                    let Some(field) = spec.field(reference.field) else {
                        continue;
                    };
                    let Some(Value::Text(target)) = object.fields.get(&field) else {
                        continue;
                    };
                    let exported = chosen.get(&reference.target);
                    if exported.is_some_and(|o| o.contains_key(target)) {
                        continue;
                    }
                    let found = live
                        .objects
                        .get(&reference.target)
                        .and_then(|o| o.get(target));
                    match found {
                        Some(o) if o.marker.as_deref().is_none_or(|m| m == fleet) => {
                            if exported.is_some() {
                                added.push((reference.target, o.clone()));
                            }
                        }
                        _ => dropped.push((spec.kind, key.clone(), field.clone())),
                    }
                }
            }
        }
        if added.is_empty() && dropped.is_empty() {
            break;
        }
        for (kind, object) in added {
            if object.marker.is_none() && which == Which::Managed {
                notes.push(format!(
                    "Added: {kind} {}, which an exported object names; it is not yet this \
                     fleet's, so the first apply adopts it.",
                    object.key
                ));
            }
            chosen
                .entry(kind)
                .or_default()
                .insert(object.key.clone(), object);
        }
        for (kind, key, field) in dropped {
            if let Some(object) = chosen.get_mut(&kind).and_then(|o| o.get_mut(&key))
                && let Some(Value::Text(target)) = object.fields.remove(&field)
            {
                notes.push(format!(
                    "Not exported: the {field} of {kind} {key} ({target:?}), which names \
                         no object this file can manage (another fleet's, or a name several \
                         share); it stays as it is."
                ));
            }
        }
    }
    // Lists naming a target the file cannot name (see the design comment) are left out.
    for spec in backend.objects {
        for (key, object) in chosen.get_mut(&spec.kind).into_iter().flatten() {
            object.links.retain(|target_kind, targets| {
                let named = live.objects.get(target_kind);
                let unnamed: Vec<&String> = targets
                    .iter()
                    .filter(|t| t.is_empty() || named.is_none_or(|o| !o.contains_key(*t)))
                    .collect();
                if unnamed.is_empty() {
                    return true;
                }
                let file_key = spec
                    .lists
                    .iter()
                    .find(|l| l.target == *target_kind)
                    .map_or("", |l| l.file_key);
                notes.push(format!(
                    "Not exported: the {file_key} list of {} {key}, linked to {} {:?}, which                      this file cannot name (several share the name, or it has none); its links                      stay as they are.",
                    spec.kind,
                    target_kind,
                    unnamed
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                false
            });
        }
    }
    notes.sort();
    notes.dedup();
    (chosen, notes)
}

/// The lists of linked objects the command reads for the `chosen` objects (as `select_objects`
/// chose them from `live`), as `Scope::object_lists` holds them: for each chosen object of a
/// kind with lists, every target kind `live` holds objects of (named or not).
pub fn object_lists(
    backend: &'static Description,
    live: &Live,
    chosen: &Objects<LiveObject>,
) -> BTreeMap<ObjectKind, BTreeMap<String, BTreeSet<ObjectKind>>> {
    let held = |kind: &ObjectKind| {
        [&live.objects, &live.unnamed]
            .iter()
            .any(|objects| objects.get(kind).is_some_and(|o| !o.is_empty()))
    };
    let mut out = BTreeMap::new();
    for spec in backend.objects {
        let kinds: BTreeSet<ObjectKind> = spec
            .lists
            .iter()
            .map(|l| l.target)
            .filter(|kind| held(kind))
            .collect();
        let Some(objects) = chosen.get(&spec.kind).filter(|_| !kinds.is_empty()) else {
            continue;
        };
        let lists: BTreeMap<String, BTreeSet<ObjectKind>> = objects
            .keys()
            .map(|key| (key.clone(), kinds.clone()))
            .collect();
        if !lists.is_empty() {
            out.insert(spec.kind, lists);
        }
    }
    out
}

/// The files the exported fleet file names beside it (a calendar's iCalendar `file`), by the
/// path the file gives, with their text: `<section>/<key>.<extension>`, the key made safe for
/// a file name (characters other than letters, digits, `.`, `-` and `_` become `_`; a name
/// taken twice gets `-2`, `-3`, ...). The command writes them beside the fleet file.
pub fn files_beside(
    backend: &'static Description,
    live: &Live,
) -> BTreeMap<(ObjectKind, String, String), (String, String)> {
    let mut out = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for spec in backend.objects {
        let Some(objects) = live.objects.get(&spec.kind) else {
            continue;
        };
        for (name, extension) in spec.files {
            let Some(field) = spec.field(name) else {
                continue;
            };
            for (key, object) in objects {
                let Some(Value::Text(text)) = object.fields.get(&field) else {
                    continue;
                };
                let safe: String = key
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let safe = safe.trim_start_matches('.').to_string();
                let mut path = format!("{}/{safe}.{extension}", spec.section);
                let mut n = 1;
                while !taken.insert(path.clone()) {
                    n += 1;
                    path = format!("{}/{safe}-{n}.{extension}", spec.section);
                }
                out.insert(
                    (spec.kind, key.clone(), name.to_string()),
                    (path, text.clone()),
                );
            }
        }
    }
    out
}

/// Whether the file could hold `value` as `field`'s (its type, and an integer's range).
fn fits(field: &Field, value: &Value) -> bool {
    let range = match field.spec().map(|spec| spec.ty) {
        Some(crate::core::model::FieldType::Int { min, max }) => Some(min..=max),
        _ => None,
    };
    match (Value::from_json_as(field, &value.to_json()), range) {
        (Ok(Value::Int(n)), Some(range)) => range.contains(&n),
        (Ok(_), _) => true,
        (Err(_), _) => false,
    }
}

/// The object sections of `live` (as `select_objects` chose them), in the backend's order.
fn object_sections(backend: &'static Description, live: &Live, out: &mut String) {
    let beside = files_beside(backend, live);
    for spec in backend.objects {
        let Some(objects) = live.objects.get(&spec.kind) else {
            continue;
        };
        if objects.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}:", spec.section);
        for (key, object) in objects {
            let fields: Vec<(Field, String)> = spec
                .scalars()
                .filter_map(|f| {
                    // A file's text is written beside, the entry names its path.
                    let name = f.spec().map_or("", |s| s.name);
                    if let Some((path, _)) = beside.get(&(spec.kind, key.clone(), name.to_string()))
                    {
                        return Some((f, q(path)));
                    }
                    let value = object.fields.get(&f)?;
                    // A value the file could not hold (a maintenance's `1000.5` or `-5`, where
                    // the file has whole numbers from 0) is left out: it stays unmanaged.
                    fits(&f, value).then_some(())?;
                    Some((f.clone(), yaml_value(value)?))
                })
                .collect();
            // The lists read for it (`object_lists`), in the backend's order.
            let lists: Vec<(&str, &BTreeSet<String>)> = spec
                .lists
                .iter()
                .filter_map(|l| Some((l.file_key, object.links.get(&l.target)?)))
                .collect();
            if fields.is_empty() && lists.is_empty() {
                let _ = writeln!(out, "  {}: {{}}", q(key));
                continue;
            }
            let _ = writeln!(out, "  {}:", q(key));
            for (field, value) in fields {
                let _ = writeln!(out, "    {field}: {value}");
            }
            for (file_key, targets) in lists {
                let _ = writeln!(out, "    {file_key}: {}", list(targets));
            }
        }
    }
}

fn permissions(user: &LiveUser) -> Vec<(Field, String)> {
    user.fields
        .iter()
        .filter(|(f, _)| is_permission(f))
        .filter_map(|(f, v)| Some((f.clone(), yaml_value(v)?)))
        .collect()
}

fn list(items: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Where the exported fleet's server is: written as `server:` for backends other than the
/// default (a Traccar file names no server, as before).
#[derive(Clone, Copy, Debug)]
pub struct Server<'a> {
    pub url: &'a str,
    /// The instance, for backends with instances (`server.instanceId`).
    pub instance: Option<&'a str>,
}

/// The fleet file for `users` (keys of `live.users`, with links read), checked by
/// `config::parse`. `header` is written as a comment on top.
pub fn fleet_file(
    backend: &'static Description,
    live: &Live,
    (fleet, server): (&str, &Server<'_>),
    users: &BTreeSet<UserKey>,
    infer_roles: bool,
    header: &str,
) -> Result<String, config::Problems> {
    let exported: Vec<&LiveUser> = users.iter().filter_map(|k| live.users.get(k)).collect();

    // Roles: identical permission sets shared by at least two users, most common first.
    let mut roles: Vec<(Vec<(Field, String)>, usize)> = Vec::new();
    if infer_roles {
        type Set = Vec<(Field, String)>;
        let mut counts: BTreeMap<Vec<(String, String)>, (Set, usize)> = BTreeMap::new();
        for user in &exported {
            let set = permissions(user);
            if set.is_empty() {
                continue;
            }
            let key = set.iter().map(|(f, v)| (f.name(), v.clone())).collect();
            counts.entry(key).or_insert((set, 0)).1 += 1;
        }
        roles = counts.into_values().filter(|(_, n)| *n >= 2).collect();
        roles.sort_by_key(|r| std::cmp::Reverse(r.1));
    }
    let role_of = |user: &LiveUser| -> Option<usize> {
        let set = permissions(user);
        roles.iter().position(|(r, _)| *r == set)
    };

    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "version: 1");
    let _ = writeln!(out, "fleet: {}", q(fleet));
    if backend.kind != crate::backend::DEFAULT.kind {
        let _ = writeln!(out, "server:");
        let _ = writeln!(out, "  kind: {}", backend.kind);
        let _ = writeln!(out, "  url: {}", q(server.url));
        if let Some(instance) = server.instance {
            let _ = writeln!(out, "  instanceId: {}", q(instance));
        }
    }
    let removals: Vec<&str> = backend
        .capabilities
        .prune
        .iter()
        .filter(|p| **p != crate::core::model::Prune::Keep)
        .map(|p| p.name())
        .collect();
    let _ = writeln!(
        out,
        "# keep: users removed from this file stay on the server. Use {} once the file is complete.",
        removals.join(" or ")
    );
    let _ = writeln!(out, "prune: keep");
    if !roles.is_empty() {
        let _ = writeln!(out, "roles:");
        for (i, (set, _)) in roles.iter().enumerate() {
            let _ = writeln!(out, "  role-{}:", i + 1);
            for (field, value) in set {
                let _ = writeln!(out, "    {field}: {value}");
            }
        }
    }
    object_sections(backend, live, &mut out);
    if exported.is_empty() {
        let _ = writeln!(out, "users: []");
    } else {
        let _ = writeln!(out, "users:");
    }
    for user in &exported {
        let _ = writeln!(out, "  - {}: {}", backend.key.name, q(&user.email));
        let role = role_of(user);
        if let Some(i) = role {
            let _ = writeln!(out, "    role: role-{}", i + 1);
        }
        for field in backend.scalars() {
            if role.is_some() && is_permission(&field) {
                continue;
            }
            if let Some(value) = user.fields.get(&field).and_then(yaml_value) {
                let _ = writeln!(out, "    {field}: {value}");
            }
        }
        for (spec, key) in backend.file_links() {
            let targets = linked(&user.links, spec.kind);
            if !targets.is_empty() {
                let _ = writeln!(out, "    {key}: {}", list(targets));
            }
        }
    }
    // The record and the marker are fleetform's bookkeeping, never exported.
    debug_assert!(!out.contains(APPLIED_ATTRIBUTE));
    let beside = files_beside(backend, live).into_values().collect();
    config::parse_with_files(&out, "exported fleet file", beside)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, have, live, set};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, tf};

    /// The fleet file exported from `live` with `chosen` as its objects.
    fn file_of(live: &Live, chosen: Objects<LiveObject>) -> String {
        let mut exported = live.clone();
        exported.objects = chosen;
        let server = Server {
            url: "https://traccar.example.com",
            instance: None,
        };
        fleet_file(
            TRACCAR,
            &exported,
            (FLEET, &server),
            &Default::default(),
            false,
            "t",
        )
        .expect("valid")
    }

    #[test]
    fn exports_a_valid_file_with_roles() {
        let mut a = have("a@x.at", Some(FLEET));
        a.fields
            .insert(tf("name"), Value::Text("A \"quoted\" name".into()));
        a.fields.insert(tf("readonly"), Value::Bool(true));
        a.links.insert(DEVICE, set(&["D1"]));
        let mut b = have("b@x.at", Some(FLEET));
        b.fields.insert(tf("readonly"), Value::Bool(true));
        b.links.insert(GROUP, set(&["G1"]));
        let c = have("c@x.at", None);
        let mut billing = have("billing@x.at", None);
        billing.fields.insert(tf("userLimit"), Value::Int(100));
        let mut unlimited = have("unlimited@x.at", None);
        unlimited.fields.insert(tf("userLimit"), Value::Int(-1));
        let mut not_a_manager = have("d@x.at", None);
        not_a_manager.fields.insert(tf("userLimit"), Value::Int(0));
        let l = live("admin", vec![a, b, c, billing, unlimited, not_a_manager]);
        let users = select(TRACCAR, &l, FLEET, Which::Managed);
        assert_eq!(users.len(), 2);
        // `all` never lists an unmarked manager: the first apply would adopt it.
        let all = select(TRACCAR, &l, FLEET, Which::All);
        assert_eq!(
            all.iter().map(UserKey::as_str).collect::<Vec<_>>(),
            ["a@x.at", "b@x.at", "c@x.at", "d@x.at"]
        );
        assert_eq!(
            left_out_managers(TRACCAR, &l, Which::All),
            ["billing@x.at", "unlimited@x.at"]
        );
        assert!(left_out_managers(TRACCAR, &l, Which::Managed).is_empty());
        let server = Server {
            url: "https://traccar.example.com",
            instance: None,
        };
        let text = fleet_file(TRACCAR, &l, (FLEET, &server), &users, true, "test").expect("valid");
        assert!(!text.contains("server:"), "{text}");
        assert!(text.contains("role: role-1"), "{text}");
        let loaded = config::parse(&text, "t").expect("parses");
        let a = &loaded.desired.users[&UserKey::new("a@x.at")];
        assert_eq!(a.fields[&tf("readonly")], Value::Bool(true));
        assert_eq!(
            a.fields[&tf("name")],
            Value::Text("A \"quoted\" name".into())
        );
    }

    #[test]
    fn objects_are_selected_like_users_and_the_file_stays_complete() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        let of = |kind, name: &str| {
            TRACCAR
                .object(kind)
                .and_then(|s| s.field(name))
                .expect("declared")
        };
        let object = |key: &str, marker: Option<&str>, fields: Vec<(Field, Value)>| {
            (
                key.to_string(),
                LiveObject {
                    links: Default::default(),
                    key: key.into(),
                    marker: marker.map(str::to_string),
                    fields: fields.into_iter().collect(),
                },
            )
        };
        let text = |s: &str| Value::Text(s.into());
        let mut l = live("admin", vec![]);
        l.objects.insert(
            GROUP_OBJECT,
            [
                object(
                    "Ours",
                    Some(FLEET),
                    vec![(of(GROUP_OBJECT, "parent"), text("Parent"))],
                ),
                object(
                    "Parent",
                    None,
                    vec![(of(GROUP_OBJECT, "parent"), Value::Null)],
                ),
                object("Theirs", Some("other"), vec![]),
                object("Loose", None, vec![]),
            ]
            .into(),
        );
        l.objects.insert(
            DEVICE_OBJECT,
            [
                object(
                    "D1",
                    Some(FLEET),
                    vec![
                        (of(DEVICE_OBJECT, "name"), text("Bike \"1\"")),
                        (of(DEVICE_OBJECT, "group"), text("Theirs")),
                        (of(DEVICE_OBJECT, "disabled"), Value::Bool(false)),
                        (Field::Attribute("push".into()), text("token")),
                    ],
                ),
                object("D2", None, vec![]),
            ]
            .into(),
        );
        let (chosen, notes) = select_objects(TRACCAR, &l, FLEET, Which::Managed);
        let keys = |kind| -> Vec<&str> {
            chosen
                .get(&kind)
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default()
        };
        assert_eq!(keys(GROUP_OBJECT), ["Ours", "Parent"], "the parent joins");
        assert_eq!(keys(DEVICE_OBJECT), ["D1"]);
        assert_eq!(notes.len(), 2, "{notes:#?}");
        assert!(notes[0].starts_with("Added: group Parent"), "{notes:#?}");
        assert!(
            notes[1].starts_with("Not exported: the group of device D1 (\"Theirs\")"),
            "{notes:#?}"
        );
        let file = file_of(&l, chosen);
        assert!(
            file.contains(
                "devices:\n  \"D1\":\n    name: \"Bike \\\"1\\\"\"\n    disabled: false\n"
            ),
            "{file}"
        );
        assert!(file.contains("  \"Parent\": {}\n"), "{file}");
        assert!(
            !file.contains("push"),
            "attributes are not exported: {file}"
        );
        let (all, _) = select_objects(TRACCAR, &l, FLEET, Which::All);
        assert_eq!(all[&GROUP_OBJECT].len(), 3, "never another fleet's");
        assert_eq!(all[&DEVICE_OBJECT].len(), 2);
    }

    #[test]
    fn devices_and_groups_get_every_list_of_a_kind_the_server_has() {
        use crate::backend::traccar::rules::{
            DEVICE_OBJECT, DRIVER_OBJECT, GEOFENCE_OBJECT, GROUP_OBJECT, NOTIFICATION_OBJECT,
        };
        let object = |key: &str, marker: Option<&str>, links: Vec<(ObjectKind, &[&str])>| {
            (
                key.to_string(),
                LiveObject {
                    links: links
                        .into_iter()
                        .map(|(kind, keys)| (kind, keys.iter().map(|k| k.to_string()).collect()))
                        .collect(),
                    key: key.into(),
                    marker: marker.map(str::to_string),
                    fields: Default::default(),
                },
            )
        };
        let mut l = live("admin", vec![]);
        // An unmarked geofence (not exported under `managed`, still named by the lists), and
        // a notification without a description: the server has both kinds, but no driver.
        l.objects
            .insert(GEOFENCE_OBJECT, [object("depot", None, vec![])].into());
        l.unnamed
            .insert(NOTIFICATION_OBJECT, [object("#5", None, vec![])].into());
        l.objects.insert(
            DEVICE_OBJECT,
            [
                object("D1", Some(FLEET), vec![]),
                object("D2", Some(FLEET), vec![]),
                object("D3", None, vec![]),
            ]
            .into(),
        );
        l.objects
            .insert(GROUP_OBJECT, [object("G", Some(FLEET), vec![])].into());
        let (chosen, _) = select_objects(TRACCAR, &l, FLEET, Which::Managed);
        let lists = object_lists(TRACCAR, &l, &chosen);
        let both: BTreeSet<ObjectKind> = [GEOFENCE_OBJECT, NOTIFICATION_OBJECT].into();
        assert_eq!(
            lists[&DEVICE_OBJECT],
            [
                ("D1".to_string(), both.clone()),
                ("D2".to_string(), both.clone())
            ]
            .into(),
            "the chosen devices only, no driver list"
        );
        assert_eq!(lists[&GROUP_OBJECT], [("G".to_string(), both)].into());
        assert!(!lists[&DEVICE_OBJECT]["D1"].contains(&DRIVER_OBJECT));

        // What the second read found: D2 is linked to a geofence the file cannot name (one of
        // two sharing a name, kept out of `live.objects`).
        l.objects.insert(
            DEVICE_OBJECT,
            [
                object(
                    "D1",
                    Some(FLEET),
                    vec![(GEOFENCE_OBJECT, &["depot"]), (NOTIFICATION_OBJECT, &[])],
                ),
                object(
                    "D2",
                    Some(FLEET),
                    vec![(GEOFENCE_OBJECT, &["shared"]), (NOTIFICATION_OBJECT, &[])],
                ),
            ]
            .into(),
        );
        let (chosen, notes) = select_objects(TRACCAR, &l, FLEET, Which::Managed);
        assert_eq!(notes.len(), 1, "{notes:#?}");
        assert!(
            notes[0].starts_with(
                "Not exported: the geofences list of device D2, linked to geofence \"shared\""
            ),
            "{notes:#?}"
        );
        let file = file_of(&l, chosen);
        assert!(
            file.contains(
                "devices:\n  \"D1\":\n    geofences: [\"depot\"]\n    notifications: []\n  \"D2\":\n    notifications: []\n"
            ),
            "{file}"
        );
        assert!(
            !file.contains("\ngeofences:"),
            "the geofence is not exported: {file}"
        );
        let loaded = config::parse(&file, "t").expect("parses");
        let d1 = &loaded.desired.objects[&DEVICE_OBJECT]["D1"];
        assert_eq!(d1.links[&GEOFENCE_OBJECT], set(&["depot"]));
        assert!(d1.links[&NOTIFICATION_OBJECT].is_empty(), "given, empty");
        let d2 = &loaded.desired.objects[&DEVICE_OBJECT]["D2"];
        assert!(
            !d2.links.contains_key(&GEOFENCE_OBJECT),
            "left out: unmanaged"
        );
    }
}
