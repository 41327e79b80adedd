//! The backend-neutral model: desired state (from the fleet file), live state (from a server),
//! the vocabulary both share, and the `Description` a backend gives of itself (its key, fields,
//! link kinds, object kinds, capabilities and `Rules`; at the end of this file, in one file with
//! the model because each refers to the other). Everything is keyed by natural keys (the user key
//! as the backend compares it, device uniqueId, group name), never by server ids: ids stay inside
//! `backend/<name>/`.
//!
//! This module holds data only. It does no I/O and knows nothing about YAML, HTTP or Traccar.
//!
//! Conventions:
//! - A desired user's `fields` holds only the fields the file manages; a field that is absent is
//!   left alone on the server ("`None` means not managed").
//! - A live user's `fields` holds every field the backend can read, including every attribute.
//! - `Value::Null` for an attribute means "this key must not be present".
//! - Objects (devices, groups: the kinds a backend declares in `Description::objects`) follow
//!   the same rules as users: a desired object's `fields` holds only what the file manages, a
//!   live object's every field and attribute; `Desired::objects` and `Live::objects` hold a kind
//!   only when the file has its section ("a section left out is not managed").
//! - Times are truncated to whole seconds when a `Value` is built, so equality is instant equality
//!   at second precision (Traccar's databases may drop milliseconds).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

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

/// A declared field: its spec and its place in its backend's field list (`Description::field`
/// builds these).
#[derive(Clone, Copy)]
pub struct Scalar {
    spec: &'static FieldSpec,
    index: usize,
}

impl Scalar {
    pub fn new(spec: &'static FieldSpec, index: usize) -> Scalar {
        Scalar { spec, index }
    }

    pub fn spec(&self) -> &'static FieldSpec {
        self.spec
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
#[derive(Clone, Debug, PartialEq)]
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

    /// A `FieldType::List` value: the words sorted, without repeats or empty words.
    pub fn list(words: impl IntoIterator<Item = String>) -> Value {
        let words: std::collections::BTreeSet<String> =
            words.into_iter().filter(|w| !w.is_empty()).collect();
        Value::Json(Box::new(serde_json::json!(words)))
    }

    /// The words of a `FieldType::List` value (none for anything else).
    pub fn words(&self) -> Vec<String> {
        match self {
            Value::Json(json) => json
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
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

/// The JSON form of plans and saved plans: times as RFC 3339 in UTC at second precision
/// (`"2027-01-01T00:00:00Z"`), everything else as `to_json`.
impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Time(t) => {
                s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            other => other.to_json().serialize(s),
        }
    }
}

impl Value {
    /// Reads what `Serialize` wrote, typed by `field` (a field's type decides whether a string
    /// is a time or text; attributes fold as `from_json` does).
    pub fn from_json_as(field: &Field, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        let wrong = || format!("field {field}: unexpected value {json}");
        Ok(match (field.spec().map(|spec| spec.ty), json) {
            (_, J::Null) => Value::Null,
            (None, other) => Value::from_json(other),
            (Some(FieldType::Text), J::String(s)) => Value::Text(s.clone()),
            (Some(FieldType::Time), J::String(s)) => Value::time(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|_| wrong())?
                    .with_timezone(&Utc),
            ),
            (Some(FieldType::Int { .. }), J::Number(n)) => {
                Value::Int(n.as_i64().ok_or_else(wrong)?)
            }
            (Some(FieldType::Bool), J::Bool(b)) => Value::Bool(*b),
            (Some(FieldType::List), J::Array(items)) => {
                let words: Vec<String> = items
                    .iter()
                    .map(|item| item.as_str().map(str::to_string).ok_or_else(wrong))
                    .collect::<Result<_, _>>()?;
                Value::list(words)
            }
            _ => return Err(wrong()),
        })
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
    /// `Disable` under the name a backend's users know it by (the telematics service
    /// "deactivates" users): the same `DisableUser` actions, counted under `disable`.
    Deactivate,
    Keep,
}

impl Prune {
    /// Whether users that left the file are disabled (`disable`, `deactivate`).
    pub fn disables(self) -> bool {
        matches!(self, Prune::Disable | Prune::Deactivate)
    }

    /// The word in fleet files, e.g. `delete`.
    pub fn name(self) -> &'static str {
        match self {
            Prune::Delete => "delete",
            Prune::Disable => "disable",
            Prune::Deactivate => "deactivate",
            Prune::Keep => "keep",
        }
    }
}

/// One user as the fleet file wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredUser {
    /// The email as spelled in the file (used when creating the user).
    pub email: String,
    /// Managed fields only, roles already merged in.
    pub fields: BTreeMap<Field, Value>,
    /// The user's direct links by kind, for the kinds the file lists (`LinkSpec::file_key`),
    /// by target (e.g. device uniqueId, group name). The full set of each: others are unlinked.
    /// A `LinkSpec::given_only` kind is present (possibly empty) only when the user gives it.
    pub links: Links,
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
    /// Link kinds the file does not manage (`unmanaged:`): neither read nor diffed.
    pub unmanaged: BTreeSet<LinkKind>,
    pub users: BTreeMap<UserKey, DesiredUser>,
    /// The objects the file manages, by kind, for the kinds whose section the file gives (a
    /// kind that is absent is not managed at all), by key.
    pub objects: Objects<DesiredObject>,
    /// Where the file writes objects' list fields and their items (`FieldOrigins`), for plan
    /// time problems about one item (a notification's alarm key). Empty when the desired state
    /// does not come from a file.
    pub field_origins: FieldOrigins,
}

