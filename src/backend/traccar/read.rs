//! Reading a Traccar server into the model: users, the devices and groups the account may link,
//! and the direct links of the users in scope, with the fewest requests the version allows and
//! bounded concurrency. Learns the server ids the writes need (`Ids`). Never writes.
//!
//! Design (request counts are asserted by tests/requests.rs; figures in BENCHMARKS.md):
//!
//! - A plain user (neither administrator nor manager) is refused before the first read: Traccar
//!   answers `User access denied` to its reads of other users' links, even of users it managed
//!   while it had a user limit, and it may change no other user.
//! - Round 1, concurrently: `GET /api/users`, `GET /api/devices?all=true`,
//!   `GET /api/groups?all=true` (admins; others list what they can see). On 6.14+ as
//!   administrator each of the last two is followed, as soon as it answers and only when it is
//!   not empty, by its link listing: `GET /api/permissions?userId=0&deviceId=0` (every
//!   user→device link) and the user→group listing. 6.14.0–6.14.5 pick the owner key in Jersey's
//!   `HashMap` order, which puts `groupId` before `userId` (SQL error); the key spelt `UserId`
//!   hashes to an earlier bucket (6 against 7 of 16), so `?UserId=0&groupId=0` reaches the right
//!   table there. A server that still refuses it (any error) is read the per-user way below, so
//!   the trick costs at most one request and can never return a wrong table (`tc_group_user`
//!   does not exist). An admin plan therefore costs a constant 7 requests with connect's two.
//! - Round 2, only what no listing answered, as one stream of at most `concurrency` requests in
//!   flight:
//!   - device links: per user in scope (`/api/devices?userId=`) or, for administrators 6.3+,
//!     per device (`/api/users?deviceId=`), whichever side has fewer objects. Per device must
//!     read every device the account sees, since any may be linked to a user in scope. A
//!     manager always reads per user: per device it would see only links to devices it sees
//!     itself, and a link an administrator made to a device it cannot see must reach the plan
//!     (as a link it cannot change), not be skipped. For the same reason a user's groups keep
//!     the groups the account cannot see, named as `/api/groups?userId=` names them.
//!   - group links: per user in scope (`/api/groups?userId=`), only when the server has groups
//!     (for a non-administrator: always, since it cannot tell from its own empty list).
//!     Traccar has no "users of a group" read, so this is the one read that cannot take the
//!     smaller side.
//!   - the fleet's manager account (admin runs naming one): its managed users, its devices
//!     unless the device listing already holds them, and the groups it sees unless the group
//!     listing already holds its links. The devices it sees are its device links plus every
//!     device in a group it sees (the billing account the rules hold the fleet to).
//! - `excludeAttributes=true` is sent only to 6.10+, which knows it.
//! - Paging (`limit`/`offset`, 6.13+) is deliberately not used. Lists are ordered by name with
//!   no tiebreaker (except 6.14.3), so pages may skip or repeat objects whose names are equal; a
//!   skipped user would be planned as a create (duplicate email), a skipped link as a link
//!   (duplicate row). It would also add requests, and the memory it would bound, one list's
//!   JSON, is small next to the model that holds every object anyway (see BENCHMARKS.md).
//!   Devices and groups are decoded straight into small structs to keep that memory low.
//! - The simple kinds (`objects::WIRES` marked `simple`: geofences, ...), each when the file
//!   has its section, a user in scope gives its list, or a managed kind names its objects: one
//!   `GET /api/<kind>` in the first round (`all=true` as administrator; without it Traccar
//!   lists only those linked directly to the caller, which for a manager includes every one it
//!   created: the creator link), then per user that gives the list (and the billing account of
//!   an administrator run with `manager:`) `GET /api/<kind>?userId=N`. A key several objects
//!   share is refused when the file names it, and never pruned.
//!

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use super::objects::Wire;
use super::rules::{
    ADMINISTRATOR, DESCRIPTION, DEVICE, DEVICE_OBJECT, GROUP, GROUP_OBJECT, NOTIFICATION_OBJECT,
    Role,
};
use super::wire::{self, Id};
use super::{TraccarBackend, Version, email_of, id_of, links, objects};
use crate::core::model::{
    LinkKind, Links, Live, LiveObject, LiveUser, ObjectKind, Objects, Scope, UserKey,
};

/// What a fetch reads of one simple kind (`objects::Wire::simple`).
struct Simple {
    /// Its place in `objects::WIRES`.
    index: usize,
    wire: &'static Wire,
    /// The file has the kind's section.
    managed: bool,
    /// The file manages the kind (its section), or the kind refers to a kind the file
    /// manages (a notification to its command, whose delete the server cascades to it): its
    /// objects are read whole into the model.
    whole: bool,
    /// Some user in scope gives its list of links to the kind (and the kind is not
    /// `unmanaged:`): those users' links are read.
    links: bool,
    /// The list is read at all: the above, or a managed kind refers to objects of this one
    /// (their names are needed), or a device or group of the file lists objects of this kind
    /// linked to it (their ids are needed).
    read: bool,
}

