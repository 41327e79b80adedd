//! Reliability under faults and crashes: with seeded faults of every kind injected into the
//! sandbox (5xx, 429 with Retry-After, connection resets, answers slower than the client's
//! timeout, and requests applied whose answer is lost), apply converges within a bounded number
//! of runs, creates no duplicate user, loses no link, changes nothing outside the fleet's scope,
//! and at no point gives a user more access than either the old or the new file grants. The same
//! holds when the real binary is killed (SIGKILL) at seeded points of an apply and run again, and
//! Ctrl-C stops an apply cleanly.
//!
//! The access invariant is checked inside the sandbox, before every request it receives: the
//! fault hook first reads the store, so every state the server passed through is checked, not
//! only the state between runs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use fleetform::apply;
use fleetform::backend::traccar::api::{Credentials, RetryPolicy};
use fleetform::backend::traccar::rules::{DEVICE, GROUP};
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::{self, DEMO_ADMIN, DEMO_MANAGER};
use fleetform::config::Loaded;
use fleetform::core::model::{UserKey, linked};
use traccar_sandbox::faults::{self, Kind};
use traccar_sandbox::{FaultHook, ObjectType, Sandbox, SandboxConfig, Store, TraccarVersion};

use crate::e2e::{fast_options, first, fleet, routes_after};

/// The most runs a faulted apply may need to converge.
const MAX_RUNS: usize = 5;

/// Ten users on the old file; the new one prunes two, adds four, and moves every user's links.
fn fleet_file(new: bool) -> String {
    let mut yaml = String::from(
        "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\nusers:\n",
    );
    let users: Vec<usize> = if new {
        (2..14).collect()
    } else {
        (0..10).collect()
    };
    for i in users {
        let shift = if new { 2 } else { 0 };
        let d1 = 101 + (i + shift) % 12;
        let d2 = 101 + (i + 1) % 12;
        let group = match (new, i % 3) {
            (false, 0) => "[Vienna]",
            (true, 0) => "[Graz]",
            (true, 1) => "[Vienna, Graz]",
            _ => "[]",
        };
        let readonly = new && i % 2 == 0;
        yaml.push_str(&format!(
            "  - email: user{i}@acme.example\n    name: User {i}\n    readonly: {readonly}\n    devices: [BT-000{d1}, BT-000{d2}]\n    groups: {group}\n"
        ));
    }
    yaml
}

/// Short timeouts and backoffs, so that slow answers and retries cost milliseconds.
/// A user's direct access, as tokens `D:<uniqueId>` and `G:<group name>`.
type Access = BTreeSet<String>;

fn access_of(store: &Store) -> BTreeMap<String, Access> {
    let mut out = BTreeMap::new();
    for user in store.users() {
        let email = user.email.clone().unwrap_or_default().to_lowercase();
        let mut tokens = Access::new();
        for d in store.linked(ObjectType::User, user.id, ObjectType::Device) {
            if let Some(device) = store.device(d) {
                tokens.insert(format!(
                    "D:{}",
                    device.unique_id.clone().unwrap_or_default()
                ));
            }
        }
        for g in store.linked(ObjectType::User, user.id, ObjectType::Group) {
            if let Some(group) = store.group(g) {
                tokens.insert(format!("G:{}", group.name.clone().unwrap_or_default()));
            }
        }
        out.insert(email, tokens);
    }
    out
}

fn desired_access(loaded: &Loaded) -> BTreeMap<String, Access> {
    loaded
        .desired
        .users
        .iter()
        .map(|(k, u)| {
            let tokens = linked(&u.links, DEVICE)
                .iter()
                .map(|d| format!("D:{d}"))
                .chain(linked(&u.links, GROUP).iter().map(|g| format!("G:{g}")))
                .collect();
            (k.as_str().to_string(), tokens)
        })
        .collect()
}

/// Everything about a user fleetform must not touch: its record and its links of every kind.
fn untouched_state(store: &Store, email: &str) -> String {
    let user = store.users().find(|u| {
        u.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
    });
    let Some(user) = user else {
        return "missing".into();
    };
    let links: Vec<BTreeSet<i64>> = [ObjectType::Device, ObjectType::Group]
        .into_iter()
        .map(|p| store.linked(ObjectType::User, user.id, p))
        .collect();
    // The manager gains and loses the fleet's users as they are created and deleted; any other
    // managed user must stay.
    let managed: BTreeSet<i64> = store
        .linked(ObjectType::User, user.id, ObjectType::ManagedUser)
        .into_iter()
        .filter(|id| {
            store
                .user(*id)
                .and_then(|u| u.email.as_deref())
                .is_none_or(|e| !e.starts_with("user"))
        })
        .collect();
    format!("{user:?} {links:?} {managed:?}")
}

