//! The objects linked to devices and groups (`devices: {BT-1: {geofences: [...]}}`) against
//! the sandbox, which stores a re-POSTed link as a duplicate row as Traccar does: links made
//! and removed by `/api/permissions`, a list left out left alone, no duplicate rows, a saved
//! plan with object links, and empty re-plans, on 6.14 and 6.9.

use std::path::Path;

use fleetform::core::model::Action;
use serde_json::{Value as Json, json};
use traccar_sandbox::{ObjectType, TraccarVersion};

use crate::e2e::{Env, env_version, first, routes_after};

const HEAD: &str = "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\n";

/// The objects every file of these tests manages.
const OBJECTS: &str = r#"geofences:
  depot-vienna: { area: "CIRCLE (48.2 16.3, 200)" }
  depot-linz: { area: "CIRCLE (48.3 14.3, 200)" }
notifications:
  theft-alarm: { type: alarm, alarms: [sos], notificators: [web] }
  online: { type: deviceOnline, notificators: [web] }
"#;

fn file(rest: &str) -> String {
    format!("{HEAD}{OBJECTS}{rest}users: []\n")
}

async fn id_of(env: &Env, path: &str, key: &str, value: &str) -> i64 {
    env.find(path, key, value)
        .await
        .and_then(|o| o["id"].as_i64())
        .unwrap_or_else(|| panic!("no {path} {value}"))
}

/// The ids of the objects of `property` linked to the `owner` object `id`, as the sandbox
/// stores them; asserts that no pair is stored twice.
fn linked(env: &Env, owner: ObjectType, id: i64, property: ObjectType) -> Vec<i64> {
    let mut out: Vec<i64> = env
        .link_rows(owner, property)
        .into_iter()
        .filter(|(o, _)| *o == id)
        .map(|(_, p)| p)
        .collect();
    out.sort();
    out
}

fn lines(plan: &fleetform::core::plan::Plan) -> Vec<String> {
    let mut lines: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    lines.sort();
    lines
}

