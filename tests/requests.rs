//! Exact request counts of plan and apply against the sandbox's per-route counters, on every
//! imitated Traccar version, as administrator and as manager. A change that adds a request per
//! run, per user or per link fails here; timing is never asserted (see benches/fleet.rs).
//!
//! The demo seed (fleetform::cmd::demo::seed) holds 12 devices in 2 groups, all linked to the
//! manager account. Expected figures follow read.rs's design comment: connect costs
//! `POST /api/session` + `GET /api/server`; round 1 lists users, devices and groups; 6.14 as
//! administrator adds the two link listings; elsewhere links are read per object.

use std::collections::BTreeMap;

use fleetform::apply;
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::{Options, TraccarBackend};
use traccar_sandbox::{ObjectType, TraccarVersion};

use crate::e2e::{Env, env_version, fleet};

const V: [TraccarVersion; 3] = [
    TraccarVersion::V6_14,
    TraccarVersion::V6_9,
    TraccarVersion::V5_12,
];

/// An admin-run fleet of `n` riders with one device each and, for every third, a group.
fn riders(n: usize, manager: bool) -> String {
    let mut yaml = String::from("version: 1\nfleet: acme-bikes\n");
    if manager {
        yaml.push_str("manager: fleet@acme.example\n");
    }
    yaml.push_str("users:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - email: rider{i}@acme.example\n    name: Rider {i}\n    devices: [BT-000{}]\n",
            101 + i % 12
        ));
        if i % 3 == 0 {
            yaml.push_str("    groups: [Vienna]\n");
        }
    }
    yaml
}

async fn backend(env: &Env, credentials: &Credentials, options: Options) -> TraccarBackend {
    TraccarBackend::connect(&env.url, credentials, options)
        .await
        .expect("connect")
}

/// Connects and plans once; returns the requests by route.
async fn plan_requests(
    env: &Env,
    credentials: &Credentials,
    yaml: &str,
    options: Options,
) -> BTreeMap<String, u64> {
    env.sandbox.reset_stats();
    let b = backend(env, credentials, options).await;
    fleetform::make_plan(&b, &fleet(yaml).desired)
        .await
        .expect("plan");
    env.sandbox.stats().by_route
}

/// Connects, plans and applies once; returns the requests by route.
async fn apply_requests(
    env: &Env,
    credentials: &Credentials,
    yaml: &str,
    options: Options,
) -> BTreeMap<String, u64> {
    env.sandbox.reset_stats();
    let b = backend(env, credentials, options).await;
    let plan = fleetform::make_plan(&b, &fleet(yaml).desired)
        .await
        .expect("plan");
    let report = apply::apply(&b, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    env.sandbox.stats().by_route
}

fn routes(expected: &[(&str, u64)]) -> BTreeMap<String, u64> {
    expected
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| (r.to_string(), *n))
        .collect()
}

fn base(users: u64, devices: u64, groups: u64, permissions: u64) -> Vec<(&'static str, u64)> {
    vec![
        ("POST /api/session", 1),
        ("GET /api/server", 1),
        ("GET /api/users", users),
        ("GET /api/devices", devices),
        ("GET /api/groups", groups),
        ("GET /api/permissions", permissions),
    ]
}

#[tokio::test]
async fn admin_plan_requests_are_constant_on_6_14_and_per_smaller_side_elsewhere() {
    let yaml = riders(14, true);
    for version in V {
        let env = env_version(version).await;
        env.apply(&yaml).await;
        let got = plan_requests(&env, &env.admin, &yaml, Options::default()).await;
        // 14 users in scope, 12 devices, 2 groups; `manager:` adds its managed users (and its
        // devices and groups where no listing holds them).
        let expected = match version {
            TraccarVersion::V6_14 => base(1 + 1, 1, 1, 2),
            // Per device (12 < 14) + manager; groups per user + manager.
            TraccarVersion::V6_9 => base(1 + 12 + 1, 1 + 1, 1 + 14 + 1, 0),
            // No `/api/users?deviceId=` before 6.3: per user.
            TraccarVersion::V5_12 => base(1 + 1, 1 + 14 + 1, 1 + 14 + 1, 0),
        };
        assert_eq!(got, routes(&expected), "{version:?}");
    }
}

