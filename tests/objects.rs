//! Devices and groups managed by the fleet file (`devices:`, `groups:`) against the sandbox,
//! which serves them as a real Traccar does (full-replace PUT, the creator's automatic link,
//! duplicate link rows): create, update with what fleetform does not manage kept, adopt, prune
//! of groups, devices never deleted, the billing account, plan-time refusals, exact requests.

use std::collections::BTreeMap;

use fleetform::apply;
use fleetform::backend::traccar::api::Credentials;
use fleetform::cmd::demo::DEMO_MANAGER;
use fleetform::core::model::Action;
use serde_json::{Value as Json, json};
use traccar_sandbox::{ObjectType, TraccarVersion};

use crate::e2e::{Env, env, env_version, fleet};

const HEAD: &str = "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\n";

/// The file's text: the header, then `rest`.
fn file(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

/// Every object of a kind as the administrator lists them (`all=true`).
async fn all(env: &Env, kind: &str) -> Vec<Json> {
    env.all(kind).await
}

async fn device(env: &Env, unique_id: &str) -> Option<Json> {
    all(env, "devices")
        .await
        .into_iter()
        .find(|d| d["uniqueId"] == unique_id)
}

async fn group(env: &Env, name: &str) -> Option<Json> {
    all(env, "groups")
        .await
        .into_iter()
        .find(|g| g["name"] == name)
}

async fn group_id(env: &Env, name: &str) -> i64 {
    group(env, name).await.expect("group")["id"]
        .as_i64()
        .expect("id")
}

/// Whether a user→object link row exists; asserts that no pair is stored twice.
fn linked(env: &Env, user: i64, property: ObjectType, id: i64) -> bool {
    env.link_rows(ObjectType::User, property)
        .contains(&(user, id))
}

/// An object's attributes without fleetform's applied record, which must be there
/// (`v1:<digest>:<fields>`).
fn without_record(attributes: &Json) -> Json {
    let mut out = attributes.clone();
    let record = out
        .as_object_mut()
        .and_then(|a| a.remove("fleetformApplied"))
        .unwrap_or_default();
    assert!(
        record.as_str().is_some_and(|r| r.starts_with("v1:")),
        "no applied record in {attributes}"
    );
    out
}

async fn replan_is_empty(env: &Env, credentials: &Credentials, yaml: &str) {
    let again = env.plan_as(credentials, yaml).await.expect("plan");
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
}

#[tokio::test]
async fn objects_are_created_parents_first_updated_in_place_and_replan_empty() {
    for version in [
        TraccarVersion::V6_14,
        TraccarVersion::V6_9,
        TraccarVersion::V5_12,
    ] {
        created_updated_and_replanned(env_version(version).await).await;
    }
}

async fn created_updated_and_replanned(env: Env) {
    // Changes made by hand that the file does not manage: they must survive the update.
    let bike = device(&env, "BT-000101").await.expect("seeded");
    let id = bike["id"].as_i64().expect("id");
    let mut edited = bike.clone();
    edited["model"] = json!("M1");
    edited["attributes"] = json!({"notificationTokens": "tok"});
    edited["expirationTime"] = json!("2030-01-01T00:00:00.000+00:00");
    env.admin(
        reqwest::Method::PUT,
        &format!("/api/devices/{id}"),
        Some(edited),
    )
    .await;

    let yaml = file(
        r#"groups:
  Vienna: {}
  Linz: { parent: Vienna-North }
  Vienna-North: { parent: Vienna, attributes: { depot: north } }
devices:
  BT-000200: { name: Bike 200, group: Linz, category: bicycle, attributes: { frame: L } }
  BT-000101: { name: Bike 101 renamed, group: Vienna-North, phone: "+43 1" }
users:
  - email: rider@acme.example
    devices: [BT-000200]
    groups: [Vienna-North]
"#,
    );
    let plan = env.plan(&yaml).await;
    let order: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    let at = |s: &str| {
        order
            .iter()
            .position(|a| a == s)
            .unwrap_or_else(|| panic!("{s}: {order:#?}"))
    };
    assert!(
        at("create group Vienna-North") < at("create group Linz"),
        "{order:#?}"
    );
    assert!(
        at("create group Linz") < at("create device BT-000200"),
        "{order:#?}"
    );
    assert!(at("create device BT-000200") < at("link device BT-000200 to rider@acme.example"));
    assert!(
        order.contains(&"update group Vienna".to_string()),
        "adopted: {order:#?}"
    );
    env.apply(&yaml).await;

    let north = group(&env, "Vienna-North").await.expect("created");
    let linz = group(&env, "Linz").await.expect("created");
    assert_eq!(north["groupId"], group_id(&env, "Vienna").await);
    assert_eq!(linz["groupId"], north["id"]);
    assert_eq!(
        without_record(&north["attributes"]),
        json!({"depot": "north", "fleetform": "acme-bikes"})
    );
    assert_eq!(
        group(&env, "Vienna").await.expect("seeded")["attributes"]["fleetform"],
        "acme-bikes"
    );

    let new = device(&env, "BT-000200").await.expect("created");
    assert_eq!(new["name"], "Bike 200");
    assert_eq!(new["groupId"], linz["id"]);
    assert_eq!(new["category"], "bicycle");
    assert_eq!(
        without_record(&new["attributes"]),
        json!({"frame": "L", "fleetform": "acme-bikes"})
    );

    let updated = device(&env, "BT-000101").await.expect("kept");
    assert_eq!(updated["name"], "Bike 101 renamed");
    assert_eq!(updated["groupId"], north["id"]);
    assert_eq!(updated["phone"], "+43 1");
    // Read-modify-write: what the file does not manage is as it was.
    assert_eq!(updated["model"], "M1");
    assert_eq!(updated["attributes"]["notificationTokens"], "tok");
    assert_eq!(updated["attributes"]["fleetform"], "acme-bikes");
    assert!(
        updated["expirationTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2030-01-01")),
        "{updated}"
    );

    // The billing account holds what the administrator created for it, each link once.
    let manager = env.user_id(DEMO_MANAGER).await;
    let new_id = new["id"].as_i64().expect("id");
    assert!(linked(&env, manager, ObjectType::Device, new_id));
    assert!(linked(
        &env,
        manager,
        ObjectType::Group,
        linz["id"].as_i64().expect("id")
    ));
    let rider = env.user_id("rider@acme.example").await;
    assert!(linked(&env, rider, ObjectType::Device, new_id));
    replan_is_empty(&env, &env.admin, &yaml).await;

    // A change of fields and a move, applied to the same objects.
    let moved = yaml
        .replace("Linz: { parent: Vienna-North }", "Linz: { parent: Vienna }")
        .replace("category: bicycle", "category: car");
    let plan = env.plan(&moved).await;
    assert_eq!(plan.summary().update_object, 2, "{:?}", plan.actions);
    env.apply(&moved).await;
    assert_eq!(
        group(&env, "Linz").await.expect("kept")["groupId"],
        group_id(&env, "Vienna").await
    );
    assert_eq!(
        device(&env, "BT-000200").await.expect("kept")["category"],
        "car"
    );
    replan_is_empty(&env, &env.admin, &moved).await;
}