impl Simple {
    fn of(index: usize, wire: &'static Wire, scope: &Scope) -> Simple {
        let refers = DESCRIPTION.object(wire.kind).is_some_and(|spec| {
            spec.refs
                .iter()
                .any(|r| r.target != wire.kind && scope.objects.contains_key(&r.target))
        });
        let managed = scope.objects.contains_key(&wire.kind);
        // A kind a device or group lists is read whole too, so the plan can tell which of
        // the listed objects exist (computed attributes have no user links to tell it).
        let listed = scope
            .object_lists
            .values()
            .flat_map(BTreeMap::values)
            .any(|kinds| kinds.contains(&wire.kind));
        let whole = managed || refers || listed;
        // Users' lists of a given-only kind are managed only for the users that give them.
        let links = wire.link.is_some_and(|(link, _)| {
            !scope.unmanaged.contains(&link)
                && scope
                    .desired_links
                    .values()
                    .any(|links| links.get(&link).is_some())
        });
        let referenced = scope
            .objects
            .keys()
            .filter_map(|kind| DESCRIPTION.object(*kind))
            .any(|spec| spec.refs.iter().any(|r| r.target == wire.kind));
        Simple {
            index,
            wire,
            managed,
            whole,
            links,
            read: whole || links || referenced || listed,
        }
    }
}

/// An object as the server sends it.
type JsonObject = Map<String, Json>;

/// An object of which only the id matters.
#[derive(Deserialize)]
struct IdRow {
    id: Id,
}

/// A user of which only the email matters.
#[derive(Deserialize)]
struct EmailRow {
    #[serde(default)]
    email: Option<String>,
}

/// One entry of `GET /api/users`, converted to the model while the list is decoded, so the
/// whole list is never held as JSON objects (at 50,000 users those take several times the
/// memory of the model).
struct ListedUser {
    id: Option<Id>,
    /// None for share users (`temporary`: Traccar's own, fleetform never sees them) and
    /// entries without an id.
    entry: Option<(UserKey, LiveUser)>,
}

fn listed_user(u: &Map<String, Json>) -> ListedUser {
    let id = id_of(u);
    let temporary = u.get("temporary").and_then(Json::as_bool) == Some(true);
    let entry = (id.is_some() && !temporary).then(|| {
        let email = email_of(u);
        let user = LiveUser {
            untouchable: (u.get("administrator").and_then(Json::as_bool) == Some(true))
                .then(|| ADMINISTRATOR.to_string()),
            marker: wire::marker(u),
            fields: wire::user_fields(u),
            links: Links::new(),
            managed_by: BTreeSet::new(),
            email,
        };
        (UserKey::new(&user.email), user)
    });
    ListedUser { id, entry }
}

struct UserList(Vec<ListedUser>);

impl<'de> Deserialize<'de> for UserList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<UserList, D::Error> {
        struct Elements;
        impl<'de> serde::de::Visitor<'de> for Elements {
            type Value = UserList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of users")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UserList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(element) = seq.next_element::<Json>()? {
                    if let Json::Object(m) = element {
                        out.push(listed_user(&m));
                    }
                }
                Ok(UserList(out))
            }
        }
        d.deserialize_seq(Elements)
    }
}

/// How the device links of the users in scope are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DeviceReads {
    /// One `GET /api/permissions` answered them all.
    Listing,
    /// `GET /api/devices?userId=` per user in scope.
    PerUser,
    /// `GET /api/users?deviceId=` per device the account sees.
    PerDevice,
}

/// Picks the side with fewer objects; `per_device_ok`: the server and role allow
/// `GET /api/users?deviceId=`. Ties read per user (the read every version has).
pub(super) fn device_reads(
    listing: bool,
    users_in_scope: usize,
    devices: usize,
    per_device_ok: bool,
) -> DeviceReads {
    if listing {
        DeviceReads::Listing
    } else if per_device_ok && devices < users_in_scope {
        DeviceReads::PerDevice
    } else {
        DeviceReads::PerUser
    }
}

/// One per-object read of round 2.
#[derive(Clone, Copy, Debug)]
enum Read {
    DevicesOfUser(Id),
    UsersOfDevice(Id),
    GroupsOfUser(Id),
    ManagerDevices(Id),
    ManagerGroups(Id),
    ManagedUsers(Id),
}

enum Answer {
    DevicesOfUser(Id, Vec<wire::Device>),
    UsersOfDevice(Id, Vec<IdRow>),
    GroupsOfUser(Id, Vec<wire::Group>),
    ManagerDevices(Vec<wire::Device>),
    ManagerGroups(Vec<wire::Group>),
    ManagedUsers(Vec<EmailRow>),
}

impl TraccarBackend {
    async fn get_list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Vec<T>> {
        Ok(self.api.get::<Vec<T>>(path, query).await?)
    }

