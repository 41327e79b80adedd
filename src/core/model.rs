//! The backend-neutral model: desired state (from the fleet file), live state (from a server),
//! and the vocabulary both share. Everything is keyed by natural keys (lower-cased email, device
//! uniqueId, group name), never by server ids: ids stay inside `backend/<name>/`.
//!
//! This module holds data only. It does no I/O and knows nothing about YAML, HTTP or Traccar.
//!
//! Conventions:
//! - A desired user's `fields` holds only the fields the file manages; a field that is absent is
//!   left alone on the server ("`None` means not managed").
//! - A live user's `fields` holds every field the backend can read, including every attribute.
//! - `Value::Null` for an attribute means "this key must not be present".
//! - Times are truncated to whole seconds when a `Value` is built, so equality is instant equality
//!   at second precision (Traccar's databases may drop milliseconds).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::core::description::{Description, FieldSpec};

/// The natural key of a user, as its backend compares them (`KeySpec::key`): trimmed, and
/// lower-cased where keys match case-insensitively (Traccar's emails).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserKey(String);

impl UserKey {
    /// A case-insensitive key: trimmed and lower-cased.
    pub fn new(email: &str) -> Self {
        UserKey(email.trim().to_lowercase())
    }
    /// A case-sensitive key: trimmed only.
    pub fn exact(id: &str) -> Self {
        UserKey(id.trim().to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user field fleetform can manage: one the backend declares (`Description::fields`), or
/// `Attribute(key)`, one key of the user's attribute map (attributes are managed key by key, so
/// keys the file does not name are kept). Fields order as the backend declares them, then
/// attributes by key: plans and applied records list them in that order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Scalar(Scalar),
    Attribute(String),
}

/// A declared field: its backend's description and its place in it.
#[derive(Clone, Copy)]
pub struct Scalar {
    backend: &'static Description,
    index: usize,
}

impl Scalar {
    pub fn spec(&self) -> &'static FieldSpec {
        &self.backend.fields[self.index]
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && self.spec().name == other.spec().name
    }
}

impl Eq for Scalar {}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.index, self.spec().name).cmp(&(other.index, other.spec().name))
    }
}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spec().name.hash(state);
    }
}

impl Field {
    /// The `index`th field of `backend` (see `Description::field`).
    pub fn scalar(backend: &'static Description, index: usize) -> Field {
        Field::Scalar(Scalar { backend, index })
    }

    /// The declared field's description; `None` for attributes.
    pub fn spec(&self) -> Option<&'static FieldSpec> {
        match self {
            Field::Scalar(scalar) => Some(scalar.spec()),
            Field::Attribute(_) => None,
        }
    }

    /// The name users see in the file and in plans: the backend's field name, and
    /// `attributes.<key>` for attributes.
    pub fn name(&self) -> String {
        match self {
            Field::Scalar(scalar) => scalar.spec().name.to_string(),
            Field::Attribute(key) => format!("attributes.{key}"),
        }
    }

    /// Whether this is the declared field named `name`.
    pub fn is(&self, name: &str) -> bool {
        self.spec().is_some_and(|spec| spec.name == name)
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A field's value. `Null` is "absent / no value" (an attribute that must not exist, a user
/// without an expiration time, an empty phone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Time(DateTime<Utc>),
    Text(String),
    /// Boxed: structured attributes are rare, and an unboxed JSON value would make every
    /// `Value` (and so every user's field map) several times larger.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// A time value at second precision.
    pub fn time(t: DateTime<Utc>) -> Value {
        Value::Time(t.trunc_subsecs(0))
    }

    /// Converts an attribute value from JSON, folding scalars into the typed variants so that
    /// `"4711"` in the file equals `"4711"` on the server however each side spelled it.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Json(Box::new(v.clone())),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            other => Value::Json(Box::new(other.clone())),
        }
    }

    /// The JSON form, for writing attributes back to a server.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Time(t) => serde_json::Value::String(t.to_rfc3339()),
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Json(j) => (**j).clone(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Time(t) => f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Json(j) => write!(f, "{j}"),
        }
    }
}

/// The user attribute that carries the ownership marker: the name of the fleet that manages the
/// user. Only marked users are ever pruned. Reserved in fleet files.
pub const MARKER_ATTRIBUTE: &str = "fleetform";