#[tokio::test]
async fn unmarked_objects_are_adopted_and_the_plan_says_so() {
    let env = env().await;
    let yaml = file("groups:\n  Graz: {}\ndevices:\n  BT-000107: { group: Graz }\n");
    let mut out = Vec::new();
    fleetform::render(
        &env.plan(&yaml).await,
        fleetform::views::render::Format::Text,
        false,
        &mut out,
    )
    .expect("render");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("~ group Graz (adopt into fleet acme-bikes)"),
        "{text}"
    );
    assert!(
        text.contains("~ device BT-000107 (adopt into fleet acme-bikes)"),
        "{text}"
    );
    env.apply(&yaml).await;
    assert_eq!(
        device(&env, "BT-000107").await.expect("seeded")["attributes"]["fleetform"],
        "acme-bikes"
    );
    replan_is_empty(&env, &env.admin, &yaml).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marked_groups_that_leave_the_file_are_pruned_but_devices_never() {
    let env = env().await;
    let first = file(
        "groups:\n  Old: {}\n  Kept: {}\ndevices:\n  BT-000300: { group: Old }\n  BT-000101: {}\n",
    );
    env.apply(&first).await;
    let old_id = group_id(&env, "Old").await;
    assert_eq!(
        device(&env, "BT-000300").await.expect("created")["groupId"],
        old_id
    );

    // prune: keep leaves both.
    let keep = first
        .replace("prune: delete", "prune: keep")
        .replace("  Old: {}\n", "")
        .replace("{ group: Old }", "{}");
    let plan = env.plan(&keep).await;
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::DeleteObject { .. })),
        "{:?}",
        plan.actions
    );

    // prune: delete removes the marked group; the devices that left the file stay.
    let second = file("groups:\n  Kept: {}\ndevices: {}\n");
    let plan = env.plan(&second).await;
    let deletes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::DeleteObject { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(deletes, ["delete group Old"]);
    // The plan shows what the server does on its own: the device that stays loses its group,
    // the billing account (linked to what the administrator created for it) loses its link.
    let mut text = Vec::new();
    fleetform::views::render::text(&plan, &mut text, false).expect("text");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        text.contains("      by the server: device BT-000300: group Old -> none\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "      by the server: {DEMO_MANAGER}: loses its link to it\n"
        )),
        "{text}"
    );
    let json = fleetform::views::render::json(&plan);
    let delete = json["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["action"] == "delete_object")
        .expect("delete");
    assert_eq!(
        delete["cascades"][0], "device BT-000300: group Old -> none",
        "{delete}"
    );
    let mut markdown = Vec::new();
    fleetform::views::render::markdown(&plan, &mut markdown).expect("markdown");
    let markdown = String::from_utf8(markdown).expect("utf-8");
    assert!(
        markdown.contains("- by the server: `device BT-000300: group Old -> none`"),
        "{markdown}"
    );
    // A saved plan keeps the cascade lines and applies (its actions decode exactly).
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, saved) = (dir.path().join("fleet.yaml"), dir.path().join("plan.json"));
    std::fs::write(&path, &second).expect("write");
    let run = crate::gitops::fleetform(&env, &["plan", "--out"], &[&saved, "-f".as_ref(), &path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let show = crate::gitops::fleetform(&env, &["show"], &[&saved]);
    assert!(
        show.stdout
            .contains("by the server: device BT-000300: group Old -> none"),
        "{}{}",
        show.stdout,
        show.stderr
    );
    let run = crate::gitops::fleetform(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(group(&env, "Old").await.is_none());
    assert!(group(&env, "Kept").await.is_some());
    // The seeded, unmarked groups are never the fleet's to delete.
    assert!(group(&env, "Vienna").await.is_some() && group(&env, "Graz").await.is_some());
    let orphan = device(&env, "BT-000300").await.expect("never deleted");
    assert!(orphan["groupId"].as_i64().unwrap_or(0) == 0, "{orphan}");
    assert!(device(&env, "BT-000101").await.is_some());
    replan_is_empty(&env, &env.admin, &second).await;
}

#[tokio::test]
async fn run_as_the_billing_account_what_it_creates_stays_linked_to_it() {
    let env = env().await;
    let yaml = "version: 1\nfleet: acme-bikes\ngroups:\n  Vienna: {}\n  Depot: { parent: Vienna }\ndevices:\n  BT-000400: { name: Bike 400, group: Depot }\n";
    let report = env.apply_as(&env.manager, yaml).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let manager = env.user_id(DEMO_MANAGER).await;
    let device = device(&env, "BT-000400").await.expect("created")["id"]
        .as_i64()
        .expect("id");
    // The server links the creator: the device and group are the billing account's.
    assert!(linked(&env, manager, ObjectType::Device, device));
    assert!(linked(
        &env,
        manager,
        ObjectType::Group,
        group_id(&env, "Depot").await
    ));
    replan_is_empty(&env, &env.manager, yaml).await;
}

#[tokio::test]
async fn what_a_manager_may_not_do_is_refused_before_any_write() {
    let env = env().await;
    // The manager sees the 12 seeded devices; a limit of 13 leaves room for one create.
    let manager = env.user(DEMO_MANAGER).await.expect("manager");
    let id = manager["id"].as_i64().expect("id");
    env.sandbox.seed(|store| store.set_limits(id, 13, -1));
    let yaml = "version: 1\nfleet: acme-bikes\ndevices:\n  BT-000500: {}\n  BT-000501: {}\n";
    env.sandbox.reset_stats();
    let err = env
        .plan_as(&env.manager, yaml)
        .await
        .expect_err("over the limit");
    let message = format!("{err:#}");
    assert!(
        message.contains("fleet.yaml:4:3: device BT-000500: the plan makes fleet@acme.example see 14 devices, over its deviceLimit 13"),
        "{message}"
    );
    assert!(
        env.sandbox
            .stats()
            .by_route
            .keys()
            .all(|r| r.starts_with("GET ") || r == "POST /api/session")
    );
    assert!(
        env.plan_as(&env.manager, &yaml.replace("  BT-000501: {}\n", ""))
            .await
            .is_ok()
    );

    env.put_user(DEMO_MANAGER, |u| u["deviceReadonly"] = json!(true))
        .await;
    let err = env
        .plan_as(&env.manager, yaml)
        .await
        .expect_err("deviceReadonly");
    assert!(
        format!("{err:#}").contains("is deviceReadonly, so it may not create devices"),
        "{err:#}"
    );
}

#[tokio::test]
async fn references_to_nothing_are_refused_where_they_are_written() {
    let env = env().await;
    // No `groups:` section: the group is asked of the server.
    let yaml = file("devices:\n  BT-000101: { group: Nowhere }\n");
    let err = env
        .plan_as(&env.admin, &yaml)
        .await
        .expect_err("unknown group");
    assert!(
        format!("{err:#}").contains(
            "fleet.yaml:6:3: device BT-000101: its group Nowhere does not exist on the server (or the account cannot see it)"
        ),
        "{err:#}"
    );
    // Named twice on the server: ambiguous, never guessed.
    env.admin(
        reqwest::Method::POST,
        "/api/groups",
        Some(json!({"name": "Graz"})),
    )
    .await;
    let err = env
        .plan_as(&env.admin, &file("groups:\n  Graz: {}\n"))
        .await
        .expect_err("ambiguous");
    assert!(
        format!("{err:#}").contains("group Graz: several groups on the server have this name"),
        "{err:#}"
    );
}

/// Managing devices and groups costs one read, the calendars' list (the names of the devices'
/// `calendar`), made alongside the others: devices and groups come with the lists already
/// read. Writes: one POST per create, a GET and a PUT per update, links to the manager in bulk.
#[tokio::test]
async fn objects_cost_one_request_per_write_and_none_per_read() {
    let env = env_version(TraccarVersion::V6_14).await;
    let yaml = file(
        "groups:\n  A: {}\n  B: { parent: A }\ndevices:\n  BT-000600: { group: B }\n  BT-000101: { name: Renamed }\n",
    );
    env.sandbox.reset_stats();
    let b = env.backend(&env.admin).await;
    let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
        .await
        .expect("plan");
    let report = apply::apply(&b, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let expected: BTreeMap<String, u64> = [
        ("POST /api/session", 1),
        ("GET /api/server", 1),
        ("GET /api/users", 2), // the list, and the manager's managed users
        ("GET /api/devices", 1),
        ("GET /api/groups", 1),
        ("GET /api/calendars", 1),
        ("GET /api/permissions", 2),
        ("POST /api/groups", 2),
        ("POST /api/devices", 1),
        ("GET /api/devices/{id}", 1),
        ("PUT /api/devices/{id}", 1),
        // The new device and the two new groups to the billing account: one batch per kind.
        ("POST /api/permissions/bulk", 2),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_string(), n))
    .collect();
    assert_eq!(env.sandbox.stats().by_route, expected);

    // A plan with the sections reads exactly what one without them reads, and the calendars.
    let plain = "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\n";
    let mut reads = Vec::new();
    for yaml in [plain.to_string(), yaml] {
        env.sandbox.reset_stats();
        let b = env.backend(&env.admin).await;
        let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
            .await
            .expect("plan");
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        reads.push(env.sandbox.stats().by_route);
    }
    assert_eq!(reads[1].get("GET /api/calendars"), Some(&1));
    reads[1].remove("GET /api/calendars");
    assert_eq!(reads[0], reads[1]);
}

/// A POST whose answer was lost may have created the object: it is looked up by key before
/// anything is sent again, so there is never a second device or group.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_not_sent_twice() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use traccar_sandbox::{Fault, FaultHook};
    for (route, fault) in [
        ("POST /api/groups", Fault::AnswerLost),
        ("POST /api/devices", Fault::AnswerLost),
        ("POST /api/devices", Fault::Drop),
    ] {
        let env = env().await;
        let yaml = file("groups:\n  North: {}\ndevices:\n  BT-000700: { group: North }\n");
        let options = fleetform::backend::traccar::Options {
            retry: fleetform::backend::traccar::api::RetryPolicy {
                max_attempts: 5,
                base_delay: std::time::Duration::from_millis(5),
                max_delay: std::time::Duration::from_millis(20),
                max_retry_after: std::time::Duration::from_millis(20),
            },
            ..Default::default()
        };
        let b = fleetform::backend::traccar::TraccarBackend::connect(&env.url, &env.admin, options)
            .await
            .expect("connect");
        let plan = fleetform::make_plan(&b, &fleet(&yaml).desired)
            .await
            .expect("plan");
        let fired = Arc::new(AtomicBool::new(false));
        let once = fault.clone();
        let hook: FaultHook = Arc::new(move |info| {
            (info.route == route && !fired.swap(true, Ordering::SeqCst)).then(|| once.clone())
        });
        env.sandbox.set_fault_hook(Some(hook));
        let report = apply::apply(&b, &plan, &mut Vec::new()).await;
        env.sandbox.set_fault_hook(None);
        assert!(
            report.is_success(),
            "{route} {fault:?}: {:?}",
            report.failed
        );
        let groups = all(&env, "groups")
            .await
            .iter()
            .filter(|g| g["name"] == "North")
            .count();
        let devices = all(&env, "devices")
            .await
            .iter()
            .filter(|d| d["uniqueId"] == "BT-000700")
            .count();
        assert_eq!((groups, devices), (1, 1), "{route} {fault:?}");
        assert_eq!(
            device(&env, "BT-000700").await.expect("created")["groupId"],
            group_id(&env, "North").await
        );
        replan_is_empty(&env, &env.admin, &yaml).await;
    }
}

/// The binary's export, as the demo administrator.
fn export(env: &Env, args: &[&str]) -> crate::e2e::Run {
    crate::e2e::run(
        env.admin_bin()
            .args(["export", "--fleet", "acme-bikes"])
            .args(args),
    )
}

/// Export writes the fleet's devices and groups, and planning the exported file changes
/// nothing; `--scope all` adds the unmarked ones (which a plan would adopt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_sections_and_the_round_trip_plans_nothing() {
    let env = env().await;
    let yaml = file(
        r#"groups:
  Vienna: {}
  Vienna-North: { parent: Vienna, attributes: { depot: north } }
devices:
  BT-000101: { name: "Bike 101", group: Vienna-North, category: bicycle, phone: "0664 1" }
  BT-000800: { group: Vienna }
users:
  - email: rider@acme.example
    devices: [BT-000800]
    groups: [Vienna-North]
"#,
    );
    env.apply(&yaml).await;
    let managed = export(&env, &[]);
    assert_eq!(managed.code, 0, "{}", managed.stderr);
    let text = managed.stdout;
    let loaded =
        fleetform::config::parse(&text, "exported.yaml").unwrap_or_else(|p| panic!("{p}\n{text}"));
    let objects = &loaded.desired.objects;
    let keys = |kind: &str| -> Vec<String> {
        objects
            .iter()
            .find(|(k, _)| k.name() == kind)
            .map(|(_, o)| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys("group"), ["Vienna", "Vienna-North"], "{text}");
    assert_eq!(keys("device"), ["BT-000101", "BT-000800"], "{text}");
    assert!(text.contains("    parent: \"Vienna\""), "{text}");
    assert!(text.contains("    phone: \"0664 1\""), "{text}");
    assert!(!text.contains("fleetform: "), "no marker: {text}");
    // The round trip: the exported file plans nothing, nor with the manager added back.
    replan_is_empty(&env, &env.admin, &text).await;
    let exported = text.replace("prune: keep", "prune: keep\nmanager: fleet@acme.example");
    replan_is_empty(&env, &env.admin, &exported).await;

    // `--scope all` also lists the seeded, unmarked groups and devices: a plan adopts them.
    let all = export(&env, &["--scope", "all"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let loaded = fleetform::config::parse(&all.stdout, "all.yaml").expect("valid");
    let everything = loaded
        .desired
        .objects
        .values()
        .map(|o| o.len())
        .sum::<usize>();
    // 3 groups (Vienna, Vienna-North, Graz) and 13 devices.
    assert_eq!(everything, 16, "{}", all.stdout);
    let plan = env.plan_as(&env.admin, &all.stdout).await.expect("plan");
    assert!(
        plan.actions.iter().all(
            // The adoption also writes the object's applied record, nothing else.
            |a| matches!(a, Action::UpdateObject { adopt: true, changes, .. }
                if changes.iter().all(|c| c.field.name() == "attributes.fleetformApplied"))
        ),
        "only adoptions: {:?}",
        plan.actions
    );
}

/// The binary as the demo administrator, with files.
fn fleetform_bin(env: &Env, args: &[&str], paths: &[&std::path::Path]) -> crate::e2e::Run {
    crate::e2e::run(env.admin_bin().args(args).args(paths))
}

/// A saved plan with object actions applies as reviewed, and is refused, with nothing applied,
/// when a device it read changed since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_carry_object_actions_and_notice_object_changes() {
    use std::path::Path;
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file_path = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    let yaml =
        file("groups:\n  North: {}\ndevices:\n  BT-000101: { name: Bike 101, group: North }\n");
    std::fs::write(&file_path, &yaml).expect("write");
    let args = ["plan", "--out"];
    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    // A hand edit of a device the plan read makes it stale.
    let mut bike = device(&env, "BT-000101").await.expect("seeded");
    let id = bike["id"].as_i64().expect("id");
    bike["model"] = json!("changed by hand");
    env.admin(
        reqwest::Method::PUT,
        &format!("/api/devices/{id}"),
        Some(bike),
    )
    .await;
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply
            .stderr
            .contains("device BT-000101 changed since the plan"),
        "{}",
        apply.stderr
    );
    assert!(group(&env, "North").await.is_none(), "nothing was applied");

    // Planned again, the saved plan applies: objects first, then the manager's links.
    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert_eq!(
        device(&env, "BT-000101").await.expect("kept")["groupId"],
        group_id(&env, "North").await
    );
    replan_is_empty(&env, &env.admin, &yaml).await;
}

async fn geofence(env: &Env, name: &str) -> Option<Json> {
    all(env, "geofences")
        .await
        .into_iter()
        .find(|g| g["name"] == name)
}

/// Geofences (`geofences:`), on 6.14 and 6.9: created with the marker, an unmarked one adopted
/// with what the file does not manage kept (the PUT replaces the whole object), updated in
/// place, pruned once marked and gone from the file, exported and planned back to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geofences_are_created_adopted_updated_pruned_and_exported() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        geofences_round(env_version(version).await).await;
    }
}

