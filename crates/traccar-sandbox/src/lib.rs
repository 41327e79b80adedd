//! traccar-sandbox: a Traccar-compatible in-memory server for tests, benchmarks, demos and
//! rehearsals. fleetform's integration tests and benchmarks run against it, and fleetform's
//! default cargo feature `sandbox` pulls it in for `fleetform sandbox` and `fleetform demo`.
//!
//! This crate owns the emulated server: its HTTP layer, its in-memory database, Traccar's rules
//! and error answers per imitated version, and the in-process extras tests need (request log,
//! counters, latency, throttle, fault injection, direct seeding). Its conformance suite
//! (`tests/conformance/`) pins those rules and can also run against a real Traccar server.
//!
//! What it must not do: depend on fleetform (it is the independent reference fleetform is tested
//! against, so the client's assumptions must not leak into the server), persist anything (every
//! database lives and dies with its [`Sandbox`]), or stand in for a production server (plain
//! HTTP, no TLS, meant for loopback).
//!
//! It answers the users / devices / groups / permissions / session / server API rule for rule as
//! `shared/traccar/API-NOTES.md` documents it, and where a real server answered differently
//! (`observed-api.md`, Traccar 6.9.1; real 5.12 and 6.14.4, `tests/conformance/VERSIONS.md`) as
//! the real server did. [`TraccarVersion`] selects the
//! generation it imitates (6.14.5 by default, 6.9.1, 5.12).
//!
//! It also serves the objects an operator manages by hand, as `observed-objects.md` recorded
//! a real 6.9.1 serving them (and real 5.12 and 6.14.4 checked by the same suite): geofences,
//! notifications (with `GET /api/notifications/types` and `/notificators`), calendars
//! (base64 iCalendar `data`, checked as ical4j does), computed attributes (administrator-only
//! writes), drivers, saved commands (with `GET /api/commands/types`) and maintenance
//! ([`Geofence`], [`Notification`], [`Calendar`], [`ComputedAttribute`], [`Driver`],
//! [`SavedCommand`], [`Maintenance`]): the creator link made on create, the full-replace PUT
//! keyed by the body's id, unvalidated content, NOT NULL and foreign-key errors, list
//! visibility (direct links only, administrators included, unless `all=true`; `userId`,
//! `deviceId`, `groupId` filters), links from users, devices and groups (duplicate rows kept),
//! and the cascades (a deleted saved command deletes its notifications; a deleted calendar
//! clears `calendarId` on geofences, notifications and devices). [`Store::objects`],
//! [`Store::insert_object`] and the `Store::add_*` helpers read and seed them in-process.
//!
//! **Out of scope**: positions, protocols, reports (generators and scheduled reports), orders,
//! `/api/commands/send`, `/api/notifications/test`, `/api/attributes/computed/test`, share links
//! (temporary users), LDAP and OpenID, server attributes such as `totpForce`. Links to orders
//! and reports pass the permissions endpoint's parser but always fail the foreign-key check
//! (no such object exists).
//!
//! Also provided, beyond Traccar: a request log and per-route counters readable in-process, an
//! optional per-request latency, Traccar's per-client request throttle (off by default), a fault
//! hook ([`Sandbox::set_fault_hook`]) and direct seeding ([`Sandbox::seed`]).
//!
//! Where the notes and the 6.9.1 observations disagree, the sandbox follows the observation:
//! a missing id is Jetty's HTML 404 page (notes: empty body); before 6.14 a permission body with
//! one key is `java.util.NoSuchElementException` and a third key reaches SQL (6.14: `Invalid
//! permission` for both); error bodies say `Content-Type: application/json`, Jackson errors `text/plain`, 405/415
//! carry no Content-Type; the bootstrap administrator gets `deviceLimit: -1`. Duplicate link rows
//! are kept (notes) yet lists show each object once and one DELETE removes them all (observed),
//! so both agree. `GET /api/permissions` answers H2's upper-case column labels (`USERID`), as the
//! notes derive for the default database. Unverified details are chosen as the notes derive them.
//!
//! Layout: `lib.rs` (this file: public API, configuration, the throttle, the sandbox's side of
//! the connection loop), `faults.rs` (Traccar's fault answers and seeded plans), `version.rs`, `store.rs` (tables, multiset links, sequences),
//! `objects/` (the object kinds: rows, constraints, cascades, their JSON, the iCalendar and
//! pre-6.9 geofence-area checks),
//! `rules.rs` (permission checks), `auth.rs` (Basic, Bearer tokens, cookie sessions), `totp.rs`,
//! `wire.rs` (Jackson-like JSON), `errors.rs` (Traccar's error answers), `routes/` (handlers;
//! `routes/objects.rs` serves every object kind).
//!
//! The request log, the counters, the fault hook and the HTTP layer are `sandbox-kit`'s, shared
//! with the telematics sandbox (its types are re-exported here): a plain hyper HTTP/1.1
//! connection loop serving axum bodies, so that a fault can drop a connection without
//! answering. This crate plugs in its routes, answers and throttle (`impl Service for Shared`).
//! Handlers run synchronously under one store lock, which is never held across an await.

