//! The fleet file's types as written (format version 1), before validation, and the JSON Schema
//! generated from them. These types only describe shape and field types; every rule that needs
//! more than one value (emails, roles, duplicates, timestamps) is checked in `validate`.
//!
//! Editors use the schema through the `# yaml-language-server: $schema=...` comment, so the doc
//! comments here are the help text users see: write them for users.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::core::model::{Description, FieldSpec, FieldType, Prune};

/// The pattern a fleet name must match (also enforced by `validate`).
pub const FLEET_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A fleetform fleet file: the users that fleetform keeps in sync with a server: on Traccar
/// their permissions and device/group links, and the devices, groups and geofences themselves;
/// on a telematics user service (`server.kind: telematics`) their profile and telematics flags.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "fleetform fleet file (version 1)")]
pub struct FleetFile {
    /// The format version of this file. Must be 1. Required; when several files are merged
    /// (`-f` repeated, or a directory), at least one of them must give it.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1))]
    pub version: Option<u32>,
    /// This file's identity. fleetform stamps it on the users it creates or adopts, and only
    /// ever deletes or disables users stamped with it. Letters, digits, `.`, `_` and `-`; up to
    /// 64 characters. Required; when several files are merged, at least one of them must give
    /// it, and every file that gives it must give the same name.
    #[serde(default)]
    #[schemars(regex(pattern = FLEET_NAME_PATTERN))]
    pub fleet: Option<String>,
    /// The server to reconcile. `TRACCAR_URL` or `--url` override its URL.
    #[serde(default)]
    pub server: Option<Server>,
    /// Traccar only: the email of an optional billing account that owns the fleet's devices.
    /// fleetform never modifies or deletes it and never unlinks it from its devices. It may not
    /// be listed under `users`.
    #[serde(default)]
    #[schemars(email)]
    pub manager: Option<String>,
    /// What happens to users this fleet manages that were removed from the file. Traccar:
    /// `delete` (the default), `disable` or `keep`. Telematics: `deactivate` (the default: the
    /// user keeps its data), `delete` (irreversible: the user and all its data) or `keep`.
    #[serde(default)]
    pub prune: Option<Prune>,
    /// Traccar, with `prune: disable`: delete a user fleetform disabled once it has been
    /// disabled this long, e.g. `30d` (days), `12h` (hours) or `90m` (minutes). Left out,
    /// disabled users stay.
    #[serde(default)]
    #[schemars(regex(pattern = PRUNE_AFTER_PATTERN))]
    pub prune_after: Option<String>,
    /// Limits that make `apply` refuse a plan removing too much (an emptied or truncated file),
    /// unless `--allow-mass-removal` is given.
    #[serde(default)]
    pub safety: Option<FileSafety>,
    /// Link lists this file does not manage, e.g. `[groups]`: fleetform neither reads nor
    /// changes those links, and no user may list them. On Traccar before 6.14, leaving group
    /// links unmanaged saves one request per user on every run; a group link added by hand is
    /// then not seen, so the file no longer bounds the access users get through groups.
    #[serde(default)]
    pub unmanaged: Option<Vec<String>>,
    /// Named permission presets. A user names one with `role:`; the user's own fields override
    /// the role's.
    #[serde(default)]
    pub roles: BTreeMap<String, FileRole>,
    /// Every user this fleet manages. Each email may appear once (emails match
    /// case-insensitively).
    #[serde(default)]
    pub users: Vec<FileUser>,
}

/// The pattern of `pruneAfter` (also enforced by `validate`).
pub const PRUNE_AFTER_PATTERN: &str = r"^[0-9]+[dhm]$";

/// Limits that make `apply` refuse a plan removing too much, unless `--allow-mass-removal` is
/// given. Every key is optional; the defaults are shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Safety")]
pub struct FileSafety {
    /// Refuse when the plan deletes or disables more than this percentage of the fleet's
    /// managed users (default 25).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub max_removal_percent: Option<u32>,
    /// Apply `maxRemovalPercent` only once the fleet manages at least this many users
    /// (default 8).
    #[serde(default)]
    pub min_managed_for_percent: Option<u32>,
    /// Refuse when the plan removes more than this percentage of the managed users' device and
    /// group links (default 25).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub max_unlink_percent: Option<u32>,
    /// Apply `maxUnlinkPercent` only once the managed users have at least this many links
    /// (default 20).
    #[serde(default)]
    pub min_links_for_percent: Option<u32>,
    /// Allow a plan that deletes or disables every managed user (default false).
    #[serde(default)]
    pub allow_remove_all: Option<bool>,
}

