//! The HTTP edge of the Traccar backend: one authenticated client, typed request helpers, and
//! the error type every failed request becomes ("POST /api/users -> 400: Registration disabled").
//!
//! Authentication happens once: Basic credentials are exchanged for a session cookie with
//! `POST /api/session` (every Basic request would make Traccar re-hash the password), a Bearer
//! token is sent as a header. Credentials never appear in errors, logs or `Debug` output: they
//! live in `Secret`s, and the only URL that carries a token (`/api/session?token=`) is only
//! ever printed as `/api/session?token=REDACTED`.

pub use crate::backend::http::{ApiError, Failure};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::backend::RequestLog;
use crate::core::secret::Secret;

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
    /// Reads the credentials from the environment, the only place that may hold them:
    /// `TRACCAR_TOKEN`, else `TRACCAR_EMAIL` + `TRACCAR_PASSWORD`, else `TRACCAR_AUTH_TOKEN`.
    pub fn from_env() -> anyhow::Result<Credentials> {
        Ok(Credentials::from_env_explained()?.0)
    }

    /// `from_env`, with a sentence for `-v` naming the variable used and those set but ignored
    /// (never a value).
    pub fn from_env_explained() -> anyhow::Result<(Credentials, String)> {
        Credentials::from_vars(|name| std::env::var(name).ok())
    }

    /// The precedence, over any source of variables: the first set of `TRACCAR_TOKEN`,
    /// `TRACCAR_EMAIL` + `TRACCAR_PASSWORD`, `TRACCAR_AUTH_TOKEN` is used.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(Credentials, String)> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let set: Vec<&str> = ["TRACCAR_TOKEN", "TRACCAR_EMAIL", "TRACCAR_AUTH_TOKEN"]
            .into_iter()
            .filter(|name| var(name).is_some())
            .collect();
        let explain = |used: &str| {
            let ignored: Vec<&str> = set
                .iter()
                .copied()
                .filter(|name| !used.starts_with(name))
                .collect();
            if ignored.is_empty() {
                format!("credentials: {used}")
            } else {
                format!(
                    "credentials: {used} (also set and ignored, by precedence: {})",
                    ignored.join(", ")
                )
            }
        };
        if let Some(token) = var("TRACCAR_TOKEN") {
            return Ok((
                Credentials::Token(Secret::new(token)),
                explain("TRACCAR_TOKEN"),
            ));
        }
        if let Some(email) = var("TRACCAR_EMAIL") {
            let Some(password) = var("TRACCAR_PASSWORD") else {
                bail!(
                    "TRACCAR_EMAIL is set but TRACCAR_PASSWORD is not; set both, or TRACCAR_TOKEN"
                );
            };
            return Ok((
                Credentials::Password {
                    email,
                    password: Secret::new(password),
                },
                explain("TRACCAR_EMAIL and TRACCAR_PASSWORD"),
            ));
        }
        if let Some(basic) = var("TRACCAR_AUTH_TOKEN") {
            return Ok((
                Credentials::from_basic_token(&Secret::new(basic))?,
                explain("TRACCAR_AUTH_TOKEN"),
            ));
        }
        bail!(
            "no credentials: set TRACCAR_TOKEN (an API token), or TRACCAR_EMAIL and TRACCAR_PASSWORD, or TRACCAR_AUTH_TOKEN (base64 of email:password); see `fleetform plan --help`"
        )
    }

    /// Decodes an already base64-encoded Basic credential (`base64(email:password)`), with or
    /// without a leading `Basic `. White space inside is ignored: `base64` wraps its output
    /// at 76 characters, so a long credential made with it holds line breaks.
    pub fn from_basic_token(token: &Secret) -> anyhow::Result<Credentials> {
        let raw = token.expose().trim();
        let raw = raw
            .strip_prefix("Basic ")
            .or_else(|| raw.strip_prefix("basic "))
            .unwrap_or(raw);
        let raw: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
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

impl ApiError {
    /// The error of an HTTP answer with a non-success status.
    fn from_answer(method: &str, shown: &str, status: StatusCode, body: &[u8]) -> ApiError {
        let text = String::from_utf8_lossy(body);
        ApiError {
            method: method.to_string(),
            path: shown.to_string(),
            status: Some(status.as_u16()),
            message: summarize_error_body(&text, status),
            failure: classify(status, &text),
        }
    }
}

/// Which answers are worth another try. Traccar answers storage failures (a database outage
/// during the request) with 400 too (API-NOTES §1 rule 25): a 400 whose trace names a
/// `StorageException` without constraint wording is transient; a constraint violation (duplicate
/// email, missing foreign key) is not.
pub fn classify(status: StatusCode, body: &str) -> Failure {
    const CONSTRAINT_WORDING: [&str; 6] = [
        "constraint",
        "Unique index",
        "Referential integrity",
        "NULL not allowed",
        "Duplicate entry",
        "violat",
    ];
    match status.as_u16() {
        429 => Failure::NotApplied,
        500..=599 => Failure::Ambiguous,
        400 if body.contains("StorageException")
            && !CONSTRAINT_WORDING.iter().any(|w| body.contains(w)) =>
        {
            Failure::Ambiguous
        }
        _ => Failure::Permanent,
    }
}

/// The longest server message kept in an error: a stack trace's first line is what matters.
const MAX_MESSAGE: usize = 300;

/// Response bodies larger than this are refused, so a hostile or broken server cannot exhaust
/// memory. The largest answers fleetform reads are the full user and device lists: a Traccar
/// user object is about 0.5 KB, so 64 MiB holds well over 100,000 users, far beyond the fleets
/// this tool is for, while staying small enough for a CI runner.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

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
    let mut line: String = line
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect();
    if line.is_empty() {
        line = status.canonical_reason().unwrap_or("error").to_string();
    }
    line
}