#![allow(clippy::print_stdout, reason = "a test server prints its address")]

mod auth;
mod errors;
pub mod faults;
mod object_type;
mod objects;
mod routes;
mod rules;
mod store;
mod totp;
mod version;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sandbox_kit::{CommonCounts, Counters, Recorder, Server, Service, lock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use errors::ApiError;
pub use objects::{
    Calendar, ComputedAttribute, Driver, Geofence, Maintenance, Notification, Object, References,
    SavedCommand,
};
pub use sandbox_kit::{Fault, FaultHook, LOG_CAPACITY, LoggedRequest, RequestInfo};
pub use store::{
    Action, Device, Group, LinkTable, ObjectType, PasswordHash, ServerSettings, Store, User,
};
/// The current TOTP code of a base32 `totpKey` (for tests and demos of TOTP users).
pub use totp::current_code as totp_code;
pub use version::TraccarVersion;

use auth::{AuthState, Identity};
use routes::{BodyKind, Ctx, Pairs, Reply, Route};

/// How the sandbox behaves.
#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    /// The Traccar generation to imitate (default 6.14.5).
    pub version: TraccarVersion,
    /// Added to every request before it is handled (`--latency-ms`).
    pub latency: Duration,
    /// Traccar's `web.maxRequestsPerSec` (Jetty's DoSFilter, Traccar up to 6.11): per client, a
    /// request that arrives less than a second after the N-th request before it is delayed by
    /// 100 ms (never rejected), then handled with at most 5 such delayed requests at once. The
    /// delay is per request, not a queue: 16 requests in flight each wait 100 ms side by side
    /// (a real 6.9.1 served 110-150 requests/s that way, 25/s one at a time). `None`: off.
    pub max_requests_per_sec: Option<u32>,
    /// Switches the server's `registration` flag on. A fresh 6.x server has it off (the very
    /// first user may still register and becomes an administrator); a fresh 5.12 server has it
    /// on whatever this says, as a real 5.12 does (an administrator can switch it off with
    /// `PUT /api/server`).
    pub registration: bool,
}

/// Request counters since start or the last [`Sandbox::reset_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received, including faulted ones.
    pub total: u64,
    /// Per route, e.g. `"GET /api/users/{id}"`; unmatched paths count as `"GET (unmatched)"`.
    pub by_route: BTreeMap<String, u64>,
    /// Requests delayed by the per-client throttle.
    pub throttled: u64,
    /// Requests a fault hook answered, delayed, dropped or lost.
    pub faulted: u64,
}

struct Db {
    store: Store,
    auth: AuthState,
}

struct Shared {
    config: SandboxConfig,
    db: Mutex<Db>,
    recorder: Recorder<Stats>,
    throttle: Mutex<HashMap<IpAddr, RateTracker>>,
    /// DoSFilter's `throttledRequests` passes: delayed requests handled at once.
    throttle_passes: Arc<Semaphore>,
}

