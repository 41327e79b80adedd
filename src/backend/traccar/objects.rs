//! Traccar's managed objects (devices, groups, and the simple kinds: geofences, drivers,
//! maintenance, saved commands, calendars, notifications; `rules::OBJECTS`): how each kind
//! travels on the wire (`WIRES`: its path, key, references, how users link to it), read into
//! `LiveObject`s and written by the object actions. Reading happens in `read.rs` (devices and
//! groups in the lists it already reads, whole instead of trimmed; each simple kind in one
//! list); this file turns them into the model and writes.
//!
//! Value encodings besides plain JSON fields: a reference is the target's id (`groupId`,
//! `calendarId`, `commandId`; 0 or null for none); a list field (`FieldType::List`) is a
//! comma-joined text (`notificators: "mail,web"`), some in `attributes` (a notification's
//! `alarms`); a calendar's iCalendar text is `data`, base64; a maintenance's doubles are
//! whole numbers in the model.
//!
//! Traccar facts relied on (../shared/traccar/observed-objects.md §1, §12; API-NOTES.md §6, §7):
//! - `PUT /api/<kind>/{id}` replaces the whole object and the body's `id` decides which, so an
//!   update reads the object (`GET /api/<kind>/{id}`) right before it writes it back with only
//!   the managed keys changed: `expirationTime`, a `calendarId` the file leaves out,
//!   attributes fleetform does not manage and fields it does not know survive.
//! - A reference is an id (`groupId`, 0 or null for none); the model names it by the target's
//!   key, so ids are looked up in `Ids` (filled by the fetch, and by creates as they happen:
//!   a group created in an earlier wave is known to its children and devices).
//! - `POST` answers the object with its new id and links the creator to it (administrators
//!   too). A POST is never sent again blindly: after an ambiguous failure the object is looked
//!   up by key; found with this fleet's marker it was created, otherwise it is sent again.
//! - A device's `name` is NOT NULL: a new device the file names no `name` for is named by its
//!   uniqueId. Groups, geofences, drivers, maintenance and calendars are keyed by name, saved
//!   commands and notifications by description (they have no name: `name` is never sent to
//!   them). Other NOT NULL columns (a geofence's `area`, a driver's `uniqueId`, the `type` of
//!   maintenance, commands and notifications, a calendar's `data`) make the plan refuse a new
//!   object without them (`ObjectSpec::required`).
//! - A uniqueId is unique across the server: a create of one the account cannot see (another
//!   account's device) fails on the database's constraint, said plainly here.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use super::TraccarBackend;
use super::api::ApiError;
use super::rules::{
    CALENDAR, CALENDAR_OBJECT, COMMAND, COMMAND_OBJECT, COMPUTED_OBJECT, DESCRIPTION, DEVICE,
    DEVICE_OBJECT, DRIVER, DRIVER_OBJECT, GEOFENCE, GEOFENCE_OBJECT, GROUP, GROUP_OBJECT,
    MAINTENANCE, MAINTENANCE_OBJECT, NOTIFICATION, NOTIFICATION_OBJECT,
};
use super::wire::{self, Id};
use crate::backend::{Applied, Failure, Outcome, PhaseContext};
use crate::core::model::{Action, Field, FieldType, LinkKind, LiveObject, ObjectKind, Value};

