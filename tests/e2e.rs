//! End-to-end tests of plan and apply against the in-process sandbox: every run starts a fresh
//! sandbox on an ephemeral loopback port, seeds the demo fleet through the API, and drives the
//! library pipeline (and, where output matters, the real binary).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

use fleetform::apply::{self, Report};
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::rules::{DEVICE, MANAGER};
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::{self, DEMO_ADMIN, DEMO_MANAGER};
use fleetform::config::{self, Loaded};
use fleetform::core::model::Action;
use fleetform::core::plan::Plan;
use serde_json::{Value as Json, json};
use traccar_sandbox::{Sandbox, SandboxConfig, TraccarVersion};

pub struct Env {
    /// Kept alive for the test's duration; dropping it stops the server.
    #[allow(dead_code, reason = "held for its lifetime")]
    pub sandbox: Sandbox,
    pub url: String,
    pub admin: Credentials,
    pub manager: Credentials,
    http: reqwest::Client,
}

/// The secret of a credential, for raw requests and for scanning output for it.
pub fn password(c: &Credentials) -> String {
    match c {
        Credentials::Password { password, .. } => password.expose().to_string(),
        Credentials::Token(t) => t.expose().to_string(),
    }
}

pub async fn env_version(version: TraccarVersion) -> Env {
    let config = SandboxConfig {
        version,
        // Before 6.0 a fresh Traccar had registration on; the first user needs it there.
        registration: version < TraccarVersion::V6_9,
        ..SandboxConfig::default()
    };
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = Sandbox::start(config, listen)
        .await
        .expect("sandbox starts");
    let url = sandbox.url();
    let seeded = demo::seed(&url).await.expect("seed");
    Env {
        sandbox,
        url,
        admin: seeded.admin,
        manager: seeded.manager,
        http: reqwest::Client::new(),
    }
}

pub async fn env() -> Env {
    env_version(TraccarVersion::default()).await
}

pub fn fleet(yaml: &str) -> Loaded {
    match config::parse(yaml, "fleet.yaml") {
        Ok(l) => l,
        Err(p) => panic!("test fleet file is invalid:\n{p}"),
    }
}

impl Env {
    pub async fn backend(&self, credentials: &Credentials) -> TraccarBackend {
        TraccarBackend::connect(&self.url, credentials, Options::default())
            .await
            .expect("connect")
    }

    pub async fn plan_as(&self, credentials: &Credentials, yaml: &str) -> anyhow::Result<Plan> {
        let backend = self.backend(credentials).await;
        fleetform::make_plan(&backend, &fleet(yaml).desired).await
    }

    pub async fn plan(&self, yaml: &str) -> Plan {
        self.plan_as(&self.admin, yaml).await.expect("plan")
    }

    pub async fn apply_as(&self, credentials: &Credentials, yaml: &str) -> Report {
        let backend = self.backend(credentials).await;
        let plan = fleetform::make_plan(&backend, &fleet(yaml).desired)
            .await
            .expect("plan");
        apply::apply(&backend, &plan, &mut Vec::new()).await
    }

    /// Plans a fleet loaded otherwise (from a path, with the files beside it), as the
    /// administrator.
    pub async fn plan_desired(&self, desired: &fleetform::core::model::Desired) -> Plan {
        let backend = self.backend(&self.admin).await;
        fleetform::make_plan(&backend, desired).await.expect("plan")
    }

    /// Plans and applies a fleet loaded otherwise, as the administrator; asserts success.
    pub async fn apply_desired(&self, desired: &fleetform::core::model::Desired) -> Report {
        // The same backend plans and applies: it learns the server's ids while reading.
        let backend = self.backend(&self.admin).await;
        let plan = fleetform::make_plan(&backend, desired).await.expect("plan");
        let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
        assert!(report.is_success(), "apply failed: {:?}", report.failed);
        report
    }

    pub async fn apply(&self, yaml: &str) -> Report {
        let report = self.apply_as(&self.admin, yaml).await;
        assert!(report.is_success(), "apply failed: {:?}", report.failed);
        report
    }