/// Where a list field of an object (`item` None: the field's key) or one of its items is
/// written, `file:line:column`, by (kind, object key, field name, item).
pub type FieldOrigins = BTreeMap<(ObjectKind, String, &'static str, Option<String>), String>;

impl Desired {
    /// The key of a user named `raw`, by the backend's rule.
    pub fn key(&self, raw: &str) -> UserKey {
        self.backend.key.key(raw)
    }
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
    /// Direct links by kind, by target. Only filled for users in scope.
    pub links: Links,
    /// Emails (lower-cased) of the users that manage this one.
    pub managed_by: BTreeSet<UserKey>,
}

/// The live state of a server, as far as the acting account can see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub account: Account,
    /// Every user the account can see. Links are filled only for users in scope.
    pub users: BTreeMap<UserKey, LiveUser>,
    /// Every target the account may link, by kind (e.g. for a Traccar admin: every device).
    pub targets: Links,
    /// Targets whose name is held by more than one object (Traccar's group names are not
    /// unique), by kind: they may not be used in a file.
    pub ambiguous: Links,
    /// What the managing account (`manager`) holds, by kind, when the file names one and it
    /// exists; a kind is present only when the backend could read it.
    pub owner_targets: Links,
    /// When this state was read (the fetching machine's clock). The diff compares
    /// `DISABLED_AT_ATTRIBUTE` against it for `pruneAfter`; keeping it here keeps the diff pure
    /// and `plan(&Desired, &Live)` unchanged.
    pub now: DateTime<Utc>,
    /// The objects of the kinds the scope asked for (`Scope::objects`), as far as the account
    /// can see them, by kind and key. Objects whose key several objects share (Traccar's group
    /// names) are left out: `ambiguous` names them.
    pub objects: Objects<LiveObject>,
    /// Objects the server holds that have no key fleetform can use (a notification without a
    /// description, a name several objects share), keyed `#<id>`: never managed nor planned,
    /// but seen by the rules about what a delete takes with it (Traccar deletes the
    /// notifications that use a deleted saved command, named or not).
    pub unnamed: Objects<LiveObject>,
    /// The values the server accepts for a field of an object kind, where the server lists
    /// them (Traccar's notificators, `GET /api/notifications/notificators`), by kind and field
    /// name: the plan refuses a value outside them. A field not here is not checked.
    pub choices: BTreeMap<(ObjectKind, &'static str), BTreeSet<String>>,
}

/// Which users the fetch must read links for: the file's users and this fleet's marked users.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub fleet: String,
    pub emails: BTreeSet<UserKey>,
    pub manager: Option<UserKey>,
    /// The links the file lists per user; servers that cannot list some links exactly (Traccar's
    /// group links) need them to infer which visible targets are direct links.
    pub desired_links: BTreeMap<UserKey, Links>,
    /// Read the links of only these users of the scope (`None`: of every one). A saved plan's
    /// apply narrows it to the users its actions name: nothing else it does depends on the
    /// other users' links (`views::saved`).
    pub links_of: Option<BTreeSet<UserKey>>,
    /// Link kinds the file does not manage: the fetch need not read them.
    pub unmanaged: BTreeSet<LinkKind>,
    /// The object kinds the file manages, with the keys the file lists: the fetch reads these
    /// kinds whole (fields, attributes, marker) into `Live::objects`.
    pub objects: BTreeMap<ObjectKind, BTreeSet<String>>,
    /// The objects whose lists of linked objects the file gives, by kind, by key, with the
    /// target kinds of the lists it gives: the fetch reads those lists into `LiveObject::links`.
    pub object_lists: BTreeMap<ObjectKind, BTreeMap<String, BTreeSet<ObjectKind>>>,
    /// For kinds that nest (a reference to their own kind, Traccar's groups' `parent`), the
    /// parent each file entry gives, by kind, by key (`None`: top level); entries that leave the
    /// reference out are absent. Servers whose link reads depend on the tree (Traccar's group
    /// links, seen through parents) need the tree the plan leaves behind, not only today's.
    pub tree: BTreeMap<ObjectKind, BTreeMap<String, Option<String>>>,
}

impl Scope {
    pub fn of(desired: &Desired) -> Scope {
        Scope {
            fleet: desired.fleet.clone(),
            emails: desired.users.keys().cloned().collect(),
            manager: desired.manager.clone(),
            desired_links: desired
                .users
                .iter()
                .map(|(k, u)| (k.clone(), u.links.clone()))
                .collect(),
            links_of: None,
            unmanaged: desired.unmanaged.clone(),
            objects: desired
                .objects
                .iter()
                .map(|(kind, objects)| (*kind, objects.keys().cloned().collect()))
                .collect(),
            object_lists: desired
                .objects
                .iter()
                .map(|(kind, objects)| {
                    let lists = objects
                        .iter()
                        .filter(|(_, o)| !o.links.is_empty())
                        .map(|(key, o)| (key.clone(), o.links.keys().copied().collect()))
                        .collect::<BTreeMap<_, _>>();
                    (*kind, lists)
                })
                .filter(|(_, lists)| !lists.is_empty())
                .collect(),
            tree: Scope::tree_of(desired),
        }
    }

    /// `Scope::tree` of a file: each nesting reference its entries give.
    fn tree_of(desired: &Desired) -> BTreeMap<ObjectKind, BTreeMap<String, Option<String>>> {
        let mut tree: BTreeMap<ObjectKind, BTreeMap<String, Option<String>>> = BTreeMap::new();
        for spec in desired.backend.objects {
            let Some(objects) = desired.objects.get(&spec.kind) else {
                continue;
            };
            for nesting in spec.refs.iter().filter(|r| r.target == spec.kind) {
                let Some(field) = spec.field(nesting.field) else {
                    continue;
                };
                for (key, object) in objects {
                    let Some(value) = object.fields.get(&field) else {
                        continue;
                    };
                    let parent = match value {
                        Value::Text(parent) => Some(parent.clone()),
                        _ => None,
                    };
                    tree.entry(spec.kind)
                        .or_default()
                        .insert(key.clone(), parent);
                }
            }
        }
        tree
    }

