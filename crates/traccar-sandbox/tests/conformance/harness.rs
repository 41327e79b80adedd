//! Test harness: picks the target (sandbox or real server), bootstraps an admin, and offers small
//! HTTP helpers that return status, headers and raw body (error bodies are never JSON-parsed).

use std::net::SocketAddr;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use traccar_sandbox::{Sandbox, SandboxConfig, TraccarVersion};

/// Login credentials of a test account.
#[derive(Clone, Debug)]
pub struct Creds {
    pub id: i64,
    pub email: String,
    pub password: String,
}

/// The server under test.
pub struct Target {
    pub base: String,
    pub admin: Creds,
    /// `version` from `GET /api/server`.
    pub version: String,
    pub sandbox: Option<Sandbox>,
    pub client: reqwest::Client,
}

/// A response, body kept as text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The server writes pre-6.7 one-line error bodies (`<message> - <Class> (<File:line> ...)`).
    pub legacy: bool,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    /// The first line of the body in the v6.7+ form `<class>: <message>`; pre-6.7 bodies
    /// (`<message> - <SimpleClass> (<frames>)`, or `<SimpleClass> (<frames>)` without a message;
    /// the message may span lines) are translated, their root cause keeping its message.
    pub fn first_line(&self) -> String {
        let line = self.text.lines().next().unwrap_or_default();
        // Jackson's text/plain answers have no one-line form to translate.
        let jackson = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"));
        if !self.legacy || self.status < 400 || jackson {
            return line.to_string();
        }
        let text = self.text.trim_end();
        let is_class = |s: &str| {
            let word = s.split(' ').next().unwrap_or_default();
            !word.is_empty()
                && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '$')
                && (word.ends_with("Exception") || word.ends_with("Error"))
        };
        let (message, rest) = match text.rsplit_once(" - ") {
            Some((m, r)) if is_class(r) => (Some(m), r),
            _ if is_class(text) => (None, text),
            _ => return line.to_string(),
        };
        let simple = rest.split(' ').next().unwrap_or_default();
        let class = match simple {
            "SecurityException"
            | "NullPointerException"
            | "IllegalArgumentException"
            | "ArrayIndexOutOfBoundsException" => {
                format!("java.lang.{simple}")
            }
            "NoSuchElementException" => "java.util.NoSuchElementException".to_string(),
            "WebApplicationException"
            | "NotFoundException"
            | "NotAllowedException"
            | "NotAcceptableException"
            | "NotSupportedException" => {
                format!("jakarta.ws.rs.{simple}")
            }
            "StorageException" => "org.traccar.storage.StorageException".to_string(),
            jdbc if jdbc.starts_with("Jdbc") => {
                format!("org.traccar.storage.StorageException: org.h2.jdbc.{jdbc}")
            }
            other => other.to_string(),
        };
        match message.and_then(|m| m.lines().next()) {
            Some(m) => format!("{class}: {m}"),
            None => class,
        }
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn id(&self) -> i64 {
        self.json()["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
    /// Asserts a Traccar exception answer: 400 (or `status`) and this first line.
    #[track_caller]
    pub fn expect_error(&self, status: u16, first_line: &str) -> &Resp {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.first_line(),
            first_line,
            "unexpected first line; body: {}",
            self.text
        );
        self
    }
}

/// How a request authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    None,
    Basic(&'a Creds),
    Raw(&'a str, &'a str),
    Bearer(&'a str),
    Header(&'a str),
}

pub fn suffix() -> String {
    hex::encode(rand::random::<[u8; 5]>())
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .build()
        .expect("client")
}

const ADMIN_PASSWORD: &str = "admin-pass";

/// The sandbox mode [`target`] starts when no real server is configured:
/// `TRACCAR_SANDBOX_VERSION` (`6.14`, `6.9` or `5.12`), else the default (6.14).
pub fn sandbox_version() -> TraccarVersion {
    match std::env::var("TRACCAR_SANDBOX_VERSION") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("TRACCAR_SANDBOX_VERSION: {e}")),
        Err(_) => TraccarVersion::default(),
    }
}