async fn geofences_round(env: Env) {
    // Drawn by hand: a calendar and an attribute the file does not manage must survive.
    let calendar = env
        .admin(
            reqwest::Method::POST,
            "/api/calendars",
            Some(json!({
                "name": "workdays",
                "data": "QkVHSU46VkNBTEVOREFSDQpWRVJTSU9OOjIuMA0KUFJPRElEOnRlc3QNCkJFR0lOOlZFVkVOVA0KVUlEOjENCkRUU1RBUlQ6MjAyNjAxMDFUMDgwMDAwWg0KRFRFTkQ6MjAyNjAxMDFUMTcwMDAwWg0KUlJVTEU6RlJFUT1XRUVLTFkNClNVTU1BUlk6d29yaw0KRU5EOlZFVkVOVA0KRU5EOlZDQUxFTkRBUg0K"
            })),
        )
        .await;
    let calendar_id = calendar["id"].as_i64().expect("calendar id");
    env.admin(
        reqwest::Method::POST,
        "/api/geofences",
        Some(json!({
            "name": "depot-linz",
            "area": "CIRCLE (48.3 14.28, 100)",
            "calendarId": calendar_id,
            "attributes": {"color": "red"}
        })),
    )
    .await;

    let yaml = file(
        r#"geofences:
  depot-vienna: { area: "CIRCLE (48.2082 16.3738, 200)", description: Main depot, attributes: { speedLimit: 30 } }
  depot-linz: { description: Linz }
"#,
    );
    let plan = env.plan(&yaml).await;
    let lines: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(&"create geofence depot-vienna".to_string()),
        "{lines:#?}"
    );
    assert!(
        plan.actions.iter().any(|a| matches!(
            a,
            Action::UpdateObject { key, adopt: true, .. } if key == "depot-linz"
        )),
        "adopted: {lines:#?}"
    );
    env.apply(&yaml).await;
    let vienna = geofence(&env, "depot-vienna").await.expect("created");
    assert_eq!(vienna["area"], "CIRCLE (48.2082 16.3738, 200)");
    assert_eq!(vienna["description"], "Main depot");
    assert_eq!(vienna["attributes"]["speedLimit"], 30);
    assert_eq!(vienna["attributes"]["fleetform"], "acme-bikes");
    let linz = geofence(&env, "depot-linz").await.expect("kept");
    assert_eq!(linz["description"], "Linz");
    assert_eq!(linz["area"], "CIRCLE (48.3 14.28, 100)", "unmanaged, kept");
    assert_eq!(linz["calendarId"], calendar_id, "unmanaged, kept");
    assert_eq!(linz["attributes"]["color"], "red", "unmanaged, kept");
    assert_eq!(linz["attributes"]["fleetform"], "acme-bikes", "adopted");
    replan_is_empty(&env, &env.admin, &yaml).await;

    // Export writes the section, and the exported file plans nothing.
    let exported = export(&env, &[]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(
        exported.stdout.contains("geofences:"),
        "{}",
        exported.stdout
    );
    assert!(
        exported
            .stdout
            .contains("area: \"CIRCLE (48.2082 16.3738, 200)\""),
        "{}",
        exported.stdout
    );
    replan_is_empty(&env, &env.admin, &exported.stdout).await;

    // Updated in place; the marked one that left the file is deleted (prune: delete).
    let second = file(
        "geofences:\n  depot-vienna: { area: \"POLYGON ((48.2 16.3, 48.3 16.3, 48.3 16.4))\", description: null }\n",
    );
    let plan = env.plan(&second).await;
    let mut lines: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["delete geofence depot-linz", "update geofence depot-vienna"],
        "{lines:#?}"
    );
    env.apply(&second).await;
    let vienna_after = geofence(&env, "depot-vienna").await.expect("kept");
    assert_eq!(vienna_after["id"], vienna["id"], "updated in place");
    assert_eq!(
        vienna_after["area"],
        "POLYGON ((48.2 16.3, 48.3 16.3, 48.3 16.4))"
    );
    assert!(vienna_after["description"].is_null());
    assert_eq!(
        vienna_after["attributes"]["speedLimit"], 30,
        "unmanaged now, kept"
    );
    assert!(geofence(&env, "depot-linz").await.is_none(), "pruned");
    replan_is_empty(&env, &env.admin, &second).await;
}

