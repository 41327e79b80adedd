//! `cargo bench --bench objects`: reads and writes of objects and their links against the
//! in-process sandbox: devices in groups, each device linked to some of the geofences and
//! notifications, each group to one of each, riders linked to geofences. Prints the request
//! counts (by route, reads and writes apart) and wall time of the first apply and of the
//! no-change plan, as administrator and as the billing account (a manager), with bulk link
//! batches and with `--no-bulk`, as Markdown for BENCHMARKS.md. A benchmark, not a test:
//! nothing here asserts on time; it asserts that the re-plan is empty and that no link row is
//! stored twice.
//!
//! The fleet (`OBJECTS_DEVICES` = D devices): D devices `BK-0000000..` in D/20 groups (at least
//! one), 20 geofences, 10 notifications; device d is linked to 1 + d mod 3 geofences and to
//! 1 + d mod 2 notifications; every group to one geofence and one notification; D/10 riders
//! (`OBJECTS_USERS`), each linked to two geofences. The billing account sees every device and
//! group (linked to them) and manages the riders.
//!
//! Knobs (environment, defaults in brackets): `OBJECTS_DEVICES` [1000], `OBJECTS_USERS`
//! [D/10], `OBJECTS_LATENCY_MS` [20], `OBJECTS_CONCURRENCY` [32, 6.14's default],
//! `OBJECTS_BATCH_SIZE` [Options::default()], `OBJECTS_VERSION` [6.14; or 6.9].

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::expect_used,
    reason = "a benchmark: it prints its tables and progress, and a failed setup may panic"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fleetform::apply;
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::config;
use fleetform::core::secret::Secret;
use traccar_sandbox::{ObjectType, Sandbox, SandboxConfig, Store, TraccarVersion};

const ADMIN: &str = "admin@bench.example";
const BILLING: &str = "billing@bench.example";
const PASSWORD: &str = "bench-password";
const GEOFENCES: usize = 20;
const NOTIFICATIONS: usize = 10;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn unique_id(d: usize) -> String {
    format!("BK-{d:07}")
}
fn group_name(g: usize) -> String {
    format!("Depot {g:03}")
}
fn geofence(g: usize) -> String {
    format!("zone-{:02}", g % GEOFENCES)
}
fn notification(n: usize) -> String {
    format!("alert-{:02}", n % NOTIFICATIONS)
}

/// The fleet's shape, and the link counts that follow from it.
#[derive(Clone, Copy)]
struct Shape {
    devices: usize,
    groups: usize,
    users: usize,
}

impl Shape {
    fn device_geofences(d: usize) -> Vec<String> {
        (0..1 + d % 3).map(|i| geofence(d + 7 * i)).collect()
    }
    fn device_notifications(d: usize) -> Vec<String> {
        (0..1 + d % 2).map(|i| notification(d + 3 * i)).collect()
    }
    /// (device→geofence, device→notification, group→geofence, group→notification,
    /// user→geofence) links.
    fn links(self) -> [usize; 5] {
        let dg = (0..self.devices)
            .map(|d| Self::device_geofences(d).len())
            .sum();
        let dn = (0..self.devices)
            .map(|d| Self::device_notifications(d).len())
            .sum();
        [dg, dn, self.groups, self.groups, 2 * self.users]
    }

    fn yaml(self) -> String {
        let mut y = format!("version: 1\nfleet: bench\nmanager: {BILLING}\ngeofences:\n");
        for g in 0..GEOFENCES {
            y.push_str(&format!(
                "  {}: {{ area: \"CIRCLE (48.{g:02} 16.3, 200)\" }}\n",
                geofence(g)
            ));
        }
        y.push_str("notifications:\n");
        for n in 0..NOTIFICATIONS {
            y.push_str(&format!(
                "  {}: {{ type: deviceOverspeed, notificators: [web] }}\n",
                notification(n)
            ));
        }
        y.push_str("groups:\n");
        for g in 0..self.groups {
            y.push_str(&format!(
                "  {}: {{ geofences: [{}], notifications: [{}] }}\n",
                group_name(g),
                geofence(g),
                notification(g)
            ));
        }
        y.push_str("devices:\n");
        for d in 0..self.devices {
            y.push_str(&format!(
                "  {}: {{ geofences: [{}], notifications: [{}] }}\n",
                unique_id(d),
                Self::device_geofences(d).join(", "),
                Self::device_notifications(d).join(", ")
            ));
        }
        y.push_str("users:\n");
        for u in 0..self.users {
            y.push_str(&format!(
                "  - email: rider{u:05}@bench.example\n    geofences: [{}, {}]\n",
                geofence(u),
                geofence(u + 1)
            ));
        }
        y
    }

    /// The administrator, the billing account (a manager linked to every device and group),
    /// the groups and the devices; no objects, no riders.
    fn seed(self, store: &mut Store) {
        store
            .add_admin("Bench Admin", ADMIN, PASSWORD)
            .expect("admin");
        let billing = store
            .add_user("Billing", BILLING, Some(PASSWORD))
            .expect("billing");
        store.set_limits(billing, -1, -1);
        let groups: Vec<i64> = (0..self.groups)
            .map(|g| store.add_group(&group_name(g), 0).expect("group"))
            .collect();
        for &g in &groups {
            store.link_user_group(billing, g).expect("group link");
        }
        for d in 0..self.devices {
            let id = store
                .add_device(
                    &format!("Bike {d}"),
                    &unique_id(d),
                    groups[d % groups.len()],
                )
                .expect("device");
            store.link_user_device(billing, id).expect("device link");
        }
    }
}

