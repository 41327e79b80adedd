//! The in-memory "database": users, devices and groups tables with per-table id sequences, the
//! server settings row, the `notificator.types` config, and link tables kept as **multisets**
//! (Traccar's link tables have no unique constraint, so re-POSTing a link adds a duplicate
//! row). The tables of the other object kinds (geofences, notifications, ...) live in
//! `objects/`, inside this store.
//!
//! The store enforces only what the database enforces (NOT NULL, UNIQUE, foreign keys,
//! cascades); who may do what lives in `rules.rs`. Sequences advance on every insert attempt,
//! so a failed insert consumes an id as on H2. Passwords are kept as salted SHA-256 hashes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use super::objects::Objects;
use super::version::TraccarVersion;

/// A salted password hash. The plain password is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    salt: String,
    hash: String,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    pub fn new(password: &str) -> PasswordHash {
        let salt = hex::encode(rand::random::<[u8; 16]>());
        let hash = Self::digest(&salt, password);
        PasswordHash { salt, hash }
    }

    fn digest(salt: &str, password: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(salt.as_bytes());
        hasher.update(b":");
        hasher.update(password.as_bytes());
        hex::encode(hasher.finalize())
    }

    pub fn verify(&self, password: &str) -> bool {
        let candidate = Self::digest(&self.salt, password);
        candidate.len() == self.hash.len()
            && candidate
                .bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A row of `tc_users`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: Option<String>,
    pub login: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub readonly: bool,
    pub administrator: bool,
    pub map: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    pub zoom: i64,
    pub coordinate_format: Option<String>,
    pub disabled: bool,
    pub expiration_time: Option<DateTime<Utc>>,
    pub device_limit: i64,
    pub user_limit: i64,
    pub device_readonly: bool,
    pub limit_commands: bool,
    pub disable_reports: bool,
    pub fixed_email: bool,
    pub poi_layer: Option<String>,
    pub totp_key: Option<String>,
    pub temporary: bool,
    /// Only known to v6.1 and older (removed in v6.2).
    pub twelve_hour_format: bool,
    pub attributes: Map<String, Value>,
    pub password: Option<PasswordHash>,
}

impl User {
    /// A manager is a user with `userLimit != 0`.
    pub fn manager(&self) -> bool {
        self.user_limit != 0
    }
}

/// A row of `tc_devices`. `status`, `lastUpdate` and `positionId` are never stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub id: i64,
    pub name: Option<String>,
    pub unique_id: Option<String>,
    pub group_id: i64,
    pub calendar_id: i64,
    pub phone: Option<String>,
    pub model: Option<String>,
    pub contact: Option<String>,
    pub category: Option<String>,
    pub disabled: bool,
    pub expiration_time: Option<DateTime<Utc>>,
    pub attributes: Map<String, Value>,
}

/// A row of `tc_groups`; `group_id` is the parent (0 = none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: Option<String>,
    pub group_id: i64,
    pub attributes: Map<String, Value>,
}

/// The single row of `tc_servers`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSettings {
    pub registration: bool,
    pub readonly: bool,
    pub device_readonly: bool,
    pub map: Option<String>,
    pub bing_key: Option<String>,
    pub map_url: Option<String>,
    pub overlay_url: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    pub zoom: i64,
    /// Only on servers before 6.0.
    pub twelve_hour_format: bool,
    pub force_settings: bool,
    pub coordinate_format: Option<String>,
    pub limit_commands: bool,
    pub disable_reports: bool,
    pub fixed_email: bool,
    pub poi_layer: Option<String>,
    pub announcement: Option<String>,
    pub attributes: Map<String, Value>,
}

pub use crate::object_type::ObjectType;