/// What the server would store without a word is refused where the file says it: an area that
/// is not a CIRCLE/POLYGON/LINESTRING with coordinates in range, a new geofence without one.
#[tokio::test]
async fn geofence_areas_are_checked_where_they_are_written() {
    let env = env().await;
    let invalid = |yaml: String| match fleetform::config::parse(&yaml, "fleet.yaml") {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(problems) => problems.to_string(),
    };
    let err = invalid(file(
        "geofences:\n  depot: { area: \"CIRCLE (91 16.3, 200)\" }\n",
    ));
    assert!(
        err.contains(
            "fleet.yaml:6:18: geofence depot: the latitude 91 of the point \"91 16.3\" is out of range"
        ),
        "{err}"
    );
    let err = invalid(file("geofences:\n  depot: { area: garbage }\n"));
    assert!(
        err.contains("fleet.yaml:6:18: geofence depot: `area` must be a CIRCLE"),
        "{err}"
    );
    let err = env
        .plan_as(
            &env.admin,
            &file("geofences:\n  depot: { description: x }\n"),
        )
        .await
        .expect_err("no area");
    assert!(
        format!("{err:#}").contains(
            "fleet.yaml:6:3: geofence depot: is not on the server and a new geofence needs `area`"
        ),
        "{err:#}"
    );
    assert!(geofence(&env, "depot").await.is_none(), "nothing written");
}

