//! Issue 9's observations on a real Traccar 6.9.1, one test each, named after it, replayed
//! against the sandbox: what the plan says must be what the server accepts, and no run may leave
//! a user with more access than the file grants. Observation 9 (drift attribution) reads the
//! sandbox's audit log, which the 6.9 and 6.14 modes keep as those releases do.

use reqwest::Method;
use serde_json::json;
use traccar_sandbox::TraccarVersion;

use fleetform::cmd::demo::DEMO_MANAGER;
use fleetform::core::model::Action;

use crate::e2e::{BASE, Env, env, env_version, run};

/// A fleet file as the manager credential writes it, with `users` riders and `extra` appended.
fn riders(range: std::ops::Range<usize>, extra: &str) -> String {
    let mut yaml = "version: 1\nfleet: acme-bikes\nusers:\n".to_string();
    for i in range {
        yaml.push_str(&format!("  - email: rider{i}@acme.example\n"));
    }
    yaml.push_str(extra);
    yaml
}

/// Sets fields of the demo manager account as the administrator.
async fn set_manager(env: &Env, fields: serde_json::Value) {
    env.put_user(DEMO_MANAGER, |u| {
        for (k, v) in fields.as_object().expect("object") {
            u[k] = v.clone();
        }
    })
    .await;
}

async fn plan_error(env: &Env, as_manager: bool, yaml: &str) -> String {
    let credentials = if as_manager { &env.manager } else { &env.admin };
    match env.plan_as(credentials, yaml).await {
        Ok(plan) => panic!("planned {:?}", plan.actions),
        Err(e) => format!("{e:#}"),
    }
}

async fn user_count(env: &Env) -> usize {
    env.admin(Method::GET, "/api/users", None)
        .await
        .as_array()
        .expect("array")
        .len()
}

#[tokio::test]
async fn observation_1_a_managers_user_limit_is_checked_at_plan_time() {
    let env = env().await;
    set_manager(&env, json!({"userLimit": 10})).await;
    let report = env.apply_as(&env.manager, &riders(0..8, "")).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let before = user_count(&env).await;
    // 8 of 10: four more do not fit. Every one of them is named, with its line, before any write.
    let text = plan_error(&env, true, &riders(0..12, "")).await;
    for i in 8..12 {
        assert!(
            text.contains(&format!("user rider{i}@acme.example")),
            "{text}"
        );
    }
    assert!(text.contains("fleet.yaml:12:"), "the file line: {text}");
    assert!(text.contains("over its userLimit 10"), "{text}");
    assert!(text.contains("Manager user limit reached"), "{text}");
    assert_eq!(user_count(&env).await, before);
    // Deletes count: dropping two old riders makes room for two new ones.
    let report = env.apply_as(&env.manager, &riders(2..12, "")).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert!(env.user("rider11@acme.example").await.is_some());
    assert!(env.user("rider0@acme.example").await.is_none());
}

#[tokio::test]
async fn observation_2_an_admin_run_with_manager_respects_its_user_limit() {
    let env = env().await;
    set_manager(&env, json!({"userLimit": 2})).await;
    let yaml = riders(0..3, "").replace(
        "fleet: acme-bikes\n",
        "fleet: acme-bikes\nmanager: fleet@acme.example\n",
    );
    let before = user_count(&env).await;
    let text = plan_error(&env, false, &yaml).await;
    assert!(
        text.contains("the plan makes fleet@acme.example manage 3 users, over its userLimit 2"),
        "{text}"
    );
    assert_eq!(user_count(&env).await, before);
    env.apply(&yaml.replace("  - email: rider2@acme.example\n", ""))
        .await;
}

#[tokio::test]
async fn observation_3_a_manager_may_not_give_a_later_expiration_than_its_own() {
    let env = env().await;
    set_manager(
        &env,
        json!({"expirationTime": "2027-12-31T00:00:00.000+00:00"}),
    )
    .await;
    let later = riders(0..1, "    expirationTime: 2028-06-30T00:00:00Z\n");
    let text = plan_error(&env, true, &later).await;
    assert!(text.contains("user rider0@acme.example"), "{text}");
    assert!(text.contains("Administrator access required"), "{text}");
    assert!(env.user("rider0@acme.example").await.is_none());
    // Up to its own is fine, and so is a create without one (the server accepts both).
    let report = env
        .apply_as(
            &env.manager,
            &riders(0..2, "    expirationTime: 2027-12-30T00:00:00Z\n"),
        )
        .await;
    assert!(report.is_success(), "{:?}", report.failed);
}

