//! Error answers exactly as Traccar gives them: the exception catalogue and its rendering.
//!
//! Traccar maps every exception thrown inside a resource to **400** with a plain-text body that
//! still says `Content-Type: application/json` (v6.7+: a Java stack trace; before: one line,
//! `<root message> - <SimpleClass> (<File>:<line> < ...)`). Jackson parse errors are 400
//! `text/plain` without a stack trace; a missing id is Jetty's HTML 404 page; 401/404/405/415 thrown
//! by JAX-RS get the same stack-trace treatment. This module only builds answers; it decides
//! nothing about *when* they happen.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::version::TraccarVersion;

/// A Java-looking failure, rendered per imitated version by [`ApiError::into_response`].
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// An exception that reached Traccar's `ResourceErrorHandler` (or JAX-RS): status + trace.
    Java {
        status: u16,
        /// Fully qualified class, e.g. `java.lang.SecurityException`.
        class: String,
        /// `None` for exceptions without a message (e.g. `java.util.NoSuchElementException`).
        message: Option<String>,
        /// A `Caused by:` exception (class, message); the pre-6.7 one-line form shows only this.
        cause: Option<(String, String)>,
        /// The first stack frame, `package.Class.method(File.java:line)`; the one-line (pre-6.7)
        /// form shows `File:line` (or the frames real 5.12 showed for that site).
        site: &'static str,
    },
    /// A Jackson deserialization error: 400 text/plain, the message only.
    Jackson(String),
    /// Jetty's HTML 404 page (a missing object id, or a path outside `/api`).
    JettyNotFound(String),
    /// `POST /api/session` for a TOTP user without `code`: 401 with `WWW-Authenticate: TOTP`.
    TotpRequired,
}

const SECURITY: &str = "java.lang.SecurityException";

impl ApiError {
    fn java(status: u16, class: &str, message: Option<&str>, site: &'static str) -> ApiError {
        ApiError::Java {
            status,
            class: class.to_string(),
            message: message.map(str::to_string),
            cause: None,
            site,
        }
    }

    /// `java.lang.SecurityException: <message>` (400): access denied, limits, readonly, registration.
    pub fn security(message: &str) -> ApiError {
        ApiError::java(
            400,
            SECURITY,
            Some(message),
            "org.traccar.api.security.PermissionsService.checkPermission(PermissionsService.java:212)",
        )
    }

    /// `java.lang.IllegalArgumentException: <message>` (400).
    pub fn illegal_argument(message: &str) -> ApiError {
        ApiError::java(
            400,
            "java.lang.IllegalArgumentException",
            Some(message),
            "org.traccar.model.Permission.<init>(Permission.java:56)",
        )
    }

    /// `java.lang.NullPointerException: <message>` (400).
    pub fn npe(message: &str) -> ApiError {
        ApiError::java(
            400,
            "java.lang.NullPointerException",
            Some(message),
            "org.traccar.api.security.PermissionsService.checkUserUpdate(PermissionsService.java:93)",
        )
    }

    /// The NPE Traccar throws when a check dereferences the anonymous (null) user.
    pub fn npe_null_user() -> ApiError {
        ApiError::npe(
            "Cannot invoke \"org.traccar.model.User.getAdministrator()\" because \"user\" is null",
        )
    }

    /// `java.util.NoSuchElementException` (400): a permission body with one key, before 6.14.
    pub fn no_such_element() -> ApiError {
        ApiError::java(
            400,
            "java.util.NoSuchElementException",
            None,
            "org.traccar.model.Permission.<init>(Permission.java:59)",
        )
    }

    /// `org.traccar.storage.StorageException: StorageName annotation is missing` (400): before
    /// 6.8.1, a non-admin's access check on a `managedUserId` (`ManagedUser` had no table name).
    pub fn storage_name_missing() -> ApiError {
        ApiError::java(
            400,
            "org.traccar.storage.StorageException",
            Some("StorageName annotation is missing"),
            "org.traccar.storage.DatabaseStorage.getStorageName(DatabaseStorage.java:202)",
        )
    }

    /// `jakarta.ws.rs.NotAcceptableException` (406): the request's `Accept` admits no
    /// `application/json` (Jersey's method selection, before authentication).
    pub fn not_acceptable() -> ApiError {
        ApiError::java(
            406,
            "jakarta.ws.rs.NotAcceptableException",
            Some("HTTP 406 Not Acceptable"),
            "org.glassfish.jersey.server.internal.routing.AbstractMethodSelectingRouter.getMethodRouter(AbstractMethodSelectingRouter.java:460)",
        )
    }