/// Geofences cost one list read, made in the first round with the other lists, and only when
/// the section (or a user's `geofences:` list) is given, plus one for the billing account's
/// geofences with `manager:`; writes: a POST per create, a GET and a PUT per update, a DELETE per
/// prune.
#[tokio::test]
async fn geofences_cost_one_read_and_one_request_per_write() {
    let env = env_version(TraccarVersion::V6_14).await;
    let first = file(
        "geofences:\n  a: { area: \"CIRCLE (1 1, 5)\" }\n  b: { area: \"LINESTRING (1 1, 2 2)\" }\n",
    );
    env.sandbox.reset_stats();
    let b = env.backend(&env.admin).await;
    let plan = fleetform::make_plan(&b, &fleet(&first).desired)
        .await
        .expect("plan");
    let report = apply::apply(&b, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let stats = env.sandbox.stats().by_route;
    // The list, and the billing account's geofences (`manager:`).
    assert_eq!(stats.get("GET /api/geofences"), Some(&2), "{stats:#?}");
    assert_eq!(stats.get("POST /api/geofences"), Some(&2), "{stats:#?}");
    // Both new geofences to the billing account, in one batch.
    assert_eq!(
        stats.get("POST /api/permissions/bulk"),
        Some(&1),
        "{stats:#?}"
    );

    let second = file("geofences:\n  a: { description: changed }\n");
    env.sandbox.reset_stats();
    let b = env.backend(&env.admin).await;
    let plan = fleetform::make_plan(&b, &fleet(&second).desired)
        .await
        .expect("plan");
    let report = apply::apply(&b, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let geofence_routes: BTreeMap<String, u64> = env
        .sandbox
        .stats()
        .by_route
        .into_iter()
        .filter(|(route, _)| route.contains("geofences"))
        .collect();
    let expected: BTreeMap<String, u64> = [
        ("GET /api/geofences", 2),
        ("GET /api/geofences/{id}", 1),
        ("PUT /api/geofences/{id}", 1),
        ("DELETE /api/geofences/{id}", 1),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_string(), n))
    .collect();
    assert_eq!(geofence_routes, expected);

    // Without the section, geofences are not read at all.
    env.sandbox.reset_stats();
    let b = env.backend(&env.admin).await;
    fleetform::make_plan(&b, &fleet(HEAD).desired)
        .await
        .expect("plan");
    let stats = env.sandbox.stats().by_route;
    assert!(
        !stats.keys().any(|route| route.contains("geofences")),
        "{stats:#?}"
    );
}

/// Users' `geofences:` lists, on 6.14 (where /api/permissions cannot read these links) and 6.9:
/// complete when given (a hand-made link the list leaves out is removed, no duplicate rows),
/// not managed when left out; the billing account is linked to the fleet's geofences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_geofence_lists_are_complete_when_given_and_unmanaged_when_left_out() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        geofence_links_round(env_version(version).await).await;
    }
}

