//! The REST surface: which paths and methods exist (per imitated version), which are
//! `@PermitAll`, what body each takes, and the request context handlers run in.
//!
//! Handlers are synchronous functions over the locked store: they run start to finish under one
//! lock acquisition and never await. Transport concerns (throttle, latency, faults, logging) live
//! in the crate root (`lib.rs`), never here.

mod audit;
mod devices;
mod groups;
mod objects;
mod permissions;
mod server;
mod session;
mod users;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::auth::AuthState;
use super::errors::ApiError;
use super::store::{ObjectType, Store};
use super::version::TraccarVersion;

/// A resource path of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Server,
    Session,
    /// `GET /api/session/{id}`: impersonation.
    SessionUser,
    SessionToken,
    SessionTokenRevoke,
    Users,
    User,
    Devices,
    Device,
    Groups,
    Group,
    Permissions,
    PermissionsBulk,
    /// `GET /api/audit` (v6.7+).
    Audit,
    /// `/api/geofences`, `/api/notifications`, ... (one of `objects::KINDS`).
    Objects(ObjectType),
    /// `/api/geofences/{id}`, ...
    Object(ObjectType),
    /// `GET /api/notifications/types`.
    NotificationTypes,
    /// `GET /api/notifications/notificators`.
    Notificators,
    /// `GET /api/commands/types`.
    CommandTypes,
}

/// What a method of a route consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Json,
    Form,
}

impl Route {
    /// Matches a request path; the second value is the raw `{id}` segment.
    pub fn parse(path: &str) -> Option<(Route, Option<&str>)> {
        let rest = path.strip_prefix("/api/")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segments: Vec<&str> = rest.split('/').collect();
        let route = match segments.as_slice() {
            ["server"] => Route::Server,
            ["session"] => Route::Session,
            ["session", "token"] => Route::SessionToken,
            ["session", "token", "revoke"] => Route::SessionTokenRevoke,
            ["session", id] => return Some((Route::SessionUser, Some(id))),
            ["users"] => Route::Users,
            ["users", id] => return Some((Route::User, Some(id))),
            ["devices"] => Route::Devices,
            ["devices", id] => return Some((Route::Device, Some(id))),
            ["groups"] => Route::Groups,
            ["groups", id] => return Some((Route::Group, Some(id))),
            ["permissions"] => Route::Permissions,
            ["permissions", "bulk"] => Route::PermissionsBulk,
            ["audit"] => Route::Audit,
            ["notifications", "types"] => Route::NotificationTypes,
            ["notifications", "notificators"] => Route::Notificators,
            ["commands", "types"] => Route::CommandTypes,
            _ => {
                for kind in &objects::KINDS {
                    let n = kind.segments.len();
                    if segments.len() >= n && segments[..n] == *kind.segments {
                        match &segments[n..] {
                            [] => return Some((Route::Objects(kind.kind), None)),
                            [id] => return Some((Route::Object(kind.kind), Some(id))),
                            _ => {}
                        }
                    }
                }
                return None;
            }
        };
        Some((route, None))
    }