/// What every state the server goes through must satisfy.
struct Invariant {
    /// Per fleet user: the access the old file grants, and the access the new file grants.
    old: BTreeMap<String, Access>,
    new: BTreeMap<String, Access>,
    /// Users outside the fleet's scope, with their state before the runs.
    untouched: BTreeMap<String, String>,
    violations: Mutex<Vec<String>>,
    checks: Mutex<u64>,
}

impl Invariant {
    fn new(store: &Store, new: &Loaded, outsiders: &[&str]) -> Invariant {
        let now = access_of(store);
        let new_access = desired_access(new);
        let old: BTreeMap<String, Access> = now
            .into_iter()
            .filter(|(email, _)| email.starts_with("user"))
            .collect();
        let untouched = outsiders
            .iter()
            .map(|e| (e.to_string(), untouched_state(store, e)))
            .collect();
        Invariant {
            old,
            new: new_access,
            untouched,
            violations: Mutex::new(Vec::new()),
            checks: Mutex::new(0),
        }
    }

    fn check(&self, store: &Store) {
        *self.checks.lock().unwrap() += 1;
        let mut problems = Vec::new();
        let mut emails: BTreeMap<String, usize> = BTreeMap::new();
        for user in store.users() {
            let key = UserKey::new(user.email.as_deref().unwrap_or_default());
            *emails.entry(key.as_str().to_string()).or_default() += 1;
        }
        for (email, n) in &emails {
            if *n > 1 {
                problems.push(format!("{n} users with the email {email}"));
            }
        }
        let empty = Access::new();
        for (email, access) in access_of(store) {
            if !email.starts_with("user") {
                continue;
            }
            let old = self.old.get(&email).unwrap_or(&empty);
            let new = self.new.get(&email).unwrap_or(&empty);
            if !access.is_subset(old) && !access.is_subset(new) {
                problems.push(format!(
                    "{email} has {access:?}: more than the old file ({old:?}) or the new one ({new:?}) grants"
                ));
            }
        }
        for (email, before) in &self.untouched {
            if &untouched_state(store, email) != before {
                problems.push(format!("{email}, outside the fleet's scope, was changed"));
            }
        }
        if !problems.is_empty() {
            self.violations.lock().unwrap().extend(problems);
        }
    }
}

struct World {
    sandbox: Arc<Sandbox>,
    url: String,
    admin: Credentials,
    manager: Credentials,
    options: Options,
}

async fn world(version: TraccarVersion, latency: Duration) -> World {
    let config = SandboxConfig {
        version,
        registration: version < TraccarVersion::V6_9,
        latency,
        ..SandboxConfig::default()
    };
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = Arc::new(Sandbox::start(config, listen).await.expect("sandbox"));
    let url = sandbox.url();
    let seeded = demo::seed(&url).await.expect("seed");
    World {
        sandbox,
        url,
        admin: seeded.admin,
        manager: seeded.manager,
        options: fast_options(),
    }
}

impl World {
    async fn backend(&self) -> anyhow::Result<TraccarBackend> {
        TraccarBackend::connect(&self.url, &self.admin, self.options.clone()).await
    }

    /// One apply run as the administrator; `Ok(true)` when the plan was already empty.
    async fn run(&self, loaded: &Loaded, figures: &mut Figures) -> anyhow::Result<bool> {
        let backend = self.backend().await?;
        let outcome = async {
            let plan = fleetform::make_plan(&backend, &loaded.desired).await?;
            if plan.actions.is_empty() {
                return anyhow::Ok(true);
            }
            let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
            figures.failed += report.failed.len();
            figures.skipped += report.skipped.len();
            anyhow::Ok(false)
        }
        .await;
        let stats = backend.client_stats();
        figures.requests += stats.requests;
        figures.retries += stats.retries;
        outcome
    }