/// A running sandbox server.
pub struct Sandbox {
    shared: Arc<Shared>,
    server: Server,
}

impl Sandbox {
    /// Starts serving on `listen` (port 0: an ephemeral port) with an empty database.
    pub async fn start(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<Sandbox> {
        let shared = Arc::new(Shared {
            db: Mutex::new(Db {
                store: {
                    let mut store =
                        Store::new(config.registration || config.version.new_server_registration());
                    store.set_version(config.version);
                    store
                },
                auth: AuthState::default(),
            }),
            config,
            recorder: Recorder::default(),
            throttle: Mutex::new(HashMap::new()),
            throttle_passes: Arc::new(Semaphore::new(THROTTLED_REQUESTS)),
        });
        let server = Server::start(listen, shared.clone()).await?;
        Ok(Sandbox { shared, server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The base URL, e.g. `http://127.0.0.1:8082`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The version it imitates.
    pub fn version(&self) -> TraccarVersion {
        self.shared.config.version
    }

    /// Request counters.
    pub fn stats(&self) -> Stats {
        self.shared.recorder.stats()
    }

    /// The request log, oldest first (at most [`LOG_CAPACITY`] entries).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.recorder.requests()
    }

    /// Clears the counters and the request log.
    pub fn reset_stats(&self) {
        self.shared.recorder.reset();
    }

    /// Installs (or removes) the fault hook, called once per request before it is handled.
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        self.shared.recorder.set_hook(hook);
    }

    /// Changes the database directly, without HTTP or permission checks (fast seeding for
    /// benchmarks). Do not call it from inside a request handler.
    pub fn seed<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.shared.db).store)
    }

    /// Stops accepting connections and closes open ones (dropping the sandbox stops it too).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Serves until Ctrl-C, printing `Traccar sandbox (version 6.14.5) listening on http://...` first.