async fn geofence_links_round(env: Env) {
    let yaml = |rider: &str| {
        file(&format!(
            r#"geofences:
  depot-a: {{ area: "CIRCLE (48.2 16.3, 100)" }}
  depot-b: {{ area: "CIRCLE (48.3 16.4, 100)" }}
users:
  - email: rider@acme.example
{rider}  - email: other@acme.example
"#
        ))
    };
    let with_a = yaml("    geofences: [depot-a]\n");
    env.apply(&with_a).await;
    let id = |json: Option<Json>| json.expect("geofence")["id"].as_i64().expect("id");
    let a = id(geofence(&env, "depot-a").await);
    let b = id(geofence(&env, "depot-b").await);
    let rider = env.user_id("rider@acme.example").await;
    let other = env.user_id("other@acme.example").await;
    let manager = env.user_id("fleet@acme.example").await;
    assert!(linked(&env, rider, ObjectType::Geofence, a));
    assert!(!linked(&env, rider, ObjectType::Geofence, b));
    assert!(
        linked(&env, manager, ObjectType::Geofence, a),
        "billing account"
    );
    assert!(
        linked(&env, manager, ObjectType::Geofence, b),
        "billing account"
    );
    replan_is_empty(&env, &env.admin, &with_a).await;

    // Linked by hand: the rider's extra link is removed (its list is complete), the other
    // user's is left (it gives no list).
    for user in [rider, other] {
        env.admin(
            reqwest::Method::POST,
            "/api/permissions",
            Some(json!({"userId": user, "geofenceId": b})),
        )
        .await;
    }
    let plan = env.plan(&with_a).await;
    let lines: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["unlink geofence depot-b from rider@acme.example"],
        "{lines:#?}"
    );
    env.apply(&with_a).await;
    assert!(!linked(&env, rider, ObjectType::Geofence, b));
    assert!(linked(&env, other, ObjectType::Geofence, b), "not managed");

    // `[]`: no geofence links.
    let none = yaml("    geofences: []\n");
    env.apply(&none).await;
    assert!(!linked(&env, rider, ObjectType::Geofence, a));
    replan_is_empty(&env, &env.admin, &none).await;

    // A geofence the server does not have, nor the file, is refused where it is listed.
    let err = env
        .plan_as(&env.admin, &yaml("    geofences: [nowhere]\n"))
        .await
        .expect_err("unknown geofence");
    assert!(
        format!("{err:#}").contains("geofence nowhere is not visible"),
        "{err:#}"
    );
}