    /// Whether a live user is in scope: one of the file's users or this fleet's marked users.
    pub fn contains(&self, key: &UserKey, user: &LiveUser) -> bool {
        self.emails.contains(key) || user.marker.as_deref() == Some(self.fleet.as_str())
    }

    /// Whether a live user's links must be read: in scope, and not left out by `links_of`.
    pub fn reads_links(&self, key: &UserKey, user: &LiveUser) -> bool {
        self.contains(key, user) && self.links_of.as_ref().is_none_or(|only| only.contains(key))
    }
}

/// What kind of thing a link points at: the name of one of the backend's link kinds
/// (`LinkSpec::kind`, e.g. `device`). Kinds order by name; plans list links in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkKind(pub &'static str);

impl LinkKind {
    pub fn name(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for LinkKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// Link targets by kind. A kind that is absent has no targets.
///
/// A small sorted vector, not a map: a user has a link list or two, and a `BTreeMap` node per
/// user would cost about 450 bytes each (measured: 100,000 users' inputs grew by 84 MB).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<(LinkKind, BTreeSet<String>)>);

impl Links {
    pub fn new() -> Links {
        Links(Vec::new())
    }

    fn position(&self, kind: &LinkKind) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(kind))
    }

    /// The targets of `kind`, if the kind is present.
    pub fn get(&self, kind: &LinkKind) -> Option<&BTreeSet<String>> {
        self.position(kind).ok().map(|i| &self.0[i].1)
    }

    /// Sets the targets of `kind`, returning the previous ones.
    pub fn insert(
        &mut self,
        kind: LinkKind,
        targets: BTreeSet<String>,
    ) -> Option<BTreeSet<String>> {
        match self.position(&kind) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, targets)),
            Err(i) => {
                self.0.insert(i, (kind, targets));
                None
            }
        }
    }

    /// Removes `kind`, returning its targets.
    pub fn remove(&mut self, kind: &LinkKind) -> Option<BTreeSet<String>> {
        self.position(kind).ok().map(|i| self.0.remove(i).1)
    }

    /// The targets of `kind`, to change (`or_default` adds the kind when absent).
    pub fn entry(&mut self, kind: LinkKind) -> LinksEntry<'_> {
        LinksEntry { links: self, kind }
    }

    /// Every kind present with its targets, in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (&LinkKind, &BTreeSet<String>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// `Links::entry`.
pub struct LinksEntry<'a> {
    links: &'a mut Links,
    kind: LinkKind,
}

impl<'a> LinksEntry<'a> {
    pub fn or_default(self) -> &'a mut BTreeSet<String> {
        let i = match self.links.position(&self.kind) {
            Ok(i) => i,
            Err(i) => {
                self.links.0.insert(i, (self.kind, BTreeSet::new()));
                i
            }
        };
        &mut self.links.0[i].1
    }
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(LinkKind, BTreeSet<String>)> for Links {
    fn from_iter<I: IntoIterator<Item = (LinkKind, BTreeSet<String>)>>(iter: I) -> Links {
        let mut links = Links::new();
        for (kind, targets) in iter {
            links.insert(kind, targets);
        }
        links
    }
}

