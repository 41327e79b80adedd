//! The Traccar backend: reads a Traccar server's users, devices, groups and links into the
//! model and applies plan phases through its REST API. Everything Traccar-specific lives here
//! and in the files beside it: ids (`wire::Id`), version gates, how links are read on each
//! version, read-modify-write of whole user objects, and bulk permission batches.
//!
//! Version gates (from ../shared/traccar/API-NOTES.md §11):
//! - `GET /api/permissions` (admin) lists every user→device link in one request from 6.14.0;
//!   user→group pairs only work in it after 6.14.5, so earlier servers infer group links from
//!   `GET /api/groups?userId=` (see `links.rs`).
//! - Everything else used here exists from 5.1 on.

pub mod api;
pub mod links;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use rand::RngExt;
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use self::api::{Api, ApiError, Credentials};
use self::wire::Id;
use crate::backend::{Applied, Backend, Outcome};
use crate::model::{Account, Action, Field, LinkKind, Live, LiveUser, Role, Scope, UserKey, Value};
use crate::secret::Secret;

/// How the backend talks to the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Requests in flight at once, for reads and for the independent writes of one phase.
    pub concurrency: usize,
    /// Links per `/api/permissions/bulk` request.
    pub batch_size: usize,
    /// Timeout of every request.
    pub timeout: Duration,
    /// Allow plain http to hosts that are not loopback.
    pub insecure_http: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 8,
            batch_size: 500,
            timeout: Duration::from_secs(30),
            insecure_http: false,
        }
    }
}

/// A parsed `major.minor.patch` server version; unknown parts are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(s: &str) -> Version {
        let mut parts = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        Version(
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }
}

/// Server ids of the objects the plan names, learnt during `fetch` and `apply`.
#[derive(Debug, Default)]
struct Ids {
    users: HashMap<UserKey, Id>,
    devices: HashMap<String, Id>,
    groups: HashMap<String, Id>,
    /// (user, group) links that must be written DELETE-then-POST (see `links.rs`).
    uncertain_groups: HashSet<(UserKey, String)>,
    /// The manager account's id, when an admin run names one.
    manager: Option<Id>,
    fleet: String,
}

pub struct TraccarBackend {
    api: Api,
    url: String,
    version_string: String,
    version: Version,
    me_id: Id,
    me_email: String,
    me_json: Map<String, Json>,
    role: Role,
    options: Options,
    ids: Mutex<Ids>,
}

fn role_of(user: &Map<String, Json>) -> Role {
    if user.get("administrator").and_then(Json::as_bool) == Some(true) {
        Role::Admin
    } else if user.get("userLimit").and_then(Json::as_i64).unwrap_or(0) != 0 {
        Role::Manager
    } else {
        Role::User
    }
}

fn id_of(user: &Map<String, Json>) -> Option<Id> {
    user.get("id").and_then(Json::as_i64).map(Id)
}

