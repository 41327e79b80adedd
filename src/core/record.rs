//! record: pure. What fleetform last applied to each managed user, stamped on the user as an
//! attribute, and the plan that carries it (`plan_recorded`: every command that plans goes
//! through here). `views::drift` reads the record back to tell pending changes from drift.
//!
//! Design: the applied record.
//! Every user fleetform writes carries the attribute `fleetformApplied` (`APPLIED_ATTRIBUTE`),
//! `v1:<digest>:<fields>`: `<digest>` is the first 128 bits (32 hex digits) of the SHA-256 of
//! the user's canonical desired state (every managed field name with its value, and the device
//! and group link sets), `<fields>` the comma-separated names of the managed fields it covers
//! (`%` and `,` in attribute keys written as `%25` and `%2C`). The
//! record is one more managed attribute of the desired state (`stamp`), so the ordinary update
//! machinery writes it: on create, with every field update, and whenever the file's link sets
//! change (the digest covers them, so its value changes and an update is planned next to the
//! link actions). `plan_recorded` then drops an update whose only change is the record: a plan
//! stays empty exactly when the server matches the file (a re-plan after apply, an exported
//! file, or users applied by an older fleetform never show bookkeeping-only changes). The
//! record is therefore only refreshed together with a real change.
//!
//! Objects (the file's sections) of a kind with attributes carry a record of the same form in
//! their attributes: the digest of `{"fields": {...}}` over the fields the entry manages, with
//! the lists of linked objects the entry gives (`{"fields": ..., "geofences": [...]}`, a list
//! only where given). It is stamped and written the same way, and dropped from record-only
//! updates unless the plan changes the object's links (then the record is refreshed with
//! them), so `views::drift` tells pending from drift for objects too. A kind
//! without attributes has nowhere to keep one: its differences stay pending.
//!

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::core::model::{
    Action, Desired, DesiredObject, DesiredUser, Field, Live, LiveObject, LiveUser, ObjectKind,
    ObjectSpec, Problem, UserKey, Value,
};
use crate::core::model::{Description, Links, linked};
use crate::core::plan::{self, Plan};

/// The user attribute holding what fleetform last applied (reserved in fleet files).
pub const APPLIED_ATTRIBUTE: &str = "fleetformApplied";

const RECORD_VERSION: &str = "v1";

pub fn applied_field() -> Field {
    Field::Attribute(APPLIED_ATTRIBUTE.to_string())
}

/// A value in the canonical, typed form the digests hash: an empty name or phone is null (as
/// `diff::same_value` treats it), JSON objects have sorted keys.
fn canonical_value(field: &Field, value: &Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Text(s) if s.is_empty() && field.spec().is_some_and(|spec| spec.empty_is_null) => {
            serde_json::Value::Null
        }
        Value::Bool(b) => json!({ "b": b }),
        Value::Int(i) => json!({ "i": i }),
        Value::Time(t) => json!({ "t": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) }),
        Value::Text(s) => json!({ "s": s }),
        Value::Json(j) => json!({ "j": sorted_json(j) }),
    }
}

/// JSON with every object's keys in sorted order, so equal values serialize equally.
pub fn sorted_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, serde_json::Value> =
                map.iter().map(|(k, v)| (k, sorted_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sorted_json).collect())
        }
        other => other.clone(),
    }
}

/// The first 128 bits of the SHA-256 of a canonical state, in hex.
///
/// The canonical state is `{"fields": {...}, <file_key>: [...], ...}`, one list per link kind
/// the file lists, in the backend's declaration order (for Traccar `{"fields", "devices",
/// "groups"}`, then `"geofences"` only for a user that gives that list): records written
/// earlier must keep matching, so these bytes are frozen.
fn digest<'a>(
    backend: &Description,
    fields: impl Iterator<Item = (&'a Field, &'a Value)>,
    links: &Links,
) -> String {
    let fields: BTreeMap<String, serde_json::Value> = fields
        .map(|(field, value)| (field.name(), canonical_value(field, value)))
        .collect();
    let mut canonical = serde_json::Map::new();
    canonical.insert("fields".into(), serde_json::json!(fields));
    for (spec, key) in backend.file_links() {
        // A given-only kind (added later) counts only where it is managed, so the records
        // written before it existed keep matching.
        if spec.given_only && links.get(&spec.kind).is_none() {
            continue;
        }
        canonical.insert(key.into(), serde_json::json!(linked(links, spec.kind)));
    }
    let canonical = serde_json::Value::Object(canonical);
    let hash = Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(hash.get(..16).unwrap_or_default())
}