/// The plan's object links and unlinks, sorted; asserts that its other actions are only
/// updates refreshing the applied record of the objects whose links change.
fn object_links(plan: &fleetform::core::plan::Plan) -> Vec<String> {
    for action in &plan.actions {
        match action {
            Action::LinkObject { .. } | Action::UnlinkObject { .. } => {}
            Action::UpdateObject {
                kind, key, changes, ..
            } => {
                assert!(
                    changes
                        .iter()
                        .all(|c| c.field.name() == "attributes.fleetformApplied"),
                    "{action:?}"
                );
                assert!(
                    plan.actions.iter().any(|a| matches!(
                        a,
                        Action::LinkObject { kind: k, key: o, .. }
                            | Action::UnlinkObject { kind: k, key: o, .. }
                            if k == kind && o == key
                    )),
                    "a record refreshed without a link change: {action:?}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    let mut lines: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::LinkObject { .. } | Action::UnlinkObject { .. }))
        .map(ToString::to_string)
        .collect();
    lines.sort();
    lines
}

async fn replan_is_empty(env: &Env, yaml: &str) {
    let again = env.plan(yaml).await;
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
}

/// Ids of the test's objects, by name.
struct Ids {
    bike: i64,
    new_bike: i64,
    north: i64,
    vienna: i64,
    linz: i64,
    theft: i64,
    online: i64,
}

async fn ids(env: &Env) -> Ids {
    Ids {
        bike: id_of(env, "devices", "uniqueId", "BT-000101").await,
        new_bike: id_of(env, "devices", "uniqueId", "BT-000300").await,
        north: id_of(env, "groups", "name", "Vienna-North").await,
        vienna: id_of(env, "geofences", "name", "depot-vienna").await,
        linz: id_of(env, "geofences", "name", "depot-linz").await,
        theft: id_of(env, "notifications", "description", "theft-alarm").await,
        online: id_of(env, "notifications", "description", "online").await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_groups_link_unlink_and_leave_alone_their_objects() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        links_round(env_version(version).await, false).await;
    }
    // Run as the billing account itself (a manager): the per-owner lists and the links work
    // on what it sees.
    links_round(env_version(TraccarVersion::V6_14).await, true).await;
}

fn applied(report: fleetform::apply::Report) {
    assert!(report.is_success(), "apply failed: {:?}", report.failed);
}

async fn replan_is_empty_as(
    env: &Env,
    who: &fleetform::backend::traccar::api::Credentials,
    yaml: &str,
) {
    let again = env.plan_as(who, yaml).await.expect("plan");
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
}

/// Groups and devices with lists of linked objects: new objects linked to an existing device,
/// a new device and a new group.
const LINKED: &str = r#"groups:
  Vienna: {}
  Vienna-North: { parent: Vienna, geofences: [depot-vienna], notifications: [online] }
devices:
  BT-000101: { name: Bike 101, geofences: [depot-vienna, depot-linz], notifications: [theft-alarm] }
  BT-000300: { name: Bike 300, group: Vienna-North, geofences: [] }
"#;

async fn links_round(env: Env, manager: bool) {
    let who = if manager { &env.manager } else { &env.admin };
    // New objects linked to an existing device, a new device and a new group: the links run
    // after the creates.
    let yaml = file(LINKED);
    let plan = env.plan_as(who, &yaml).await.expect("plan");
    let got = lines(&plan);
    for want in [
        "link geofence depot-vienna to device BT-000101",
        "link geofence depot-linz to device BT-000101",
        "link notification theft-alarm to device BT-000101",
        "link geofence depot-vienna to group Vienna-North",
        "link notification online to group Vienna-North",
    ] {
        assert!(got.contains(&want.to_string()), "{want}: {got:#?}");
    }
    assert!(
        !got.iter().any(|l| l.contains("to device BT-000300")),
        "`[]` on a new device links nothing: {got:#?}"
    );
    let link_count = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::LinkObject { .. }))
        .count();
    assert_eq!(link_count, 5, "{got:#?}");
    assert!(plan.summary().link >= 5, "counted under link");
    applied(env.apply_as(who, &yaml).await);
    let i = ids(&env).await;
    assert_eq!(
        linked(&env, ObjectType::Device, i.bike, ObjectType::Geofence),
        sorted(vec![i.vienna, i.linz])
    );
    assert_eq!(
        linked(&env, ObjectType::Device, i.bike, ObjectType::Notification),
        vec![i.theft]
    );
    assert_eq!(
        linked(&env, ObjectType::Group, i.north, ObjectType::Geofence),
        vec![i.vienna]
    );
    assert_eq!(
        linked(&env, ObjectType::Group, i.north, ObjectType::Notification),
        vec![i.online]
    );
    assert!(linked(&env, ObjectType::Device, i.new_bike, ObjectType::Geofence).is_empty());
    replan_is_empty_as(&env, who, &yaml).await;

    // Linked by hand: an extra geofence of the new device (its list is `[]`: removed), an
    // extra notification of the group (its list is given: removed), an extra notification of
    // BT-000101 (its list is given: removed).
    for (owner, id, property, target) in [
        ("deviceId", i.new_bike, "geofenceId", i.linz),
        ("groupId", i.north, "notificationId", i.theft),
        ("deviceId", i.bike, "notificationId", i.online),
    ] {
        env.admin(
            reqwest::Method::POST,
            "/api/permissions",
            Some(json!({ owner: id, property: target })),
        )
        .await;
    }
    let plan = env.plan_as(who, &yaml).await.expect("plan");
    assert_eq!(
        object_links(&plan),
        vec![
            "unlink geofence depot-linz from device BT-000300".to_string(),
            "unlink notification online from device BT-000101".to_string(),
            "unlink notification theft-alarm from group Vienna-North".to_string(),
        ]
    );
    applied(env.apply_as(who, &yaml).await);
    replan_is_empty_as(&env, who, &yaml).await;
    assert!(linked(&env, ObjectType::Device, i.new_bike, ObjectType::Geofence).is_empty());
    assert_eq!(
        linked(&env, ObjectType::Group, i.north, ObjectType::Notification),
        vec![i.online]
    );

    // Lists left out are left alone; a list changed moves the links; `[]` removes them all.
    let yaml = file(
        r#"groups:
  Vienna: {}
  Vienna-North: { parent: Vienna, geofences: [] }
devices:
  BT-000101: { name: Bike 101, geofences: [depot-linz] }
  BT-000300: { name: Bike 300, group: Vienna-North }
"#,
    );
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"deviceId": i.new_bike, "geofenceId": i.vienna})),
    )
    .await;
    let plan = env.plan_as(who, &yaml).await.expect("plan");
    assert_eq!(
        object_links(&plan),
        vec![
            "unlink geofence depot-vienna from device BT-000101".to_string(),
            "unlink geofence depot-vienna from group Vienna-North".to_string(),
        ],
        "notifications of both and BT-000300's geofences are not managed now"
    );
    applied(env.apply_as(who, &yaml).await);
    replan_is_empty_as(&env, who, &yaml).await;
    assert_eq!(
        linked(&env, ObjectType::Device, i.bike, ObjectType::Geofence),
        vec![i.linz]
    );
    assert_eq!(
        linked(&env, ObjectType::Device, i.bike, ObjectType::Notification),
        vec![i.theft],
        "left alone"
    );
    assert!(linked(&env, ObjectType::Group, i.north, ObjectType::Geofence).is_empty());
    assert_eq!(
        linked(&env, ObjectType::Group, i.north, ObjectType::Notification),
        vec![i.online],
        "left alone"
    );
    assert_eq!(
        linked(&env, ObjectType::Device, i.new_bike, ObjectType::Geofence),
        vec![i.vienna],
        "left alone"
    );
}

