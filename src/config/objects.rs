//! The fleet file's object sections: one per object kind the backend declares
//! (`Description::objects`; Traccar's `devices:` and `groups:`), each a mapping from the
//! objects' keys to entries of the kind's fields, validated into `Desired::objects` with every
//! problem located. Nothing here names a kind: the kind's `ObjectSpec` says which keys an entry
//! may hold, their types, which of them name other objects, and the section's name.
//!
//! Rules:
//! - A section left out is not managed (the kind is absent from `Desired::objects`); `{}` is a
//!   section that manages objects of the kind and lists none (`prune` applies).
//! - Keys are used exactly: empty keys and keys with spaces around them are refused (Traccar
//!   trims uniqueIds, so such a key could never match). Merged files may split a section, but
//!   an object listed twice is a problem naming both places.
//! - An entry is a mapping of the kind's fields and `attributes` (where the kind has them), or
//!   empty (`BT-000101:` or `{}`): then only the object's existence and ownership are managed.
//!   A field left out is not managed. `null` is refused except for nullable fields (a
//!   reference set to `null` means "none"); reserved attributes as for users. A text the
//!   kind's `ObjectSpec::check` refuses (a geofence's area) is reported at the value.
//! - A reference names an object of its target kind by key. When the file has the target
//!   kind's section, the target must be in it (so the file's tree is complete); otherwise the
//!   server is asked at plan time (`core::objects::check`). References of a kind to itself (a
//!   group's parent) may not form a cycle.

use std::collections::{BTreeMap, BTreeSet};

use super::decode::{decode_value, suggest, unknown_key};
use super::fields::{Context, Raw, field_value, managed_fields, raw_value};
use super::yaml::{Kind, Node, Pos};
use crate::core::model::{
    Description, DesiredObject, Field, FieldOrigins, FieldType, ObjectKind, ObjectSpec, Objects,
    Value,
};

/// A section as one file gives it: the file's index and the section's value.
pub type Section<'n> = (usize, &'n Node);

/// Where an object is defined: its file, the position of its key, its entry.
struct Place<'n> {
    file: usize,
    key: Pos,
    entry: &'n Node,
}

/// Validates the object sections (by kind, as every file gives them). `None` when an entry
/// could not be read (its problems are reported).
pub fn check(
    ctx: &mut Context,
    backend: &'static Description,
    sections: &BTreeMap<ObjectKind, Vec<Section<'_>>>,
) -> Option<Objects<DesiredObject>> {
    let mut objects: Objects<DesiredObject> = BTreeMap::new();
    let mut places: BTreeMap<(ObjectKind, String), Place<'_>> = BTreeMap::new();
    let mut complete = true;
    for spec in backend.objects {
        let Some(given) = sections.get(&spec.kind) else {
            continue;
        };
        let of_kind = objects.entry(spec.kind).or_default();
        for &(file, section) in given {
            ctx.select(file);
            if !matches!(section.kind, Kind::Map(_)) {
                ctx.report(
                    Some(section.pos),
                    format!(
                        "`{}` must be a mapping from {}s to {} fields (e.g. `{}: {{}}`), not {}",
                        spec.section,
                        spec.key,
                        spec.kind,
                        example_key(spec),
                        section.describe()
                    ),
                );
                complete = false;
                continue;
            }
            for (key_node, entry) in section.entries() {
                let Some(key) = key_node.as_text() else {
                    ctx.report(
                        Some(key_node.pos),
                        format!("a {} {} must be a string", spec.kind, spec.key),
                    );
                    complete = false;
                    continue;
                };
                if key.trim().is_empty() {
                    ctx.report(
                        Some(key_node.pos),
                        format!("an empty {} {}: remove it", spec.kind, spec.key),
                    );
                    complete = false;
                    continue;
                }
                if key.trim() != key {
                    ctx.report(
                        Some(key_node.pos),
                        format!(
                            "the {} {} {key:?} has spaces around it, which the server drops: \
                             write {:?}",
                            spec.kind,
                            spec.key,
                            key.trim()
                        ),
                    );
                    complete = false;
                    continue;
                }
                let fields = entry_fields(ctx, spec, key, entry);
                if let Some(first) = places.get(&(spec.kind, key.to_string())) {
                    let first_at = ctx.location_in(first.file, first.key);
                    ctx.report(
                        Some(key_node.pos),
                        format!(
                            "the {} {key} is listed twice (first at {first_at}): keep one entry",
                            spec.kind
                        ),
                    );
                    continue;
                }
                places.insert(
                    (spec.kind, key.to_string()),
                    Place {
                        file,
                        key: key_node.pos,
                        entry,
                    },
                );
                match fields {
                    Some((fields, links)) => {
                        let origin = Some(ctx.location(key_node.pos));
                        of_kind.insert(
                            key.to_string(),
                            DesiredObject {
                                key: key.to_string(),
                                fields,
                                origin,
                                links,
                            },
                        );
                    }
                    None => complete = false,
                }
            }
        }
    }
    check_references(ctx, backend, &objects, &places);
    check_cycles(ctx, backend, &objects, &places);
    complete.then_some(objects)
}