    /// A raw request as the demo administrator (changes "made by hand").
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .basic_auth(DEMO_ADMIN, Some(password(&self.admin)));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Json::Null)
    }

    /// Every object of `/api/<path>`, as the administrator lists them (`all=true`).
    pub async fn all(&self, path: &str) -> Vec<Json> {
        self.admin(reqwest::Method::GET, &format!("/api/{path}?all=true"), None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The object of `/api/<path>` whose `key` is `value`, as the administrator lists them.
    pub async fn find(&self, path: &str, key: &str, value: &str) -> Option<Json> {
        self.all(path).await.into_iter().find(|o| o[key] == value)
    }

    /// The (owner, property) link rows the sandbox stores between two kinds; asserts that no
    /// pair is stored twice (Traccar stores a re-POSTed link as a duplicate row).
    pub fn link_rows(
        &self,
        owner: traccar_sandbox::ObjectType,
        property: traccar_sandbox::ObjectType,
    ) -> Vec<(i64, i64)> {
        self.sandbox.seed(|store| {
            let rows = store
                .links(owner, property)
                .map(|t| t.rows())
                .unwrap_or_default();
            let mut distinct = rows.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(rows.len(), distinct.len(), "duplicate link rows: {rows:?}");
            rows
        })
    }

    pub async fn user(&self, email: &str) -> Option<Json> {
        let users = self.admin(reqwest::Method::GET, "/api/users", None).await;
        users
            .as_array()
            .expect("array")
            .iter()
            .find(|u| {
                u["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .cloned()
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        self.user(email).await.expect("user exists")["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn devices_of(&self, email: &str) -> BTreeSet<String> {
        let id = self.user_id(email).await;
        let list = self
            .admin(
                reqwest::Method::GET,
                &format!("/api/devices?userId={id}"),
                None,
            )
            .await;
        list.as_array()
            .expect("array")
            .iter()
            .map(|d| d["uniqueId"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn device_id(&self, unique_id: &str) -> i64 {
        let list = self
            .admin(reqwest::Method::GET, "/api/devices?all=true", None)
            .await;
        list.as_array()
            .expect("array")
            .iter()
            .find(|d| d["uniqueId"] == unique_id)
            .expect("device")["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn put_user(&self, email: &str, edit: impl FnOnce(&mut Json)) {
        let mut user = self.user(email).await.expect("user");
        edit(&mut user);
        let id = user["id"].as_i64().expect("id");
        self.admin(
            reqwest::Method::PUT,
            &format!("/api/users/{id}"),
            Some(user),
        )
        .await;
    }
}

/// Options for fault tests: a short timeout and quick retries, so a lost answer costs
/// milliseconds.
pub fn fast_options() -> Options {
    Options {
        timeout: std::time::Duration::from_millis(400),
        retry: fleetform::backend::traccar::api::RetryPolicy {
            max_attempts: 5,
            base_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(40),
            max_retry_after: std::time::Duration::from_millis(20),
        },
        ..Options::default()
    }
}

/// A hook that injects `fault` into the first request of `route` only.
pub fn first(route: &'static str, fault: traccar_sandbox::Fault) -> traccar_sandbox::FaultHook {
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::sync::Arc::new(move |info| {
        (info.route == route && !fired.swap(true, std::sync::atomic::Ordering::SeqCst))
            .then(|| fault.clone())
    })
}

/// The routes of the requests the sandbox served after the first `from`, in order.
pub fn routes_after(sandbox: &Sandbox, from: usize) -> Vec<String> {
    sandbox
        .requests()
        .into_iter()
        .skip(from)
        .map(|r| r.route)
        .collect()
}

pub const BASE: &str = r#"
version: 1
fleet: acme-bikes
manager: fleet@acme.example
prune: delete
roles:
  rider: { deviceReadonly: true, limitCommands: true }
users:
  - email: max@mustermann.at
    name: Max Mustermann
    role: rider
    devices: [BT-000101, BT-000102]
    groups: [Vienna]
    attributes: { costCenter: "4711" }
  - email: erika@example.at
    name: Erika Musterfrau
    readonly: true
    expirationTime: 2027-06-30T00:00:00Z
    devices: [BT-000107]
"#;

fn count(plan: &Plan, pred: impl Fn(&Action) -> bool) -> usize {
    plan.actions.iter().filter(|a| pred(a)).count()
}

#[tokio::test]
async fn first_apply_creates_everything_and_the_replan_is_empty() {
    let env = env().await;
    let plan = env.plan(BASE).await;
    assert_eq!(count(&plan, |a| matches!(a, Action::CreateUser { .. })), 2);
    assert_eq!(count(&plan, |a| matches!(a, Action::Link { .. })), 4);
    let report = env.apply(BASE).await;
    assert_eq!(report.credentials.len(), 2);

    let max = env.user("max@mustermann.at").await.expect("created");
    assert_eq!(max["name"], "Max Mustermann");
    assert_eq!(max["deviceReadonly"], true);
    assert_eq!(max["limitCommands"], true);
    assert_eq!(max["attributes"]["costCenter"], "4711");
    assert_eq!(max["attributes"]["fleetform"], "acme-bikes");
    let erika = env.user("erika@example.at").await.expect("created");
    assert_eq!(erika["readonly"], true);
    assert!(
        erika["expirationTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2027-06-30T00:00:00"))
    );
    assert_eq!(
        env.devices_of("max@mustermann.at").await,
        ["BT-000101", "BT-000102"].map(String::from).into()
    );
    // Created as admin with `manager` set: the users belong to the billing account.
    let manager_id = env.user_id(DEMO_MANAGER).await;
    let managed = env
        .admin(
            reqwest::Method::GET,
            &format!("/api/users?userId={manager_id}"),
            None,
        )
        .await;
    assert_eq!(managed.as_array().map(Vec::len), Some(2));

    let again = env.plan(BASE).await;
    assert!(
        again.actions.is_empty(),
        "re-plan not empty: {:?}",
        again.actions
    );
}

#[tokio::test]
async fn the_created_users_can_log_in_with_their_generated_passwords() {
    let env = env().await;
    let report = env.apply(BASE).await;
    for (email, password) in &report.credentials {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/devices", env.url))
            .basic_auth(email, Some(password.expose()))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{email} cannot log in");
    }
}

#[tokio::test]
async fn a_link_added_by_hand_is_removed() {
    let env = env().await;
    env.apply(BASE).await;
    let uid = env.user_id("max@mustermann.at").await;
    let did = env.device_id("BT-000110").await;
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"userId": uid, "deviceId": did})),
    )
    .await;
    let plan = env.plan(BASE).await;
    assert_eq!(
        plan.actions,
        vec![Action::Unlink {
            email: "max@mustermann.at".into(),
            kind: DEVICE,
            target: "BT-000110".into()
        }]
    );
    env.apply(BASE).await;
    assert!(
        !env.devices_of("max@mustermann.at")
            .await
            .contains("BT-000110")
    );
    assert!(env.plan(BASE).await.actions.is_empty());
}

#[tokio::test]
async fn a_field_changed_by_hand_is_restored_and_unmanaged_fields_survive() {
    let env = env().await;
    env.apply(BASE).await;
    env.put_user("max@mustermann.at", |u| {
        u["deviceReadonly"] = json!(false); // managed (role): restored
        u["phone"] = json!("+43 1 234"); // not managed: kept
        u["attributes"]["notificationTokens"] = json!("tok"); // not managed: kept
        u["attributes"]["costCenter"] = json!("9999"); // managed: restored
    })
    .await;
    let plan = env.plan(BASE).await;
    assert_eq!(plan.actions.len(), 1, "{:?}", plan.actions);
    env.apply(BASE).await;
    let max = env.user("max@mustermann.at").await.expect("user");
    assert_eq!(max["deviceReadonly"], true);
    assert_eq!(max["attributes"]["costCenter"], "4711");
    assert_eq!(max["phone"], "+43 1 234");
    assert_eq!(max["attributes"]["notificationTokens"], "tok");
    assert_eq!(max["attributes"]["fleetform"], "acme-bikes");
    assert!(env.plan(BASE).await.actions.is_empty());
}

fn without_erika(prune: &str) -> String {
    let cut = BASE.find("  - email: erika").expect("erika");
    BASE[..cut].replace("prune: delete", &format!("prune: {prune}"))
}

#[tokio::test]
async fn a_user_removed_from_the_file_is_deleted_with_prune_delete() {
    let env = env().await;
    env.apply(BASE).await;
    let yaml = without_erika("delete");
    let plan = env.plan(&yaml).await;
    assert_eq!(
        plan.actions,
        vec![Action::DeleteUser {
            email: "erika@example.at".into()
        }]
    );
    env.apply(&yaml).await;
    assert!(env.user("erika@example.at").await.is_none());
    assert!(env.plan(&yaml).await.actions.is_empty());
}

#[tokio::test]
async fn a_user_removed_from_the_file_is_disabled_with_prune_disable() {
    let env = env().await;
    env.apply(BASE).await;
    let yaml = without_erika("disable");
    env.apply(&yaml).await;
    let erika = env.user("erika@example.at").await.expect("still there");
    assert_eq!(erika["disabled"], true);
    // The disable time is recorded for `pruneAfter`.
    let stamp = erika["attributes"]["fleetformDisabledAt"]
        .as_str()
        .expect("disable time recorded");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    // Links of a disabled user are left alone, and the re-plan is empty.
    assert!(
        env.devices_of("erika@example.at")
            .await
            .contains("BT-000107")
    );
    assert!(env.plan(&yaml).await.actions.is_empty());
}

#[tokio::test]
async fn a_user_removed_from_the_file_is_kept_with_prune_keep() {
    let env = env().await;
    env.apply(BASE).await;
    let yaml = without_erika("keep");
    assert!(env.plan(&yaml).await.actions.is_empty());
    assert_eq!(
        env.user("erika@example.at").await.expect("kept")["disabled"],
        false
    );
}

#[tokio::test]
async fn an_unmarked_user_not_in_the_file_is_never_touched() {
    let env = env().await;
    env.admin(
        reqwest::Method::POST,
        "/api/users",
        Some(json!({"name": "Outsider", "email": "outsider@example.at", "password": "x-long-password"})),
    )
    .await;
    let before = env.user("outsider@example.at").await;
    let plan = env.plan(BASE).await;
    assert!(
        plan.actions
            .iter()
            .all(|a| a.email() != "outsider@example.at")
    );
    env.apply(BASE).await;
    assert_eq!(env.user("outsider@example.at").await, before);
}

#[tokio::test]
async fn an_existing_unmarked_user_in_the_file_is_adopted() {
    let env = env().await;
    env.admin(
        reqwest::Method::POST,
        "/api/users",
        Some(
            json!({"name": "Max M.", "email": "Max@Mustermann.at", "password": "x-long-password"}),
        ),
    )
    .await;
    let plan = env.plan(BASE).await;
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::UpdateUser { adopt: true, .. }))
    );
    assert_eq!(count(&plan, |a| matches!(a, Action::CreateUser { .. })), 1);
    // An admin run naming a manager puts the adopted user into the billing account too.
    assert!(plan.actions.contains(&Action::Link {
        email: "Max@Mustermann.at".into(),
        kind: MANAGER,
        target: DEMO_MANAGER.into(),
    }));
    env.apply(BASE).await;
    let max = env.user("max@mustermann.at").await.expect("user");
    assert_eq!(max["attributes"]["fleetform"], "acme-bikes");
    assert_eq!(max["name"], "Max Mustermann");
    let manager_id = env.user_id(DEMO_MANAGER).await;
    let managed = env
        .admin(
            reqwest::Method::GET,
            &format!("/api/users?userId={manager_id}"),
            None,
        )
        .await;
    assert!(
        managed
            .as_array()
            .expect("array")
            .iter()
            .any(|u| u["email"] == "Max@Mustermann.at"),
        "{managed}"
    );
    assert!(env.plan(BASE).await.actions.is_empty());
}

#[tokio::test]
async fn admins_the_running_account_and_the_managers_links_are_untouched() {
    let env = env().await;
    env.apply(BASE).await;
    let manager_devices = env.devices_of(DEMO_MANAGER).await;
    assert_eq!(manager_devices.len(), 12);
    let admin_before = env.user(DEMO_ADMIN).await;
    let manager_before = env.user(DEMO_MANAGER).await;
    // Prune everything this fleet manages: admin and manager stay as they were.
    let empty = "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nusers: []\n";
    env.apply(empty).await;
    assert_eq!(env.user(DEMO_ADMIN).await, admin_before);
    assert_eq!(env.user(DEMO_MANAGER).await, manager_before);
    assert_eq!(env.devices_of(DEMO_MANAGER).await, manager_devices);
    assert!(env.user("max@mustermann.at").await.is_none());
}

#[tokio::test]
async fn a_file_naming_an_administrator_fails_at_plan_time() {
    let env = env().await;
    let yaml =
        format!("version: 1\nfleet: acme-bikes\nusers:\n  - email: {DEMO_ADMIN}\n    name: x\n");
    let err = env.plan_as(&env.admin, &yaml).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains(DEMO_ADMIN), "{text}");
    assert!(text.contains("fleet.yaml:4"), "{text}");
}