/// The binary's export to standard output, as `who` (the administrator or the billing
/// account).
fn export_as(env: &Env, manager: bool) -> String {
    let (email, who) = if manager {
        (fleetform::cmd::demo::DEMO_MANAGER, &env.manager)
    } else {
        (fleetform::cmd::demo::DEMO_ADMIN, &env.admin)
    };
    let run = crate::e2e::run(
        crate::e2e::bin()
            .args(["export", "--fleet", "acme-bikes"])
            .env("TRACCAR_URL", &env.url)
            .env("TRACCAR_EMAIL", email)
            .env("TRACCAR_PASSWORD", crate::e2e::password(who)),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// `text` with the line `    <key>: ...` of the entry `"<entry>"` replaced by `line`.
fn edit_list(text: &str, entry: &str, key: &str, line: &str) -> String {
    let start = text
        .find(&format!("\n  \"{entry}\":\n"))
        .unwrap_or_else(|| panic!("no entry {entry}: {text}"));
    let from = start
        + text[start..]
            .find(&format!("\n    {key}: "))
            .unwrap_or_else(|| panic!("no {key} in {entry}: {text}"))
        + 1;
    let to = from + text[from..].find('\n').expect("line end");
    format!("{}{line}{}", &text[..from], &text[to..])
}

/// Export writes every exported device's and group's lists of linked objects, `[]` included,
/// naming what the server links (a hand-made link, and an unmarked geofence that the
/// `managed` export leaves out of `geofences:`), so the exported file plans nothing; an edit
/// of an exported list plans exactly that link and unlink. As administrator on 6.14 and 6.9,
/// and as the billing account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_devices_and_groups_lists_and_the_round_trip_plans_nothing() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        export_lists_round(env_version(version).await, false).await;
    }
    export_lists_round(env_version(TraccarVersion::V6_14).await, true).await;
}