/// A row of `tc_actions`, Traccar's audit log (v6.7+; `LogAction`). Written by the routes, read
/// by `GET /api/audit`.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub time: DateTime<Utc>,
    /// The caller's address (`X-Forwarded-For`'s first entry, else the peer's).
    pub address: String,
    /// The acting user; 0 = anonymous (registration).
    pub user_id: i64,
    /// `create`, `edit`, `remove`, `link` or `unlink`.
    pub action_type: &'static str,
    /// The object's class, decapitalized (`user`, `device`, `group`, `managedUser`); for a link,
    /// the property side.
    pub object_type: String,
    pub object_id: i64,
    /// For a link or unlink: the owner side's type and id (`attributes.ownerType`/`ownerId`).
    pub owner: Option<(String, i64)>,
}

/// A link table: `(owner, property)` pairs with multiplicities (duplicate rows are kept).
#[derive(Clone, Debug, Default)]
pub struct LinkTable {
    by_owner: BTreeMap<i64, BTreeMap<i64, u32>>,
    by_property: BTreeMap<i64, BTreeMap<i64, u32>>,
}

impl LinkTable {
    /// Inserts one row (a duplicate when the pair exists).
    pub fn insert(&mut self, owner: i64, property: i64) {
        *self
            .by_owner
            .entry(owner)
            .or_default()
            .entry(property)
            .or_insert(0) += 1;
        *self
            .by_property
            .entry(property)
            .or_default()
            .entry(owner)
            .or_insert(0) += 1;
    }

