//! The HTTP edge of the telematics backend: the credentials, one client that logs in at most
//! twice per run and refreshes on 401, the token cache, the service's response envelope, and
//! the error every failed request becomes ("PUT /v1/Management/users -> 422: ...").
//!
//! Design: sessions (notes §2). The admin API credential (`TELEMATICS_EMAIL` +
//! `TELEMATICS_PASSWORD`) is exchanged for an access JWT and a refresh token with `POST
//! /v1/Auth/Login`, which the service rate-limits per address (5 per minute, hour or day: the
//! sources disagree) and answers past the limit with 429 and a block of up to an hour. So:
//! - a run logs in at most twice: once to start (unless the token cache has tokens), and once
//!   more only if a refresh is refused; a login is never retried after the service answered
//!   it (a 429 or 5xx is reported, not repeated), only after a connection that never opened;
//! - a 401 on any request refreshes once (`POST /v1/Auth/RefreshToken`, not rate-limited),
//!   guarded by a generation counter so concurrent requests that all got the 401 cause one
//!   refresh, and the request is sent again once; a second 401 is an error, never a loop;
//! - a token about to expire (`ExpiresIn`, read from every answer) is refreshed before use;
//! - with a token cache (`--token-cache PATH`), the tokens are kept in a file created with mode
//!   0600 (JSON: the URL and email they belong to, the access and refresh tokens, the expiry),
//!   and later runs refresh from it instead of logging in. A cache readable by others is
//!   refused. A cache of another URL or email is not used (and is overwritten).
//!
//! Design: answers. Every answer is the envelope `{Result, Status, Title, Errors[{Key,
//! Message}]}` (notes §3); a body `Status` other than 200 is an error even under HTTP 200.
//! Errors carry the method, the path (DeviceTokens and ClientIds are not secrets) and the
//! service's `Title` and messages, never a credential: every message is passed through a
//! redactor that knows the password, the instance key and the current tokens.
//!
//! Retries: reads, PUT and DELETE are retried with backoff after timeouts, resets and 5xx;
//! 429 is retried for every request but the login; a registration (`POST
//! /v1/Registration/...`) is never sent twice blindly: `write.rs` reads back first.

pub use crate::backend::http::{ApiError, Failure};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value as Json, json};

use crate::backend::RequestLog;
use crate::backend::traccar::api::{
    BodyError, MAX_BODY, RetryPolicy, is_certificate_error, parse_retry_after, read_body,
    transport_message, trusted_roots,
};
use crate::core::secret::Secret;

/// The most logins one run makes (notes §2.4): the first, and one after a refused refresh.
pub const MAX_LOGINS: u32 = 2;

/// The most refreshes one run makes: one per expiry is the norm; this only stops a service
/// that accepts every refresh and refuses every token from keeping a run busy.
pub const MAX_REFRESHES: u32 = 20;

/// A token this close to its expiry is refreshed before it is used.
const EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(30);

/// The admin API credential and the instance key, only ever read from the environment.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `TELEMATICS_EMAIL`: the admin API credential's email (generated in DataHub).
    pub email: String,
    /// `TELEMATICS_PASSWORD`.
    pub password: Secret,
    /// `TELEMATICS_INSTANCE_KEY`: the instance's key, registration's `InstanceKey` header.
    /// Without it fleetform reads, updates, deactivates and deletes, but registers no one.
    pub instance_key: Option<Secret>,
}

impl Credentials {
    /// Reads the credentials from the environment, with a sentence for `-v` naming the
    /// variables used (never a value).
    pub fn from_env_explained() -> anyhow::Result<(Credentials, String)> {
        Credentials::from_vars(|name| std::env::var(name).ok())
    }

    /// The same over any source of variables.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(Credentials, String)> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let (Some(email), Some(password)) = (var("TELEMATICS_EMAIL"), var("TELEMATICS_PASSWORD"))
        else {
            bail!(
                "no credentials: set TELEMATICS_EMAIL and TELEMATICS_PASSWORD (an admin API \
                 credential generated in DataHub, not the DataHub login), and \
                 TELEMATICS_INSTANCE_KEY to register users; see `fleetform plan --help`"
            );
        };
        let instance_key = var("TELEMATICS_INSTANCE_KEY").map(Secret::new);
        let which = if instance_key.is_some() {
            "credentials: TELEMATICS_EMAIL and TELEMATICS_PASSWORD, TELEMATICS_INSTANCE_KEY"
        } else {
            "credentials: TELEMATICS_EMAIL and TELEMATICS_PASSWORD (TELEMATICS_INSTANCE_KEY is not \
             set: no registrations)"
        };
        Ok((
            Credentials {
                email: email.trim().to_string(),
                password: Secret::new(password),
                instance_key,
            },
            which.to_string(),
        ))
    }
}

