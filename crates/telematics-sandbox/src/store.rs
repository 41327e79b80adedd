//! The sandbox's database: one company, its applications and instances (user groups), the
//! users registered under them, and the sandbox clock. Everything lives in memory and dies with
//! its [`Sandbox`](crate::Sandbox).
//!
//! This file owns the data and the invariants that do not depend on HTTP: DeviceTokens are
//! unique (stored lower-case, compared case-insensitively, as UUIDs are), every user belongs to
//! exactly one existing instance, and creation order is kept for stable sorting. It knows
//! nothing of wire formats (`wire.rs`) or of who may do what (`routes/`). ClientIds are *not*
//! unique: nothing says the service enforces it (notes §8.3), so duplicates can be stored and
//! seeded, and a client must detect them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};

/// The default avatar the service puts in `UserProfile.ImageUrl` of every new user (the live
/// samples in the notes' sources show this URL); a client must not diff it (notes §8.4).
pub const DEFAULT_IMAGE_URL: &str =
    "https://user.telematicssdk.com/Files/DefaultImages/ic_no_avatar_white.png";

/// A new random UUID (version 4), lower-case, e.g. for [`Store::add_instance`].
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `s` as a canonical lower-case UUID, if it is one (`8-4-4-4-12` hex digits; braces and other
/// .NET spellings are not accepted).
pub fn parse_uuid(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    for (i, c) in bytes.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        if dash != (*c == b'-') || (!dash && !c.is_ascii_hexdigit()) {
            return None;
        }
    }
    Some(s.to_ascii_lowercase())
}

/// The company the admin API credential belongs to (a company cannot be created through the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Company {
    pub id: String,
    pub name: String,
}

/// An application of the company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `"production"`, `"UAT"` or `"test"`.
    pub environment: String,
}

/// An instance (user group) of an application. `id` + `key` are the registration credentials.
/// `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// The InstanceKey: a secret that registration and user login need.
    pub key: String,
    pub name: String,
    pub description: String,
    pub application_id: String,
    pub invite_code: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("application_id", &self.application_id)
            .field("invite_code", &self.invite_code)
            .finish()
    }
}

/// A user's account status. Written as `Active` / `Deactivated` / `Deleted`, read as `Active`
/// for the first and `Inactive` for the two others (notes §5.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    #[default]
    Active,
    Deactivated,
    /// `Status: "Deleted"` written by PUT: a soft state, unlike `DELETE` (notes §5.6).
    Deleted,
}

impl AccountStatus {
    /// The value the service reads back: `Active` or `Inactive`.
    pub fn read_value(self) -> &'static str {
        match self {
            AccountStatus::Active => "Active",
            AccountStatus::Deactivated | AccountStatus::Deleted => "Inactive",
        }
    }
}

/// The data-driven activity status (notes §5.5): derived from trips, never written through the
/// API. Every user the sandbox registers has `NoData`; seed others directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ActivityStatus {
    Active,
    Inactive,
    Lost,
    #[default]
    NoData,
    Error,
}

impl ActivityStatus {
    pub const ALL: [ActivityStatus; 5] = [
        ActivityStatus::Active,
        ActivityStatus::Inactive,
        ActivityStatus::Lost,
        ActivityStatus::NoData,
        ActivityStatus::Error,
    ];

    /// As read: `"No Data"` has a space.
    pub fn read_value(self) -> &'static str {
        match self {
            ActivityStatus::Active => "Active",
            ActivityStatus::Inactive => "Inactive",
            ActivityStatus::Lost => "Lost",
            ActivityStatus::NoData => "No Data",
            ActivityStatus::Error => "Error",
        }
    }

    /// As a `GetFilteredPage` filter value: `"NoData"` has none.
    pub fn filter_value(self) -> &'static str {
        match self {
            ActivityStatus::NoData => "NoData",
            other => other.read_value(),
        }
    }
}

/// `UserProfile.Gender`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Gender {
    #[default]
    None,
    Male,
    Female,
    Other,
}

impl Gender {
    pub const ALL: [Gender; 4] = [Gender::None, Gender::Male, Gender::Female, Gender::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::None => "None",
            Gender::Male => "Male",
            Gender::Female => "Female",
            Gender::Other => "Other",
        }
    }
}

/// `UserProfile`: every field nullable except `Gender`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub gender: Gender,
    /// Read back as a .NET `DateTime` without zone, e.g. `1989-02-17T00:00:00`.
    pub birthday: Option<NaiveDateTime>,
    pub marital_status: Option<String>,
    pub children_count: Option<i32>,
    pub address: Option<String>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub image_url: Option<String>,
    pub external_image_url: Option<String>,
}

