//! The HTTP edge of the Traccar backend: one authenticated client, typed request helpers, and
//! the error type every failed request becomes ("POST /api/users -> 400: Registration disabled").
//!
//! Authentication happens once: Basic credentials are exchanged for a session cookie with
//! `POST /api/session` (every Basic request would make Traccar re-hash the password), a Bearer
//! token is sent as a header. Credentials never appear in errors, logs or `Debug` output: they
//! live in `Secret`s, and the only URL that carries a token (`/api/session?token=`) is never
//! printed with its query.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::secret::Secret;

/// How fleetform authenticates. Only ever read from the environment or flags, never the file.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A Traccar API token (`Authorization: Bearer`), from `TRACCAR_TOKEN`.
    Token(Secret),
    /// Email and password, from `TRACCAR_EMAIL` + `TRACCAR_PASSWORD`, or decoded from
    /// `TRACCAR_AUTH_TOKEN` (a base64 `email:password` as fleet vendors hand them out).
    Password { email: String, password: Secret },
}

impl Credentials {
    /// Decodes an already base64-encoded Basic credential (`base64(email:password)`), with or
    /// without a leading `Basic `.
    pub fn from_basic_token(token: &Secret) -> anyhow::Result<Credentials> {
        let raw = token.expose().trim();
        let raw = raw
            .strip_prefix("Basic ")
            .or_else(|| raw.strip_prefix("basic "))
            .unwrap_or(raw);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(decoded) = bytes else {
            bail!("TRACCAR_AUTH_TOKEN is not valid base64 of `email:password`");
        };
        let Some((email, password)) = decoded.split_once(':') else {
            bail!("TRACCAR_AUTH_TOKEN does not decode to `email:password` (no colon found)");
        };
        Ok(Credentials::Password {
            email: email.to_string(),
            password: Secret::new(password),
        })
    }
}

/// A request that failed: the request, the status and the first line of the server's message.
/// Traccar answers errors with a Java stack trace whose first line is `<exception>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(
                f,
                "{} {} -> {}: {}",
                self.method, self.path, status, self.message
            ),
            None => write!(f, "{} {} -> {}", self.method, self.path, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// True when the server said the object is unknown or the link's object is gone.
    pub fn is_status(&self, status: u16) -> bool {
        self.status == Some(status)
    }
}

/// The longest server message kept in an error: a stack trace's first line is what matters.
const MAX_MESSAGE: usize = 300;
/// Response bodies larger than this are refused, so a hostile server cannot exhaust memory.
const MAX_BODY: usize = 512 * 1024 * 1024;

/// Reduces a Traccar error body to its useful first line: `java.lang.SecurityException: Device
/// access denied` becomes `Device access denied`; HTML pages become their status text.
pub fn summarize_error_body(body: &str, status: StatusCode) -> String {
    let first = body.lines().map(str::trim).find(|l| !l.is_empty());
    let line = match first {
        None => status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string(),
        Some(l) if l.starts_with('<') => status.canonical_reason().unwrap_or("error").to_string(),
        Some(l) => {
            // `pkg.Class: message` -> `message`; keep the class when there is no message.
            match l.split_once(": ") {
                Some((class, msg)) if class.contains('.') && !class.contains(' ') => {
                    msg.to_string()
                }
                _ => l.to_string(),
            }
        }
    };
    let mut line: String = line.chars().take(MAX_MESSAGE).collect();
    if line.is_empty() {
        line = status.canonical_reason().unwrap_or("error").to_string();
    }
    line
}

/// An authenticated Traccar client.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    bearer: Option<Secret>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base.as_str())
            .finish()
    }
}

/// Refuses plain http to anything but loopback: Basic credentials and tokens would travel in
/// clear. `allow_insecure_http` (the `--insecure-http` flag) lifts the refusal.
pub fn check_url(url: &str, allow_insecure_http: bool) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("invalid server URL {url:?}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback && !allow_insecure_http {
                bail!(
                    "refusing plain http to {}: credentials would travel unencrypted; use https, or pass --insecure-http if you accept that",
                    parsed.host_str().unwrap_or("?")
                );
            }
        }
        other => bail!("unsupported URL scheme {other:?} in {url:?}; use https://"),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!(
            "the server URL must not contain credentials; use TRACCAR_EMAIL/TRACCAR_PASSWORD or TRACCAR_TOKEN"
        );
    }
    Ok(parsed)
}