    /// The route as it appears in statistics, e.g. `/api/users/{id}`.
    pub fn template(self) -> &'static str {
        match self {
            Route::Server => "/api/server",
            Route::Session => "/api/session",
            Route::SessionUser => "/api/session/{id}",
            Route::SessionToken => "/api/session/token",
            Route::SessionTokenRevoke => "/api/session/token/revoke",
            Route::Users => "/api/users",
            Route::User => "/api/users/{id}",
            Route::Devices => "/api/devices",
            Route::Device => "/api/devices/{id}",
            Route::Groups => "/api/groups",
            Route::Group => "/api/groups/{id}",
            Route::Permissions => "/api/permissions",
            Route::PermissionsBulk => "/api/permissions/bulk",
            Route::Audit => "/api/audit",
            Route::Objects(kind) => objects::kind(kind).map_or("/api/(unknown)", |k| k.list),
            Route::Object(kind) => objects::kind(kind).map_or("/api/(unknown)/{id}", |k| k.item),
            Route::NotificationTypes => "/api/notifications/types",
            Route::Notificators => "/api/notifications/notificators",
            Route::CommandTypes => "/api/commands/types",
        }
    }

    /// Whether the route exists at all in the imitated version.
    pub fn exists(self, version: TraccarVersion) -> bool {
        match self {
            Route::SessionTokenRevoke => version.token_revocation(),
            Route::Audit => version.audit_log(),
            _ => true,
        }
    }

    /// The methods the route answers (others: 405).
    pub fn methods(self, version: TraccarVersion) -> &'static [&'static str] {
        match self {
            Route::Server => &["GET", "PUT"],
            Route::Session => &["GET", "POST", "DELETE"],
            Route::SessionUser
            | Route::Audit
            | Route::NotificationTypes
            | Route::Notificators
            | Route::CommandTypes => &["GET"],
            Route::SessionToken | Route::SessionTokenRevoke => &["POST"],
            Route::Users | Route::Devices | Route::Groups | Route::Objects(_) => &["GET", "POST"],
            Route::User | Route::Device | Route::Group | Route::Object(_) => {
                &["GET", "PUT", "DELETE"]
            }
            Route::Permissions if version.permissions_listing() => &["GET", "POST", "DELETE"],
            Route::Permissions | Route::PermissionsBulk => &["POST", "DELETE"],
        }
    }

    /// `@PermitAll` methods: no credentials needed, bad credentials mean anonymous.
    pub fn permit_all(self, method: &str) -> bool {
        matches!(
            (self, method),
            (Route::Server, "GET") | (Route::Session, "GET" | "POST") | (Route::Users, "POST")
        )
    }

    /// The body a method consumes (decides 415).
    pub fn body(self, method: &str) -> BodyKind {
        match (self, method) {
            (Route::Session, "POST") | (Route::SessionToken | Route::SessionTokenRevoke, _) => {
                BodyKind::Form
            }
            (_, "POST" | "PUT") => BodyKind::Json,
            (Route::Permissions | Route::PermissionsBulk, "DELETE") => BodyKind::Json,
            _ => BodyKind::None,
        }
    }
}