fn credentials(email: &str) -> Credentials {
    Credentials::Password {
        email: email.into(),
        password: Secret::new(PASSWORD),
    }
}

struct Run {
    actions: usize,
    wall: Duration,
    by_route: BTreeMap<String, u64>,
}

impl Run {
    fn total(&self) -> u64 {
        self.by_route.values().sum()
    }
    fn reads(&self) -> u64 {
        self.by_route
            .iter()
            .filter(|(r, _)| r.starts_with("GET "))
            .map(|(_, n)| n)
            .sum()
    }
    fn count(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }
    fn routes(&self) -> String {
        self.by_route
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Connects, plans, and applies when asked; the requests and wall time of it all.
async fn measure(
    sandbox: &Sandbox,
    loaded: &config::Loaded,
    account: &str,
    options: &Options,
    write: bool,
) -> Run {
    sandbox.reset_stats();
    let t = Instant::now();
    let backend = TraccarBackend::connect(&sandbox.url(), &credentials(account), options.clone())
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
    Run {
        actions: plan.actions.len(),
        wall: t.elapsed(),
        by_route: sandbox.stats().by_route,
    }
}

async fn start(version: TraccarVersion, latency: Duration) -> Sandbox {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = SandboxConfig {
        version,
        latency,
        max_requests_per_sec: None,
        registration: false,
    };
    Sandbox::start(config, listen)
        .await
        .expect("sandbox starts")
}

/// Asserts that the sandbox stores no link row twice (Traccar stores a re-POSTed link again).
fn no_duplicate_rows(store: &Store) {
    for (owner, property) in [
        (ObjectType::Device, ObjectType::Geofence),
        (ObjectType::Device, ObjectType::Notification),
        (ObjectType::Group, ObjectType::Geofence),
        (ObjectType::Group, ObjectType::Notification),
        (ObjectType::User, ObjectType::Geofence),
    ] {
        let rows = store
            .links(owner, property)
            .map(|t| t.rows())
            .unwrap_or_default();
        let mut distinct = rows.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            rows.len(),
            distinct.len(),
            "duplicate {owner:?}→{property:?} rows"
        );
    }
}

fn main() {
    let devices = env_num("OBJECTS_DEVICES", 1000);
    let shape = Shape {
        devices,
        groups: (devices / 20).max(1),
        users: env_num("OBJECTS_USERS", devices / 10),
    };
    let latency = Duration::from_millis(env_num("OBJECTS_LATENCY_MS", 20) as u64);
    let concurrency = env_num("OBJECTS_CONCURRENCY", 32);
    let version = match std::env::var("OBJECTS_VERSION").as_deref() {
        Ok("6.9") => TraccarVersion::V6_9,
        _ => TraccarVersion::V6_14,
    };
    let defaults = Options::default();
    let bulk = Options {
        concurrency: Some(concurrency),
        batch_size: env_num("OBJECTS_BATCH_SIZE", defaults.batch_size),
        ..defaults
    };
    let [dg, dn, gg, gn, ug] = shape.links();
    println!(
        "objects benchmark: Traccar {version:?} sandbox, {} ms latency, concurrency {concurrency}, batch size {}; {} devices in {} groups, {GEOFENCES} geofences, {NOTIFICATIONS} notifications, {} riders; links: {dg} device→geofence, {dn} device→notification, {gg} group→geofence, {gn} group→notification, {ug} user→geofence\n",
        latency.as_millis(),
        bulk.batch_size,
        shape.devices,
        shape.groups,
        shape.users
    );
    println!(
        "| account | writes | scenario | actions | requests | reads (GET) | link writes | wall (s) | requests by route |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---|");
    let loaded = config::parse(&shape.yaml(), "fleet.yaml").expect("valid fleet");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (account, who) in [(ADMIN, "administrator"), (BILLING, "billing (manager)")] {
            for (mode, options) in [
                ("bulk", bulk.clone()),
                (
                    "--no-bulk",
                    Options {
                        bulk: false,
                        ..bulk.clone()
                    },
                ),
            ] {
                eprintln!("{who}, {mode}");
                let sandbox = start(version, latency).await;
                sandbox.seed(|s| shape.seed(s));
                let first = measure(&sandbox, &loaded, account, &options, true).await;
                let again = measure(&sandbox, &loaded, account, &options, false).await;
                assert_eq!(
                    again.actions, 0,
                    "the re-plan after the first apply is empty"
                );
                sandbox.seed(|s| no_duplicate_rows(s));
                for (scenario, run) in [("first apply", &first), ("plan, no changes", &again)] {
                    let links = ["/api/permissions", "/api/permissions/bulk"]
                        .iter()
                        .flat_map(|p| ["POST", "DELETE"].map(|m| run.count(&format!("{m} {p}"))))
                        .sum::<u64>();
                    println!(
                        "| {who} | {mode} | {scenario} | {} | {} | {} | {links} | {:.2} | {} |",
                        run.actions,
                        run.total(),
                        run.reads(),
                        run.wall.as_secs_f64(),
                        run.routes()
                    );
                }
                sandbox.shutdown().await;
            }
        }
    });
}
