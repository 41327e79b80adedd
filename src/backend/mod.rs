//! The backend trait: the only way the engine reads or changes a server. A backend describes the
//! account it runs as, fetches live state for a scope, and applies the actions of one plan phase.
//! Server ids, wire formats, authentication, paging and retries stay inside `backend/<name>/`;
//! the engine only sees the backend-neutral model (`crate::core::model`).

pub mod http;
pub mod telematics;
pub mod traccar;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::BTreeMap;

use crate::core::model::Description;
use crate::core::model::{Account, Action, Live, Scope, UserKey};
use crate::core::secret::Secret;

/// The `server.kind` of every backend fleetform has. A new backend adds its name here and one
/// line to `describe`.
pub const KINDS: &[&str] = &["traccar", "telematics"];

/// The backend of a fleet file that names no `server.kind`.
pub static DEFAULT: &Description = &traccar::rules::DESCRIPTION;

/// The registry: a backend's description by `server.kind` (or a plan's `backend`).
pub fn describe(kind: &str) -> Option<&'static Description> {
    match kind {
        "traccar" => Some(&traccar::rules::DESCRIPTION),
        "telematics" => Some(&telematics::rules::DESCRIPTION),
        _ => None,
    }
}

/// Whether `text` is an id in the backends' UUID form (a telematics `server.instanceId`):
/// `8-4-4-4-12` hexadecimal digits (a UUID in its usual spelling, either case).
pub fn valid_uuid(text: &str) -> bool {
    let text = text.trim();
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A server URL as it may be shown in a message, whatever the backend: anything between `://`
/// and `@` (user info) is cut.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://<redacted>@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// How to reach a server, whatever its kind: the connection flags every command shares.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Requests in flight at once, for reads and for the independent writes of one phase;
    /// `None`: the backend's default (Traccar: by server version).
    pub concurrency: Option<usize>,
    /// Objects per bulk request, where the server has bulk requests; `None`: the backend's
    /// default.
    pub batch_size: Option<usize>,
    /// Use the server's bulk requests (off: one request per object, for comparison).
    pub bulk: bool,
    /// Timeout of every request.
    pub timeout: std::time::Duration,
    /// Allow plain http to hosts that are not loopback.
    pub insecure_http: bool,
    /// Where to log every request (`-v`); `None`: nowhere.
    pub log: Option<RequestLog>,
    /// Where the reads of a fetch count their progress (a bar on a terminal).
    pub progress: Progress,
    /// PEM files of certificate authorities to trust besides Mozilla's roots (`--ca-cert`).
    pub ca_certs: Vec<std::path::PathBuf>,
    /// The instance (user group) on servers that host several (`Capabilities::instance`:
    /// `server.instanceId`); `None` elsewhere.
    pub instance: Option<String>,
    /// Where a backend with expiring sessions keeps its tokens between runs
    /// (`--token-cache`); `None`: in memory only.
    pub token_cache: Option<std::path::PathBuf>,
}

/// A connected backend of any kind: what `connect` returns. A new backend adds a variant here
/// and an arm to each match below.
pub enum Connected {
    Traccar(traccar::TraccarBackend),
    Telematics(telematics::TelematicsBackend),
}

/// A backend's credentials, read from the environment (never from a file or a flag).
pub enum Login {
    Traccar(traccar::api::Credentials),
    Telematics(telematics::api::Credentials),
}

/// Reads the credentials of `backend`'s kind from the environment, with a sentence for `-v`
/// naming the variables used (never a value); the error says which variables to set.
pub fn login_from_env(backend: &Description) -> anyhow::Result<(Login, String)> {
    match backend.kind {
        "traccar" => {
            let (credentials, which) = traccar::api::Credentials::from_env_explained()?;
            Ok((Login::Traccar(credentials), which))
        }
        "telematics" => {
            let (credentials, which) = telematics::api::Credentials::from_env_explained()?;
            Ok((Login::Telematics(credentials), which))
        }
        other => anyhow::bail!("fleetform cannot log in to a {other:?} server"),
    }
}