/// Where each object's list fields (`FieldType::List`, a notification's `alarms`) and their
/// items are written, for plan-time problems about one item (`Desired::field_origins`): the
/// rules that judge an item by the server's version run after the file is loaded. Entries
/// that do not read as a mapping of lists are left out (their problems are reported by
/// `check`).
pub fn field_origins(
    ctx: &mut Context,
    backend: &'static Description,
    sections: &BTreeMap<ObjectKind, Vec<Section<'_>>>,
) -> FieldOrigins {
    let mut origins = FieldOrigins::new();
    for spec in backend.objects {
        let lists: Vec<&'static str> = spec
            .fields
            .iter()
            .filter(|f| f.ty == FieldType::List)
            .map(|f| f.name)
            .collect();
        if lists.is_empty() {
            continue;
        }
        for &(file, section) in sections.get(&spec.kind).into_iter().flatten() {
            ctx.select(file);
            for (key_node, entry) in section.entries() {
                let Some(key) = key_node.as_text() else {
                    continue;
                };
                for &name in &lists {
                    let Some((name_node, value)) = entry.get(name) else {
                        continue;
                    };
                    let at = |item: Option<String>| (spec.kind, key.to_string(), name, item);
                    origins.insert(at(None), ctx.location(name_node.pos));
                    for item in value.items() {
                        if let Some(text) = item.as_text() {
                            origins
                                .entry(at(Some(text.to_string())))
                                .or_insert_with(|| ctx.location(item.pos));
                        }
                    }
                }
            }
        }
    }
    origins
}

/// An example key for messages: `Vienna` for names, `BT-000101` for ids.
fn example_key(spec: &ObjectSpec) -> &'static str {
    if spec.key == "name" {
        "Vienna"
    } else {
        "BT-000101"
    }
}

/// The lists of linked objects an entry gives, by target kind.
type EntryLinks = BTreeMap<ObjectKind, BTreeSet<String>>;