#[tokio::test]
async fn a_device_the_account_cannot_see_fails_at_plan_time_with_every_problem() {
    let env = env().await;
    let yaml = BASE
        .replace("BT-000102", "NOPE-1")
        .replace("BT-000107", "NOPE-2");
    let err = env.plan_as(&env.admin, &yaml).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("NOPE-1") && text.contains("NOPE-2"), "{text}");
    // Nothing was written.
    assert!(env.user("max@mustermann.at").await.is_none());
}

const AS_MANAGER: &str = r#"
version: 1
fleet: acme-bikes
users:
  - email: rider1@acme.example
    name: Rider One
    deviceReadonly: true
    devices: [BT-000101]
    groups: [Graz]
  - email: rider2@acme.example
    name: Rider Two
    devices: [BT-000108, BT-000109]
"#;

#[tokio::test]
async fn a_manager_credential_manages_its_sub_users() {
    let env = env().await;
    let report = env.apply_as(&env.manager, AS_MANAGER).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(
        env.devices_of("rider2@acme.example").await,
        ["BT-000108", "BT-000109"].map(String::from).into()
    );
    let again = env.plan_as(&env.manager, AS_MANAGER).await.expect("plan");
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    // The manager's own device links are untouched.
    assert_eq!(env.devices_of(DEMO_MANAGER).await.len(), 12);
}