/// When and how often a failed request is sent again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries per request, the first included (1: never retry).
    pub max_attempts: u32,
    /// The first backoff; each further one doubles, up to `max_delay`, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured: a server asking for more is retried after this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1`: `Retry-After` when the server sent one (capped),
    /// otherwise exponential backoff with "equal jitter" (between half and all of the step), so
    /// that concurrent requests that failed together do not come back together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let jitter: f64 = rand::random();
        let backoff = step.mul_f64(0.5 + jitter / 2.0);
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after).max(backoff / 4),
            None => backoff,
        }
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// How the client talks: timeouts, retries, logging.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The whole of one request: connecting, sending, waiting and reading the answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Where to log every request as `METHOD path -> status (ms)`; never credentials.
    pub log: Option<RequestLog>,
    /// PEM files of certificate authorities to trust besides Mozilla's roots (`--ca-cert`).
    pub extra_roots: Vec<std::path::PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            log: None,
            extra_roots: Vec::new(),
        }
    }
}

/// Request counters of one client, for `-v` summaries and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests that were tries after a failure.
    pub retries: u64,
}

/// An authenticated Traccar client.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    bearer: Option<Secret>,
    config: ClientConfig,
    requests: AtomicU64,
    retries: AtomicU64,
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
    // `127.0.0.1:8082` is a relative URL to the parser, and `localhost:8082` a URL of scheme
    // `localhost`: both are a server address without its scheme.
    if !url.contains("://") {
        // Without `://`, `redact_url` cannot find user info: cut anything before an `@`.
        let shown = match url.rfind('@') {
            Some(at) => format!("<redacted>@{}", &url[at + 1..]),
            None => url.to_string(),
        };
        bail!(
            "the server URL {shown:?} has no scheme: add http:// or https:// (e.g. https://{shown})"
        );
    }
    let parsed =
        Url::parse(url).with_context(|| format!("invalid server URL {:?}", redact_url(url)))?;
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
        other => bail!(
            "unsupported URL scheme {other:?} in {:?}; use https://",
            redact_url(url)
        ),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!(
            "the server URL must not contain credentials; use TRACCAR_EMAIL/TRACCAR_PASSWORD or TRACCAR_TOKEN"
        );
    }
    Ok(parsed)
}