#[tokio::test]
async fn admin_plan_of_a_small_fleet_reads_per_user() {
    let yaml = riders(3, true);
    for version in V {
        let env = env_version(version).await;
        env.apply(&yaml).await;
        let got = plan_requests(&env, &env.admin, &yaml, Options::default()).await;
        let expected = match version {
            TraccarVersion::V6_14 => base(2, 1, 1, 2),
            _ => base(2, 1 + 3 + 1, 1 + 3 + 1, 0),
        };
        assert_eq!(got, routes(&expected), "{version:?}");
    }
}

#[tokio::test]
async fn manager_plan_reads_per_object_on_every_version() {
    let yaml = riders(3, false);
    for version in V {
        let env = env_version(version).await;
        let report = env.apply_as(&env.manager, &yaml).await;
        assert!(report.is_success(), "{version:?}: {:?}", report.failed);
        let got = plan_requests(&env, &env.manager, &yaml, Options::default()).await;
        // The listing is admin-only; 3 users < 12 devices: per user.
        assert_eq!(got, routes(&base(1, 1 + 3, 1 + 3, 0)), "{version:?}");
    }
}

#[tokio::test]
async fn manager_plan_reads_per_user_even_when_devices_are_fewer() {
    // Per device a manager would miss the links to devices it cannot see, which the plan must
    // show (see read.rs).
    let yaml = riders(14, false);
    for version in V {
        let env = env_version(version).await;
        let report = env.apply_as(&env.manager, &yaml).await;
        assert!(report.is_success(), "{version:?}: {:?}", report.failed);
        let got = plan_requests(&env, &env.manager, &yaml, Options::default()).await;
        let expected = base(1, 1 + 14, 1 + 14, 0);
        assert_eq!(got, routes(&expected), "{version:?}");
    }
}

#[tokio::test]
async fn first_apply_creates_one_by_one_and_links_in_bulk_batches() {
    // 14 users: 14 device links and 5 group links; batches of 4 -> 4 + 2 bulk requests.
    let yaml = riders(14, true);
    for version in V {
        let env = env_version(version).await;
        let options = Options {
            batch_size: 4,
            ..Options::default()
        };
        let got = apply_requests(&env, &env.admin, &yaml, options).await;
        let mut expected = match version {
            // No users in scope yet: the plan costs the same everywhere but the listings.
            TraccarVersion::V6_14 => base(2, 1, 1, 2),
            _ => base(2, 2, 2, 0),
        };
        expected.extend([
            ("POST /api/users", 14),
            // 14 device links, 5 group links and the 14 created users handed to the manager
            // account, each kind in batches of 4.
            ("POST /api/permissions/bulk", 4 + 2 + 4),
        ]);
        assert_eq!(got, routes(&expected), "{version:?}");
    }
}

#[tokio::test]
async fn without_bulk_every_object_and_link_is_its_own_request() {
    let yaml = riders(3, false);
    let env = env_version(TraccarVersion::V6_14).await;
    let options = Options {
        bulk: false,
        concurrency: Some(1),
        ..Options::default()
    };
    let got = apply_requests(&env, &env.admin, &yaml, options.clone()).await;
    let mut expected = base(1, 1, 1, 0);
    // 3 device links and 1 group link, one POST each.
    expected.extend([("POST /api/users", 3), ("POST /api/permissions", 3 + 1)]);
    assert_eq!(got, routes(&expected));
    let got = plan_requests(&env, &env.admin, &yaml, options).await;
    assert_eq!(got, routes(&base(1, 1 + 3, 1 + 3, 0)));
}

#[tokio::test]
async fn a_run_logs_in_exactly_once() {
    let yaml = riders(3, true);
    let env = env_version(TraccarVersion::V6_9).await;
    env.sandbox.reset_stats();
    env.apply(&yaml).await;
    env.apply(&yaml).await;
    let logins = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.route == "POST /api/session")
        .count();
    // Two runs (each plan + apply through one backend): two logins, never one per request.
    assert_eq!(logins, 2);
    assert!(env.sandbox.stats().total > 20);
}

