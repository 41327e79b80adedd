//! The Traccar backend: reads a Traccar server's users, devices, groups and links into the
//! model and applies plan phases through its REST API. Everything Traccar-specific lives here
//! and in the files beside it: ids (`wire::Id`), version gates, how links are read on each
//! version, read-modify-write of whole user objects, and bulk permission batches.
//!
//! Version gates (from ../shared/traccar/API-NOTES.md §11):
//! - `GET /api/permissions` (admin) lists every user→device link in one request from 6.14.0;
//!   user→group pairs need a spelling trick on 6.14.0–6.14.5 (see `read.rs`), and servers
//!   without the listing infer group links from `GET /api/groups?userId=` (see `links.rs`).
//! - `GET /api/users?deviceId=` (admins 6.3+, managers 6.6+) lets `read.rs` read device links
//!   per device when a fleet has fewer devices than users.
//! - Everything else used here exists from 5.1 on.

mod alarms;
pub mod api;
pub mod area;
mod audit;
mod ical;
mod jexl;
mod links;
mod objects;
mod read;
pub mod rules;
mod version;
mod wire;
mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::RngExt;
use serde_json::{Map, Value as Json};

use self::api::{Api, Credentials};
use self::rules::Role;
use self::wire::Id;
use crate::backend::{Backend, Outcome, PhaseContext, Progress, RequestLog};
use crate::core::model::Description;
use crate::core::model::{Account, Action, Live, ObjectKind, Scope, UserKey};
use crate::core::secret::Secret;

/// How the backend talks to the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Requests in flight at once, for reads and for the independent writes of one phase;
    /// `None`: by the server's version (`default_concurrency`).
    pub concurrency: Option<usize>,
    /// Links per `/api/permissions/bulk` request.
    pub batch_size: usize,
    /// Use Traccar's bulk requests: the `GET /api/permissions` listing for reads (6.14+, admin)
    /// and `/api/permissions/bulk` for links. Off: one request per object or link, as a
    /// hand-written script would (the benchmark's baseline).
    pub bulk: bool,
    /// Timeout of every request.
    pub timeout: Duration,
    /// Allow plain http to hosts that are not loopback.
    pub insecure_http: bool,
    /// Retries after failed requests (see `api::RetryPolicy`).
    pub retry: api::RetryPolicy,
    /// Where to log every request (`-v`); `None`: nowhere.
    pub log: Option<RequestLog>,
    /// Where the reads of a fetch count their progress (a bar on a terminal).
    pub progress: Progress,
    /// PEM files of certificate authorities to trust besides Mozilla's roots (`--ca-cert`).
    pub ca_certs: Vec<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: None,
            batch_size: 500,
            bulk: true,
            timeout: Duration::from_secs(30),
            insecure_http: false,
            retry: api::RetryPolicy::default(),
            log: None,
            progress: Progress::none(),
            ca_certs: Vec::new(),
        }
    }
}

impl From<crate::backend::ConnectOptions> for Options {
    fn from(o: crate::backend::ConnectOptions) -> Self {
        let defaults = Options::default();
        Options {
            concurrency: o.concurrency,
            batch_size: o.batch_size.unwrap_or(defaults.batch_size),
            bulk: o.bulk,
            timeout: o.timeout,
            insecure_http: o.insecure_http,
            log: o.log,
            progress: o.progress,
            ca_certs: o.ca_certs,
            ..defaults
        }
    }
}

/// Requests in flight when `--concurrency` is not given, by server version. Measured on real
/// servers (BENCHMARKS.md, "Concurrency on the real server"): up to 6.11 Traccar's default
/// throttle delays each request beyond 25/s by 100 ms, side by side, so the wall time falls
/// with what is in flight while the server's latency stays flat (no-change plan of 500 users on
/// 6.9.1: 6.7 s at 8, 2.2 s at 32, 1.4 s at 64, p50 latency 106-119 ms throughout, no
/// errors); 6.12 removed the throttle, and an unthrottled 6.14.4 saturates at about 32 (p50
/// latency 25 ms at 32, 35-72 ms at 64, no faster).
pub fn default_concurrency(version: Version) -> usize {
    if version < Version(6, 12, 0) { 64 } else { 32 }
}

pub use version::Version;

/// Server ids of the objects the plan names, learnt during `fetch` and `apply`.
#[derive(Debug, Default)]
struct Ids {
    users: HashMap<UserKey, Id>,
    /// Per object kind (devices, groups and every kind of `objects::WIRES`): ids by key.
    objects: HashMap<ObjectKind, HashMap<String, Id>>,
    /// (user, group) links that must be written DELETE-then-POST (see `links.rs`).
    uncertain_groups: HashSet<(UserKey, String)>,
    /// The manager account's id, when an admin run names one.
    manager: Option<Id>,
}

pub struct TraccarBackend {
    api: Api,
    /// Requests in flight at once (`Options::concurrency`, or by version).
    concurrency: usize,
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
        let client = api::ClientConfig {
            timeout: options.timeout,
            retry: options.retry.clone(),
            log: options.log.clone(),
            extra_roots: options.ca_certs.clone(),
        };
        let (api, me) = Api::connect(base.clone(), credentials, client).await?;
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
        let version = Version::parse(&version_string);
        let concurrency = options
            .concurrency
            .unwrap_or_else(|| default_concurrency(version))
            .max(1);
        Ok(TraccarBackend {
            api,
            url: base.as_str().trim_end_matches('/').to_string(),
            version,
            concurrency,
            version_string,
            me_id,
            me_email: email_of(&me_json),
            role: role_of(&me_json),
            me_json,
            options,
            ids: Mutex::new(Ids::default()),
        })
    }

    /// Requests sent and retried so far by this backend's client.
    pub fn client_stats(&self) -> api::ClientStats {
        self.api.stats()
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
            role: self.role.name().to_string(),
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
    fn description(&self) -> &'static Description {
        &rules::DESCRIPTION
    }

    async fn describe(&self) -> anyhow::Result<Account> {
        Ok(self.account())
    }

    async fn fetch(&self, scope: &Scope) -> anyhow::Result<Live> {
        self.fetch_live(scope).await
    }

    async fn apply_phase(&self, context: &PhaseContext<'_>, actions: &[Action]) -> Vec<Outcome> {
        self.apply_actions(context, actions).await
    }

    async fn audit(
        &self,
        users: &[UserKey],
    ) -> std::collections::BTreeMap<UserKey, Vec<crate::backend::AuditEntry>> {
        self.audit_of(users).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn the_default_concurrency_follows_the_throttle() {
        // Throttled by default through 6.11 (Jetty's DoSFilter), not from 6.12 on.
        for (version, expected) in [
            ("5.12", 64),
            ("6.9.1", 64),
            ("6.11.1", 64),
            ("6.12.0", 32),
            ("6.14.4", 32),
        ] {
            assert_eq!(
                default_concurrency(Version::parse(version)),
                expected,
                "{version}"
            );
        }
    }
}