/// The managed fields of one entry and the lists it gives; `None` when the entry is neither
/// a mapping nor empty.
fn entry_fields(
    ctx: &mut Context,
    spec: &'static ObjectSpec,
    key: &str,
    entry: &Node,
) -> Option<(BTreeMap<Field, Value>, EntryLinks)> {
    let mut links = EntryLinks::new();
    match entry.kind {
        Kind::Null { .. } => return Some((BTreeMap::new(), links)),
        Kind::Map(_) => {}
        _ => {
            ctx.report(
                Some(entry.pos),
                format!(
                    "{} {key} must be a mapping of {} fields (e.g. `{{ {}: ... }}`), or empty, \
                     not {}",
                    spec.kind,
                    spec.kind,
                    spec.fields.first().map_or("attributes", |f| f.name),
                    entry.describe()
                ),
            );
            return None;
        }
    }
    let allowed = spec.file_keys();
    let mut raw = Vec::new();
    let mut attributes: Option<BTreeMap<String, serde_json::Value>> = None;
    for (name_node, value) in entry.entries() {
        let Some(name) = name_node.as_text() else {
            ctx.report(
                Some(name_node.pos),
                format!("a key must be a word, not {}", name_node.describe()),
            );
            continue;
        };
        if name == "attributes" && spec.attributes {
            if value.is_null() {
                ctx.report(
                    Some(value.pos),
                    "`attributes` is null: give the attributes to manage, or leave the key out \
                     to manage none (`key: null` removes one attribute)",
                );
                continue;
            }
            match decode_value::<BTreeMap<String, serde_json::Value>>(name, value) {
                Ok(map) => attributes = Some(map),
                Err((pos, message)) => ctx.report(Some(pos), message),
            }
            continue;
        }
        if let Some(list) = spec.lists.iter().find(|l| l.file_key == name) {
            if let Some(targets) = entry_list(ctx, spec, key, list, value) {
                links.insert(list.target, targets);
            }
            continue;
        }
        let Some(field) = spec.field(name).filter(|f| f.spec().is_some()) else {
            ctx.report(Some(name_node.pos), unknown_key(name, &allowed));
            continue;
        };
        let nullable = field.spec().is_some_and(|s| s.nullable);
        if value.is_null() && !nullable {
            ctx.report(
                Some(value.pos),
                format!(
                    "`{name}` is null: give it a value, or remove the key to leave it unmanaged"
                ),
            );
            continue;
        }
        match raw_value(name, &field, value) {
            Ok(raw_value) => {
                // A file beside the fleet file (a calendar's iCalendar): its text is the value.
                let raw_value = match raw_value {
                    Raw::Text(Some(path)) if spec.files.iter().any(|(f, _)| *f == name) => {
                        match ctx.read_beside(&path) {
                            Ok(text) => Raw::Text(Some(text)),
                            Err(message) => {
                                ctx.report(
                                    Some(value.pos),
                                    format!("{} {key}: `{name}` {path:?}: {message}", spec.kind),
                                );
                                continue;
                            }
                        }
                    }
                    other => other,
                };
                let checked = match &raw_value {
                    Raw::Text(Some(text)) => Some(text.clone()),
                    Raw::List(words) => Some(words.join(",")),
                    _ => None,
                };
                // What the backend checks that its server does not (a geofence's area).
                let words: Vec<String> = match &raw_value {
                    Raw::List(words) => words.clone(),
                    _ => checked.into_iter().collect(),
                };
                if let Some(check) = spec.check
                    && let Some(message) = words.iter().find_map(|t| check(name, t).err())
                {
                    ctx.report(Some(value.pos), format!("{} {key}: {message}", spec.kind));
                    continue;
                }
                raw.push((field, raw_value));
            }
            Err((pos, message)) => ctx.report(Some(pos), message),
        }
    }
    let mut fields = BTreeMap::new();
    for (field, value) in &raw {
        if let Some(value) = field_value(ctx, entry, field, value) {
            fields.insert(field.clone(), value);
        }
    }
    // Attributes by the users' rules (reserved keys refused).
    fields.extend(managed_fields(ctx, entry, &[], attributes.as_ref()));
    Some((fields, links))
}

/// One list of linked objects (`geofences: [depot]`) as a set of keys, reporting a list that
/// is not one, empty and repeated entries at the item.
fn entry_list(
    ctx: &mut Context,
    spec: &ObjectSpec,
    key: &str,
    list: &crate::core::model::ObjectList,
    value: &Node,
) -> Option<BTreeSet<String>> {
    let name = list.file_key;
    let what = |n: &str| format!("{} {key}: `{name}` {n}", spec.kind);
    match value.kind {
        Kind::Seq(_) => {}
        Kind::Null { .. } => {
            ctx.report(
                Some(value.pos),
                what(
                    "is null: list the linked objects, write [] for none, or leave the key \
                     out to leave its links as they are",
                ),
            );
            return None;
        }
        _ => {
            ctx.report(
                Some(value.pos),
                what(&format!(
                    "must be a list of {} keys (e.g. `[{}]`), not {}",
                    list.target,
                    if name == "geofences" { "depot" } else { "..." },
                    value.describe()
                )),
            );
            return None;
        }
    }
    let mut targets = BTreeSet::new();
    for item in value.items() {
        let Some(target) = item.as_text().filter(|t| !t.trim().is_empty()) else {
            ctx.report(
                Some(item.pos),
                what(&format!(
                    "lists {}: name a {} by its key",
                    if item.as_text().is_some() {
                        "an empty name"
                    } else {
                        item.describe()
                    },
                    list.target
                )),
            );
            continue;
        };
        if !targets.insert(target.to_string()) {
            ctx.report(
                Some(item.pos),
                what(&format!(
                    "lists the {} `{target}` twice: remove one",
                    list.target
                )),
            );
        }
    }
    Some(targets)
}