#[tokio::test]
async fn links_of_one_apply_share_bulk_requests_up_to_the_batch_size() {
    // 150 riders with two devices each: 300 device links and 50 group links, each kind in one
    // bulk request at the default batch size (500), however apply slices its phases.
    let mut yaml = String::from("version: 1\nfleet: acme-bikes\nusers:\n");
    for i in 0..150 {
        yaml.push_str(&format!(
            "  - email: rider{i}@acme.example\n    devices: [BT-000{}, BT-000{}]\n",
            101 + i % 12,
            101 + (i + 1) % 12
        ));
        if i % 3 == 0 {
            yaml.push_str("    groups: [Graz]\n");
        }
    }
    let env = env_version(TraccarVersion::V6_14).await;
    let got = apply_requests(&env, &env.admin, &yaml, Options::default()).await;
    let mut expected = base(1, 1, 1, 2);
    expected.extend([("POST /api/users", 150), ("POST /api/permissions/bulk", 2)]);
    assert_eq!(got, routes(&expected));
}

/// `riders`, without any group.
fn riders_without_groups(n: usize, manager: bool) -> String {
    riders(n, manager)
        .lines()
        .filter(|l| !l.contains("groups:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn first_apply_with_a_manager_links_the_new_users_in_bulk() {
    // n users with 2 device links each, as administrator naming a manager: n creates, the
    // device links and the manager links in batches, and a constant for connect and the reads
    // (8: login, version, the three lists, two link listings or the manager's two reads).
    let n: u64 = 30;
    let batch: u64 = 8;
    let mut yaml =
        String::from("version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nusers:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - email: rider{i}@acme.example\n    devices: [BT-000{}, BT-000{}]\n",
            101 + i % 12,
            101 + (i + 1) % 12
        ));
    }
    for version in V {
        let env = env_version(version).await;
        let options = Options {
            batch_size: batch as usize,
            ..Options::default()
        };
        let got = apply_requests(&env, &env.admin, &yaml, options).await;
        let total: u64 = got.values().sum();
        let links = 2 * n;
        assert!(
            total <= n + links.div_ceil(batch) + n.div_ceil(batch) + 8,
            "{version:?}: {total} requests: {got:?}"
        );
        assert_eq!(got.get("POST /api/permissions"), None, "{version:?}");
        assert_eq!(
            got.get("POST /api/permissions/bulk"),
            Some(&(links.div_ceil(batch) + n.div_ceil(batch))),
            "{version:?}"
        );
        // Every user is managed: the next plan is empty.
        let b = backend(&env, &env.admin, Options::default()).await;
        let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
            .await
            .expect("plan");
        assert!(plan.actions.is_empty(), "{version:?}: {:?}", plan.actions);
    }
}

#[tokio::test]
async fn a_group_link_added_by_hand_is_found_on_old_servers_even_when_the_file_lists_no_groups() {
    // Group lists are complete lists, so a group link the file does not grant is removed even
    // when no user of the file has groups: without the 6.14 listing, that costs one group read
    // per user in scope (the price of never leaving more access than the file grants).
    let yaml = riders_without_groups(6, false);
    for version in [TraccarVersion::V6_9, TraccarVersion::V5_12] {
        let env = env_version(version).await;
        env.apply(&yaml).await;
        let groups = env.admin(reqwest::Method::GET, "/api/groups", None).await;
        let vienna = groups
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "Vienna"))
            .and_then(|g| g["id"].as_i64())
            .expect("the demo's Vienna group");
        let rider = env.user_id("rider1@acme.example").await;
        env.admin(
            reqwest::Method::POST,
            "/api/permissions",
            Some(serde_json::json!({"userId": rider, "groupId": vienna})),
        )
        .await;
        let got = plan_requests(&env, &env.admin, &yaml, Options::default()).await;
        assert_eq!(got.get("GET /api/groups"), Some(&(1 + 6)), "{version:?}");
        let b = backend(&env, &env.admin, Options::default()).await;
        let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
            .await
            .expect("plan");
        let unlinks: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| matches!(a, fleetform::core::model::Action::Unlink { .. }))
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            unlinks,
            ["unlink group Vienna from rider1@acme.example"],
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn link_changes_update_the_applied_records_with_one_read_of_the_user_list() {
    // Five users each move one device: an unlink and a link batch, and the five records
    // (the digest covers the links) written after one `GET /api/users`, not a GET each.
    let yaml = riders(14, false);
    let moved = (0..5).fold(yaml.clone(), |y, i| {
        y.replace(
            &format!("Rider {i}\n    devices: [BT-000{}]", 101 + i),
            &format!("Rider {i}\n    devices: [BT-000{}]", 101 + (i + 6) % 12),
        )
    });
    assert_ne!(moved, yaml);
    let env = env_version(TraccarVersion::V6_14).await;
    env.apply(&yaml).await;
    let got = apply_requests(&env, &env.admin, &moved, Options::default()).await;
    let mut expected = base(1 + 1, 1, 1, 2);
    expected.extend([
        ("DELETE /api/permissions/bulk", 1),
        ("POST /api/permissions/bulk", 1),
        ("PUT /api/users/{id}", 5),
    ]);
    assert_eq!(got, routes(&expected));
}