fn classify(status: u16) -> Failure {
    match status {
        429 => Failure::NotApplied,
        500..=599 => Failure::Ambiguous,
        _ => Failure::Permanent,
    }
}

/// The longest service message kept in an error.
const MAX_MESSAGE: usize = 400;

/// The message of an error answer: the envelope's `Title` and `Errors[].Message` (with their
/// `Key`), or the status text when the body is not an envelope.
pub fn summarize(body: &[u8], status: StatusCode) -> String {
    let envelope: Option<Json> = serde_json::from_slice(body).ok();
    let mut parts = Vec::new();
    if let Some(e) = &envelope {
        if let Some(title) = get(e, "Title").and_then(Json::as_str)
            && !title.trim().is_empty()
        {
            parts.push(title.trim().to_string());
        }
        for error in get(e, "Errors")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let message = get(error, "Message").and_then(Json::as_str).unwrap_or("");
            match get(error, "Key").and_then(Json::as_str) {
                Some(key) if !key.is_empty() => parts.push(format!("{key}: {message}")),
                _ => parts.push(message.to_string()),
            }
        }
    }
    let mut text = if parts.is_empty() {
        let raw = String::from_utf8_lossy(body);
        match raw.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(line) if !line.starts_with('<') && envelope.is_none() => line.to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        }
    } else {
        parts.join("; ")
    };
    text = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect();
    text
}

/// `object[key]`, with the key matched case-insensitively: the service documents PascalCase,
/// but its own clients send and read camelCase (notes §4), so either is read.
pub fn get<'a>(object: &'a Json, key: &str) -> Option<&'a Json> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// How the client talks.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub log: Option<RequestLog>,
    pub extra_roots: Vec<PathBuf>,
    /// Where to keep the tokens between runs (`--token-cache`); `None`: in memory only.
    pub token_cache: Option<PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            log: None,
            extra_roots: Vec::new(),
            token_cache: None,
        }
    }
}

/// Request counters of one client, for benchmarks, tests and `-v`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent, retries and logins included.
    pub requests: u64,
    pub retries: u64,
    pub logins: u64,
    pub refreshes: u64,
}

/// An access token and its refresh token.
#[derive(Clone)]
struct Tokens {
    access: Secret,
    refresh: Secret,
    /// When the access token expires, if the service said (`ExpiresIn`).
    expires_at: Option<DateTime<Utc>>,
}

impl Tokens {
    fn stale(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at - EXPIRY_MARGIN <= now)
    }
}

#[derive(Default)]
struct Session {
    tokens: Option<Tokens>,
    /// Bumped whenever the tokens change, so a 401 renews only the token it was given for.
    generation: u64,
    logins: u32,
    refreshes: u32,
}

/// Who a request authenticates as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// The admin JWT (`Authorization: Bearer`): every `/v1/Management` request.
    Admin,
    /// The instance headers (`InstanceId`, `InstanceKey`) and no JWT: registration.
    Instance,
}

/// One request.
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a Json>,
    /// Extra headers, e.g. `UserDeviceToken` (never a secret).
    pub headers: &'a [(&'a str, String)],
    pub auth: Auth,
    /// May be sent again after an ambiguous failure (not a registration).
    pub idempotent: bool,
}

impl<'a> Request<'a> {
    pub fn admin(method: Method, path: &'a str) -> Request<'a> {
        Request {
            idempotent: method != Method::POST,
            method,
            path,
            query: &[],
            body: None,
            headers: &[],
            auth: Auth::Admin,
        }
    }
}

/// A client of one instance of the service.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    instance: String,
    credentials: Credentials,
    config: ClientConfig,
    session: tokio::sync::Mutex<Session>,
    requests: AtomicU64,
    retries: AtomicU64,
    logins: AtomicU64,
    refreshes: AtomicU64,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base.as_str())
            .field("instance", &self.instance)
            .finish()
    }
}