/// Connects to the server at `url` with `login`.
pub async fn connect(
    url: &str,
    login: &Login,
    options: ConnectOptions,
) -> anyhow::Result<Connected> {
    match login {
        Login::Traccar(credentials) => {
            let backend =
                traccar::TraccarBackend::connect(url, credentials, options.into()).await?;
            Ok(Connected::Traccar(backend))
        }
        Login::Telematics(credentials) => {
            let Some(instance) = options.instance.clone() else {
                anyhow::bail!(
                    "no instance id: a telematics fleet names its instance (user group) in \
                     `server.instanceId`"
                );
            };
            let backend =
                telematics::TelematicsBackend::connect(url, &instance, credentials, options.into())
                    .await?;
            Ok(Connected::Telematics(backend))
        }
    }
}

impl Backend for Connected {
    fn description(&self) -> &'static Description {
        match self {
            Connected::Traccar(b) => b.description(),
            Connected::Telematics(b) => b.description(),
        }
    }

    async fn describe(&self) -> anyhow::Result<Account> {
        match self {
            Connected::Traccar(b) => b.describe().await,
            Connected::Telematics(b) => b.describe().await,
        }
    }

    async fn fetch(&self, scope: &Scope) -> anyhow::Result<Live> {
        match self {
            Connected::Traccar(b) => b.fetch(scope).await,
            Connected::Telematics(b) => b.fetch(scope).await,
        }
    }

    async fn apply_phase(&self, context: &PhaseContext<'_>, actions: &[Action]) -> Vec<Outcome> {
        match self {
            Connected::Traccar(b) => b.apply_phase(context, actions).await,
            Connected::Telematics(b) => b.apply_phase(context, actions).await,
        }
    }

    async fn audit(&self, users: &[UserKey]) -> BTreeMap<UserKey, Vec<AuditEntry>> {
        match self {
            Connected::Traccar(b) => b.audit(users).await,
            Connected::Telematics(b) => b.audit(users).await,
        }
    }
}

/// What applying one action produced.
#[derive(Debug)]
pub enum Applied {
    Done,
    /// A user was created with this generated password (for `--credentials-out` only).
    Created {
        password: Secret,
    },
}

/// Why one action was not applied. Messages carry the request and the server's message, never a
/// credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server refused or failed the request, or could not be reached.
    Refused(String),
    /// An object the action names is not on the server (deleted since the plan was made?).
    Unknown(String),
    /// The backend returned no outcome for the action: a backend bug, reported, never success.
    NotAnswered,
    /// Not sent: the run was cancelled (`PhaseContext::cancel`) before its request started.
    NotStarted,
}

impl Failure {
    /// The same failure with its message passed through `edit` (e.g. to redact values).
    pub fn map_message(&self, edit: impl Fn(&str) -> String) -> Failure {
        match self {
            Failure::Refused(message) => Failure::Refused(edit(message)),
            Failure::Unknown(message) => Failure::Unknown(edit(message)),
            Failure::NotAnswered => Failure::NotAnswered,
            Failure::NotStarted => Failure::NotStarted,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(message) | Failure::Unknown(message) => f.write_str(message),
            Failure::NotAnswered => {
                f.write_str("internal error: the backend did not report this action")
            }
            Failure::NotStarted => f.write_str("not started: the apply was interrupted"),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Refused(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::Refused(message.to_string())
    }
}

/// The result of one action.
pub type Outcome = Result<Applied, Failure>;

/// What a backend needs from the plan to apply one phase, besides the actions: the fleet the
/// plan is for (the ownership marker new and adopted users get), the time the apply started
/// (the clock is read once, at the edge, e.g. for the time a user was disabled), the
/// cancellation flag (Ctrl-C) and where to count progress.
#[derive(Clone, Copy, Debug)]
pub struct PhaseContext<'a> {
    pub fleet: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Once set, the backend starts no new request: every action it has not started yet gets
    /// `Failure::NotStarted`; requests in flight finish.
    pub cancel: &'a AtomicBool,
    /// Advanced by the number of actions each finished request settled.
    pub progress: &'a Progress,
}

impl PhaseContext<'_> {
    /// Whether new requests must not start (checked right before each one).
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

pub trait Backend: Send + Sync {
    /// What the backend is: its fields, link kinds, capabilities and rules.
    fn description(&self) -> &'static Description;