    /// Deletes every row of the pair; a missing pair is a no-op.
    pub fn remove(&mut self, owner: i64, property: i64) {
        if let Some(m) = self.by_owner.get_mut(&owner) {
            m.remove(&property);
            if m.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
        if let Some(m) = self.by_property.get_mut(&property) {
            m.remove(&owner);
            if m.is_empty() {
                self.by_property.remove(&property);
            }
        }
    }

    pub fn contains(&self, owner: i64, property: i64) -> bool {
        self.by_owner
            .get(&owner)
            .is_some_and(|m| m.contains_key(&property))
    }

    /// Distinct properties linked from `owner`.
    pub fn properties(&self, owner: i64) -> BTreeSet<i64> {
        self.by_owner
            .get(&owner)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Distinct owners linked to `property`.
    pub fn owners(&self, property: i64) -> BTreeSet<i64> {
        self.by_property
            .get(&property)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    fn remove_owner(&mut self, owner: i64) {
        for property in self.properties(owner) {
            self.remove(owner, property);
        }
    }

    fn remove_property(&mut self, property: i64) {
        for owner in self.owners(property) {
            self.remove(owner, property);
        }
    }

    /// Every row, duplicates repeated, ordered by owner then property.
    pub fn rows(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for (owner, props) in &self.by_owner {
            for (property, count) in props {
                for _ in 0..*count {
                    out.push((*owner, *property));
                }
            }
        }
        out
    }

    /// Number of rows, duplicates included.
    pub fn len(&self) -> usize {
        self.by_owner
            .values()
            .flat_map(|m| m.values())
            .map(|c| *c as usize)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_owner.is_empty()
    }
}

/// The whole in-memory database.
#[derive(Debug, Default)]
pub struct Store {
    pub(crate) users: BTreeMap<i64, User>,
    pub(crate) devices: BTreeMap<i64, Device>,
    pub(crate) groups: BTreeMap<i64, Group>,
    pub(crate) server: ServerSettings,
    /// Link tables keyed by (owner storage name, property storage name), e.g. ("user", "device").
    links: BTreeMap<(&'static str, &'static str), LinkTable>,
    last_user_id: i64,
    last_device_id: i64,
    last_group_id: i64,
    /// Lower-cased email and login -> user ids (lookups for login and the unique check).
    email_index: BTreeMap<String, BTreeSet<i64>>,
    login_index: BTreeMap<String, BTreeSet<i64>>,
    /// Exact uniqueId -> device id.
    unique_id_index: BTreeMap<String, i64>,
    /// The statements quoted in H2 errors.
    sql: Statements,
    /// `tc_actions`, oldest first.
    pub(crate) actions: Vec<Action>,
    /// Geofences, notifications, calendars, computed attributes, drivers, saved commands and
    /// maintenance (`objects/`).
    pub(crate) objects: Objects,
    /// The imitated release (the SQL quoted in errors depends on it).
    pub(crate) version: TraccarVersion,
    /// Traccar's `notificator.types` config; empty = Traccar's default.
    notificators: Vec<String>,
}

/// Traccar's default `notificator.types` (`Keys.NOTIFICATOR_TYPES`).
const DEFAULT_NOTIFICATORS: [&str; 3] = ["web", "mail", "command"];

/// The SQL Traccar writes for users, devices and groups, as its H2 errors quote it. The column
/// order is the model's getter order as that release's reflection returns it, so it differs
/// per release (seen on real 5.12 and 6.14.4; 6.9 as the notes derive it).
#[derive(Debug, Clone, Copy)]
struct Statements {
    user_insert: &'static str,
    user_update: &'static str,
    device_insert: &'static str,
    device_update: &'static str,
    group_insert: &'static str,
    group_update: &'static str,
}

const SQL_6_9: Statements = Statements {
    user_insert: "INSERT INTO tc_users(temporary, poiLayer, latitude, login, fixedEmail, administrator, readonly, disabled, userLimit, map, email, longitude, deviceReadonly, disableReports, zoom, coordinateFormat, phone, limitCommands, expirationTime, name, attributes, totpKey, deviceLimit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    user_update: "UPDATE tc_users SET name = ?, login = ?, email = ?, phone = ?, readonly = ?, administrator = ?, map = ?, latitude = ?, longitude = ?, zoom = ?, coordinateFormat = ?, disabled = ?, expirationTime = ?, deviceLimit = ?, userLimit = ?, deviceReadonly = ?, limitCommands = ?, disableReports = ?, fixedEmail = ?, poiLayer = ?, totpKey = ?, temporary = ?, attributes = ? WHERE id = ?",
    device_insert: "INSERT INTO tc_devices(groupId, calendarId, phone, expirationTime, contact, name, disabled, model, attributes, category, uniqueId) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    device_update: "UPDATE tc_devices SET groupId = ?, calendarId = ?, phone = ?, expirationTime = ?, contact = ?, name = ?, disabled = ?, model = ?, attributes = ?, category = ?, uniqueId = ? WHERE id = ?",
    group_insert: "INSERT INTO tc_groups(name, groupId, attributes) VALUES (?, ?, ?)",
    group_update: "UPDATE tc_groups SET name = ?, groupId = ?, attributes = ? WHERE id = ?",
};

const SQL_6_14: Statements = Statements {
    user_insert: "INSERT INTO tc_users(temporary, poiLayer, latitude, login, administrator, fixedEmail, readonly, disabled, userLimit, map, email, longitude, deviceReadonly, disableReports, zoom, coordinateFormat, phone, limitCommands, expirationTime, name, attributes, totpKey, deviceLimit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    user_update: "UPDATE tc_users SET temporary = ?, poiLayer = ?, latitude = ?, login = ?, administrator = ?, fixedEmail = ?, readonly = ?, disabled = ?, userLimit = ?, map = ?, email = ?, longitude = ?, deviceReadonly = ?, disableReports = ?, zoom = ?, coordinateFormat = ?, phone = ?, limitCommands = ?, expirationTime = ?, name = ?, attributes = ?, totpKey = ?, deviceLimit = ? WHERE id = ?",
    device_insert: "INSERT INTO tc_devices(groupId, contact, disabled, model, calendarId, phone, expirationTime, name, attributes, category, uniqueId) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    device_update: "UPDATE tc_devices SET groupId = ?, contact = ?, disabled = ?, model = ?, calendarId = ?, phone = ?, expirationTime = ?, name = ?, attributes = ?, category = ?, uniqueId = ? WHERE id = ?",
    group_insert: "INSERT INTO tc_groups(groupId, name, attributes) VALUES (?, ?, ?)",
    group_update: "UPDATE tc_groups SET groupId = ?, name = ?, attributes = ? WHERE id = ?",
};

const SQL_5_12: Statements = Statements {
    user_insert: "INSERT INTO tc_users(name, map, login, totpKey, latitude, longitude, email, phone, administrator, disabled, expirationTime, deviceLimit, userLimit, temporary, readonly, deviceReadonly, zoom, twelveHourFormat, coordinateFormat, limitCommands, disableReports, fixedEmail, poiLayer, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    user_update: "UPDATE tc_users SET name = ?, map = ?, login = ?, totpKey = ?, latitude = ?, longitude = ?, readonly = ?, deviceReadonly = ?, zoom = ?, twelveHourFormat = ?, coordinateFormat = ?, limitCommands = ?, disableReports = ?, fixedEmail = ?, poiLayer = ?, email = ?, phone = ?, administrator = ?, disabled = ?, expirationTime = ?, deviceLimit = ?, userLimit = ?, temporary = ?, attributes = ? WHERE id = ?",
    device_insert: "INSERT INTO tc_devices(category, name, calendarId, phone, disabled, expirationTime, model, uniqueId, contact, groupId, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    device_update: "UPDATE tc_devices SET category = ?, name = ?, calendarId = ?, phone = ?, disabled = ?, expirationTime = ?, model = ?, uniqueId = ?, contact = ?, groupId = ?, attributes = ? WHERE id = ?",
    group_insert: "INSERT INTO tc_groups(name, groupId, attributes) VALUES (?, ?, ?)",
    group_update: "UPDATE tc_groups SET name = ?, groupId = ?, attributes = ? WHERE id = ?",
};

impl Default for Statements {
    fn default() -> Self {
        SQL_6_9
    }
}

impl Store {
    /// Quotes the SQL of `version` in its errors (the column order differs per release).
    pub fn set_version(&mut self, version: TraccarVersion) {
        self.version = version;
        self.sql = match version {
            TraccarVersion::V5_12 => SQL_5_12,
            TraccarVersion::V6_9 => SQL_6_9,
            TraccarVersion::V6_14 => SQL_6_14,
        };
    }

    pub fn new(registration: bool) -> Store {
        Store {
            server: ServerSettings {
                registration,
                ..ServerSettings::default()
            },
            ..Store::default()
        }
    }

    // ---- reads ----

    pub fn user(&self, id: i64) -> Option<&User> {
        self.users.get(&id)
    }
    pub fn device(&self, id: i64) -> Option<&Device> {
        self.devices.get(&id)
    }
    pub fn group(&self, id: i64) -> Option<&Group> {
        self.groups.get(&id)
    }
    /// Changes a stored user in place (seeding; no checks). Returns false when it does not exist.
    pub fn modify_user(&mut self, id: i64, f: impl FnOnce(&mut User)) -> bool {
        let Some(mut user) = self.users.get(&id).cloned() else {
            return false;
        };
        self.unindex_user(id);
        f(&mut user);
        user.id = id;
        self.index_user(&user);
        self.users.insert(id, user);
        true
    }
    /// Changes a stored device in place (seeding; no checks). Returns false when it does not exist.
    pub fn modify_device(&mut self, id: i64, f: impl FnOnce(&mut Device)) -> bool {
        let Some(mut device) = self.devices.get(&id).cloned() else {
            return false;
        };
        self.unindex_device(id);
        f(&mut device);
        device.id = id;
        self.index_device(&device);
        self.devices.insert(id, device);
        true
    }
    /// Changes a stored group in place (seeding; no checks). Returns false when it does not exist.
    pub fn modify_group(&mut self, id: i64, f: impl FnOnce(&mut Group)) -> bool {
        match self.groups.get_mut(&id) {
            Some(group) => {
                f(group);
                group.id = id;
                true
            }
            None => false,
        }
    }

    /// Users whose email or login equals `identifier` ignoring case, lowest id first.
    pub fn users_by_identifier(&self, identifier: &str) -> Vec<&User> {
        let key = identifier.to_lowercase();
        let mut ids: BTreeSet<i64> = self.email_index.get(&key).cloned().unwrap_or_default();
        ids.extend(self.login_index.get(&key).into_iter().flatten());
        ids.iter().filter_map(|id| self.users.get(id)).collect()
    }

    /// The device with exactly this uniqueId.
    pub fn device_by_unique_id(&self, unique_id: &str) -> Option<&Device> {
        self.unique_id_index
            .get(unique_id)
            .and_then(|id| self.devices.get(id))
    }

    fn index_user(&mut self, user: &User) {
        if let Some(email) = &user.email {
            self.email_index
                .entry(email.to_lowercase())
                .or_default()
                .insert(user.id);
        }
        if let Some(login) = &user.login {
            self.login_index
                .entry(login.to_lowercase())
                .or_default()
                .insert(user.id);
        }
    }

    fn unindex_user(&mut self, id: i64) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        for (index, key) in [
            (&mut self.email_index, &user.email),
            (&mut self.login_index, &user.login),
        ] {
            if let Some(key) = key {
                let key = key.to_lowercase();
                if let Some(ids) = index.get_mut(&key) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        index.remove(&key);
                    }
                }
            }
        }
    }