impl<const N: usize> From<[(LinkKind, BTreeSet<String>); N]> for Links {
    fn from(items: [(LinkKind, BTreeSet<String>); N]) -> Links {
        items.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Links {
    type Item = (&'a LinkKind, &'a BTreeSet<String>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (LinkKind, BTreeSet<String>)>,
        fn(&'a (LinkKind, BTreeSet<String>)) -> (&'a LinkKind, &'a BTreeSet<String>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// The targets of `kind` in `links` (empty when the kind is absent).
pub fn linked(links: &Links, kind: LinkKind) -> &BTreeSet<String> {
    static EMPTY: BTreeSet<String> = BTreeSet::new();
    links.get(&kind).unwrap_or(&EMPTY)
}

/// What kind of object a backend manages besides users: the name of one of its object kinds
/// (`ObjectSpec::kind`, e.g. `device`). Kinds order by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKind(pub &'static str);

impl ObjectKind {
    pub fn name(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for ObjectKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// Objects by kind, then by key (a device's uniqueId, a group's name, as the backend compares
/// them: exactly).
pub type Objects<T> = BTreeMap<ObjectKind, BTreeMap<String, T>>;

/// One object as the fleet file wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// The key as the file spells it.
    pub key: String,
    /// Managed fields only (the object's declared fields, references among them, and
    /// `attributes.<key>`): a field left out of the entry is not managed.
    pub fields: BTreeMap<Field, Value>,
    /// Where the object is defined, `file:line:column`, for messages (None in tests).
    pub origin: Option<String>,
    /// The objects linked to this one, by target kind (`ObjectSpec::lists`), by target key:
    /// only the lists the entry gives (a list left out is not managed, `[]` means none).
    pub links: BTreeMap<ObjectKind, BTreeSet<String>>,
}

/// One object as the server has it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveObject {
    /// The key as the server spells it.
    pub key: String,
    /// The fleet named by the object's ownership marker, if it has one.
    pub marker: Option<String>,
    /// Every declared field (a reference by the key of its target, `Null` for none) and every
    /// attribute except the marker.
    pub fields: BTreeMap<Field, Value>,
    /// The objects directly linked to this one, by target kind, by target key: only the lists
    /// the fetch was asked to read (`Scope::object_lists`).
    pub links: BTreeMap<ObjectKind, BTreeSet<String>>,
}

/// What an action is about: a user (its key) or an object (its kind and key). `apply` skips an
/// action once an earlier action about one of its subjects failed (`Action::needs`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    User(UserKey),
    Object(ObjectKind, String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(key) => write!(f, "user {key}"),
            Subject::Object(kind, key) => write!(f, "{kind} {key}"),
        }
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
///
/// The one encoding of an action: `Serialize` writes it (`{"action": "create_user", "email":
/// ..., "managed_by": ..., "fields": {...}}`, keys in declaration order) for the JSON plan and
/// saved plans, `Action::from_json` reads it back, and `Display` is its one-line text
/// (`create user a@x.at`, `link device BT-1 to a@x.at`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a user with these fields and the fleet's marker; `managed_by` is the manager
    /// account that must own it (admin runs with `manager` set). A random password is generated
    /// at apply time and never appears in the plan.
    CreateUser {
        email: String,
        managed_by: Option<String>,
        fields: BTreeMap<Field, Value>,
    },
    /// Change only the listed fields; `adopt` adds this fleet's marker to an unmarked user.
    UpdateUser {
        email: String,
        adopt: bool,
        changes: Vec<FieldChange>,
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
    /// Create an object of `kind` (one of the backend's `ObjectSpec`s) with this key and these
    /// fields, carrying the fleet's marker.
    CreateObject {
        kind: ObjectKind,
        key: String,
        fields: BTreeMap<Field, Value>,
    },
    /// Change only the listed fields of an object (the backend keeps everything else it has);
    /// `adopt` adds this fleet's marker to an unmarked object.
    UpdateObject {
        kind: ObjectKind,
        key: String,
        adopt: bool,
        changes: Vec<FieldChange>,
    },
    /// Delete an object carrying this fleet's marker that left the file (`prune: delete`, and
    /// only kinds the backend lets fleetform delete: `ObjectSpec::deletable`).
    DeleteObject { kind: ObjectKind, key: String },
    /// Link the object `target` of `target_kind` to the object `key` of `kind` (one of the
    /// kind's `ObjectSpec::lists`).
    LinkObject {
        kind: ObjectKind,
        key: String,
        target_kind: ObjectKind,
        target: String,
    },
    /// Remove that link.
    UnlinkObject {
        kind: ObjectKind,
        key: String,
        target_kind: ObjectKind,
        target: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateUser { email, .. } => write!(f, "create user {email}"),
            Action::UpdateUser { email, .. } => write!(f, "update user {email}"),
            Action::Link {
                email,
                kind,
                target,
            } => write!(f, "link {kind} {target} to {email}"),
            Action::Unlink {
                email,
                kind,
                target,
            } => write!(f, "unlink {kind} {target} from {email}"),
            Action::DisableUser { email } => write!(f, "disable user {email}"),
            Action::DeleteUser { email } => write!(f, "delete user {email}"),
            Action::CreateObject { kind, key, .. } => write!(f, "create {kind} {key}"),
            Action::UpdateObject { kind, key, .. } => write!(f, "update {kind} {key}"),
            Action::DeleteObject { kind, key } => write!(f, "delete {kind} {key}"),
            Action::LinkObject {
                kind,
                key,
                target_kind,
                target,
            } => write!(f, "link {target_kind} {target} to {kind} {key}"),
            Action::UnlinkObject {
                kind,
                key,
                target_kind,
                target,
            } => write!(f, "unlink {target_kind} {target} from {kind} {key}"),
        }
    }
}

impl Action {
    /// Reads what `Serialize` wrote; field names and values are typed by `backend`'s
    /// description. Keys other than the action's own (`phase`, `risk`) are ignored.
    pub fn from_json(
        backend: &'static Description,
        json: &serde_json::Value,
    ) -> Result<Action, String> {
        use serde_json::Value as J;
        let text = |key: &str| -> Result<String, String> {
            json.get(key)
                .and_then(J::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing `{key}`"))
        };
        let field = |name: &str| {
            backend
                .field(name)
                .ok_or_else(|| format!("unknown field {name:?}"))
        };
        let kind = || -> Result<LinkKind, String> {
            let name = text("kind")?;
            backend
                .link_kind(&name)
                .ok_or_else(|| format!("unknown link kind {name:?}"))
        };
        let action = text("action")?;
        if let Some(object) = Self::object_from_json(backend, &action, json)? {
            return Ok(object);
        }
        let email = text("email")?;
        Ok(match action.as_str() {
            "create_user" => {
                let mut fields = BTreeMap::new();
                let given = json
                    .get("fields")
                    .and_then(J::as_object)
                    .ok_or("missing `fields`")?;
                for (name, value) in given {
                    let field = field(name)?;
                    let value = Value::from_json_as(&field, value)?;
                    fields.insert(field, value);
                }
                Action::CreateUser {
                    email,
                    managed_by: json
                        .get("managed_by")
                        .and_then(J::as_str)
                        .map(str::to_string),
                    fields,
                }
            }
            "update_user" => {
                let changes = changes_from_json(json, &field)?;
                Action::UpdateUser {
                    email,
                    adopt: json.get("adopt").and_then(J::as_bool).unwrap_or(false),
                    changes,
                }
            }
            "link" => Action::Link {
                email,
                kind: kind()?,
                target: text("target")?,
            },
            "unlink" => Action::Unlink {
                email,
                kind: kind()?,
                target: text("target")?,
            },
            "disable_user" => Action::DisableUser { email },
            "delete_user" => Action::DeleteUser { email },
            other => return Err(format!("unknown action {other:?}")),
        })
    }

    /// Reads an object action (`create_object`, `update_object`, `delete_object`); `None` for
    /// the other actions. Field names are typed by the object kind's spec.
    fn object_from_json(
        backend: &'static Description,
        action: &str,
        json: &serde_json::Value,
    ) -> Result<Option<Action>, String> {
        use serde_json::Value as J;
        if !matches!(
            action,
            "create_object" | "update_object" | "delete_object" | "link_object" | "unlink_object"
        ) {
            return Ok(None);
        }
        let text = |key: &str| -> Result<String, String> {
            json.get(key)
                .and_then(J::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing `{key}`"))
        };
        let name = text("kind")?;
        let spec = backend
            .objects
            .iter()
            .find(|o| o.kind.name() == name)
            .ok_or_else(|| format!("unknown object kind {name:?}"))?;
        let field = |name: &str| {
            spec.field(name)
                .ok_or_else(|| format!("unknown {} field {name:?}", spec.kind))
        };
        let (kind, key) = (spec.kind, text("key")?);
        if matches!(action, "link_object" | "unlink_object") {
            let name = text("target_kind")?;
            let list = spec
                .lists
                .iter()
                .find(|l| l.target.name() == name)
                .ok_or_else(|| format!("a {} lists no {name:?}", spec.kind))?;
            let (target_kind, target) = (list.target, text("target")?);
            return Ok(Some(if action == "link_object" {
                Action::LinkObject {
                    kind,
                    key,
                    target_kind,
                    target,
                }
            } else {
                Action::UnlinkObject {
                    kind,
                    key,
                    target_kind,
                    target,
                }
            }));
        }
        Ok(Some(match action {
            "create_object" => {
                let mut fields = BTreeMap::new();
                let given = json
                    .get("fields")
                    .and_then(J::as_object)
                    .ok_or("missing `fields`")?;
                for (name, value) in given {
                    let field = field(name)?;
                    let value = Value::from_json_as(&field, value)?;
                    fields.insert(field, value);
                }
                Action::CreateObject { kind, key, fields }
            }
            "update_object" => {
                let changes = changes_from_json(json, &field)?;
                Action::UpdateObject {
                    kind,
                    key,
                    adopt: json.get("adopt").and_then(J::as_bool).unwrap_or(false),
                    changes,
                }
            }
            _ => Action::DeleteObject { kind, key },
        }))
    }

    /// The email of the user the action is about; empty for an object action, which is about
    /// no user (`user`, `object` and `subject` say what any action is about).
    pub fn email(&self) -> &str {
        self.user().unwrap_or_default()
    }

    /// The email of the user the action is about, if it is about a user.
    pub fn user(&self) -> Option<&str> {
        match self {
            Action::CreateUser { email, .. }
            | Action::UpdateUser { email, .. }
            | Action::Link { email, .. }
            | Action::Unlink { email, .. }
            | Action::DisableUser { email }
            | Action::DeleteUser { email } => Some(email),
            Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. }
            | Action::LinkObject { .. }
            | Action::UnlinkObject { .. } => None,
        }
    }

    /// The kind and key of the object the action is about, if it is an object action.
    pub fn object(&self) -> Option<(ObjectKind, &str)> {
        match self {
            Action::CreateObject { kind, key, .. }
            | Action::UpdateObject { kind, key, .. }
            | Action::DeleteObject { kind, key }
            | Action::LinkObject { kind, key, .. }
            | Action::UnlinkObject { kind, key, .. } => Some((*kind, key)),
            _ => None,
        }
    }

    /// What the action is about, keyed as `backend` compares users.
    pub fn subject(&self, backend: &Description) -> Subject {
        match self.object() {
            Some((kind, key)) => Subject::Object(kind, key.to_string()),
            None => Subject::User(backend.key.key(self.email())),
        }
    }

    /// The objects the action needs to exist as the file wants them: a link's target (where
    /// the link kind is one users have to an object kind), and the targets of the references an
    /// object create or update sets. Unlinks need nothing: a revocation is never held back.
    pub fn needs(&self, backend: &Description) -> Vec<Subject> {
        let reference = |kind: ObjectKind, field: &Field, value: &Value| {
            let spec = backend.object(kind)?;
            let target = spec.reference(field)?;
            match value {
                Value::Text(key) => Some(Subject::Object(target, key.clone())),
                _ => None,
            }
        };
        match self {
            Action::Link { kind, target, .. } => backend
                .objects
                .iter()
                .filter(|o| o.link == Some(*kind))
                .map(|o| Subject::Object(o.kind, target.clone()))
                .collect(),
            Action::LinkObject {
                target_kind,
                target,
                ..
            } => vec![Subject::Object(*target_kind, target.clone())],
            Action::CreateObject { kind, fields, .. } => fields
                .iter()
                .filter_map(|(field, value)| reference(*kind, field, value))
                .collect(),
            Action::UpdateObject { kind, changes, .. } => changes
                .iter()
                .filter_map(|c| reference(*kind, &c.field, &c.after))
                .collect(),
            _ => Vec::new(),
        }
    }
}

// ---- The backend's description ----------------------------------------------------------------
//
// description: what a backend tells the engine about itself, so that the engine never names a
// backend. A backend gives one static `Description`: how its users are keyed, which user
// fields it has (name, type, what a change of each does to access), which link kinds and
// capabilities it has, and its `Rules`: the pure checks only it knows (what the acting account
// may not do, which account must own the fleet's users). Users the backend never lets
// fleetform manage are marked when it reads them (`LiveUser::untouchable`).
//
// This section is pure and holds no backend's data: `backend/<name>/` declares its own
// description, and `backend::describe(kind)` is the registry that finds it by `server.kind`.
//
// Design: why a static description and not trait methods. The config loader, the saved-plan
// reader and the views need a backend's vocabulary without a connection (validate, show a saved
// plan); a `&'static Description` travels with the desired state (`Desired::backend`) and the
// plan, so every pure function reaches it without I/O and without a generic parameter.

/// The type of a user field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Bool,
    /// An integer in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// An instant, written as RFC 3339.
    Time,
    /// A set of words (object fields such as a notification's notificators): a list in the
    /// file, held sorted and without repeats as a JSON array of strings (`Value::Json`), so
    /// the order the file or the server gives never makes a change.
    List,
}

/// What a change of a field does to the user's access (see `core::risk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskClass {
    /// Profile data: no effect on access.
    Profile,
    /// A restriction: `true` allows less.
    Restriction,
    /// The account's disabled flag: `true` locks the user out. The field with this class is the
    /// one `prune: disable` sets (to `true`).
    Disable,
    /// The account's enabled flag, the other way round: `false` locks the user out. A backend
    /// has at most one field of this class or `Disable`; `prune` sets it to `false`.
    Enable,
    /// A limit: larger allows more, -1 is unlimited. `grants_role`: a non-zero value gives the
    /// user power over other users (creating a user with it is an escalation).
    Limit { grants_role: bool },
    /// An expiry: later (or none) allows more.
    Expiry,
}

/// One user field a fleet file may manage.
#[derive(Debug)]
pub struct FieldSpec {
    /// The name in the file, in plans and in the applied record, e.g. `deviceReadonly`.
    pub name: &'static str,
    pub ty: FieldType,
    pub risk: RiskClass,
    /// An empty text equals "no value" (the server returns null for "").
    pub empty_is_null: bool,
    /// `null` in the file has a meaning of its own ("no phone", "never expires").
    pub nullable: bool,
    /// Counts towards a permission set (`export --infer-roles` folds those into roles).
    pub permission: bool,
    /// Set on create only and never compared (a password or PIN the server does not give back):
    /// updates leave it alone and the applied record does not cover it.
    pub write_only: bool,
    /// The help text in the fleet file's schema, for users.
    pub doc: &'static str,
}

/// How users are identified in files and plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The name of the key in the fleet file and in messages, e.g. `email`.
    pub name: &'static str,
    /// Whether keys match case-insensitively (and are folded to lower case).
    pub fold_case: bool,
    /// Whether a key must be an email address.
    pub email: bool,
    /// An example key, for messages: `email: someone@example.com`.
    pub example: &'static str,
    /// The help text of the key in the fleet file's schema.
    pub doc: &'static str,
}

impl KeySpec {
    /// The key of a user as this backend compares them.
    pub fn key(&self, raw: &str) -> UserKey {
        if self.fold_case {
            UserKey::new(raw)
        } else {
            UserKey::exact(raw)
        }
    }
}

/// One kind of link a user can have, e.g. to a device.
#[derive(Debug)]
pub struct LinkSpec {
    /// The kind, named as in plans, e.g. `device`.
    pub kind: LinkKind,
    /// The key of a user's list of these links in the fleet file, e.g. `devices`; `None` for a
    /// kind the file never lists (links the backend's rules add, such as Traccar's manager).
    pub file_key: Option<&'static str>,
    /// What identifies a target in files and messages, e.g. `uniqueId` or `name`.
    pub target_key: &'static str,
    /// The link that puts a user under the managing account (`Rules::owner`): the diff adds it
    /// to the fleet's users, it is seen as `LiveUser::managed_by`, and it is never unlinked.
    pub owner: bool,
    /// The list is managed only for the users that give it (kinds added after the first
    /// release, such as Traccar's geofences): left out, the user's links of the kind are left
    /// as they are; given (even `[]`), it is the complete list. Otherwise a list left out
    /// means "no links".
    pub given_only: bool,
    /// The help text of the file's list in the schema, for users.
    pub doc: &'static str,
}

/// A list of objects an object of a kind may have linked to it (Traccar's geofences of a
/// device): the fleet file's entry gives it by the targets' keys.
#[derive(Debug)]
pub struct ObjectList {
    /// The key of the list in the entry, e.g. `geofences`.
    pub file_key: &'static str,
    /// The kind of the objects it lists, e.g. `geofence`.
    pub target: ObjectKind,
    /// The help text of the list in the schema, for users.
    pub doc: &'static str,
}

/// A field of an object kind that names another object by its key (a device's group, a
/// group's parent): its value is the target's key as text, or `Null` for none.
#[derive(Debug)]
pub struct RefSpec {
    /// The name of the field (one of the kind's `fields`), e.g. `group`.
    pub field: &'static str,
    /// The kind of object it names, e.g. `group`.
    pub target: ObjectKind,
    /// What the server does to an object of this kind when the object it names is deleted
    /// (shown in plans as the delete's cascade, `core::cascade`).
    pub on_delete: OnDelete,
}

/// What a server does to the objects that name a deleted object (`RefSpec::on_delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    /// The reference is cleared (Traccar: a deleted group leaves its devices and child groups
    /// without one).
    Clear,
    /// The object is deleted with it (Traccar: deleting a saved command deletes the
    /// notifications that use it).
    Delete,
}

/// A backend's check of a text value of an object field: given the field's name and the text,
/// the reason it is wrong.
pub type TextCheck = fn(field: &str, text: &str) -> Result<(), String>;

/// One kind of object a backend manages besides users (devices, groups, ...): an entry of the
/// backend's description, so a new kind is data here, not a branch in the engine. The fleet
/// file's section of this kind is a mapping from keys to entries of the kind's fields.
#[derive(Debug)]
pub struct ObjectSpec {
    /// The kind, named as in plans, e.g. `device`.
    pub kind: ObjectKind,
    /// The key of the fleet file's section, e.g. `devices`.
    pub section: &'static str,
    /// What identifies an object (the section's keys), e.g. `uniqueId`; matched exactly.
    pub key: &'static str,
    /// The fields an entry may manage, in display order (references among them).
    pub fields: &'static [FieldSpec],
    /// Which fields name other objects.
    pub refs: &'static [RefSpec],
    /// The lists of other objects an entry may link to the object (given only: a list left
    /// out is not managed).
    pub lists: &'static [ObjectList],
    /// Objects of this kind have a free-form attribute map (managed key by key); the ownership
    /// marker and the applied record live there.
    pub attributes: bool,
    /// Objects of this kind can carry the fleet's ownership marker (in their attributes, or
    /// where the backend keeps it for a kind without them): they are adopted when found
    /// unmarked, and only marked ones are deleted.
    pub marked: bool,
    /// Whether fleetform may delete an object of this kind that carries the fleet's marker and
    /// left the file (`prune: delete`). Never for devices: a deleted device takes its history
    /// with it.
    pub deletable: bool,
    /// The link kind by which users are linked to objects of this kind, if any (Traccar's
    /// device and group links): a link to an object the plan creates waits for the create.
    pub link: Option<LinkKind>,
    /// What the backend checks of a text field's value that its server does not (a geofence's
    /// area): given the field's name and the text, the reason it is wrong. The fleet file's
    /// loader reports it at the value.
    pub check: Option<TextCheck>,
    /// Fields a new object must have (the server's NOT NULL columns the backend cannot fill
    /// in, a geofence's area): the plan refuses a create without them.
    pub required: &'static [&'static str],
    /// The help text of the section in the schema, for users.
    pub doc: &'static str,
    /// The help text of one entry (the key's meaning) in the schema.
    pub entry_doc: &'static str,
    /// Text fields whose value in the fleet file is the path of a file beside it (relative to
    /// the fleet file's directory), e.g. a calendar's iCalendar `file`: the loader reads the
    /// file and the field holds its text (then `check` judges that text). With the extension
    /// export gives the files it writes (`calendars/<name>.ics`).
    pub files: &'static [(&'static str, &'static str)],
}

