//! The telematics backend end to end, against the in-process telematics sandbox
//! (`telematics_sandbox`): every workflow (`workflows`), the fault tests (`faults`), the
//! secrets (`secrets`) and the property test (`convergence`, on the checks both backends share,
//! `crate::property`). Every test starts its own sandbox on an ephemeral loopback port; the
//! login limit is off unless a test is about it.

mod convergence;
mod faults;
mod secrets;
mod workflows;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use fleetform::apply::{self, Report};
use fleetform::backend::telematics::api::Credentials;
use fleetform::backend::telematics::{Options, TelematicsBackend};
use fleetform::backend::traccar::api::RetryPolicy;
use fleetform::config::{self, Loaded};
use fleetform::core::plan::Plan;
use fleetform::core::secret::Secret;
use telematics_sandbox::{Sandbox, SandboxConfig, User};

pub const FLEET: &str = "acme-drivers";

pub struct TEnv {
    pub sandbox: Sandbox,
    pub url: String,
    pub instance: String,
    pub key: String,
    pub email: String,
    pub password: String,
}

/// A sandbox without the login limit.
pub async fn tenv() -> TEnv {
    tenv_with(SandboxConfig {
        login_limit: None,
        ..SandboxConfig::default()
    })
    .await
}

pub async fn tenv_with(config: SandboxConfig) -> TEnv {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = Sandbox::start(config, listen)
        .await
        .expect("sandbox starts");
    let config = sandbox.config().clone();
    TEnv {
        url: sandbox.url(),
        instance: config.instance.id.clone(),
        key: config.instance.key.clone(),
        email: config.admin.email.clone(),
        password: config.admin.password.clone(),
        sandbox,
    }
}

/// Retries without the production backoff (tests never wait for timing).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(5),
    }
}

pub fn parse(yaml: &str) -> Loaded {
    config::parse(yaml, "fleet.yaml").unwrap_or_else(|p| panic!("test fleet file is invalid:\n{p}"))
}

impl TEnv {
    /// The top of a fleet file for this sandbox: version, fleet and server.
    pub fn head(&self, fleet: &str) -> String {
        format!(
            "version: 1\nfleet: {fleet}\nserver:\n  kind: telematics\n  url: {}\n  instanceId: {}\n",
            self.url, self.instance
        )
    }

    pub fn credentials(&self) -> Credentials {
        Credentials {
            email: self.email.clone(),
            password: Secret::new(self.password.clone()),
            instance_key: Some(Secret::new(self.key.clone())),
        }
    }

    pub fn options(&self) -> Options {
        Options {
            retry: fast_retry(),
            ..Options::default()
        }
    }

    pub async fn backend_with(&self, options: Options) -> TelematicsBackend {
        TelematicsBackend::connect(&self.url, &self.instance, &self.credentials(), options)
            .await
            .expect("connect")
    }

    pub async fn backend(&self) -> TelematicsBackend {
        self.backend_with(self.options()).await
    }

    pub async fn plan(&self, yaml: &str) -> anyhow::Result<Plan> {
        let backend = self.backend().await;
        fleetform::make_plan(&backend, &parse(yaml).desired).await
    }

    pub async fn apply_with(&self, backend: &TelematicsBackend, yaml: &str) -> Report {
        let plan = fleetform::make_plan(backend, &parse(yaml).desired)
            .await
            .expect("plan");
        apply::apply(backend, &plan, &mut Vec::new()).await
    }

    pub async fn apply(&self, yaml: &str) -> Report {
        let backend = self.backend().await;
        let report = self.apply_with(&backend, yaml).await;
        assert!(report.is_success(), "apply failed: {:?}", report.failed);
        report
    }

    /// Every user of the sandbox (every instance), as it stores them.
    pub fn users(&self) -> Vec<User> {
        self.sandbox
            .seed(|store| store.users().into_iter().cloned().collect())
    }

    /// The users with this ClientId.
    pub fn with_client_id(&self, client_id: &str) -> Vec<User> {
        self.users()
            .into_iter()
            .filter(|u| u.fields.client_id.as_deref() == Some(client_id))
            .collect()
    }

    pub fn one(&self, client_id: &str) -> User {
        let mut users = self.with_client_id(client_id);
        assert_eq!(users.len(), 1, "users with ClientId {client_id}: {users:?}");
        users.remove(0)
    }

    /// Registers a user behind fleetform's back (a random DeviceToken, as the service makes).
    pub fn seed_user(&self, client_id: Option<&str>, edit: impl FnOnce(&mut User)) -> String {
        let instance = self.instance.clone();
        self.sandbox.seed(|store| {
            let mut user = User::new(&instance);
            user.fields.client_id = client_id.map(str::to_string);
            edit(&mut user);
            store.add_user(user).expect("seeded")
        })
    }

    /// How many requests of `route` the sandbox served since the last reset.
    pub fn count(&self, route: &str) -> u64 {
        self.sandbox
            .stats()
            .by_route
            .get(route)
            .copied()
            .unwrap_or(0)
    }

    /// The binary with this sandbox's credentials in its environment (and no one else's).
    pub fn bin(&self) -> Command {
        let mut cmd = bin();
        cmd.env("TELEMATICS_EMAIL", &self.email)
            .env("TELEMATICS_PASSWORD", &self.password)
            .env("TELEMATICS_INSTANCE_KEY", &self.key);
        cmd
    }
}

/// The binary with no credentials of any backend in its environment.
pub fn bin() -> Command {
    let mut cmd = crate::e2e::bin();
    for var in [
        "TELEMATICS_EMAIL",
        "TELEMATICS_PASSWORD",
        "TELEMATICS_INSTANCE_KEY",
        "TELEMATICS_TOKEN_CACHE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