fn email_of(user: &Map<String, Json>) -> String {
    user.get("email")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A random password of 144 bits, URL-safe.
fn random_password() -> Secret {
    use base64::Engine;
    let bytes: [u8; 18] = rand::rng().random();
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl TraccarBackend {
    /// Connects, authenticates once, and learns the account and the server version. Fails
    /// before any write when the credential is wrong.
    pub async fn connect(
        url: &str,
        credentials: &Credentials,
        options: Options,
    ) -> anyhow::Result<TraccarBackend> {
        let base = api::check_url(url, options.insecure_http)?;
        let (api, me) = Api::connect(base.clone(), credentials, options.timeout).await?;
        let Json::Object(me_json) = me else {
            bail!("the server's session answer is not a user object");
        };
        let server: Json = api
            .get("/api/server", &[])
            .await
            .context("reading the server version")?;
        let version_string = server
            .get("version")
            .and_then(Json::as_str)
            .unwrap_or("unknown")
            .to_string();
        let me_id = id_of(&me_json).context("the session user has no id")?;
        Ok(TraccarBackend {
            api,
            url: base.as_str().trim_end_matches('/').to_string(),
            version: Version::parse(&version_string),
            version_string,
            me_id,
            me_email: email_of(&me_json),
            role: role_of(&me_json),
            me_json,
            options,
            ids: Mutex::new(Ids::default()),
        })
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        // A poisoned lock only means another task panicked; the map itself is still valid.
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn account(&self) -> Account {
        Account {
            backend: "traccar".into(),
            url: self.url.clone(),
            server_version: self.version_string.clone(),
            email: self.me_email.clone(),
            role: self.role,
        }
    }

    fn has_permission_listing(&self) -> bool {
        self.role == Role::Admin && self.version >= Version(6, 14, 0)
    }

    /// `GET /api/permissions` lists user→group pairs correctly only after 6.14.5.
    fn has_group_listing(&self) -> bool {
        self.role == Role::Admin && self.version > Version(6, 14, 5)
    }

    async fn list(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<Json>> {
        Ok(self.api.get::<Vec<Json>>(path, query).await?)
    }

    async fn list_permissions(&self, property: &str) -> anyhow::Result<Vec<(Id, Id)>> {
        let rows: Vec<Map<String, Json>> = self
            .api
            .get(
                "/api/permissions",
                &[("userId", "0".into()), (property, "0".into())],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    wire::permission_id(r, "userId")?,
                    wire::permission_id(r, property)?,
                ))
            })
            .collect())
    }
}

impl Backend for TraccarBackend {
    async fn describe(&self) -> anyhow::Result<Account> {
        Ok(self.account())
    }

    async fn fetch(&self, scope: &Scope) -> anyhow::Result<Live> {
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

    async fn apply_phase(&self, actions: &[Action]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = actions.iter().map(|_| None).collect();
        // Links and unlinks go in bulk batches; everything else one request (or two) each.
        let mut links: Vec<usize> = Vec::new();
        let mut singles: Vec<usize> = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            match a {
                Action::Link { .. } | Action::Unlink { .. } => links.push(i),
                _ => singles.push(i),
            }
        }
        let single_results: Vec<(usize, Outcome)> = stream::iter(singles)
            .map(|i| async move { (i, self.apply_one(&actions[i]).await) })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        for (i, o) in single_results {
            outcomes[i] = Some(o);
        }
        for (i, o) in self.apply_links(actions, &links).await {
            outcomes[i] = Some(o);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err("internal error: action was not run".into())))
            .collect()
    }
}

impl TraccarBackend {
    fn user_id(&self, email: &str) -> Result<Id, String> {
        self.ids()
            .users
            .get(&UserKey::new(email))
            .copied()
            .ok_or_else(|| {
                format!("user {email} is not known on the server (was it deleted since the plan?)")
            })
    }

    async fn apply_one(&self, action: &Action) -> Outcome {
        match action {
            Action::CreateUser {
                email,
                fields,
                managed_by,
            } => self.create_user(email, fields, managed_by.as_deref()).await,
            Action::UpdateUser {
                email,
                changes,
                adopt,
            } => {
                let fields: Vec<(&Field, &Value)> =
                    changes.iter().map(|c| (&c.field, &c.after)).collect();
                self.update_user(email, &fields, *adopt).await
            }
            Action::DisableUser { email } => {
                self.update_user(email, &[(&Field::Disabled, &Value::Bool(true))], false)
                    .await
            }
            Action::DeleteUser { email } => {
                let id = self.user_id(email)?;
                self.api
                    .write(Method::DELETE, &format!("/api/users/{}", id.0), None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Applied::Done)
            }
            Action::Link { .. } | Action::Unlink { .. } => {
                Err("internal error: links are applied in batches".into())
            }
        }
    }