impl ObjectSpec {
    /// The field named `name`: a declared field, or `attributes.<key>` where the kind has
    /// attributes.
    pub fn field(&'static self, name: &str) -> Option<Field> {
        if let Some(key) = name.strip_prefix("attributes.") {
            return self.attributes.then(|| Field::Attribute(key.to_string()));
        }
        self.fields
            .iter()
            .position(|spec| spec.name == name)
            .map(|index| Field::Scalar(Scalar::new(&self.fields[index], index)))
    }

    /// Every declared field, in order.
    pub fn scalars(&'static self) -> impl Iterator<Item = Field> {
        (0..self.fields.len())
            .map(move |index| Field::Scalar(Scalar::new(&self.fields[index], index)))
    }

    /// The kind a field names when it is a reference.
    pub fn reference(&self, field: &Field) -> Option<ObjectKind> {
        let spec = field.spec()?;
        // A field of this kind: the same static spec (names may repeat across kinds).
        let own = self.fields.iter().any(|f| std::ptr::eq(f, spec));
        own.then(|| self.refs.iter().find(|r| r.field == spec.name))
            .flatten()
            .map(|r| r.target)
    }

    /// The names an entry of the section may hold, in the order messages and the schema list
    /// them: the declared fields, then `attributes` where the kind has them, then the lists.
    pub fn file_keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self.fields.iter().map(|s| s.name).collect();
        if self.attributes {
            keys.push("attributes");
        }
        keys.extend(self.lists.iter().map(|l| l.file_key));
        keys
    }
}

