//! The backend trait: the only way the engine reads or changes a server. A backend describes the
//! account it runs as, fetches live state for a scope, and applies the actions of one plan phase.
//! Server ids, wire formats, authentication, paging and retries stay inside `backend/<name>/`;
//! the engine only sees the backend-neutral model (`crate::core::model`).

pub mod traccar;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use std::collections::BTreeMap;

use crate::core::model::{Account, Action, Live, Scope, UserKey};
use crate::core::secret::Secret;

/// What applying one action produced.
#[derive(Debug)]
pub enum Applied {
    Done,
    /// A user was created with this generated password (for `--credentials-out` only).
    Created {
        password: Secret,
    },
}

/// The result of one action: `Err` carries the request and the server's message, never a
/// credential.
pub type Outcome = Result<Applied, String>;

pub trait Backend: Send + Sync {
    /// Checks the credential with a protected read and detects the account's role and the
    /// server's version. Called before planning; no writes.
    fn describe(&self) -> impl Future<Output = anyhow::Result<Account>> + Send;

    /// Reads every user the account can see, the devices and groups it may link, and the direct
    /// device and group links of the users in `scope`.
    fn fetch(&self, scope: &Scope) -> impl Future<Output = anyhow::Result<Live>> + Send;

    /// Applies the actions of one plan phase (they are independent of each other) and returns
    /// one outcome per action, in the same order. May batch and run them concurrently.
    fn apply_phase(&self, actions: &[Action]) -> impl Future<Output = Vec<Outcome>> + Send;

    /// Recent audit-log entries about these users (fetched before), newest first, where the
    /// server keeps an audit log the account may read. Never fails: without a log, or on any
    /// error reading it, the answer is empty.
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