    /// An unmanaged user with links of its own, made by hand (and so outside the fleet's scope).
    async fn add_outsider(&self) {
        let Credentials::Password { password, .. } = &self.admin else {
            panic!("admin has a password")
        };
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{}{path}", self.url))
                .basic_auth(DEMO_ADMIN, Some(password.expose()))
                .json(&body)
                .send()
        };
        let user: serde_json::Value = post(
            "/api/users",
            serde_json::json!({"name": "Outsider", "email": "outsider@example.at", "password": "x-long-password"}),
        )
        .await
        .expect("create outsider")
        .json()
        .await
        .expect("json");
        let uid = user["id"].as_i64().expect("id");
        let (device, group) = self.sandbox.seed(|s| {
            let d = s
                .devices()
                .find(|d| d.unique_id.as_deref() == Some("BT-000110"))
                .map(|d| d.id);
            let g = s
                .groups()
                .find(|g| g.name.as_deref() == Some("Graz"))
                .map(|g| g.id);
            (d.expect("device"), g.expect("group"))
        });
        for body in [
            serde_json::json!({"userId": uid, "deviceId": device}),
            serde_json::json!({"userId": uid, "groupId": group}),
        ] {
            let r = post("/api/permissions", body).await.expect("link");
            assert!(r.status().is_success());
        }
    }

    /// Installs a hook that checks the invariant before every request, then asks `faults`.
    fn watch(&self, invariant: &Arc<Invariant>, faults: Option<FaultHook>) {
        let weak: Weak<Sandbox> = Arc::downgrade(&self.sandbox);
        let invariant = invariant.clone();
        let hook: FaultHook = Arc::new(move |info| {
            if let Some(sandbox) = weak.upgrade() {
                sandbox.seed(|store| invariant.check(store));
            }
            faults.as_ref().and_then(|f| f(info))
        });
        self.sandbox.set_fault_hook(Some(hook));
    }

    /// The final state, checked with faults off: exactly the new file, nothing else changed,
    /// and every fleet user managed by the manager account (a process killed between creating
    /// a user and linking it to the manager leaves that link missing; the next plan adds it).
    async fn assert_converged(&self, new: &Loaded, invariant: &Invariant) {
        self.sandbox.set_fault_hook(None);
        let backend = self.backend().await.expect("connect");
        let plan = fleetform::make_plan(&backend, &new.desired)
            .await
            .expect("plan");
        assert!(plan.actions.is_empty(), "not converged: {:?}", plan.actions);
        self.sandbox.seed(|store| {
            invariant.check(store);
            let access = access_of(store);
            for (email, want) in desired_access(new) {
                assert_eq!(access.get(&email), Some(&want), "{email}: a link was lost");
            }
            for email in access.keys() {
                if email.starts_with("user") {
                    assert!(
                        new.desired.users.contains_key(&UserKey::new(email)),
                        "{email} was not pruned"
                    );
                }
            }
            let manager = store
                .users()
                .find(|u| u.email.as_deref() == Some(DEMO_MANAGER))
                .expect("manager")
                .id;
            let managed = store.linked(ObjectType::User, manager, ObjectType::ManagedUser);
            for u in store.users() {
                if u.email.as_deref().is_some_and(|e| e.starts_with("user")) {
                    assert!(
                        managed.contains(&u.id),
                        "{:?} is not managed by the manager",
                        u.email
                    );
                }
            }
        });
        let violations = invariant.violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "invariant violated:\n{}",
            violations.join("\n")
        );
    }

    fn duplicate_link_rows(&self) -> usize {
        self.sandbox.seed(|store| {
            [ObjectType::Device, ObjectType::Group]
                .into_iter()
                .filter_map(|p| store.links(ObjectType::User, p))
                .map(|t| {
                    let rows = t.rows();
                    let distinct: BTreeSet<_> = rows.iter().collect();
                    rows.len() - distinct.len()
                })
                .sum()
        })
    }
}

#[derive(Debug, Default)]
struct Figures {
    runs: usize,
    requests: u64,
    retries: u64,
    failed: usize,
    skipped: usize,
}

/// Applies the old file cleanly, then the new one under `plan`'s faults until a run finds
/// nothing to do, checking the invariant before every request.
async fn converges_under(version: TraccarVersion, plan: faults::Plan) {
    converges_with(version, plan, fast_options()).await;
}