    /// Any other exception class with an optional message (400).
    pub fn other(class: &str, message: Option<&str>) -> ApiError {
        ApiError::java(
            400,
            class,
            message,
            "org.traccar.api.resource.PermissionsResource.add(PermissionsResource.java:71)",
        )
    }

    /// `org.traccar.storage.StorageException` wrapping an H2 JDBC exception (400).
    pub fn storage(jdbc_class: &str, jdbc_message: &str) -> ApiError {
        let full = format!("org.h2.jdbc.{jdbc_class}");
        ApiError::Java {
            status: 400,
            class: "org.traccar.storage.StorageException".to_string(),
            message: Some(format!("{full}: {jdbc_message}")),
            cause: Some((full, jdbc_message.to_string())),
            site: "org.traccar.storage.DatabaseStorage.addObject(DatabaseStorage.java:121)",
        }
    }

    /// H2 NOT NULL violation on `column` of `insert`.
    pub fn not_null(column: &str, insert: &str) -> ApiError {
        ApiError::storage(
            "JdbcSQLIntegrityConstraintViolationException",
            &format!(
                "NULL not allowed for column \"{column}\"; SQL statement:\n{insert} [23502-232]"
            ),
        )
    }

    /// H2 unique index violation (duplicate email or uniqueId); `row` is the id of the row that
    /// already holds the value (H2 names its row key, as real 5.12 showed).
    pub fn unique(
        index: &str,
        table_column: &str,
        row: i64,
        value: &str,
        statement: &str,
    ) -> ApiError {
        ApiError::storage(
            "JdbcSQLIntegrityConstraintViolationException",
            &format!(
                "Unique index or primary key violation: \"PUBLIC.{index} ON PUBLIC.{table_column} NULLS FIRST) VALUES ( /* {row} */ '{value}' )\"; SQL statement:\n{statement} [23505-232]"
            ),
        )
    }

    /// H2 foreign key violation.
    pub fn foreign_key(
        constraint: &str,
        table: &str,
        column: &str,
        target: &str,
        id: i64,
        statement: &str,
    ) -> ApiError {
        ApiError::storage(
            "JdbcSQLIntegrityConstraintViolationException",
            &format!(
                "Referential integrity constraint violation: \"{constraint}: PUBLIC.{table} FOREIGN KEY({column}) REFERENCES PUBLIC.{target}(ID) ({id})\"; SQL statement:\n{statement} [23506-232]"
            ),
        )
    }

    /// H2 "table not found" (a permission whose key pair names no link table).
    pub fn table_not_found(table: &str, statement: &str) -> ApiError {
        ApiError::storage(
            "JdbcSQLSyntaxErrorException",
            &format!(
                "Table \"{}\" not found; SQL statement:\n{statement} [42102-232]",
                table.to_uppercase()
            ),
        )
    }

    /// 401 from the security filter (no `WWW-Authenticate` unless Accept has text/html).
    pub fn unauthorized() -> ApiError {
        ApiError::java(
            401,
            "jakarta.ws.rs.WebApplicationException",
            Some("HTTP 401 Unauthorized"),
            "org.traccar.api.security.SecurityRequestFilter.filter(SecurityRequestFilter.java:129)",
        )
    }

    /// A `WebApplicationException` with the given status (e.g. 404 from `GET /api/session`).
    pub fn web(status: u16) -> ApiError {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        ApiError::java(
            status,
            "jakarta.ws.rs.WebApplicationException",
            Some(&format!("HTTP {status} {reason}")),
            "org.traccar.api.resource.SessionResource.get(SessionResource.java:110)",
        )
    }

    /// JAX-RS 404: unknown path under /api, or a path/query parameter that does not convert.
    pub fn jaxrs_not_found() -> ApiError {
        ApiError::java(
            404,
            "jakarta.ws.rs.NotFoundException",
            Some("HTTP 404 Not Found"),
            "org.glassfish.jersey.server.ServerRuntime$2.run(ServerRuntime.java:266)",
        )
    }

    /// JAX-RS 405.
    pub fn not_allowed() -> ApiError {
        ApiError::java(
            405,
            "jakarta.ws.rs.NotAllowedException",
            Some("HTTP 405 Method Not Allowed"),
            "org.glassfish.jersey.server.internal.routing.MethodSelectingRouter.getMethodRouter(MethodSelectingRouter.java:442)",
        )
    }

