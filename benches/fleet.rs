//! `cargo bench --bench fleet`: plan and apply of generated fleets against the in-process
//! sandbox, with per-route request counts, wall time against its lower bound, and peak memory;
//! plus the pure core (diff, plan, render) on 100,000 users. Prints Markdown tables for
//! BENCHMARKS.md. A benchmark, not a test: nothing here asserts on time.
//!
//! The fleet of size N: 2N devices `BK-0000000..` (every fourth in one of max(10, N/100)
//! groups), N riders with two devices each, every tenth also linked to a group. Scenarios per
//! size, in order, each on a fresh connection (so each pays its own `POST /api/session`):
//! first apply of the whole fleet, plan with no changes, plan with 10% drift (made directly in
//! the sandbox's store: a third of the drifted users lost a link, a third gained one, a third
//! were renamed), re-apply of that drift.
//!
//! Knobs (environment, defaults in brackets):
//! - `FLEET_SIZES` [1000,10000,50000], `FLEET_LATENCY_MS` [20], `FLEET_CONCURRENCY`
//!   [Options::default()], `FLEET_BATCH_SIZE` [Options::default()]
//! - `FLEET_THROTTLE_SIZES` [6.14=10000,6.9=10000,5.12=10000]: the no-change plan at 25 req/s
//! - `FLEET_BASELINE_SIZE` [1000]: the same four scenarios with `--concurrency 1 --no-bulk`
//! - `FLEET_SWEEP_SIZE` [1000], `FLEET_SWEEP` [4,8,16,32,64]: no-change plan on 6.9 per concurrency
//! - `FLEET_CORE_USERS` [100000]; `FLEET_PARTS` [core,sizes,sweep,baseline,throttle]

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::expect_used,
    reason = "a benchmark: it prints its tables and progress, and a failed setup may panic"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use fleetform::apply;
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::rules::{
    DESCRIPTION as TRACCAR, DEVICE, GROUP, field_named as tf,
};
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::config::{self, Loaded};
use fleetform::core::model::{
    Account, Desired, DesiredUser, Field, Links, Live, LiveUser, Prune, Safety, UserKey, Value,
};
use fleetform::core::plan;
use fleetform::core::secret::Secret;
use fleetform::views::render;
use serde_json::{Map, json};
use traccar_sandbox::{ObjectType, Sandbox, SandboxConfig, Store, TraccarVersion, User};

const ADMIN: &str = "admin@bench.example";
const PASSWORD: &str = "bench-admin-password";
const FLEET: &str = "bench";

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- measuring ----

// fleetform's own memory, apart from the in-process sandbox's: the sandbox runs on its own
// runtime, whose threads are marked; heap bytes allocated on every other thread are counted.
// (Process RSS is printed too, but it holds the sandbox's store and its response buffers.)

thread_local! {
    static SANDBOX_THREAD: Cell<bool> = const { Cell::new(false) };
}
static CLIENT_HEAP: AtomicIsize = AtomicIsize::new(0);
static CLIENT_PEAK: AtomicIsize = AtomicIsize::new(0);

fn track(delta: isize) {
    if !SANDBOX_THREAD.try_with(Cell::get).unwrap_or(false) {
        let now = CLIENT_HEAP.fetch_add(delta, Ordering::Relaxed) + delta;
        CLIENT_PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a client-heap measurement; returns the heap in use now.
fn heap_start() -> isize {
    let now = CLIENT_HEAP.load(Ordering::Relaxed);
    CLIENT_PEAK.store(now, Ordering::Relaxed);
    now
}

/// The client heap's peak since `heap_start`, above what was in use then, in KiB.
fn heap_peak_above(start: isize) -> u64 {
    ((CLIENT_PEAK.load(Ordering::Relaxed) - start).max(0) / 1024) as u64
}

/// The runtime the sandboxes run on, apart from fleetform's.
fn sandbox_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(|| SANDBOX_THREAD.with(|c| c.set(true)))
            .build()
            .expect("sandbox runtime")
    })
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Resets the process's peak RSS (VmHWM) to its current RSS (Linux 4.0+).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        s.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