/// `UserFields`: the operator's ClientId and the telematics flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserFields {
    pub client_id: Option<String>,
    /// The master switch: `false` deactivates the user (notes §5.7).
    pub enabled: bool,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enable_real_time_location: bool,
}

impl Default for UserFields {
    /// A new user's flags, as the live sample of a freshly registered user shows them: enabled
    /// and tracking, no logging, no real-time location.
    fn default() -> UserFields {
        UserFields {
            client_id: None,
            enabled: true,
            enable_tracking: true,
            enable_logging: false,
            enable_real_time_location: false,
        }
    }
}

/// One registered user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's id, a lower-case UUID.
    pub device_token: String,
    pub instance_id: String,
    pub date_created: NaiveDateTime,
    pub status: AccountStatus,
    pub activity_status: ActivityStatus,
    pub profile: Profile,
    pub identity_id: Option<String>,
    pub identity_provider: Option<String>,
    pub fields: UserFields,
    /// Creation order, the tie-break of every sort.
    pub(crate) seq: u64,
}

impl User {
    /// A user as registration with an empty body makes it: a fresh DeviceToken, active, no
    /// profile but the default avatar, default flags. `date_created` is set when it is added.
    pub fn new(instance_id: &str) -> User {
        User {
            device_token: new_uuid(),
            instance_id: instance_id.to_ascii_lowercase(),
            date_created: NaiveDateTime::default(),
            status: AccountStatus::Active,
            activity_status: ActivityStatus::NoData,
            profile: Profile {
                image_url: Some(DEFAULT_IMAGE_URL.to_string()),
                ..Profile::default()
            },
            identity_id: None,
            identity_provider: None,
            fields: UserFields::default(),
            seq: 0,
        }
    }

    /// Whether the account counts as inactive on read (`Status: "Inactive"`).
    pub fn is_inactive(&self) -> bool {
        self.status != AccountStatus::Active
    }
}

/// Why [`Store::add_user`] refused a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddUserError {
    /// The DeviceToken is not a UUID.
    InvalidDeviceToken,
    /// A user with this DeviceToken exists.
    DuplicateDeviceToken,
    /// No such instance.
    UnknownInstance,
}

impl std::fmt::Display for AddUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddUserError::InvalidDeviceToken => "the DeviceToken is not a UUID",
            AddUserError::DuplicateDeviceToken => "a user with this DeviceToken exists",
            AddUserError::UnknownInstance => "no such instance",
        })
    }
}

impl std::error::Error for AddUserError {}

/// The database.
#[derive(Debug)]
pub struct Store {
    company: Company,
    applications: Vec<Application>,
    instances: Vec<Instance>,
    /// Users by creation order, and the index of their (lower-case) DeviceTokens.
    users: BTreeMap<u64, User>,
    by_token: HashMap<String, u64>,
    next_seq: u64,
    clock_offset: Duration,
}

impl Store {
    pub(crate) fn new(company: Company, application: Application, instance: Instance) -> Store {
        Store {
            company,
            applications: vec![application],
            instances: vec![instance],
            users: BTreeMap::new(),
            by_token: HashMap::new(),
            next_seq: 1,
            clock_offset: Duration::ZERO,
        }
    }

    /// The sandbox's time: the real time plus what [`crate::Sandbox::advance_clock`] added.
    /// Token lifetimes, the login limit and `DateCreated` all use it.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    /// [`Store::now`] as the naive UTC time the service writes (100 ns resolution, as .NET's).
    pub fn now_naive(&self) -> NaiveDateTime {
        let now: DateTime<Utc> = self.now().into();
        let naive = now.naive_utc();
        let nanos = naive.and_utc().timestamp_subsec_nanos();
        naive - chrono::Duration::nanoseconds(i64::from(nanos % 100))
    }

    pub fn company(&self) -> &Company {
        &self.company
    }

    pub fn applications(&self) -> &[Application] {
        &self.applications
    }