    async fn create_user(
        &self,
        email: &str,
        fields: &BTreeMap<Field, Value>,
        managed_by: Option<&str>,
    ) -> Outcome {
        let password = random_password();
        let mut body = Map::new();
        body.insert("email".into(), json!(email.trim()));
        // `name` is NOT NULL in Traccar; a file without a name gets the email as the name.
        body.insert("name".into(), json!(email.trim()));
        // Sent explicitly: Traccar's Java default for deviceLimit is 0, not the DB's -1.
        body.insert("deviceLimit".into(), json!(0));
        body.insert("userLimit".into(), json!(0));
        body.insert("attributes".into(), json!({}));
        wire::set_fields(&mut body, fields);
        let fleet = self.ids().fleet.clone();
        wire::set_marker(&mut body, &fleet);
        body.insert("password".into(), json!(password.expose()));
        let created: Map<String, Json> = self
            .api
            .post("/api/users", &Json::Object(body))
            .await
            .map_err(|e| e.to_string())?;
        let id = id_of(&created).ok_or("POST /api/users -> 200: the answer has no id")?;
        self.ids().users.insert(UserKey::new(email), id);
        if managed_by.is_some() {
            let manager = self
                .ids()
                .manager
                .ok_or("the manager account is not known on the server")?;
            self.api
                .write(
                    Method::POST,
                    "/api/permissions",
                    Some(&json!({"userId": manager.0, "managedUserId": id.0})),
                )
                .await
                .map_err(|e| format!("user created, but linking it to its manager failed: {e}"))?;
        }
        Ok(Applied::Created { password })
    }

