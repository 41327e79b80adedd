//! The telematics backend: one instance (user group) of a telematics SDK user service (the
//! service the notes in ../shared/telematics/API-NOTES.md describe), its users read into the
//! model and changed through the admin API. Everything service-specific lives here and in the
//! files beside it:
//! - `rules.rs`: the description (key `clientId`, fields, capabilities) and the rules;
//! - `api.rs`: credentials, the session (at most two logins per run, refresh on 401, the token
//!   cache), the response envelope and errors;
//! - `ownership.rs`: which users this fleet registered, proven by their DeviceToken;
//! - `wire.rs`: the user object on the wire and the request bodies;
//! - `read.rs`: the paged, checked listing and the live state;
//! - `write.rs`: registrations (never twice; bulk only behind detection), updates,
//!   deactivations and deletes.
//!
//! Every UNVERIFIED point of the notes this backend relies on, and its safe fallback, is
//! listed in the README's telematics section.

pub mod api;
pub mod ownership;
mod read;
pub mod rules;
pub mod wire;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use self::api::{Api, ClientConfig, Credentials};
use self::read::Known;
pub use self::write::Bulk;
use crate::backend::{Backend, Outcome, PhaseContext, Progress, RequestLog};
use crate::core::model::{Account, Action, Description, Live, Scope, UserKey};

/// How the backend talks to the service.
#[derive(Clone, Debug)]
pub struct Options {
    /// Requests in flight at once, for the independent writes of one phase.
    pub concurrency: usize,
    /// Users per bulk registration (`CreateMany`), when the service takes it.
    pub batch_size: usize,
    /// Try bulk registration (off: one registration per user).
    pub bulk: bool,
    pub timeout: Duration,
    pub insecure_http: bool,
    pub retry: crate::backend::traccar::api::RetryPolicy,
    pub log: Option<RequestLog>,
    pub progress: Progress,
    pub ca_certs: Vec<std::path::PathBuf>,
    /// Where the session's tokens are kept between runs (`--token-cache`).
    pub token_cache: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 32,
            batch_size: 500,
            bulk: true,
            timeout: Duration::from_secs(30),
            insecure_http: false,
            retry: crate::backend::traccar::api::RetryPolicy::default(),
            log: None,
            progress: Progress::none(),
            ca_certs: Vec::new(),
            token_cache: None,
        }
    }
}

impl From<crate::backend::ConnectOptions> for Options {
    fn from(o: crate::backend::ConnectOptions) -> Self {
        let defaults = Options::default();
        Options {
            concurrency: o.concurrency.unwrap_or(defaults.concurrency),
            batch_size: o.batch_size.unwrap_or(defaults.batch_size),
            bulk: o.bulk,
            timeout: o.timeout,
            insecure_http: o.insecure_http,
            log: o.log,
            progress: o.progress,
            ca_certs: o.ca_certs,
            token_cache: o.token_cache,
            ..defaults
        }
    }
}

/// A connected instance.
pub struct TelematicsBackend {
    api: Api,
    options: Options,
    /// Where each user read or registered in this run is (by ClientId).
    known: Mutex<HashMap<UserKey, Known>>,
    bulk: Mutex<Bulk>,
    /// The largest page size the listing found the service to take.
    page_size: AtomicU32,
    /// Registrations where the service chose its own DeviceToken (ignored `CustomToken`).
    tokens_ignored: AtomicU64,
}

impl TelematicsBackend {
    /// Connects to the instance `instance` at `url`: starts the session (token cache, else a
    /// login). Fails before anything is read when the credential is refused.
    pub async fn connect(
        url: &str,
        instance: &str,
        credentials: &Credentials,
        options: Options,
    ) -> anyhow::Result<TelematicsBackend> {
        let base = api::check_url(url, options.insecure_http)?;
        let instance = instance.trim().to_lowercase();
        if !crate::backend::valid_uuid(&instance) {
            anyhow::bail!(
                "the instance id {instance:?} is not a UUID (server.instanceId, or --instance-id)"
            );
        }
        let config = ClientConfig {
            timeout: options.timeout,
            retry: options.retry.clone(),
            log: options.log.clone(),
            extra_roots: options.ca_certs.clone(),
            token_cache: options.token_cache.clone(),
        };
        let api = Api::connect(base, &instance, credentials.clone(), config).await?;
        Ok(TelematicsBackend {
            api,
            options,
            known: Mutex::new(HashMap::new()),
            bulk: Mutex::new(Bulk::Untried),
            page_size: AtomicU32::new(read::PAGE_SIZES[0]),
            tokens_ignored: AtomicU64::new(0),
        })
    }

    /// Requests, retries, logins and refreshes so far.
    pub fn client_stats(&self) -> api::ClientStats {
        self.api.stats()
    }

    /// Whether bulk registration was found to work, found not to, or not tried yet.
    pub fn bulk_registration(&self) -> Bulk {
        *self.bulk_state()
    }

    /// Registrations in this run where the service did not keep fleetform's DeviceToken.
    pub fn tokens_ignored(&self) -> u64 {
        self.tokens_ignored.load(Ordering::Relaxed)
    }

    fn known(&self) -> MutexGuard<'_, HashMap<UserKey, Known>> {
        // A poisoned lock only means another task panicked; the map is still valid.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bulk_state(&self) -> MutexGuard<'_, Bulk> {
        self.bulk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn account(&self) -> Account {
        Account {
            backend: rules::DESCRIPTION.kind.into(),
            url: self.api.base().as_str().trim_end_matches('/').to_string(),
            // The service has no version endpoint: the API version fleetform speaks, and the
            // instance, so plans show it and a saved plan for another instance is stale.
            server_version: format!("v1, instance {}", self.api.instance()),
            email: self.api.email().to_string(),
            role: if self.api.can_register() {
                rules::ADMIN
            } else {
                rules::ADMIN_WITHOUT_KEY
            }
            .into(),
        }
    }
}

impl Backend for TelematicsBackend {
    fn description(&self) -> &'static Description {
        &rules::DESCRIPTION
    }

    async fn describe(&self) -> anyhow::Result<Account> {
        Ok(self.account())
    }

    async fn fetch(&self, scope: &Scope) -> anyhow::Result<Live> {
        self.fetch_live(scope).await
    }

    async fn apply_phase(&self, context: &PhaseContext<'_>, actions: &[Action]) -> Vec<Outcome> {
        self.apply_actions(context, actions).await
    }
}

#[cfg(test)]
mod tests;