/// How one object kind travels on the wire.
pub(super) struct Wire {
    pub(super) kind: ObjectKind,
    /// The REST collection, e.g. `/api/devices`.
    pub(super) path: &'static str,
    /// The JSON key of the object's key.
    pub(super) key: &'static str,
    /// References: (model field, JSON key holding the target's id).
    refs: &'static [(&'static str, &'static str)],
    /// How users are linked to objects of this kind: the link kind and the property key of
    /// its permission (`{"userId": u, "geofenceId": g}`).
    pub(super) link: Option<(LinkKind, &'static str)>,
    /// A simple kind: listed with one `GET <path>` (`all=true` as administrator), whole, and
    /// a user's links read with `GET <path>?userId=N` (`read.rs`). Devices and groups are
    /// read their own way.
    pub(super) simple: bool,
    /// A new object without a `name` in the file is named by its key (a device: `name` is NOT
    /// NULL). Kinds keyed by name need nothing; the others have no name.
    default_name: bool,
    /// Declared fields Traccar keeps in `attributes` (a notification's `alarms`).
    in_attributes: &'static [&'static str],
    /// Declared text fields sent as base64 under another key: (model field, JSON key) (a
    /// calendar's iCalendar `file` is its `data`).
    base64: &'static [(&'static str, &'static str)],
    /// A kind without attributes keeps the fleet's marker as a comment ending this text field
    /// (a computed attribute's `expression`, see `COMMENT_MARKER`); `None`: in `attributes`.
    marker_in: Option<&'static str>,
}

/// The marker of a kind without attributes: a block comment ending a text field,
/// `speed * 1.852 /* fleetform:acme-bikes */`. Traccar's expression language ignores it
/// (observed on real 5.12, 6.9.1 and 6.14.4: `POST /api/attributes/computed/test` gives the
/// same value with and without it).
const COMMENT_MARKER: (&str, &str) = ("/* fleetform:", "*/");

/// `text` without a trailing marker comment, and the fleet it names.
fn split_comment_marker(text: &str) -> (&str, Option<&str>) {
    let trimmed = text.trim_end();
    if let Some(body) = trimmed.strip_suffix(COMMENT_MARKER.1)
        && let Some(at) = body.rfind(COMMENT_MARKER.0)
    {
        let fleet = body[at + COMMENT_MARKER.0.len()..].trim();
        if !fleet.is_empty() && !fleet.contains(char::is_whitespace) {
            return (body[..at].trim_end(), Some(fleet));
        }
    }
    (text, None)
}

/// `text` ending with this fleet's marker comment (any other marker comment replaced).
fn with_comment_marker(text: &str, fleet: &str) -> String {
    let (bare, _) = split_comment_marker(text);
    format!("{bare} {}{fleet} {}", COMMENT_MARKER.0, COMMENT_MARKER.1)
}

/// The fleet an object's marker names, where its kind keeps it.
fn marker_of(wire: &Wire, json: &Map<String, Json>) -> Option<String> {
    match wire.marker_in {
        Some(field) => json
            .get(field)
            .and_then(Json::as_str)
            .and_then(|text| split_comment_marker(text).1)
            .map(str::to_string),
        None => wire::marker(json),
    }
}

/// Stamps an object with this fleet's marker, where its kind keeps it.
fn set_marker_of(wire: &Wire, json: &mut Map<String, Json>, fleet: &str) {
    match wire.marker_in {
        Some(field) => {
            let text = json.get(field).and_then(Json::as_str).unwrap_or_default();
            let marked = with_comment_marker(text, fleet);
            json.insert(field.into(), Json::String(marked));
        }
        None => wire::set_marker(json, fleet),
    }
}

