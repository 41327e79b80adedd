//! saved: the saved plan file (`plan --out`, `apply --plan`) and the checks that keep it from
//! going stale silently. Pure: reading and writing the file is `workflow`'s job.
//! It must never hold a secret: the plan has none (passwords are generated at apply time), the
//! server URL is refused with credentials in it, and live objects appear only as digests.
//!
//! Design: what a saved plan must prove at apply time.
//! A saved plan is the reviewed `plan --format json` object plus what is needed to show that
//! the server is still the one it was made against: the server (backend, URL, version), the
//! acting account (email, role), the SHA-256 of the fleet file, the scope the plan fetched
//! (so apply re-reads exactly those objects) and a fingerprint of every live object the plan
//! read. A fingerprint is the SHA-256 of the object's canonical model form:
//! - every user in scope (the file's users, present or `absent`, and this fleet's marked
//!   users): email, administrator flag, marker, every field of the model (managed by the file
//!   or not) and every attribute, device and group links, managing users. The backend's other
//!   user settings (Traccar's map, position, coordinate format, `fixedEmail`, `poiLayer`, ...)
//!   are not in the model and not covered: no plan changes them, and an update re-reads the
//!   user right before writing it, so a change made to them since the plan is kept;
//! - the catalogue: the devices and groups the account may link, the ambiguous group names and
//!   the manager's devices and groups;
//! - every object of the kinds the file manages (`devices:`, `groups:`) as read: its key,
//!   marker and every field and attribute (objects, added within version 1; plans saved
//!   without them are not checked for them).
//!
//! Each user also gets a *profile* fingerprint (the same without its links) and its link count.
//!
//! Apply re-fetches the same users and catalogue but reads the links of only the users the
//! plan's actions name (`apply_scope`): no action depends on another user's links, and the
//! safety limits count those users' links as the plan saw them (`unread_link_counts`). It
//! compares the full fingerprint of the users whose links it read and the profile of the others,
//! and refuses, naming each object that changed, appeared or disappeared; it applies nothing
//! then. A plan saved without profiles is read and compared in full. It also refuses when
//! the server URL, version or acting account differ. The actions it runs are decoded from the
//! saved JSON (values typed by their field, so a text attribute that looks like a date stays
//! text) and re-encoded to prove the round trip is exact.
//!
//! Limits: the check and the first write are not atomic, so a change made in between is not
//! seen; fingerprints cover every field of the model, so an unmanaged change to a user in scope
//! (a phone number, an attribute an app writes) also makes the plan stale; the fleet file's
//! digest is recorded for CI to compare, apply does not need the file.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::core::model::Description;
use crate::core::model::{
    Account, Action, Desired, DesiredObject, DesiredUser, LinkKind, Links, Live, LiveObject,
    LiveUser, ObjectKind, Prune, Safety, Scope, UserKey, Value, linked,
};
use crate::core::plan::Plan;
use crate::core::record::sorted_json;
use crate::core::safety;
use crate::views::render;

/// The version of the saved plan file (`saved_plan_version`).
pub const SAVED_PLAN_VERSION: u32 = 1;