impl Api {
    /// Builds a client and authenticates. Returns the client and the acting user's JSON.
    pub async fn connect(
        base: Url,
        credentials: &Credentials,
        timeout: Duration,
    ) -> anyhow::Result<(Api, serde_json::Value)> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("fleetform/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let mut api = Api {
            http,
            base,
            bearer: None,
        };
        let me = match credentials {
            Credentials::Password { email, password } => api.login(email, password).await?,
            Credentials::Token(token) => {
                api.bearer = Some(token.clone());
                api.whoami_with_token(token).await?
            }
        };
        Ok((api, me))
    }

    /// `POST /api/session`: exchanges email and password for a session cookie.
    async fn login(&self, email: &str, password: &Secret) -> anyhow::Result<serde_json::Value> {
        let url = self.url("/api/session")?;
        let response = self
            .http
            .post(url)
            .form(&[("email", email), ("password", password.expose())])
            .send()
            .await
            .map_err(|e| transport_error("POST", "/api/session", &e))?;
        let status = response.status();
        let body = read_body(response, "POST", "/api/session").await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                anyhow::Error::new(ApiError {
                    method: "POST".into(),
                    path: "/api/session".into(),
                    status: Some(status.as_u16()),
                    message: format!("the server's answer is not a user: {e}"),
                })
            });
        }
        let message = summarize_error_body(&String::from_utf8_lossy(&body), status);
        // 401 is the normal answer; 5.11-5.12 answer bad credentials with a 400 NPE.
        if status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::BAD_REQUEST && message.contains("NullPointer"))
        {
            bail!(
                "authentication failed for {email}: the server rejected the email or password (POST /api/session -> {})",
                status.as_u16()
            );
        }
        Err(ApiError {
            method: "POST".into(),
            path: "/api/session".into(),
            status: Some(status.as_u16()),
            message,
        })
        .with_context(|| format!("logging in as {email}"))
    }

    /// `GET /api/session?token=`: the only way Traccar tells who a token belongs to. The URL
    /// holds the token, so it is never printed.
    async fn whoami_with_token(&self, token: &Secret) -> anyhow::Result<serde_json::Value> {
        let mut url = self.url("/api/session")?;
        url.query_pairs_mut().append_pair("token", token.expose());
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error("GET", "/api/session", &e))?;
        let status = response.status();
        let body = read_body(response, "GET", "/api/session").await?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .context("GET /api/session: the server's answer is not a user");
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST {
            bail!(
                "authentication failed: the server rejected TRACCAR_TOKEN (GET /api/session -> {}); check that the token is valid and not expired",
                status.as_u16()
            );
        }
        Err(anyhow::Error::new(ApiError {
            method: "GET".into(),
            path: "/api/session".into(),
            status: Some(status.as_u16()),
            message: summarize_error_body(&String::from_utf8_lossy(&body), status),
        }))
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .with_context(|| format!("building the URL for {path}"))
    }

    /// Sends one request and returns the body of a 2xx answer, or an `ApiError`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let shown = display_path(path, query);
        let err = |status: Option<u16>, message: String| ApiError {
            method: method.to_string(),
            path: shown.clone(),
            status,
            message,
        };
        let mut url = self.url(path).map_err(|e| err(None, format!("{e:#}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            // DELETE /api/permissions needs its JSON body too; reqwest sends it.
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| err(None, transport_message(&e)))?;
        let status = response.status();
        let bytes = read_body(response, method.as_str(), &shown)
            .await
            .map_err(|e| err(Some(status.as_u16()), format!("{e:#}")))?;
        if status.is_success() {
            Ok(bytes)
        } else {
            let text = String::from_utf8_lossy(&bytes);
            Err(err(
                Some(status.as_u16()),
                summarize_error_body(&text, status),
            ))
        }
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let bytes = self.send(Method::GET, path, query, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError {
            method: "GET".into(),
            path: display_path(path, query),
            status: Some(200),
            message: format!("unexpected answer from the server: {e}"),
        })
    }

    /// A write whose answer body fleetform does not need (PUT echo, DELETE, permissions).
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        self.send(method, path, &[], body).await.map(|_| ())
    }

    /// POST a JSON object and decode the answer.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ApiError> {
        let bytes = self.send(Method::POST, path, &[], Some(body)).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError {
            method: "POST".into(),
            path: path.into(),
            status: Some(200),
            message: format!("unexpected answer from the server: {e}"),
        })
    }
}

fn display_path(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", q.join("&"))
}

fn transport_message(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL; ours never carries credentials, but keep the message
    // short and free of URLs anyway.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

fn transport_error(method: &str, path: &str, e: &reqwest::Error) -> anyhow::Error {
    anyhow::Error::new(ApiError {
        method: method.into(),
        path: path.into(),
        status: None,
        message: transport_message(e),
    })
}

async fn read_body(
    mut response: reqwest::Response,
    method: &str,
    path: &str,
) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(method, path, &e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            bail!("{method} {path}: the answer exceeds {MAX_BODY} bytes; refusing to read it");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_reduce_to_their_message() {
        let trace =
            "java.lang.SecurityException: Device access denied\n\tat org.traccar.X(X.java:1)";
        assert_eq!(
            summarize_error_body(trace, StatusCode::BAD_REQUEST),
            "Device access denied"
        );
        assert_eq!(
            summarize_error_body("<html><body>404</body></html>", StatusCode::NOT_FOUND),
            "Not Found"
        );
        assert_eq!(
            summarize_error_body("", StatusCode::NO_CONTENT),
            "No Content"
        );
        assert_eq!(
            summarize_error_body(
                "Unrecognized field \"x\" (class org.traccar.model.User)",
                StatusCode::BAD_REQUEST
            ),
            "Unrecognized field \"x\" (class org.traccar.model.User)"
        );
        assert_eq!(
            summarize_error_body("java.util.NoSuchElementException", StatusCode::BAD_REQUEST),
            "java.util.NoSuchElementException"
        );
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        assert!(check_url("http://127.0.0.1:8082", false).is_ok());
        assert!(check_url("http://localhost:8082", false).is_ok());
        assert!(check_url("https://traccar.example.com", false).is_ok());
        let err = check_url("http://traccar.example.com", false).unwrap_err();
        assert!(format!("{err}").contains("--insecure-http"));
        assert!(check_url("http://traccar.example.com", true).is_ok());
        assert!(check_url("https://u:p@traccar.example.com", false).is_err());
        assert!(check_url("ftp://x", false).is_err());
    }

    #[test]
    fn basic_tokens_decode() {
        let t = Secret::new(base64::engine::general_purpose::STANDARD.encode("a@b.c:pa:ss"));
        match Credentials::from_basic_token(&t).unwrap() {
            Credentials::Password { email, password } => {
                assert_eq!(email, "a@b.c");
                assert_eq!(password.expose(), "pa:ss");
            }
            Credentials::Token(_) => panic!("expected a password credential"),
        }
        assert!(Credentials::from_basic_token(&Secret::new("!!!")).is_err());
    }
}