pub use crate::backend::redact_url;

/// One HTTP answer: its status and body.
type Answer = (StatusCode, Vec<u8>);

/// The certificate roots fleetform trusts: Mozilla's (webpki-root-certs) and the operator's
/// own `--ca-cert` PEM files. (Public, with the body reader and the transport messages below,
/// because the telematics backend's client shares them.)
pub fn trusted_roots(extra: &[std::path::PathBuf]) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let mut roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .context("loading the webpki root certificates")?;
    for path in extra {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the CA certificate {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no valid PEM certificate", path.display()))?;
        if certs.is_empty() {
            bail!("{} holds no PEM certificate", path.display());
        }
        roots.extend(certs);
    }
    Ok(roots)
}

impl Api {
    /// Builds a client and authenticates. Returns the client and the acting user's JSON.
    pub async fn connect(
        base: Url,
        credentials: &Credentials,
        config: ClientConfig,
    ) -> anyhow::Result<(Api, serde_json::Value)> {
        // TLS: rustls verifies certificates and host names against Mozilla's roots (webpki),
        // the same on every machine, plus any `--ca-cert` the operator trusts (a company CA);
        // fleetform never turns verification off.
        let http = reqwest::Client::builder()
            .tls_certs_only(trusted_roots(&config.extra_roots)?)
            .cookie_store(true)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("fleetform/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let mut api = Api {
            http,
            base,
            bearer: None,
            config,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
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

    /// Requests sent and retried so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// `POST /api/session`: exchanges email and password for a session cookie. Sending it again
    /// after an unclear failure only opens another session, so it is retried like a read.
    async fn login(&self, email: &str, password: &Secret) -> anyhow::Result<serde_json::Value> {
        let url = self.url("/api/session")?;
        let form = [("email", email), ("password", password.expose())];
        let (status, body, _) = self
            .execute(&Method::POST, &url, "/api/session", true, None, Some(&form))
            .await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                anyhow::Error::new(ApiError {
                    method: "POST".into(),
                    path: "/api/session".into(),
                    status: Some(status.as_u16()),
                    message: format!("the server's answer is not a user: {e}"),
                    failure: Failure::Permanent,
                })
            });
        }
        let text = String::from_utf8_lossy(&body);
        // 401 is the normal answer; 5.11-5.12 answer bad credentials with a 400 NPE.
        if status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::BAD_REQUEST
                && text.lines().next().unwrap_or("").contains("NullPointer"))
        {
            bail!(
                "authentication failed for {email}: the server rejected the email or password (POST /api/session -> {})",
                status.as_u16()
            );
        }
        Err(ApiError::from_answer("POST", "/api/session", status, &body))
            .with_context(|| format!("logging in as {email}"))
    }

    /// `GET /api/session?token=`: the only way Traccar tells who a token belongs to. The URL
    /// holds the token, so it is only ever shown with the token's value `REDACTED`.
    async fn whoami_with_token(&self, token: &Secret) -> anyhow::Result<serde_json::Value> {
        let mut url = self.url("/api/session")?;
        url.query_pairs_mut().append_pair("token", token.expose());
        let shown = display_path("/api/session", &[("token", String::new())]);
        let (status, body, _) = self
            .execute(&Method::GET, &url, &shown, true, None, None)
            .await?;
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
        Err(anyhow::Error::new(ApiError::from_answer(
            "GET", &shown, status, &body,
        )))
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .with_context(|| format!("building the URL for {path}"))
    }

    /// Sends one request, with retries, and returns the answer: `Ok` for every HTTP answer
    /// (a failing status included, once retries are exhausted or not allowed), `Err` when no
    /// answer came. `shown` is the request as it may be printed (no credentials).
    ///
    /// Retried: anything the server certainly did not act on (connect failures, 429), and, when
    /// `idempotent`, anything ambiguous (timeouts, resets, 5xx, transient storage errors).
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        shown: &str,
        idempotent: bool,
        json: Option<&serde_json::Value>,
        form: Option<&[(&str, &str)]>,
    ) -> Result<(StatusCode, Vec<u8>, u32), ApiError> {
        let policy = &self.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let (result, retry_after) = self.send_once(method, url, shown, json, form).await;
            let failure = match &result {
                Ok((status, _)) if status.is_success() => None,
                Ok((status, body)) => Some(classify(*status, &String::from_utf8_lossy(body))),
                Err(e) => Some(e.failure),
            };
            let retry = match failure {
                None | Some(Failure::Permanent) => false,
                Some(Failure::NotApplied) => true,
                Some(Failure::Ambiguous) => idempotent,
            };
            if !retry || attempt >= policy.max_attempts.max(1) {
                return match result {
                    Ok((status, body)) => Ok((status, body, attempt)),
                    Err(mut e) => {
                        if attempt > 1 {
                            e.message = format!("{} (after {attempt} attempts)", e.message);
                        }
                        Err(e)
                    }
                };
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(policy.delay(attempt, retry_after)).await;
        }
    }

    /// One try: the answer (or why none came) and the server's `Retry-After`, if any.
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        shown: &str,
        json: Option<&serde_json::Value>,
        form: Option<&[(&str, &str)]>,
    ) -> (Result<Answer, ApiError>, Option<Duration>) {
        let started = Instant::now();
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = json {
            // DELETE /api/permissions needs its JSON body too; reqwest sends it.
            request = request.json(body);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let transport = |e: &reqwest::Error| ApiError {
            method: method.to_string(),
            path: shown.to_string(),
            status: None,
            message: transport_message(e),
            // A connection that could not be opened carried nothing; anything later might have.
            // A certificate that cannot be verified will not verify on the next try either.
            failure: if is_certificate_error(e) {
                Failure::Permanent
            } else if e.is_connect() {
                Failure::NotApplied
            } else {
                Failure::Ambiguous
            },
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let error = transport(&e);
                self.log(method, shown, &error.message, started);
                return (Err(error), None);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let result = match read_body(response, MAX_BODY).await {
            Ok(body) => Ok((status, body)),
            Err(BodyError::Transport(e)) => Err(transport(&e)),
            Err(BodyError::TooLarge) => Err(ApiError {
                method: method.to_string(),
                path: shown.to_string(),
                status: Some(status.as_u16()),
                message: format!("the answer exceeds {MAX_BODY} bytes; refusing to read it"),
                failure: Failure::Permanent,
            }),
        };
        let outcome = match &result {
            Ok(_) => status.as_u16().to_string(),
            Err(e) => e.message.clone(),
        };
        self.log(method, shown, &outcome, started);
        (result, retry_after)
    }

    fn log(&self, method: &Method, shown: &str, outcome: &str, started: Instant) {
        if let Some(log) = &self.config.log {
            log.line(&format!(
                "{method} {shown} -> {outcome} ({} ms)",
                started.elapsed().as_millis()
            ));
        }
    }

    /// Sends one request and returns the body of a 2xx answer, or an `ApiError`. GET, PUT and
    /// DELETE are retried after ambiguous failures; POST only when the server certainly did not
    /// act on it (callers that create things check before they try again).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let shown = display_path(path, query);
        let mut url = self.url(path).map_err(|e| ApiError {
            method: method.to_string(),
            path: shown.clone(),
            status: None,
            message: format!("{e:#}"),
            failure: Failure::Permanent,
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let idempotent = method != Method::POST;
        let (status, bytes, attempts) = self
            .execute(&method, &url, &shown, idempotent, body, None)
            .await?;
        if status.is_success() {
            Ok(bytes)
        } else {
            let mut e = ApiError::from_answer(method.as_str(), &shown, status, &bytes);
            if attempts > 1 {
                e.message = format!("{} (after {attempts} attempts)", e.message);
            }
            Err(e)
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
            failure: Failure::Permanent,
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
            // The create may well have happened: the caller checks before trying again.
            message: format!("unexpected answer from the server: {e}"),
            failure: Failure::Ambiguous,
        })
    }
}

/// The request as it may be printed: values of query keys that could carry a secret are hidden.
fn display_path(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            if matches!(*k, "token" | "password") {
                format!("{k}=REDACTED")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// Whether the TLS handshake failed on the server's certificate (unknown issuer, expired,
/// wrong name): rustls says "invalid peer certificate" somewhere in the error's chain.
pub fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.to_string().contains("invalid peer certificate") {
            return true;
        }
        source = s.source();
    }
    false
}

pub fn transport_message(e: &reqwest::Error) -> String {
    if is_certificate_error(e) {
        return format!(
            "{}; the server's certificate could not be verified: if it is signed by your own \
             CA, pass that CA's certificate with --ca-cert PEM",
            transport_detail(e, "could not connect")
        );
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    transport_detail(e, kind)
}

/// `kind: <the innermost cause>`.
fn transport_detail(e: &reqwest::Error, kind: &str) -> String {
    // reqwest's Display includes the URL; ours never carries credentials, but keep the message
    // short and free of URLs anyway.
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() || e.is_timeout() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

pub enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a body of at most `limit` bytes, refusing early when `Content-Length` says more.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {

    #[test]
    fn trusted_roots_are_mozillas_plus_the_operators_own() {
        let roots = trusted_roots(&[]).expect("webpki roots load");
        assert!(roots.len() > 100, "only {} roots", roots.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let err = trusted_roots(std::slice::from_ref(&missing)).unwrap_err();
        assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        assert!(trusted_roots(&[empty]).is_err());
    }

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
    fn basic_tokens_made_with_base64_wrapping_decode() {
        // `printf %s "$email:$password" | base64` wraps at 76 columns and ends in a newline.
        let email = "billing-account-with-a-long-name@fleet-vendor.example.com";
        let plain = format!("{email}:a-long-generated-password-0123456789");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&plain);
        assert!(encoded.len() > 76);
        let wrapped = format!("{}\n{}\n", &encoded[..76], &encoded[76..]);
        match Credentials::from_basic_token(&Secret::new(wrapped)).expect("decodes") {
            Credentials::Password { email: e, .. } => assert_eq!(e, email),
            Credentials::Token(_) => panic!("expected a password credential"),
        }
    }

    #[test]
    fn credential_precedence_is_token_then_email_then_auth_token_and_says_so() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let basic = "YUBiLmM6cHc="; // a@b.c:pw
        let all: &'static [(&str, &str)] = &[
            ("TRACCAR_TOKEN", "t"),
            ("TRACCAR_EMAIL", "e@x"),
            ("TRACCAR_PASSWORD", "p"),
            ("TRACCAR_AUTH_TOKEN", "YUBiLmM6cHc="),
        ];
        let (credentials, said) = Credentials::from_vars(vars(all)).expect("token");
        assert!(matches!(credentials, Credentials::Token(_)));
        assert_eq!(
            said,
            "credentials: TRACCAR_TOKEN (also set and ignored, by precedence: TRACCAR_EMAIL, TRACCAR_AUTH_TOKEN)"
        );
        let (credentials, said) = Credentials::from_vars(vars(&all[1..])).expect("email");
        assert!(matches!(credentials, Credentials::Password { ref email, .. } if email == "e@x"));
        assert!(
            said.ends_with("ignored, by precedence: TRACCAR_AUTH_TOKEN)"),
            "{said}"
        );
        let (credentials, said) = Credentials::from_vars(vars(&all[3..])).expect("basic");
        assert!(matches!(credentials, Credentials::Password { ref email, .. } if email == "a@b.c"));
        assert_eq!(said, "credentials: TRACCAR_AUTH_TOKEN");
        assert!(!said.contains(basic));
        let none = Credentials::from_vars(|_| None).unwrap_err().to_string();
        assert!(none.contains("no credentials"), "{none}");
    }

    #[test]
    fn a_url_without_a_scheme_is_told_to_add_one() {
        for url in ["127.0.0.1:8082", "localhost:8082", "traccar.example.com"] {
            let err = check_url(url, false).unwrap_err().to_string();
            assert!(err.contains("add http:// or https://"), "{url}: {err}");
            assert!(!err.contains("relative URL"), "{err}");
        }
        let err = check_url("admin:Very-Secret@host:8082", false)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("Very-Secret"), "{err}");
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

    #[test]
    fn failures_are_classified_by_what_the_server_may_have_done() {
        let c = |status: u16, body: &str| classify(StatusCode::from_u16(status).unwrap(), body);
        assert_eq!(c(429, ""), Failure::NotApplied);
        assert_eq!(c(500, "java.lang.NullPointerException"), Failure::Ambiguous);
        assert_eq!(c(502, "<html>"), Failure::Ambiguous);
        assert_eq!(c(503, ""), Failure::Ambiguous);
        assert_eq!(
            c(400, "java.lang.SecurityException: Device access denied"),
            Failure::Permanent
        );
        assert_eq!(c(401, ""), Failure::Permanent);
        assert_eq!(c(404, ""), Failure::Permanent);
        // Traccar's 400 for a storage outage is transient; a constraint violation is not.
        assert_eq!(
            c(
                400,
                "org.traccar.storage.StorageException: java.sql.SQLTransientConnectionException: Connection is not available"
            ),
            Failure::Ambiguous
        );
        assert_eq!(
            c(
                400,
                "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: Unique index or primary key violation"
            ),
            Failure::Permanent
        );
        assert_eq!(
            c(
                400,
                "org.traccar.storage.StorageException: Referential integrity constraint violation: FK_USER_DEVICE_DEVICEID"
            ),
            Failure::Permanent
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_retry_after_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
            max_retry_after: Duration::from_secs(2),
        };
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let capped = policy.delay(30, None);
            assert!(capped <= Duration::from_millis(800));
            // Retry-After is honoured up to the cap.
            assert_eq!(
                policy.delay(1, Some(Duration::from_secs(1))),
                Duration::from_secs(1)
            );
            assert_eq!(
                policy.delay(1, Some(Duration::from_secs(3600))),
                Duration::from_secs(2)
            );
        }
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn printed_requests_and_urls_hold_no_secret() {
        assert_eq!(
            display_path("/api/session", &[("token", "abc".into())]),
            "/api/session?token=REDACTED"
        );
        assert_eq!(
            display_path("/api/devices", &[("userId", "5".into())]),
            "/api/devices?userId=5"
        );
        assert_eq!(
            redact_url("https://admin:pw@traccar.example.com/"),
            "https://<redacted>@traccar.example.com/"
        );
        assert_eq!(
            redact_url("https://traccar.example.com"),
            "https://traccar.example.com"
        );
        let err = check_url("ftp://u:Very-Secret@host", false).unwrap_err();
        assert!(!format!("{err:#}").contains("Very-Secret"));
    }

    #[cfg(feature = "sandbox")]
    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let response = |body: &'static str| reqwest::Response::from(http_response(body));
        assert!(matches!(read_body(response("12345"), 5).await, Ok(b) if b == b"12345"));
        assert!(matches!(
            read_body(response("123456"), 5).await,
            Err(BodyError::TooLarge)
        ));
    }

    /// An HTTP response built in memory (with the `http` crate, a dev-dependency).
    #[cfg(feature = "sandbox")]
    fn http_response(body: &'static str) -> http::Response<&'static str> {
        http::Response::new(body)
    }
}
