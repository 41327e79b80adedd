//! `cargo bench --bench telematics`: the first apply and the plan of generated fleets on the
//! in-process telematics sandbox, with per-route request counts and wall time. Prints Markdown
//! tables for BENCHMARKS.md. A benchmark, not a test: nothing here asserts on time.
//!
//! The fleet of size N: N drivers `drv-0000000..` with a first and last name, an email, a phone
//! and the three telematics flags, every tenth deactivated. Scenarios per size, each on a fresh
//! connection (so each pays its own login):
//! 1. first apply, where the service has no bulk registration (`CreateMany` is a 404: one
//!    attempt, a read-back listing, then one registration per user);
//! 2. first apply where the sandbox serves `CreateMany` (UNVERIFIED on the real service);
//! 3. plan with no changes;
//! 4. plan with 10% drift (made in the sandbox's store: a flag turned, a name changed, a user
//!    deactivated by hand), and its apply.
//!
//! Knobs (environment, defaults in brackets): `TELEMATICS_SIZES` [1000,10000],
//! `TELEMATICS_LATENCY_MS` [20], `TELEMATICS_CONCURRENCY` [32], `TELEMATICS_BATCH_SIZE` [500],
//! `TELEMATICS_MAX_PAGE` [none: the sandbox takes any page size].

#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    reason = "a benchmark: it prints its tables, and a failed setup may panic"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fleetform::apply;
use fleetform::backend::telematics::api::Credentials;
use fleetform::backend::telematics::{Options, TelematicsBackend};
use fleetform::config::{self, Loaded};
use fleetform::core::secret::Secret;
use telematics_sandbox::{AccountStatus, Sandbox, SandboxConfig};

const FLEET: &str = "bench";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sizes() -> Vec<usize> {
    std::env::var("TELEMATICS_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn client_id(i: usize) -> String {
    format!("drv-{i:07}")
}

fn fleet_yaml(sandbox: &Sandbox, n: usize) -> String {
    let config = sandbox.config();
    let mut yaml = format!(
        "version: 1\nfleet: {FLEET}\nserver:\n  kind: telematics\n  url: {}\n  instanceId: {}\nsafety:\n  allowRemoveAll: true\n  maxRemovalPercent: 100\nusers:\n",
        sandbox.url(),
        config.instance.id
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "  - clientId: {}\n    firstName: Driver\n    lastName: \"{i}\"\n    email: driver{i}@fleet.example\n    phone: \"+43664{i:07}\"\n    enableTracking: true\n    enableLogging: {}\n    enableRealTimeLocation: false\n    enabled: {}\n",
            client_id(i),
            i % 7 == 0,
            i % 10 != 9
        ));
    }
    yaml
}

async fn start(latency: Duration, create_many: bool) -> Sandbox {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    Sandbox::start(
        SandboxConfig {
            latency,
            login_limit: None,
            create_many,
            max_page_size: std::env::var("TELEMATICS_MAX_PAGE")
                .ok()
                .and_then(|v| v.parse().ok()),
            ..SandboxConfig::default()
        },
        listen,
    )
    .await
    .expect("sandbox")
}

fn options() -> Options {
    Options {
        concurrency: env_num("TELEMATICS_CONCURRENCY", 32),
        batch_size: env_num("TELEMATICS_BATCH_SIZE", 500),
        ..Options::default()
    }
}

fn credentials(sandbox: &Sandbox) -> Credentials {
    let config = sandbox.config();
    Credentials {
        email: config.admin.email.clone(),
        password: Secret::new(config.admin.password.clone()),
        instance_key: Some(Secret::new(config.instance.key.clone())),
    }
}

struct Run {
    name: &'static str,
    actions: usize,
    wall: Duration,
    requests: BTreeMap<String, u64>,
}

/// One run on a fresh connection: plan, and apply when `write`.
async fn run(sandbox: &Sandbox, loaded: &Loaded, name: &'static str, write: bool) -> Run {
    sandbox.reset_stats();
    let started = Instant::now();
    let backend = TelematicsBackend::connect(
        &sandbox.url(),
        &loaded.server_instance.clone().expect("instance"),
        &credentials(sandbox),
        options(),
    )
    .await
    .expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("plan");
    if write {
        let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
        assert!(report.is_success(), "{name}: {:?}", report.failed.first());
    }
    let wall = started.elapsed();
    Run {
        name,
        actions: plan.actions.len(),
        wall,
        requests: sandbox.stats().by_route,
    }
}

fn drift(sandbox: &Sandbox, n: usize) -> usize {
    sandbox.seed(|store| {
        let tokens: Vec<(String, String)> = store
            .users()
            .iter()
            .filter_map(|u| Some((u.fields.client_id.clone()?, u.device_token.clone())))
            .collect();
        let by_id: BTreeMap<String, String> = tokens.into_iter().collect();
        let mut changed = 0;
        for i in (0..n).step_by(10) {
            let Some(token) = by_id.get(&client_id(i)) else {
                continue;
            };
            let user = store.user_mut(token).expect("user");
            match (i / 10) % 3 {
                0 => user.fields.enable_tracking = !user.fields.enable_tracking,
                1 => user.profile.first_name = Some("Renamed".into()),
                _ => {
                    user.fields.enabled = false;
                    user.status = AccountStatus::Deactivated;
                }
            }
            changed += 1;
        }
        changed
    })
}

fn print(n: usize, latency: Duration, runs: &[Run]) {
    println!(
        "\n### {n} users, {} ms latency, concurrency {}\n",
        latency.as_millis(),
        options().concurrency
    );
    println!("| scenario | actions | requests | wall time | requests by route |");
    println!("|---|---:|---:|---:|---|");
    for r in runs {
        let total: u64 = r.requests.values().sum();
        let routes: Vec<String> = r
            .requests
            .iter()
            .map(|(route, count)| format!("{route}: {count}"))
            .collect();
        println!(
            "| {} | {} | {} | {:.2} s | {} |",
            r.name,
            r.actions,
            total,
            r.wall.as_secs_f64(),
            routes.join("; ")
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let latency = Duration::from_millis(env_num("TELEMATICS_LATENCY_MS", 20) as u64);
    println!("## Telematics: plan and first apply (`cargo bench --bench telematics`)");
    for n in sizes() {
        let mut runs = Vec::new();
        let single = start(latency, false).await;
        let yaml = fleet_yaml(&single, n);
        let loaded = config::parse(&yaml, "bench.yaml").expect("valid fleet");
        runs.push(
            run(
                &single,
                &loaded,
                "first apply (no CreateMany: single registrations)",
                true,
            )
            .await,
        );
        runs.push(run(&single, &loaded, "plan, no changes", false).await);
        let drifted = drift(&single, n);
        let mut drift_plan = run(&single, &loaded, "plan, 10% drift", false).await;
        assert_eq!(drift_plan.actions, drifted, "one update per drifted user");
        drift_plan.name = "plan, 10% drift";
        runs.push(drift_plan);
        runs.push(run(&single, &loaded, "apply of the 10% drift", true).await);
        drop(single);
        let bulk = start(latency, true).await;
        let yaml = fleet_yaml(&bulk, n);
        let loaded = config::parse(&yaml, "bench.yaml").expect("valid fleet");
        runs.push(run(&bulk, &loaded, "first apply (CreateMany served)", true).await);
        print(n, latency, &runs);
    }
}