/// Found by the convergence property test: an administrator sets a billing account's
/// `userLimit` to 0; Traccar still lists its former sub-users to it but refuses every read of
/// their links, so the plan failed on `GET /api/devices?userId=N -> 400: User access denied`
/// instead of saying what is wrong with the credential.
#[tokio::test]
async fn a_former_manager_is_told_it_is_a_plain_user_before_any_read_of_its_users() {
    let env = env().await;
    let report = env.apply_as(&env.manager, AS_MANAGER).await;
    assert!(report.is_success(), "{:?}", report.failed);
    env.put_user(DEMO_MANAGER, |u| u["userLimit"] = json!(0))
        .await;
    let backend = env.backend(&env.manager).await;
    env.sandbox.reset_stats();
    let err = fleetform::make_plan(&backend, &fleet(AS_MANAGER).desired)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("the account fleet@acme.example is a plain user"),
        "{text}"
    );
    assert!(text.contains("run fleetform as an administrator or a manager"));
    assert!(!text.contains("User access denied"), "{text}");
    assert_eq!(env.sandbox.requests(), [], "nothing read, nothing written");
}

#[tokio::test]
async fn a_change_a_manager_cannot_make_fails_at_plan_time() {
    let env = env().await;
    let yaml = AS_MANAGER.replace("deviceReadonly: true", "deviceLimit: 5");
    let err = env.plan_as(&env.manager, &yaml).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("deviceLimit"), "{text}");
    assert!(env.user("rider1@acme.example").await.is_none());
}