    /// JAX-RS 415.
    pub fn unsupported_media_type() -> ApiError {
        ApiError::java(
            415,
            "jakarta.ws.rs.NotSupportedException",
            Some("HTTP 415 Unsupported Media Type"),
            "org.glassfish.jersey.server.internal.routing.MethodSelectingRouter.getMethodRouter(MethodSelectingRouter.java:470)",
        )
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Java { status, .. } => *status,
            ApiError::Jackson(_) => 400,
            ApiError::JettyNotFound(_) => 404,
            ApiError::TotpRequired => 401,
        }
    }

    /// The first line of the body as a v6.7+ server would write it (for logs and tests).
    pub fn first_line(&self) -> String {
        match self {
            ApiError::Java { class, message, .. } => match message {
                Some(m) => format!("{class}: {}", m.lines().next().unwrap_or_default()),
                None => class.clone(),
            },
            ApiError::Jackson(m) => m.lines().next().unwrap_or_default().to_string(),
            ApiError::JettyNotFound(_) => "Error 404 Not Found".to_string(),
            ApiError::TotpRequired => ApiError::unauthorized().first_line(),
        }
    }

    /// Renders the answer the imitated version would give. `accept_html` adds
    /// `WWW-Authenticate: Basic realm="api"` to 401s, as Traccar does since v5.7.
    pub fn into_response(self, version: TraccarVersion, accept_html: bool) -> Response {
        match self {
            ApiError::TotpRequired => {
                let mut response = ApiError::unauthorized().into_response(version, false);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("TOTP"));
                response
            }
            ApiError::Java {
                status,
                class,
                message,
                cause,
                site,
            } => {
                // The embedded H2's build number differs between 5.x and 6.x.
                let message = message.map(|m| h2_text(&m, version));
                let cause = cause.map(|(c, m)| (c, h2_text(&m, version)));
                let body = if version.stack_trace_errors() {
                    stack_trace(&class, message.as_deref(), cause.as_ref(), site)
                } else {
                    one_line(&class, message.as_deref(), cause.as_ref(), site)
                };
                let mut response = Response::new(Body::from(body));
                *response.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                // Jersey uses the resource's @Produces even for the plain-text trace; 405/406/415
                // are produced before a resource method is chosen and carry no Content-Type.
                if !matches!(status, 405 | 406 | 415) {
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                if status == 401 && accept_html {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"api\""),
                    );
                }
                response
            }
            ApiError::Jackson(message) => {
                let message = jackson_text(message, version);
                let mut response = Response::new(Body::from(message));
                *response.status_mut() = StatusCode::BAD_REQUEST;
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
            ApiError::JettyNotFound(uri) => {
                let body = if version.at_least(6, 0) {
                    format!(
                        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error 404 Not Found</title>\n</head>\n<body>\n<h2>HTTP ERROR 404 Not Found</h2>\n<table>\n<tr><th>URI:</th><td>{}</td></tr>\n<tr><th>STATUS:</th><td>404</td></tr>\n<tr><th>MESSAGE:</th><td>Not Found</td></tr>\n</table>\n<hr/><a href=\"https://jetty.org/\">Powered by Jetty:// 12.1.0</a><hr/>\n\n</body>\n</html>\n",
                        html_escape(&uri)
                    )
                } else {
                    // Traccar 5.12's own error page (Jetty 11), seen on a real 5.12.
                    "<!DOCTYPE><html><head><title>Error</title></head><html><body>404 - Not Found</body></html>".to_string()
                };
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::NOT_FOUND;
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("must-revalidate,no-cache,no-store"),
                );
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html;charset=iso-8859-1"),
                );
                response
            }
        }
    }
}

/// An H2 message (written as H2 2.3.232 words it) as the imitated release's H2 words it: the
/// build number (2.2.224 in 5.x, 2.4.240 in 6.14) and, from 2.4, the unique violation naming
/// its constraint before the index (`"PUBLIC.CONSTRAINT_9 INDEX PUBLIC.CONSTRAINT_9_INDEX_1 ON`).
fn h2_text(message: &str, version: TraccarVersion) -> String {
    let mut text = message.replace("-232]", &format!("-{}]", version.h2_build()));
    const UNIQUE: &str = "Unique index or primary key violation: \"PUBLIC.";
    if version.h2_build() >= 240
        && let Some(start) = text.find(UNIQUE).map(|i| i + UNIQUE.len())
        && let Some(index) = text[start..].split(' ').next().map(str::to_string)
        && let Some((constraint, _)) = index.rsplit_once("_INDEX_")
    {
        text.insert_str(start, &format!("{constraint} INDEX PUBLIC."));
    }
    text
}