/// Every reference to a kind whose section the file gives must name an object in it.
fn check_references(
    ctx: &mut Context,
    backend: &'static Description,
    objects: &Objects<DesiredObject>,
    places: &BTreeMap<(ObjectKind, String), Place<'_>>,
) {
    for spec in backend.objects {
        let Some(of_kind) = objects.get(&spec.kind) else {
            continue;
        };
        for (key, object) in of_kind {
            for reference in spec.refs {
                let Some(targets) = objects.get(&reference.target) else {
                    continue;
                };
                let Some(field) = spec.field(reference.field) else {
                    continue;
                };
                let Some(Value::Text(target)) = object.fields.get(&field) else {
                    continue;
                };
                if targets.contains_key(target) {
                    continue;
                }
                let Some(place) = places.get(&(spec.kind, key.clone())) else {
                    continue;
                };
                let section = backend
                    .object(reference.target)
                    .map_or("", |target| target.section);
                let known: Vec<&str> = targets.keys().map(String::as_str).collect();
                let hint = match suggest(target, &known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("add it under `{section}:`, or fix the name"),
                };
                ctx.select(place.file);
                ctx.report(
                    Some(value_of(place.entry, reference.field)),
                    format!(
                        "{} {key}: unknown {} `{target}` in `{}`: the file's `{section}:` does \
                         not list it; {hint}",
                        spec.kind, reference.target, reference.field
                    ),
                );
            }
        }
    }
}

/// References of a kind to itself (a group's parent) may not come back to where they start.
fn check_cycles(
    ctx: &mut Context,
    backend: &'static Description,
    objects: &Objects<DesiredObject>,
    places: &BTreeMap<(ObjectKind, String), Place<'_>>,
) {
    for spec in backend.objects {
        let Some(of_kind) = objects.get(&spec.kind) else {
            continue;
        };
        for reference in spec.refs.iter().filter(|r| r.target == spec.kind) {
            let Some(field) = spec.field(reference.field) else {
                continue;
            };
            let next = |key: &str| match of_kind.get(key).and_then(|o| o.fields.get(&field)) {
                Some(Value::Text(target)) => Some(target.clone()),
                _ => None,
            };
            for start in of_kind.keys() {
                let mut chain = vec![start.clone()];
                let mut seen: BTreeSet<String> = BTreeSet::from([start.clone()]);
                let mut current = start.clone();
                let mut cycle = false;
                while let Some(target) = next(&current) {
                    chain.push(target.clone());
                    if target == *start {
                        cycle = true;
                        break;
                    }
                    // A cycle that does not pass through `start` is reported from its members.
                    if !seen.insert(target.clone()) {
                        break;
                    }
                    current = target;
                }
                if !cycle {
                    continue;
                }
                let Some(place) = places.get(&(spec.kind, start.clone())) else {
                    continue;
                };
                ctx.select(place.file);
                ctx.report(
                    Some(value_of(place.entry, reference.field)),
                    format!(
                        "{} {start}: its `{}` chain comes back to it ({}); a {} cannot be its \
                         own ancestor: make one of them top-level (`{}: null`)",
                        spec.kind,
                        reference.field,
                        chain.join(" -> "),
                        spec.kind,
                        reference.field
                    ),
                );
            }
        }
    }
}

/// Where `key`'s value is in the entry (or the entry itself).
fn value_of(entry: &Node, key: &str) -> Pos {
    entry.get(key).map_or(entry.pos, |(_, v)| v.pos)
}

#[cfg(test)]
mod tests {
    //! The object sections: what they give the model, and each problem with its location.

    use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
    use crate::config::{Loaded, Problems, parse, parse_many};
    use crate::core::model::{Field, ObjectKind, Value};
    use crate::testing::TRACCAR;

    fn file(rest: &str) -> String {
        format!("version: 1\nfleet: acme\n{rest}")
    }