    pub fn application(&self, id: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id))
    }

    /// Adds an instance to the first application, with a random id, key and invite code.
    pub fn add_instance(&mut self, name: &str) -> Instance {
        let application_id = self
            .applications
            .first()
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let instance = Instance {
            id: new_uuid(),
            key: new_uuid(),
            name: name.to_string(),
            description: String::new(),
            application_id,
            invite_code: invite_code(),
        };
        self.instances.push(instance.clone());
        instance
    }

    /// Every user, in creation order.
    pub fn users(&self) -> Vec<&User> {
        self.users.values().collect()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The user with this DeviceToken (any case).
    pub fn user(&self, device_token: &str) -> Option<&User> {
        let seq = self.by_token.get(&device_token.to_ascii_lowercase())?;
        self.users.get(seq)
    }

    /// The user with this DeviceToken, to change in place. Its `device_token` must not be
    /// changed (the index would no longer find it).
    pub fn user_mut(&mut self, device_token: &str) -> Option<&mut User> {
        let seq = self.by_token.get(&device_token.to_ascii_lowercase())?;
        self.users.get_mut(seq)
    }

    /// The users whose ClientId is exactly `client_id`, in creation order.
    pub fn users_by_client_id(&self, client_id: &str) -> Vec<&User> {
        self.users()
            .into_iter()
            .filter(|u| u.fields.client_id.as_deref() == Some(client_id))
            .collect()
    }

    /// Adds a user as registration would, without HTTP, checks or rate limits (seeding). Its
    /// `date_created` is now unless already set; returns its DeviceToken.
    pub fn add_user(&mut self, mut user: User) -> Result<String, AddUserError> {
        let token = parse_uuid(&user.device_token).ok_or(AddUserError::InvalidDeviceToken)?;
        if self.by_token.contains_key(&token) {
            return Err(AddUserError::DuplicateDeviceToken);
        }
        let instance = self
            .instance(&user.instance_id)
            .ok_or(AddUserError::UnknownInstance)?;
        user.instance_id = instance.id.clone();
        user.device_token = token.clone();
        if user.date_created == NaiveDateTime::default() {
            user.date_created = self.now_naive();
        }
        user.seq = self.next_seq;
        self.next_seq += 1;
        self.by_token.insert(token.clone(), user.seq);
        self.users.insert(user.seq, user);
        Ok(token)
    }

    /// Removes a user for good (the `DELETE` endpoint); the removed user, if it existed.
    pub fn remove_user(&mut self, device_token: &str) -> Option<User> {
        let seq = self.by_token.remove(&device_token.to_ascii_lowercase())?;
        self.users.remove(&seq)
    }
}

fn invite_code() -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 7] = rand::random();
    bytes
        .iter()
        .map(|b| char::from(LETTERS[usize::from(*b) % LETTERS.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(
            Company {
                id: new_uuid(),
                name: "c".into(),
            },
            Application {
                id: new_uuid(),
                name: "a".into(),
                description: String::new(),
                environment: "production".into(),
            },
            Instance {
                id: "4d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c42".into(),
                key: new_uuid(),
                name: "i".into(),
                description: String::new(),
                application_id: String::new(),
                invite_code: "ABC".into(),
            },
        )
    }

    #[test]
    fn uuids_are_version_4_and_parse_back() {
        let id = new_uuid();
        assert_eq!(parse_uuid(&id), Some(id.clone()));
        assert_eq!(id.as_bytes()[14], b'4');
        assert_eq!(
            parse_uuid("4D3C0F36-7B1E-4A5D-9C2F-5E8A1B6D0C42").as_deref(),
            Some("4d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c42")
        );
        assert_eq!(parse_uuid("4d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c4"), None);
        assert_eq!(parse_uuid("4d3c0f36x7b1e-4a5d-9c2f-5e8a1b6d0c42"), None);
        assert_eq!(parse_uuid("g d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c4"), None);
    }

    #[test]
    fn device_tokens_are_unique_case_insensitively_and_client_ids_are_not() {
        let mut s = store();
        let mut a = User::new("4D3C0F36-7B1E-4A5D-9C2F-5E8A1B6D0C42");
        a.fields.client_id = Some("drv-1".into());
        let token = s.add_user(a.clone()).unwrap();
        let mut again = a.clone();
        again.device_token = token.to_ascii_uppercase();
        assert_eq!(s.add_user(again), Err(AddUserError::DuplicateDeviceToken));
        let mut b = User::new(&a.instance_id);
        b.fields.client_id = Some("drv-1".into());
        s.add_user(b).unwrap();
        assert_eq!(s.users_by_client_id("drv-1").len(), 2);
        assert_eq!(s.users_by_client_id("DRV-1").len(), 0);
        assert!(s.user(&token.to_ascii_uppercase()).is_some());
        assert_eq!(
            s.add_user(User::new(&new_uuid())),
            Err(AddUserError::UnknownInstance)
        );
    }

    #[test]
    fn the_clock_advances_and_has_100ns_resolution() {
        let mut s = store();
        let before = s.now();
        s.advance_clock(Duration::from_secs(3600));
        assert!(s.now().duration_since(before).unwrap() >= Duration::from_secs(3600));
        assert_eq!(s.now_naive().and_utc().timestamp_subsec_nanos() % 100, 0);
    }
}