/// The default target: the real server from the environment, else a fresh sandbox in the
/// [`sandbox_version`] mode with that version's new-server defaults.
pub async fn target() -> Target {
    match (
        std::env::var("TRACCAR_CONFORMANCE_URL"),
        std::env::var("TRACCAR_CONFORMANCE_EMAIL"),
        std::env::var("TRACCAR_CONFORMANCE_PASSWORD"),
    ) {
        (Ok(url), Ok(email), Ok(password)) => {
            assert!(
                url.contains("127.0.0.1"),
                "the conformance suite only talks to 127.0.0.1"
            );
            let client = client();
            let base = url.trim_end_matches('/').to_string();
            let mut t = Target {
                base,
                admin: Creds {
                    id: 0,
                    email: email.clone(),
                    password: password.clone(),
                },
                version: String::new(),
                sandbox: None,
                client,
            };
            let me = t
                .client
                .post(t.url("/api/session"))
                .form(&[("email", &email), ("password", &password)])
                .send()
                .await;
            let me = me
                .expect("login")
                .json::<Value>()
                .await
                .expect("login json");
            t.admin.id = me["id"].as_i64().expect("admin id");
            t.version = t.get(Auth::None, "/api/server").await.json()["version"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            t
        }
        _ => {
            sandbox_target(SandboxConfig {
                version: sandbox_version(),
                ..SandboxConfig::default()
            })
            .await
        }
    }
}

/// A fresh in-process sandbox with a bootstrapped administrator (always, even with a real
/// server configured).
pub async fn sandbox_target(config: SandboxConfig) -> Target {
    let mut t = fresh_sandbox(config).await;
    let r = t
        .post(
            Auth::None,
            "/api/users",
            json!({"name": "admin", "email": "admin@example.com", "password": ADMIN_PASSWORD}),
        )
        .await;
    r.expect(200);
    t.admin.id = r.id();
    t
}

/// A fresh in-process sandbox without any user.
pub async fn fresh_sandbox(config: SandboxConfig) -> Target {
    let version = config.version.version_string().to_string();
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let sandbox = Sandbox::start(config, listen)
        .await
        .expect("sandbox starts");
    Target {
        base: sandbox.url(),
        admin: Creds {
            id: 0,
            email: "admin@example.com".into(),
            password: ADMIN_PASSWORD.into(),
        },
        version,
        sandbox: Some(sandbox),
        client: client(),
    }
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn is_real(&self) -> bool {
        self.sandbox.is_none()
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("an in-process sandbox")
    }

    /// Whether the server is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        v >= (major, minor)
    }

    /// The status of a request with wrong Basic credentials (5.11–5.12: 400 NPE, else 401).
    pub fn bad_credentials(&self) -> u16 {
        if self.at_least(5, 11) && !self.at_least(6, 0) {
            400
        } else {
            401
        }
    }

    pub fn admin(&self) -> Auth<'_> {
        Auth::Basic(&self.admin)
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        auth: Auth<'_>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut request = client.request(method, self.url(path));
        request = match auth {
            Auth::None => request,
            Auth::Basic(c) => request.basic_auth(&c.email, Some(&c.password)),
            Auth::Raw(e, p) => request.basic_auth(e, Some(p)),
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Header(value) => request.header("Authorization", value),
        };
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
            legacy: !self.at_least(6, 7),
        }
    }

    pub async fn call(
        &self,
        auth: Auth<'_>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        self.send(&self.client, auth, method, path, body).await
    }
    pub async fn get(&self, auth: Auth<'_>, path: &str) -> Resp {
        self.call(auth, Method::GET, path, None).await
    }
    pub async fn post(&self, auth: Auth<'_>, path: &str, body: Value) -> Resp {
        self.call(auth, Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, auth: Auth<'_>, path: &str, body: Value) -> Resp {
        self.call(auth, Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, auth: Auth<'_>, path: &str) -> Resp {
        self.call(auth, Method::DELETE, path, None).await
    }
    pub async fn delete_json(&self, auth: Auth<'_>, path: &str, body: Value) -> Resp {
        self.call(auth, Method::DELETE, path, Some(body)).await
    }

    /// POST a raw body with an explicit Content-Type.
    pub async fn post_raw(
        &self,
        auth: Auth<'_>,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Resp {
        let mut request = self
            .client
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body.to_string());
        if let Auth::Basic(c) = auth {
            request = request.basic_auth(&c.email, Some(&c.password));
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Resp {
            status,
            headers,
            text: response.text().await.expect("body"),
            legacy: !self.at_least(6, 7),
        }
    }

    /// POST a form.
    pub async fn form(
        &self,
        client: &reqwest::Client,
        auth: Auth<'_>,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Resp {
        let mut request = client.post(self.url(path)).form(fields);
        match auth {
            Auth::Basic(c) => request = request.basic_auth(&c.email, Some(&c.password)),
            Auth::Bearer(t) => request = request.bearer_auth(t),
            _ => {}
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Resp {
            status,
            headers,
            text: response.text().await.expect("body"),
            legacy: !self.at_least(6, 7),
        }
    }

    /// Creates a user as `by` from a unique name/email/password plus `extra` fields.
    pub async fn create_user(&self, by: Auth<'_>, extra: Value) -> (Resp, Creds) {
        let sfx = suffix();
        let mut body = json!({"name": format!("conf-{sfx}"), "email": format!("conf-{sfx}@example.com"), "password": format!("pw-{sfx}")});
        merge(&mut body, extra);
        let r = self.post(by, "/api/users", body.clone()).await;
        let id = if r.status == 200 { r.id() } else { 0 };
        let creds = Creds {
            id,
            email: body["email"].as_str().unwrap_or_default().to_string(),
            password: body["password"].as_str().unwrap_or_default().to_string(),
        };
        (r, creds)
    }

    /// Creates a user as admin (expects 200).
    pub async fn user(&self, extra: Value) -> Creds {
        let (r, creds) = self.create_user(self.admin(), extra).await;
        r.expect(200);
        creds
    }

    /// Creates a manager (`userLimit`, `deviceLimit`) as admin.
    pub async fn manager(&self, user_limit: i64, device_limit: i64) -> Creds {
        self.user(json!({"userLimit": user_limit, "deviceLimit": device_limit}))
            .await
    }

    /// Creates a device as `by` with a unique uniqueId plus `extra` fields.
    pub async fn create_device(&self, by: Auth<'_>, extra: Value) -> Resp {
        let sfx = suffix();
        let mut body =
            json!({"name": format!("conf-dev-{sfx}"), "uniqueId": format!("conf-{sfx}")});
        merge(&mut body, extra);
        self.post(by, "/api/devices", body).await
    }

    /// Creates a device as `by` (expects 200); returns (id, uniqueId).
    pub async fn device(&self, by: Auth<'_>) -> (i64, String) {
        let r = self.create_device(by, json!({})).await;
        r.expect(200);
        (
            r.id(),
            r.json()["uniqueId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Creates a group as `by` under `parent` (expects 200).
    pub async fn group(&self, by: Auth<'_>, parent: i64) -> i64 {
        let r = self
            .post(
                by,
                "/api/groups",
                json!({"name": format!("conf-grp-{}", suffix()), "groupId": parent}),
            )
            .await;
        r.expect(200);
        r.id()
    }

    pub async fn link(&self, by: Auth<'_>, body: Value) -> Resp {
        self.post(by, "/api/permissions", body).await
    }

    /// The ids in a JSON list answer (expects 200).
    pub async fn ids(&self, auth: Auth<'_>, path: &str) -> Vec<i64> {
        let r = self.get(auth, path).await;
        r.expect(200);
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|o| o["id"].as_i64())
            .collect()
    }

    /// GET an object as `who` (expects 200).
    pub async fn fetch_as(&self, who: &Creds, path: &str) -> Value {
        let r = self.get(Auth::Basic(who), path).await;
        r.expect(200);
        r.json()
    }

    /// GET an object as admin (expects 200).
    pub async fn fetch(&self, path: &str) -> Value {
        let r = self.get(self.admin(), path).await;
        r.expect(200);
        r.json()
    }
}

/// A valid iCalendar file: the one observed-objects.md's probe stored (daily 08:00-17:00 UTC).
pub const ICS: &str = "BEGIN:VCALENDAR\r\nPRODID:-//probe//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@probe\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T080000Z\r\nDTEND:20260101T170000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:work hours\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// `text` as a calendar's `data` wants it (standard base64 with padding).
pub fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Target {
    /// POSTs an object of any kind as `by` (expects 200); returns its id.
    pub async fn object(&self, by: Auth<'_>, path: &str, body: Value) -> i64 {
        let r = self.post(by, path, body).await;
        r.expect(200);
        r.id()
    }

    /// A geofence with a unique name, created as `by`.
    pub async fn geofence(&self, by: Auth<'_>) -> i64 {
        self.object(
            by,
            "/api/geofences",
            json!({"name": format!("conf-gf-{}", suffix()), "area": "CIRCLE (48.2082 16.3738, 200)"}),
        )
        .await
    }

    /// A calendar with a unique name and [`ICS`], created as `by`.
    pub async fn calendar(&self, by: Auth<'_>) -> i64 {
        self.object(
            by,
            "/api/calendars",
            json!({"name": format!("conf-cal-{}", suffix()), "data": base64(ICS)}),
        )
        .await
    }

    /// A saved `custom` command with a unique description, created as `by`.
    pub async fn command(&self, by: Auth<'_>) -> i64 {
        self.object(
            by,
            "/api/commands",
            json!({"description": format!("conf-cmd-{}", suffix()), "type": "custom"}),
        )
        .await
    }

    /// A notification of `type`, created as `by`.
    pub async fn notification(&self, by: Auth<'_>, extra: Value) -> i64 {
        let mut body = json!({"type": "alarm"});
        merge(&mut body, extra);
        self.object(by, "/api/notifications", body).await
    }

    /// Jackson's first line for an unknown property `field` of `org.traccar.model.<class>`
    /// knowing `known` (in Jackson's order): real 6.14.4 closes the list with `)`, 6.9.1 with
    /// `])`.
    pub fn unrecognized(&self, class: &str, field: &str, known: &[&str]) -> String {
        let list = known
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let close = if self.at_least(6, 14) { ")" } else { "])" };
        format!(
            "Unrecognized field \"{field}\" (class org.traccar.model.{class}), not marked as ignorable ({} known properties: {list}{close}",
            known.len()
        )
    }

    /// The values of `field` in a JSON list answer, in order (expects 200).
    pub async fn column(&self, auth: Auth<'_>, path: &str, field: &str) -> Vec<Value> {
        let r = self.get(auth, path).await;
        r.expect(200);
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .map(|o| o[field].clone())
            .collect()
    }
}

/// Shallow-merges `extra` into `body`.
pub fn merge(body: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// The JSON payload inside a token (after the signature), for either signature scheme.
pub fn token_payload(token: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .expect("base64url token");
    let start = (0..bytes.len())
        .rev()
        .find(|&i| bytes[i..].starts_with(b"{\"u\":") || bytes[i..].starts_with(b"{\"i\":"))
        .expect("payload");
    serde_json::from_slice(&bytes[start..]).expect("payload json")
}
