//! telematics-sandbox: an in-memory imitation of the telematics SDK user service (Damoov,
//! formerly "Telematics SDK") for tests, benchmarks, demos and rehearsals. fleetform's
//! telematics backend is tested against it, and `fleetform sandbox --kind telematics` serves it.
//!
//! This crate owns the emulated service: its HTTP layer, its in-memory database, the rules of
//! `shared/telematics/API-NOTES.md` (cited below as "notes §n"), and the in-process extras tests
//! need (request log, counters, latency, fault injection, direct seeding, a movable clock). Its
//! conformance suite (`tests/conformance/`) pins those rules, one test per rule, each citing its
//! section. What it must not do: depend on fleetform (it is the independent reference fleetform is
//! tested against), persist anything, or stand in for a production server (plain HTTP, loopback).
//! No public test instance of the real service exists, so nothing here was checked against it.
//!
//! # What it serves
//!
//! One port serves the user service and the read side of the Accounts API (separate hosts in
//! production; their paths do not collide):
//!
//! | route | auth | notes |
//! |---|---|---|
//! | `POST /v1/Auth/Login` | none (user login: `InstanceId` header) | §2.1, §2.4 |
//! | `POST /v1/Auth/RefreshToken` | none | §2.2 |
//! | `POST /v1/Registration/create` | `InstanceId` + `InstanceKey` headers | §5.1 |
//! | `POST /v1/Registration/CreateMany` | instance headers; **only with [`SandboxConfig::create_many`]** | §5.2 |
//! | `GET /v1/Management/users/find` | admin JWT | §5.3 |
//! | `POST /v1/Management/users/GetFilteredPage` | admin JWT | §5.4 |
//! | `PUT /v1/Management/users` | admin JWT + `UserDeviceToken`, or a user JWT for itself | §5.6 |
//! | `DELETE /v1/Management/users/{DeviceToken}` | admin JWT | §5.7 |
//! | `POST /v1/Management/users/instances/change` | admin JWT | §5.8 |
//! | `GET /v1/Management/users` | user JWT (own profile) | §4 #5 |
//! | `GET /v1/Instances/{id}`, `GET /v1/applications/{id}/instances`, `GET /v1/Applications/{id}[?includeInstances=true]`, `GET /v1/companies/{id}/applications` | admin JWT | §6 |
//!
//! Everything else (the invite-code join, avatar upload, `Check/UserExists`, the third-party-only
//! `users/count` and instance `sdk` defaults, the permissions call, Accounts writes, trips and
//! statistics) is not served: a 404 with an empty body, or a 405 where the path matches a served
//! route with another method. The sandbox starts with one company, one application, one instance
//! ([`SandboxConfig::instance`], default [`DEFAULT_INSTANCE_ID`] / [`DEFAULT_INSTANCE_KEY`]) and
//! one admin API credential ([`SandboxConfig::admin`], default [`DEFAULT_ADMIN_EMAIL`] /
//! [`DEFAULT_ADMIN_PASSWORD`]); the admin's scope is the whole company. More instances:
//! [`Store::add_instance`] through [`Sandbox::seed`].
//!
//! # The rules it models
//!
//! - **Envelope** (§3): `{"Result", "Status": 200, "Title": "", "Errors": []}`; mutations (PUT,
//!   DELETE, change of instance) answer without the `Result` key, as the live samples do; errors
//!   are `{"Status", "Title", "Errors"}`.
//! - **422 validation** (§3): `Title` "One or more validation errors occurred.", `Errors[]` of
//!   `{Key, Message}` (`$.Field` for a value that does not bind, the field or header name for a
//!   rule). A body with any invalid field changes nothing.
//! - **Auth** (§2): login with `LoginFields` as a JSON-encoded string (the object form is a 422);
//!   inner keys exact (`email`, `Devicetoken`); refusals are a bare 401. Admin and user JWTs are
//!   HS256, signed per sandbox; `ExpiresIn` 86,400 s from login and refresh
//!   ([`SandboxConfig::access_token_lifetime`]), 432,000 s from registration. A missing, foreign or
//!   expired JWT is a 401 with an empty body and `WWW-Authenticate: Bearer ...` (expired: `The
//!   token expired at '...'`). A user JWT on an admin route is a 403.
//! - **Refresh** (§2.2): `{AccessToken, RefreshToken}`; the access token may be expired but must
//!   be the one the refresh token came with; the answer is a new pair and the used refresh token
//!   is spent. Refresh tokens live 90 days. Refresh is not rate limited.
//! - **Login rate limit** (§2.4): per client address, every attempt counts (good or bad); default 5
//!   per minute, the sixth is a 429 (envelope, no `Retry-After`) and the address stays blocked an
//!   hour ([`LoginLimit`], [`SandboxConfig::login_limit`]; `None` switches it off).
//! - **Registration** (§5.1): both instance headers required; not idempotent; `CustomToken`
//!   becomes the DeviceToken; `CreateAccessToken` defaults to true (then a user JWT and refresh
//!   token come back, else both are `null`).
//! - **Listing** (§5.4): flat body (`PageNumber`, `PageSize`, `InstanceIds`, `ShowInactiveUsers`,
//!   `Sort`, ...), 1-based pages, `Users`, `HasPreviousPage`, `HasNextPage`, `TotalUsers`,
//!   `TotalPages`, `CurrentPage`; `ShowInactiveUsers` left out or false hides inactive users.
//! - **Read model** (§5.5): `UserFields` an array of one object; `Status` `Active`/`Inactive`;
//!   `ActivityStatus` `No Data` for every registered user (filter value `NoData`); `AccountInfo`
//!   names null without `IncludeAccountInfo`; the default avatar in `ImageUrl`; `DateCreated` and
//!   `Birthday` as .NET writes a zone-less `DateTime`; `find` and the listing differ as the live
//!   samples do (IdentityProvider case, `UserWallets`, `OsType`).
//! - **Update** (§5.6): target in `UserDeviceToken`; `Status` written `Active` / `Deactivated` /
//!   `Deleted`, read `Active` / `Inactive`; `UserFields` written as an object.
//! - **Delete** (§5.7): hard and final; a second DELETE is a 404.
//! - **Casing** (§4): user-service paths, body keys and query keys match in any case; Accounts
//!   paths only as written. JSON bodies need `application/json`, `text/json` or
//!   `application/*+json` (so `application/json-patch+json`), else 415.
//!
//! # Choices where the notes are UNVERIFIED or contradictory
//!
//! Each is the answer that keeps a client's wrong guess visible (or harmless) rather than hiding it.
//!
//! - `CreateMany` (§5.2): **off by default**, so the path is a 404 like any unserved path and a
//!   client's fallback to single registrations is what gets tested. [`SandboxConfig::create_many`]
//!   serves the issue's guess: an array of registration bodies, answered by an array of
//!   registration results in order, all or nothing (422 keys `$[i].Field` / `[i].CustomToken`).
//! - `Enabled` versus `Status` (§5.7): independent. Only `Status` drives read `Inactive` and
//!   `ShowInactiveUsers`; `Enabled: false` alone leaves a user `Active` and listed.
//! - PUT semantics (§5.6): a field left out is unchanged, `null` clears it (a `null` flag is left
//!   alone; a `null` `Gender` or `Status` is a 422). `Status` as an integer (S14) is a 422.
//!   `Deleted` reads back as `Inactive` and is hidden like a deactivated user. An admin PUT without
//!   `UserDeviceToken` is a 403 envelope (§3 says 403, maybe 422).
//! - A duplicate `CustomToken` (§5.1, §9) is a 422 on `CustomToken`; nothing is created.
//! - Registration without an instance header is a 422 naming the header; an unknown InstanceId or
//!   a wrong key is a 401 envelope. `Status` and `InstanceInviteCode` in a registration body are
//!   ignored; `Country`, `District`, `City` are accepted (project excerpt). New users are enabled
//!   and tracking, without logging or real-time location (the live sample of a fresh user).
//! - ClientId is not unique (§8.3), and `find` compares text case-insensitively (as a
//!   case-insensitive database collation would): `ClientId=drv-1` also finds `DRV-1`.
//! - `GetFilteredPage` (§5.4, §10): S1's `Filters`/`Pagination` body is a 422 (no `PageNumber`);
//!   `ApplicationIds` is not required; no page-size maximum unless
//!   [`SandboxConfig::max_page_size`], which caps silently; a missing `Sort` sorts by DeviceToken.
//! - Login (§2.1, §2.4): the `InstanceId`/`InstanceKey` headers old docs show on admin login are
//!   ignored; the rate limit follows S3/S4/S5 (5 per minute, one-hour block), and the knob covers
//!   the stricter readings (5 per hour, per day).
//! - Lifetimes (§2.3): 86,400 s (observed), not the documented 43,200 s; refresh tokens 90 days
//!   for admin and user alike; a refresh token works once. A refreshed token's old access token
//!   stays valid until it expires.
//!
//! # Extras, beyond the service
//!
//! A request log ([`Sandbox::requests`]: method, path, query, status, route; never headers or
//! bodies, so never a token, password or key) and counters ([`Sandbox::stats`]); a per-request
//! latency ([`SandboxConfig::latency`]); a fault hook ([`Sandbox::set_fault_hook`], with one-shot
//! helpers and seeded plans in [`faults`]: e.g. `faults::first(route::REGISTER,
//! Fault::AnswerLost)` is the lost registration answer); direct seeding ([`Sandbox::seed`]); a
//! clock tests move instead of waiting ([`Sandbox::advance_clock`]: tokens expire, login blocks
//! lift); [`Sandbox::issue_admin_tokens`] and [`Sandbox::reset_login_limit`].
//!
//! ```no_run
//! use telematics_sandbox::{faults, route, Fault, Sandbox, SandboxConfig};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse()?).await?;
//! sandbox.set_fault_hook(Some(faults::first(route::REGISTER, Fault::AnswerLost)));
//! // ... run the client against sandbox.url() ...
//! let registrations = sandbox.stats().by_route.get(route::REGISTER).copied();
//! sandbox.shutdown().await;
//! # let _ = registrations;
//! # Ok(())
//! # }
//! ```
//!
//! # Telematics sandbox: a walk-through with curl
//!
//! `fleetform sandbox --kind telematics [--listen 127.0.0.1:8082] [--latency-ms N]
//! [--token-lifetime-secs N] [--login-limit N] [--login-window-secs N] [--login-block-secs N]
//! [--max-page-size N] [--create-many]` prints its URL, instance id and the `export` lines for
//! `TELEMATICS_INSTANCE_KEY`, `TELEMATICS_EMAIL` and `TELEMATICS_PASSWORD` (sandbox values, not
//! secrets of any real service). With those exported, and `jq`:
//!
//! ```sh
//! fleetform sandbox --kind telematics &
//! URL=http://127.0.0.1:8082 ID=4d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c42
//! # Log in as the admin (LoginFields is a JSON-encoded string); keep the token.
//! LOGIN=$(jq -n --arg e "$TELEMATICS_EMAIL" --arg p "$TELEMATICS_PASSWORD" \
//!   '{LoginFields: ({email: $e} | tojson), Password: $p}')
//! TOKEN=$(curl -s -H 'Content-Type: application/json' -d "$LOGIN" $URL/v1/Auth/Login \
//!   | jq -r .Result.AccessToken.Token)
//! # Register a user into the instance (instance headers, no JWT); keep its DeviceToken.
//! DT=$(curl -s -H 'Content-Type: application/json' -H "InstanceId: $ID" \
//!   -H "InstanceKey: $TELEMATICS_INSTANCE_KEY" \
//!   -d '{"CreateAccessToken":false,"FirstName":"Max","UserFields":{"ClientId":"drv-0001"}}' \
//!   $URL/v1/Registration/create | jq -r .Result.DeviceToken)
//! # List the instance's users, inactive ones included.
//! curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
//!   -d "{\"InstanceIds\":[\"$ID\"],\"PageNumber\":1,\"PageSize\":50,\"IncludeAccountInfo\":true,\"ShowInactiveUsers\":true,\"Sort\":\"DateCreated\"}" \
//!   $URL/v1/Management/users/GetFilteredPage | jq .Result.TotalUsers
//! # Update one field; the target is the UserDeviceToken header.
//! curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H "UserDeviceToken: $DT" \
//!   -H 'Content-Type: application/json' -d '{"LastName":"Mustermann"}' $URL/v1/Management/users
//! # Deactivate (both switches), then find it: Status reads "Inactive".
//! curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H "UserDeviceToken: $DT" \
//!   -H 'Content-Type: application/json' -d '{"Status":"Deactivated","UserFields":{"Enabled":false}}' \
//!   $URL/v1/Management/users
//! curl -s -H "Authorization: Bearer $TOKEN" \
//!   "$URL/v1/Management/users/find?ClientId=drv-0001&ShowInactiveUsers=true" | jq '.Result[0].Status'
//! ```
//!
//! The conformance suite: `cargo test -p telematics-sandbox --test conformance`.
//!
//! # Layout
//!
//! `lib.rs` (this file: public API, HTTP wiring, request log, statistics, latency and fault
//! injection), `store.rs` (company, applications, instances, users, the clock), `auth.rs` (JWTs,
//! refresh tokens, the login limit), `wire.rs` (envelope, errors, dates, body reading, the user
//! read model), `routes/` (handlers: `auth.rs`, `registration.rs`, `management.rs`,
//! `accounts.rs`), `faults.rs` (one-shot hooks and seeded fault plans).
//!
//! The HTTP layer is a plain hyper HTTP/1.1 connection loop serving axum bodies, so that a fault
//! can drop a connection without answering and the login limit knows the client's address.
//! Handlers run synchronously under one store lock, which is never held across an await.