async fn converges_with(version: TraccarVersion, plan: faults::Plan, options: Options) {
    let label = format!(
        "{:?} rate {} {:?}, {} attempts per request, concurrency {}",
        version,
        plan.rate,
        plan.kinds,
        options.retry.max_attempts,
        options.concurrency.unwrap_or_default()
    );
    let mut world = world(version, Duration::ZERO).await;
    world.options = options;
    let old = fleet(&fleet_file(false));
    let new = fleet(&fleet_file(true));
    let mut warmup = Figures::default();
    assert!(!world.run(&old, &mut warmup).await.expect("old apply"));
    assert!(world.run(&old, &mut warmup).await.expect("old re-plan"));
    world.add_outsider().await;
    let invariant = Arc::new(
        world
            .sandbox
            .seed(|s| Invariant::new(s, &new, &["outsider@example.at", DEMO_MANAGER, DEMO_ADMIN])),
    );
    let (hook, counts) = plan.hook();
    world.watch(&invariant, Some(hook));
    let mut figures = Figures::default();
    let mut converged = false;
    let mut outcomes = Vec::new();
    while figures.runs < MAX_RUNS {
        figures.runs += 1;
        let failed_before = figures.failed;
        match world.run(&new, &mut figures).await {
            Ok(true) => {
                outcomes.push("nothing to do".to_string());
                converged = true;
                break;
            }
            Ok(false) => outcomes.push(format!(
                "applied, {} failed",
                figures.failed - failed_before
            )),
            // Connecting or reading failed after its retries: nothing was written.
            Err(e) => outcomes.push(format!("stopped before writing: {e:#}")),
        }
    }
    eprintln!("[faults] {label}: runs: {outcomes:?}");
    let dupes = world.duplicate_link_rows();
    eprintln!(
        "[faults] {label}: {} run(s), {} requests, {} retries, {} faults injected, {} failed and {} skipped actions on the way, {} duplicate link rows, {} states checked",
        figures.runs,
        figures.requests,
        figures.retries,
        counts.total(),
        figures.failed,
        figures.skipped,
        dupes,
        invariant.checks.lock().unwrap()
    );
    assert!(converged, "{label}: not converged after {MAX_RUNS} runs");
    world.assert_converged(&new, &invariant).await;
}

fn only(kind: Kind, seed: u64) -> faults::Plan {
    faults::Plan {
        kinds: vec![kind],
        slow: Duration::from_millis(700),
        ..faults::Plan::new(seed, 0.10)
    }
}

#[tokio::test]
async fn faults_server_errors_converge() {
    converges_under(TraccarVersion::V6_14, only(Kind::ServerError, 1)).await;
}

#[tokio::test]
async fn faults_too_many_requests_converge() {
    converges_under(TraccarVersion::V6_14, only(Kind::TooManyRequests, 2)).await;
}

#[tokio::test]
async fn faults_connection_resets_converge() {
    converges_under(TraccarVersion::V6_14, only(Kind::Reset, 3)).await;
}

#[tokio::test]
async fn faults_slow_answers_converge() {
    converges_under(TraccarVersion::V6_14, only(Kind::Slow, 4)).await;
}

#[tokio::test]
async fn faults_lost_answers_converge() {
    converges_under(TraccarVersion::V6_14, only(Kind::AnswerLost, 5)).await;
}

#[tokio::test]
async fn faults_of_every_kind_converge_on_6_14() {
    for seed in [11, 12] {
        let plan = faults::Plan {
            slow: Duration::from_millis(700),
            ..faults::Plan::new(seed, 0.10)
        };
        converges_under(TraccarVersion::V6_14, plan).await;
    }
}

/// 6.9 has no permission listing: link batches are read back per user, group links by undoing.
#[tokio::test]
async fn faults_of_every_kind_converge_on_6_9() {
    let plan = faults::Plan {
        slow: Duration::from_millis(700),
        ..faults::Plan::new(21, 0.10)
    };
    converges_under(TraccarVersion::V6_9, plan).await;
}

/// Few retries and a high fault rate: actions fail, their users' later actions are skipped, and
/// re-runs finish the job, with the invariant holding at every request throughout. One request
/// at a time, so the faulted requests are the same on every test run.
#[tokio::test]
async fn failures_and_skips_are_finished_by_re_runs() {
    // Seeds whose runs include failed actions (and runs stopped while reading).
    for seed in [52, 53, 57] {
        let plan = faults::Plan {
            slow: Duration::from_millis(700),
            ..faults::Plan::new(seed, 0.12)
        };
        let mut options = fast_options();
        options.retry.max_attempts = 2;
        options.concurrency = Some(1);
        converges_with(TraccarVersion::V6_14, plan, options).await;
    }
}

/// A fifth of all requests lost after being applied: creates and link batches must be checked,
/// never sent twice.
#[tokio::test]
async fn heavy_lost_answers_never_duplicate_users() {
    let plan = faults::Plan {
        kinds: vec![Kind::AnswerLost],
        ..faults::Plan::new(31, 0.20)
    };
    converges_under(TraccarVersion::V6_14, plan).await;
}

