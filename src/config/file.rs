//! The fleet file's types as written (format version 1), before validation, and the JSON Schema
//! generated from them. These types only describe shape and field types; every rule that needs
//! more than one value (emails, roles, duplicates, timestamps) is checked in `validate`.
//!
//! Editors use the schema through the `# yaml-language-server: $schema=...` comment, so the doc
//! comments here are the help text users see: write them for users.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::core::model::Prune;

/// The pattern a fleet name must match (also enforced by `validate`).
pub const FLEET_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A fleetform fleet file: the users, permissions and device/group links that fleetform keeps
/// in sync with a Traccar server.
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
    /// The server to reconcile. `TRACCAR_URL` or `--url` override it.
    #[serde(default)]
    pub server: Option<Server>,
    /// The email of an optional billing account that owns the fleet's devices. fleetform never
    /// modifies or deletes it and never unlinks it from its devices. It may not be listed under
    /// `users`.
    #[serde(default)]
    #[schemars(email)]
    pub manager: Option<String>,
    /// What happens to users this fleet manages that were removed from the file: `delete`
    /// (the default), `disable`, or `keep`.
    #[serde(default)]
    pub prune: Option<Prune>,
    /// With `prune: disable`: delete a user fleetform disabled once it has been disabled this
    /// long, e.g. `30d` (days), `12h` (hours) or `90m` (minutes). Left out, disabled users stay.
    #[serde(default)]
    #[schemars(regex(pattern = PRUNE_AFTER_PATTERN))]
    pub prune_after: Option<String>,
    /// Limits that make `apply` refuse a plan removing too much (an emptied or truncated file),
    /// unless `--allow-mass-removal` is given.
    #[serde(default)]
    pub safety: Option<FileSafety>,
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
    /// The server's base URL, e.g. `https://traccar.example.com`.
    #[serde(default)]
    #[schemars(url)]
    pub url: Option<String>,
}

/// Declares a struct with the user fields shared by roles and users (serde's `flatten` can't be
/// combined with `deny_unknown_fields`, so the fields are repeated by this macro instead), and
/// a `fields()` accessor so `validate` handles both the same way.
macro_rules! with_user_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($extra)*
            /// Display name.
            #[serde(default)]
            pub name: Option<String>,
            /// Phone number. `null` means "no phone number".
            #[serde(default, deserialize_with = "nullable")]
            pub phone: Option<Option<String>>,
            /// Free-form attributes, managed key by key: keys not listed are left alone. A `null`
            /// value means the key must be absent. The keys `fleetform`, `fleetformApplied` and
            /// `fleetformDisabledAt` are reserved.
            #[serde(default)]
            pub attributes: Option<BTreeMap<String, serde_json::Value>>,
            /// Read-only user: may not create, edit or delete anything, nor change links.
            #[serde(default)]
            pub readonly: Option<bool>,
            /// May not create, edit or delete devices (but may still see and use them).
            #[serde(default)]
            pub device_readonly: Option<bool>,
            /// May not send commands to devices.
            #[serde(default)]
            pub limit_commands: Option<bool>,
            /// May not run reports or export positions.
            #[serde(default)]
            pub disable_reports: Option<bool>,
            /// A disabled user can not log in.
            #[serde(default)]
            pub disabled: Option<bool>,
            /// How many devices the user may create: -1 unlimited, 0 none, n at most n visible devices.
            #[serde(default)]
            #[schemars(range(min = -1))]
            pub device_limit: Option<i64>,
            /// How many users the user may manage: -1 unlimited, 0 none (not a manager).
            #[serde(default)]
            #[schemars(range(min = -1))]
            pub user_limit: Option<i64>,
            /// When the account expires, as an RFC 3339 timestamp such as
            /// `2027-06-30T00:00:00Z`. `null` means it never expires.
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("format" = "date-time"))]
            pub expiration_time: Option<Option<String>>,
        }

        impl $name {
            pub fn fields(&self) -> UserFields<'_> {
                UserFields {
                    name: self.name.as_deref(),
                    phone: self.phone.as_ref().map(Option::as_deref),
                    attributes: self.attributes.as_ref(),
                    readonly: self.readonly,
                    device_readonly: self.device_readonly,
                    limit_commands: self.limit_commands,
                    disable_reports: self.disable_reports,
                    disabled: self.disabled,
                    device_limit: self.device_limit,
                    user_limit: self.user_limit,
                    expiration_time: self.expiration_time.as_ref().map(Option::as_deref),
                }
            }
        }
    };
}

with_user_fields! {
    /// A named permission preset: the same fields as a user, without email, role and links.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[schemars(rename = "Role")]
    pub struct FileRole {}
}

with_user_fields! {
    /// One user. Fields left out are not managed: fleetform leaves them as they are on the
    /// server.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[schemars(rename = "User")]
    pub struct FileUser {
        /// The user's email, the login. Matched case-insensitively.
        #[schemars(email)]
        pub email: String,
        /// The name of a role under `roles` whose fields this user gets.
        #[serde(default)]
        pub role: Option<String>,
        /// Device uniqueIds linked to the user. The full list: other devices are unlinked. Left
        /// out, the user has no device links.
        #[serde(default)]
        pub devices: Option<Vec<String>>,
        /// Device group names linked to the user. The full list: other groups are unlinked.
        /// Left out, the user has no group links.
        #[serde(default)]
        pub groups: Option<Vec<String>>,
    }
}

/// The shared user fields of a role or user, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct UserFields<'a> {
    pub name: Option<&'a str>,
    pub phone: Option<Option<&'a str>>,
    pub attributes: Option<&'a BTreeMap<String, serde_json::Value>>,
    pub readonly: Option<bool>,
    pub device_readonly: Option<bool>,
    pub limit_commands: Option<bool>,
    pub disable_reports: Option<bool>,
    pub disabled: Option<bool>,
    pub device_limit: Option<i64>,
    pub user_limit: Option<i64>,
    pub expiration_time: Option<Option<&'a str>>,
}

/// Keys whose value may be `null` with a meaning of its own ("no phone", "never expires").
/// Elsewhere `null` is refused: it would silently mean "not managed".
pub const NULLABLE_KEYS: [&str; 2] = ["phone", "expirationTime"];

/// `Some(None)` for an explicit `null`, so it differs from a key left out (`None`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The JSON Schema of the fleet file, pretty-printed with a trailing newline. This is what
/// `fleetform schema` prints and what `schemas/fleet.schema.json` holds (a test compares them;
/// `FLEETFORM_BLESS=1 cargo test --test tests config_files` rewrites the file).
pub fn schema_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<FleetFile>().to_value();
    refuse_null_in_schema(&mut schema);
    let mut text =
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// schemars describes every `Option` field as nullable, but fleetform refuses `null` except for
/// `NULLABLE_KEYS` (see `validate::refuse_nulls`); make the schema say so, so editors warn too.
fn refuse_null_in_schema(schema: &mut serde_json::Value) {
    use serde_json::Value as J;
    if let Some(properties) = schema.get_mut("properties").and_then(J::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            let Some(object) = property.as_object_mut() else {
                continue;
            };
            // Leaving a key out means "not managed", which no default value expresses.
            if object.get("default") == Some(&J::Null) {
                object.remove("default");
            }
            if NULLABLE_KEYS.contains(&name.as_str()) {
                continue;
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