/// The managed fields of a desired user, without the record itself.
/// The managed fields of a desired user the record covers: not the record itself, and not
/// write-only fields (the server never shows them, so they could never match).
fn managed_fields(user: &DesiredUser) -> impl Iterator<Item = (&Field, &Value)> {
    user.fields
        .iter()
        .filter(|(field, _)| !is_record(field) && !field.spec().is_some_and(|spec| spec.write_only))
}

pub fn is_record(field: &Field) -> bool {
    matches!(field, Field::Attribute(key) if key == APPLIED_ATTRIBUTE)
}

/// The digest of a desired user's state (record excluded).
pub fn desired_digest(backend: &Description, user: &DesiredUser) -> String {
    digest(backend, managed_fields(user), &user.links)
}

/// The record fleetform writes on a user it applies `user` to.
pub fn record_of(backend: &Description, user: &DesiredUser) -> Value {
    record_text(&desired_digest(backend, user), managed_fields(user))
}

/// `v1:<digest>:<fields>`, the field names escaped (`%` and `,`) and comma-joined.
fn record_text<'a>(digest: &str, fields: impl Iterator<Item = (&'a Field, &'a Value)>) -> Value {
    let names: Vec<String> = fields
        .map(|(f, _)| f.name().replace('%', "%25").replace(',', "%2C"))
        .collect();
    Value::Text(format!("{RECORD_VERSION}:{digest}:{}", names.join(",")))
}

/// A record read back from a live user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub digest: String,
    pub fields: Vec<Field>,
}

/// Reads a record; the field names are `backend`'s.
pub fn parse_record(backend: &'static Description, value: &Value) -> Option<Record> {
    parse_with(value, |name| backend.field(name))
}

/// Reads a record whose field names `field` resolves (a user's or an object kind's).
fn parse_with(value: &Value, field: impl Fn(&str) -> Option<Field>) -> Option<Record> {
    let Value::Text(text) = value else {
        return None;
    };
    let rest = text.strip_prefix(RECORD_VERSION)?.strip_prefix(':')?;
    let (digest, names) = rest.split_once(':')?;
    let fields = names
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| field(&n.replace("%2C", ",").replace("%25", "%")))
        .collect::<Option<Vec<Field>>>()?;
    Some(Record {
        digest: digest.to_string(),
        fields,
    })
}

/// `fields` projected onto the fields `record` covers (`Null` where absent).
fn projected(fields: &BTreeMap<Field, Value>, record: &Record) -> Vec<(Field, Value)> {
    record
        .fields
        .iter()
        .map(|f| (f.clone(), fields.get(f).cloned().unwrap_or(Value::Null)))
        .collect()
}

/// The record a live user carries, if it has a readable one.
pub fn live_record(backend: &'static Description, user: &LiveUser) -> Option<Record> {
    user.fields
        .get(&applied_field())
        .and_then(|value| parse_record(backend, value))
}

/// Whether the live user, projected onto the fields the record covers, is what it records.
pub fn live_matches_record(backend: &Description, user: &LiveUser, record: &Record) -> bool {
    let values = projected(&user.fields, record);
    digest(backend, values.iter().map(|(f, v)| (f, v)), &user.links) == record.digest
}

/// The managed fields of a desired object the record covers (not the record itself).
fn object_fields(object: &DesiredObject) -> impl Iterator<Item = (&Field, &Value)> {
    object.fields.iter().filter(|(field, _)| !is_record(field))
}

