//! GitOps features end to end, against the in-process sandbox and the real binary: each safety
//! refusal and its override, `--target`, several files with `${VAR}`, the markdown report, and
//! `pruneAfter` reading the disabled-at attribute the backend records.

use fleetform::core::model::{Action, DISABLED_AT_ATTRIBUTE};
use serde_json::Value as Json;

use crate::e2e::{Env, Run, env, run};

const TWO_USERS: &str = r#"
version: 1
fleet: acme-bikes
manager: fleet@acme.example
prune: delete
users:
  - email: max@mustermann.at
    name: Max Mustermann
    devices: [BT-000101]
  - email: erika@example.at
    name: Erika Musterfrau
    devices: [BT-000107]
"#;

const NO_USERS: &str =
    "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\nusers: []\n";

/// Runs the binary as the demo admin against `env`'s sandbox.
fn fleetform(env: &Env, args: &[&str]) -> Run {
    run(env
        .admin_bin()
        .args(args)
        .env("RIDER_NAME", "Max from the environment"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_removing_every_managed_user_until_overridden() {
    let env = env().await;
    env.apply(TWO_USERS).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = write(&dir, "fleet.yaml", NO_USERS);

    let refused = fleetform(&env, &["apply", "--auto-approve", "-f", &empty]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("deletes or disables every one of the fleet's 2 managed users"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--allow-mass-removal"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stdout.contains("(delete)  [removed]"),
        "{}",
        refused.stdout
    );
    assert!(
        env.user("max@mustermann.at").await.is_some(),
        "nothing applied"
    );
    assert!(
        env.user("erika@example.at").await.is_some(),
        "nothing applied"
    );

    let forced = fleetform(
        &env,
        &[
            "apply",
            "--auto-approve",
            "--allow-mass-removal",
            "-f",
            &empty,
        ],
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert!(env.user("max@mustermann.at").await.is_none());
    assert!(env.user("erika@example.at").await.is_none());
}

/// A fleet of `n` riders, each with three devices (BT-000101.. cycling).
fn riders(n: usize, devices_each: usize) -> String {
    let mut text = String::from(
        "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\nusers:\n",
    );
    for i in 0..n {
        let devices: Vec<String> = (0..devices_each)
            .map(|d| format!("BT-000{}", 101 + (i + d) % 12))
            .collect();
        text.push_str(&format!(
            "  - email: rider{i}@acme.example\n    devices: [{}]\n",
            devices.join(", ")
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_removing_too_many_users_until_overridden() {
    let env = env().await;
    env.apply(&riders(8, 1)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 of 8 managed users (37%) leave the file: more than 25%.
    let five = write(&dir, "fleet.yaml", &riders(5, 1));
    let refused = fleetform(&env, &["apply", "--auto-approve", "-f", &five]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("deletes or disables 3 of the fleet's 8 managed users (37%)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--allow-mass-removal"),
        "{}",
        refused.stderr
    );
    assert!(
        env.user("rider7@acme.example").await.is_some(),
        "nothing applied"
    );

    let forced = fleetform(
        &env,
        &[
            "apply",
            "--auto-approve",
            "--allow-mass-removal",
            "-f",
            &five,
        ],
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert!(env.user("rider7@acme.example").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_removing_too_many_links_until_overridden() {
    let env = env().await;
    env.apply(&riders(8, 3)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Every rider keeps one of its three devices: 16 of 24 links go (66%), more than 25%.
    let fewer = write(&dir, "fleet.yaml", &riders(8, 1));
    let refused = fleetform(&env, &["apply", "--auto-approve", "-f", &fewer]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("removes 16 of the managed users' 24 device and group links (66%)"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        env.devices_of("rider0@acme.example").await.len(),
        3,
        "nothing applied"
    );

    let forced = fleetform(
        &env,
        &[
            "apply",
            "--auto-approve",
            "--allow-mass-removal",
            "-f",
            &fewer,
        ],
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert_eq!(env.devices_of("rider0@acme.example").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_narrows_plan_and_apply_to_the_named_users() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(&dir, "fleet.yaml", TWO_USERS);

    let plan = fleetform(
        &env,
        &[
            "plan",
            "--format",
            "json",
            "--target",
            "ERIKA@example.at",
            "-f",
            &file,
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let json: Json = serde_json::from_str(&plan.stdout).expect("json");
    let emails: Vec<&str> = json["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["email"].as_str())
        .collect();
    assert_eq!(emails, ["erika@example.at", "erika@example.at"]);
    assert_eq!(json["actions"][0]["risk"], "access_granted");

    let apply = fleetform(
        &env,
        &[
            "apply",
            "--auto-approve",
            "--target",
            "erika@example.at",
            "-f",
            &file,
        ],
    );
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(env.user("erika@example.at").await.is_some());
    assert!(
        env.user("max@mustermann.at").await.is_none(),
        "not targeted"
    );

    let unknown = fleetform(
        &env,
        &["plan", "--target", "nobody@example.at", "-f", &file],
    );
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("--target nobody@example.at"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_files_with_variables_plan_as_one_fleet_in_markdown() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = dir.path().join("fleet.d");
    std::fs::create_dir(&parts).expect("mkdir");
    std::fs::write(
        parts.join("00-base.yaml"),
        "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\n\
         roles:\n  rider: { deviceReadonly: true }\n",
    )
    .expect("write");
    std::fs::write(
        parts.join("10-riders.yaml"),
        "users:\n  - email: max@mustermann.at\n    name: ${RIDER_NAME}\n    role: rider\n",
    )
    .expect("write");
    let parts = parts.display().to_string();

    let plan = fleetform(&env, &["plan", "--format", "markdown", "-f", &parts]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .starts_with("### fleetform plan for fleet `acme-bikes`"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("| create user | 1 |"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("`\"Max from the environment\"`"),
        "{}",
        plan.stdout
    );

    let valid = fleetform(&env, &["validate", "-f", &parts]);
    assert_eq!(valid.code, 0, "{}", valid.stderr);

    // A variable that is not set is a located error naming it.
    let extra = write(
        &dir,
        "extra.yaml",
        "users:\n  - email: x@example.at\n    phone: ${NOT_SET_ANYWHERE}\n",
    );
    let missing = fleetform(&env, &["validate", "-f", &parts, "-f", &extra]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("extra.yaml:3:12: the environment variable NOT_SET_ANYWHERE"),
        "{}",
        missing.stderr
    );
}

/// Marks `email` disabled at `at`, as the backend records it on `DisableUser`.
async fn disable_by_hand(env: &Env, email: &str, at: &str) {
    let mut user = env.user(email).await.expect("user");
    user["disabled"] = Json::Bool(true);
    user["attributes"][DISABLED_AT_ATTRIBUTE] = Json::String(at.into());
    let id = user["id"].as_i64().expect("id");
    env.admin(
        reqwest::Method::PUT,
        &format!("/api/users/{id}"),
        Some(user),
    )
    .await;
}

#[tokio::test]
async fn prune_after_deletes_only_users_disabled_long_enough_ago() {
    let env = env().await;
    env.apply(TWO_USERS).await;
    disable_by_hand(&env, "max@mustermann.at", "2020-01-01T00:00:00Z").await;
    disable_by_hand(&env, "erika@example.at", "2999-01-01T00:00:00Z").await;
    let file = NO_USERS.replace("prune: delete", "prune: disable\npruneAfter: 30d");
    let plan = env.plan(&file).await;
    assert_eq!(
        plan.actions,
        vec![Action::DeleteUser {
            email: "max@mustermann.at".into()
        }]
    );
}