mod auth;
pub mod faults;
mod routes;
mod store;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use auth::LoginLimit;
/// The route names used by [`Stats::by_route`], [`LoggedRequest::route`] and
/// [`RequestInfo::route`], e.g. [`route::REGISTER`] = `"POST /v1/Registration/create"`.
pub use routes::names as route;
pub use store::{
    AccountStatus, ActivityStatus, AddUserError, Application, Company, DEFAULT_IMAGE_URL, Gender,
    Instance, Profile, Store, User, UserFields, new_uuid,
};

use auth::{AuthState, Principal};
use routes::{Access, Ctx, Route};
use wire::{ApiError, FieldError, Query};

/// The instance (user group) the sandbox starts with: `id` and `key` are what registration's
/// `InstanceId` and `InstanceKey` headers must carry. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceCredential {
    pub id: String,
    pub key: String,
    pub name: String,
}

impl std::fmt::Debug for InstanceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceCredential")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

/// The admin API credential the sandbox starts with (`POST /v1/Auth/Login` with
/// `LoginFields: "{\"email\":...}"` and this password). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredential {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredential")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The default instance id: fixed, so a fleet file written for the sandbox keeps working
/// across restarts.
pub const DEFAULT_INSTANCE_ID: &str = "4d3c0f36-7b1e-4a5d-9c2f-5e8a1b6d0c42";
/// The default instance key (a sandbox credential, not a secret of any real service).
pub const DEFAULT_INSTANCE_KEY: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@telematics-sandbox.invalid";
/// The default admin API password (a sandbox credential, not a secret of any real service).
pub const DEFAULT_ADMIN_PASSWORD: &str = "sandbox-admin-password";
/// The company, application and their names are fixed.
pub const COMPANY_ID: &str = "5c7b7b0e-1f2a-4c3d-8e9f-0a1b2c3d4e5f";
pub const APPLICATION_ID: &str = "6d8c8c1f-2a3b-4d4e-9fa0-1b2c3d4e5f60";