/// Run as the billing account (a manager), the geofences it creates stay linked to it (the
/// server's creator link, which fleetform keeps), it links them to the users it manages, and
/// the re-plan is empty on 6.14 and 6.9 (per-user reads of a managed user's geofences).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_the_billing_account_geofences_stay_linked_to_it() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        let env = env_version(version).await;
        let yaml = "version: 1\nfleet: acme-bikes\ngeofences:\n  depot: { area: \"CIRCLE (48.2 16.3, 50)\" }\nusers:\n  - email: rider@acme.example\n    geofences: [depot]\n";
        let report = env.apply_as(&env.manager, yaml).await;
        assert!(report.is_success(), "{:?}", report.failed);
        let manager = env.user_id(DEMO_MANAGER).await;
        let rider = env.user_id("rider@acme.example").await;
        let depot = geofence(&env, "depot").await.expect("created")["id"]
            .as_i64()
            .expect("id");
        assert!(
            linked(&env, manager, ObjectType::Geofence, depot),
            "creator"
        );
        assert!(linked(&env, rider, ObjectType::Geofence, depot));
        replan_is_empty(&env, &env.manager, yaml).await;
    }
}

/// A saved plan with geofence links (for a user whose file gives the list) is refused when a
/// geofence link of that user changed since, and applies as reviewed otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_carry_geofence_links_and_notice_their_changes() {
    use std::path::Path;
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file_path = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    let first = file(
        "geofences:\n  a: { area: \"CIRCLE (1 1, 5)\" }\n  b: { area: \"CIRCLE (2 2, 5)\" }\nusers:\n  - email: rider@acme.example\n",
    );
    env.apply(&first).await;
    let yaml = file(
        "geofences:\n  a: { area: \"CIRCLE (1 1, 5)\" }\n  b: { area: \"CIRCLE (2 2, 5)\" }\nusers:\n  - email: rider@acme.example\n    geofences: [a]\n",
    );
    std::fs::write(&file_path, &yaml).expect("write");
    let args = ["plan", "--out"];
    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    // Linked by hand since the plan: the saved plan no longer shows what it would do.
    let rider = env.user_id("rider@acme.example").await;
    let b = geofence(&env, "b").await.expect("b")["id"]
        .as_i64()
        .expect("id");
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"userId": rider, "geofenceId": b})),
    )
    .await;
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply.stderr.contains("rider@acme.example"),
        "{}",
        apply.stderr
    );
    let a = geofence(&env, "a").await.expect("a")["id"]
        .as_i64()
        .expect("id");
    assert!(
        !linked(&env, rider, ObjectType::Geofence, a),
        "nothing applied"
    );

    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert!(linked(&env, rider, ObjectType::Geofence, a));
    assert!(!linked(&env, rider, ObjectType::Geofence, b));
    replan_is_empty(&env, &env.admin, &yaml).await;
}