    fn index_device(&mut self, device: &Device) {
        if let Some(unique_id) = &device.unique_id {
            self.unique_id_index.insert(unique_id.clone(), device.id);
        }
    }

    fn unindex_device(&mut self, id: i64) {
        if let Some(unique_id) = self.devices.get(&id).and_then(|d| d.unique_id.clone())
            && self.unique_id_index.get(&unique_id) == Some(&id)
        {
            self.unique_id_index.remove(&unique_id);
        }
    }
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }
    pub fn server(&self) -> &ServerSettings {
        &self.server
    }
    pub fn server_mut(&mut self) -> &mut ServerSettings {
        &mut self.server
    }

    /// The configured notificators (`notificator.types`), Traccar's default `web,mail,command`
    /// unless [`Store::set_notificators`] changed them. Notifications may name others; they are
    /// stored and never fire.
    pub fn notificators(&self) -> Vec<String> {
        if self.notificators.is_empty() {
            DEFAULT_NOTIFICATORS.iter().map(|n| n.to_string()).collect()
        } else {
            self.notificators.clone()
        }
    }

    /// Sets `notificator.types` (the real servers of `shared/real-traccar/` run with `web`
    /// only); an empty list restores the default.
    pub fn set_notificators(&mut self, notificators: &[&str]) {
        self.notificators = notificators.iter().map(|n| n.to_string()).collect();
    }

    /// Whether an object of `kind` with `id` exists (orders and scheduled reports, which the
    /// sandbox does not model, never do).
    pub fn exists(&self, kind: ObjectType, id: i64) -> bool {
        match kind {
            ObjectType::User | ObjectType::ManagedUser => self.users.contains_key(&id),
            ObjectType::Device | ObjectType::LinkedDevice => self.devices.contains_key(&id),
            ObjectType::Group => self.groups.contains_key(&id),
            other => self.objects.contains(other, id),
        }
    }

    /// Removes every link row naming object `kind`/`id` on either side (the link tables'
    /// `ON DELETE CASCADE`).
    pub(crate) fn remove_links_of(&mut self, kind: ObjectType, id: i64) {
        let name = kind.storage_name();
        for ((owner, property), table) in self.links.iter_mut() {
            if *owner == name {
                table.remove_owner(id);
            }
            if *property == name {
                table.remove_property(id);
            }
        }
    }

    /// The link table between two storage names, if any rows were ever written.
    pub fn links(&self, owner: ObjectType, property: ObjectType) -> Option<&LinkTable> {
        self.links
            .get(&(owner.storage_name(), property.storage_name()))
    }

    /// Distinct properties linked from `owner_id` (e.g. the devices directly linked to a user).
    pub fn linked(&self, owner: ObjectType, owner_id: i64, property: ObjectType) -> BTreeSet<i64> {
        self.links(owner, property)
            .map(|t| t.properties(owner_id))
            .unwrap_or_default()
    }

    /// Distinct owners linking to `property_id` (e.g. the users directly linked to a device).
    pub fn linked_to(
        &self,
        owner: ObjectType,
        property: ObjectType,
        property_id: i64,
    ) -> BTreeSet<i64> {
        self.links(owner, property)
            .map(|t| t.owners(property_id))
            .unwrap_or_default()
    }

    pub fn is_linked(
        &self,
        owner: ObjectType,
        owner_id: i64,
        property: ObjectType,
        property_id: i64,
    ) -> bool {
        self.links(owner, property)
            .is_some_and(|t| t.contains(owner_id, property_id))
    }

    // ---- users ----

    /// Inserts a user as `INSERT INTO tc_users` would: NOT NULL name and email, unique email
    /// (case-sensitive, as on H2). The id is consumed even when the insert fails.
    pub fn insert_user(&mut self, mut user: User) -> Result<i64, ApiError> {
        self.last_user_id += 1;
        let id = self.last_user_id;
        self.check_user_columns(&user, 0, self.sql.user_insert)?;
        user.id = id;
        self.index_user(&user);
        self.users.insert(id, user);
        Ok(id)
    }

    /// `UPDATE tc_users SET <every column> WHERE id = ?`; the password hash is kept unless
    /// `password` is given. Updating a missing row changes nothing.
    pub fn update_user(
        &mut self,
        mut user: User,
        password: Option<PasswordHash>,
    ) -> Result<(), ApiError> {
        self.check_user_columns(&user, user.id, self.sql.user_update)?;
        if let Some(old) = self.users.get(&user.id) {
            user.password = password.or_else(|| old.password.clone());
            self.unindex_user(user.id);
            self.index_user(&user);
            self.users.insert(user.id, user);
        }
        Ok(())
    }

    fn check_user_columns(
        &self,
        user: &User,
        own_id: i64,
        statement: &str,
    ) -> Result<(), ApiError> {
        if user.name.is_none() {
            return Err(ApiError::not_null("NAME", statement));
        }
        let Some(email) = user.email.as_deref() else {
            return Err(ApiError::not_null("EMAIL", statement));
        };
        // Through the lower-cased index, then exact: H2's unique index is case-sensitive.
        if let Some(existing) = self
            .email_index
            .get(&email.to_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|id| self.users.get(id))
            .find(|u| u.id != own_id && u.email.as_deref() == Some(email))
        {
            return Err(ApiError::unique(
                "CONSTRAINT_9_INDEX_1",
                "TC_USERS(EMAIL",
                existing.id,
                email,
                statement,
            ));
        }
        Ok(())
    }

    /// Deletes a user and, by cascade, every link row on either side. Devices and groups it
    /// created stay. A missing id is a no-op.
    pub fn delete_user(&mut self, id: i64) {
        self.unindex_user(id);
        if self.users.remove(&id).is_none() {
            return;
        }
        self.remove_links_of(ObjectType::User, id);
    }

    // ---- devices ----

    pub fn insert_device(&mut self, mut device: Device) -> Result<i64, ApiError> {
        self.last_device_id += 1;
        let id = self.last_device_id;
        self.check_device_columns(&device, 0, self.sql.device_insert)?;
        device.id = id;
        self.index_device(&device);
        self.devices.insert(id, device);
        Ok(id)
    }

    pub fn update_device(&mut self, device: Device) -> Result<(), ApiError> {
        self.check_device_columns(&device, device.id, self.sql.device_update)?;
        if self.devices.contains_key(&device.id) {
            self.unindex_device(device.id);
            self.index_device(&device);
            self.devices.insert(device.id, device);
        }
        Ok(())
    }

    fn check_device_columns(
        &self,
        device: &Device,
        own_id: i64,
        statement: &str,
    ) -> Result<(), ApiError> {
        if device.name.is_none() {
            return Err(ApiError::not_null("NAME", statement));
        }
        let Some(unique_id) = device.unique_id.as_deref() else {
            return Err(ApiError::not_null("UNIQUEID", statement));
        };
        if let Some(existing) = self
            .unique_id_index
            .get(unique_id)
            .filter(|id| **id != own_id)
        {
            return Err(ApiError::unique(
                "CONSTRAINT_A_INDEX_6",
                "TC_DEVICES(UNIQUEID",
                *existing,
                unique_id,
                statement,
            ));
        }
        if device.group_id != 0 && !self.groups.contains_key(&device.group_id) {
            return Err(ApiError::foreign_key(
                "FK_DEVICES_GROUPID",
                "TC_DEVICES",
                "GROUPID",
                "TC_GROUPS",
                device.group_id,
                statement,
            ));
        }
        if device.calendar_id != 0 && !self.exists(ObjectType::Calendar, device.calendar_id) {
            return Err(ApiError::foreign_key(
                "FK_DEVICES_CALENDARID",
                "TC_DEVICES",
                "CALENDARID",
                "TC_CALENDARS",
                device.calendar_id,
                statement,
            ));
        }
        Ok(())
    }

    pub fn delete_device(&mut self, id: i64) {
        self.unindex_device(id);
        if self.devices.remove(&id).is_none() {
            return;
        }
        self.remove_links_of(ObjectType::Device, id);
    }

    // ---- groups ----

    pub fn insert_group(&mut self, mut group: Group) -> Result<i64, ApiError> {
        self.last_group_id += 1;
        let id = self.last_group_id;
        self.check_group_columns(&group, self.sql.group_insert)?;
        group.id = id;
        self.groups.insert(id, group);
        Ok(id)
    }

    pub fn update_group(&mut self, group: Group) -> Result<(), ApiError> {
        self.check_group_columns(&group, self.sql.group_update)?;
        if self.groups.contains_key(&group.id) {
            self.groups.insert(group.id, group);
        }
        Ok(())
    }

    fn check_group_columns(&self, group: &Group, statement: &str) -> Result<(), ApiError> {
        if group.name.is_none() {
            return Err(ApiError::not_null("NAME", statement));
        }
        if group.group_id != 0 && !self.groups.contains_key(&group.group_id) {
            return Err(ApiError::foreign_key(
                "FK_GROUPS_GROUPID",
                "TC_GROUPS",
                "GROUPID",
                "TC_GROUPS",
                group.group_id,
                statement,
            ));
        }
        Ok(())
    }

    /// Deletes a group: its devices and child groups get `groupId = 0` (ON DELETE SET NULL), its
    /// link rows cascade away.
    pub fn delete_group(&mut self, id: i64) {
        if self.groups.remove(&id).is_none() {
            return;
        }
        for device in self.devices.values_mut().filter(|d| d.group_id == id) {
            device.group_id = 0;
        }
        for group in self.groups.values_mut().filter(|g| g.group_id == id) {
            group.group_id = 0;
        }
        self.remove_links_of(ObjectType::Group, id);
    }

    // ---- links ----

    /// Inserts one link row with foreign-key checks (owner first, as H2 reports them).
    /// The caller has already checked that the table exists.
    pub fn insert_link(
        &mut self,
        owner: ObjectType,
        owner_id: i64,
        property: ObjectType,
        property_id: i64,
    ) -> Result<(), ApiError> {
        let table = format!("tc_{}_{}", owner.storage_name(), property.storage_name());
        let statement = format!("INSERT INTO {table} VALUES (?, ?)");
        for (kind, id) in [(owner, owner_id), (property, property_id)] {
            if !self.exists(kind, id) {
                let column = kind.column().to_uppercase();
                return Err(ApiError::foreign_key(
                    &format!(
                        "FK_{}_{}_{}",
                        owner.storage_name(),
                        property.storage_name(),
                        column
                    )
                    .to_uppercase(),
                    &table.to_uppercase(),
                    &column,
                    &kind.table().to_uppercase(),
                    id,
                    &statement,
                ));
            }
        }
        self.links
            .entry((owner.storage_name(), property.storage_name()))
            .or_default()
            .insert(owner_id, property_id);
        Ok(())
    }

    /// Deletes every row of the pair (no-op when absent).
    pub fn delete_link(
        &mut self,
        owner: ObjectType,
        owner_id: i64,
        property: ObjectType,
        property_id: i64,
    ) {
        if let Some(table) = self
            .links
            .get_mut(&(owner.storage_name(), property.storage_name()))
        {
            table.remove(owner_id, property_id);
        }
    }

    // ---- seeding helpers (in-process, no permission checks) ----

    /// Adds a user with the given password (none: cannot log in). Returns its id.
    /// A duplicate email returns the storage error, as over HTTP.
    pub fn add_user(
        &mut self,
        name: &str,
        email: &str,
        password: Option<&str>,
    ) -> Result<i64, ApiError> {
        self.insert_user(User {
            name: Some(name.to_string()),
            email: Some(email.to_string()),
            password: password.map(PasswordHash::new),
            ..User::default()
        })
    }

    /// Adds an administrator (deviceLimit -1) with a password. Returns its id.
    pub fn add_admin(&mut self, name: &str, email: &str, password: &str) -> Result<i64, ApiError> {
        self.insert_user(User {
            name: Some(name.to_string()),
            email: Some(email.to_string()),
            administrator: true,
            device_limit: -1,
            password: Some(PasswordHash::new(password)),
            ..User::default()
        })
    }

    /// Adds a device (optionally in a group). Returns its id.
    pub fn add_device(
        &mut self,
        name: &str,
        unique_id: &str,
        group_id: i64,
    ) -> Result<i64, ApiError> {
        self.insert_device(Device {
            name: Some(name.to_string()),
            unique_id: Some(unique_id.to_string()),
            group_id,
            ..Device::default()
        })
    }

    /// Adds a group under `parent` (0 = top level). Returns its id.
    pub fn add_group(&mut self, name: &str, parent: i64) -> Result<i64, ApiError> {
        self.insert_group(Group {
            name: Some(name.to_string()),
            group_id: parent,
            ..Group::default()
        })
    }

    /// Links a user to a device (`tc_user_device`).
    pub fn link_user_device(&mut self, user_id: i64, device_id: i64) -> Result<(), ApiError> {
        self.insert_link(ObjectType::User, user_id, ObjectType::Device, device_id)
    }

    /// Links a user to a group (`tc_user_group`).
    pub fn link_user_group(&mut self, user_id: i64, group_id: i64) -> Result<(), ApiError> {
        self.insert_link(ObjectType::User, user_id, ObjectType::Group, group_id)
    }

    /// Makes `manager_id` manage `user_id` (`tc_user_user`).
    pub fn link_managed_user(&mut self, manager_id: i64, user_id: i64) -> Result<(), ApiError> {
        self.insert_link(
            ObjectType::User,
            manager_id,
            ObjectType::ManagedUser,
            user_id,
        )
    }

    /// Sets a user's password (hashed).
    pub fn set_password(&mut self, user_id: i64, password: &str) {
        if let Some(user) = self.users.get_mut(&user_id) {
            user.password = Some(PasswordHash::new(password));
        }
    }

    /// Makes a user a manager with the given limits (seeding shortcut).
    pub fn set_limits(&mut self, user_id: i64, device_limit: i64, user_limit: i64) -> bool {
        self.modify_user(user_id, |u| {
            u.device_limit = device_limit;
            u.user_limit = user_limit;
        })
    }
}