/// The token cache's content.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    format: u32,
    url: String,
    email: String,
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

const CACHE_FORMAT: u32 = 1;

/// Refuses plain http to anything but loopback, and credentials in the URL.
pub fn check_url(url: &str, allow_insecure_http: bool) -> anyhow::Result<Url> {
    if let Ok(parsed) = Url::parse(url)
        && (!parsed.username().is_empty() || parsed.password().is_some())
    {
        bail!(
            "the server URL must not contain credentials; set TELEMATICS_EMAIL and \
             TELEMATICS_PASSWORD in the environment"
        );
    }
    let mut base = crate::backend::traccar::api::check_url(url, allow_insecure_http)?;
    // `join` keeps a base path only when it ends in `/`.
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

impl Api {
    /// Builds the client and starts the session: from the token cache (refreshed when stale),
    /// else with a login. Fails before any read when the credential is refused.
    pub async fn connect(
        base: Url,
        instance: &str,
        credentials: Credentials,
        config: ClientConfig,
    ) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .tls_certs_only(trusted_roots(&config.extra_roots)?)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("fleetform/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let api = Api {
            http,
            base,
            instance: instance.to_string(),
            credentials,
            config,
            session: tokio::sync::Mutex::new(Session::default()),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            logins: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
        };
        api.start().await?;
        Ok(api)
    }

    /// The instance id (lower-cased) this client works in.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn email(&self) -> &str {
        &self.credentials.email
    }

    pub fn can_register(&self) -> bool {
        self.credentials.instance_key.is_some()
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            logins: self.logins.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
        }
    }

    /// Every secret this client holds, for redaction.
    async fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.credentials.password.expose().to_string()];
        if let Some(key) = &self.credentials.instance_key {
            secrets.push(key.expose().to_string());
        }
        if let Some(tokens) = &self.session.lock().await.tokens {
            secrets.push(tokens.access.expose().to_string());
            secrets.push(tokens.refresh.expose().to_string());
        }
        secrets
    }

    /// `message` with every secret this client holds replaced by `<redacted>`.
    pub async fn redact(&self, message: &str) -> String {
        redact(message, &self.secrets().await)
    }

    // ---- the session ----------------------------------------------------------------------

    async fn start(&self) -> anyhow::Result<()> {
        let mut session = self.session.lock().await;
        if let Some(path) = &self.config.token_cache
            && let Some(tokens) = self.read_cache(path)?
        {
            session.tokens = Some(tokens);
            session.generation += 1;
            let stale = session.tokens.as_ref().is_some_and(|t| t.stale(Utc::now()));
            if stale {
                self.renew(&mut session).await?;
            }
            return Ok(());
        }
        self.login(&mut session).await?;
        self.save_cache(&session, true)
    }

    /// The current access token and its generation, refreshed first when about to expire.
    async fn token(&self) -> anyhow::Result<(Secret, u64)> {
        let mut session = self.session.lock().await;
        let stale = session.tokens.as_ref().is_none_or(|t| t.stale(Utc::now()));
        if stale {
            self.renew(&mut session).await?;
        }
        let tokens = session
            .tokens
            .as_ref()
            .context("no session with the service")?;
        Ok((tokens.access.clone(), session.generation))
    }

    /// After a 401 with the token of `generation`: refresh (or log in) unless another request
    /// already did, and return the token to try again with.
    async fn after_unauthorized(&self, generation: u64) -> anyhow::Result<Secret> {
        let mut session = self.session.lock().await;
        if session.generation == generation {
            self.renew(&mut session).await?;
        }
        Ok(session
            .tokens
            .as_ref()
            .context("no session with the service")?
            .access
            .clone())
    }

    /// Refreshes the tokens; logs in again only when the refresh is refused (and the run has
    /// a login left).
    async fn renew(&self, session: &mut Session) -> anyhow::Result<()> {
        if session.tokens.is_some() {
            if session.refreshes >= MAX_REFRESHES {
                bail!(
                    "the service keeps refusing fresh access tokens ({MAX_REFRESHES} refreshes \
                     in this run); stopping instead of asking again"
                );
            }
            session.refreshes += 1;
            match self.refresh(session).await? {
                Some(tokens) => {
                    session.tokens = Some(tokens);
                    session.generation += 1;
                    // Best effort: a cache that cannot be written costs the next run a login.
                    let _ = self.save_cache(session, false);
                    return Ok(());
                }
                None => session.tokens = None,
            }
        }
        self.login(session).await?;
        // The session is usable; a cache that cannot be written now costs the next run a
        // login, which is no reason to stop this one half way.
        let _ = self.save_cache(session, false);
        Ok(())
    }

    /// `POST /v1/Auth/Login` with the admin API credential. Never repeated after the service
    /// answered: a 429 would extend the block, a 5xx may have counted against the limit.
    async fn login(&self, session: &mut Session) -> anyhow::Result<()> {
        if session.logins >= MAX_LOGINS {
            bail!(
                "the service refused the refreshed session and this run has logged in {} times \
                 already; fleetform logs in at most {MAX_LOGINS} times per run (the service blocks \
                 an address after a few logins): run again later",
                session.logins
            );
        }
        session.logins += 1;
        self.logins.fetch_add(1, Ordering::Relaxed);
        let login_fields = json!({ "email": self.credentials.email }).to_string();
        let body = json!({
            "LoginFields": login_fields,
            "Password": self.credentials.password.expose(),
        });
        let path = "/v1/Auth/Login";
        let email = &self.credentials.email;
        let mut attempt = 0;
        let (status, bytes) = loop {
            attempt += 1;
            let (result, _) = self
                .send_once(&Method::POST, path, &[], Some(&body), &[], None)
                .await;
            match result {
                Ok(answer) => break answer,
                // Nothing reached the service: no login was counted.
                Err(e) if e.failure == Failure::NotApplied && attempt < 3 => {
                    tokio::time::sleep(self.config.retry.delay(attempt, None)).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e))
                        .with_context(|| format!("logging in as {email}"));
                }
            }
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            bail!(
                "the service refused the login as {email}: too many logins from this address \
                 (POST {path} -> 429); it blocks the address for up to an hour. Wait, then use \
                 --token-cache PATH (or TELEMATICS_TOKEN_CACHE) so that later runs refresh their \
                 session instead of logging in"
            );
        }
        if matches!(status.as_u16(), 400 | 401 | 403) {
            bail!(
                "authentication failed for {email}: the service rejected TELEMATICS_EMAIL or \
                 TELEMATICS_PASSWORD (POST {path} -> {}); use an admin API credential generated \
                 in DataHub, not the DataHub login",
                status.as_u16()
            );
        }
        let tokens = self.tokens_of("POST", path, status, &bytes)?;
        session.tokens = Some(tokens);
        session.generation += 1;
        Ok(())
    }

    /// `POST /v1/Auth/RefreshToken`. `None`: the service refused the refresh token.
    async fn refresh(&self, session: &Session) -> anyhow::Result<Option<Tokens>> {
        let Some(tokens) = &session.tokens else {
            return Ok(None);
        };
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "AccessToken": tokens.access.expose(),
            "RefreshToken": tokens.refresh.expose(),
        });
        let path = "/v1/Auth/RefreshToken";
        let (status, bytes, _) = self
            .execute(&Method::POST, path, &[], Some(&body), &[], None, true)
            .await
            .map_err(anyhow::Error::new)
            .context("refreshing the session")?;
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Ok(None);
        }
        self.tokens_of("POST", path, status, &bytes).map(Some)
    }

    /// The tokens of a login or refresh answer.
    fn tokens_of(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        bytes: &[u8],
    ) -> anyhow::Result<Tokens> {
        let error = |message: String| ApiError {
            method: method.into(),
            path: path.into(),
            status: Some(status.as_u16()),
            message,
            failure: classify(status.as_u16()),
        };
        if !status.is_success() {
            return Err(error(summarize(bytes, status)).into());
        }
        let envelope: Json = serde_json::from_slice(bytes)
            .map_err(|e| error(format!("the answer is not JSON: {e}")))?;
        let result = check_envelope(&envelope)
            .map_err(error)?
            .cloned()
            .unwrap_or(Json::Null);
        let access = get(&result, "AccessToken");
        let token = access
            .and_then(|a| get(a, "Token").or(Some(a)))
            .and_then(Json::as_str);
        let refresh = get(&result, "RefreshToken").and_then(Json::as_str);
        let (Some(token), Some(refresh)) = (token, refresh) else {
            return Err(error("the answer holds no access and refresh token".into()).into());
        };
        let expires_in = access
            .and_then(|a| get(a, "ExpiresIn"))
            .and_then(Json::as_i64);
        Ok(Tokens {
            access: Secret::new(token),
            refresh: Secret::new(refresh),
            expires_at: expires_in.map(|s| Utc::now() + TimeDelta::seconds(s)),
        })
    }

    fn read_cache(&self, path: &Path) -> anyhow::Result<Option<Tokens>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading the token cache {}", path.display()));
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "the token cache {} may be read by other users (mode {mode:o}); it holds \
                     session tokens: `chmod 600 {}`, or remove it",
                    path.display(),
                    path.display()
                );
            }
        }
        // A cache fleetform cannot read (another format, a half-written file) is started
        // afresh: the login writes a new one.
        let Ok(cache) = serde_json::from_str::<CacheFile>(&text) else {
            return Ok(None);
        };
        let ours = cache.format == CACHE_FORMAT
            && cache.url == self.base.as_str()
            && cache.email.eq_ignore_ascii_case(&self.credentials.email);
        Ok(ours.then(|| Tokens {
            access: Secret::new(cache.access_token),
            refresh: Secret::new(cache.refresh_token),
            expires_at: cache.expires_at,
        }))
    }

    /// Writes the session's tokens to the cache, created with mode 0600 and replaced
    /// atomically. `required`: an error stops the run (at its start, before anything is read).
    fn save_cache(&self, session: &Session, required: bool) -> anyhow::Result<()> {
        let (Some(path), Some(tokens)) = (&self.config.token_cache, &session.tokens) else {
            return Ok(());
        };
        let cache = CacheFile {
            format: CACHE_FORMAT,
            url: self.base.as_str().to_string(),
            email: self.credentials.email.clone(),
            access_token: tokens.access.expose().to_string(),
            refresh_token: tokens.refresh.expose().to_string(),
            expires_at: tokens.expires_at,
        };
        let result = write_private(path, &serde_json::to_string_pretty(&cache)?);
        if required {
            result.with_context(|| format!("writing the token cache {}", path.display()))
        } else {
            Ok(())
        }
    }

    // ---- requests -------------------------------------------------------------------------

    /// Sends `request` and returns the envelope's `Result` (`Null` when there is none). An admin
    /// request that gets 401 is sent once more with a renewed token.
    pub async fn call(&self, request: &Request<'_>) -> Result<Json, ApiError> {
        let shown = display_path(request.path, request.query);
        let auth_error = |e: anyhow::Error| ApiError {
            method: request.method.to_string(),
            path: shown.clone(),
            status: None,
            message: format!("{e:#}"),
            failure: Failure::NotApplied,
        };
        let mut headers: Vec<(&str, String)> = request.headers.to_vec();
        let bearer = match request.auth {
            Auth::Admin => Some(self.token().await.map_err(auth_error)?),
            Auth::Instance => {
                let Some(key) = &self.credentials.instance_key else {
                    return Err(ApiError {
                        method: request.method.to_string(),
                        path: shown,
                        status: None,
                        message: "TELEMATICS_INSTANCE_KEY is not set: registering users needs \
                                  the instance's key"
                            .into(),
                        failure: Failure::Permanent,
                    });
                };
                headers.push(("InstanceId", self.instance.clone()));
                headers.push(("InstanceKey", key.expose().to_string()));
                None
            }
        };
        let mut answer = self
            .execute(
                &request.method,
                request.path,
                request.query,
                request.body,
                &headers,
                bearer.as_ref().map(|(t, _)| t),
                request.idempotent,
            )
            .await?;
        if answer.0 == StatusCode::UNAUTHORIZED
            && let Some((_, generation)) = &bearer
        {
            let token = self
                .after_unauthorized(*generation)
                .await
                .map_err(auth_error)?;
            answer = self
                .execute(
                    &request.method,
                    request.path,
                    request.query,
                    request.body,
                    &headers,
                    Some(&token),
                    request.idempotent,
                )
                .await?;
            if answer.0 == StatusCode::UNAUTHORIZED {
                return Err(ApiError {
                    method: request.method.to_string(),
                    path: shown,
                    status: Some(401),
                    message: "the service refused the renewed access token too; check that the \
                              admin API credential may manage this instance"
                        .into(),
                    failure: Failure::Permanent,
                });
            }
        }
        let (status, bytes, attempts) = answer;
        let error = |message: String, failure: Failure| ApiError {
            method: request.method.to_string(),
            path: shown.clone(),
            status: Some(status.as_u16()),
            message,
            failure,
        };
        if !status.is_success() {
            let mut message = redact(&summarize(&bytes, status), &self.secrets().await);
            if attempts > 1 {
                message = format!("{message} (after {attempts} attempts)");
            }
            return Err(error(message, classify(status.as_u16())));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::Null);
        }
        let envelope: Json = serde_json::from_slice(&bytes).map_err(|e| {
            error(
                format!("the answer is not JSON: {e}"),
                // A write may have happened all the same.
                if request.idempotent {
                    Failure::Permanent
                } else {
                    Failure::Ambiguous
                },
            )
        })?;
        match check_envelope(&envelope) {
            Ok(result) => Ok(result.cloned().unwrap_or(Json::Null)),
            Err(message) => {
                let body_status = get(&envelope, "Status").and_then(Json::as_u64).unwrap_or(0);
                let message = redact(&message, &self.secrets().await);
                Err(ApiError {
                    status: u16::try_from(body_status).ok(),
                    ..error(message, classify(u16::try_from(body_status).unwrap_or(0)))
                })
            }
        }
    }

    /// Sends one request with retries: `Ok` for every HTTP answer once retries are exhausted
    /// or not allowed, `Err` when no answer came. Retried: what the service certainly did not
    /// act on (no connection, 429), and when `idempotent`, timeouts, resets and 5xx.
    #[allow(
        clippy::too_many_arguments,
        reason = "one private helper, every argument is the request's"
    )]
    async fn execute(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Json>,
        headers: &[(&str, String)],
        bearer: Option<&Secret>,
        idempotent: bool,
    ) -> Result<(StatusCode, Vec<u8>, u32), ApiError> {
        let policy = &self.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (result, retry_after) = self
                .send_once(method, path, query, body, headers, bearer)
                .await;
            let failure = match &result {
                Ok((status, _)) if status.is_success() => None,
                Ok((status, _)) => Some(classify(status.as_u16())),
                Err(e) => Some(e.failure),
            };
            let retry = match failure {
                None | Some(Failure::Permanent) => false,
                Some(Failure::NotApplied) => true,
                Some(Failure::Ambiguous) => idempotent,
            };
            if !retry || attempt >= policy.max_attempts.max(1) {
                return result
                    .map(|(status, bytes)| (status, bytes, attempt))
                    .map_err(|mut e| {
                        if attempt > 1 {
                            e.message = format!("{} (after {attempt} attempts)", e.message);
                        }
                        e
                    });
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(policy.delay(attempt, retry_after)).await;
        }
    }

    /// One try: the answer (or why none came) and the service's `Retry-After`, if any.
    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Json>,
        headers: &[(&str, String)],
        bearer: Option<&Secret>,
    ) -> (Result<(StatusCode, Vec<u8>), ApiError>, Option<Duration>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let shown = display_path(path, query);
        let started = Instant::now();
        let url = match self.base.join(path.trim_start_matches('/')) {
            Ok(url) => url,
            Err(e) => {
                return (
                    Err(ApiError {
                        method: method.to_string(),
                        path: shown,
                        status: None,
                        message: format!("building the URL: {e}"),
                        failure: Failure::Permanent,
                    }),
                    None,
                );
            }
        };
        let mut request = self.http.request(method.clone(), url);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose());
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |e: &reqwest::Error| ApiError {
            method: method.to_string(),
            path: shown.clone(),
            status: None,
            message: transport_message(e),
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
                self.log(method, &shown, &error.message, started);
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
                path: shown.clone(),
                status: Some(status.as_u16()),
                message: format!("the answer exceeds {MAX_BODY} bytes; refusing to read it"),
                failure: Failure::Permanent,
            }),
        };
        let outcome = match &result {
            Ok(_) => status.as_u16().to_string(),
            Err(e) => e.message.clone(),
        };
        self.log(method, &shown, &outcome, started);
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
}