/// Objects carry an applied record as users do, so `drift` tells a change made by hand on the
/// server (drift) from a change of the file not applied yet (pending), object by object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_tells_an_object_changed_by_hand_from_a_file_change() {
    let env = env().await;
    let yaml = file(
        "devices:\n  BT-000101: { name: Bike 101, category: bicycle }\ngeofences:\n  depot: { area: \"CIRCLE (48.2 16.3, 200)\", description: Main depot }\nusers: []\n",
    );
    env.apply(&yaml).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let report = |yaml: &str| -> (i32, Json) {
        let path = dir.path().join("fleet.yaml");
        std::fs::write(&path, yaml).expect("write");
        let run = crate::gitops::fleetform(&env, &["drift", "--format", "json", "-f"], &[&path]);
        let json = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
        (run.code, json)
    };
    let (code, r) = report(&yaml);
    assert_eq!(code, 0, "{r}");

    // Renamed by hand: drift, about the device, no user named.
    let mut bike = device(&env, "BT-000101").await.expect("device");
    bike["name"] = json!("Renamed");
    let id = bike["id"].as_i64().expect("id");
    env.admin(
        reqwest::Method::PUT,
        &format!("/api/devices/{id}"),
        Some(bike),
    )
    .await;
    let (code, r) = report(&yaml);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["drift"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["drift"][0]["object"], "device BT-000101", "{r}");
    assert!(r["drift"][0].get("email").is_none(), "{r}");
    assert!(
        r["drift"][0]["change"]
            .as_str()
            .is_some_and(|c| c.starts_with("name:")),
        "{r}"
    );
    assert_eq!(r["pending"], json!([]), "{r}");

    // The plan that repairs it shows the change, never the record (bookkeeping, JSON only).
    for format in ["text", "markdown"] {
        let path = dir.path().join("fleet.yaml");
        let run = crate::gitops::fleetform(&env, &["plan", "--format", format, "-f"], &[&path]);
        assert!(
            run.stdout.contains("Renamed"),
            "{}{}",
            run.stdout,
            run.stderr
        );
        assert!(!run.stdout.contains("fleetformApplied"), "{}", run.stdout);
    }

    // The file changes the geofence: pending (the server is as fleetform left it).
    let (code, r) = report(&yaml.replace("Main depot", "North depot"));
    assert_eq!(code, 3, "the device is still drift: {r}");
    assert_eq!(r["pending"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["pending"][0]["object"], "geofence depot", "{r}");
    assert_eq!(
        r["pending"][0]["reason"], "the file changed since the last apply",
        "{r}"
    );
}