#[tokio::test]
async fn observation_4_an_email_outside_the_managers_view_is_named_as_such() {
    let env = env().await;
    // A user the manager does not manage, so cannot see.
    env.admin(
        Method::POST,
        "/api/users",
        Some(json!({"name": "Other", "email": "rider0@acme.example", "password": "x-Very-long-1"})),
    )
    .await;
    let report = env.apply_as(&env.manager, &riders(0..1, "")).await;
    let failed = format!("{:?}", report.failed);
    assert!(!report.is_success());
    assert!(failed.contains("already taken by a user"), "{failed}");
    assert!(
        !failed.contains("JdbcSQL"),
        "no raw database error: {failed}"
    );
}

#[tokio::test]
async fn observation_5_links_the_credential_cannot_see_are_shown_never_silent() {
    let env = env().await;
    let report = env.apply_as(&env.manager, &riders(0..1, "")).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let uid = env.user_id("rider0@acme.example").await;
    // An administrator links a device and a group the manager cannot see.
    let device = env
        .admin(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "Hidden", "uniqueId": "HIDDEN-1"})),
        )
        .await;
    let group = env
        .admin(Method::POST, "/api/groups", Some(json!({"name": "Secret"})))
        .await;
    env.admin(
        Method::POST,
        "/api/permissions",
        Some(json!({"userId": uid, "deviceId": device["id"]})),
    )
    .await;
    env.admin(
        Method::POST,
        "/api/permissions",
        Some(json!({"userId": uid, "groupId": group["id"]})),
    )
    .await;
    let text = plan_error(&env, true, &riders(0..1, "")).await;
    assert!(
        text.contains("device HIDDEN-1 is linked to this user"),
        "{text}"
    );
    assert!(
        text.contains("group Secret is linked to this user"),
        "{text}"
    );
    assert!(
        text.contains("cannot change this link with this credential"),
        "{text}"
    );
    // Listing them keeps them: nothing to change, nothing refused.
    let keep = riders(0..1, "    devices: [HIDDEN-1]\n    groups: [Secret]\n");
    let plan = env.plan_as(&env.manager, &keep).await.expect("plan");
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[tokio::test]
async fn observation_6_an_admin_run_holds_groups_to_the_billing_account() {
    let env = env().await;
    env.admin(
        Method::POST,
        "/api/groups",
        Some(json!({"name": "Elsewhere"})),
    )
    .await;
    let yaml = riders(0..1, "    groups: [Elsewhere]\n").replace(
        "fleet: acme-bikes\n",
        "fleet: acme-bikes\nmanager: fleet@acme.example\n",
    );
    let text = plan_error(&env, false, &yaml).await;
    assert!(
        text.contains("group Elsewhere is not one the manager"),
        "{text}"
    );
    assert!(env.user("rider0@acme.example").await.is_none());
    // The manager's own groups are fine.
    env.apply(&yaml.replace("Elsewhere", "Vienna")).await;
}