/// A Jackson message (written as 6.9.1's Jackson words it) as the imitated release's words it:
/// 6.14.4's closes the list of known properties with `)` where 6.9.1's wrote `])` (both seen).
fn jackson_text(message: String, version: TraccarVersion) -> String {
    if !version.jackson_unbracketed_known_properties() {
        return message;
    }
    let first_end = message.find('\n').unwrap_or(message.len());
    let (first, rest) = message.split_at(first_end);
    match first.strip_suffix("])") {
        Some(head) if first.contains("known properties: ") => format!("{head}){rest}"),
        _ => message,
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The fake frames below the first line: enough to look like Traccar, few enough to stay small.
const FRAMES: [&str; 8] = [
    "org.traccar.api.BaseResource.invoke(BaseResource.java:58)",
    "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
    "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
    "org.glassfish.jersey.server.model.internal.ResourceMethodInvocationHandlerFactory.lambda$static$0(ResourceMethodInvocationHandlerFactory.java:52)",
    "org.glassfish.jersey.server.ServerRuntime$1.run(ServerRuntime.java:255)",
    "org.eclipse.jetty.ee10.servlet.ServletHandler$ChainEnd.doFilter(ServletHandler.java:1605)",
    "org.eclipse.jetty.server.Server.handle(Server.java:182)",
    "java.base/java.lang.Thread.run(Thread.java:1583)",
];

fn stack_trace(
    class: &str,
    message: Option<&str>,
    cause: Option<&(String, String)>,
    site: &str,
) -> String {
    let mut out = match message {
        Some(m) => format!("{class}: {m}\n"),
        None => format!("{class}\n"),
    };
    out.push_str(&format!("\tat {site}\n"));
    for frame in FRAMES {
        out.push_str("\tat ");
        out.push_str(frame);
        out.push('\n');
    }
    if let Some((cause_class, cause_message)) = cause {
        out.push_str(&format!("Caused by: {cause_class}: {cause_message}\n"));
        out.push_str("\tat org.h2.message.DbException.getJdbcSQLException(DbException.java:520)\n");
        out.push_str("\t... 42 more\n");
    }
    out
}

fn one_line(
    class: &str,
    message: Option<&str>,
    cause: Option<&(String, String)>,
    site: &str,
) -> String {
    // Log.exceptionStack in v6.6 and older: the root cause's message (if any, newlines kept)
    // and simple class name, then up to three org.traccar files of its stack, `...` for the rest.
    let (class, message) = match cause {
        Some((c, m)) => (c.as_str(), Some(m.as_str())),
        None => (class, message),
    };
    let simple = class.rsplit('.').next().unwrap_or(class);
    let trace = legacy_trace(site, cause.is_some());
    match message {
        Some(m) => format!("{m} - {simple} ({trace})"),
        None => format!("{simple} ({trace})"),
    }
}

/// The `(...)` part of a pre-6.7 error line for a throw site, as real 5.12 wrote it for the
/// sites seen there; otherwise the site's file and line, then Jersey and Traccar's filter.
fn legacy_trace(site: &str, jdbc: bool) -> String {
    const TAIL: &str = "... < OverrideFilter:49 < ...";
    if jdbc {
        return "... < QueryBuilder:469 < DatabaseStorage:95 < BaseObjectResource:73 < ...".into();
    }
    if site.starts_with("org.glassfish.") {
        return TAIL.into();
    }
    if site.contains("Permission.<init>") && !site.contains(":56)") {
        return format!("... < Permission:59 < PermissionsResource:71 < *:88 < {TAIL}");
    }
    if site.contains("DatabaseStorage.getStorageName") {
        return "DatabaseStorage:202 < *:68 < Storage:49 < PermissionsService:213 < ...".into();
    }
    if site.contains("SecurityRequestFilter") {
        return format!("SecurityRequestFilter:132 < {TAIL}");
    }
    if site.contains("PermissionsService.checkPermission") {
        return format!("PermissionsService:220 < BaseObjectResource:59 < {TAIL}");
    }
    let location = site
        .rsplit_once('(')
        .map(|(_, l)| l.trim_end_matches(')'))
        .unwrap_or(site)
        .replace(".java:", ":");
    format!("{location} < {TAIL}")
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.first_line(), self.status())
    }
}

impl std::error::Error for ApiError {}