/// Runs the binary as the demo administrator against `env`, in `dir`.
fn fleetform_in(env: &Env, dir: &std::path::Path, args: &[&str]) -> crate::e2e::Run {
    crate::e2e::run(env.admin_bin().current_dir(dir).args(args))
}

/// The requests that read (everything but the writes of the apply).
fn reads(by_route: &BTreeMap<String, u64>) -> u64 {
    by_route
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") || route.as_str() == "POST /api/session")
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ci_flow_applies_a_saved_plan_reading_fewer_requests_than_the_plan() {
    // `plan --out` then `apply PLAN` on the servers where links are read per user: apply
    // reads again the users and the catalogue, but the links of only the user the plan
    // changes, so it reads fewer requests than the plan did.
    let n = 24;
    let yaml = riders(n, false);
    for version in [TraccarVersion::V6_9, TraccarVersion::V5_12] {
        let env = env_version(version).await;
        env.apply(&yaml).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let changed = yaml.replacen(
            "rider5@acme.example\n    name: Rider 5\n",
            "rider5@acme.example\n    name: Rider Five\n",
            1,
        );
        assert_ne!(changed, yaml);
        std::fs::write(dir.path().join("fleet.yaml"), &changed).expect("write");

        env.sandbox.reset_stats();
        let plan = fleetform_in(
            &env,
            dir.path(),
            &["plan", "--out", "plan.json", "-f", "fleet.yaml"],
        );
        assert_eq!(plan.code, 0, "{version:?}: {}", plan.stderr);
        let plan_reads = reads(&env.sandbox.stats().by_route);

        env.sandbox.reset_stats();
        let apply = fleetform_in(&env, dir.path(), &["apply", "plan.json", "--auto-approve"]);
        assert_eq!(
            apply.code, 0,
            "{version:?}: {}\n{}",
            apply.stdout, apply.stderr
        );
        assert!(
            apply
                .stdout
                .contains("with the links of the 1 user its actions name"),
            "{}",
            apply.stdout
        );
        let apply_reads = reads(&env.sandbox.stats().by_route);
        assert!(
            apply_reads < plan_reads,
            "{version:?}: apply PLAN read {apply_reads} requests, the plan {plan_reads}"
        );
        // The constant part (session, server, the three lists), one user's links (devices,
        // groups) and the read of the update's read-modify-write; the plan reads every user's
        // links (6.9: 12 device reads, as there are fewer devices than users, and 24 group
        // reads; the README quotes these figures).
        assert_eq!(apply_reads, 5 + 2 + 1, "{version:?}");
        if version == TraccarVersion::V6_9 {
            assert_eq!(plan_reads, 5 + 12 + 24);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_stale_when_anything_its_actions_depend_on_changed() {
    let yaml = riders(6, false);
    let env = env_version(TraccarVersion::V6_9).await;
    env.apply(&yaml).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let changed = yaml.replacen("name: Rider 2\n", "name: Rider Two\n", 1);
    std::fs::write(dir.path().join("fleet.yaml"), &changed).expect("write");
    let save = || {
        let plan = fleetform_in(
            &env,
            dir.path(),
            &["plan", "--out", "plan.json", "-f", "fleet.yaml"],
        );
        assert_eq!(plan.code, 0, "{}", plan.stderr);
    };

    // A link of the user the plan changes: refused, naming it.
    save();
    let rider2 = env.user_id("rider2@acme.example").await;
    let devices = env.admin(reqwest::Method::GET, "/api/devices", None).await;
    let device = devices
        .as_array()
        .and_then(|d| d.iter().find(|d| d["uniqueId"] == "BT-000112"))
        .and_then(|d| d["id"].as_i64())
        .expect("BT-000112");
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(serde_json::json!({"userId": rider2, "deviceId": device})),
    )
    .await;
    let apply = fleetform_in(&env, dir.path(), &["apply", "plan.json", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply
            .stderr
            .contains("user rider2@acme.example changed since the plan"),
        "{}",
        apply.stderr
    );

    // A field of a user the plan does not change: refused too (fields are read for everyone).
    save();
    let rider4 = env.user_id("rider4@acme.example").await;
    let mut user = env
        .admin(reqwest::Method::GET, "/api/users", None)
        .await
        .as_array()
        .and_then(|u| u.iter().find(|u| u["id"] == rider4).cloned())
        .expect("rider4");
    user["phone"] = serde_json::json!("+43 1");
    env.admin(
        reqwest::Method::PUT,
        &format!("/api/users/{rider4}"),
        Some(user),
    )
    .await;
    let apply = fleetform_in(&env, dir.path(), &["apply", "plan.json", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply
            .stderr
            .contains("user rider4@acme.example changed since the plan"),
        "{}",
        apply.stderr
    );

    // A link of a user the plan does not change: not read again, so the plan applies; the
    // next plan removes the link.
    save();
    let rider1 = env.user_id("rider1@acme.example").await;
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(serde_json::json!({"userId": rider1, "deviceId": device})),
    )
    .await;
    let apply = fleetform_in(&env, dir.path(), &["apply", "plan.json", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let replan = fleetform_in(&env, dir.path(), &["plan", "-f", "fleet.yaml"]);
    assert!(
        replan.stdout.contains("- device BT-000112"),
        "{}",
        replan.stdout
    );
}

#[tokio::test]
async fn a_no_change_plan_with_group_links_unmanaged_reads_no_group_links() {
    // `unmanaged: [groups]`: no group link is read, so on servers without the link listing a
    // no-change plan costs the constant reads plus one device read per user or per device,
    // whichever side is smaller; a group link added by hand is left alone.
    let yaml = riders_without_groups(20, false).replacen(
        "fleet: acme-bikes\n",
        "fleet: acme-bikes\nunmanaged: [groups]\n",
        1,
    );
    for version in V {
        let env = env_version(version).await;
        env.apply(&yaml).await;
        let groups = env.admin(reqwest::Method::GET, "/api/groups", None).await;
        let vienna = groups
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == "Vienna"))
            .and_then(|g| g["id"].as_i64())
            .expect("the demo's Vienna group");
        let rider = env.user_id("rider1@acme.example").await;
        env.admin(
            reqwest::Method::POST,
            "/api/permissions",
            Some(serde_json::json!({"userId": rider, "groupId": vienna})),
        )
        .await;
        let got = plan_requests(&env, &env.admin, &yaml, Options::default()).await;
        let total: u64 = got.values().sum();
        let (users, devices) = (20, 12);
        // 5.12 has no per-device user read (`GET /api/users?deviceId=` came with 6.3).
        let per_side = match version {
            TraccarVersion::V5_12 => users,
            _ => u64::min(users, devices),
        };
        assert!(
            total <= 5 + per_side,
            "{version:?}: {total} requests: {got:?}"
        );
        assert_eq!(got.get("GET /api/groups"), Some(&1), "{version:?}");
        let b = backend(&env, &env.admin, Options::default()).await;
        let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
            .await
            .expect("plan");
        assert!(plan.actions.is_empty(), "{version:?}: {:?}", plan.actions);
    }
}

/// Devices' and groups' object links as the demo's 12 devices and 2 groups list them: each
/// device two geofences and one notification, each group one geofence, each user one geofence.
fn object_fleet(device_geofences: &[&str]) -> String {
    let mut yaml =
        String::from("version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\ngeofences:\n");
    for g in ["yard", "depot", "river"] {
        yaml.push_str(&format!("  {g}: {{ area: \"CIRCLE (48.2 16.3, 200)\" }}\n"));
    }
    yaml.push_str("notifications:\n  theft: { type: alarm, alarms: [sos], notificators: [web] }\n");
    yaml.push_str("devices:\n");
    for n in 101..=112 {
        yaml.push_str(&format!(
            "  BT-000{n}: {{ geofences: [{}], notifications: [theft] }}\n",
            device_geofences.join(", ")
        ));
    }
    yaml.push_str("groups:\n  Vienna: { geofences: [river] }\n  Graz: { geofences: [river] }\n");
    yaml.push_str("users:\n");
    for i in 0..3 {
        yaml.push_str(&format!(
            "  - email: rider{i}@acme.example\n    geofences: [yard]\n"
        ));
    }
    yaml
}

/// The requests of `route` in `got`.
fn count(got: &BTreeMap<String, u64>, route: &str) -> u64 {
    got.get(route).copied().unwrap_or(0)
}

#[tokio::test]
async fn object_links_go_in_bulk_batches_of_the_batch_size() {
    // 24 device→geofence, 12 device→notification, 2 group→geofence and 3 user→geofence links:
    // per key set ceil(n / 5) bulk requests, 5 + 3 + 1 + 1. As administrator, 3 more: the new
    // users handed to the billing account, and the new geofences and notification linked to
    // it (two key sets); the billing account itself owns what it creates.
    // Then every device drops one geofence: 12 unlinks in ceil(12 / 5) = 3 bulk DELETEs.
    let linked = object_fleet(&["yard", "depot"]);
    let fewer = object_fleet(&["yard"]);
    for (version, manager) in [
        (TraccarVersion::V6_14, false),
        // 5.12 is left out: its notifications have no description to name them by.
        (TraccarVersion::V6_9, false),
        (TraccarVersion::V6_14, true),
    ] {
        let env = env_version(version).await;
        let credentials = if manager { &env.manager } else { &env.admin };
        let options = Options {
            batch_size: 5,
            ..Options::default()
        };
        let got = apply_requests(&env, credentials, &linked, options.clone()).await;
        let label = format!("{version:?}, manager {manager}");
        let billing = if manager { 0 } else { 1 + 1 + 1 };
        assert_eq!(
            count(&got, "POST /api/permissions/bulk"),
            5 + 3 + 1 + 1 + billing,
            "{label}: {got:?}"
        );
        assert_eq!(count(&got, "POST /api/permissions"), 0, "{label}");
        let got = apply_requests(&env, credentials, &fewer, options).await;
        assert_eq!(
            count(&got, "DELETE /api/permissions/bulk"),
            3,
            "{label}: {got:?}"
        );
        assert_eq!(count(&got, "DELETE /api/permissions"), 0, "{label}");
        // The links as the file lists them, no duplicate row: nothing left to plan.
        let b = backend(&env, credentials, Options::default()).await;
        let plan = fleetform::make_plan(&b, &fleet(&fewer).desired)
            .await
            .expect("plan");
        assert!(plan.actions.is_empty(), "{label}: {:?}", plan.actions);
        env.link_rows(ObjectType::Device, ObjectType::Geofence);
        env.link_rows(ObjectType::Device, ObjectType::Notification);
    }
}

#[tokio::test]
async fn without_bulk_every_object_link_is_its_own_request() {
    let env = env_version(TraccarVersion::V6_14).await;
    let options = Options {
        bulk: false,
        ..Options::default()
    };
    let got = apply_requests(&env, &env.admin, &object_fleet(&["yard", "depot"]), options).await;
    // The object links, and as administrator the 3 new users, 3 geofences and 1 notification
    // linked to the billing account.
    assert_eq!(
        count(&got, "POST /api/permissions"),
        24 + 12 + 2 + 3 + (3 + 3 + 1)
    );
    assert_eq!(count(&got, "POST /api/permissions/bulk"), 0);
}