    fn ok(text: &str) -> Loaded {
        parse(text, "f.yaml").unwrap_or_else(|e| panic!("expected no problems, got:\n{e}"))
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text, "f.yaml") {
            Ok(loaded) => panic!("expected problems, got {loaded:#?}"),
            Err(Problems(list)) => list.iter().map(ToString::to_string).collect(),
        }
    }

    fn of(kind: ObjectKind, name: &str) -> Field {
        TRACCAR
            .object(kind)
            .and_then(|s| s.field(name))
            .expect("declared")
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    /// Lists are sets (sorted, no repeats) and every word is checked; a notification's and a
    /// command's type must be one Traccar knows; the errors sit at the value.
    #[test]
    fn lists_and_types_are_checked_where_they_are_written() {
        use crate::backend::traccar::rules::{COMMAND_OBJECT, NOTIFICATION_OBJECT};
        let loaded = ok(&file(
            "notifications:\n  theft: { type: alarm, alarms: [sos, movement], notificators: [web] }\ncommands:\n  stop: { type: engineStop }\n",
        ));
        let theft = &loaded.desired.objects[&NOTIFICATION_OBJECT]["theft"];
        assert_eq!(
            theft.fields[&of(NOTIFICATION_OBJECT, "alarms")],
            Value::list(["movement".to_string(), "sos".to_string()])
        );
        assert_eq!(
            theft.fields[&of(NOTIFICATION_OBJECT, "notificators")].words(),
            ["web"]
        );
        assert!(loaded.desired.objects[&COMMAND_OBJECT].contains_key("stop"));
        let table: Vec<(&str, &str)> = vec![
            (
                "notifications:\n  n: { type: alarms }\n",
                "f.yaml:4:14: notification n: `alarms` is not a notification type Traccar 6.9 knows",
            ),
            (
                "notifications:\n  n: { type: Alarm }\n",
                "did you mean `alarm`?",
            ),
            (
                "commands:\n  c: { type: engineSTOP }\n",
                "f.yaml:4:14: command c: `engineSTOP` is not a command type Traccar 6.9 knows",
            ),
            (
                "notifications:\n  n: { type: alarm, notificators: [web, web] }\n",
                "f.yaml:4:35: `notificators`: \"web\" is listed twice: remove one",
            ),
            (
                "notifications:\n  n: { type: alarm, alarms: [\"sos,movement\"] }\n",
                "`alarms`: \"sos,movement\" holds a comma or spaces around it",
            ),
            (
                "notifications:\n  n: { type: alarm, alarms: sos }\n",
                "f.yaml:4:29: `alarms`: expected a list",
            ),
            (
                "drivers:\n  max: { uniqueId: \" DRV-1\" }\n",
                "f.yaml:4:20: driver max: the uniqueId \" DRV-1\" is empty or has spaces around it",
            ),
        ];
        for (text, expected) in table {
            let got = problems(&file(text));
            assert!(
                got.len() == 1 && got[0].contains(expected),
                "{text}: {got:#?}"
            );
        }
    }

    #[test]
    fn sections_give_the_model() {
        let loaded = ok(&file(
            "devices:\n  BT-000101:\n    name: Bike 101\n    group: Vienna-North\n    category: bicycle\n    phone: \"+4366412345678\"\n    disabled: false\n    attributes: { frame: L, old: null }\n  BT-000102:\n  BT-000103: { group: null }\ngroups:\n  Vienna: {}\n  Vienna-North: { parent: Vienna }\n",
        ));
        let objects = &loaded.desired.objects;
        let devices = &objects[&DEVICE_OBJECT];
        let bike = &devices["BT-000101"];
        assert_eq!(bike.fields[&of(DEVICE_OBJECT, "name")], text("Bike 101"));
        assert_eq!(
            bike.fields[&of(DEVICE_OBJECT, "group")],
            text("Vienna-North")
        );
        assert_eq!(
            bike.fields[&of(DEVICE_OBJECT, "phone")],
            text("+4366412345678")
        );
        assert_eq!(
            bike.fields[&of(DEVICE_OBJECT, "disabled")],
            Value::Bool(false)
        );
        assert_eq!(bike.fields[&Field::Attribute("frame".into())], text("L"));
        assert_eq!(bike.fields[&Field::Attribute("old".into())], Value::Null);
        assert_eq!(
            bike.fields.len(),
            7,
            "only what the entry names: {:?}",
            bike.fields
        );
        assert_eq!(bike.origin.as_deref(), Some("f.yaml:4:3"));
        assert!(
            devices["BT-000102"].fields.is_empty(),
            "an empty entry manages no field"
        );
        assert_eq!(
            devices["BT-000103"].fields[&of(DEVICE_OBJECT, "group")],
            Value::Null
        );
        let groups = &objects[&GROUP_OBJECT];
        assert_eq!(
            groups["Vienna-North"].fields[&of(GROUP_OBJECT, "parent")],
            text("Vienna")
        );
        // Sections left out are not managed; `{}` manages the kind with no objects.
        assert!(ok(&file("users: []\n")).desired.objects.is_empty());
        let empty = ok(&file("groups: {}\n"));
        assert!(empty.desired.objects[&GROUP_OBJECT].is_empty());
        assert!(!empty.desired.objects.contains_key(&DEVICE_OBJECT));
    }

    #[test]
    fn every_problem_of_the_sections_is_located() {
        let got = problems(&file(concat!(
            "devices:\n",
            "  BT-1: { nam: x, group: Vienna-Nort }\n", // 4
            "  BT-2: [a]\n",                            // 5
            "  \" BT-3\": {}\n",                        // 6
            "  BT-4: { disabled: null, phone: 12, category: [x] }\n", // 7
            "  BT-5: { attributes: { fleetform: x } }\n", // 8
            "  BT-6: { disabled: \"yes\" }\n",          // 9
            "groups:\n",
            "  Vienna-North: { parent: Nowhere }\n", // 11
            "  A: { parent: B }\n",                  // 12
            "  B: { parent: A }\n",                  // 13
            "  Self: { parent: Self }\n",            // 14
            "  Top: { colour: red }\n",              // 15
            "device: {}\n",                          // 16
        )));
        let expected = [
            "f.yaml:4:11: unknown key `nam`: did you mean `name`?",
            "f.yaml:4:26: device BT-1: unknown group `Vienna-Nort` in `group`: the file's `groups:` does not list it; did you mean `Vienna-North`?",
            "f.yaml:5:9: device BT-2 must be a mapping of device fields",
            "f.yaml:6:3: the device uniqueId \" BT-3\" has spaces around it",
            "f.yaml:7:21: `disabled` is null",
            "f.yaml:7:48: `category`: expected a string, found a list",
            "f.yaml:8:25: the attribute `fleetform` is reserved",
            "f.yaml:9:21: `disabled`: expected a boolean",
            "f.yaml:11:27: group Vienna-North: unknown group `Nowhere` in `parent`",
            "f.yaml:12:16: group A: its `parent` chain comes back to it (A -> B -> A)",
            "f.yaml:13:16: group B: its `parent` chain comes back to it (B -> A -> B)",
            "f.yaml:14:19: group Self: its `parent` chain comes back to it (Self -> Self)",
            "f.yaml:15:10: unknown key `colour`: the keys allowed here are: parent, attributes",
            "f.yaml:16:1: unknown key `device`: did you mean `devices`?",
        ];
        for prefix in expected {
            assert!(
                got.iter().any(|p| p.starts_with(prefix)),
                "missing {prefix:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn a_reference_to_a_section_left_out_is_asked_of_the_server() {
        // No `groups:`: the group is the server's business (checked at plan time).
        let loaded = ok(&file("devices:\n  BT-1: { group: Vienna }\n"));
        assert_eq!(
            loaded.desired.objects[&DEVICE_OBJECT]["BT-1"].fields[&of(DEVICE_OBJECT, "group")],
            text("Vienna")
        );
    }

    #[test]
    fn merged_files_split_a_section_but_list_an_object_once() {
        let files = [
            (
                "a.yaml".to_string(),
                file("groups:\n  Vienna: {}\ndevices:\n  BT-1: {}\n"),
            ),
            (
                "b.yaml".to_string(),
                "groups:\n  Graz: {}\ndevices:\n  BT-1: { name: again }\n  BT-2: { group: Graz }\n"
                    .to_string(),
            ),
        ];
        let err = parse_many(&files, &|_| None).expect_err("BT-1 twice");
        let got: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["b.yaml:4:3: the device BT-1 is listed twice (first at a.yaml:6:3): keep one entry"]
        );
        let files = [
            files[0].clone(),
            ("b.yaml".into(), "groups:\n  Graz: {}\n".into()),
        ];
        let loaded = parse_many(&files, &|_| None).expect("valid");
        assert_eq!(loaded.desired.objects[&GROUP_OBJECT].len(), 2);
    }

    #[test]
    fn a_section_must_be_a_mapping_and_not_null() {
        let got = problems(&file("devices: [BT-1]\ngroups: null\n"));
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].starts_with(
                "f.yaml:3:10: `devices` must be a mapping from uniqueIds to device fields"
            ),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("f.yaml:4:9: `groups` is null"),
            "{got:#?}"
        );
    }
}