/// A simple kind's wire format; `link`: the link kind and permission key users are linked to
/// it by, where the file manages those links.
const fn simple(
    kind: ObjectKind,
    path: &'static str,
    key: &'static str,
    link: Option<(LinkKind, &'static str)>,
) -> Wire {
    Wire {
        kind,
        path,
        key,
        refs: &[],
        link,
        simple: true,
        default_name: false,
        in_attributes: &[],
        base64: &[],
        marker_in: None,
    }
}

pub(super) const WIRES: [Wire; 9] = [
    Wire {
        kind: DEVICE_OBJECT,
        path: "/api/devices",
        key: "uniqueId",
        refs: &[("group", "groupId"), ("calendar", "calendarId")],
        link: Some((DEVICE, "deviceId")),
        simple: false,
        default_name: true,
        in_attributes: &[],
        base64: &[],
        marker_in: None,
    },
    Wire {
        kind: GROUP_OBJECT,
        path: "/api/groups",
        key: "name",
        refs: &[("parent", "groupId")],
        link: Some((GROUP, "groupId")),
        simple: false,
        default_name: false,
        in_attributes: &[],
        base64: &[],
        marker_in: None,
    },
    Wire {
        refs: &[("calendar", "calendarId")],
        ..simple(
            GEOFENCE_OBJECT,
            "/api/geofences",
            "name",
            Some((GEOFENCE, "geofenceId")),
        )
    },
    simple(
        DRIVER_OBJECT,
        "/api/drivers",
        "name",
        Some((DRIVER, "driverId")),
    ),
    simple(
        MAINTENANCE_OBJECT,
        "/api/maintenance",
        "name",
        Some((MAINTENANCE, "maintenanceId")),
    ),
    simple(
        COMMAND_OBJECT,
        "/api/commands",
        "description",
        Some((COMMAND, "commandId")),
    ),
    Wire {
        base64: &[("file", "data")],
        ..simple(
            CALENDAR_OBJECT,
            "/api/calendars",
            "name",
            Some((CALENDAR, "calendarId")),
        )
    },
    Wire {
        refs: &[("calendar", "calendarId"), ("command", "commandId")],
        in_attributes: &["alarms"],
        ..simple(
            NOTIFICATION_OBJECT,
            "/api/notifications",
            "description",
            Some((NOTIFICATION, "notificationId")),
        )
    },
    // Users may be linked to computed attributes, but the file does not manage those links.
    Wire {
        marker_in: Some("expression"),
        ..simple(
            COMPUTED_OBJECT,
            "/api/attributes/computed",
            "description",
            None,
        )
    },
];

/// The query and permission key naming an owner of object links (`deviceId`, `groupId`).
pub(super) fn owner_key(kind: ObjectKind) -> Result<&'static str, Failure> {
    match kind {
        DEVICE_OBJECT => Ok("deviceId"),
        GROUP_OBJECT => Ok("groupId"),
        other => Err(Failure::Refused(format!(
            "internal error: a {other} has no linked objects"
        ))),
    }
}

/// The permission key of a kind linked to a device or group (`geofenceId`, ...; a computed
/// attribute's is `attributeId`).
fn permission_key(kind: ObjectKind) -> Result<&'static str, Failure> {
    match kind {
        COMPUTED_OBJECT => Ok("attributeId"),
        other => wire_of(other)?
            .link
            .map(|(_, key)| key)
            .ok_or_else(|| Failure::Refused(format!("internal error: {other}s are not linked"))),
    }
}

/// The kind users are linked to by `link`, with its wire format.
pub(super) fn wire_linked_by(link: LinkKind) -> Option<&'static Wire> {
    WIRES
        .iter()
        .find(|w| w.link.is_some_and(|(kind, _)| kind == link))
}

/// The ids of `kind`'s objects by key.
pub(super) fn ids_of(
    ids: &mut super::Ids,
    kind: ObjectKind,
) -> &mut std::collections::HashMap<String, Id> {
    ids.objects.entry(kind).or_default()
}

fn wire_of(kind: ObjectKind) -> Result<&'static Wire, Failure> {
    WIRES
        .iter()
        .find(|w| w.kind == kind)
        .ok_or_else(|| Failure::Refused(format!("internal error: no wire format for {kind}")))
}

/// The JSON key of a field of `wire`'s kind, and whether it is a reference.
fn json_key(wire: &Wire, field: &Field) -> Option<(&'static str, bool)> {
    let spec = field.spec()?;
    if let Some((_, key)) = wire.refs.iter().find(|(name, _)| *name == spec.name) {
        return Some((key, true));
    }
    match wire.base64.iter().find(|(name, _)| *name == spec.name) {
        Some((_, key)) => Some((key, false)),
        None => Some((spec.name, false)),
    }
}

/// An id field's value: a positive id, or `None` (0, null, absent).
fn id_value(value: Option<&Json>) -> Option<Id> {
    value.and_then(Json::as_i64).filter(|id| *id > 0).map(Id)
}