async fn export_lists_round(env: Env, manager: bool) {
    use fleetform::backend::traccar::rules::{
        DEVICE_OBJECT, DRIVER_OBJECT, GEOFENCE_OBJECT, GROUP_OBJECT, NOTIFICATION_OBJECT,
    };
    let who = if manager { &env.manager } else { &env.admin };
    let yaml = file(LINKED);
    applied(env.apply_as(who, &yaml).await);
    // Drawn and linked by hand, unmarked; the billing account sees it too.
    let hand = env
        .admin(
            reqwest::Method::POST,
            "/api/geofences",
            Some(json!({"name": "hand-drawn", "area": "CIRCLE (48.1 16.1, 50)"})),
        )
        .await["id"]
        .as_i64()
        .expect("id");
    let i = ids(&env).await;
    let billing = env.user_id(fleetform::cmd::demo::DEMO_MANAGER).await;
    for (owner, id) in [("deviceId", i.bike), ("userId", billing)] {
        env.admin(
            reqwest::Method::POST,
            "/api/permissions",
            Some(json!({ owner: id, "geofenceId": hand })),
        )
        .await;
    }

    let text = export_as(&env, manager);
    let loaded =
        fleetform::config::parse(&text, "exported.yaml").unwrap_or_else(|p| panic!("{p}\n{text}"));
    let objects = &loaded.desired.objects;
    let list = |kind, key: &str, target| -> Vec<String> {
        let object = &objects[&kind][key];
        object
            .links
            .get(&target)
            .unwrap_or_else(|| panic!("{kind} {key} has no {target} list: {text}"))
            .iter()
            .cloned()
            .collect()
    };
    assert_eq!(
        list(DEVICE_OBJECT, "BT-000101", GEOFENCE_OBJECT),
        ["depot-linz", "depot-vienna", "hand-drawn"]
    );
    assert_eq!(
        list(DEVICE_OBJECT, "BT-000101", NOTIFICATION_OBJECT),
        ["theft-alarm"]
    );
    assert!(list(DEVICE_OBJECT, "BT-000300", GEOFENCE_OBJECT).is_empty());
    assert!(list(DEVICE_OBJECT, "BT-000300", NOTIFICATION_OBJECT).is_empty());
    assert_eq!(
        list(GROUP_OBJECT, "Vienna-North", GEOFENCE_OBJECT),
        ["depot-vienna"]
    );
    assert_eq!(
        list(GROUP_OBJECT, "Vienna-North", NOTIFICATION_OBJECT),
        ["online"]
    );
    assert!(list(GROUP_OBJECT, "Vienna", GEOFENCE_OBJECT).is_empty());
    assert!(
        !objects[&DEVICE_OBJECT]["BT-000101"]
            .links
            .contains_key(&DRIVER_OBJECT),
        "the server has no driver: no list: {text}"
    );
    assert!(
        !objects[&GEOFENCE_OBJECT].contains_key("hand-drawn"),
        "unmarked: linked, not exported under `managed`: {text}"
    );
    let again = env.plan_as(who, &text).await.expect("plan");
    assert!(
        again.actions.is_empty(),
        "round trip: {:?}\n{text}",
        again.actions
    );

    // An edit of the exported lists plans exactly its link and unlink.
    let edited = edit_list(
        &text,
        "BT-000101",
        "geofences",
        "    geofences: [\"depot-linz\", \"depot-vienna\"]",
    );
    let edited = edit_list(
        &edited,
        "BT-000300",
        "notifications",
        "    notifications: [\"online\"]",
    );
    let plan = env.plan_as(who, &edited).await.expect("plan");
    assert_eq!(
        object_links(&plan),
        [
            "link notification online to device BT-000300",
            "unlink geofence hand-drawn from device BT-000101",
        ]
    );
    applied(env.apply_as(who, &edited).await);
    assert_eq!(
        linked(&env, ObjectType::Device, i.bike, ObjectType::Geofence),
        sorted(vec![i.vienna, i.linz])
    );
    assert_eq!(
        linked(
            &env,
            ObjectType::Device,
            i.new_bike,
            ObjectType::Notification
        ),
        vec![i.online]
    );
    replan_is_empty_as(&env, who, &edited).await;
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort();
    ids
}

/// A target that is neither in the file nor on the server, or that the plan deletes, is a
/// plan-time problem naming the object and the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_objects_must_exist_and_stay() {
    let env = env_version(TraccarVersion::V6_14).await;
    let missing = file("devices:\n  BT-000101: { geofences: [nowhere] }\n");
    let problems = env
        .plan_as(&env.admin, &missing)
        .await
        .expect_err("refused");
    let text = format!("{problems:#}");
    assert!(
        text.contains("device BT-000101") && text.contains("geofence nowhere"),
        "{text}"
    );

    // Created by this fleet, then dropped from `geofences:` while a device still lists it.
    env.apply(&file("devices:\n  BT-000101: {}\n")).await;
    let dropped = format!(
        "{HEAD}geofences:\n  depot-linz: {{ area: \"CIRCLE (48.3 14.3, 200)\" }}\nusers: []\ndevices:\n  BT-000101: {{ geofences: [depot-vienna] }}\n"
    );
    let problems = env
        .plan_as(&env.admin, &dropped)
        .await
        .expect_err("refused");
    let text = format!("{problems:#}");
    assert!(
        text.contains("depot-vienna") && text.contains("deletes it"),
        "{text}"
    );
}

fn fleetform_bin(env: &Env, args: &[&str], paths: &[&Path]) -> crate::e2e::Run {
    crate::e2e::run(env.admin_bin().args(args).args(paths))
}