/// The server to reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Server {
    /// The kind of server (the backend fleetform talks to). Default: `traccar`.
    #[serde(default)]
    #[schemars(extend("enum" = crate::backend::KINDS))]
    pub kind: Option<String>,
    /// The server's base URL, e.g. `https://traccar.example.com` or
    /// `https://user.telematicssdk.com`.
    #[serde(default)]
    #[schemars(url)]
    pub url: Option<String>,
    /// Telematics only (and required there): the id of the instance (user group) this fleet
    /// manages, a UUID as DataHub shows it.
    #[serde(default)]
    #[schemars(regex(pattern = UUID_PATTERN))]
    pub instance_id: Option<String>,
}

/// The pattern of `server.instanceId` (also enforced by `validate`).
pub const UUID_PATTERN: &str =
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// The help text of `attributes` (users and roles).
const ATTRIBUTES_DOC: &str = "Free-form attributes, managed key by key: keys not listed are left alone. A `null`\nvalue means the key must be absent. The keys `fleetform`, `fleetformApplied` and\n`fleetformDisabledAt` are reserved.";

// The fields of roles and users are the backend's: `validate` decodes them by its description
// and `schema_json` adds them to the schema; these types hold what every backend shares.

/// A named permission preset: the same fields as a user, without email, role and links.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Role")]
pub struct FileRole {
    /// Free-form attributes (see `ATTRIBUTES_DOC`).
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
}

/// One user. Fields left out are not managed: fleetform leaves them as they are on the
/// server.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "User")]
pub struct FileUser {
    /// The name of a role under `roles` whose fields this user gets.
    #[serde(default)]
    pub role: Option<String>,
    /// Free-form attributes (see `ATTRIBUTES_DOC`).
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
}

/// The JSON Schema of the fleet file, pretty-printed with a trailing newline. This is what
/// `fleetform schema` prints and what `schemas/fleet.schema.json` holds (a test compares them;
/// `FLEETFORM_BLESS=1 cargo test --test tests config_files` rewrites the file).
///
/// The user fields come from the backends' descriptions, so the schema and the loader always
/// agree: the default backend's (`backend::DEFAULT`) key and fields are added to the `User`
/// and `Role` definitions, every other backend's to `<Kind>User` and `<Kind>Role`
/// (`TelematicsUser`); `describe_kinds` picks them by `server.kind`.
/// The default backend's object kinds become sections (`devices`, `groups`, ...) with a
/// definition each.
pub fn schema_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<FleetFile>().to_value();
    refuse_null_in_schema(&mut schema);
    describe_kinds(&mut schema);
    describe_objects(&mut schema, crate::backend::DEFAULT);
    let mut text =
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Adds a backend's user key and fields to the schema's `User` and `Role` definitions, in the
/// order the loader reports them: the key, the shared keys, then `Description::file_keys`.
/// The schema of one declared field (users' and objects').
fn field_schema(spec: &FieldSpec) -> serde_json::Value {
    use serde_json::{Map, Value as J, json};
    let ty = |name: &str| {
        if spec.nullable {
            json!([name, "null"])
        } else {
            json!(name)
        }
    };
    let mut out = Map::new();
    match spec.ty {
        FieldType::Text => {
            out.insert("type".into(), ty("string"));
        }
        FieldType::Bool => {
            out.insert("type".into(), ty("boolean"));
        }
        FieldType::Int { min, max } => {
            out.insert("type".into(), ty("integer"));
            out.insert("format".into(), json!("int64"));
            out.insert("minimum".into(), json!(min));
            out.insert("maximum".into(), json!(max));
        }
        FieldType::Time => {
            out.insert("type".into(), ty("string"));
            out.insert("format".into(), json!("date-time"));
        }
        FieldType::List => {
            out.insert("type".into(), ty("array"));
            out.insert("items".into(), json!({"type": "string", "minLength": 1}));
            out.insert("uniqueItems".into(), json!(true));
        }
    }
    out.insert("description".into(), json!(spec.doc));
    J::Object(out)
}