/// What a backend supports besides fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Users have a free-form attribute map, managed key by key (`attributes.<key>`); the
    /// ownership marker and fleetform's records live there.
    pub attributes: bool,
    /// A fleet may name a managing (billing) account (`manager:`) that owns every fleet user.
    pub managing_account: bool,
    /// The `prune:` modes the backend supports; the first is the default of a file that names
    /// none.
    pub prune: &'static [Prune],
    /// The server hosts several instances (user groups) and a fleet is one of them: the fleet
    /// file names it (`server.instanceId`, required), and only such backends accept the key.
    pub instance: bool,
    /// A delete also erases what the server keeps about the user (trips, telematics data) and
    /// cannot be undone: every plan format labels deletes irreversible.
    pub delete_erases_data: bool,
    /// Creating a user generates a password for it, handed back at apply (`Applied::Created`,
    /// `--credentials-out`); plans say where those passwords will go.
    pub generated_passwords: bool,
}

/// The pure rules only a backend knows. The engine asks; it never decides these itself.
pub trait Rules: Send + Sync {
    /// Problems with the inputs that the backend's rules find: what the acting account may not
    /// manage at all, a managing account that does not exist, link targets it may not use.
    fn check(&self, desired: &Desired, live: &Live) -> Vec<Problem>;