    /// Read-modify-write: Traccar's PUT replaces the whole object, so the current object is
    /// read right before the write and only the managed keys change.
    async fn update_user(&self, email: &str, fields: &[(&Field, &Value)], adopt: bool) -> Outcome {
        let id = self.user_id(email)?;
        let path = format!("/api/users/{}", id.0);
        let mut user: Map<String, Json> =
            self.api.get(&path, &[]).await.map_err(|e| e.to_string())?;
        wire::set_fields(&mut user, fields.iter().copied());
        if adopt {
            let fleet = self.ids().fleet.clone();
            wire::set_marker(&mut user, &fleet);
        }
        // GET answers `"password": null`; sending nothing keeps the stored password.
        user.remove("password");
        self.api
            .write(Method::PUT, &path, Some(&Json::Object(user)))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Applied::Done)
    }

    /// The permission object of a link: owner key first, as Traccar requires.
    fn link_body(&self, action: &Action) -> Result<(LinkKind, Json), String> {
        let (email, kind, target) = match action {
            Action::Link {
                email,
                kind,
                target,
            }
            | Action::Unlink {
                email,
                kind,
                target,
            } => (email, *kind, target),
            _ => return Err("internal error: not a link".into()),
        };
        let user = self.user_id(email)?;
        let ids = self.ids();
        let (key, id) = match kind {
            LinkKind::Device => (
                "deviceId",
                ids.devices
                    .get(target)
                    .ok_or_else(|| format!("device {target} is not known on the server"))?,
            ),
            LinkKind::Group => (
                "groupId",
                ids.groups
                    .get(target)
                    .ok_or_else(|| format!("group {target} is not known on the server"))?,
            ),
        };
        let mut body = Map::new();
        body.insert("userId".into(), json!(user.0));
        body.insert(key.into(), json!(id.0));
        Ok((kind, Json::Object(body)))
    }

    /// Applies links and unlinks in `/api/permissions/bulk` batches of one key set. Bulk is not
    /// transactional on Traccar: when a batch fails, its items are retried one by one, links
    /// with DELETE first so that an item the failed batch did apply is not duplicated.
    async fn apply_links(&self, actions: &[Action], indices: &[usize]) -> Vec<(usize, Outcome)> {
        let mut results = Vec::new();
        let mut batches: BTreeMap<(bool, LinkKind), Vec<(usize, Json)>> = BTreeMap::new();
        let mut relink: Vec<(usize, Json)> = Vec::new();
        for &i in indices {
            let action = &actions[i];
            match self.link_body(action) {
                Err(e) => results.push((i, Err(e))),
                Ok((kind, body)) => {
                    let is_link = matches!(action, Action::Link { .. });
                    let uncertain = is_link
                        && kind == LinkKind::Group
                        && self.ids().uncertain_groups.contains(&(
                            UserKey::new(action.email()),
                            match action {
                                Action::Link { target, .. } => target.clone(),
                                _ => String::new(),
                            },
                        ));
                    if uncertain {
                        relink.push((i, body));
                    } else {
                        batches.entry((is_link, kind)).or_default().push((i, body));
                    }
                }
            }
        }
        // Uncertain group links: delete any existing rows first, then link.
        if !relink.is_empty() {
            let bodies: Vec<Json> = relink.iter().map(|(_, b)| b.clone()).collect();
            let _ = self
                .api
                .write(
                    Method::DELETE,
                    "/api/permissions/bulk",
                    Some(&Json::Array(bodies)),
                )
                .await;
            batches
                .entry((true, LinkKind::Group))
                .or_default()
                .extend(relink);
        }
        let mut chunks: Vec<(bool, Vec<(usize, Json)>)> = Vec::new();
        for ((is_link, _), items) in batches {
            for chunk in items.chunks(self.options.batch_size.max(1)) {
                chunks.push((is_link, chunk.to_vec()));
            }
        }
        let chunk_results: Vec<Vec<(usize, Outcome)>> = stream::iter(chunks)
            .map(|(is_link, chunk)| async move { self.apply_link_chunk(is_link, chunk).await })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        results.extend(chunk_results.into_iter().flatten());
        results
    }

    async fn apply_link_chunk(
        &self,
        is_link: bool,
        chunk: Vec<(usize, Json)>,
    ) -> Vec<(usize, Outcome)> {
        let method = if is_link {
            Method::POST
        } else {
            Method::DELETE
        };
        let bodies: Vec<Json> = chunk.iter().map(|(_, b)| b.clone()).collect();
        let bulk = self
            .api
            .write(
                method.clone(),
                "/api/permissions/bulk",
                Some(&Json::Array(bodies)),
            )
            .await;
        match bulk {
            Ok(()) => chunk
                .into_iter()
                .map(|(i, _)| (i, Ok(Applied::Done)))
                .collect(),
            Err(_) => {
                let mut out = Vec::with_capacity(chunk.len());
                for (i, body) in chunk {
                    out.push((i, self.apply_single_link(is_link, &body).await));
                }
                out
            }
        }
    }

    async fn apply_single_link(&self, is_link: bool, body: &Json) -> Outcome {
        let result: Result<(), ApiError> = async {
            // DELETE is a no-op when missing and removes duplicates; it makes the retry exact.
            self.api
                .write(Method::DELETE, "/api/permissions", Some(body))
                .await?;
            if is_link {
                self.api
                    .write(Method::POST, "/api/permissions", Some(body))
                    .await?;
            }
            Ok(())
        }
        .await;
        result.map(|()| Applied::Done).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("6.14.5"), Version(6, 14, 5));
        assert_eq!(Version::parse("6.9.1"), Version(6, 9, 1));
        assert_eq!(Version::parse("5.12"), Version(5, 12, 0));
        assert_eq!(Version::parse("6.14.5-116-g9e5c458ad"), Version(6, 14, 5));
        assert!(Version::parse("6.10.0") > Version::parse("6.9.1"));
        assert_eq!(Version::parse("unknown"), Version(0, 0, 0));
    }

    #[test]
    fn passwords_are_long_and_random() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= 22, "at least 128 bits of base64");
    }

    #[test]
    fn roles_follow_traccar() {
        let admin = json!({"administrator": true, "userLimit": 0});
        let manager = json!({"administrator": false, "userLimit": -1});
        let user = json!({"administrator": false, "userLimit": 0});
        for (j, r) in [
            (admin, Role::Admin),
            (manager, Role::Manager),
            (user, Role::User),
        ] {
            let Json::Object(m) = j else { unreachable!() };
            assert_eq!(role_of(&m), r);
        }
    }
}