    /// Checks the credential with a protected read and detects the account's role and the
    /// server's version. Called before planning; no writes.
    fn describe(&self) -> impl Future<Output = anyhow::Result<Account>> + Send;

    /// Reads every user the account can see, the devices and groups it may link, and the direct
    /// device and group links of the users in `scope`.
    fn fetch(&self, scope: &Scope) -> impl Future<Output = anyhow::Result<Live>> + Send;

    /// Applies the actions of one plan phase (they are independent of each other) and returns
    /// one outcome per action, in the same order. May batch and run them concurrently.
    fn apply_phase(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
    ) -> impl Future<Output = Vec<Outcome>> + Send;

    /// Recent audit-log entries about these users (fetched before), newest first, where the
    /// server keeps an audit log the account may read; once the log was read every asked user
    /// is a key, with an empty list when the log has nothing about it. Never fails: without a
    /// log, or on any error reading it, the answer is empty.
    fn audit(
        &self,
        users: &[UserKey],
    ) -> impl Future<Output = BTreeMap<UserKey, Vec<AuditEntry>>> + Send {
        let _ = users;
        async { BTreeMap::new() }
    }
}

/// One audit-log entry: who did what to a user, and when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// As the server wrote it (ISO 8601).
    pub time: String,
    /// The email of the account that acted (or `user #id` when the log has no email).
    pub by: String,
    /// The server's action type, e.g. `edit`, `link`.
    pub action: String,
}

/// Where `-v` request logging goes: one line per request, `METHOD path -> status (N ms)`, never
/// a credential. A cloneable handle because the requests of one phase run concurrently; the
/// binary makes the one that writes to stderr, so library code never prints.
#[derive(Clone)]
pub struct RequestLog(Arc<dyn Fn(&str) + Send + Sync>);

impl RequestLog {
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> RequestLog {
        RequestLog(Arc::new(write))
    }

    /// Logs one line (without its line break).
    pub fn line(&self, line: &str) {
        (self.0)(line);
    }
}

impl fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestLog(..)")
    }
}

/// Where long runs count their progress (done of total): the binary hands in a progress bar
/// when stderr is a terminal; elsewhere (`Progress::none`, the default) nothing is drawn. Like
/// `RequestLog`, a cloneable handle, because the requests of one phase run concurrently.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn ProgressSink>>);

/// What draws a `Progress`.
pub trait ProgressSink: Send + Sync {
    /// A new stage: `label`, `total` units of work.
    fn start(&self, label: &str, total: u64);
    /// `n` more units done.
    fn advance(&self, n: u64);
    /// The stage is over: remove what was drawn.
    fn finish(&self);
}

impl Progress {
    /// Draws nothing.
    pub fn none() -> Progress {
        Progress(None)
    }

    pub fn new(sink: impl ProgressSink + 'static) -> Progress {
        Progress(Some(Arc::new(sink)))
    }

    pub fn start(&self, label: &str, total: u64) {
        if let Some(sink) = &self.0 {
            sink.start(label, total);
        }
    }

    pub fn advance(&self, n: u64) {
        if let Some(sink) = &self.0 {
            sink.advance(n);
        }
    }

    pub fn finish(&self) {
        if let Some(sink) = &self.0 {
            sink.finish();
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(..)"
        } else {
            "Progress(none)"
        })
    }
}