/// How the sandbox behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Added to every request before it is handled (`--latency-ms`).
    pub latency: Duration,
    /// The instance the sandbox starts with (more with [`Store::add_instance`]).
    pub instance: InstanceCredential,
    /// The admin API credential.
    pub admin: AdminCredential,
    /// `ExpiresIn` of the access JWTs that login and refresh issue (the notes' sources observed
    /// 86,400 s). Set it short to watch tokens expire; a request with an expired token is 401.
    pub access_token_lifetime: Duration,
    /// `ExpiresIn` of the user JWT registration issues with `CreateAccessToken: true` (432,000 s).
    pub registration_token_lifetime: Duration,
    /// How long a refresh token stays usable (three months).
    pub refresh_token_lifetime: Duration,
    /// The per-address login limit; `None` switches it off.
    pub login_limit: Option<LoginLimit>,
    /// Caps `GetFilteredPage`'s `PageSize` silently (the service documents no maximum, so
    /// `None`, no cap, is the default).
    pub max_page_size: Option<u32>,
    /// Serves the UNVERIFIED `POST /v1/Registration/CreateMany` (off by default: the path is
    /// then a 404, as any path the service does not serve).
    pub create_many: bool,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            latency: Duration::ZERO,
            instance: InstanceCredential {
                id: DEFAULT_INSTANCE_ID.into(),
                key: DEFAULT_INSTANCE_KEY.into(),
                name: "Sandbox Instance".into(),
            },
            admin: AdminCredential {
                email: DEFAULT_ADMIN_EMAIL.into(),
                password: DEFAULT_ADMIN_PASSWORD.into(),
            },
            access_token_lifetime: Duration::from_secs(86_400),
            registration_token_lifetime: Duration::from_secs(432_000),
            refresh_token_lifetime: Duration::from_secs(90 * 86_400),
            login_limit: Some(LoginLimit::default()),
            max_page_size: None,
            create_many: false,
        }
    }
}