pub async fn serve(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let version = config.version;
    let sandbox = Sandbox::start(config, listen).await?;
    println!(
        "Traccar sandbox (version {}) listening on {}",
        version.version_string(),
        sandbox.url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}

fn redact_query(query: Option<&str>) -> Option<String> {
    query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k == "token" || k == "password" => format!("{k}=REDACTED"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// DoSFilter's `delayMs` default: how long an over-rate request waits before it is handled.
const THROTTLE_DELAY: Duration = Duration::from_millis(100);

/// DoSFilter's `throttledRequests` default.
const THROTTLED_REQUESTS: usize = 5;

/// Jetty DoSFilter's `RateTracker`: the arrival times of a client's last `limit` requests, in a
/// ring. A request is over the rate when the one `limit` requests before it arrived less than
/// a second earlier. Every arrival is recorded, delayed or not, so a client that keeps more
/// requests in flight stays over the rate, and each of its requests waits the delay, side by
/// side with the others (it is not a queue).
#[derive(Debug)]
struct RateTracker {
    arrivals: Vec<Option<Instant>>,
    next: usize,
}

impl RateTracker {
    fn new(limit: u32) -> RateTracker {
        RateTracker {
            arrivals: vec![None; limit.max(1) as usize],
            next: 0,
        }
    }

    /// Records an arrival at `now`; whether it is over the rate.
    fn exceeded(&mut self, now: Instant) -> bool {
        let slot = self.next % self.arrivals.len();
        let last = self.arrivals[slot].replace(now);
        self.next = (slot + 1) % self.arrivals.len();
        last.is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
    }
}

impl Shared {
    /// Whether Jetty's DoSFilter would delay this request of this client (`RateTracker`).
    fn throttle_delay(&self, ip: IpAddr) -> bool {
        let Some(limit) = self.config.max_requests_per_sec else {
            return false;
        };
        lock(&self.throttle)
            .entry(ip)
            .or_insert_with(|| RateTracker::new(limit))
            .exceeded(Instant::now())
    }
}

/// The connection loop's view of the sandbox: Traccar's route templates, `token` and
/// `password` redacted from the log, the DoSFilter throttle, plain-text fault answers, and a
/// lost answer logged with the status the handler produced.
impl Service for Shared {
    type Stats = Stats;
    type Matched = (Route, Option<String>);
    /// A DoSFilter pass, held while a delayed request is handled; `None` for the others.
    type Pass = Option<OwnedSemaphorePermit>;

    const LOST_ANSWER_STATUS: bool = true;

    fn recorder(&self) -> &Recorder<Stats> {
        &self.recorder
    }

    fn latency(&self) -> Duration {
        self.config.latency
    }

    fn route(&self, method: &str, path: &str) -> Option<(Self::Matched, String)> {
        let (route, raw_id) = Route::parse(path).filter(|(r, _)| r.exists(self.config.version))?;
        let name = format!("{method} {}", route.template());
        Some(((route, raw_id.map(str::to_string)), name))
    }

    fn logged_query(&self, raw: Option<&str>) -> Option<String> {
        redact_query(raw)
    }

    async fn admit(&self, peer: SocketAddr) -> Self::Pass {
        if !self.throttle_delay(peer.ip()) {
            return None;
        }
        self.recorder.count(|stats| stats.throttled += 1);
        tokio::time::sleep(THROTTLE_DELAY).await;
        self.throttle_passes.clone().acquire_owned().await.ok()
    }

    fn fault_content_type(&self, _body: &str, with_headers: bool) -> Option<&'static str> {
        (!with_headers).then_some("text/plain")
    }

    fn handle(
        &self,
        parts: &Parts,
        matched: Option<Self::Matched>,
        body: &[u8],
        peer: SocketAddr,
    ) -> Response<Body> {
        let uri = format!(
            "http://{}{}",
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1"),
            parts.uri
        );
        // `WebHelper.retrieveRemoteAddress`: X-Forwarded-For's first entry, else the peer.
        let address = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(
                || peer.ip().to_string(),
                |v| match v.find(',') {
                    Some(i) if i > 0 => v[..i].to_string(),
                    _ => v.to_string(),
                },
            );
        let mut response = process(
            self,
            &parts.method,
            &parts.headers,
            parts.uri.path(),
            parts.uri.query(),
            body,
            matched.as_ref().map(|(route, id)| (*route, id.as_deref())),
            uri,
            address,
        );
        add_common_headers(response.headers_mut());
        response
    }
}

impl Counters for Stats {
    fn common(&mut self) -> CommonCounts<'_> {
        CommonCounts {
            total: &mut self.total,
            by_route: &mut self.by_route,
            faulted: &mut self.faulted,
        }
    }
}

fn add_common_headers(headers: &mut HeaderMap) {
    headers.insert(header::SERVER, HeaderValue::from_static("Jetty(12.1.0)"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("origin, content-type, accept, authorization"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "JSESSIONID")
        .map(|(_, v)| v.to_string())
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Whether the `Accept` header (if any) admits `application/json`, every resource's only
/// `@Produces`: `Accept: text/html` alone is 406 on real 5.12, 6.9.1 and 6.14.4.
fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    // Parameters, `q=0` included, change nothing here (real 5.12 and 6.14.4).
    values.iter().flat_map(|v| v.split(',')).any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        ["*/*", "application/*", "application/json", ""]
            .iter()
            .any(|m| media.eq_ignore_ascii_case(m))
    })
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one request"
)]
fn process(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    raw_query: Option<&str>,
    body: &[u8],
    matched: Option<(Route, Option<&str>)>,
    uri: String,
    address: String,
) -> Response<Body> {
    let version = shared.config.version;
    let accept_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let fail = |e: ApiError| e.into_response(version, accept_html);
    if !path.starts_with("/api/") {
        return fail(ApiError::JettyNotFound(uri));
    }
    let Some((route, raw_id)) = matched else {
        return fail(ApiError::jaxrs_not_found());
    };
    let methods = route.methods(version);
    if method == Method::OPTIONS {
        let mut response = Response::new(Body::empty());
        if let Ok(allow) = HeaderValue::from_str(&[methods, &["OPTIONS"]].concat().join(", ")) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        return response;
    }
    let method = method.as_str();
    if !methods.contains(&method) {
        return fail(ApiError::not_allowed());
    }
    let expected = match route.body(method) {
        BodyKind::Json => Some("application/json"),
        BodyKind::Form => Some("application/x-www-form-urlencoded"),
        BodyKind::None => None,
    };
    if let (Some(expected), Some(actual)) = (expected, media_type(headers))
        && actual != expected
    {
        return fail(ApiError::unsupported_media_type());
    }
    if !accepts_json(headers) {
        return fail(ApiError::not_acceptable());
    }
    let path_id = match raw_id {
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) => id,
            Err(_) => return fail(ApiError::jaxrs_not_found()),
        },
        None => 0,
    };
    let query = Pairs::parse(raw_query.unwrap_or_default());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let session_id = session_cookie(headers);
    let mut db = lock(&shared.db);
    let Db { store, auth } = &mut *db;
    let origin = auth::RequestOrigin {
        origin: headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        host: headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    };
    let identity = match auth::identify(
        store,
        auth,
        version,
        authorization,
        session_id.as_deref(),
        origin,
    ) {
        Ok(identity) => identity,
        Err(e) => return fail(e),
    };
    let me = match identity {
        Identity::User(id) => id,
        _ if route.permit_all(method) => 0,
        _ => return fail(ApiError::unauthorized()),
    };
    let mut ctx = Ctx {
        store,
        auth,
        version,
        me,
        query: &query,
        body,
        path_id,
        via_session: authorization.is_none() && me != 0,
        session_id,
        origin: origin.origin.map(str::to_string),
        uri,
        address,
    };
    let result = routes::handle(route, method, &mut ctx);
    drop(db);
    match result {
        Ok(reply) => reply_response(reply),
        Err(e) => fail(e),
    }
}