/// The user attribute in which a backend records when fleetform disabled a user (`prune:
/// disable`), as an RFC 3339 timestamp in UTC. `pruneAfter` deletes a disabled user only once
/// this time is old enough. Reserved in the fleet file like the ownership marker; the diff never
/// manages it.
pub const DISABLED_AT_ATTRIBUTE: &str = "fleetformDisabledAt";

/// What the file says happens to managed users that left it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Prune {
    #[default]
    Delete,
    Disable,
    Keep,
}

/// One user as the fleet file wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredUser {
    /// The email as spelled in the file (used when creating the user).
    pub email: String,
    /// Managed fields only, roles already merged in.
    pub fields: BTreeMap<Field, Value>,
    /// Device uniqueIds linked directly to the user. The full set: others are unlinked.
    pub devices: BTreeSet<String>,
    /// Group names linked directly to the user. The full set: others are unlinked.
    pub groups: BTreeSet<String>,
    /// Where the user is defined, `file:line:column`, for error messages (None in tests).
    pub origin: Option<String>,
}

/// The whole fleet file, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The backend the file is for (`server.kind`): its fields, link kinds and rules.
    pub backend: &'static Description,
    /// This file's identity, stamped on the users it manages (the ownership marker).
    pub fleet: String,
    /// The billing account, if any: never modified, deleted or unlinked from its devices.
    pub manager: Option<UserKey>,
    pub prune: Prune,
    /// With `prune: disable`: delete a user fleetform disabled once it has been disabled this
    /// long (`pruneAfter`). `None`: disabled users stay disabled.
    pub prune_after: Option<TimeDelta>,
    /// The limits `apply` checks before it changes anything (`safety:` in the file).
    pub safety: Safety,
    pub users: BTreeMap<UserKey, DesiredUser>,
}

/// Safety limits against mass removal (`safety:` in the fleet file). `apply` refuses a plan
/// that exceeds one of them unless `--allow-mass-removal` is given; see `crate::core::safety`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Safety {
    /// The most managed users one plan may delete or disable, in percent of the fleet's managed
    /// users (default 25).
    pub max_removal_percent: u32,
    /// The percentage limit on removals applies once the fleet has this many managed users
    /// (default 8): below that, one removal is already a large share.
    pub min_managed_for_percent: usize,
    /// The most links one plan may remove, in percent of the managed users' links (default 25).
    pub max_unlink_percent: u32,
    /// The percentage limit on unlinks applies once the managed users have this many links
    /// (default 20).
    pub min_links_for_percent: usize,
    /// Whether a plan may delete or disable every managed user (default false).
    pub allow_remove_all: bool,
}

impl Default for Safety {
    fn default() -> Self {
        Safety {
            max_removal_percent: 25,
            min_managed_for_percent: 8,
            max_unlink_percent: 25,
            min_links_for_percent: 20,
            allow_remove_all: false,
        }
    }
}

/// Who fleetform is talking to and as whom, learnt before planning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The backend kind, e.g. "traccar".
    pub backend: String,
    /// The server's base URL, without credentials.
    pub url: String,
    /// The server's version string, e.g. "6.14.5".
    pub server_version: String,
    /// The acting account's email as the server spells it.
    pub email: String,
    /// The account's role as its backend names it (Traccar: `admin`, `manager` or `user`);
    /// only the backend's `Rules` interpret it.
    pub role: String,
}

/// One user as the server has it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveUser {
    /// The email as the server spells it.
    pub email: String,
    /// Why the backend's rules forbid managing this user at all (e.g. an administrator), as a
    /// phrase for messages: "is an administrator on the server; ...". `None`: manageable.
    pub untouchable: Option<String>,
    /// The fleet named by the user's ownership marker, if it has one.
    pub marker: Option<String>,
    /// Every readable field, and every attribute except the marker.
    pub fields: BTreeMap<Field, Value>,
    /// Direct device links, by uniqueId. Only filled for users in scope.
    pub devices: BTreeSet<String>,
    /// Direct group links, by name. Only filled for users in scope.
    pub groups: BTreeSet<String>,
    /// Emails (lower-cased) of the users that manage this one.
    pub managed_by: BTreeSet<UserKey>,
}