/// Request counters since start or the last [`Sandbox::reset_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received, including faulted ones.
    pub total: u64,
    /// Per route name (see [`route`]); unserved paths count as `"GET (unmatched)"` etc.
    pub by_route: BTreeMap<String, u64>,
    /// Requests a fault hook answered, delayed, dropped or lost.
    pub faulted: u64,
    /// Logins refused with 429 by the login limit.
    pub logins_refused: u64,
}

/// One request as recorded in the log. Never holds headers or bodies, so no token, password or
/// instance key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The status answered; 0 when the connection was closed without an answer (a
    /// [`Fault::Drop`], or a [`Fault::AnswerLost`] whose request was handled).
    pub status: u16,
    /// The route name, e.g. `"PUT /v1/Management/users"` (see [`route`]).
    pub route: String,
}

/// What a fault hook sees of a request, before it is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// 1-based sequence number of the request since start.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The route name, e.g. `"POST /v1/Registration/create"` (see [`route`]).
    pub route: String,
}

/// A fault to inject into one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and body without handling the request (`Content-Type` is JSON
    /// when the body parses as JSON, else plain text).
    Respond { status: u16, body: String },
    /// `Respond`, with extra headers.
    RespondWith {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without answering and without handling the request.
    Drop,
    /// Handle the request (its changes are applied), then close the connection without
    /// answering: e.g. a lost registration answer.
    AnswerLost,
}