/// The groups `GET /api/groups?userId=` shows for a user: its links and their descendants.
async fn visible(env: &Env, uid: i64) -> Vec<String> {
    let list = env
        .admin(Method::GET, &format!("/api/groups?userId={uid}"), None)
        .await;
    let mut names: Vec<String> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn observation_7_nested_groups_never_outlive_the_file() {
    for version in [TraccarVersion::V6_9, TraccarVersion::V6_14] {
        let env = env_version(version).await;
        let groups = env.admin(Method::GET, "/api/groups?all=true", None).await;
        let vienna = groups
            .as_array()
            .expect("array")
            .iter()
            .find(|g| g["name"] == "Vienna")
            .expect("Vienna")["id"]
            .clone();
        env.admin(
            Method::POST,
            "/api/groups",
            Some(json!({"name": "Vienna-North", "groupId": vienna})),
        )
        .await;
        // Linked to the parent and, directly, to its child.
        env.apply(&riders(0..1, "    groups: [Vienna, Vienna-North]\n"))
            .await;
        let uid = env.user_id("rider0@acme.example").await;
        assert_eq!(
            visible(&env, uid).await,
            ["Vienna", "Vienna-North"],
            "{version:?}"
        );
        // One apply takes both away: the child's own link does not survive its parent's.
        let graz = riders(0..1, "    groups: [Graz]\n");
        env.apply(&graz).await;
        assert_eq!(visible(&env, uid).await, ["Graz"], "{version:?}");
        let again = env.plan(&graz).await;
        assert!(again.actions.is_empty(), "{version:?}: {:?}", again.actions);
    }
}

/// A user linked to a group sees its child through it, directly linked or not. When the file
/// moves the child out from under the group and lists both for the user, the child must be
/// linked in the same run: the read infers links with the tree the plan leaves, not today's.
#[tokio::test]
async fn a_child_moved_out_from_under_a_listed_parent_stays_visible() {
    for version in [TraccarVersion::V6_9, TraccarVersion::V6_14] {
        let env = nested(version).await;
        env.apply(&riders(0..1, "    groups: [Vienna]\n")).await;
        let uid = env.user_id("rider0@acme.example").await;
        assert_eq!(
            visible(&env, uid).await,
            ["Vienna", "Vienna-North"],
            "{version:?}"
        );
        let moved = riders(0..1, MOVED);
        env.apply(&moved).await;
        assert_eq!(
            env.find("groups", "name", "Vienna-North")
                .await
                .expect("kept")["groupId"],
            0,
            "{version:?}"
        );
        assert_eq!(
            visible(&env, uid).await,
            ["Vienna", "Vienna-North"],
            "{version:?}"
        );
        let again = env.plan(&moved).await;
        assert!(again.actions.is_empty(), "{version:?}: {:?}", again.actions);
    }
}

/// The rider's groups and the move of `a_child_moved_out_from_under_a_listed_parent...`.
const MOVED: &str =
    "    groups: [Vienna, Vienna-North]\ngroups:\n  Vienna-North: { parent: null }\n";

/// A sandbox of `version` with group Vienna-North under the seeded Vienna.
async fn nested(version: TraccarVersion) -> Env {
    let env = env_version(version).await;
    let vienna = env.find("groups", "name", "Vienna").await.expect("Vienna")["id"].clone();
    env.admin(
        Method::POST,
        "/api/groups",
        Some(json!({"name": "Vienna-North", "groupId": vienna})),
    )
    .await;
    env
}

/// The billing account sees Vienna-North only through Vienna: moving it to the top level
/// would take it (and its devices) out of the account, which Traccar accepts. As the manager,
/// which cannot link itself, the plan is refused with nothing written; as an administrator
/// with `manager:`, the plan links the group to the manager directly.
#[tokio::test]
async fn a_group_the_billing_account_would_lose_is_kept_in_it() {
    for version in [TraccarVersion::V6_9, TraccarVersion::V6_14] {
        let env = nested(version).await;
        let text = plan_error(&env, true, &riders(0..1, MOVED)).await;
        assert!(
            text.contains(
                "group Vienna-North: the plan moves group Vienna-North (parent Vienna -> none), \
                 which takes Vienna-North and its devices out of what fleet@acme.example sees"
            ),
            "{version:?}: {text}"
        );
        assert!(text.contains("fleet.yaml:"), "located: {text}");
        assert_eq!(
            env.find("groups", "name", "Vienna-North")
                .await
                .expect("kept")["groupId"],
            env.find("groups", "name", "Vienna").await.expect("Vienna")["id"],
        );
        // As administrator for the billing account: linked to it in the same run.
        let with_manager = riders(0..1, MOVED).replace(
            "fleet: acme-bikes\n",
            "fleet: acme-bikes\nmanager: fleet@acme.example\n",
        );
        let plan = env.plan(&with_manager).await;
        assert!(
            plan.actions.iter().any(|a| matches!(
                a,
                Action::Link { email, kind, target }
                    if email == DEMO_MANAGER && kind.name() == "group" && target == "Vienna-North"
            )),
            "{version:?}: {:?}",
            plan.actions
        );
        let report = env.apply(&with_manager).await;
        assert!(report.failed.is_empty(), "{version:?}: {:?}", report.failed);
        let manager = env.user_id(DEMO_MANAGER).await;
        assert!(
            visible(&env, manager)
                .await
                .contains(&"Vienna-North".to_string())
        );
        assert!(
            env.plan(&with_manager).await.actions.is_empty(),
            "{version:?}"
        );
        // Under another of the account's groups the manager may move it itself.
        let back = riders(
            0..1,
            &MOVED.replace("parent: null }", "parent: Graz }\n  Graz: {}"),
        );
        let report = env.apply_as(&env.manager, &back).await;
        assert!(report.failed.is_empty(), "{version:?}: {:?}", report.failed);
        let again = env.plan_as(&env.manager, &back).await.expect("plans");
        assert!(again.actions.is_empty(), "{version:?}: {:?}", again.actions);
    }
}

#[tokio::test]
async fn observation_8_a_user_fleetform_disabled_is_enabled_when_back_in_the_file() {
    let env = env().await;
    let both =
        riders(0..2, "").replace("fleet: acme-bikes\n", "fleet: acme-bikes\nprune: disable\n");
    env.apply(&both).await;
    let one = both.replace("  - email: rider1@acme.example\n", "");
    env.apply(&one).await;
    assert_eq!(
        env.user("rider1@acme.example").await.expect("kept")["disabled"],
        true
    );
    let plan = env.plan(&both).await;
    let shown = format!("{:?}", plan.actions);
    assert!(
        shown.contains("disabled") && shown.contains("rider1"),
        "{shown}"
    );
    env.apply(&both).await;
    let rider = env.user("rider1@acme.example").await.expect("kept");
    assert_eq!(rider["disabled"], false);
    assert!(
        rider["attributes"].get("fleetformDisabledAt").is_none(),
        "{rider}"
    );
    assert!(env.plan(&both).await.actions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observation_9_drift_names_who_changed_a_user_and_when() {
    for version in [TraccarVersion::V6_9, TraccarVersion::V6_14] {
        let env = env_version(version).await;
        env.apply(BASE).await;
        // A second administrator changes max by hand: one of its devices unlinked, its name
        // edited. Its email, not the applying account's, must come out of the log.
        let ops = "ops@acme.example";
        env.admin(
            Method::POST,
            "/api/users",
            Some(json!({"name": "Ops", "email": ops, "password": "ops-Very-long-1", "administrator": true})),
        )
        .await;
        let max = env.user_id("max@mustermann.at").await;
        let device = env.device_id("BT-000101").await;
        let start = chrono::Utc::now();
        let http = reqwest::Client::new();
        let by_ops = |method: Method, path: &str, body: serde_json::Value| {
            http.request(method, format!("{}{path}", env.url))
                .basic_auth(ops, Some("ops-Very-long-1"))
                .json(&body)
                .send()
        };
        let r = by_ops(
            Method::DELETE,
            "/api/permissions",
            json!({"userId": max, "deviceId": device}),
        )
        .await
        .expect("unlink");
        assert_eq!(r.status(), 204, "{version:?}");
        let mut user = env.user("max@mustermann.at").await.expect("max");
        user["name"] = json!("Max M.");
        let r = by_ops(Method::PUT, &format!("/api/users/{max}"), user)
            .await
            .expect("edit");
        assert_eq!(r.status(), 200, "{version:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, BASE).expect("write");
        let drift = |format: &str| {
            run(env
                .admin_bin()
                .args(["drift", "--format", format, "-f"])
                .arg(&file))
        };
        let json_run = drift("json");
        let end = chrono::Utc::now();
        assert_eq!(
            json_run.code, 3,
            "{version:?}: {}{}",
            json_run.stdout, json_run.stderr
        );
        let report: serde_json::Value = serde_json::from_str(&json_run.stdout).expect("json");
        let entries = report["audit"]["max@mustermann.at"]
            .as_array()
            .unwrap_or_else(|| panic!("{version:?}: no audit entries for max: {report}"));
        // Newest first: the edit, then the unlink, told apart from the apply's own rows (the
        // create of max, its links, and the manager's managedUser link, which is not about max).
        let first: Vec<(&str, &str)> = entries
            .iter()
            .take(2)
            .map(|e| {
                (
                    e["by"].as_str().unwrap_or_default(),
                    e["action"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            first,
            [(ops, "edit"), (ops, "unlink device")],
            "{version:?}: {report}"
        );
        for e in entries.iter().take(2) {
            let time = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap_or_default())
                .unwrap_or_else(|err| panic!("{version:?}: time ({err}): {e}"));
            assert!(
                start <= time && time <= end,
                "{version:?}: {e} outside {start}..{end}"
            );
        }
        assert!(
            entries.iter().skip(2).all(|e| e["by"] != ops),
            "{version:?}: {report}"
        );
        assert!(
            entries.iter().all(|e| e["action"] != "link managedUser"),
            "{version:?}: the manager's link is the manager's: {report}"
        );
        // Only drifted users are looked up.
        assert!(
            report["audit"].get("erika@example.at").is_none(),
            "{report}"
        );

        let text_run = drift("text");
        assert_eq!(text_run.code, 3, "{version:?}: {}", text_run.stderr);
        let time = entries[1]["time"].as_str().unwrap_or_default();
        assert!(
            text_run.stdout.contains(&format!(
                "  max@mustermann.at: {time} by {ops} (unlink device)"
            )),
            "{version:?}: {}",
            text_run.stdout
        );
    }
}

#[tokio::test]
async fn observation_10_a_managers_create_with_a_device_limit_is_refused_at_plan_time() {
    let env = env().await;
    let text = plan_error(&env, true, &riders(0..1, "    deviceLimit: 5\n")).await;
    assert!(text.contains("deviceLimit 5"), "{text}");
    assert!(text.contains("Administrator access required"), "{text}");
    assert!(!text.contains("will set 0"), "{text}");
    // What the plan refuses, the server refuses too.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/users", env.url))
        .basic_auth(
            DEMO_MANAGER,
            Some(crate::e2e::password(&env.manager)),
        )
        .json(&json!({"name": "r", "email": "r@x.test", "password": "x-Very-long-1", "deviceLimit": 5}))
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 400);
    assert!(
        raw.text()
            .await
            .expect("body")
            .contains("Administrator access required")
    );
}