/// Adds a backend's object sections (`devices:`, `groups:`) to the schema: a top-level mapping
/// per kind from keys to entries, each entry a `$defs` definition named after the kind
/// (`Device`, `Group`) holding the kind's fields, `attributes` and its lists of linked objects.
fn describe_objects(schema: &mut serde_json::Value, backend: &Description) {
    use serde_json::{Map, Value as J, json};
    for spec in backend.objects {
        let mut name = spec.kind.name().to_string();
        if let Some(first) = name.get(..1).map(str::to_uppercase) {
            name.replace_range(..1, &first);
        }
        let mut properties = Map::new();
        for field in spec.fields {
            properties.insert(field.name.into(), field_schema(field));
        }
        if spec.attributes {
            properties.insert(
                "attributes".into(),
                json!({"type": "object", "additionalProperties": true, "description": ATTRIBUTES_DOC}),
            );
        }
        for list in spec.lists {
            properties.insert(
                list.file_key.into(),
                json!({
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "uniqueItems": true,
                    "description": list.doc,
                }),
            );
        }
        let entry = json!({
            "type": ["object", "null"],
            "description": spec.entry_doc,
            "additionalProperties": false,
            "properties": properties,
        });
        if let Some(defs) = schema.get_mut("$defs").and_then(J::as_object_mut) {
            defs.insert(name.clone(), entry);
        }
        let section = json!({
            "type": "object",
            "description": spec.doc,
            "propertyNames": {"minLength": 1, "description": format!("The {}'s {}.", spec.kind, spec.key)},
            "additionalProperties": {"$ref": format!("#/$defs/{name}")},
        });
        if let Some(top) = schema.get_mut("properties").and_then(J::as_object_mut) {
            top.insert(spec.section.into(), section);
        }
    }
}

/// The names of a backend's user and role definitions in the schema.
fn def_names(backend: &Description) -> (String, String) {
    if backend.kind == crate::backend::DEFAULT.kind {
        return ("User".into(), "Role".into());
    }
    let mut chars = backend.kind.chars();
    let kind: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default();
    (format!("{kind}User"), format!("{kind}Role"))
}

/// Describes every backend's users and roles, and makes the top level choose them by
/// `server.kind`: `users`, `roles` and `prune` follow the backend's description, and the keys
/// only some backends have (`server.instanceId`, `manager`, `pruneAfter`) are required or
/// refused by kind, as `validate` does.
fn describe_kinds(schema: &mut serde_json::Value) {
    use serde_json::{Map, Value as J, json};
    let default = crate::backend::DEFAULT;
    let backends: Vec<&'static Description> = crate::backend::KINDS
        .iter()
        .filter_map(|kind| crate::backend::describe(kind))
        .collect();
    let shared = |name: &str| schema.get("$defs").and_then(|d| d.get(name)).cloned();
    let (shared_user, shared_role) = (shared("User"), shared("Role"));
    if let Some(defs) = schema.get_mut("$defs").and_then(J::as_object_mut) {
        for backend in &backends {
            let (user, role) = def_names(backend);
            for (name, def) in [(user, &shared_user), (role, &shared_role)] {
                if let Some(def) = def {
                    defs.insert(name, def.clone());
                }
            }
        }
    }
    for backend in &backends {
        describe_users(schema, backend);
    }
    // The top level's lists take their items from the branch of their kind.
    if let Some(properties) = schema.get_mut("properties").and_then(J::as_object_mut) {
        if let Some(users) = properties.get_mut("users").and_then(J::as_object_mut) {
            users.remove("items");
            users.insert(
                "description".into(),
                json!("Every user this fleet manages, each once: on Traccar keyed by `email` (matched\ncase-insensitively), on telematics by `clientId` (matched exactly)."),
            );
        }
        if let Some(roles) = properties.get_mut("roles").and_then(J::as_object_mut) {
            roles.remove("additionalProperties");
        }
    }
    let branch = |backend: &Description| -> J {
        let (user, role) = def_names(backend);
        let prune: Vec<&str> = backend
            .capabilities
            .prune
            .iter()
            .map(|p| p.name())
            .collect();
        let mut properties = Map::new();
        properties.insert(
            "users".into(),
            json!({"items": {"$ref": format!("#/$defs/{user}")}}),
        );
        properties.insert(
            "roles".into(),
            json!({"additionalProperties": {"$ref": format!("#/$defs/{role}")}}),
        );
        properties.insert("prune".into(), json!({"enum": prune}));
        if backend.capabilities.instance {
            properties.insert("server".into(), json!({"required": ["instanceId"]}));
        } else {
            properties.insert(
                "server".into(),
                json!({"properties": {"instanceId": false}}),
            );
        }
        if !backend.capabilities.managing_account {
            properties.insert("manager".into(), J::Bool(false));
        }
        if !backend.capabilities.attributes {
            properties.insert("pruneAfter".into(), J::Bool(false));
        }
        if backend.file_links().next().is_none() {
            properties.insert("unmanaged".into(), J::Bool(false));
        }
        let mut then = Map::new();
        then.insert("properties".into(), J::Object(properties));
        if backend.capabilities.instance {
            then.insert("required".into(), json!(["server"]));
        }
        J::Object(then)
    };
    let kind_is = |kinds: Vec<&str>| {
        json!({
            "properties": {"server": {"properties": {"kind": {"enum": kinds}}, "required": ["kind"]}},
            "required": ["server"]
        })
    };
    let others: Vec<&str> = backends
        .iter()
        .filter(|b| b.kind != default.kind)
        .map(|b| b.kind)
        .collect();
    let mut choices = vec![json!({"if": kind_is(others), "else": branch(default)})];
    for backend in backends.iter().filter(|b| b.kind != default.kind) {
        choices.push(json!({"if": kind_is(vec![backend.kind]), "then": branch(backend)}));
    }
    if let Some(root) = schema.as_object_mut() {
        root.insert("allOf".into(), J::Array(choices));
    }
}