/// A saved plan with object links and unlinks applies as reviewed (its actions decode
/// exactly), is refused when a listed link changed since, and a re-plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_carry_object_links() {
    let env = env_version(TraccarVersion::V6_14).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file_path = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    env.apply(&file("")).await;
    let bike = id_of(&env, "devices", "uniqueId", "BT-000101").await;
    let vienna = id_of(&env, "geofences", "name", "depot-vienna").await;
    let linz = id_of(&env, "geofences", "name", "depot-linz").await;
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"deviceId": bike, "geofenceId": linz})),
    )
    .await;
    let yaml = file("devices:\n  BT-000101: { geofences: [depot-vienna] }\n");
    std::fs::write(&file_path, &yaml).expect("write");
    let args = ["plan", "--out"];
    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let json: Json =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("JSON");
    assert_eq!(
        json["scope"]["object_lists"],
        json!({"device": {"BT-000101": ["geofence"]}}),
        "{json}"
    );

    // Unlinked by hand since the plan: the plan is stale, nothing is applied.
    env.admin(
        reqwest::Method::DELETE,
        "/api/permissions",
        Some(json!({"deviceId": bike, "geofenceId": linz})),
    )
    .await;
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        linked(&env, ObjectType::Device, bike, ObjectType::Geofence).is_empty(),
        "nothing applied"
    );

    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"deviceId": bike, "geofenceId": linz})),
    )
    .await;
    let plan = fleetform_bin(&env, &args, &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let show = fleetform_bin(&env, &["show"], &[&saved]);
    assert!(
        show.stdout.contains("geofence depot-vienna"),
        "{}",
        show.stdout
    );
    let apply = fleetform_bin(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert_eq!(
        linked(&env, ObjectType::Device, bike, ObjectType::Geofence),
        vec![vienna]
    );
    replan_is_empty(&env, &yaml).await;
}

/// A link batch whose answer was lost (applied, or not: dropped) is resolved by reading the
/// devices' lists back: applied, it is not POSTed again (a second POST would store duplicate
/// rows); not applied, it is sent again. Either way one row per link, in bulk batches (one per
/// key set: device→geofence, device→notification) and one request per link (`--no-bulk`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_whose_answer_was_lost_is_read_back_not_sent_twice() {
    use fleetform::backend::traccar::{Options, TraccarBackend};
    use traccar_sandbox::Fault;
    let yaml = file(
        "devices:\n  BT-000101: { geofences: [depot-vienna, depot-linz], notifications: [theft-alarm] }\n  BT-000102: { geofences: [depot-vienna] }\n",
    );
    for bulk in [true, false] {
        // Bulk: two batches (the geofence links, the notification link); without: four POSTs.
        let (route, requests) = if bulk {
            ("POST /api/permissions/bulk", 2)
        } else {
            ("POST /api/permissions", 4)
        };
        for (fault, resent) in [(Fault::AnswerLost, 0), (Fault::Drop, 1)] {
            let env = env_version(TraccarVersion::V6_14).await;
            env.apply(&file("")).await;
            let options = Options {
                bulk,
                ..crate::e2e::fast_options()
            };
            let backend = TraccarBackend::connect(&env.url, &env.admin, options)
                .await
                .expect("connect");
            let plan = fleetform::make_plan(&backend, &crate::e2e::fleet(&yaml).desired)
                .await
                .expect("plan");
            env.sandbox
                .set_fault_hook(Some(first(route, fault.clone())));
            let from = env.sandbox.requests().len();
            let report = fleetform::apply::apply(&backend, &plan, &mut Vec::new()).await;
            env.sandbox.set_fault_hook(None);
            assert!(report.is_success(), "{fault:?}: {:?}", report.failed);
            let routes = routes_after(&env.sandbox, from);
            let post_count = routes.iter().filter(|r| *r == route).count();
            assert_eq!(
                post_count,
                requests + resent,
                "bulk {bulk}, {fault:?}: {routes:?}"
            );
            // The device's list of the faulted batch's kind.
            assert!(
                routes
                    .iter()
                    .any(|r| r == "GET /api/geofences" || r == "GET /api/notifications"),
                "bulk {bulk}, {fault:?}: read back: {routes:?}"
            );
            let bike = id_of(&env, "devices", "uniqueId", "BT-000101").await;
            let bike2 = id_of(&env, "devices", "uniqueId", "BT-000102").await;
            let vienna = id_of(&env, "geofences", "name", "depot-vienna").await;
            let linz = id_of(&env, "geofences", "name", "depot-linz").await;
            let theft = id_of(&env, "notifications", "description", "theft-alarm").await;
            // `linked` asserts there is no duplicate row.
            assert_eq!(
                linked(&env, ObjectType::Device, bike, ObjectType::Geofence),
                sorted(vec![vienna, linz]),
                "bulk {bulk}, {fault:?}"
            );
            assert_eq!(
                linked(&env, ObjectType::Device, bike2, ObjectType::Geofence),
                vec![vienna]
            );
            assert_eq!(
                linked(&env, ObjectType::Device, bike, ObjectType::Notification),
                vec![theft]
            );
            replan_is_empty(&env, &yaml).await;
        }
    }
}