fn reply_response(reply: Reply) -> Response<Body> {
    let json = HeaderValue::from_static("application/json");
    match reply {
        Reply::Json(value) => {
            let mut response = Response::new(Body::from(value.to_string()));
            response.headers_mut().insert(header::CONTENT_TYPE, json);
            response
        }
        Reply::Text(text) => {
            let mut response = Response::new(Body::from(text));
            response.headers_mut().insert(header::CONTENT_TYPE, json);
            response
        }
        Reply::NoContent => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Reply::WithSession(inner, sid) => {
            let mut response = reply_response(*inner);
            if let Ok(cookie) =
                HeaderValue::from_str(&format!("JSESSIONID={sid}; Path=/; HttpOnly"))
            {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
    }
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
    fn the_rate_tracker_delays_what_arrives_within_a_second_of_the_nth_request_before() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut tracker = RateTracker::new(3);
        // The first three pass whatever their spacing.
        assert!(!tracker.exceeded(at(0)));
        assert!(!tracker.exceeded(at(10)));
        assert!(!tracker.exceeded(at(20)));
        // The fourth arrives 30 ms after the first: over the rate, and so is the fifth.
        assert!(tracker.exceeded(at(30)));
        assert!(tracker.exceeded(at(40)));
        // A delayed arrival still counts: the sixth compares with the third (at 20 ms).
        assert!(!tracker.exceeded(at(1_020)));
        // The seventh compares with the fourth, which arrived at 30 ms.
        assert!(tracker.exceeded(at(1_029)));
        assert!(!tracker.exceeded(at(2_100)));
    }

    #[test]
    fn many_requests_in_flight_are_each_delayed_not_queued() {
        // 16 requests arriving together after the limit: every one is over the rate, and the
        // handler sleeps each one's delay on its own task (see `serve_request`), so 16 of them
        // take one delay, not sixteen: the throttle's cost is per request in flight.
        let t0 = Instant::now();
        let mut tracker = RateTracker::new(25);
        for i in 0..25 {
            assert!(!tracker.exceeded(t0 + Duration::from_millis(i)));
        }
        let delayed = (0..16)
            .filter(|_| tracker.exceeded(t0 + Duration::from_millis(30)))
            .count();
        assert_eq!(delayed, 16);
    }
}