/// The envelope's `Result` when its `Status` says success (200, or none given); otherwise its
/// message.
pub fn check_envelope(envelope: &Json) -> Result<Option<&Json>, String> {
    let status = get(envelope, "Status").and_then(Json::as_u64);
    if status.is_none_or(|s| s == 200) {
        return Ok(get(envelope, "Result").filter(|r| !r.is_null()));
    }
    let bytes = serde_json::to_vec(envelope).unwrap_or_default();
    let code = status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Err(format!(
        "the answer's Status is {}: {}",
        status.unwrap_or(0),
        summarize(&bytes, code)
    ))
}

/// The request as it may be printed: path and query (no credential travels in either).
fn display_path(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", q.join("&"))
}

/// `text` with every secret of four characters or more replaced by `<redacted>`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        out = out.replace(secret.as_str(), "<redacted>");
    }
    out
}

/// Writes `text` to `path` readable by its owner only, replacing the file atomically.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token-cache".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(set: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            set.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn credentials_come_from_the_environment_and_are_never_shown() {
        let (c, said) = Credentials::from_vars(vars(&[
            ("TELEMATICS_EMAIL", "ops@acme.example"),
            ("TELEMATICS_PASSWORD", "pw-Very-Secret"),
            ("TELEMATICS_INSTANCE_KEY", "key-Very-Secret"),
        ]))
        .expect("credentials");
        assert_eq!(c.email, "ops@acme.example");
        assert!(c.instance_key.is_some());
        assert!(!said.contains("Very-Secret"), "{said}");
        assert!(!format!("{c:?}").contains("Very-Secret"));
        let (c, said) = Credentials::from_vars(vars(&[
            ("TELEMATICS_EMAIL", "ops@acme.example"),
            ("TELEMATICS_PASSWORD", "pw"),
        ]))
        .expect("credentials");
        assert!(c.instance_key.is_none());
        assert!(said.contains("no registrations"), "{said}");
        let none = Credentials::from_vars(vars(&[("TELEMATICS_EMAIL", "ops@acme.example")]))
            .unwrap_err()
            .to_string();
        assert!(none.contains("TELEMATICS_PASSWORD"), "{none}");
    }

    #[test]
    fn envelopes_are_read_and_their_errors_summarised() {
        let ok = json!({"Result": {"a": 1}, "Status": 200, "Title": "", "Errors": []});
        assert_eq!(check_envelope(&ok), Ok(Some(&json!({"a": 1}))));
        let none = json!({"Status": 200, "Title": "", "Errors": []});
        assert_eq!(check_envelope(&none), Ok(None));
        let camel = json!({"result": [1], "status": 200});
        assert_eq!(check_envelope(&camel), Ok(Some(&json!([1]))));
        let refused = json!({"Result": null, "Status": 422, "Title": "One or more validation errors occurred.",
            "Errors": [{"Key": "Email", "Message": "invalid email"}]});
        let message = check_envelope(&refused).unwrap_err();
        assert_eq!(
            message,
            "the answer's Status is 422: One or more validation errors occurred.; Email: invalid email"
        );
        assert_eq!(
            summarize(b"<html>oops</html>", StatusCode::BAD_GATEWAY),
            "Bad Gateway"
        );
        assert_eq!(summarize(b"", StatusCode::NOT_FOUND), "Not Found");
    }

    #[test]
    fn redaction_hides_every_secret() {
        let secrets = vec!["hunter22".to_string(), "abc".to_string()];
        assert_eq!(
            redact("the password hunter22 is abc", &secrets),
            "the password <redacted> is abc"
        );
    }

    #[test]
    fn urls_with_credentials_or_plain_http_are_refused() {
        let err = check_url("https://ops:Very-Secret@user.example.com", false)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("Very-Secret"), "{err}");
        assert!(err.contains("TELEMATICS_EMAIL"), "{err}");
        assert!(check_url("http://user.example.com", false).is_err());
        let base = check_url("http://127.0.0.1:9/prefix", false).expect("loopback");
        assert_eq!(base.as_str(), "http://127.0.0.1:9/prefix/");
    }

    #[cfg(unix)]
    #[test]
    fn the_token_cache_is_private_and_replaced_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.json");
        write_private(&path, "{}").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        write_private(&path, "{\"a\":1}").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"a\":1}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
