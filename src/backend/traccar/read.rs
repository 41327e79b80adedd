//! Reading a Traccar server into the model: users, the devices and groups the account may link,
//! and the direct links of the users in scope, with the fewest requests the version allows and
//! bounded concurrency. Learns the server ids the writes need (`Ids`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value as Json};

use super::wire::{self, Id};
use super::{TraccarBackend, email_of, id_of, links};
use crate::model::{Live, LiveUser, Role, Scope, UserKey};

impl TraccarBackend {
    pub(super) async fn fetch_live(&self, scope: &Scope) -> anyhow::Result<Live> {
        let admin = self.role == Role::Admin;
        let all: Vec<(&str, String)> = if admin {
            vec![("all", "true".into())]
        } else {
            vec![]
        };
        let (users, devices, groups) = tokio::try_join!(
            self.list("/api/users", &[]),
            self.list("/api/devices", &all),
            self.list("/api/groups", &all),
        )?;

        let devices: Vec<wire::Device> = devices
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .context("GET /api/devices: unexpected device object")?;
        let groups: Vec<wire::Group> = groups
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .context("GET /api/groups: unexpected group object")?;
        let device_by_id: HashMap<Id, String> = devices
            .iter()
            .map(|d| (d.id, d.unique_id.clone()))
            .collect();
        let mut group_names: BTreeMap<String, Vec<Id>> = BTreeMap::new();
        for g in &groups {
            group_names.entry(g.name.clone()).or_default().push(g.id);
        }
        let group_by_id: HashMap<Id, String> =
            groups.iter().map(|g| (g.id, g.name.clone())).collect();
        let parents: BTreeMap<Id, Option<Id>> =
            groups.iter().map(|g| (g.id, g.parent_id())).collect();

        // Users: every visible one; a manager does not see itself in the list.
        let mut raw_users: Vec<Map<String, Json>> = users
            .into_iter()
            .filter_map(|u| match u {
                Json::Object(m) => Some(m),
                _ => None,
            })
            .collect();
        if !raw_users.iter().any(|u| id_of(u) == Some(self.me_id)) {
            raw_users.push(self.me_json.clone());
        }
        let mut live_users: BTreeMap<UserKey, LiveUser> = BTreeMap::new();
        let mut user_ids: HashMap<UserKey, Id> = HashMap::new();
        for u in &raw_users {
            // Share users (`temporary`) are Traccar's own; fleetform never sees them.
            if u.get("temporary").and_then(Json::as_bool) == Some(true) {
                continue;
            }
            let Some(id) = id_of(u) else { continue };
            let email = email_of(u);
            let key = UserKey::new(&email);
            user_ids.insert(key.clone(), id);
            live_users.insert(
                key,
                LiveUser {
                    administrator: u.get("administrator").and_then(Json::as_bool) == Some(true),
                    marker: wire::marker(u),
                    fields: wire::user_fields(u),
                    email,
                    devices: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    managed_by: BTreeSet::new(),
                },
            );
        }

        // Links of the users in scope (never of administrators: fleetform does not manage them).
        let in_scope: Vec<(UserKey, Id)> = live_users
            .iter()
            .filter(|(k, u)| !u.administrator && scope.contains(k, u))
            .filter_map(|(k, _)| user_ids.get(k).map(|id| (k.clone(), *id)))
            .collect();
        let scope_ids: HashMap<Id, UserKey> =
            in_scope.iter().map(|(k, id)| (*id, k.clone())).collect();

        if self.has_permission_listing() {
            for (user, device) in self.list_permissions("deviceId").await? {
                if let (Some(key), Some(uid)) = (scope_ids.get(&user), device_by_id.get(&device))
                    && let Some(u) = live_users.get_mut(key)
                {
                    u.devices.insert(uid.clone());
                }
            }
        } else {
            let per_user: Vec<(UserKey, Vec<Json>)> = stream::iter(in_scope.iter().cloned())
                .map(|(key, id)| async move {
                    let list = self
                        .list("/api/devices", &[("userId", id.0.to_string())])
                        .await?;
                    anyhow::Ok((key, list))
                })
                .buffer_unordered(self.options.concurrency)
                .try_collect()
                .await?;
            for (key, list) in per_user {
                let u = live_users.get_mut(&key);
                if let Some(u) = u {
                    for d in list {
                        if let Some(uid) = d.get("uniqueId").and_then(Json::as_str) {
                            u.devices.insert(uid.to_string());
                        }
                    }
                }
            }
        }

        let mut uncertain: HashSet<(UserKey, String)> = HashSet::new();
        if self.has_group_listing() {
            for (user, group) in self.list_permissions("groupId").await? {
                if let (Some(key), Some(name)) = (scope_ids.get(&user), group_by_id.get(&group))
                    && let Some(u) = live_users.get_mut(key)
                {
                    u.groups.insert(name.clone());
                }
            }
        } else if !groups.is_empty() {
            let per_user: Vec<(UserKey, Vec<Json>)> = stream::iter(in_scope.iter().cloned())
                .map(|(key, id)| async move {
                    let list = self
                        .list("/api/groups", &[("userId", id.0.to_string())])
                        .await?;
                    anyhow::Ok((key, list))
                })
                .buffer_unordered(self.options.concurrency)
                .try_collect()
                .await?;
            for (key, list) in per_user {
                let visible: BTreeSet<Id> = list
                    .iter()
                    .filter_map(|g| g.get("id").and_then(Json::as_i64).map(Id))
                    .collect();
                let desired: BTreeSet<Id> = scope
                    .desired_groups
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter_map(|name| match group_names.get(name).map(Vec::as_slice) {
                        Some([only]) => Some(*only),
                        _ => None,
                    })
                    .collect();
                let inferred = links::infer_group_links(&visible, &parents, &desired);
                if let Some(u) = live_users.get_mut(&key) {
                    for g in &inferred.linked {
                        if let Some(name) = group_by_id.get(g) {
                            u.groups.insert(name.clone());
                        }
                    }
                }
                for g in &inferred.uncertain {
                    if let Some(name) = group_by_id.get(g) {
                        uncertain.insert((key.clone(), name.clone()));
                    }
                }
            }
        }

        // The manager account, for an admin run that names one: its devices bound what the
        // file may assign, and its managed users get `managed_by`.
        let mut manager_devices = None;
        let mut manager_id = None;
        if let Some(manager) = &scope.manager
            && admin
            && let Some(&mid) = user_ids.get(manager)
        {
            manager_id = Some(mid);
            let by_manager = [("userId", mid.0.to_string())];
            let (devs, managed) = tokio::try_join!(
                self.list("/api/devices", &by_manager),
                self.list("/api/users", &by_manager),
            )?;
            manager_devices = Some(
                devs.iter()
                    .filter_map(|d| d.get("uniqueId").and_then(Json::as_str))
                    .map(str::to_string)
                    .collect(),
            );
            for m in managed {
                if let Some(email) = m.get("email").and_then(Json::as_str)
                    && let Some(u) = live_users.get_mut(&UserKey::new(email))
                {
                    u.managed_by.insert(manager.clone());
                }
            }
        }

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
            ids.fleet = scope.fleet.clone();
        }
        Ok(Live {
            account: self.account(),
            users: live_users,
            devices: devices.into_iter().map(|d| d.unique_id).collect(),
            groups: group_names.keys().cloned().collect(),
            ambiguous_groups,
            manager_devices,
            now: chrono::Utc::now(),
        })
    }
}