// ---- the real binary: SIGKILL and Ctrl-C in the middle of an apply ----

fn binary_apply(world: &World, file: &std::path::Path) -> Command {
    let Credentials::Password { password, .. } = &world.admin else {
        panic!("admin has a password")
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetform"));
    cmd.args([
        "apply",
        "--auto-approve",
        "--allow-mass-removal",
        "--concurrency",
        "1",
        "-f",
    ])
    .arg(file)
    .env_remove("TRACCAR_TOKEN")
    .env_remove("TRACCAR_AUTH_TOKEN")
    .env("TRACCAR_URL", &world.url)
    .env("TRACCAR_EMAIL", DEMO_ADMIN)
    .env("TRACCAR_PASSWORD", password.expose())
    .env("NO_COLOR", "1")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// SplitMix64, for seeded choices in tests.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the sandbox received since `from` (the first request the apply sends after planning).
fn writes_since(sandbox: &Sandbox, from: usize) -> usize {
    sandbox
        .requests()
        .iter()
        .skip(from)
        .filter(|r| r.method != "GET" && r.path != "/api/session")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_apply_converges_when_run_again() {
    // Seeded kill points: after the k-th write request of the apply (a full apply of the new
    // file sends about 20 writes at concurrency 1).
    for seed in 1..=4u64 {
        let kill_after_writes = 1 + usize::try_from(splitmix64(seed * 7919) % 18).expect("small");
        let world = world(TraccarVersion::V6_14, Duration::from_millis(10)).await;
        let old = fleet(&fleet_file(false));
        let new_text = fleet_file(true);
        let new = fleet(&new_text);
        let mut figures = Figures::default();
        assert!(!world.run(&old, &mut figures).await.expect("old apply"));
        world.add_outsider().await;
        let invariant =
            Arc::new(world.sandbox.seed(|s| {
                Invariant::new(s, &new, &["outsider@example.at", DEMO_MANAGER, DEMO_ADMIN])
            }));
        world.watch(&invariant, None);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, &new_text).expect("write");
        let from = world.sandbox.requests().len();
        let mut child = binary_apply(&world, &file).spawn().expect("spawn");
        let mut killed = false;
        for _ in 0..3000 {
            if writes_since(&world.sandbox, from) >= kill_after_writes {
                child.kill().expect("SIGKILL");
                killed = true;
                break;
            }
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let status = child.wait().expect("wait");
        assert!(
            killed,
            "seed {seed}: the apply ended before its write {kill_after_writes} ({status})"
        );
        eprintln!("[faults] SIGKILL after write {kill_after_writes} (seed {seed})");
        // A re-run (the library pipeline) finishes the job.
        let mut converged = false;
        for _ in 0..2 {
            if world.run(&new, &mut figures).await.expect("re-run") {
                converged = true;
                break;
            }
        }
        assert!(converged, "seed {seed}: not converged after the kill");
        world.assert_converged(&new, &invariant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_finishes_in_flight_work_and_reports_the_rest() {
    let world = world(TraccarVersion::V6_14, Duration::from_millis(25)).await;
    let old = fleet(&fleet_file(false));
    let new_text = fleet_file(true);
    let mut figures = Figures::default();
    assert!(!world.run(&old, &mut figures).await.expect("old apply"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, &new_text).expect("write");
    let from = world.sandbox.requests().len();
    let child = binary_apply(&world, &file).spawn().expect("spawn");
    let pid = child.id().to_string();
    for _ in 0..3000 {
        if writes_since(&world.sandbox, from) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Apply interrupted:"), "{stdout}");
    assert!(
        stdout.contains("not started: the apply was interrupted"),
        "{stdout}"
    );
    assert!(stderr.contains("apply was interrupted"), "{stderr}");
    // The next run finishes the job.
    let new = fleet(&new_text);
    assert!(!world.run(&new, &mut figures).await.expect("re-run"));
    assert!(world.run(&new, &mut figures).await.expect("re-plan"));
}

/// Ctrl-C stops *starting* requests at once: the flag is set when the server sees the first
/// create of 60; only the creates already in flight then (at most `--concurrency` of them) reach
/// the server, every other one is reported as not started, and nothing is sent after. (Before,
/// the whole queued chunk ran: all 60 were created.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_starts_no_new_request_only_the_ones_in_flight_finish() {
    const CONCURRENCY: usize = 4;
    let world = world(TraccarVersion::V6_14, Duration::from_millis(20)).await;
    let mut yaml = String::from("version: 1\nfleet: acme-bikes\nusers:\n");
    for i in 0..60 {
        yaml.push_str(&format!("  - email: rider{i}@acme.example\n"));
    }
    let loaded = fleet(&yaml);
    let backend = TraccarBackend::connect(
        &world.url,
        &world.admin,
        Options {
            concurrency: Some(CONCURRENCY),
            ..world.options.clone()
        },
    )
    .await
    .expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    assert_eq!(plan.actions.len(), 60);

    // The "signal": the server sets the flag as the first create arrives, and counts the
    // creates that arrive after it.
    let (hook, cancel, after_signal) = cancel_at_first("POST /api/users");
    let from = world.sandbox.requests().len();
    world.sandbox.set_fault_hook(Some(hook));
    let mut progress = Vec::new();
    let report = apply::apply_with_cancel(&backend, &plan, &mut progress, &cancel).await;
    world.sandbox.set_fault_hook(None);

    let creates = world.sandbox.requests()[from..]
        .iter()
        .filter(|r| r.route == "POST /api/users")
        .count();
    let after = after_signal.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "[faults] Ctrl-C after the first of 60 creates: {creates} sent, {after} of them arrived after the signal"
    );
    // Those in flight when the flag was set, and no other: at most the concurrency in all.
    assert!(creates <= CONCURRENCY, "{creates} creates were sent");
    assert!(
        after < CONCURRENCY,
        "{after} creates started after the signal"
    );
    assert!(report.interrupted);
    assert_eq!(report.done.len(), creates);
    assert_eq!(report.not_started(), 60 - creates);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let mut out = Vec::new();
    report.write_to(&mut out).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains(&format!(
            "Apply interrupted: {creates} done, 0 failed, 0 skipped, {} not started.",
            60 - creates
        )),
        "{text}"
    );
    // The next run creates the rest.
    let rest = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    assert_eq!(rest.actions.len(), 60 - creates);
}

/// A hook that sets the returned flag (Ctrl-C) when the first request of `route` arrives, and
/// counts the requests of `route` that arrive after it.
fn cancel_at_first(
    route: &'static str,
) -> (
    FaultHook,
    Arc<std::sync::atomic::AtomicBool>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let after_signal = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hook: FaultHook = {
        let (cancel, after_signal) = (cancel.clone(), after_signal.clone());
        Arc::new(move |info| {
            if info.route == route && cancel.swap(true, SeqCst) {
                after_signal.fetch_add(1, SeqCst);
            }
            None
        })
    };
    (hook, cancel, after_signal)
}

/// The same for link batches: of 120 links in batches of 4 at concurrency 3, only the batches
/// in flight when the flag is set reach the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_starts_no_new_link_batch() {
    const CONCURRENCY: usize = 3;
    let world = world(TraccarVersion::V6_14, Duration::from_millis(20)).await;
    let users = |links: bool| {
        let mut yaml = String::from("version: 1\nfleet: acme-bikes\nusers:\n");
        for i in 0..10 {
            yaml.push_str(&format!("  - email: rider{i}@acme.example\n"));
            if links {
                yaml.push_str("    devices: [");
                let devices: Vec<String> = (101..=112).map(|d| format!("BT-000{d}")).collect();
                yaml.push_str(&devices.join(", "));
                yaml.push_str("]\n");
            }
        }
        fleet(&yaml)
    };
    let backend = TraccarBackend::connect(
        &world.url,
        &world.admin,
        Options {
            concurrency: Some(CONCURRENCY),
            batch_size: 4,
            ..world.options.clone()
        },
    )
    .await
    .expect("connect");
    let plan = fleetform::make_plan(&backend, &users(false).desired)
        .await
        .expect("plan");
    assert!(
        apply::apply(&backend, &plan, &mut Vec::new())
            .await
            .is_success()
    );
    let loaded = users(true);
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    // 120 links, after an update of each user's applied record (which runs before them).
    let links = plan
        .actions
        .iter()
        .filter(|a| matches!(a, fleetform::core::model::Action::Link { .. }))
        .count();
    assert_eq!((links, plan.actions.len()), (120, 130));

    let (hook, cancel, after_signal) = cancel_at_first("POST /api/permissions/bulk");
    let from = world.sandbox.requests().len();
    world.sandbox.set_fault_hook(Some(hook));
    let report = apply::apply_with_cancel(&backend, &plan, &mut Vec::new(), &cancel).await;
    world.sandbox.set_fault_hook(None);
    let batches = world.sandbox.requests()[from..]
        .iter()
        .filter(|r| r.route == "POST /api/permissions/bulk")
        .count();
    let after = after_signal.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "[faults] Ctrl-C at the first of 30 link batches: {batches} sent, {after} after the signal"
    );
    assert!(batches <= CONCURRENCY, "{batches} batches were sent");
    assert!(
        after < CONCURRENCY,
        "{after} batches started after the signal"
    );
    assert!(report.interrupted);
    assert_eq!(report.done.len(), 10 + 4 * batches);
    assert_eq!(report.not_started(), 120 - 4 * batches);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

// ---- what the client sends after one precise fault ----

const ONE_USER: &str = "version: 1\nfleet: acme-bikes\nusers:\n  - email: new@acme.example\n    devices: [BT-000101, BT-000102]\n";

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_not_sent_twice() {
    use traccar_sandbox::Fault;
    let cases = [
        (Fault::AnswerLost, 1, false),
        (Fault::Drop, 2, false),
        // A manager sees only the users it manages, the new one included.
        (Fault::AnswerLost, 1, true),
    ];
    for (fault, posts, as_manager) in cases {
        let world = world(TraccarVersion::V6_14, Duration::ZERO).await;
        let loaded = fleet(ONE_USER);
        let credentials = if as_manager {
            &world.manager
        } else {
            &world.admin
        };
        let backend = TraccarBackend::connect(&world.url, credentials, fast_options())
            .await
            .expect("connect");
        let plan = fleetform::make_plan(&backend, &loaded.desired)
            .await
            .expect("plan");
        world
            .sandbox
            .set_fault_hook(Some(first("POST /api/users", fault.clone())));
        let from = world.sandbox.requests().len();
        let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
        assert!(report.is_success(), "{fault:?}: {:?}", report.failed);
        let routes = routes_after(&world.sandbox, from);
        let post_count = routes.iter().filter(|r| *r == "POST /api/users").count();
        assert_eq!(post_count, posts, "{fault:?}: {routes:?}");
        let first_post = routes.iter().position(|r| r == "POST /api/users");
        let check = routes.iter().position(|r| r == "GET /api/users");
        assert!(
            check > first_post,
            "{fault:?}: the create is checked: {routes:?}"
        );
        let users = world.sandbox.seed(|s| {
            s.users()
                .filter(|u| u.email.as_deref() == Some("new@acme.example"))
                .count()
        });
        assert_eq!(users, 1, "{fault:?}");
        // The reported password is the one the server has.
        let (email, password) = &report.credentials[0];
        let ok = reqwest::Client::new()
            .get(format!("{}/api/devices", world.url))
            .basic_auth(email, Some(password.expose()))
            .send()
            .await
            .expect("login");
        assert_eq!(ok.status(), 200, "{fault:?}");
    }
}

#[tokio::test]
async fn a_link_batch_whose_answer_was_lost_is_read_back_not_sent_twice() {
    use traccar_sandbox::Fault;
    let world = world(TraccarVersion::V6_14, Duration::ZERO).await;
    let loaded = fleet(ONE_USER);
    let backend = world.backend().await.expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    world
        .sandbox
        .set_fault_hook(Some(first("POST /api/permissions/bulk", Fault::AnswerLost)));
    let from = world.sandbox.requests().len();
    let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let routes = routes_after(&world.sandbox, from);
    let bulk: Vec<usize> = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| *r == "POST /api/permissions/bulk")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        bulk.len(),
        1,
        "read back, nothing missing, nothing resent: {routes:?}"
    );
    assert!(
        routes[bulk[0]..]
            .iter()
            .any(|r| r == "GET /api/permissions"),
        "{routes:?}"
    );
    let rows = world.sandbox.seed(|s| {
        s.links(ObjectType::User, ObjectType::Device)
            .map(|t| t.rows().len())
            .unwrap_or(0)
    });
    // The manager's 12 devices, and the new user's 2: no duplicate row.
    assert_eq!(rows, 14);
}

/// Traccar applies a bulk in order and stops at the first refusal. The items before it are
/// found by reading back, the refused one fails with the server's message, the rest are sent
/// again and succeed.
#[tokio::test]
async fn a_refused_item_fails_alone_and_the_rest_of_its_batch_is_applied() {
    let world = world(TraccarVersion::V6_14, Duration::ZERO).await;
    let yaml = "version: 1\nfleet: acme-bikes\nusers:\n  - email: rider1@acme.example\n    devices: [BT-000101, BT-000102, BT-000103]\n  - email: rider2@acme.example\n    devices: [BT-000104]\n";
    let loaded = fleet(yaml);
    let backend = TraccarBackend::connect(&world.url, &world.manager, fast_options())
        .await
        .expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    // After planning, the manager loses BT-000102 (its link, and the group that showed it).
    world.sandbox.seed(|s| {
        let manager = s
            .users()
            .find(|u| u.email.as_deref() == Some(DEMO_MANAGER))
            .expect("manager")
            .id;
        let device = s
            .devices()
            .find(|d| d.unique_id.as_deref() == Some("BT-000102"))
            .expect("device")
            .id;
        assert!(s.modify_device(device, |d| d.group_id = 0));
        s.delete_link(ObjectType::User, manager, ObjectType::Device, device);
    });
    let from = world.sandbox.requests().len();
    let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
    let failed: Vec<String> = report
        .failed
        .iter()
        .map(|(a, m)| format!("{}: {m}", apply::describe(a)))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("link device BT-000102 to rider1@acme.example: POST /api/permissions/bulk -> 400: Device access denied"),
        "{failed:?}"
    );
    let access = world.sandbox.seed(|s| access_of(s));
    assert_eq!(
        access["rider1@acme.example"],
        ["D:BT-000101", "D:BT-000103"].map(String::from).into()
    );
    assert_eq!(
        access["rider2@acme.example"],
        ["D:BT-000104"].map(String::from).into()
    );
    let bulk = routes_after(&world.sandbox, from)
        .iter()
        .filter(|r| *r == "POST /api/permissions/bulk")
        .count();
    assert_eq!(bulk, 2, "the batch, then what was after the refused item");
}

/// `POST /api/session` is the one POST sent again after an unclear failure (a login creates
/// nothing); a login the server refused is sent once.
#[tokio::test]
async fn a_login_is_retried_after_unclear_failures_and_never_after_a_refusal() {
    let env = crate::e2e::env().await;
    let options = || Options {
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        },
        ..Options::default()
    };
    let logins = |from: usize| {
        routes_after(&env.sandbox, from)
            .iter()
            .filter(|r| *r == "POST /api/session")
            .count()
    };

    // A 503 and a 500, then the real answer: three logins, connected.
    let from = env.sandbox.requests().len();
    let unclear = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let hook: FaultHook = {
        let unclear = Arc::clone(&unclear);
        Arc::new(move |info| {
            if info.route != "POST /api/session" {
                return None;
            }
            match unclear.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Some(traccar_sandbox::Fault::Respond {
                    status: 503,
                    body: "Service Unavailable".into(),
                }),
                1 => Some(traccar_sandbox::Fault::Respond {
                    status: 500,
                    body: "java.lang.RuntimeException: injected".into(),
                }),
                _ => None,
            }
        })
    };
    env.sandbox.set_fault_hook(Some(hook));
    TraccarBackend::connect(&env.url, &env.admin, options())
        .await
        .expect("connects after two unclear failures");
    env.sandbox.set_fault_hook(None);
    assert_eq!(logins(from), 3);

    // Refusals: a wrong password (401) and a disabled account (400).
    env.admin(
        reqwest::Method::POST,
        "/api/users",
        Some(serde_json::json!({
            "name": "Gone", "email": "gone@acme.example", "password": "Gone-Passw0rd", "disabled": true
        })),
    )
    .await;
    let wrong = Credentials::Password {
        email: DEMO_ADMIN.into(),
        password: fleetform::core::secret::Secret::new("Wr0ng-Passw0rd"),
    };
    let disabled = Credentials::Password {
        email: "gone@acme.example".into(),
        password: fleetform::core::secret::Secret::new("Gone-Passw0rd"),
    };
    for (credentials, expect) in [
        (wrong, "authentication failed"),
        (disabled, "User is disabled"),
    ] {
        let from = env.sandbox.requests().len();
        let Err(err) = TraccarBackend::connect(&env.url, &credentials, options()).await else {
            panic!("the login must be refused");
        };
        assert!(format!("{err:#}").contains(expect), "{err:#}");
        assert_eq!(
            logins(from),
            1,
            "a refused login is not sent again: {err:#}"
        );
    }
}