/// The live state of a server, as far as the acting account can see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub account: Account,
    /// Every user the account can see. Links are filled only for users in scope.
    pub users: BTreeMap<UserKey, LiveUser>,
    /// Every device uniqueId the account may link (for an admin: every device).
    pub devices: BTreeSet<String>,
    /// Every group name the account may link. Names are not unique on Traccar; a name held by
    /// more than one group is listed in `ambiguous_groups` and may not be used in a file.
    pub groups: BTreeSet<String>,
    pub ambiguous_groups: BTreeSet<String>,
    /// The devices of the `manager` account, when the file names one and it exists.
    pub manager_devices: Option<BTreeSet<String>>,
    /// When this state was read (the fetching machine's clock). The diff compares
    /// `DISABLED_AT_ATTRIBUTE` against it for `pruneAfter`; keeping it here keeps the diff pure
    /// and `plan(&Desired, &Live)` unchanged.
    pub now: DateTime<Utc>,
}

/// Which users the fetch must read links for: the file's users and this fleet's marked users.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub fleet: String,
    pub emails: BTreeSet<UserKey>,
    pub manager: Option<UserKey>,
    /// The groups the file lists per user; servers that cannot list group links exactly need
    /// them to infer which visible groups are direct links.
    pub desired_groups: BTreeMap<UserKey, BTreeSet<String>>,
    /// When the file lists no group for any user: every user of the file with the digest of
    /// its desired state (`record::desired_digest`). A live user whose applied record carries
    /// that digest was last applied by this file with no group links (the unlinks run before
    /// the record is written), so a backend that can only read group links per user may skip
    /// that read for it. Empty when the file lists a group, and for export.
    pub groupless: BTreeMap<UserKey, String>,
}

impl Scope {
    pub fn of(desired: &Desired) -> Scope {
        let uses_groups = desired.users.values().any(|u| !u.groups.is_empty());
        Scope {
            fleet: desired.fleet.clone(),
            emails: desired.users.keys().cloned().collect(),
            manager: desired.manager.clone(),
            desired_groups: desired
                .users
                .iter()
                .map(|(k, u)| (k.clone(), u.groups.clone()))
                .collect(),
            groupless: if uses_groups {
                BTreeMap::new()
            } else {
                desired
                    .users
                    .iter()
                    .map(|(k, u)| (k.clone(), crate::core::record::desired_digest(u)))
                    .collect()
            },
        }
    }

    /// Whether the group links of this live user may be taken as none without reading them
    /// (see `groupless`).
    pub fn groups_settled(
        &self,
        key: &UserKey,
        user: &LiveUser,
        backend: &'static crate::core::description::Description,
    ) -> bool {
        self.groupless.get(key).is_some_and(|digest| {
            crate::core::record::live_record(backend, user).is_some_and(|r| &r.digest == digest)
        })
    }

    /// Whether a live user's links must be read.
    pub fn contains(&self, key: &UserKey, user: &LiveUser) -> bool {
        self.emails.contains(key) || user.marker.as_deref() == Some(self.fleet.as_str())
    }
}

/// What kind of thing a link points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Device,
    Group,
    /// The user is one of the target's managed users: the target is the fleet's `manager`
    /// (billing account). Only ever linked, by administrator runs that name a manager, so the
    /// whole fleet stays in the billing account; never unlinked.
    Manager,
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Device => "device",
            LinkKind::Group => "group",
            LinkKind::Manager => "manager",
        })
    }
}

/// One field that an update changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: Field,
    pub before: Value,
    pub after: Value,
}

/// One step of a plan. Users are named by email as the file (create) or server (others) spells
/// them; links by device uniqueId or group name.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a user with these fields and the fleet's marker; `managed_by` is the manager
    /// account that must own it (admin runs with `manager` set). A random password is generated
    /// at apply time and never appears in the plan.
    CreateUser {
        email: String,
        fields: BTreeMap<Field, Value>,
        managed_by: Option<String>,
    },
    /// Change only the listed fields; `adopt` adds this fleet's marker to an unmarked user.
    UpdateUser {
        email: String,
        changes: Vec<FieldChange>,
        adopt: bool,
    },
    Link {
        email: String,
        kind: LinkKind,
        target: String,
    },
    Unlink {
        email: String,
        kind: LinkKind,
        target: String,
    },
    /// Set `disabled: true` on a managed user that left the file (`prune: disable`).
    DisableUser { email: String },
    /// Delete a managed user that left the file (`prune: delete`).
    DeleteUser { email: String },
}

impl Action {
    /// The email of the user the action is about.
    pub fn email(&self) -> &str {
        match self {
            Action::CreateUser { email, .. }
            | Action::UpdateUser { email, .. }
            | Action::Link { email, .. }
            | Action::Unlink { email, .. }
            | Action::DisableUser { email }
            | Action::DeleteUser { email } => email,
        }
    }
}