    /// The account new users must be created under and every fleet user linked to (by the
    /// `LinkSpec` marked `owner`), as the server spells it, when the backend's rules require one.
    fn owner(&self, desired: &Desired, live: &Live) -> Option<String>;

    /// Problems with the planned actions: changes the acting account may not make.
    fn check_actions(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem>;

    /// Whether the acting account becomes a manager of the users it creates (simulation).
    fn creator_manages(&self, live: &Live) -> bool;

    /// Links to the owner (`owner`) that `actions` make necessary: objects the plan's other
    /// changes would take out of the owner's sight (Traccar: a group moved out from under the
    /// manager's groups). The engine adds them to the plan.
    fn owner_keeps(&self, _desired: &Desired, _live: &Live, _actions: &[Action]) -> Vec<Action> {
        Vec::new()
    }
}

/// Everything a backend tells the engine about itself.
pub struct Description {
    /// The `server.kind` of fleet files and the `backend` of plans, e.g. `traccar`.
    pub kind: &'static str,
    pub key: KeySpec,
    /// The user fields, in display order (also the order of plans and applied records).
    pub fields: &'static [FieldSpec],
    pub links: &'static [LinkSpec],
    /// The kinds of object the fleet file may manage besides users (its sections), in the
    /// order the file, the schema and plans list them. Empty: users only.
    pub objects: &'static [ObjectSpec],
    pub capabilities: Capabilities,
    pub rules: &'static dyn Rules,
    /// How to log in, for messages: the environment variables that hold the credentials, e.g.
    /// "TRACCAR_TOKEN, or TRACCAR_EMAIL and TRACCAR_PASSWORD".
    pub login: &'static str,
}

impl fmt::Debug for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Description({})", self.kind)
    }
}

impl PartialEq for Description {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Description {
    /// The field named `name`: a declared field, or `attributes.<key>` where the backend has
    /// attributes.
    pub fn field(&'static self, name: &str) -> Option<Field> {
        if let Some(key) = name.strip_prefix("attributes.") {
            return self
                .capabilities
                .attributes
                .then(|| Field::Attribute(key.to_string()));
        }
        self.fields
            .iter()
            .position(|spec| spec.name == name)
            .map(|index| Field::Scalar(Scalar::new(&self.fields[index], index)))
    }