/// As administrator, an object's list is read whole: a geofence the billing account made and
/// linked to its device (so not linked to the administrator) counts as linked, and the plan
/// neither links it again (a duplicate row) nor shows a change. Without `all=true` Traccar
/// lists only objects also linked to the caller (seen on real 6.9.1).
#[tokio::test]
async fn links_the_billing_account_made_are_read_as_administrator() {
    let env = crate::e2e::env().await;
    let manager = |method: reqwest::Method, path: &str, body: Json| {
        let request = reqwest::Client::new()
            .request(method, format!("{}{path}", env.url))
            .basic_auth(
                fleetform::cmd::demo::DEMO_MANAGER,
                Some(crate::e2e::password(&env.manager)),
            )
            .json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Json>().await.unwrap_or(Json::Null)
        }
    };
    let zone = manager(
        reqwest::Method::POST,
        "/api/geofences",
        json!({"name": "yard", "area": "CIRCLE (48 16, 100)"}),
    )
    .await;
    let device = id_of(&env, "devices", "uniqueId", "BT-000101").await;
    manager(
        reqwest::Method::POST,
        "/api/permissions",
        json!({"deviceId": device, "geofenceId": zone["id"]}),
    )
    .await;
    let yaml = format!("{HEAD}devices:\n  BT-000101: {{ geofences: [yard] }}\nusers: []\n");
    let plan = env.plan(&yaml).await;
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::LinkObject { .. } | Action::UnlinkObject { .. })),
        "{:?}",
        plan.actions
    );
    env.apply(&yaml).await;
    assert_eq!(
        linked(&env, ObjectType::Device, device, ObjectType::Geofence),
        [zone["id"].as_i64().expect("id")]
    );
}

/// Traccar applies a bulk in order and stops at the first refusal: in a batch of device
/// links the links before the refused one are found by reading the devices' lists back, the
/// refused one fails with the server's message, and the rest is sent again; no row twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_object_link_fails_alone_and_the_rest_of_its_batch_is_applied() {
    use fleetform::backend::traccar::TraccarBackend;
    let env = env_version(TraccarVersion::V6_14).await;
    env.apply(&file("")).await;
    let yaml = file(
        "devices:\n  BT-000101: { geofences: [depot-vienna] }\n  BT-000102: { geofences: [depot-linz] }\n  BT-000103: { geofences: [depot-vienna] }\n",
    );
    let backend = TraccarBackend::connect(&env.url, &env.manager, crate::e2e::fast_options())
        .await
        .expect("connect");
    let plan = fleetform::make_plan(&backend, &crate::e2e::fleet(&yaml).desired)
        .await
        .expect("plan");
    // After planning, the billing account loses depot-linz (the middle item of the batch).
    let (vienna, linz) = (
        id_of(&env, "geofences", "name", "depot-vienna").await,
        id_of(&env, "geofences", "name", "depot-linz").await,
    );
    env.sandbox.seed(|s| {
        let manager = s
            .users()
            .find(|u| u.email.as_deref() == Some(fleetform::cmd::demo::DEMO_MANAGER))
            .expect("manager")
            .id;
        s.delete_link(ObjectType::User, manager, ObjectType::Geofence, linz);
    });
    let from = env.sandbox.requests().len();
    let report = fleetform::apply::apply(&backend, &plan, &mut Vec::new()).await;
    let failed: Vec<String> = report
        .failed
        .iter()
        .map(|(a, m)| format!("{a}: {m}"))
        .collect();
    assert_eq!(
        failed,
        [
            "link geofence depot-linz to device BT-000102: POST /api/permissions/bulk -> 400: Geofence access denied"
        ],
    );
    let bulk = routes_after(&env.sandbox, from)
        .iter()
        .filter(|r| *r == "POST /api/permissions/bulk")
        .count();
    assert_eq!(bulk, 2, "the batch, then what was after the refused item");
    for (device, expected) in [
        ("BT-000101", vec![vienna]),
        ("BT-000102", vec![]),
        ("BT-000103", vec![vienna]),
    ] {
        let id = id_of(&env, "devices", "uniqueId", device).await;
        assert_eq!(
            linked(&env, ObjectType::Device, id, ObjectType::Geofence),
            expected,
            "{device}"
        );
    }
}