#[tokio::test]
async fn plan_and_apply_converge_on_older_traccar_versions() {
    for version in [TraccarVersion::V6_9, TraccarVersion::V5_12] {
        let env = env_version(version).await;
        env.apply(BASE).await;
        let again = env.plan(BASE).await;
        assert!(again.actions.is_empty(), "{version:?}: {:?}", again.actions);
        let yaml = without_erika("delete");
        env.apply(&yaml).await;
        assert!(env.user("erika@example.at").await.is_none());
    }
}

// ---- the binary: exit codes, output, secrets ----

/// The binary, with no credentials or server from the test's own environment.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetform"));
    for var in [
        "TRACCAR_TOKEN",
        "TRACCAR_EMAIL",
        "TRACCAR_PASSWORD",
        "TRACCAR_AUTH_TOKEN",
        "TRACCAR_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

impl Env {
    /// The binary, logged in to this sandbox as its administrator.
    pub fn admin_bin(&self) -> Command {
        let mut cmd = bin();
        cmd.env("TRACCAR_URL", &self.url)
            .env("TRACCAR_EMAIL", DEMO_ADMIN)
            .env("TRACCAR_PASSWORD", password(&self.admin));
        cmd
    }
}

/// What a run of the binary printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with no input. Tests that serve a sandbox from their own runtime use the
/// multi-thread flavour, so the sandbox keeps answering while this thread waits.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fleetform");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn with_admin(cmd: &mut Command, env: &Env) {
    cmd.env_remove("TRACCAR_TOKEN")
        .env_remove("TRACCAR_AUTH_TOKEN")
        .env("TRACCAR_URL", &env.url)
        .env("TRACCAR_EMAIL", DEMO_ADMIN)
        .env("TRACCAR_PASSWORD", password(&env.admin))
        .env("NO_COLOR", "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_plans_applies_and_never_prints_a_secret() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, BASE).expect("write");
    let creds = dir.path().join("creds.csv");
    let secret = password(&env.admin);

    let plan = run(with(
        bin()
            .args(["plan", "-f"])
            .arg(&file)
            .arg("--detailed-exitcode"),
        &env,
    ));
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(plan.stdout.contains("Plan: 2 to create"), "{}", plan.stdout);

    let json = run(with(
        bin().args(["plan", "--format", "json", "-f"]).arg(&file),
        &env,
    ));
    assert_eq!(json.code, 0, "{}", json.stderr);
    let parsed: Json = serde_json::from_str(&json.stdout).expect("json plan");
    assert_eq!(parsed["format_version"], 1);
    assert_eq!(parsed["summary"]["create"], 2);

    let apply = run(with(
        bin()
            .args(["apply", "--auto-approve", "-f"])
            .arg(&file)
            .arg("--credentials-out")
            .arg(&creds),
        &env,
    ));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let written = std::fs::read_to_string(&creds).expect("credentials file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let generated: Vec<&str> = written
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next())
        .collect();
    assert_eq!(generated.len(), 2);

    let replan = run(with(
        bin().args(["plan", "--detailed-exitcode", "-f"]).arg(&file),
        &env,
    ));
    assert_eq!(replan.code, 0, "{}", replan.stderr);
    assert!(replan.stdout.contains("No changes."));

    // A second apply with new users must not overwrite the credentials file without --force.
    let more = format!("{BASE}  - email: new@example.at\n    name: New\n");
    std::fs::write(&file, more).expect("write");
    let refused = run(with(
        bin()
            .args(["apply", "--auto-approve", "-f"])
            .arg(&file)
            .arg("--credentials-out")
            .arg(&creds),
        &env,
    ));
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);

    for r in [&plan, &json, &apply, &replan, &refused] {
        for s in std::iter::once(secret.as_str()).chain(generated.iter().copied()) {
            assert!(!r.stdout.contains(s), "secret in stdout");
            assert!(!r.stderr.contains(s), "secret in stderr");
        }
    }
}