    /// The names of a user's fields in a fleet file, in the order they are listed (messages, the
    /// schema): the profile fields, `attributes` (where the backend has them), then the fields
    /// that decide access, each group in declaration order.
    pub fn file_keys(&self) -> Vec<&'static str> {
        let profile = |spec: &&FieldSpec| spec.risk == RiskClass::Profile;
        let mut keys: Vec<&'static str> =
            self.fields.iter().filter(profile).map(|s| s.name).collect();
        if self.capabilities.attributes {
            keys.push("attributes");
        }
        keys.extend(self.fields.iter().filter(|s| !profile(s)).map(|s| s.name));
        keys
    }

    /// The link kind named `name`, as `LinkKind`'s `Display` prints it.
    pub fn link_kind(&self, name: &str) -> Option<LinkKind> {
        self.links.iter().map(|l| l.kind).find(|k| k.name() == name)
    }

    /// Whether `want` (a user's links in the file) manages links of `spec`'s kind.
    pub fn manages_links(spec: &LinkSpec, want: &Links) -> bool {
        !spec.given_only || want.get(&spec.kind).is_some()
    }

    /// The link kinds a fleet file lists, with their file keys, in declaration order.
    pub fn file_links(&self) -> impl Iterator<Item = (&LinkSpec, &'static str)> {
        self.links
            .iter()
            .filter_map(|l| l.file_key.map(|key| (l, key)))
    }

    /// The link kind that puts a user under the managing account, if the backend has one.
    pub fn owner_link(&self) -> Option<LinkKind> {
        self.links.iter().find(|l| l.owner).map(|l| l.kind)
    }

    /// The spec of link kind `kind`.
    pub fn link(&self, kind: LinkKind) -> Option<&LinkSpec> {
        self.links.iter().find(|l| l.kind == kind)
    }

    /// Every declared field, in order.
    pub fn scalars(&'static self) -> impl Iterator<Item = Field> {
        (0..self.fields.len())
            .map(move |index| Field::Scalar(Scalar::new(&self.fields[index], index)))
    }

    /// The field `prune: disable` sets (`RiskClass::Disable` or `Enable`), if the backend has
    /// one.
    pub fn disable_field(&'static self) -> Option<Field> {
        self.fields
            .iter()
            .position(|spec| matches!(spec.risk, RiskClass::Disable | RiskClass::Enable))
            .map(|index| Field::Scalar(Scalar::new(&self.fields[index], index)))
    }

    /// The spec of object kind `kind`.
    pub fn object(&self, kind: ObjectKind) -> Option<&'static ObjectSpec> {
        self.objects.iter().find(|o| o.kind == kind)
    }

    /// The object kind users link to by `link`, if any.
    pub fn object_linked_by(&self, link: LinkKind) -> Option<&'static ObjectSpec> {
        self.objects.iter().find(|o| o.link == Some(link))
    }

    /// Whether `value` is the "disabled" value of `field`: `true` for a `Disable` field, `false`
    /// for an `Enable` field.
    pub fn is_disabled_value(&self, field: &Field, value: &Value) -> bool {
        match field.spec().map(|s| s.risk) {
            Some(RiskClass::Disable) => *value == Value::Bool(true),
            Some(RiskClass::Enable) => *value == Value::Bool(false),
            _ => false,
        }
    }

    /// The value that disables a user in its `disable_field`, and the one that enables it.
    pub fn disabled_and_enabled(field: &Field) -> (Value, Value) {
        match field.spec().map(|s| s.risk) {
            Some(RiskClass::Enable) => (Value::Bool(false), Value::Bool(true)),
            _ => (Value::Bool(true), Value::Bool(false)),
        }
    }
}

/// One reason a plan cannot be made, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The user's email as the file spells it, when the problem is about one user.
    pub user: Option<String>,
    /// Where the user is defined (`DesiredUser::origin`, `file:line:column`).
    pub origin: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(user) = &self.user {
            write!(f, "user {user}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// Whether a live field already has the desired value (`diff`'s design comment: an
/// empty text equals null where the field says so; an attribute set to null means absent).
pub fn same_value(field: &Field, desired: &Value, live: Option<&Value>) -> bool {
    match field {
        Field::Attribute(_) => match (desired, live) {
            (Value::Null, None) => true,
            (Value::Null, Some(_)) | (_, None) => false,
            (want, Some(have)) => want == have,
        },
        Field::Scalar(scalar) if scalar.spec().empty_is_null => {
            empty_as_null(desired) == empty_as_null(live.unwrap_or(&Value::Null))
        }
        Field::Scalar(_) => desired == live.unwrap_or(&Value::Null),
    }
}

fn empty_as_null(value: &Value) -> &Value {
    match value {
        Value::Text(text) if text.is_empty() => &Value::Null,
        other => other,
    }
}

/// The `changes` of an `update_user` or `update_object` in the JSON plan, each value typed by
/// its field (`field` names the fields the action's subject has).
fn changes_from_json(
    json: &serde_json::Value,
    field: &dyn Fn(&str) -> Result<Field, String>,
) -> Result<Vec<FieldChange>, String> {
    use serde_json::Value as J;
    let given = json
        .get("changes")
        .and_then(J::as_array)
        .ok_or("missing `changes`")?;
    let mut changes = Vec::new();
    for change in given {
        let name = change
            .get("field")
            .and_then(J::as_str)
            .ok_or("missing `field`")?;
        let field = field(name)?;
        let at = |key: &str| change.get(key).unwrap_or(&J::Null);
        changes.push(FieldChange {
            before: Value::from_json_as(&field, at("before"))?,
            after: Value::from_json_as(&field, at("after"))?,
            field,
        });
    }
    Ok(changes)
}