/// The digest of a managed object's fields and lists: `{"fields": {...}, "geofences": [...]}`
/// hashed as a user's digest is, a list only where given (`links` holds only those), so
/// records written before lists existed keep matching.
fn object_digest<'a>(
    spec: &ObjectSpec,
    fields: impl Iterator<Item = (&'a Field, &'a Value)>,
    links: &BTreeMap<ObjectKind, BTreeSet<String>>,
) -> String {
    let fields: BTreeMap<String, serde_json::Value> = fields
        .map(|(field, value)| (field.name(), canonical_value(field, value)))
        .collect();
    let mut canonical = serde_json::Map::new();
    canonical.insert("fields".into(), serde_json::json!(fields));
    for list in spec.lists {
        if let Some(targets) = links.get(&list.target) {
            canonical.insert(list.file_key.into(), serde_json::json!(targets));
        }
    }
    let canonical = serde_json::Value::Object(canonical);
    let hash = Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(hash.get(..16).unwrap_or_default())
}

/// The digest of a desired object's state (record excluded).
pub fn desired_object_digest(spec: &ObjectSpec, object: &DesiredObject) -> String {
    object_digest(spec, object_fields(object), &object.links)
}

/// The record fleetform writes on an object it applies `object` to: the same form as a
/// user's, `v1:<digest>:<fields>`, in the object's attributes.
pub fn object_record_of(spec: &ObjectSpec, object: &DesiredObject) -> Value {
    record_text(&desired_object_digest(spec, object), object_fields(object))
}

/// The record a live object of `spec`'s kind carries, if it has a readable one.
pub fn live_object_record(spec: &'static ObjectSpec, object: &LiveObject) -> Option<Record> {
    parse_with(object.fields.get(&applied_field())?, |name| {
        spec.field(name)
    })
}

/// Whether the live object, projected onto the fields the record covers, is what it records
/// (with the lists read, which are those the file gives).
pub fn live_object_matches_record(spec: &ObjectSpec, object: &LiveObject, record: &Record) -> bool {
    let values = projected(&object.fields, record);
    object_digest(spec, values.iter().map(|(f, v)| (f, v)), &object.links) == record.digest
}

/// The desired state with every user's record added as a managed attribute, and every
/// object's where its kind has attributes. A backend whose users have no attributes has
/// nowhere to keep the record: its users are not stamped (`views::drift` then counts every
/// difference as pending), and neither are objects of a kind without attributes.
pub fn stamp(desired: &Desired) -> Desired {
    let mut stamped = desired.clone();
    for spec in desired.backend.objects.iter().filter(|s| s.attributes) {
        for object in stamped
            .objects
            .get_mut(&spec.kind)
            .into_iter()
            .flat_map(|objects| objects.values_mut())
        {
            let record = object_record_of(spec, object);
            object.fields.insert(applied_field(), record);
        }
    }
    if !desired.backend.capabilities.attributes {
        return stamped;
    }
    for user in stamped.users.values_mut() {
        let record = record_of(desired.backend, user);
        user.fields.insert(applied_field(), record);
    }
    stamped
}

/// `plan::plan` of the stamped desired state, without updates whose only change is the
/// record (see the design comment). Every command that plans goes through here.
pub fn plan_recorded(desired: &Desired, live: &Live) -> Result<Plan, Vec<Problem>> {
    let mut plan = plan::plan(&stamp(desired), live)?;
    let record_only = |action: &Action| match action {
        Action::UpdateUser { changes, adopt, .. } | Action::UpdateObject { changes, adopt, .. } => {
            !*adopt && changes.iter().all(|c| is_record(&c.field))
        }
        _ => false,
    };
    let busy: BTreeSet<UserKey> = plan
        .actions
        .iter()
        .filter(|a| !record_only(a) && a.object().is_none())
        .map(|a| plan.key(a.email()))
        .collect();
    // Objects whose links the plan changes.
    let relinked: BTreeSet<(ObjectKind, String)> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::LinkObject { .. } | Action::UnlinkObject { .. }))
        .filter_map(|a| a.object().map(|(kind, key)| (kind, key.to_string())))
        .collect();
    // An object's record is refreshed only with a real change of the object, which the same
    // update carries, or with its link actions; a user's also with its link actions.
    plan.retain(|a| {
        !record_only(a)
            || match a.object() {
                None => busy.contains(&desired.key(a.email())),
                Some((kind, key)) => relinked.contains(&(kind, key.to_string())),
            }
    });
    Ok(plan)
}