fn with<'a>(cmd: &'a mut Command, env: &Env) -> &'a mut Command {
    with_admin(cmd, env);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_before_planning_without_echoing_them() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, BASE).expect("write");
    let r = run(bin()
        .args(["plan", "-f"])
        .arg(&file)
        .env("TRACCAR_URL", &env.url)
        .env("TRACCAR_EMAIL", DEMO_ADMIN)
        .env("TRACCAR_PASSWORD", "Wr0ng-Secret-Value")
        .env_remove("TRACCAR_TOKEN"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);
    assert!(!r.stderr.contains("Wr0ng-Secret-Value"));
    assert!(!r.stdout.contains("Wr0ng-Secret-Value"));
}

#[test]
fn bad_files_give_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nfleet: acme\nusers:\n  - email: a@b.at\n    nmae: typo\n  - email: A@b.at\n",
    )
    .expect("write");
    let r = run(bin().args(["validate", "-f"]).arg(&file));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.yaml:5:"), "{}", r.stderr);
    assert!(r.stderr.contains("nmae"), "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.yaml:6:12") && r.stderr.contains("listed twice"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_1() {
    let r = run(bin().args(["plan", "--no-such-flag"]));
    assert_eq!(r.code, 1);
}

#[tokio::test]
async fn a_fleet_user_left_outside_the_billing_account_is_linked_to_it() {
    let env = env().await;
    env.apply(BASE).await;
    // As after a run killed between creating a user and linking it to the manager.
    let manager_id = env.user_id(DEMO_MANAGER).await;
    let max_id = env.user_id("max@mustermann.at").await;
    env.admin(
        reqwest::Method::DELETE,
        "/api/permissions",
        Some(json!({"userId": manager_id, "managedUserId": max_id})),
    )
    .await;
    let plan = env.plan(BASE).await;
    assert_eq!(
        plan.actions,
        vec![Action::Link {
            email: "max@mustermann.at".into(),
            kind: MANAGER,
            target: DEMO_MANAGER.into(),
        }]
    );
    env.apply(BASE).await;
    assert!(env.plan(BASE).await.actions.is_empty());
}

#[tokio::test]
async fn emails_that_differ_only_in_case_on_the_server_stop_the_plan_naming_both() {
    // Traccar's unique email index is case-sensitive on H2 (a real 6.9.1 accepted `BOB@x.test`
    // beside `bob@x.test`); fleetform keys emails case-insensitively, so it must not guess
    // which of the two the file means.
    let env = env().await;
    for email in ["max@mustermann.at", "MAX@Mustermann.at"] {
        env.admin(
            reqwest::Method::POST,
            "/api/users",
            Some(serde_json::json!({"name": "Max", "email": email, "password": "x-Secret-1"})),
        )
        .await;
    }
    let backend = env.backend(&env.admin).await;
    let err = fleetform::make_plan(&backend, &fleet(BASE).desired)
        .await
        .expect_err("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("differ only in letter case")
            && message.contains("max@mustermann.at (id ")
            && message.contains("MAX@Mustermann.at (id "),
        "{message}"
    );
    // A file that names neither is not concerned.
    let other = BASE
        .lines()
        .take_while(|l| !l.starts_with("users:"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\nusers: []\n";
    fleetform::make_plan(&backend, &fleet(&other).desired)
        .await
        .expect("a file without that user plans");
}