fn mb(kb: u64) -> String {
    format!("{:.0}", kb as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

struct Run {
    wall: Duration,
    requests: u64,
    throttled: u64,
    by_route: BTreeMap<String, u64>,
    start_kb: u64,
    peak_kb: u64,
    /// fleetform's heap peak during the run, above its heap at the start (KiB).
    heap_kb: u64,
    actions: usize,
}

impl Run {
    /// ceil(requests / concurrency) x latency.
    fn lower_bound(&self, concurrency: usize, latency: Duration) -> Duration {
        let rounds = self.requests.div_ceil(concurrency.max(1) as u64);
        latency * u32::try_from(rounds).unwrap_or(u32::MAX)
    }

    fn routes(&self) -> String {
        self.by_route
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

async fn measure(sandbox: &Sandbox, work: impl Future<Output = usize>) -> Run {
    sandbox.reset_stats();
    let start_kb = status_kb("VmRSS:");
    reset_peak();
    let heap = heap_start();
    let t = Instant::now();
    let actions = work.await;
    let wall = t.elapsed();
    let heap_kb = heap_peak_above(heap);
    let stats = sandbox.stats();
    Run {
        wall,
        requests: stats.total,
        throttled: stats.throttled,
        by_route: stats.by_route,
        start_kb,
        peak_kb: status_kb("VmHWM:"),
        heap_kb,
        actions,
    }
}

// ---- the fleet ----

fn group_count(n: usize) -> usize {
    (n / 100).max(10)
}
/// A user's links: these devices and groups (a kind without targets is absent, as read).
fn links(devices: BTreeSet<String>, groups: BTreeSet<String>) -> Links {
    [(DEVICE, devices), (GROUP, groups)]
        .into_iter()
        .filter(|(_, targets)| !targets.is_empty())
        .collect()
}

fn group_name(g: usize) -> String {
    format!("Depot {g:04}")
}
fn unique_id(d: usize) -> String {
    format!("BK-{d:07}")
}
fn email(u: usize) -> String {
    format!("rider{u:06}@{FLEET}.example")
}
fn rider_name(u: usize) -> String {
    format!("Rider {u}")
}
fn rider_group(u: usize, n: usize) -> Option<usize> {
    u.is_multiple_of(10).then(|| (u / 10) % group_count(n))
}

fn fleet_yaml(n: usize) -> String {
    let mut y = String::with_capacity(n * 160);
    y.push_str(&format!(
        "version: 1\nfleet: {FLEET}\nprune: delete\nroles:\n  rider: {{ deviceReadonly: true, limitCommands: true }}\nusers:\n"
    ));
    for u in 0..n {
        y.push_str(&format!(
            "  - email: {}\n    name: {}\n    role: rider\n    devices: [{}, {}]\n",
            email(u),
            rider_name(u),
            unique_id(2 * u),
            unique_id(2 * u + 1)
        ));
        if let Some(g) = rider_group(u, n) {
            y.push_str(&format!("    groups: [{}]\n", group_name(g)));
        }
    }
    y
}

/// The admin, the groups and the devices of a fleet of `n`; no riders.
fn seed_base(store: &mut Store, n: usize) {
    store
        .add_admin("Bench Admin", ADMIN, PASSWORD)
        .expect("admin");
    let groups: Vec<i64> = (0..group_count(n))
        .map(|g| store.add_group(&group_name(g), 0).expect("group"))
        .collect();
    for d in 0..2 * n {
        let group = if d.is_multiple_of(4) {
            groups[(d / 4) % groups.len()]
        } else {
            0
        };
        store
            .add_device(&format!("Bike {d}"), &unique_id(d), group)
            .expect("device");
    }
}

/// `seed_base` plus the riders as a first apply leaves them.
fn seed_applied(store: &mut Store, n: usize) {
    seed_base(store, n);
    let devices: HashMap<String, i64> = store
        .devices()
        .filter_map(|d| Some((d.unique_id.clone()?, d.id)))
        .collect();
    let groups: HashMap<String, i64> = store
        .groups()
        .filter_map(|g| Some((g.name.clone()?, g.id)))
        .collect();
    for u in 0..n {
        let mut attributes = Map::new();
        attributes.insert("fleetform".into(), json!(FLEET));
        let id = store
            .insert_user(User {
                name: Some(rider_name(u)),
                email: Some(email(u)),
                device_readonly: true,
                limit_commands: true,
                attributes,
                ..User::default()
            })
            .expect("user");
        for d in [2 * u, 2 * u + 1] {
            store
                .link_user_device(id, devices[&unique_id(d)])
                .expect("link");
        }
        if let Some(g) = rider_group(u, n) {
            store
                .link_user_group(id, groups[&group_name(g)])
                .expect("group link");
        }
    }
}

/// Changes 10% of the riders by hand; returns how many actions the plan should show.
fn drift(store: &mut Store, n: usize) -> usize {
    let users: HashMap<String, i64> = store
        .users()
        .filter_map(|u| Some((u.email.clone()?, u.id)))
        .collect();
    let devices: HashMap<String, i64> = store
        .devices()
        .filter_map(|d| Some((d.unique_id.clone()?, d.id)))
        .collect();
    let mut changed = 0;
    for u in (0..n).step_by(10) {
        let id = users[&email(u)];
        match (u / 10) % 3 {
            0 => store.delete_link(
                ObjectType::User,
                id,
                ObjectType::Device,
                devices[&unique_id(2 * u)],
            ),
            1 => store
                .link_user_device(id, devices[&unique_id((2 * u + 2) % (2 * n))])
                .expect("link"),
            _ => {
                let mut user = store.user(id).cloned().expect("user");
                user.name = Some(format!("Renamed {u}"));
                store.update_user(user, None).expect("rename");
            }
        }
        changed += 1;
    }
    changed
}

fn admin() -> Credentials {
    Credentials::Password {
        email: ADMIN.into(),
        password: Secret::new(PASSWORD),
    }
}

async fn start(version: TraccarVersion, latency: Duration, throttle: Option<u32>) -> Sandbox {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = SandboxConfig {
        version,
        latency,
        max_requests_per_sec: throttle,
        registration: false,
    };
    // Started on the sandbox runtime, so its connections are served there.
    sandbox_runtime()
        .spawn(Sandbox::start(config, listen))
        .await
        .expect("sandbox task")
        .expect("sandbox starts")
}

/// Connects, plans, and applies when asked; returns the number of planned actions.
async fn run(url: &str, loaded: &Loaded, options: &Options, write: bool) -> usize {
    let backend = TraccarBackend::connect(url, &admin(), options.clone())
        .await
        .expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    if write {
        let report = apply::apply(&backend, &plan, &mut std::io::sink()).await;
        assert!(
            report.is_success(),
            "apply failed: {:?}",
            report.failed.first()
        );
    }
    plan.actions.len()
}

struct Scenario {
    name: &'static str,
    run: Run,
}

/// The four scenarios on a fresh 6.14 sandbox.
async fn suite(n: usize, latency: Duration, options: &Options) -> Vec<Scenario> {
    let sandbox = start(TraccarVersion::V6_14, latency, None).await;
    let url = sandbox.url();
    let t = Instant::now();
    sandbox.seed(|s| seed_base(s, n));
    let seeded = t.elapsed();
    let t = Instant::now();
    let loaded = config::parse(&fleet_yaml(n), "fleet.yaml").expect("valid fleet");
    eprintln!(
        "  n={n}: seeded in {}s, fleet file loaded in {}s",
        secs(seeded),
        secs(t.elapsed())
    );
    let mut out = Vec::new();
    let first = measure(&sandbox, run(&url, &loaded, options, true)).await;
    eprintln!("  first apply: {}s", secs(first.wall));
    out.push(Scenario {
        name: "first apply",
        run: first,
    });
    let none = measure(&sandbox, run(&url, &loaded, options, false)).await;
    assert_eq!(
        none.actions, 0,
        "the re-plan after the first apply is empty"
    );
    out.push(Scenario {
        name: "plan, no changes",
        run: none,
    });
    let expected = sandbox.seed(|s| drift(s, n));
    let drifted = measure(&sandbox, run(&url, &loaded, options, false)).await;
    assert_eq!(drifted.actions, expected, "one action per drifted user");
    out.push(Scenario {
        name: "plan, 10% drift",
        run: drifted,
    });
    let reapply = measure(&sandbox, run(&url, &loaded, options, true)).await;
    out.push(Scenario {
        name: "re-apply, 10% drift",
        run: reapply,
    });
    assert_eq!(run(&url, &loaded, options, false).await, 0, "converged");
    sandbox.shutdown().await;
    out
}

fn print_suite_header() {
    println!(
        "| users | scenario | actions | requests | wall (s) | lower bound (s) | wall / bound | fleetform heap peak (MB) | process peak RSS (MB) | RSS before (MB) | requests by route |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
}

fn print_suite(n: usize, results: &[Scenario], concurrency: usize, latency: Duration) {
    for s in results {
        let bound = s.run.lower_bound(concurrency, latency);
        println!(
            "| {n} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
            s.name,
            s.run.actions,
            s.run.requests,
            secs(s.run.wall),
            secs(bound),
            s.run.wall.as_secs_f64() / bound.as_secs_f64().max(1e-9),
            mb(s.run.heap_kb),
            mb(s.run.peak_kb),
            mb(s.run.start_kb),
            s.run.routes()
        );
    }
}

// ---- the pure core ----

fn core(n: usize) {
    println!(
        "\n### Pure core: diff + plan + render (text and JSON), {n} users, {} links\n",
        2 * n
    );
    println!(
        "| live state | actions | CPU (s) | heap before: inputs (MB) | heap peak (MB) | peak RSS (MB) | JSON plan (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let desired_fields: BTreeMap<Field, Value> = [
        (tf("deviceReadonly"), Value::Bool(true)),
        (tf("limitCommands"), Value::Bool(true)),
    ]
    .into_iter()
    .collect();
    let desired = Desired {
        backend: &TRACCAR,
        fleet: FLEET.into(),
        manager: None,
        prune: Prune::Delete,
        prune_after: None,
        safety: Safety::default(),
        unmanaged: Default::default(),
        objects: Default::default(),
        field_origins: Default::default(),
        users: (0..n)
            .map(|u| {
                let mut fields = desired_fields.clone();
                fields.insert(tf("name"), Value::Text(rider_name(u)));
                (
                    UserKey::new(&email(u)),
                    DesiredUser {
                        email: email(u),
                        fields,
                        links: links(
                            [unique_id(2 * u), unique_id(2 * u + 1)].into(),
                            rider_group(u, n).map(group_name).into_iter().collect(),
                        ),
                        origin: None,
                    },
                )
            })
            .collect(),
    };
    for (label, with_users) in [("10% drift", true), ("empty (all new)", false)] {
        let users: BTreeMap<UserKey, LiveUser> = if with_users {
            (0..n)
                .map(|u| {
                    let mut fields: BTreeMap<Field, Value> =
                        TRACCAR.scalars().map(|f| (f, Value::Null)).collect();
                    for f in [tf("readonly"), tf("disableReports"), tf("disabled")] {
                        fields.insert(f, Value::Bool(false));
                    }
                    fields.insert(tf("deviceLimit"), Value::Int(0));
                    fields.insert(tf("userLimit"), Value::Int(0));
                    fields.extend(desired_fields.clone());
                    let mut devices: BTreeSet<String> =
                        [unique_id(2 * u), unique_id(2 * u + 1)].into();
                    let name = if u.is_multiple_of(10) {
                        match (u / 10) % 3 {
                            0 => {
                                devices.remove(&unique_id(2 * u));
                                rider_name(u)
                            }
                            1 => {
                                devices.insert(unique_id((2 * u + 2) % (2 * n)));
                                rider_name(u)
                            }
                            _ => format!("Renamed {u}"),
                        }
                    } else {
                        rider_name(u)
                    };
                    fields.insert(tf("name"), Value::Text(name));
                    (
                        UserKey::new(&email(u)),
                        LiveUser {
                            email: email(u),
                            untouchable: None,
                            marker: Some(FLEET.into()),
                            fields,
                            links: links(
                                devices,
                                rider_group(u, n).map(group_name).into_iter().collect(),
                            ),
                            managed_by: BTreeSet::new(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let live = Live {
            account: Account {
                backend: "traccar".into(),
                url: "http://127.0.0.1:8082".into(),
                server_version: "6.14.5".into(),
                email: ADMIN.into(),
                role: "admin".into(),
            },
            users,
            targets: Links::from([
                (DEVICE, (0..2 * n).map(unique_id).collect()),
                (GROUP, (0..group_count(n)).map(group_name).collect()),
            ]),
            ambiguous: Links::new(),
            owner_targets: Links::new(),
            now: chrono::Utc::now(),
            objects: Default::default(),
            unnamed: Default::default(),
            choices: Default::default(),
        };
        reset_peak();
        let heap = heap_start();
        let cpu = thread_cpu();
        let plan = plan::plan(&desired, &live).expect("plan");
        render::text(&plan, &mut std::io::sink(), false).expect("text");
        let json = render::json_string(&plan);
        let cpu = thread_cpu().saturating_sub(cpu);
        let peak_kb = heap_peak_above(0);
        println!(
            "| {label} | {} | {:.3} | {} | {} | {} | {:.1} |",
            plan.actions.len(),
            cpu.as_secs_f64(),
            mb((heap / 1024) as u64),
            mb(peak_kb),
            mb(status_kb("VmHWM:")),
            json.len() as f64 / 1e6
        );
    }
}

// ---- main ----

fn main() {
    let parts = env_list("FLEET_PARTS", "core,sizes,sweep,baseline,throttle");
    let has = |p: &str| parts.iter().any(|x| x == p);
    let defaults = Options::default();
    let latency = Duration::from_millis(env_num("FLEET_LATENCY_MS", 20) as u64);
    // The sandbox serves 6.14 here, where the version's default is 32.
    let concurrency = env_num("FLEET_CONCURRENCY", 32);
    let options = Options {
        concurrency: Some(concurrency),
        batch_size: env_num("FLEET_BATCH_SIZE", defaults.batch_size),
        ..defaults
    };
    let baseline = Options {
        concurrency: Some(1),
        bulk: false,
        ..options.clone()
    };
    println!(
        "fleet benchmark: latency {} ms, default concurrency {}, batch size {}\n",
        latency.as_millis(),
        concurrency,
        options.batch_size
    );
    if has("core") {
        core(env_num("FLEET_CORE_USERS", 100_000));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sizes: Vec<usize> = env_list("FLEET_SIZES", "1000,10000,50000")
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let mut by_size: BTreeMap<usize, Vec<Scenario>> = BTreeMap::new();
        if has("sizes") {
            println!(
                "\n### Traccar 6.14 sandbox, administrator, {} ms latency, concurrency {}\n",
                latency.as_millis(),
                concurrency
            );
            print_suite_header();
            for &n in &sizes {
                eprintln!("sizes: {n}");
                let results = suite(n, latency, &options).await;
                print_suite(n, &results, concurrency, latency);
                by_size.insert(n, results);
            }
        }
        if has("sweep") {
            let n = env_num("FLEET_SWEEP_SIZE", 1000);
            println!(
                "\n### Concurrency sweep: no-change plan, {n} users, Traccar 6.9 (per-user reads), {} ms latency\n",
                latency.as_millis()
            );
            println!("| concurrency | requests | wall (s) | lower bound (s) | wall / bound |");
            println!("|---:|---:|---:|---:|---:|");
            let sandbox = start(TraccarVersion::V6_9, latency, None).await;
            sandbox.seed(|s| seed_applied(s, n));
            let loaded = config::parse(&fleet_yaml(n), "fleet.yaml").expect("valid fleet");
            for c in env_list("FLEET_SWEEP", "4,8,16,32,64") {
                let Ok(c) = c.parse::<usize>() else { continue };
                let o = Options {
                    concurrency: Some(c),
                    ..options.clone()
                };
                let r = measure(&sandbox, run(&sandbox.url(), &loaded, &o, false)).await;
                let bound = r.lower_bound(c, latency);
                println!(
                    "| {c} | {} | {} | {} | {:.2} |",
                    r.requests,
                    secs(r.wall),
                    secs(bound),
                    r.wall.as_secs_f64() / bound.as_secs_f64().max(1e-9)
                );
            }
            sandbox.shutdown().await;
        }
        if has("baseline") {
            let n = env_num("FLEET_BASELINE_SIZE", 1000);
            eprintln!("baseline: {n}");
            println!(
                "\n### One request at a time (`--concurrency 1 --no-bulk`) against the defaults, {n} users\n"
            );
            let base = suite(n, latency, &baseline).await;
            let fast = match by_size.remove(&n) {
                Some(r) => r,
                None => suite(n, latency, &options).await,
            };
            println!(
                "| scenario | requests (baseline) | wall (s, baseline) | requests (default) | wall (s, default) | speed-up |"
            );
            println!("|---|---:|---:|---:|---:|---:|");
            for (b, f) in base.iter().zip(&fast) {
                println!(
                    "| {} | {} | {} | {} | {} | {:.1}x |",
                    b.name,
                    b.run.requests,
                    secs(b.run.wall),
                    f.run.requests,
                    secs(f.run.wall),
                    b.run.wall.as_secs_f64() / f.run.wall.as_secs_f64().max(1e-9)
                );
            }
        }
        if has("throttle") {
            println!(
                "\n### No-change plan with the 25 requests/s throttle, {} ms latency, concurrency {}\n",
                latency.as_millis(),
                concurrency
            );
            println!(
                "| version | users | requests | throttled | wall (s) | requests / 25 per s (s) | requests by route |"
            );
            println!("|---|---:|---:|---:|---:|---:|---|");
            for spec in env_list("FLEET_THROTTLE_SIZES", "6.14=10000,6.9=10000,5.12=10000") {
                let Some((v, n)) = spec.split_once('=') else {
                    continue;
                };
                let (Ok(version), Ok(n)) = (v.parse::<TraccarVersion>(), n.parse::<usize>())
                else {
                    continue;
                };
                eprintln!("throttle: {version} {n}");
                let sandbox = start(version, latency, Some(25)).await;
                sandbox.seed(|s| seed_applied(s, n));
                let loaded = config::parse(&fleet_yaml(n), "fleet.yaml").expect("valid fleet");
                let r = measure(&sandbox, run(&sandbox.url(), &loaded, &options, false)).await;
                assert_eq!(r.actions, 0, "{version}: the seeded fleet plans empty");
                println!(
                    "| {version} | {n} | {} | {} | {} | {:.1} | {} |",
                    r.requests,
                    r.throttled,
                    secs(r.wall),
                    r.requests as f64 / 25.0,
                    r.routes()
                );
                sandbox.shutdown().await;
            }
        }
    });
}