/// Query or form pairs in request order, percent-decoded.
#[derive(Clone, Debug, Default)]
pub struct Pairs(pub Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Pairs {
    pub fn parse(raw: &str) -> Pairs {
        Pairs(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A `long` query parameter; one that does not convert is JAX-RS's 404.
    pub fn long(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.first(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::jaxrs_not_found()),
        }
    }

    /// A boolean query parameter: true only for `true` (any case).
    pub fn bool(&self, name: &str) -> bool {
        self.first(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Everything a handler may look at or change.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub auth: &'a mut AuthState,
    pub version: TraccarVersion,
    /// The acting user id; 0 = anonymous.
    pub me: i64,
    pub query: &'a Pairs,
    pub body: &'a [u8],
    pub path_id: i64,
    /// The cookie session the caller authenticated with, if any.
    pub session_id: Option<String>,
    /// Whether the caller authenticated through a cookie session (for token expiry capping).
    pub via_session: bool,
    /// The caller's address as Traccar records it in the audit log.
    pub address: String,
    /// The request's `Origin` header (stored in new sessions).
    pub origin: Option<String>,
    /// The full request URI (for Jetty's 404 page).
    pub uri: String,
}

impl Ctx<'_> {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value, ApiError> {
        super::wire::parse_json(self.body)
    }

    pub fn form(&self) -> Pairs {
        Pairs::parse(&self.body_str())
    }

    pub fn session_expiration(&self) -> Option<DateTime<Utc>> {
        if !self.via_session {
            return None;
        }
        self.session_id
            .as_deref()
            .and_then(|sid| self.auth.sessions.get(sid))
            .and_then(|s| s.expiration)
    }
}

/// A successful answer.
#[derive(Debug)]
pub enum Reply {
    /// 200 with a JSON body.
    Json(Value),
    /// 204 without a body.
    NoContent,
    /// 200 with a bare string body (a token) and `Content-Type: application/json`.
    Text(String),
    /// Any reply plus `Set-Cookie: JSESSIONID=<id>`.
    WithSession(Box<Reply>, String),
}

/// Runs the handler of `route` and `method` (both already validated).
pub fn handle(route: Route, method: &str, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    match (route, method) {
        (Route::Server, "GET") => server::get(ctx),
        (Route::Server, _) => server::update(ctx),
        (Route::Session, "GET") => session::get(ctx),
        (Route::Session, "POST") => session::login(ctx),
        (Route::Session, _) => session::logout(ctx),
        (Route::SessionUser, _) => session::impersonate(ctx),
        (Route::SessionToken, _) => session::token(ctx),
        (Route::SessionTokenRevoke, _) => session::revoke(ctx),
        (Route::Users, "GET") => users::list(ctx),
        (Route::Users, _) => users::create(ctx),
        (Route::User, "GET") => users::get(ctx),
        (Route::User, "PUT") => users::update(ctx),
        (Route::User, _) => users::delete(ctx),
        (Route::Devices, "GET") => devices::list(ctx),
        (Route::Devices, _) => devices::create(ctx),
        (Route::Device, "GET") => devices::get(ctx),
        (Route::Device, "PUT") => devices::update(ctx),
        (Route::Device, _) => devices::delete(ctx),
        (Route::Groups, "GET") => groups::list(ctx),
        (Route::Groups, _) => groups::create(ctx),
        (Route::Group, "GET") => groups::get(ctx),
        (Route::Group, "PUT") => groups::update(ctx),
        (Route::Group, _) => groups::delete(ctx),
        (Route::Permissions, "GET") => permissions::list(ctx),
        (Route::Permissions, "POST") => permissions::link(ctx, false),
        (Route::Permissions, _) => permissions::unlink(ctx, false),
        (Route::PermissionsBulk, "POST") => permissions::link(ctx, true),
        (Route::PermissionsBulk, _) => permissions::unlink(ctx, true),
        (Route::Audit, _) => audit::get(ctx),
        (Route::Objects(kind), _) => objects::handle(kind, false, method, ctx),
        (Route::Object(kind), _) => objects::handle(kind, true, method, ctx),
        (Route::NotificationTypes, _) => objects::notification_types(ctx),
        (Route::Notificators, _) => objects::notificators(ctx),
        (Route::CommandTypes, _) => objects::command_types(ctx),
    }
}

/// SQL `LIKE` with `%` and `_` (Traccar does not escape them in `keyword`).
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // dp[j]: pattern prefix of length j matches the text prefix consumed so far.
    let mut dp = vec![false; p.len() + 1];
    dp[0] = true;
    for j in 1..=p.len() {
        dp[j] = dp[j - 1] && p[j - 1] == '%';
    }
    for c in &t {
        let mut next = vec![false; p.len() + 1];
        for j in 1..=p.len() {
            next[j] = match p[j - 1] {
                '%' => next[j - 1] || dp[j],
                '_' => dp[j - 1],
                pc => dp[j - 1] && pc == *c,
            };
        }
        dp = next;
    }
    dp[p.len()]
}

/// Finishes a list the way `BaseObjectResource` does: keyword filter and paging (v6.13+),
/// ordering by the sort field (name or description; v6.6+, no tiebreaker beyond insertion
/// order, `None` first as NULL on H2).
pub fn finish_list<T, K: Ord>(
    ctx: &Ctx<'_>,
    mut items: Vec<&T>,
    name: impl Fn(&T) -> K,
    keyword_fields: impl Fn(&T) -> Vec<Option<String>>,
    to_json: impl Fn(&T, bool) -> Value,
) -> Result<Reply, ApiError> {
    let version = ctx.version;
    let (mut limit, mut offset) = (0, 0);
    if version.paging() {
        if let Some(keyword) = ctx.query.first("keyword").filter(|k| !k.is_empty()) {
            let pattern = format!("%{}%", keyword.to_lowercase());
            items.retain(|item| {
                keyword_fields(item)
                    .into_iter()
                    .flatten()
                    .any(|f| like(&f.to_lowercase(), &pattern))
            });
        }
        limit = ctx.query.long("limit")?.unwrap_or(0);
        offset = ctx.query.long("offset")?.unwrap_or(0);
    }
    if version.sorted_lists() {
        items.sort_by_key(|item| name(item));
    }
    if limit > 0 {
        items = items
            .into_iter()
            .skip(offset.max(0) as usize)
            .take(limit as usize)
            .collect();
    }
    let exclude = version.exclude_attributes() && ctx.query.bool("excludeAttributes");
    Ok(Reply::Json(Value::Array(
        items.into_iter().map(|i| to_json(i, exclude)).collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_wildcards() {
        assert!(like("hello world", "%lo w%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "%d%"));
        assert!(like("", "%%"));
    }

    #[test]
    fn pairs_decode_percent_and_plus() {
        let p = Pairs::parse("email=a%40b.c&x=1+2&flag");
        assert_eq!(p.first("email"), Some("a@b.c"));
        assert_eq!(p.first("x"), Some("1 2"));
        assert_eq!(p.first("flag"), Some(""));
    }
}
