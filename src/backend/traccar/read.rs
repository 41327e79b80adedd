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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use super::rules::{ADMINISTRATOR, DEVICE, GROUP, Role};
use super::wire::{self, Id};
use super::{TraccarBackend, Version, email_of, id_of, links};
use crate::core::model::{Links, Live, LiveUser, Scope, UserKey};

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

        // Round 1.
        let (users, (devices, device_rows), (groups, group_rows)) = tokio::try_join!(
            async { anyhow::Ok(self.api.get::<UserList>("/api/users", &[]).await?) },
            async {
                let devices: Vec<wire::Device> = self
                    .get_list("/api/devices", &all)
                    .await
                    .context("GET /api/devices")?;
                let rows = if listing && !devices.is_empty() {
                    Some(self.list_links("userId", "deviceId").await?)
                } else {
                    None
                };
                anyhow::Ok((devices, rows))
            },
            async {
                let groups: Vec<wire::Group> = self
                    .get_list("/api/groups", &all)
                    .await
                    .context("GET /api/groups")?;
                let rows = if listing && group_links && !groups.is_empty() {
                    self.list_group_links().await
                } else {
                    None
                };
                anyhow::Ok((groups, rows))
            },
        )?;

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

        // Users: every visible one; a manager does not see itself in the list.
        let mut listed = users.0;
        if !listed.iter().any(|u| u.id == Some(self.me_id)) {
            listed.push(listed_user(&self.me_json));
        }
        let mut live_users: BTreeMap<UserKey, LiveUser> = BTreeMap::new();
        let mut user_ids: HashMap<UserKey, Id> = HashMap::new();
        for ListedUser { id, entry } in listed {
            if let (Some(id), Some((key, user))) = (id, entry) {
                user_ids.insert(key.clone(), id);
                live_users.insert(key, user);
            }
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
                    let mut names: HashMap<Id, &str> = HashMap::new();
                    for g in list.iter().filter(|g| !group_by_id.contains_key(&g.id)) {
                        parents.insert(g.id, g.parent_id());
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
                    let inferred = links::infer_group_links(&visible, &parents, &desired);
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
            ids.devices = devices
                .iter()
                .map(|d| (d.unique_id.clone(), d.id))
                .collect();
            ids.groups = group_names
                .iter()
                .filter(|(_, v)| v.len() == 1)
                .map(|(n, v)| (n.clone(), v[0]))
                .collect();
            ids.uncertain_groups = uncertain;
            ids.manager = manager_id;
        }
        let mut owner_targets = Links::new();
        if let Some(devices) = manager_devices {
            owner_targets.insert(DEVICE, devices);
        }
        if let Some(groups) = manager_groups {
            owner_targets.insert(GROUP, groups);
        }
        Ok(Live {
            account: self.account(),
            users: live_users,
            targets: Links::from([
                (DEVICE, devices.into_iter().map(|d| d.unique_id).collect()),
                (GROUP, group_names.into_keys().collect()),
            ]),
            ambiguous: Links::from([(GROUP, ambiguous_groups)]),
            owner_targets,
            now: chrono::Utc::now(),
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