/// An object of `kind` without a key fleetform can use (none, or one several objects share),
/// as `Live::unnamed` holds it: keyed `#<id>`, so the rules that must see every object (what
/// a delete takes with it) see it too.
pub(super) fn unnamed_object(
    kind: ObjectKind,
    json: &Map<String, Json>,
    names: &dyn Fn(ObjectKind, Id) -> Option<String>,
) -> Option<LiveObject> {
    let wire = WIRES.iter().find(|w| w.kind == kind)?;
    let id = id_value(json.get("id"))?;
    let mut labelled = json.clone();
    labelled.insert(wire.key.into(), json!(format!("#{}", id.0)));
    live_object(kind, &labelled, names)
}

/// The model's view of an object of `kind` read as `json`, references named through
/// `names` (the ids of the target kind and their keys). `None` without a key.
pub(super) fn live_object(
    kind: ObjectKind,
    json: &Map<String, Json>,
    names: &dyn Fn(ObjectKind, Id) -> Option<String>,
) -> Option<LiveObject> {
    let wire = WIRES.iter().find(|w| w.kind == kind)?;
    let spec = DESCRIPTION.object(kind)?;
    let key = json.get(wire.key)?.as_str()?.to_string();
    let marker = marker_of(wire, json);
    // A marker comment is fleetform's, not part of the field the file compares.
    let unmarked;
    let json = match wire.marker_in {
        Some(field) => {
            let mut copy = json.clone();
            if let Some(Json::String(text)) = copy.get_mut(field) {
                *text = split_comment_marker(text).0.to_string();
            }
            unmarked = copy;
            &unmarked
        }
        None => json,
    };
    let mut fields = BTreeMap::new();
    for field in spec.scalars() {
        let Some((name, reference)) = json_key(wire, &field) else {
            continue;
        };
        let raw = if wire.in_attributes.contains(&name) {
            json.get("attributes").and_then(|a| a.get(name))
        } else {
            json.get(name)
        };
        let base64 = wire.base64.iter().any(|(_, key)| *key == name);
        let value = if base64 {
            // The text the file's value was read from; bytes that are no UTF-8 text compare
            // unequal to any file, which rewrites them.
            raw.and_then(Json::as_str)
                .and_then(|data| BASE64.decode(data.trim()).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map_or(Value::Null, Value::Text)
        } else if reference {
            let target = spec.reference(&field);
            match (target, id_value(raw)) {
                (Some(target), Some(id)) => names(target, id).map_or(Value::Null, Value::Text),
                _ => Value::Null,
            }
        } else {
            match field.spec().map(|s| s.ty) {
                Some(FieldType::Text) => match raw {
                    Some(Json::String(s)) if !s.is_empty() => Value::Text(s.clone()),
                    _ => Value::Null,
                },
                Some(FieldType::List) => wire::list_of(raw.unwrap_or(&Json::Null)),
                // Traccar's doubles (a maintenance's `5000.0`) are whole numbers in the file.
                Some(FieldType::Int { .. }) => match raw.and_then(Json::as_f64) {
                    Some(n) if raw.and_then(Json::as_i64).is_none() && n.fract() == 0.0 => {
                        Value::Int(n as i64)
                    }
                    _ => raw.map_or(Value::Null, Value::from_json),
                },
                _ => raw.map_or(Value::Null, Value::from_json),
            }
        };
        fields.insert(field, value);
    }
    if let Some(Json::Object(attributes)) = json.get("attributes") {
        for (key, value) in attributes {
            if key != wire::MARKER_ATTRIBUTE && !wire.in_attributes.contains(&key.as_str()) {
                fields.insert(Field::Attribute(key.clone()), Value::from_json(value));
            }
        }
    }
    Some(LiveObject {
        key,
        marker,
        fields,
        links: Default::default(),
    })
}

impl TraccarBackend {
    /// The server id of the object `key` of `kind`, learnt by the fetch or a create.
    fn object_id(&self, kind: ObjectKind, key: &str) -> Result<Id, Failure> {
        let mut ids = self.ids();
        ids_of(&mut ids, kind).get(key).copied().ok_or_else(|| {
            Failure::Unknown(format!(
                "{kind} {key} is not known on the server (was it deleted or renamed since the \
                 plan?)"
            ))
        })
    }

    fn remember(&self, kind: ObjectKind, key: &str, id: Id) {
        let mut ids = self.ids();
        ids_of(&mut ids, kind).insert(key.to_string(), id);
    }

    /// Writes the model's `fields` into `object` (references as ids), leaving every other key
    /// as it is.
    fn set_object_fields<'a>(
        &self,
        wire: &Wire,
        object: &mut Map<String, Json>,
        fields: impl IntoIterator<Item = (&'a Field, &'a Value)>,
    ) -> Result<(), Failure> {
        let spec = DESCRIPTION.object(wire.kind).ok_or_else(|| {
            Failure::Refused(format!("internal error: no spec for {}", wire.kind))
        })?;
        let mut plain: Vec<(&Field, &Value)> = Vec::new();
        for (field, value) in fields {
            match json_key(wire, field) {
                Some((key, true)) => {
                    let id = match (spec.reference(field), value) {
                        (Some(target), Value::Text(name)) => self.object_id(target, name)?.0,
                        _ => 0,
                    };
                    object.insert(key.to_string(), json!(id));
                }
                Some((key, false)) if wire.base64.iter().any(|(_, k)| *k == key) => {
                    let data = match value {
                        Value::Text(text) => json!(BASE64.encode(text.as_bytes())),
                        _ => Json::Null,
                    };
                    object.insert(key.to_string(), data);
                }
                Some((key, false)) if field.spec().is_some_and(|s| s.ty == FieldType::List) => {
                    let text = wire::list_text(value);
                    if wire.in_attributes.contains(&key) {
                        let attributes = object.entry("attributes").or_insert_with(|| json!({}));
                        if let Json::Object(attributes) = attributes {
                            // No word: the attribute is absent, as a new object has it.
                            if value.words().is_empty() {
                                attributes.remove(key);
                            } else {
                                attributes.insert(key.to_string(), text);
                            }
                        }
                    } else {
                        object.insert(key.to_string(), text);
                    }
                }
                _ => plain.push((field, value)),
            }
        }
        // Declared fields carry Traccar's JSON names, attributes go into `attributes`: the
        // user writer's rules (`wire::set_fields`) hold for objects too.
        wire::set_fields(object, plain);
        Ok(())
    }

    /// Applies one object action.
    pub(super) async fn apply_object(
        &self,
        context: &PhaseContext<'_>,
        action: &Action,
    ) -> Outcome {
        match action {
            Action::CreateObject { kind, key, fields } => {
                self.create_object(context.fleet, *kind, key, fields).await
            }
            Action::UpdateObject {
                kind,
                key,
                adopt,
                changes,
            } => {
                let wire = wire_of(*kind)?;
                let id = self.object_id(*kind, key)?;
                let path = format!("{}/{}", wire.path, id.0);
                let mut object: Map<String, Json> =
                    self.api.get(&path, &[]).await.map_err(|e| e.to_string())?;
                let had = marker_of(wire, &object);
                self.set_object_fields(
                    wire,
                    &mut object,
                    changes.iter().map(|c| (&c.field, &c.after)),
                )?;
                // A marker in a field the file writes is put back (in `attributes` it stays).
                match (adopt, had) {
                    (true, _) => set_marker_of(wire, &mut object, context.fleet),
                    (false, Some(fleet)) => set_marker_of(wire, &mut object, &fleet),
                    (false, None) => {}
                }
                self.api
                    .write(Method::PUT, &path, Some(&Json::Object(object)))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Applied::Done)
            }
            Action::DeleteObject { kind, key } => {
                let wire = wire_of(*kind)?;
                let id = self.object_id(*kind, key)?;
                self.api
                    .write(Method::DELETE, &format!("{}/{}", wire.path, id.0), None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Applied::Done)
            }
            // Object links go in `/api/permissions/bulk` batches with the users' (`write.rs`).
            Action::LinkObject { .. } | Action::UnlinkObject { .. } => {
                Err("internal error: object links are applied in batches".into())
            }
            _ => Err("internal error: not an object action".into()),
        }
    }

    /// The permission linking `target` to the object `key` (owner key first, as Traccar
    /// requires: `{"deviceId": 1, "geofenceId": 2}`), with the owner's and the target's ids.
    pub(super) fn object_permission(
        &self,
        kind: ObjectKind,
        key: &str,
        target_kind: ObjectKind,
        target: &str,
    ) -> Result<(Json, Id, Id), Failure> {
        let owner_key = owner_key(kind)?;
        let property = permission_key(target_kind)?;
        let owner = self.object_id(kind, key)?;
        let target = self.object_id(target_kind, target)?;
        let mut body = Map::new();
        body.insert(owner_key.into(), json!(owner.0));
        body.insert(property.into(), json!(target.0));
        Ok((Json::Object(body), owner, target))
    }

    /// The ids of the objects of `target_kind` linked directly to the `owner_kind` object
    /// `owner`: `GET <path>?deviceId=N` (or `groupId`; `all=true` as administrator), the read
    /// a failed object-link batch is checked with. `None` when the read failed.
    pub(super) async fn objects_linked_to(
        &self,
        owner_kind: ObjectKind,
        owner: Id,
        target_kind: ObjectKind,
    ) -> Option<Vec<Id>> {
        let wire = wire_of(target_kind).ok()?;
        let query = self.owner_query(owner_key(owner_kind).ok()?, owner);
        let list = self.list(wire.path, &query).await.ok()?;
        Some(list.iter().filter_map(|o| id_value(o.get("id"))).collect())
    }

    async fn create_object(
        &self,
        fleet: &str,
        kind: ObjectKind,
        key: &str,
        fields: &BTreeMap<Field, Value>,
    ) -> Outcome {
        let wire = wire_of(kind)?;
        let mut body = Map::new();
        body.insert(wire.key.into(), json!(key));
        // `name` is NOT NULL: a device is named by its key unless the file names it.
        if wire.default_name {
            body.insert("name".into(), json!(key));
        }
        // A kind without attributes (computed attributes) refuses the key; its marker, if it
        // can carry one, goes where `Wire::marker_in` says.
        let spec = DESCRIPTION.object(kind);
        if spec.is_some_and(|spec| spec.attributes) {
            body.insert("attributes".into(), json!({}));
        }
        let marked = spec.is_some_and(|spec| spec.marked);
        self.set_object_fields(wire, &mut body, fields)?;
        if wire.default_name && body.get("name").is_none_or(Json::is_null) {
            body.insert("name".into(), json!(key));
        }
        if marked {
            set_marker_of(wire, &mut body, fleet);
        }
        let body = Json::Object(body);
        let max = self.options.retry.max_attempts.max(1);
        let mut attempt = 0;
        let id = loop {
            attempt += 1;
            let error = match self.api.post::<Map<String, Json>>(wire.path, &body).await {
                Ok(created) => {
                    break id_value(created.get("id")).ok_or_else(|| {
                        Failure::Refused(format!("POST {} -> 200: the answer has no id", wire.path))
                    })?;
                }
                Err(e) if e.is_retryable() => e,
                Err(e) if key_taken(&e, wire.key) => {
                    return Err(Failure::Refused(format!(
                        "{} {} -> 400 (unique {}): the {} {key} is already taken by a {kind} \
                         that {} cannot see; ask an administrator, or change the {} in the file",
                        e.method,
                        e.path,
                        wire.key,
                        wire.key,
                        self.account().email,
                        wire.key
                    )));
                }
                Err(e) => return Err(e.to_string().into()),
            };
            match self.find_object(wire, key).await {
                Ok(Some(found)) => {
                    if marker_of(wire, &found).as_deref() != Some(fleet) {
                        return Err(Failure::Refused(format!(
                            "{error}; meanwhile a {kind} {key} appeared that this fleet did not \
                             create; it is left alone"
                        )));
                    }
                    break id_value(found.get("id")).ok_or("the object found has no id")?;
                }
                Ok(None) if attempt < max => {
                    tokio::time::sleep(self.options.retry.delay(attempt, None)).await;
                }
                Ok(None) => {
                    return Err(Failure::Refused(format!(
                        "{error} (not created after {attempt} attempts)"
                    )));
                }
                Err(read) => {
                    return Err(Failure::Refused(format!(
                        "{error}; whether the {kind} was created is unknown ({read}); the next \
                         run finds out"
                    )));
                }
            }
        };
        self.remember(kind, key, id);
        Ok(Applied::Done)
    }

    /// The object with this key among those the account can see (every one, as administrator).
    async fn find_object(
        &self,
        wire: &Wire,
        key: &str,
    ) -> Result<Option<Map<String, Json>>, ApiError> {
        let mut query = Vec::new();
        if self.role == super::rules::Role::Admin {
            query.push(("all", "true".to_string()));
        }
        let list: Vec<Json> = self.api.get(wire.path, &query).await?;
        Ok(list.into_iter().find_map(|o| match o {
            Json::Object(m) if m.get(wire.key).and_then(Json::as_str) == Some(key) => Some(m),
            _ => None,
        }))
    }
}