/// Adds a backend's user key and fields to its user and role definitions (`def_names`), in
/// the order the loader reports them: the key, the shared keys, then `Description::file_keys`.
fn describe_users(schema: &mut serde_json::Value, backend: &Description) {
    use serde_json::{Map, Value as J, json};
    let field = field_schema;
    let Some(defs) = schema.get_mut("$defs").and_then(J::as_object_mut) else {
        return;
    };
    let (user, role) = def_names(backend);
    for (def, keyed) in [(user, true), (role, false)] {
        let Some(object) = defs.get_mut(&def).and_then(J::as_object_mut) else {
            continue;
        };
        let shared = object
            .get("properties")
            .and_then(J::as_object)
            .cloned()
            .unwrap_or_default();
        let mut properties = Map::new();
        if keyed {
            let mut key = Map::new();
            key.insert("type".into(), json!("string"));
            key.insert("description".into(), json!(backend.key.doc));
            if backend.key.email {
                key.insert("format".into(), json!("email"));
            }
            properties.insert(backend.key.name.into(), J::Object(key));
            object.insert("required".into(), json!([backend.key.name]));
        }
        for (name, value) in shared.iter().filter(|(name, _)| *name != "attributes") {
            properties.insert(name.clone(), value.clone());
        }
        if !keyed {
            object.insert(
                "description".into(),
                json!(format!(
                    "A named preset of {} user fields: the same fields as a user, without its key{}.",
                    backend.kind,
                    if backend.file_links().next().is_some() { ", role and links" } else { " and role" }
                )),
            );
        }
        if keyed {
            // The backend's link lists, after `role`.
            for (spec, key) in backend.file_links() {
                let list =
                    json!({"type": "array", "items": {"type": "string"}, "description": spec.doc});
                properties.insert(key.into(), list);
            }
        }
        for name in backend.file_keys() {
            if name == "attributes" {
                if let Some(attributes) = shared.get("attributes") {
                    let mut attributes = attributes.clone();
                    if let Some(a) = attributes.as_object_mut() {
                        a.insert("description".into(), json!(ATTRIBUTES_DOC));
                    }
                    properties.insert("attributes".into(), attributes);
                }
            } else if let Some(spec) = backend.fields.iter().find(|s| s.name == name) {
                properties.insert(spec.name.into(), field(spec));
            }
        }
        object.insert("properties".into(), J::Object(properties));
    }
}

/// schemars describes every `Option` field as nullable, but fleetform refuses `null` except for
/// the fields a backend declares nullable (see `validate::refuse_nulls`); make the schema say
/// so, so editors warn too. (Runs before the backend's fields are added.)
fn refuse_null_in_schema(schema: &mut serde_json::Value) {
    use serde_json::Value as J;
    if let Some(properties) = schema.get_mut("properties").and_then(J::as_object_mut) {
        for property in properties.values_mut() {
            let Some(object) = property.as_object_mut() else {
                continue;
            };
            // Leaving a key out means "not managed", which no default value expresses.
            if object.get("default") == Some(&J::Null) {
                object.remove("default");
            }
            if let Some(J::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    object.insert("type".into(), only);
                }
            }
            let any_of = object.get("anyOf").and_then(J::as_array).cloned();
            if let Some(any_of) = any_of {
                let rest: Vec<J> = any_of
                    .into_iter()
                    .filter(|s| s.get("type") != Some(&J::from("null")))
                    .collect();
                object.remove("anyOf");
                match <[J; 1]>::try_from(rest) {
                    Ok([J::Object(only)]) => object.extend(only),
                    Ok([other]) => {
                        object.insert("anyOf".into(), J::Array(vec![other]));
                    }
                    Err(rest) => {
                        object.insert("anyOf".into(), J::Array(rest));
                    }
                }
            }
        }
    }
    match schema {
        J::Object(map) => map.values_mut().for_each(refuse_null_in_schema),
        J::Array(items) => items.iter_mut().for_each(refuse_null_in_schema),
        _ => {}
    }
}