    /// `GET /api/permissions?<owner>=0&<property>=0`: every (owner, property) link row.
    async fn list_links(&self, owner: &str, property: &str) -> anyhow::Result<Vec<(Id, Id)>> {
        let rows: Vec<Map<String, Json>> = self
            .api
            .get(
                "/api/permissions",
                &[(owner, "0".into()), (property, "0".into())],
            )
            .await?;
        // Output keys are DB column labels (`USERID` on H2): matched case-insensitively.
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    wire::permission_id(r, owner)?,
                    wire::permission_id(r, property)?,
                ))
            })
            .collect())
    }

    /// Every user→group link, or `None` when this server cannot list them (see the file header).
    async fn list_group_links(&self) -> Option<Vec<(Id, Id)>> {
        let owner = if self.version > Version(6, 14, 5) {
            "userId"
        } else {
            "UserId"
        };
        self.list_links(owner, "groupId").await.ok()
    }

    /// `excludeAttributes=true` on device, group and user lists: 6.10+.
    fn excludes_attributes(&self) -> bool {
        self.version >= Version(6, 10, 0)
    }

    fn per_device_ok(&self) -> bool {
        match self.role {
            Role::Admin => self.version >= Version(6, 3, 0),
            // A manager reads per user: per device it would only see links to the devices it
            // sees, and a link it cannot see must be shown (it cannot change it), not skipped.
            Role::Manager | Role::User => false,
        }
    }

    async fn read_one(&self, read: Read) -> anyhow::Result<Answer> {
        // Only ids, uniqueIds and emails are read here: attributes are left on the server.
        let q = |key: &'static str, id: Id| {
            let mut query = vec![(key, id.0.to_string())];
            if self.excludes_attributes() {
                query.push(("excludeAttributes", "true".to_string()));
            }
            query
        };
        Ok(match read {
            Read::DevicesOfUser(u) => {
                Answer::DevicesOfUser(u, self.get_list("/api/devices", &q("userId", u)).await?)
            }
            Read::UsersOfDevice(d) => {
                Answer::UsersOfDevice(d, self.get_list("/api/users", &q("deviceId", d)).await?)
            }
            Read::GroupsOfUser(u) => {
                Answer::GroupsOfUser(u, self.get_list("/api/groups", &q("userId", u)).await?)
            }
            Read::ManagerDevices(m) => {
                Answer::ManagerDevices(self.get_list("/api/devices", &q("userId", m)).await?)
            }
            Read::ManagerGroups(m) => {
                Answer::ManagerGroups(self.get_list("/api/groups", &q("userId", m)).await?)
            }
            Read::ManagedUsers(m) => {
                Answer::ManagedUsers(self.get_list("/api/users", &q("userId", m)).await?)
            }
        })
    }

    pub(super) async fn fetch_live(&self, scope: &Scope) -> anyhow::Result<Live> {
        if self.role == Role::User {
            // Traccar still lists the users a former manager managed (its managed-user links
            // outlive `userLimit: 0`) but refuses every read of their links (`User access
            // denied`), and a plain user may change no other user anyway: say so before reading.
            anyhow::bail!(
                "the account {} is a plain user (not an administrator, userLimit 0), so Traccar \
                 lets it read and change no other user; run fleetform as an administrator or a \
                 manager (a user with a userLimit other than 0)",
                self.me_email
            );
        }
        let admin = self.role == Role::Admin;
        // Devices and groups are read for ids, names and parents only; `excludeAttributes`
        // (6.10+; older servers ignore it, so it is not sent to them) keeps their attributes
        // off the wire.
        let mut all: Vec<(&str, String)> = Vec::new();
        if self.excludes_attributes() {
            all.push(("excludeAttributes", "true".into()));
        }
        if admin {
            all.push(("all", "true".into()));
        }
        let listing = self.options.bulk && self.has_permission_listing();
        // Group links the file leaves unmanaged are not read (on 6.13 and older that is one
        // request per user in scope).
        let group_links = !scope.unmanaged.contains(&GROUP);
        // Devices and groups the file manages are read whole (attributes and every field), in
        // the same request: managing them costs no request. So are they when they refer to a
        // kind the file manages (a device's calendar): a delete of that calendar clears it on
        // them, and the plan lists those devices under it.
        let read_whole = |kind: ObjectKind| {
            scope.objects.contains_key(&kind)
                || DESCRIPTION.object(kind).is_some_and(|spec| {
                    spec.refs
                        .iter()
                        .any(|r| r.target != kind && scope.objects.contains_key(&r.target))
                })
        };
        let whole_devices = read_whole(DEVICE_OBJECT);
        let whole_groups = read_whole(GROUP_OBJECT);
        let whole: Vec<(&str, String)> = all
            .iter()
            .filter(|(key, _)| *key != "excludeAttributes")
            .cloned()
            .collect();

        // The simple kinds (geofences, ...): each one list, read whole when the file manages
        // the kind, users link to it, or a managed kind names its objects (every one with
        // `all=true` as administrator; otherwise those linked to the account, which the
        // creator link makes include every object it created).
        let simple: Vec<Simple> = objects::WIRES
            .iter()
            .enumerate()
            .filter(|(_, wire)| wire.simple)
            .map(|(index, wire)| Simple::of(index, wire, scope))
            .collect();

        // Round 1.
        let (
            users,
            (devices, device_rows, device_json),
            (groups, group_rows, group_json),
            simple_json,
            notificators,
        ) = tokio::try_join!(
            async { anyhow::Ok(self.api.get::<UserList>("/api/users", &[]).await?) },
            async {
                let (devices, json) = if whole_devices {
                    let json: Vec<Map<String, Json>> = self
                        .get_list("/api/devices", &whole)
                        .await
                        .context("GET /api/devices")?;
                    (json.iter().filter_map(wire::Device::of).collect(), json)
                } else {
                    let devices: Vec<wire::Device> = self
                        .get_list("/api/devices", &all)
                        .await
                        .context("GET /api/devices")?;
                    (devices, Vec::new())
                };
                let rows = if listing && !devices.is_empty() {
                    Some(self.list_links("userId", "deviceId").await?)
                } else {
                    None
                };
                anyhow::Ok((devices, rows, json))
            },
            async {
                let (groups, json) = if whole_groups {
                    let json: Vec<Map<String, Json>> = self
                        .get_list("/api/groups", &whole)
                        .await
                        .context("GET /api/groups")?;
                    (json.iter().filter_map(wire::Group::of).collect(), json)
                } else {
                    let groups: Vec<wire::Group> = self
                        .get_list("/api/groups", &all)
                        .await
                        .context("GET /api/groups")?;
                    (groups, Vec::new())
                };
                let rows = if listing && group_links && !groups.is_empty() {
                    self.list_group_links().await
                } else {
                    None
                };
                anyhow::Ok((groups, rows, json))
            },
            futures::future::try_join_all(simple.iter().map(|kind| {
                let whole = &whole;
                async move {
                    let json: Vec<Map<String, Json>> = if kind.read {
                        self.get_list(kind.wire.path, whole)
                            .await
                            .with_context(|| format!("GET {}", kind.wire.path))?
                    } else {
                        Vec::new()
                    };
                    anyhow::Ok(json)
                }
            })),
            // The notificators this server is configured with (`notificator.types`), when the
            // file manages notifications: Traccar stores any word, and one it does not have
            // never fires.
            async {
                if !scope.objects.contains_key(&NOTIFICATION_OBJECT) {
                    return anyhow::Ok(None);
                }
                let list: Vec<Json> = self
                    .api
                    .get("/api/notifications/notificators", &[])
                    .await
                    .context("GET /api/notifications/notificators")?;
                let types: BTreeSet<String> = list
                    .iter()
                    .filter_map(|n| n.get("type").and_then(Json::as_str).map(str::to_string))
                    .collect();
                anyhow::Ok(Some(types))
            },
        )?;
        // Per simple kind, the ids of each key. A key several objects share names no one of
        // them: refused when the file names it.
        let simple_ids: Vec<BTreeMap<String, Vec<Id>>> = simple
            .iter()
            .zip(&simple_json)
            .map(|(kind, list)| {
                let mut ids: BTreeMap<String, Vec<Id>> = BTreeMap::new();
                for json in list {
                    if let (Some(Json::String(key)), Some(id)) = (
                        json.get(kind.wire.key),
                        json.get("id").and_then(Json::as_i64),
                    ) {
                        ids.entry(key.clone()).or_default().push(Id(id));
                    }
                }
                ids
            })
            .collect();
        for (kind, ids) in simple.iter().zip(&simple_ids) {
            let shared: Vec<&String> = scope
                .objects
                .get(&kind.wire.kind)
                .into_iter()
                .flatten()
                .filter(|key| ids.get(*key).is_some_and(|ids| ids.len() > 1))
                .collect();
            if !shared.is_empty() {
                anyhow::bail!(
                    "several {}s on the server {} {}, so fleetform cannot tell which one \
                     the fleet file means; rename or delete all but one (nothing was changed)",
                    kind.wire.kind,
                    if kind.wire.key == "name" {
                        "are named".to_string()
                    } else {
                        format!("have the {}", kind.wire.key)
                    },
                    shared
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }

        let device_by_id: HashMap<Id, &str> = devices
            .iter()
            .map(|d| (d.id, d.unique_id.as_str()))
            .collect();
        let mut group_names: BTreeMap<String, Vec<Id>> = BTreeMap::new();
        for g in &groups {
            group_names.entry(g.name.clone()).or_default().push(g.id);
        }
        let group_by_id: HashMap<Id, &str> =
            groups.iter().map(|g| (g.id, g.name.as_str())).collect();
        let parents: BTreeMap<Id, Option<Id>> =
            groups.iter().map(|g| (g.id, g.parent_id())).collect();
        // The tree the plan leaves: today's, with the file's `parent:`s (a parent the plan
        // creates has no id yet and cannot be above anything the user sees today: none).
        let unique = |name: &str| match group_names.get(name).map(Vec::as_slice) {
            Some([only]) => Some(*only),
            _ => None,
        };
        let mut after = parents.clone();
        for (name, parent) in scope.tree.get(&GROUP_OBJECT).into_iter().flatten() {
            if let Some(id) = unique(name) {
                after.insert(id, parent.as_deref().and_then(unique));
            }
        }

        // Users: every visible one; a manager does not see itself in the list.
        let mut listed = users.0;
        if !listed.iter().any(|u| u.id == Some(self.me_id)) {
            listed.push(listed_user(&self.me_json));
        }
        let mut live_users: BTreeMap<UserKey, LiveUser> = BTreeMap::new();
        let mut user_ids: HashMap<UserKey, Id> = HashMap::new();
        // Traccar's unique email index is case-sensitive on H2 (a real 6.9.1 stores `bob@x`
        // and `BOB@x` side by side), while fleetform keys users by their lower-cased email.
        let mut twins: BTreeMap<UserKey, Vec<(String, Id, Option<String>)>> = BTreeMap::new();
        for ListedUser { id, entry } in listed {
            if let (Some(id), Some((key, user))) = (id, entry) {
                if let Some(first) = live_users.get(&key) {
                    let seen = twins.entry(key.clone()).or_insert_with(|| {
                        vec![(first.email.clone(), user_ids[&key], first.marker.clone())]
                    });
                    seen.push((user.email.clone(), id, user.marker.clone()));
                }
                user_ids.insert(key.clone(), id);
                live_users.insert(key, user);
            }
        }
        // Refused only where it matters: a user of the file or of this fleet.
        let clashes: Vec<String> = twins
            .iter()
            .filter(|(key, users)| {
                scope.emails.contains(*key)
                    || users
                        .iter()
                        .any(|(_, _, marker)| marker.as_deref() == Some(scope.fleet.as_str()))
            })
            .map(|(key, users)| {
                let who: Vec<String> = users
                    .iter()
                    .map(|(email, id, _)| format!("{email} (id {})", id.0))
                    .collect();
                format!("{key}: {}", who.join(", "))
            })
            .collect();
        if !clashes.is_empty() {
            anyhow::bail!(
                "the server has users whose emails differ only in letter case, and fleetform matches emails case-insensitively, so it cannot tell which one the fleet means: {}; rename or delete all but one of each (nothing was changed)",
                clashes.join("; ")
            );
        }

        // Links of the users in scope (never of administrators: fleetform does not manage them).
        let in_scope: Vec<(UserKey, Id)> = live_users
            .iter()
            .filter(|(k, u)| u.untouchable.is_none() && scope.reads_links(k, u))
            .filter_map(|(k, _)| user_ids.get(k).map(|id| (k.clone(), *id)))
            .collect();
        let scope_ids: HashMap<Id, UserKey> =
            in_scope.iter().map(|(k, id)| (*id, k.clone())).collect();

        // The fleet's manager account, for an admin run that names one.
        let manager_id = match &scope.manager {
            Some(manager) if admin => user_ids.get(manager).copied(),
            _ => None,
        };

        // Round 2: what no listing answered.
        let strategy = device_reads(
            device_rows.is_some(),
            in_scope.len(),
            devices.len(),
            self.per_device_ok(),
        );
        let mut reads: Vec<Read> = Vec::new();
        match strategy {
            DeviceReads::Listing => {}
            DeviceReads::PerUser => {
                reads.extend(in_scope.iter().map(|(_, id)| Read::DevicesOfUser(*id)));
            }
            DeviceReads::PerDevice => {
                reads.extend(devices.iter().map(|d| Read::UsersOfDevice(d.id)))
            }
        }
        // An account that sees no group may still manage users linked to groups it cannot see
        // (an administrator's links); only an administrator's empty list means there are none.
        if group_links && group_rows.is_none() && (!groups.is_empty() || !admin) {
            reads.extend(in_scope.iter().map(|(_, id)| Read::GroupsOfUser(*id)));
        }
        if let Some(mid) = manager_id {
            if device_rows.is_none() {
                reads.push(Read::ManagerDevices(mid));
            }
            if group_rows.is_none() && !groups.is_empty() {
                reads.push(Read::ManagerGroups(mid));
            }
            reads.push(Read::ManagedUsers(mid));
        }
        let progress = &self.options.progress;
        progress.start("Reading links", reads.len() as u64);
        let answers: anyhow::Result<Vec<Answer>> = stream::iter(reads)
            .map(|read| async move {
                let answer = self.read_one(read).await;
                progress.advance(1);
                answer
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await;
        progress.finish();
        let answers = answers?;

        let mut manager_devices: Option<BTreeSet<String>> = None;
        if let (Some(mid), Some(rows)) = (manager_id, &device_rows) {
            manager_devices = Some(
                rows.iter()
                    .filter(|(u, _)| *u == mid)
                    .filter_map(|(_, d)| device_by_id.get(d).map(|s| s.to_string()))
                    .collect(),
            );
        }
        if let Some(rows) = &device_rows {
            for (user, device) in rows {
                if let (Some(key), Some(uid)) = (scope_ids.get(user), device_by_id.get(device))
                    && let Some(u) = live_users.get_mut(key)
                {
                    u.links.entry(DEVICE).or_default().insert(uid.to_string());
                }
            }
        }
        if let Some(rows) = &group_rows {
            for (user, group) in rows {
                if let (Some(key), Some(name)) = (scope_ids.get(user), group_by_id.get(group))
                    && let Some(u) = live_users.get_mut(key)
                {
                    u.links.entry(GROUP).or_default().insert(name.to_string());
                }
            }
        }
        // The manager's visible groups: from its link rows where listed (then with their
        // descendants), else as `GET /api/groups?userId=` lists them (descendants included).
        let mut manager_group_ids: Option<BTreeSet<Id>> = match (manager_id, &group_rows) {
            (Some(mid), Some(rows)) => {
                let direct: BTreeSet<Id> = rows
                    .iter()
                    .filter(|(u, _)| *u == mid)
                    .map(|(_, g)| *g)
                    .collect();
                Some(links::visible_groups(&direct, &parents))
            }
            (Some(_), None) if groups.is_empty() => Some(BTreeSet::new()),
            _ => None,
        };
        let mut uncertain: HashSet<(UserKey, String)> = HashSet::new();
        for answer in answers {
            match answer {
                Answer::DevicesOfUser(user, list) => {
                    if let Some(u) = scope_ids.get(&user).and_then(|k| live_users.get_mut(k)) {
                        let list: Vec<String> = list.into_iter().map(|d| d.unique_id).collect();
                        if !list.is_empty() {
                            u.links.entry(DEVICE).or_default().extend(list);
                        }
                    }
                }
                Answer::UsersOfDevice(device, list) => {
                    let Some(uid) = device_by_id.get(&device) else {
                        continue;
                    };
                    for row in list {
                        if let Some(u) = scope_ids.get(&row.id).and_then(|k| live_users.get_mut(k))
                        {
                            u.links.entry(DEVICE).or_default().insert(uid.to_string());
                        }
                    }
                }
                Answer::GroupsOfUser(user, list) => {
                    let Some(key) = scope_ids.get(&user) else {
                        continue;
                    };
                    let visible: BTreeSet<Id> = list.iter().map(|g| g.id).collect();
                    // Groups the acting account cannot see itself (linked by an administrator)
                    // still count: the plan must show them, since it cannot unlink them.
                    let mut parents = parents.clone();
                    let mut after = after.clone();
                    let mut names: HashMap<Id, &str> = HashMap::new();
                    for g in list.iter().filter(|g| !group_by_id.contains_key(&g.id)) {
                        parents.insert(g.id, g.parent_id());
                        after.insert(g.id, g.parent_id());
                        names.insert(g.id, g.name.as_str());
                    }
                    let name_of = |g: &Id| group_by_id.get(g).or_else(|| names.get(g)).copied();
                    let desired: BTreeSet<Id> = scope
                        .desired_links
                        .get(key)
                        .and_then(|links| links.get(&GROUP))
                        .into_iter()
                        .flatten()
                        .filter_map(|name| match group_names.get(name).map(Vec::as_slice) {
                            Some([only]) => Some(*only),
                            Some(_) => None,
                            // A group only this user's answer names (one the account cannot
                            // see) that the file lists.
                            None => names.iter().find(|(_, n)| **n == name).map(|(id, _)| *id),
                        })
                        .collect();
                    let inferred = links::infer_group_links(&visible, &parents, &after, &desired);
                    if let Some(u) = live_users.get_mut(key) {
                        for g in &inferred.linked {
                            if let Some(name) = name_of(g) {
                                u.links.entry(GROUP).or_default().insert(name.to_string());
                            }
                        }
                    }
                    for g in &inferred.uncertain {
                        if let Some(name) = name_of(g) {
                            uncertain.insert((key.clone(), name.to_string()));
                        }
                    }
                }
                Answer::ManagerGroups(list) => {
                    manager_group_ids = Some(list.iter().map(|g| g.id).collect());
                }
                Answer::ManagerDevices(list) => {
                    manager_devices = Some(list.into_iter().map(|d| d.unique_id).collect());
                }
                Answer::ManagedUsers(list) => {
                    let Some(manager) = &scope.manager else {
                        continue;
                    };
                    for row in list {
                        if let Some(email) = row.email
                            && let Some(u) = live_users.get_mut(&UserKey::new(&email))
                        {
                            u.managed_by.insert(manager.clone());
                        }
                    }
                }
            }
        }

        // What the manager sees: its device links, and every device in a group it sees.
        if let (Some(devices_of), Some(group_ids)) = (&mut manager_devices, &manager_group_ids) {
            devices_of.extend(
                devices
                    .iter()
                    .filter(|d| d.group.is_some_and(|g| group_ids.contains(&Id(g))))
                    .map(|d| d.unique_id.clone()),
            );
        }
        let manager_groups: Option<BTreeSet<String>> = manager_group_ids.map(|ids| {
            ids.iter()
                .filter_map(|g| group_by_id.get(g).map(|n| n.to_string()))
                .collect()
        });
        let ambiguous_groups: BTreeSet<String> = group_names
            .iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(n, _)| n.clone())
            .collect();
        {
            let mut ids = self.ids();
            ids.users = user_ids;
            ids.objects.insert(
                DEVICE_OBJECT,
                devices
                    .iter()
                    .map(|d| (d.unique_id.clone(), d.id))
                    .collect(),
            );
            ids.objects.insert(
                GROUP_OBJECT,
                group_names
                    .iter()
                    .filter(|(_, v)| v.len() == 1)
                    .map(|(n, v)| (n.clone(), v[0]))
                    .collect(),
            );
            for (kind, by_key) in simple.iter().zip(&simple_ids) {
                ids.objects.insert(
                    kind.wire.kind,
                    by_key
                        .iter()
                        .filter(|(_, v)| v.len() == 1)
                        .map(|(n, v)| (n.clone(), v[0]))
                        .collect(),
                );
            }
            ids.uncertain_groups = uncertain;
            ids.manager = manager_id;
        }
        // The managed objects, references named by their targets' keys.
        let simple_by_id: HashMap<ObjectKind, HashMap<Id, &str>> = simple
            .iter()
            .zip(&simple_ids)
            .map(|(kind, ids)| {
                let by_id = ids
                    .iter()
                    .filter(|(_, v)| v.len() == 1)
                    .map(|(key, v)| (v[0], key.as_str()))
                    .collect();
                (kind.wire.kind, by_id)
            })
            .collect();
        let names = |kind: ObjectKind, id: Id| -> Option<String> {
            let name = match kind {
                GROUP_OBJECT => group_by_id.get(&id),
                DEVICE_OBJECT => device_by_id.get(&id),
                other => simple_by_id.get(&other).and_then(|ids| ids.get(&id)),
            };
            name.map(|n| n.to_string())
        };
        let mut objects: Objects<LiveObject> = Objects::new();
        let mut unnamed: Objects<LiveObject> = Objects::new();
        let mut sources: Vec<(ObjectKind, &[JsonObject], bool)> = vec![
            (DEVICE_OBJECT, &device_json[..], whole_devices),
            (GROUP_OBJECT, &group_json[..], whole_groups),
        ];
        sources.extend(
            simple
                .iter()
                .zip(&simple_json)
                .map(|(kind, json)| (kind.wire.kind, &json[..], kind.whole)),
        );
        for (kind, json, managed) in sources {
            if !managed {
                continue;
            }
            let shared = simple
                .iter()
                .zip(&simple_ids)
                .find(|(s, _)| s.wire.kind == kind)
                .map(|(_, ids)| ids);
            let of_kind = objects.entry(kind).or_default();
            for j in json {
                let named = objects::live_object(kind, j, &names).filter(|object| {
                    // A name several objects share names no one of them: `ambiguous` says so.
                    let ambiguous = kind == GROUP_OBJECT && ambiguous_groups.contains(&object.key);
                    let shared_key = shared
                        .is_some_and(|ids| ids.get(&object.key).is_some_and(|ids| ids.len() > 1));
                    !(ambiguous || shared_key || object.key.is_empty())
                });
                match named {
                    Some(object) => {
                        of_kind.insert(object.key.clone(), object);
                    }
                    // Never managed, but what a delete takes with it must see it.
                    None => {
                        if let Some(object) = objects::unnamed_object(kind, j, &names) {
                            unnamed
                                .entry(kind)
                                .or_default()
                                .insert(object.key.clone(), object);
                        }
                    }
                }
            }
        }
        // Links to simple kinds: per user that lists them (`?userId=` gives the objects linked
        // to that user directly; real 6.14.0-6.14.5 cannot list them through
        // /api/permissions), and the billing account's, for an administrator run with
        // `manager:`.
        // (index in `objects::WIRES`, user): indices, since a borrowed item trips the
        // higher-ranked lifetime check of the stream's closure.
        let mut link_reads: Vec<(usize, Id)> = Vec::new();
        for kind in &simple {
            let index = kind.index;
            let (Some((link, _)), true) = (kind.wire.link, kind.read) else {
                continue;
            };
            if kind.links {
                link_reads.extend(
                    in_scope
                        .iter()
                        .filter(|(key, _)| {
                            scope
                                .desired_links
                                .get(key)
                                .is_some_and(|links| links.get(&link).is_some())
                        })
                        .map(|(_, id)| (index, *id)),
                );
            }
            // The billing account's list, for the kinds the plan may link to it (not those
            // read only for their names or references).
            if let Some(mid) = manager_id.filter(|_| kind.managed || kind.links) {
                link_reads.push((index, mid));
            }
        }
        let link_lists: Vec<(LinkKind, Id, Vec<Json>)> = stream::iter(link_reads)
            .map(|(index, user)| async move {
                let wire = objects::WIRES
                    .get(index)
                    .context("internal error: no such wire format")?;
                let (path, link) = (wire.path, wire.link.map_or(DEVICE, |(link, _)| link));
                let query = [("userId", user.0.to_string())];
                let list = self
                    .list(path, &query)
                    .await
                    .with_context(|| format!("GET {path}?userId={}", user.0))?;
                anyhow::Ok((link, user, list))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut owner_targets = Links::new();
        for (link, user, list) in link_lists {
            let Some(wire) = objects::wire_linked_by(link) else {
                continue;
            };
            let mut keys = BTreeSet::new();
            for json in &list {
                // An object the acting account cannot see still counts: the plan must show it.
                if let Some(key) = json.get(wire.key).and_then(Json::as_str) {
                    keys.insert(key.to_string());
                }
            }
            if Some(user) == manager_id {
                owner_targets.insert(link, keys.clone());
            }
            if let Some(u) = scope_ids.get(&user).and_then(|k| live_users.get_mut(k)) {
                u.links.insert(link, keys);
            }
        }
        // The objects linked to the devices and groups whose entries give lists: one
        // `GET <path>?deviceId=N` (or `groupId`) per object and listed kind, which lists its
        // direct links (with `all=true` as administrator: without it Traccar lists only the
        // objects also linked to the caller, so a geofence the billing account made and linked
        // would not show; observed on real 6.9.1). An object not on the server has none yet.
        let mut list_reads: Vec<(ObjectKind, String, Id, ObjectKind)> = Vec::new();
        {
            let ids = self.ids();
            for (kind, of_kind) in &scope.object_lists {
                for (key, kinds) in of_kind {
                    let Some(id) = ids.objects.get(kind).and_then(|ids| ids.get(key)) else {
                        continue;
                    };
                    list_reads.extend(kinds.iter().map(|t| (*kind, key.clone(), *id, *t)));
                }
            }
        }
        let object_lists: Vec<(ObjectKind, String, ObjectKind, BTreeSet<String>)> =
            stream::iter(list_reads)
                .map(|(kind, key, id, target)| async move {
                    let owner = objects::owner_key(kind).map_err(|e| anyhow::anyhow!("{e}"))?;
                    let wire = objects::WIRES
                        .iter()
                        .find(|w| w.kind == target)
                        .context("internal error: no such wire format")?;
                    let list = self
                        .list(wire.path, &self.owner_query(owner, id))
                        .await
                        .with_context(|| format!("GET {}?{owner}={}", wire.path, id.0))?;
                    let keys = list
                        .iter()
                        .filter_map(|o| o.get(wire.key).and_then(Json::as_str))
                        .map(str::to_string)
                        .collect();
                    anyhow::Ok((kind, key, target, keys))
                })
                .buffer_unordered(self.concurrency)
                .try_collect()
                .await?;
        for (kind, key, target, keys) in object_lists {
            if let Some(object) = objects.get_mut(&kind).and_then(|o| o.get_mut(&key)) {
                object.links.insert(target, keys);
            }
        }
        let mut targets = Links::from([
            (DEVICE, devices.into_iter().map(|d| d.unique_id).collect()),
            (GROUP, group_names.into_keys().collect()),
        ]);
        let mut ambiguous = Links::from([(GROUP, ambiguous_groups)]);
        for (kind, ids) in simple.iter().zip(simple_ids) {
            let Some((link, _)) = kind.wire.link else {
                continue;
            };
            ambiguous.insert(
                link,
                ids.iter()
                    .filter(|(_, ids)| ids.len() > 1)
                    .map(|(key, _)| key.clone())
                    .collect(),
            );
            targets.insert(link, ids.into_keys().collect());
        }
        if let Some(devices) = manager_devices {
            owner_targets.insert(DEVICE, devices);
        }
        if let Some(groups) = manager_groups {
            owner_targets.insert(GROUP, groups);
        }
        Ok(Live {
            account: self.account(),
            users: live_users,
            targets,
            ambiguous,
            owner_targets,
            now: chrono::Utc::now(),
            objects,
            unnamed,
            choices: notificators
                .map(|types| ((NOTIFICATION_OBJECT, "notificators"), types))
                .into_iter()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_links_are_read_from_the_smaller_side() {
        assert_eq!(device_reads(true, 10, 1, true), DeviceReads::Listing);
        assert_eq!(
            device_reads(false, 10_000, 50, true),
            DeviceReads::PerDevice
        );
        assert_eq!(device_reads(false, 10_000, 50, false), DeviceReads::PerUser);
        assert_eq!(device_reads(false, 100, 200, true), DeviceReads::PerUser);
        assert_eq!(device_reads(false, 5, 5, true), DeviceReads::PerUser);
        assert_eq!(device_reads(false, 0, 5, true), DeviceReads::PerUser);
    }
}