/// What `fingerprints` records for a user of the scope that does not exist.
pub const ABSENT: &str = "absent";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub saved_plan_version: u32,
    /// The fleetform that wrote it.
    pub fleetform_version: String,
    pub created_at: DateTime<Utc>,
    pub fleet_file: FleetFileDigest,
    pub server: SavedServer,
    pub account: SavedAccount,
    pub scope: SavedScope,
    pub fingerprints: Fingerprints,
    /// Exactly what `fleetform plan --format json` prints for this plan.
    pub plan: Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetFileDigest {
    pub path: String,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedServer {
    pub backend: String,
    pub url: String,
    pub version: String,
    /// The instance (`server.instanceId`) on servers that host several; `apply --plan`
    /// connects to it. Absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedAccount {
    pub email: String,
    pub role: String,
}

/// Frozen format keys. Saved plans (`SavedScope::desired_groups`, the fingerprints' JSON) were
/// written when links were Traccar's fixed kinds; their keys and bytes stay as they were, so
/// these two kinds are named here, mapped from and to the model's generic links.
const DEVICE: LinkKind = LinkKind("device");
const GROUP: LinkKind = LinkKind("group");
/// Added later: saved only for the users whose file gives the list (`LinkSpec::given_only`),
/// so plans saved before keep their bytes.
const GEOFENCE: LinkKind = LinkKind("geofence");
/// The owner link: never listed in a file, never saved.
const MANAGER: LinkKind = LinkKind("manager");

/// Whether `kind` is saved under `SavedScope::desired_lists` (every given-only kind added after
/// geofences) rather than under a key of its own.
fn in_lists(kind: LinkKind) -> bool {
    ![DEVICE, GROUP, GEOFENCE, MANAGER].contains(&kind)
}

/// `model::Scope`, as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedScope {
    pub fleet: String,
    pub emails: BTreeSet<UserKey>,
    pub manager: Option<UserKey>,
    pub desired_groups: BTreeMap<UserKey, BTreeSet<String>>,
    /// The users whose file gives a `geofences:` list (possibly empty), with it: apply reads
    /// their geofence links again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub desired_geofences: BTreeMap<UserKey, BTreeSet<String>>,
    /// The other given-only lists, by link kind (e.g. `"driver"`), then by user whose file gives
    /// the list (possibly empty): `{"driver": {"a@x.at": ["max"]}}`. Absent when no user gives
    /// one, so plans saved before keep their bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub desired_lists: BTreeMap<String, BTreeMap<UserKey, BTreeSet<String>>>,
    /// The fleet file's safety limits, so `apply --plan` enforces them too.
    #[serde(default)]
    pub safety: Safety,
    /// The link kinds the file does not manage (`unmanaged:`), by name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unmanaged: BTreeSet<String>,
    /// The object kinds the file manages (its sections), by name, with the keys it lists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, BTreeSet<String>>,
    /// The objects whose file entry gives lists of linked objects, by kind, by key, with the
    /// target kinds of the lists given: `{"device": {"BT-1": ["geofence"]}}`. Absent when no
    /// entry gives one, so plans saved before keep their bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub object_lists: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// `Scope::tree`: the parent each entry of a nesting kind gives, by kind, by key (`null`:
    /// top level), `{"group": {"Vienna-North": "Vienna"}}`; apply infers group links with the
    /// tree the plan leaves. Absent when no entry gives one, so plans saved before keep their
    /// bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tree: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl SavedScope {
    pub fn of(scope: &Scope) -> SavedScope {
        SavedScope {
            fleet: scope.fleet.clone(),
            emails: scope.emails.clone(),
            manager: scope.manager.clone(),
            desired_groups: scope
                .desired_links
                .iter()
                .map(|(key, links)| (key.clone(), linked(links, GROUP).clone()))
                .collect(),
            desired_geofences: scope
                .desired_links
                .iter()
                .filter_map(|(key, links)| Some((key.clone(), links.get(&GEOFENCE)?.clone())))
                .collect(),
            desired_lists: {
                let mut lists: BTreeMap<String, BTreeMap<UserKey, BTreeSet<String>>> =
                    BTreeMap::new();
                for (key, links) in &scope.desired_links {
                    for (kind, targets) in links.iter().filter(|(kind, _)| in_lists(**kind)) {
                        lists
                            .entry(kind.name().to_string())
                            .or_default()
                            .insert(key.clone(), targets.clone());
                    }
                }
                lists
            },
            safety: Safety::default(),
            unmanaged: scope
                .unmanaged
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
            objects: scope
                .objects
                .iter()
                .map(|(kind, keys)| (kind.name().to_string(), keys.clone()))
                .collect(),
            object_lists: scope
                .object_lists
                .iter()
                .map(|(kind, objects)| {
                    let objects = objects
                        .iter()
                        .map(|(key, kinds)| {
                            let kinds = kinds.iter().map(|k| k.name().to_string()).collect();
                            (key.clone(), kinds)
                        })
                        .collect();
                    (kind.name().to_string(), objects)
                })
                .collect(),
            tree: scope
                .tree
                .iter()
                .map(|(kind, parents)| (kind.name().to_string(), parents.clone()))
                .collect(),
        }
    }

    /// The object lists to read, as `backend` names the kinds (names it does not know are
    /// dropped: the plan's actions cannot name them either).
    fn object_lists(
        &self,
        backend: &'static Description,
    ) -> BTreeMap<ObjectKind, BTreeMap<String, BTreeSet<ObjectKind>>> {
        let kind = |name: &str| {
            backend
                .objects
                .iter()
                .find(|o| o.kind.name() == name)
                .map(|o| o.kind)
        };
        self.object_lists
            .iter()
            .filter_map(|(name, objects)| {
                let objects = objects
                    .iter()
                    .map(|(key, kinds)| {
                        let kinds = kinds.iter().filter_map(|k| kind(k)).collect();
                        (key.clone(), kinds)
                    })
                    .collect();
                Some((kind(name)?, objects))
            })
            .collect()
    }

    /// The managed object kinds, as `backend` names them, with the file's keys.
    fn objects(&self, backend: &'static Description) -> BTreeMap<ObjectKind, BTreeSet<String>> {
        self.objects
            .iter()
            .filter_map(|(name, keys)| {
                let spec = backend.objects.iter().find(|o| o.kind.name() == name)?;
                Some((spec.kind, keys.clone()))
            })
            .collect()
    }

    /// The unmanaged link kinds, as `backend` names them.
    fn unmanaged(&self, backend: &'static Description) -> BTreeSet<LinkKind> {
        self.unmanaged
            .iter()
            .filter_map(|name| backend.link_kind(name))
            .collect()
    }

    /// The part of the fleet file the safety limits judge a plan by: the fleet, its manager,
    /// the file's users and the limits. (A saved plan does not re-read the file.)
    pub fn to_desired(&self, backend: &'static Description) -> Desired {
        Desired {
            backend,
            fleet: self.fleet.clone(),
            manager: self.manager.clone(),
            prune: Prune::default(),
            prune_after: None,
            safety: self.safety,
            unmanaged: self.unmanaged(backend),
            users: self
                .emails
                .iter()
                .map(|key| {
                    let user = DesiredUser {
                        email: key.to_string(),
                        fields: BTreeMap::new(),
                        links: self.desired_links(backend, key),
                        origin: None,
                    };
                    (key.clone(), user)
                })
                .collect(),
            // The file's objects by key only: what the safety limits count.
            objects: self
                .objects(backend)
                .into_iter()
                .map(|(kind, keys)| {
                    let objects = keys
                        .into_iter()
                        .map(|key| {
                            let object = DesiredObject {
                                key: key.clone(),
                                fields: BTreeMap::new(),
                                origin: None,
                                links: BTreeMap::new(),
                            };
                            (key, object)
                        })
                        .collect();
                    (kind, objects)
                })
                .collect(),
            field_origins: BTreeMap::new(),
        }
    }

    pub fn to_scope(&self, backend: &'static Description) -> Scope {
        Scope {
            fleet: self.fleet.clone(),
            emails: self.emails.clone(),
            manager: self.manager.clone(),
            desired_links: self
                .desired_groups
                .keys()
                .chain(self.desired_geofences.keys())
                .chain(self.desired_lists.values().flat_map(BTreeMap::keys))
                .map(|key| (key.clone(), self.desired_links(backend, key)))
                .collect(),
            links_of: None,
            unmanaged: self.unmanaged(backend),
            objects: self.objects(backend),
            object_lists: self.object_lists(backend),
            tree: self
                .tree
                .iter()
                .filter_map(|(name, parents)| {
                    let spec = backend.objects.iter().find(|o| o.kind.name() == name)?;
                    Some((spec.kind, parents.clone()))
                })
                .collect(),
        }
    }

    /// The links of `key` the saved scope holds: its groups, and its geofences where the file
    /// gives them.
    fn desired_links(&self, backend: &'static Description, key: &UserKey) -> Links {
        let mut links = self
            .desired_groups
            .get(key)
            .filter(|groups| !groups.is_empty())
            .map(|groups| Links::from([(GROUP, groups.clone())]))
            .unwrap_or_default();
        if let Some(geofences) = self.desired_geofences.get(key) {
            links.insert(GEOFENCE, geofences.clone());
        }
        for (name, users) in &self.desired_lists {
            if let (Some(kind), Some(targets)) = (backend.link_kind(name), users.get(key)) {
                links.insert(kind, targets.clone());
            }
        }
        links
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// Devices, groups, ambiguous group names and the manager's devices.
    pub catalogue: String,
    /// Per user in scope (lower-cased email): the digest, or `absent`.
    pub users: BTreeMap<UserKey, String>,
    /// Per user in scope: the digest without its links, or `absent`; what apply checks for the
    /// users no action names, whose links it does not read again. Plans saved before it
    /// existed have none and are checked in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<BTreeMap<UserKey, String>>,
    /// Per user in scope: how many links it held, for the safety limits' link count of the
    /// users whose links apply does not read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_counts: Option<BTreeMap<UserKey, usize>>,
    /// Per object of the managed kinds (`<kind> <key>`, e.g. `device BT-000101`): its digest.
    /// Absent when the file manages no object kind (and in plans saved before objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<BTreeMap<String, String>>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 of the fleet file's bytes.
pub fn file_digest(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

/// A user's digest: `with_links` false leaves its links out (a profile).
fn user_fingerprint(user: &LiveUser, with_links: bool) -> String {
    let fields: BTreeMap<String, Json> = user
        .fields
        .iter()
        .map(|(f, v)| (f.name(), sorted_json(&typed(v))))
        .collect();
    let mut canonical = serde_json::json!({
        "email": user.email,
        "administrator": user.untouchable.is_some(),
        "marker": user.marker,
        "fields": fields,
    });
    if with_links {
        canonical["devices"] = serde_json::json!(linked(&user.links, DEVICE));
        canonical["groups"] = serde_json::json!(linked(&user.links, GROUP));
        // Read only for users whose file gives the list; absent, the bytes stay as before.
        if let Some(geofences) = user.links.get(&GEOFENCE) {
            canonical["geofences"] = serde_json::json!(geofences);
        }
        // The later given-only kinds, by kind name, likewise only where read.
        for (kind, targets) in user.links.iter().filter(|(kind, _)| in_lists(**kind)) {
            canonical[kind.name()] = serde_json::json!(targets);
        }
    }
    canonical["managed_by"] = serde_json::json!(user.managed_by);
    sha256_hex(canonical.to_string().as_bytes())
}

/// A value with its type, so `"1"` and `1` fingerprint differently.
fn typed(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => serde_json::json!({ "b": b }),
        Value::Int(i) => serde_json::json!({ "i": i }),
        Value::Time(t) => serde_json::json!({ "t": t.timestamp() }),
        Value::Text(s) => serde_json::json!({ "s": s }),
        Value::Json(j) => serde_json::json!({ "j": j }),
    }
}

/// An object's digest: its key, marker, every field and attribute.
fn object_fingerprint(object: &LiveObject) -> String {
    let fields: BTreeMap<String, Json> = object
        .fields
        .iter()
        .map(|(f, v)| (f.name(), sorted_json(&typed(v))))
        .collect();
    let mut canonical = serde_json::json!({
        "key": object.key,
        "marker": object.marker,
        "fields": fields,
    });
    // The lists read (only for the entries that give them): absent otherwise, so objects
    // without lists keep the digest plans saved before lists have.
    if !object.links.is_empty()
        && let Some(map) = canonical.as_object_mut()
    {
        let links: BTreeMap<&str, &BTreeSet<String>> =
            object.links.iter().map(|(k, v)| (k.name(), v)).collect();
        map.insert("links".into(), serde_json::json!(links));
    }
    sha256_hex(canonical.to_string().as_bytes())
}

/// The digests of every object of the kinds `scope` manages, by `<kind> <key>`.
fn object_fingerprints(live: &Live, scope: &Scope) -> Option<BTreeMap<String, String>> {
    if scope.objects.is_empty() {
        return None;
    }
    Some(
        scope
            .objects
            .keys()
            .filter_map(|kind| live.objects.get(kind).map(|objects| (kind, objects)))
            .flat_map(|(kind, objects)| {
                objects
                    .iter()
                    .map(move |(key, o)| (format!("{kind} {key}"), object_fingerprint(o)))
            })
            .collect(),
    )
}

/// The fingerprints of every live object a plan over `scope` reads (see the design comment).
pub fn fingerprints(backend: &Description, live: &Live, scope: &Scope) -> Fingerprints {
    let mut catalogue = serde_json::json!({
        "devices": linked(&live.targets, DEVICE),
        "groups": linked(&live.targets, GROUP),
        "ambiguous_groups": linked(&live.ambiguous, GROUP),
        "manager_devices": live.owner_targets.get(&DEVICE),
    });
    // Only when read, so saved plans of runs without a manager keep their fingerprints.
    if let Some(groups) = live.owner_targets.get(&GROUP) {
        catalogue["manager_groups"] = serde_json::json!(groups);
    }
    let absent: BTreeMap<UserKey, String> = scope
        .emails
        .iter()
        .map(|k| (k.clone(), ABSENT.to_string()))
        .collect();
    let (mut users, mut profiles) = (absent.clone(), absent);
    let mut link_counts = BTreeMap::new();
    for (key, user) in &live.users {
        if scope.contains(key, user) {
            profiles.insert(key.clone(), user_fingerprint(user, false));
            if scope.reads_links(key, user) {
                users.insert(key.clone(), user_fingerprint(user, true));
                link_counts.insert(key.clone(), safety::link_count(backend, user));
            } else {
                users.remove(key);
            }
        }
    }
    Fingerprints {
        catalogue: sha256_hex(catalogue.to_string().as_bytes()),
        users,
        profiles: Some(profiles),
        link_counts: Some(link_counts),
        objects: object_fingerprints(live, scope),
    }
}

/// The users a saved plan's actions name (created, changed, linked, unlinked, disabled or
/// deleted): the only users whose links its apply reads again.
fn named_by(plan: &Plan) -> BTreeSet<UserKey> {
    plan.actions
        .iter()
        .filter_map(|a| a.user().map(|email| plan.key(email)))
        .collect()
}

/// Builds the saved plan. `file_bytes` is the fleet file as read.
pub fn save(
    plan: &Plan,
    live: &Live,
    scope: &Scope,
    file_path: &str,
    file_bytes: &[u8],
) -> SavedPlan {
    SavedPlan {
        saved_plan_version: SAVED_PLAN_VERSION,
        fleetform_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: Utc::now(),
        fleet_file: FleetFileDigest {
            path: file_path.to_string(),
            sha256: file_digest(file_bytes),
        },
        server: SavedServer {
            backend: plan.account.backend.clone(),
            url: plan.account.url.clone(),
            version: plan.account.server_version.clone(),
            instance: None,
        },
        account: SavedAccount {
            email: plan.account.email.clone(),
            role: plan.account.role.clone(),
        },
        scope: SavedScope::of(scope),
        fingerprints: fingerprints(plan.backend, live, scope),
        plan: render::json(plan),
    }
}

/// Parses a saved plan file and checks its version and internal consistency.
pub fn parse(text: &str) -> anyhow::Result<SavedPlan> {
    let head: Json = serde_json::from_str(text).context("the saved plan is not JSON")?;
    let version = head.get("saved_plan_version").and_then(Json::as_u64);
    if version != Some(u64::from(SAVED_PLAN_VERSION)) {
        bail!(
            "not a saved plan this fleetform reads (saved_plan_version {}, expected {SAVED_PLAN_VERSION}); write it with `fleetform plan --out`",
            version.map_or("missing".into(), |v| v.to_string())
        );
    }
    let saved: SavedPlan = serde_json::from_value(head).context("the saved plan is malformed")?;
    Ok(saved)
}

/// The account of a saved plan, as the model spells it.
pub fn account_of(saved: &SavedPlan) -> Account {
    Account {
        backend: saved.server.backend.clone(),
        url: saved.server.url.clone(),
        server_version: saved.server.version.clone(),
        email: saved.account.email.clone(),
        role: saved.account.role.clone(),
    }
}

/// What apply reads again to check a saved plan: the users of the plan's scope, the links of
/// only those its actions name, and the catalogue. (A plan saved before profiles existed is
/// read in full.)
pub fn apply_scope(saved: &SavedPlan, plan: &Plan) -> Scope {
    let mut scope = saved.scope.to_scope(plan.backend);
    if saved.fingerprints.profiles.is_some() {
        scope.links_of = Some(named_by(plan));
    }
    scope
}

/// The plan-time link counts of the users whose links `scope` does not read again, for the
/// safety limits (`safety::check_with`).
pub fn unread_link_counts(saved: &SavedPlan, scope: &Scope) -> BTreeMap<UserKey, usize> {
    let Some(only) = &scope.links_of else {
        return BTreeMap::new();
    };
    saved
        .fingerprints
        .link_counts
        .iter()
        .flatten()
        .filter(|(key, _)| !only.contains(*key))
        .map(|(key, count)| (key.clone(), *count))
        .collect()
}

/// Every reason the saved plan no longer describes the server, one line each, where `live` was
/// read over `scope` (`apply_scope`). Empty: the plan may be applied.
pub fn stale_reasons(
    saved: &SavedPlan,
    account: &Account,
    live: &Live,
    scope: &Scope,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let was = account_of(saved);
    if was.backend != account.backend || was.url != account.url {
        reasons.push(format!(
            "the server is {} ({}), the plan was made for {} ({})",
            account.url, account.backend, was.url, was.backend
        ));
    }
    if was.server_version != account.server_version {
        reasons.push(format!(
            "the server version is {}, the plan was made against {}",
            account.server_version, was.server_version
        ));
    }
    let backend = crate::backend::describe(&account.backend);
    let same_account = match backend {
        Some(backend) => backend.key.key(&was.email) == backend.key.key(&account.email),
        None => was.email == account.email,
    };
    if !same_account || was.role != account.role {
        reasons.push(format!(
            "the acting account is {} ({}), the plan was made as {} ({})",
            account.email, account.role, was.email, was.role
        ));
    }
    let Ok(backend) = backend_of(saved) else {
        reasons.push(format!(
            "fleetform has no backend {:?}",
            saved.server.backend
        ));
        return reasons;
    };
    let now = fingerprints(backend, live, scope);
    if now.catalogue != saved.fingerprints.catalogue {
        reasons.push(
            "the devices or groups the account may link (or the manager's devices) changed".into(),
        );
    }
    // Users whose links were read are compared in full, the others by their profile.
    let empty = BTreeMap::new();
    let profiles_now = now.profiles.as_ref().unwrap_or(&empty);
    let profiles_then = saved.fingerprints.profiles.as_ref().unwrap_or(&empty);
    let in_full = |key: &UserKey| {
        scope
            .links_of
            .as_ref()
            .is_none_or(|only| only.contains(key))
            || saved.fingerprints.profiles.is_none()
    };
    let keys: BTreeSet<&UserKey> = profiles_now
        .keys()
        .chain(now.users.keys())
        .chain(saved.fingerprints.users.keys())
        .collect();
    for key in keys {
        let (before, after) = if in_full(key) {
            (&saved.fingerprints.users, &now.users)
        } else {
            (profiles_then, profiles_now)
        };
        let before = before.get(key).map(String::as_str);
        let after = after.get(key).map(String::as_str);
        if before == after {
            continue;
        }
        let what = match (before, after) {
            (None | Some(ABSENT), _) => "was created",
            (_, None | Some(ABSENT)) => "was deleted (or left the fleet)",
            _ => "changed",
        };
        reasons.push(format!("user {key} {what} since the plan"));
    }
    if let (Some(then), Some(now)) = (&saved.fingerprints.objects, &now.objects) {
        let keys: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
        for key in keys {
            let what = match (then.get(key), now.get(key)) {
                (a, b) if a == b => continue,
                (None, _) => "was created",
                (_, None) => "was deleted (or can no longer be seen)",
                _ => "changed",
            };
            reasons.push(format!("{key} {what} since the plan"));
        }
    }
    reasons
}

/// The plan a saved file holds, checked to re-encode to exactly the saved JSON.
pub fn plan_of(saved: &SavedPlan, account: Account) -> anyhow::Result<Plan> {
    let backend = backend_of(saved)?;
    let fleet = saved
        .plan
        .get("fleet")
        .and_then(Json::as_str)
        .context("the saved plan has no fleet")?
        .to_string();
    let actions = saved
        .plan
        .get("actions")
        .and_then(Json::as_array)
        .context("the saved plan has no actions")?
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Action::from_json(backend, a)
                .map_err(|e| anyhow::anyhow!("saved action {}: {e}", i + 1))
        })
        .collect::<anyhow::Result<Vec<Action>>>()?;
    let cascades: Vec<Vec<String>> = saved
        .plan
        .get("actions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            a.get("cascades")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|line| line.as_str().map(str::to_string))
                .collect()
        })
        .collect();
    let mut plan = Plan::new(backend, fleet, account, actions);
    // What the server does on its own, as the plan showed it when it was saved.
    plan.set_cascades(cascades);
    if render::json(&plan).get("actions") != saved.plan.get("actions") {
        bail!(
            "the saved plan's actions do not decode exactly; make a new plan with this fleetform"
        );
    }
    Ok(plan)
}