/// Decides per request whether to inject a fault.
pub type FaultHook = Arc<dyn Fn(&RequestInfo) -> Option<Fault> + Send + Sync>;

/// An access token and its refresh token, as [`Sandbox::issue_admin_tokens`] hands them out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// The most requests kept in the log (oldest dropped first).
pub const LOG_CAPACITY: usize = 100_000;

/// The largest request body read (bigger ones drop the connection).
const MAX_BODY: usize = 16 * 1024 * 1024;

struct Db {
    store: Store,
    auth: AuthState,
}

#[derive(Default)]
struct Metrics {
    seq: u64,
    stats: Stats,
    log: VecDeque<LoggedRequest>,
}

struct Shared {
    config: SandboxConfig,
    db: Mutex<Db>,
    metrics: Mutex<Metrics>,
    hook: Mutex<Option<FaultHook>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave the sandbox's data half-written in a way that
    // matters more than stopping the server; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running sandbox server.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts serving on `listen` (port 0: an ephemeral port) with one company, one
    /// application, the configured instance and no users.
    pub async fn start(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<Sandbox> {
        let instance_id = store::parse_uuid(&config.instance.id).with_context(|| {
            format!(
                "the sandbox's instance id {:?} is not a UUID",
                config.instance.id
            )
        })?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let mut addr = listener.local_addr().context("reading the bound address")?;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let store = Store::new(
            Company {
                id: COMPANY_ID.into(),
                name: "Sandbox Company".into(),
            },
            Application {
                id: APPLICATION_ID.into(),
                name: "Sandbox Application".into(),
                description: "The telematics sandbox's application".into(),
                environment: "test".into(),
            },
            Instance {
                id: instance_id,
                key: config.instance.key.clone(),
                name: config.instance.name.clone(),
                description: "Default group".into(),
                application_id: APPLICATION_ID.into(),
                invite_code: "SANDBOX".into(),
            },
        );
        let shared = Arc::new(Shared {
            db: Mutex::new(Db {
                store,
                auth: AuthState::default(),
            }),
            config,
            metrics: Mutex::new(Metrics::default()),
            hook: Mutex::new(None),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(Sandbox {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8082`: the `server.url` of a fleet file.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration it runs with (instance and admin credentials included).
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// Request counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.metrics).stats.clone()
    }

    /// The request log, oldest first (at most [`LOG_CAPACITY`] entries).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.metrics).log.iter().cloned().collect()
    }

    /// Clears the counters and the request log.
    pub fn reset_stats(&self) {
        let mut metrics = lock(&self.shared.metrics);
        metrics.stats = Stats::default();
        metrics.log.clear();
    }

    /// Installs (or removes) the fault hook, called once per request before it is handled.
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        *lock(&self.shared.hook) = hook;
    }

    /// Changes the database directly, without HTTP, checks or rate limits (fast seeding for
    /// benchmarks). Do not call it from inside a fault hook.
    pub fn seed<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.shared.db).store)
    }

    /// Moves the sandbox clock forward: tokens expire, login blocks lift, and new users'
    /// `DateCreated` moves, without a test having to wait.
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared.db).store.advance_clock(by);
    }

    /// Forgets every login attempt and lifts every login block.
    pub fn reset_login_limit(&self) {
        lock(&self.shared.db).auth.reset_login_limit();
    }

    /// Issues an admin access token and refresh token without a login request (so without
    /// counting against the login limit), e.g. to pre-fill a client's token cache.
    pub fn issue_admin_tokens(&self) -> TokenPair {
        let mut db = lock(&self.shared.db);
        let Db { store, auth } = &mut *db;
        let config = &self.shared.config;
        let issued = auth.issue(
            Principal::Admin(config.admin.email.clone()),
            store.now(),
            config.access_token_lifetime,
            config.refresh_token_lifetime,
        );
        TokenPair {
            access_token: issued.token,
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
        }
    }

    /// Stops accepting connections and closes open ones.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// What [`serve`] prints: the URL, the instance id, and the environment a fleetform run needs.
/// The instance key and the admin password are sandbox credentials, made to be copied.
pub fn banner(sandbox: &Sandbox) -> String {
    let config = sandbox.config();
    format!(
        "Telematics sandbox listening on {url}\n\
         \n\
         instance id:  {id}\n\
         admin email:  {email}\n\
         \n\
         Its credentials, for fleetform and for curl (sandbox values, not secrets of any real service):\n\
         \n\
         export TELEMATICS_INSTANCE_KEY={key}\n\
         export TELEMATICS_EMAIL={email}\n\
         export TELEMATICS_PASSWORD={password}\n\
         \n\
         In the fleet file:\n\
         \n\
         server:\n\
         \x20 kind: telematics\n\
         \x20 url: {url}\n\
         \x20 instanceId: {id}\n",
        url = sandbox.url(),
        id = config.instance.id,
        key = config.instance.key,
        email = config.admin.email,
        password = config.admin.password,
    )
}

/// Serves until Ctrl-C, printing [`banner`] first.
#[allow(
    clippy::print_stdout,
    reason = "the command-line sandbox says where it listens and how to log in"
)]
pub async fn serve(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(config, listen).await?;
    println!("{}", banner(&sandbox));
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { serve_request(shared, peer, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Returned instead of a response to close the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the sandbox")
    }
}

impl std::error::Error for DropConnection {}

impl Shared {
    fn record(&self, info: &RequestInfo, status: u16) {
        let mut metrics = lock(&self.metrics);
        if metrics.log.len() >= LOG_CAPACITY {
            metrics.log.pop_front();
        }
        metrics.log.push_back(LoggedRequest {
            method: info.method.clone(),
            path: info.path.clone(),
            query: info.query.clone(),
            status,
            route: info.route.clone(),
        });
    }
}

fn fault_response(status: u16, headers: Vec<(String, String)>, body: String) -> Response<Body> {
    let json = serde_json::from_str::<Value>(&body).is_ok();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if json {
            "application/json; charset=utf-8"
        } else {
            "text/plain"
        }),
    );
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn serve_request(
    shared: Arc<Shared>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let method = parts.method.as_str().to_string();
    let matched = Route::parse(&path, shared.config.create_many);
    let route_name = match &matched {
        Some((route, _)) => route.name(&method),
        None => format!("{method} (unmatched)"),
    };
    let info = {
        let mut metrics = lock(&shared.metrics);
        metrics.seq += 1;
        metrics.stats.total += 1;
        *metrics
            .stats
            .by_route
            .entry(route_name.clone())
            .or_insert(0) += 1;
        RequestInfo {
            seq: metrics.seq,
            method: method.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            route: route_name,
        }
    };
    let hook = lock(&shared.hook).clone();
    let fault = hook.and_then(|h| h(&info));
    if fault.is_some() {
        lock(&shared.metrics).stats.faulted += 1;
    }
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let mut answer_lost = false;
    match fault {
        Some(Fault::Respond { status, body }) => {
            shared.record(&info, status);
            return Ok(fault_response(status, Vec::new(), body));
        }
        Some(Fault::RespondWith {
            status,
            headers,
            body,
        }) => {
            shared.record(&info, status);
            return Ok(fault_response(status, headers, body));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Drop) => {
            shared.record(&info, 0);
            return Err(DropConnection);
        }
        Some(Fault::AnswerLost) => answer_lost = true,
        None => {}
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            shared.record(&info, 0);
            return Err(DropConnection);
        }
    };
    let response = match process(
        &shared,
        &parts.method,
        &parts.headers,
        raw_query.as_deref(),
        &bytes,
        matched,
        peer.ip(),
    ) {
        Ok(value) => wire::envelope_response(200, value),
        Err(e) => {
            if e == ApiError::TooManyLogins {
                lock(&shared.metrics).stats.logins_refused += 1;
            }
            e.into_response()
        }
    };
    if answer_lost {
        // Handled, but the client hears nothing: logged as dropped.
        shared.record(&info, 0);
        return Err(DropConnection);
    }
    shared.record(&info, response.status().as_u16());
    Ok(response)
}

/// Whether a Content-Type is one ASP.NET's JSON input formatter reads: `application/json`,
/// `text/json` or `application/*+json` (so `application/json-patch+json`, which the notes'
/// sources use for PUT and GetFilteredPage, works as well).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json"
        || media == "text/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
}

fn process(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &[u8],
    matched: Option<(Route, Option<String>)>,
    peer: IpAddr,
) -> Result<Value, ApiError> {
    let (route, param) = matched.ok_or(ApiError::NoRoute)?;
    let method = method.as_str();
    if !route.methods().contains(&method) {
        return Err(ApiError::MethodNotAllowed(route.methods()));
    }
    let config = &shared.config;
    let mut db = lock(&shared.db);
    let Db { store, auth } = &mut *db;
    let now = store.now();
    if route == Route::Login
        && let Some(limit) = &config.login_limit
    {
        auth.count_login(peer, now, limit)
            .map_err(|_| ApiError::TooManyLogins)?;
    }
    let principal = match route.access(method) {
        Access::Anonymous => None,
        access => {
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let principal = auth
                .authenticate(authorization, now)
                .map_err(ApiError::Unauthenticated)?;
            let allowed = matches!(
                (&principal, access),
                (Principal::Admin(_), Access::Admin | Access::AdminOrUser)
                    | (Principal::User { .. }, Access::User | Access::AdminOrUser)
            );
            if !allowed {
                return Err(ApiError::Forbidden);
            }
            Some(principal)
        }
    };
    let body = if route.json_body(method) {
        if !is_json(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Validation(vec![FieldError::new(
                "",
                "A non-empty request body is required.",
            )]));
        }
        serde_json::from_slice(body).map_err(|e| {
            ApiError::Validation(vec![FieldError::new(
                "$",
                format!("The request body is not valid JSON: {e}."),
            )])
        })?
    } else {
        Value::Null
    };
    let mut ctx = Ctx {
        store,
        auth,
        config,
        headers,
        query: Query::parse(raw_query.unwrap_or_default()),
        body,
        param,
        principal,
    };
    routes::handle(route, method, &mut ctx)
}

// Tests and benchmarks hold a `Sandbox` across awaits on multi-threaded runtimes.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sandbox>();
    assert_send_sync::<Stats>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_those_aspnet_reads() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/json-patch+json"));
        assert!(with("text/json"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn the_config_does_not_debug_print_the_instance_key_or_the_password() {
        let config = SandboxConfig::default();
        let shown = format!("{config:?}");
        assert!(!shown.contains(DEFAULT_INSTANCE_KEY), "{shown}");
        assert!(!shown.contains(DEFAULT_ADMIN_PASSWORD), "{shown}");
        assert!(shown.contains(DEFAULT_INSTANCE_ID), "{shown}");
    }

    #[test]
    fn token_pairs_do_not_debug_print_their_tokens() {
        let pair = TokenPair {
            access_token: "secret-a".into(),
            expires_in: 1,
            refresh_token: "secret-r".into(),
        };
        let shown = format!("{pair:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