impl TraccarBackend {
    /// The query of one owner's direct links of a kind, `?deviceId=N` (or `groupId`): with
    /// `all=true` as administrator, since Traccar otherwise also requires the objects to be
    /// linked to the caller (`ExtendedObjectResource`; a manager sees its own objects either
    /// way).
    pub(super) fn owner_query(
        &self,
        owner_key: &'static str,
        owner: Id,
    ) -> Vec<(&'static str, String)> {
        let mut query = vec![(owner_key, owner.0.to_string())];
        if self.role == super::rules::Role::Admin {
            query.push(("all", "true".to_string()));
        }
        query
    }
}

/// Whether a refused create failed on the unique constraint of `key` (H2: `Unique index or
/// primary key violation: "... ON PUBLIC.TC_DEVICES(UNIQUEID ...)"`, MySQL `Duplicate entry`,
/// PostgreSQL `duplicate key value`).
fn key_taken(error: &ApiError, key: &str) -> bool {
    let message = error.message.to_lowercase();
    error.status == Some(400)
        && message.contains(&key.to_lowercase())
        && ["unique index", "duplicate entry", "duplicate key", "23505"]
            .iter()
            .any(|w| message.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_marker_ends_the_text_and_is_read_back() {
        let marked = with_comment_marker("speed * 1.852", "acme-bikes");
        assert_eq!(marked, "speed * 1.852 /* fleetform:acme-bikes */");
        assert_eq!(
            split_comment_marker(&marked),
            ("speed * 1.852", Some("acme-bikes"))
        );
        // Another fleet's stamp is replaced, never doubled; trailing blanks do not matter.
        assert_eq!(
            with_comment_marker("a /* fleetform:other */  ", "acme"),
            "a /* fleetform:acme */"
        );
        // The user's own comments are the expression's.
        for text in [
            "a /* note */",
            "a // fleetform:acme",
            "a /* fleetform: */",
            "a",
        ] {
            assert_eq!(split_comment_marker(text), (text, None), "{text}");
        }
    }

    #[test]
    fn a_computed_attribute_read_has_its_marker_apart_from_its_expression() {
        let json = json!({"id": 3, "description": "speed-kmh", "attribute": "speedKmh",
            "expression": "speed * 1.852 /* fleetform:acme */", "type": "number"});
        let Json::Object(json) = json else {
            unreachable!("an object literal")
        };
        let object = live_object(COMPUTED_OBJECT, &json, &|_, _| None).expect("read");
        assert_eq!(object.marker.as_deref(), Some("acme"));
        let spec = DESCRIPTION.object(COMPUTED_OBJECT).expect("kind");
        assert_eq!(
            object.fields.get(&spec.field("expression").expect("field")),
            Some(&Value::Text("speed * 1.852".into()))
        );
    }
}