/// The backend a saved plan was made for.
pub fn backend_of(saved: &SavedPlan) -> anyhow::Result<&'static Description> {
    crate::backend::describe(&saved.server.backend).with_context(|| {
        format!(
            "the saved plan is for a {:?} server, which this fleetform does not know",
            saved.server.backend
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, desired, have, live, want, with_field};
    use crate::core::model::Field;
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{TRACCAR, tf};

    /// The saved plan's fingerprints and scope keep their JSON keys and bytes, so plans saved
    /// before links became the backend's entries stay fresh.
    #[test]
    fn fingerprints_and_scope_keep_their_format() {
        let mut u = have("a@x.at", Some(FLEET));
        u.links.insert(DEVICE, ["D1".to_string()].into());
        let mut l = live("admin", vec![u]);
        l.owner_targets.insert(DEVICE, ["D1".to_string()].into());
        let mut w = want("a@x.at");
        w.links.insert(GROUP, ["G1".to_string()].into());
        let scope = Scope::of(&desired(vec![w, want("b@x.at")]));
        let got = fingerprints(TRACCAR, &l, &scope);
        let catalogue = r#"{"devices":["D1","D2","D3"],"groups":["G1","G2"],"ambiguous_groups":["Twice"],"manager_devices":["D1"]}"#;
        assert_eq!(got.catalogue, sha256_hex(catalogue.as_bytes()));
        let user = r#"{"email":"a@x.at","administrator":false,"marker":"acme","fields":{},"devices":["D1"],"groups":[],"managed_by":[]}"#;
        assert_eq!(
            got.users[&UserKey::new("a@x.at")],
            sha256_hex(user.replace("acme", FLEET).as_bytes())
        );
        let saved = SavedScope::of(&scope);
        let json = serde_json::to_value(&saved).expect("serializes");
        assert_eq!(
            json["desired_groups"],
            serde_json::json!({"a@x.at": ["G1"], "b@x.at": []})
        );
        assert_eq!(saved.to_scope(TRACCAR), scope);
    }

    /// A user's `geofences:` list (given-only) survives the saved scope, `[]` included, and
    /// its links join that user's fingerprint; users without one keep their bytes.
    #[test]
    fn geofence_lists_are_saved_only_where_given() {
        let mut given = want("a@x.at");
        given.links.insert(GEOFENCE, BTreeSet::new());
        let mut listed = want("c@x.at");
        listed.links.insert(GEOFENCE, ["depot".to_string()].into());
        let scope = Scope::of(&desired(vec![given, want("b@x.at"), listed]));
        let saved = SavedScope::of(&scope);
        let json = serde_json::to_value(&saved).expect("serializes");
        assert_eq!(
            json["desired_geofences"],
            serde_json::json!({"a@x.at": [], "c@x.at": ["depot"]})
        );
        assert_eq!(saved.to_scope(TRACCAR), scope);
        let without =
            serde_json::to_value(SavedScope::of(&Scope::of(&desired(vec![want("b@x.at")]))))
                .expect("serializes");
        assert!(without.get("desired_geofences").is_none(), "{without}");

        let mut u = have("a@x.at", Some(FLEET));
        u.links.insert(GEOFENCE, BTreeSet::new());
        let before = user_fingerprint(&u, true);
        u.links.insert(GEOFENCE, ["depot".to_string()].into());
        assert_ne!(
            user_fingerprint(&u, true),
            before,
            "a geofence link changed"
        );
        assert_eq!(user_fingerprint(&u, false), {
            u.links.remove(&GEOFENCE);
            user_fingerprint(&u, false)
        });
    }

    /// The later given-only lists (drivers, notifications, ...) are saved per kind under
    /// `desired_lists`, `[]` included, next to `desired_geofences` (whose key stays); a plan
    /// saved before them (no key) reads back as before, and their links join a user's
    /// fingerprint under the kind's name.
    #[test]
    fn group_parents_are_saved_only_where_given() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        let entry = |key: &str, fields: Vec<(&str, Value)>| DesiredObject {
            key: key.into(),
            fields: fields
                .into_iter()
                .map(|(f, v)| {
                    let kind = if f == "parent" {
                        GROUP_OBJECT
                    } else {
                        DEVICE_OBJECT
                    };
                    let spec = TRACCAR.object(kind).expect("kind");
                    (spec.field(f).expect("field"), v)
                })
                .collect(),
            origin: None,
            links: BTreeMap::new(),
        };
        let mut d = desired(vec![want("a@x.at")]);
        d.objects.insert(
            GROUP_OBJECT,
            [
                (
                    "North".to_string(),
                    entry("North", vec![("parent", Value::Text("Vienna".into()))]),
                ),
                (
                    "Top".to_string(),
                    entry("Top", vec![("parent", Value::Null)]),
                ),
                ("Plain".to_string(), entry("Plain", vec![])),
            ]
            .into(),
        );
        d.objects.insert(
            DEVICE_OBJECT,
            [(
                "BT-1".to_string(),
                entry("BT-1", vec![("group", Value::Text("North".into()))]),
            )]
            .into(),
        );
        let scope = Scope::of(&d);
        let saved = SavedScope::of(&scope);
        let json = serde_json::to_value(&saved).expect("serializes");
        // Only a kind's references to its own kind: a device's group is not a tree.
        assert_eq!(
            json["tree"],
            serde_json::json!({"group": {"North": "Vienna", "Top": null}})
        );
        assert_eq!(saved.to_scope(TRACCAR), scope);
        d.objects.remove(&GROUP_OBJECT);
        let json = serde_json::to_value(SavedScope::of(&Scope::of(&d))).expect("serializes");
        assert!(json.get("tree").is_none(), "{json}");
    }

    #[test]
    fn object_lists_are_saved_only_where_given() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GEOFENCE_OBJECT, NOTIFICATION_OBJECT};
        let entry = |key: &str, lists: Vec<ObjectKind>| DesiredObject {
            key: key.into(),
            fields: BTreeMap::new(),
            origin: None,
            links: lists.into_iter().map(|k| (k, BTreeSet::new())).collect(),
        };
        let mut d = desired(vec![want("a@x.at")]);
        let plain = Scope::of(&d);
        d.objects.insert(
            DEVICE_OBJECT,
            [
                (
                    "BT-1".to_string(),
                    entry("BT-1", vec![GEOFENCE_OBJECT, NOTIFICATION_OBJECT]),
                ),
                ("BT-2".to_string(), entry("BT-2", vec![])),
            ]
            .into(),
        );
        let scope = Scope::of(&d);
        let saved = SavedScope::of(&scope);
        let json = serde_json::to_value(&saved).expect("serializes");
        assert_eq!(
            json["object_lists"],
            serde_json::json!({"device": {"BT-1": ["geofence", "notification"]}})
        );
        assert_eq!(saved.to_scope(TRACCAR), scope);
        // No entry gives a list: the key is absent, so plans keep their bytes.
        d.objects.insert(
            DEVICE_OBJECT,
            [("BT-2".to_string(), entry("BT-2", vec![]))].into(),
        );
        let json = serde_json::to_value(SavedScope::of(&Scope::of(&d))).expect("serializes");
        assert!(json.get("object_lists").is_none(), "{json}");
        let json = serde_json::to_value(SavedScope::of(&plain)).expect("serializes");
        assert!(json.get("object_lists").is_none(), "{json}");

        // An object's fingerprint covers the lists read, and only then.
        let mut o = LiveObject {
            key: "BT-1".into(),
            marker: None,
            fields: BTreeMap::new(),
            links: BTreeMap::new(),
        };
        let canonical = r#"{"key":"BT-1","marker":null,"fields":{}}"#;
        assert_eq!(object_fingerprint(&o), sha256_hex(canonical.as_bytes()));
        o.links.insert(GEOFENCE_OBJECT, BTreeSet::new());
        let empty = object_fingerprint(&o);
        assert_ne!(empty, sha256_hex(canonical.as_bytes()));
        o.links
            .insert(GEOFENCE_OBJECT, ["depot".to_string()].into());
        assert_ne!(object_fingerprint(&o), empty, "a link changed");
    }

    #[test]
    fn later_given_only_lists_are_saved_per_kind() {
        use crate::backend::traccar::rules::{DRIVER, NOTIFICATION};
        let mut a = want("a@x.at");
        a.links.insert(DRIVER, ["max".to_string()].into());
        a.links.insert(GEOFENCE, ["depot".to_string()].into());
        let mut c = want("c@x.at");
        c.links.insert(NOTIFICATION, BTreeSet::new());
        let scope = Scope::of(&desired(vec![a, want("b@x.at"), c]));
        let saved = SavedScope::of(&scope);
        let json = serde_json::to_value(&saved).expect("serializes");
        assert_eq!(
            json["desired_lists"],
            serde_json::json!({"driver": {"a@x.at": ["max"]}, "notification": {"c@x.at": []}})
        );
        assert_eq!(
            json["desired_geofences"],
            serde_json::json!({"a@x.at": ["depot"]})
        );
        assert_eq!(saved.to_scope(TRACCAR), scope);
        let mut old = json.clone();
        old.as_object_mut().expect("object").remove("desired_lists");
        let back: SavedScope = serde_json::from_value(old).expect("an older plan reads");
        assert!(back.desired_lists.is_empty());
        let without =
            serde_json::to_value(SavedScope::of(&Scope::of(&desired(vec![want("b@x.at")]))))
                .expect("serializes");
        assert!(without.get("desired_lists").is_none(), "{without}");

        let mut u = have("a@x.at", Some(FLEET));
        let before = user_fingerprint(&u, true);
        u.links.insert(DRIVER, BTreeSet::new());
        let empty = user_fingerprint(&u, true);
        assert_ne!(
            empty, before,
            "a list read, even empty, is part of the state"
        );
        u.links.insert(DRIVER, ["max".to_string()].into());
        assert_ne!(user_fingerprint(&u, true), empty, "a driver link changed");
    }

    #[test]
    fn actions_round_trip_with_typed_values() {
        let mut u = with_field(want("a@x.at"), tf("readonly"), Value::Bool(true));
        u = with_field(
            u,
            Field::Attribute("looksLikeADate".into()),
            Value::Text("2027-01-01T00:00:00Z".into()),
        );
        let d = desired(vec![u]);
        let l = live("admin", vec![have("b@x.at", Some(FLEET))]);
        let plan = crate::core::plan::plan(&d, &l).expect("plan");
        let scope = Scope::of(&d);
        let saved = save(&plan, &l, &scope, "fleet.yaml", b"x");
        let text = serde_json::to_string(&saved).expect("json");
        let back = parse(&text).expect("parse");
        let decoded = plan_of(&back, l.account.clone()).expect("decode");
        assert_eq!(decoded, plan);
        let full = back.scope.to_scope(TRACCAR);
        assert!(stale_reasons(&back, &l.account, &l, &full).is_empty());
        let mut changed = l.clone();
        if let Some(b) = changed.users.get_mut(&UserKey::new("b@x.at")) {
            b.fields.insert(tf("phone"), Value::Text("1".into()));
        }
        let reasons = stale_reasons(&back, &l.account, &changed, &full);
        assert_eq!(
            reasons,
            vec!["user b@x.at changed since the plan".to_string()]
        );
    }

    #[test]
    fn object_actions_round_trip_and_object_changes_make_the_plan_stale() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        let field = |kind: ObjectKind, name: &str| {
            TRACCAR
                .object(kind)
                .and_then(|s| s.field(name))
                .expect("declared")
        };
        let mut d = desired(vec![]);
        d.objects.insert(
            GROUP_OBJECT,
            [(
                "North".to_string(),
                DesiredObject {
                    links: Default::default(),
                    key: "North".into(),
                    fields: BTreeMap::new(),
                    origin: None,
                },
            )]
            .into(),
        );
        d.objects.insert(
            DEVICE_OBJECT,
            [(
                "BT-1".to_string(),
                DesiredObject {
                    links: Default::default(),
                    key: "BT-1".into(),
                    fields: [(field(DEVICE_OBJECT, "group"), Value::Text("North".into()))].into(),
                    origin: None,
                },
            )]
            .into(),
        );
        let mut l = live("admin", vec![]);
        l.objects.insert(
            DEVICE_OBJECT,
            [(
                "BT-1".to_string(),
                LiveObject {
                    links: Default::default(),
                    key: "BT-1".into(),
                    marker: None,
                    fields: [(field(DEVICE_OBJECT, "name"), Value::Text("x".into()))].into(),
                },
            )]
            .into(),
        );
        l.objects.insert(GROUP_OBJECT, BTreeMap::new());
        let plan = crate::core::plan::plan(&d, &l).expect("plan");
        assert_eq!(plan.summary().create_object, 1);
        assert_eq!(plan.summary().update_object, 1);
        let scope = Scope::of(&d);
        let saved = save(&plan, &l, &scope, "fleet.yaml", b"x");
        let text = serde_json::to_string(&saved).expect("json");
        let back = parse(&text).expect("parse");
        assert_eq!(plan_of(&back, l.account.clone()).expect("decode"), plan);
        assert_eq!(back.scope.to_scope(TRACCAR), scope);
        assert_eq!(
            back.scope.to_desired(TRACCAR).objects[&DEVICE_OBJECT].len(),
            1,
            "the file's objects are counted by the safety limits"
        );
        let full = back.scope.to_scope(TRACCAR);
        assert!(stale_reasons(&back, &l.account, &l, &full).is_empty());
        let mut changed = l.clone();
        if let Some(o) = changed
            .objects
            .get_mut(&DEVICE_OBJECT)
            .and_then(|o| o.get_mut("BT-1"))
        {
            o.fields
                .insert(Field::Attribute("frame".into()), Value::Text("M".into()));
        }
        assert_eq!(
            stale_reasons(&back, &l.account, &changed, &full),
            ["device BT-1 changed since the plan"]
        );
        changed.objects.insert(
            GROUP_OBJECT,
            BTreeMap::from([(
                "North".to_string(),
                LiveObject {
                    links: Default::default(),
                    key: "North".into(),
                    marker: None,
                    fields: BTreeMap::new(),
                },
            )]),
        );
        assert_eq!(
            stale_reasons(&back, &l.account, &changed, &full),
            [
                "device BT-1 changed since the plan",
                "group North was created since the plan"
            ]
        );
    }
}
