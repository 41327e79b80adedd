//! The object kinds beyond devices, groups and geofences against the sandbox (which serves them
//! as a real Traccar 6.9.1 does: full-replace PUT, the creator link, `all=true`, the command →
//! notification cascade): drivers, maintenance, saved commands, calendars and notifications.
//! Per section: create with the marker, update (read-modify-write keeps what the file does
//! not manage), adopt, prune, users' lists (link, unlink, unmanaged when left out), and the
//! export round trip.

use fleetform::core::model::Action;
use serde_json::{Value as Json, json};
use traccar_sandbox::{ObjectType, TraccarVersion};

use crate::e2e::{Env, env_version};

const HEAD: &str = "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\n";

fn file(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

/// The object of `/api/<path>` whose `key` is `value`, as the administrator lists them.
async fn find(env: &Env, path: &str, key: &str, value: &str) -> Option<Json> {
    env.find(path, key, value).await
}

fn id(object: &Option<Json>) -> i64 {
    object.as_ref().expect("object")["id"].as_i64().expect("id")
}

/// Whether the user→object link exists; asserts no pair is stored twice.
fn linked(env: &Env, user: i64, property: ObjectType, object: i64) -> bool {
    env.link_rows(ObjectType::User, property)
        .contains(&(user, object))
}

fn lines(plan: &fleetform::core::plan::Plan) -> Vec<String> {
    let mut lines: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    lines.sort();
    lines
}

async fn replan_is_empty(env: &Env, yaml: &str) {
    let again = env.plan(yaml).await;
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
}

/// Drivers, maintenance, saved commands and notifications, on 6.14 and 6.9: created marked,
/// an unmarked one of each adopted with its unmanaged fields kept, updated in place, the
/// marked ones that leave the file pruned, and re-planned to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_maintenance_commands_and_notifications_are_managed() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        kinds_round(env_version(version).await).await;
    }
}

async fn kinds_round(env: Env) {
    // Made by hand, unmarked: the file adopts them and must keep what it does not manage.
    for (path, body) in [
        (
            "drivers",
            json!({"name": "anna", "uniqueId": "DRV-9", "attributes": {"phone": "+43"}}),
        ),
        (
            "maintenance",
            json!({"name": "tyres", "type": "odometer", "start": 100, "period": 20000, "attributes": {"shop": "x"}}),
        ),
        (
            "commands",
            json!({"description": "ping", "type": "custom", "textChannel": true, "attributes": {"data": "PING#"}}),
        ),
        (
            "notifications",
            json!({"description": "online", "type": "deviceOnline", "notificators": "web", "always": true, "attributes": {"x": 1}}),
        ),
    ] {
        env.admin(reqwest::Method::POST, &format!("/api/{path}"), Some(body))
            .await;
    }
    let yaml = file(
        r#"drivers:
  max: { uniqueId: DRV-0001, attributes: { licence: B } }
  anna: {}
maintenance:
  service-5000km: { type: odometer, start: 0, period: 5000000 }
  tyres: { period: 30000 }
commands:
  engine-stop: { type: engineStop, textChannel: false }
  ping: { type: custom }
notifications:
  theft-alarm: { type: alarm, alarms: [sos, movement], notificators: [web, mail], always: false, command: engine-stop }
  online: { notificators: [web, mail] }
users:
  - email: rider@acme.example
    drivers: [max]
    maintenance: [service-5000km]
    commands: [engine-stop]
    notifications: [theft-alarm, online]
"#,
    );
    let plan = env.plan(&yaml).await;
    let got = lines(&plan);
    for want in [
        "create driver max",
        "create maintenance service-5000km",
        "create command engine-stop",
        "create notification theft-alarm",
    ] {
        assert!(got.contains(&want.to_string()), "{want}: {got:#?}");
    }
    for key in ["anna", "tyres", "ping", "online"] {
        assert!(
            plan.actions.iter().any(|a| matches!(
                a,
                Action::UpdateObject { key: k, adopt: true, .. } if k == key
            )),
            "{key} adopted: {got:#?}"
        );
    }
    env.apply(&yaml).await;

    let max = find(&env, "drivers", "name", "max").await;
    assert_eq!(max.as_ref().expect("max")["uniqueId"], "DRV-0001");
    assert_eq!(max.as_ref().expect("max")["attributes"]["licence"], "B");
    assert_eq!(
        max.as_ref().expect("max")["attributes"]["fleetform"],
        "acme-bikes"
    );
    let anna = find(&env, "drivers", "name", "anna").await.expect("anna");
    assert_eq!(anna["uniqueId"], "DRV-9", "unmanaged, kept");
    assert_eq!(anna["attributes"]["phone"], "+43", "unmanaged, kept");
    assert_eq!(anna["attributes"]["fleetform"], "acme-bikes", "adopted");

    let service = find(&env, "maintenance", "name", "service-5000km").await;
    assert_eq!(service.as_ref().expect("service")["type"], "odometer");
    assert_eq!(service.as_ref().expect("service")["period"], 5000000.0);
    let tyres = find(&env, "maintenance", "name", "tyres")
        .await
        .expect("tyres");
    assert_eq!(tyres["period"], 30000.0);
    assert_eq!(tyres["start"], 100.0, "unmanaged, kept");
    assert_eq!(tyres["attributes"]["shop"], "x", "unmanaged, kept");

    let stop = find(&env, "commands", "description", "engine-stop").await;
    assert_eq!(stop.as_ref().expect("stop")["type"], "engineStop");
    let ping = find(&env, "commands", "description", "ping")
        .await
        .expect("ping");
    assert_eq!(ping["textChannel"], true, "unmanaged, kept");
    assert_eq!(ping["attributes"]["data"], "PING#", "unmanaged, kept");

    let theft = find(&env, "notifications", "description", "theft-alarm").await;
    let theft_json = theft.as_ref().expect("theft");
    assert_eq!(theft_json["type"], "alarm");
    assert_eq!(theft_json["notificators"], "mail,web");
    assert_eq!(theft_json["attributes"]["alarms"], "movement,sos");
    assert_eq!(theft_json["commandId"], id(&stop));
    assert_eq!(theft_json["always"], false);
    let online = find(&env, "notifications", "description", "online")
        .await
        .expect("online");
    assert_eq!(online["notificators"], "mail,web");
    assert_eq!(online["always"], true, "unmanaged, kept");
    assert_eq!(online["type"], "deviceOnline", "unmanaged, kept");
    assert_eq!(online["attributes"]["x"], 1, "unmanaged, kept");

    let rider = env.user_id("rider@acme.example").await;
    assert!(linked(&env, rider, ObjectType::Driver, id(&max)));
    assert!(!linked(
        &env,
        rider,
        ObjectType::Driver,
        anna["id"].as_i64().expect("id")
    ));
    assert!(linked(&env, rider, ObjectType::Maintenance, id(&service)));
    assert!(linked(&env, rider, ObjectType::Command, id(&stop)));
    assert!(linked(&env, rider, ObjectType::Notification, id(&theft)));
    assert!(linked(
        &env,
        rider,
        ObjectType::Notification,
        online["id"].as_i64().expect("id")
    ));
    replan_is_empty(&env, &yaml).await;

    // Linked by hand: the rider's lists are complete, so the extra links go.
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"userId": rider, "driverId": anna["id"]})),
    )
    .await;
    assert_eq!(
        lines(&env.plan(&yaml).await),
        ["unlink driver anna from rider@acme.example"]
    );

    // Updated in place; the marked ones that leave the file are deleted; the rider's lists
    // shrink; the maintenance list left out is not managed any more.
    let second = file(
        r#"drivers:
  max: { uniqueId: DRV-0002 }
maintenance:
  service-5000km: { period: 10000000 }
commands:
  engine-stop: { type: engineStop, textChannel: true }
notifications:
  theft-alarm: { alarms: [sos], notificators: [web], command: null }
users:
  - email: rider@acme.example
    drivers: []
    commands: [engine-stop]
    notifications: [theft-alarm]
"#,
    );
    let plan = env.plan(&second).await;
    assert_eq!(
        lines(&plan),
        [
            "delete command ping",
            "delete driver anna",
            "delete maintenance tyres",
            "delete notification online",
            "unlink driver anna from rider@acme.example",
            "unlink driver max from rider@acme.example",
            "unlink notification online from rider@acme.example",
            "update command engine-stop",
            "update driver max",
            "update maintenance service-5000km",
            "update notification theft-alarm",
            // fleetform's applied record: the rider's managed lists changed.
            "update user rider@acme.example",
        ]
    );
    env.apply(&second).await;
    let max_after = find(&env, "drivers", "name", "max").await;
    assert_eq!(id(&max_after), id(&max), "updated in place");
    assert_eq!(max_after.as_ref().expect("max")["uniqueId"], "DRV-0002");
    assert_eq!(
        max_after.as_ref().expect("max")["attributes"]["licence"],
        "B",
        "unmanaged now, kept"
    );
    let theft_after = find(&env, "notifications", "description", "theft-alarm")
        .await
        .expect("theft");
    assert_eq!(theft_after["attributes"]["alarms"], "sos");
    assert_eq!(theft_after["notificators"], "web");
    assert_eq!(theft_after["commandId"], 0);
    for (path, key, value) in [
        ("drivers", "name", "anna"),
        ("maintenance", "name", "tyres"),
        ("commands", "description", "ping"),
        ("notifications", "description", "online"),
    ] {
        assert!(
            find(&env, path, key, value).await.is_none(),
            "{value} pruned"
        );
    }
    assert!(
        linked(&env, rider, ObjectType::Maintenance, id(&service)),
        "list left out: not managed"
    );
    replan_is_empty(&env, &second).await;

    // Empty lists: the rider's maintenance and command links go, the objects stay.
    let third = second.replace(
        "    commands: [engine-stop]\n",
        "    commands: []\n    maintenance: []\n",
    );
    let plan = env.plan(&third).await;
    assert_eq!(
        lines(&plan),
        [
            "unlink command engine-stop from rider@acme.example",
            "unlink maintenance service-5000km from rider@acme.example",
            "update user rider@acme.example",
        ]
    );
    env.apply(&third).await;
    assert!(!linked(&env, rider, ObjectType::Maintenance, id(&service)));
    assert!(!linked(&env, rider, ObjectType::Command, id(&stop)));
    assert!(
        find(&env, "commands", "description", "engine-stop")
            .await
            .is_some()
    );
    replan_is_empty(&env, &third).await;
}

const WORKDAYS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260105T060000Z\r\nDTEND:20260105T180000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
const WEEKENDS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:2\r\nDTSTART:20260103T000000Z\r\nDTEND:20260104T235900Z\r\nRRULE:FREQ=WEEKLY;BYDAY=SA,SU\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// A fleet file written to `dir` with the calendar files beside it, loaded from its path.
fn load_in(
    dir: &std::path::Path,
    yaml: &str,
    calendars: &[(&str, &str)],
) -> Result<fleetform::config::Loaded, fleetform::config::Problems> {
    for (path, text) in calendars {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write calendar");
    }
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, yaml).expect("write fleet file");
    fleetform::config::load(&path)
}

fn data(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Calendars (`calendars:`), their files read beside the fleet file: created from the file,
/// an unmarked one adopted with its attributes kept, updated when the file changes, linked to
/// a user and used by a notification by name, pruned, and a broken file refused where it is
/// named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendars_come_from_files_beside_the_fleet_file() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        calendars_round(env_version(version).await).await;
    }
}

async fn calendars_round(env: Env) {
    let dir = tempfile::tempdir().expect("tempdir");
    env.admin(
        reqwest::Method::POST,
        "/api/calendars",
        Some(json!({"name": "holidays", "data": data(WEEKENDS), "attributes": {"region": "AT"}})),
    )
    .await;
    let yaml = file(
        r#"calendars:
  workdays: { file: calendars/workdays.ics }
  holidays: {}
notifications:
  theft-alarm: { type: alarm, calendar: workdays }
users:
  - email: rider@acme.example
    calendars: [workdays]
"#,
    );
    let loaded = load_in(dir.path(), &yaml, &[("calendars/workdays.ics", WORKDAYS)])
        .unwrap_or_else(|p| panic!("{p}"));
    let plan = env.plan_desired(&loaded.desired).await;
    let got = lines(&plan);
    assert!(
        got.contains(&"create calendar workdays".to_string()),
        "{got:#?}"
    );
    assert!(
        plan.actions.iter().any(|a| matches!(
            a,
            // The adoption writes the object's applied record, nothing else.
            Action::UpdateObject { key, adopt: true, changes, .. } if key == "holidays"
                && changes.iter().all(|c| c.field.name() == "attributes.fleetformApplied")
        )),
        "adopted: {got:#?}"
    );
    env.apply_desired(&loaded.desired).await;
    let workdays = find(&env, "calendars", "name", "workdays").await;
    assert_eq!(workdays.as_ref().expect("workdays")["data"], data(WORKDAYS));
    assert_eq!(
        workdays.as_ref().expect("workdays")["attributes"]["fleetform"],
        "acme-bikes"
    );
    let holidays = find(&env, "calendars", "name", "holidays")
        .await
        .expect("holidays");
    assert_eq!(holidays["data"], data(WEEKENDS), "unmanaged, kept");
    assert_eq!(holidays["attributes"]["region"], "AT", "unmanaged, kept");
    let theft = find(&env, "notifications", "description", "theft-alarm")
        .await
        .expect("theft");
    assert_eq!(theft["calendarId"], id(&workdays));
    let rider = env.user_id("rider@acme.example").await;
    assert!(linked(&env, rider, ObjectType::Calendar, id(&workdays)));
    assert!(env.plan_desired(&loaded.desired).await.actions.is_empty());

    // The file changes: the calendar is updated in place with the new text.
    let loaded = load_in(dir.path(), &yaml, &[("calendars/workdays.ics", WEEKENDS)])
        .unwrap_or_else(|p| panic!("{p}"));
    let plan = env.plan_desired(&loaded.desired).await;
    assert_eq!(lines(&plan), ["update calendar workdays"]);
    env.apply_desired(&loaded.desired).await;
    let after = find(&env, "calendars", "name", "workdays").await;
    assert_eq!(id(&after), id(&workdays), "updated in place");
    assert_eq!(after.as_ref().expect("after")["data"], data(WEEKENDS));

    // A broken file is refused where the fleet file names it.
    let err = load_in(
        dir.path(),
        &yaml,
        &[("calendars/workdays.ics", "BEGIN:VCALENDAR\nEND:VCALENDAR\n")],
    )
    .expect_err("no event");
    let text = err.to_string();
    assert!(
        text.contains("fleet.yaml:6:21: calendar workdays: the calendar holds no event"),
        "{text}"
    );
    let missing = load_in(
        dir.path(),
        &yaml.replace("workdays.ics", "nowhere.ics"),
        &[],
    )
    .expect_err("missing file");
    assert!(
        missing
            .to_string()
            .contains("calendar workdays: `file` \"calendars/nowhere.ics\": can't read"),
        "{missing}"
    );

    // Left out: the marked calendar is deleted, the notification no longer names it, the
    // adopted one (now marked) too.
    let pruned = file(
        "calendars: {}\nnotifications:\n  theft-alarm: { type: alarm, calendar: null }\nusers:\n  - email: rider@acme.example\n    calendars: []\n",
    );
    let loaded = load_in(dir.path(), &pruned, &[]).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(
        lines(&env.plan_desired(&loaded.desired).await),
        [
            "delete calendar holidays",
            "delete calendar workdays",
            "unlink calendar workdays from rider@acme.example",
            "update notification theft-alarm",
            // fleetform's applied record: the rider's calendar list changed.
            "update user rider@acme.example",
        ]
    );
    env.apply_desired(&loaded.desired).await;
    assert!(find(&env, "calendars", "name", "workdays").await.is_none());
    assert!(env.plan_desired(&loaded.desired).await.actions.is_empty());
}

/// Plans a fleet loaded from a path as `who` (the billing account or the administrator).
async fn plan_loaded_as(
    env: &Env,
    who: &fleetform::backend::traccar::api::Credentials,
    desired: &fleetform::core::model::Desired,
) -> fleetform::core::plan::Plan {
    let backend = env.backend(who).await;
    fleetform::make_plan(&backend, desired).await.expect("plan")
}

/// Plans and applies a fleet loaded from a path as `who`; asserts success.
async fn apply_loaded_as(
    env: &Env,
    who: &fleetform::backend::traccar::api::Credentials,
    desired: &fleetform::core::model::Desired,
) {
    let backend = env.backend(who).await;
    let plan = fleetform::make_plan(&backend, desired).await.expect("plan");
    let report = fleetform::apply::apply(&backend, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "apply failed: {:?}", report.failed);
}

/// A device's and a geofence's `calendar` (their `calendarId`, by name), on 6.14 and 6.9 as
/// administrator and as the billing account: set from the file, kept when the file leaves it
/// out (the PUT carries it over), cleared by `null`, exported with the calendar's file and
/// planned back to nothing, and cleared by the server when the
/// calendar is deleted, which the plan shows under the delete, for a geofence and for a device
/// whose section the file does not even give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_geofences_name_their_calendar() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        calendar_refs_round(env_version(version).await, false).await;
    }
    calendar_refs_round(env_version(TraccarVersion::V6_14).await, true).await;
}

async fn calendar_refs_round(env: Env, manager: bool) {
    let who = if manager { &env.manager } else { &env.admin };
    let dir = tempfile::tempdir().expect("tempdir");
    let ics = [("calendars/workdays.ics", WORKDAYS)];
    let yaml = file(
        r#"calendars:
  workdays: { file: calendars/workdays.ics }
geofences:
  depot-vienna: { area: "CIRCLE (48.2082 16.3738, 200)", description: Main depot, calendar: workdays }
devices:
  BT-000101: { name: Bike 101, calendar: workdays }
"#,
    );
    let loaded = load_in(dir.path(), &yaml, &ics).unwrap_or_else(|p| panic!("{p}"));
    let got = lines(&plan_loaded_as(&env, who, &loaded.desired).await);
    for want in [
        "create calendar workdays",
        "create geofence depot-vienna",
        "update device BT-000101",
    ] {
        assert!(got.contains(&want.to_string()), "{want}: {got:#?}");
    }
    apply_loaded_as(&env, who, &loaded.desired).await;
    let workdays = id(&find(&env, "calendars", "name", "workdays").await);
    let calendar_of = |path: &'static str, key: &'static str, value: &'static str| {
        let env = &env;
        async move { find(env, path, key, value).await.expect("object")["calendarId"].clone() }
    };
    assert_eq!(
        calendar_of("geofences", "name", "depot-vienna").await,
        workdays
    );
    assert_eq!(
        calendar_of("devices", "uniqueId", "BT-000101").await,
        workdays
    );
    let again = plan_loaded_as(&env, who, &loaded.desired).await;
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);

    // Export writes both references and the calendar's file they name; the exported file
    // plans nothing.
    let out = tempfile::tempdir().expect("tempdir");
    let path = out.path().join("exported.yaml");
    let (email, password) = if manager {
        (fleetform::cmd::demo::DEMO_MANAGER, &env.manager)
    } else {
        (fleetform::cmd::demo::DEMO_ADMIN, &env.admin)
    };
    let run = crate::e2e::run(
        crate::e2e::bin()
            .args(["export", "--fleet", "acme-bikes", "--output"])
            .arg(&path)
            .env("TRACCAR_URL", &env.url)
            .env("TRACCAR_EMAIL", email)
            .env("TRACCAR_PASSWORD", crate::e2e::password(password)),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&path).expect("exported");
    let exported = fleetform::config::load(&path).unwrap_or_else(|p| panic!("{p}\n{text}"));
    let calendar_field = |section: &str, key: &str| {
        let (kind, objects) = exported
            .desired
            .objects
            .iter()
            .find(|(kind, _)| kind.name() == section)
            .unwrap_or_else(|| panic!("no {section}: {text}"));
        let field = exported
            .desired
            .backend
            .object(*kind)
            .and_then(|spec| spec.field("calendar"))
            .expect("declared");
        objects[key].fields.get(&field).cloned()
    };
    let workdays_name = Some(fleetform::core::model::Value::Text("workdays".into()));
    assert_eq!(
        calendar_field("geofence", "depot-vienna"),
        workdays_name,
        "{text}"
    );
    assert_eq!(
        calendar_field("device", "BT-000101"),
        workdays_name,
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("calendars/workdays.ics")).expect("calendar"),
        WORKDAYS
    );
    let again = plan_loaded_as(&env, who, &exported.desired).await;
    assert!(
        again.actions.is_empty(),
        "round trip: {:?}\n{text}",
        again.actions
    );

    // Left out, the geofence's calendar is kept (read-modify-write); `null` clears the
    // device's.
    let edited = file(
        r#"calendars:
  workdays: { file: calendars/workdays.ics }
geofences:
  depot-vienna: { area: "CIRCLE (48.2082 16.3738, 200)", description: Depot }
devices:
  BT-000101: { name: Bike 101, calendar: null }
"#,
    );
    let loaded = load_in(dir.path(), &edited, &ics).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(
        lines(&plan_loaded_as(&env, who, &loaded.desired).await),
        ["update device BT-000101", "update geofence depot-vienna"]
    );
    apply_loaded_as(&env, who, &loaded.desired).await;
    assert_eq!(
        calendar_of("geofences", "name", "depot-vienna").await,
        workdays
    );
    assert_eq!(calendar_of("devices", "uniqueId", "BT-000101").await, 0);

    // The device uses the calendar again, set by hand; the file deletes the calendar and no
    // longer gives devices: the plan shows both objects the server clears it on.
    let mut bike = find(&env, "devices", "uniqueId", "BT-000101")
        .await
        .expect("bike");
    bike["calendarId"] = json!(workdays);
    let path = format!("/api/devices/{}", bike["id"]);
    env.admin(reqwest::Method::PUT, &path, Some(bike)).await;
    let pruned = file(
        "calendars: {}
geofences:
  depot-vienna: { area: \"CIRCLE (48.2082 16.3738, 200)\" }
",
    );
    let loaded = load_in(dir.path(), &pruned, &[]).unwrap_or_else(|p| panic!("{p}"));
    let plan = plan_loaded_as(&env, who, &loaded.desired).await;
    assert_eq!(lines(&plan), ["delete calendar workdays"]);
    let (_, assessed) = plan.steps().next().expect("the delete");
    // In the backend's order of kinds, then the links the server drops with it (the billing
    // account's).
    assert_eq!(
        assessed.cascades[..2],
        [
            "device BT-000101: calendar workdays -> none",
            "geofence depot-vienna: calendar workdays -> none"
        ],
        "{:#?}",
        assessed.cascades
    );
    assert!(
        assessed.cascades[2..]
            .iter()
            .all(|line| line.ends_with(": loses its link to it")),
        "{:#?}",
        assessed.cascades
    );
    apply_loaded_as(&env, who, &loaded.desired).await;
    assert_eq!(calendar_of("geofences", "name", "depot-vienna").await, 0);
    assert_eq!(calendar_of("devices", "uniqueId", "BT-000101").await, 0);
    let again = plan_loaded_as(&env, who, &loaded.desired).await;
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);

    // A calendar the administrator made, linked to no one: the administrator may name it;
    // the billing account cannot see it (Traccar would refuse: `Calendar access denied`), so
    // its plan says so before any write.
    env.admin(
        reqwest::Method::POST,
        "/api/calendars",
        Some(json!({"name": "admins", "data": data(WORKDAYS)})),
    )
    .await;
    let foreign = file("devices:\n  BT-000101: { calendar: admins }\n");
    let loaded = load_in(dir.path(), &foreign, &[]).unwrap_or_else(|p| panic!("{p}"));
    let backend = env.backend(who).await;
    match fleetform::make_plan(&backend, &loaded.desired).await {
        Ok(plan) => {
            assert!(!manager, "the billing account's plan: {:?}", plan.actions);
            assert_eq!(lines(&plan), ["update device BT-000101"]);
        }
        Err(err) => {
            assert!(manager, "{err:#}");
            assert!(
                format!("{err:#}").contains(
                    "device BT-000101: its calendar admins does not exist on the server (or the \
                     account cannot see it)"
                ),
                "{err:#}"
            );
        }
    }
}

/// Deleting a saved command deletes the notifications that use it on the server: the plan
/// refuses it, naming the notification where the file defines it, instead of cascading.
#[tokio::test]
async fn a_command_a_notification_uses_is_never_deleted_under_it() {
    let env = crate::e2e::env().await;
    let yaml = file(
        "commands:\n  engine-stop: { type: engineStop }\nnotifications:\n  theft-alarm: { type: alarm, command: engine-stop }\n",
    );
    env.apply(&yaml).await;
    // A notification made by hand uses the command too; the file then drops the command (and
    // its own notification, which the plan deletes with it).
    let stop = find(&env, "commands", "description", "engine-stop").await;
    env.admin(
        reqwest::Method::POST,
        "/api/notifications",
        Some(json!({"description": "by hand", "type": "alarm", "commandId": id(&stop)})),
    )
    .await;
    let err = env
        .plan_as(&env.admin, &file("commands: {}\n"))
        .await
        .expect_err("the server would delete the notification made by hand");
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "notification by hand: uses the saved command engine-stop, which this plan deletes"
        ),
        "{text}"
    );
    assert!(
        text.contains("Traccar would delete this notification"),
        "{text}"
    );
    assert!(
        find(&env, "commands", "description", "engine-stop")
            .await
            .is_some(),
        "nothing written"
    );
}

/// A kept notification the file switches to another command (or none) while the old command
/// leaves `commands:`: one apply. The plan updates the notification before it deletes the
/// command (Traccar would delete the notification with it), and lists no cascade for it.
#[tokio::test]
async fn a_notification_switched_away_from_a_command_survives_its_delete() {
    for (to, command) in [("engine-resume", Some("engine-resume")), ("null", None)] {
        let env = crate::e2e::env().await;
        env.apply(&file(
            "commands:\n  engine-stop: { type: engineStop }\n  engine-resume: { type: engineResume }\nnotifications:\n  theft-alarm: { type: alarm, command: engine-stop }\n",
        ))
        .await;
        let yaml = file(&format!(
            "commands:\n  engine-resume: {{ type: engineResume }}\nnotifications:\n  theft-alarm: {{ type: alarm, command: {to} }}\n"
        ));
        let plan = env.plan(&yaml).await;
        let order: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "update notification theft-alarm",
                "delete command engine-stop"
            ],
            "{to}"
        );
        assert!(
            plan.steps()
                .flat_map(|(_, assessed)| &assessed.cascades)
                .all(|line| !line.contains("notification")),
            "{to}: no notification goes with the command: {:?}",
            plan.steps()
                .map(|(_, a)| a.cascades.clone())
                .collect::<Vec<_>>()
        );
        let report = env.apply(&yaml).await;
        assert!(report.failed.is_empty(), "{to}: {:?}", report.failed);
        let alarm = find(&env, "notifications", "description", "theft-alarm")
            .await
            .expect("the notification survives");
        let resume = find(&env, "commands", "description", "engine-resume").await;
        let want = command.map_or(0, |_| id(&resume));
        assert_eq!(alarm["commandId"], want, "{to}");
        assert!(
            find(&env, "commands", "description", "engine-stop")
                .await
                .is_none()
        );
        replan_is_empty(&env, &yaml).await;
    }
}

/// A notification fleetform cannot name (made by hand without a description, or with one
/// another shares) still goes with a deleted command on the server: the plan refuses the
/// delete, saying which notification (by id) and why, and writes nothing.
#[tokio::test]
async fn an_unnamed_notification_keeps_its_command_too() {
    let env = crate::e2e::env().await;
    env.apply(&file("commands:\n  engine-stop: { type: engineStop }\n"))
        .await;
    let stop = find(&env, "commands", "description", "engine-stop").await;
    let unnamed = env
        .admin(
            reqwest::Method::POST,
            "/api/notifications",
            Some(json!({"type": "alarm", "commandId": id(&stop)})),
        )
        .await;
    let err = env
        .plan_as(&env.admin, &file("commands: {}\n"))
        .await
        .expect_err("the server would delete the unnamed notification");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "command engine-stop: this plan deletes it (it left `commands:`, prune: delete), and \
             Traccar would delete with it the notification #{} that uses it",
            unnamed["id"]
        )),
        "{text}"
    );
    assert!(
        find(&env, "commands", "description", "engine-stop")
            .await
            .is_some(),
        "nothing written"
    );
}

/// A notificator the server is not configured with (Traccar stores any word, and it never
/// fires) is refused at plan time, at the entry, naming what the server has.
#[tokio::test]
async fn notificators_the_server_lacks_are_refused_where_they_are_written() {
    let env = crate::e2e::env().await;
    let have: Vec<String> = env
        .admin(
            reqwest::Method::GET,
            "/api/notifications/notificators",
            None,
        )
        .await
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["type"].as_str().map(str::to_string))
        .collect();
    assert!(have.contains(&"web".to_string()), "{have:?}");
    let mut have = have;
    have.sort();
    let err = env
        .plan_as(
            &env.admin,
            &file("notifications:\n  n: { type: alarm, notificators: [web, pigeon] }\n"),
        )
        .await
        .expect_err("pigeon is not a notificator");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "fleet.yaml:6:3: notification n: `notificators` lists pigeon, which the server does \
             not have (it has: {}); remove it, or configure it on the server first",
            have.join(", ")
        )),
        "{text}"
    );
}

/// Traccar 5.12's computed attributes have no `priority` (6.2 added it; real 5.12 refuses the
/// field): an entry giving one is refused at plan time, at the entry; without it the create
/// goes through.
#[tokio::test]
async fn a_computed_priority_is_refused_before_6_2() {
    let env = env_version(TraccarVersion::V5_12).await;
    let yaml = file(
        "computedAttributes:\n  speed-kmh: { attribute: speedKmh, expression: \"speed * 1.852\", type: number, priority: 0 }\n",
    );
    let err = env
        .plan_as(&env.admin, &yaml)
        .await
        .expect_err("5.12 has no priority");
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "fleet.yaml:6:3: computedAttribute speed-kmh: `priority` is not a field of Traccar 5.12's computed attributes"
        ),
        "{text}"
    );
    env.apply(&yaml.replace(", priority: 0", "")).await;
    replan_is_empty(&env, &yaml.replace(", priority: 0", "")).await;
}

/// Traccar 5.12's notifications have no description, which names them in a fleet file: a
/// `notifications:` section or a user's `notifications:` list is refused before any write.
#[tokio::test]
async fn notifications_are_refused_on_a_server_without_descriptions() {
    let env = env_version(TraccarVersion::V5_12).await;
    for yaml in [
        file("notifications:\n  theft-alarm: { type: alarm }\n"),
        file("users:\n  - email: rider@acme.example\n    notifications: []\n"),
    ] {
        let err = env
            .plan_as(&env.admin, &yaml)
            .await
            .expect_err("5.12 cannot name notifications");
        let text = format!("{err:#}");
        assert!(
            text.contains("the server is Traccar 5.12, whose notifications have no description"),
            "{text}"
        );
    }
}

/// `fleetform plan` in `dir` on `fleet.yaml`, as the sandbox's administrator.
fn plan_in(env: &Env, dir: &std::path::Path) -> crate::e2e::Run {
    crate::e2e::run(
        env.admin_bin()
            .current_dir(dir)
            .args(["plan", "-f", "fleet.yaml"]),
    )
}

/// A notification's alarm keys are judged by the server's version (`alarms.rs`): on 6.9.1 a
/// misspelt key is refused by `fleetform plan` at the key in the list, with the closest key;
/// alarms on a notification of another type are refused at the list; the corrected file
/// applies. On a server newer than every table (the sandbox's 6.14.5), a key no table has
/// plans (it may be the newer server's own) and only a case-only misspelling is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_keys_are_checked_by_the_servers_version() {
    let env = env_version(TraccarVersion::V6_9).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = file(
        "notifications:\n  theft-alarm: { type: alarm, alarms: [movement, sosx] }\n  online: { type: deviceOnline, alarms: [sos] }\n",
    );
    std::fs::write(dir.path().join("fleet.yaml"), &yaml).expect("write");
    let run = plan_in(&env, dir.path());
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "fleet.yaml:6:50: notification theft-alarm: `alarms`: `sosx` is not an alarm key of \
             Traccar 6.9.1, so the notification would never fire for it; did you mean `sos`? \
             use one of: accident, bonnet,"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("org.traccar.model.Position"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "fleet.yaml:7:33: notification online: `alarms` is for notifications of type `alarm`"
        ),
        "{}",
        run.stderr
    );
    assert!(
        find(&env, "notifications", "description", "theft-alarm")
            .await
            .is_none(),
        "nothing written"
    );
    let fixed = yaml
        .replace("sosx", "sos")
        .replace(", alarms: [sos] }", " }");
    env.apply(&fixed).await;
    let theft = find(&env, "notifications", "description", "theft-alarm")
        .await
        .expect("created");
    assert_eq!(theft["attributes"]["alarms"], "movement,sos");
    replan_is_empty(&env, &fixed).await;

    let newer = crate::e2e::env().await;
    let yaml = file("notifications:\n  theft-alarm: { type: alarm, alarms: [batteryTheft] }\n");
    std::fs::write(dir.path().join("fleet.yaml"), &yaml).expect("write");
    let run = plan_in(&newer, dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("alarms: [\"batteryTheft\"]"),
        "{}",
        run.stdout
    );
    std::fs::write(
        dir.path().join("fleet.yaml"),
        yaml.replace("batteryTheft", "SOS"),
    )
    .expect("write");
    let run = plan_in(&newer, dir.path());
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "fleet.yaml:6:40: notification theft-alarm: `alarms`: `SOS` is not an alarm key of \
             Traccar 6.14.5: did you mean `sos`?"
        ),
        "{}",
        run.stderr
    );
}

/// Export writes the new sections, users' lists and the calendars' files beside the file it
/// writes; planning the exported file changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_new_sections_and_the_round_trip_plans_nothing() {
    let env = crate::e2e::env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = file(
        r#"drivers:
  max: { uniqueId: DRV-0001 }
maintenance:
  service: { type: odometer, start: 10, period: 5000000 }
commands:
  engine-stop: { type: engineStop, textChannel: true }
calendars:
  "work days": { file: calendars/workdays.ics }
notifications:
  theft-alarm: { type: alarm, alarms: [sos, movement], notificators: [web], always: true, calendar: "work days", command: engine-stop }
users:
  - email: rider@acme.example
    drivers: [max]
    maintenance: [service]
    commands: [engine-stop]
    calendars: ["work days"]
    notifications: [theft-alarm]
"#,
    );
    let loaded = load_in(dir.path(), &yaml, &[("calendars/workdays.ics", WORKDAYS)])
        .unwrap_or_else(|p| panic!("{p}"));
    env.apply_desired(&loaded.desired).await;

    // Made by hand with what the file cannot hold (a fraction, a negative period): exported
    // without those fields, which stay unmanaged.
    env.admin(
        reqwest::Method::POST,
        "/api/maintenance",
        Some(json!({"name": "odd", "type": "hours", "start": 1000.5, "period": -5})),
    )
    .await;
    let out = tempfile::tempdir().expect("tempdir");
    let path = out.path().join("exported.yaml");
    let run = crate::e2e::run(
        env.admin_bin()
            .args(["export", "--fleet", "acme-bikes", "--output"])
            .arg(&path),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&path).expect("exported");
    assert!(
        !text.contains("odd"),
        "unmarked, not exported by default: {text}"
    );
    for section in [
        "drivers:",
        "maintenance:",
        "commands:",
        "calendars:",
        "notifications:",
    ] {
        assert!(
            text.contains(&format!("\n{section}\n")),
            "{section}: {text}"
        );
    }
    assert!(
        text.contains("    file: \"calendars/work_days.ics\""),
        "{text}"
    );
    assert!(
        text.contains("    alarms: [\"movement\",\"sos\"]"),
        "{text}"
    );
    assert!(
        text.contains("    notifications: [\"theft-alarm\"]"),
        "{text}"
    );
    assert!(text.contains("    calendars: [\"work days\"]"), "{text}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("calendars/work_days.ics")).expect("calendar"),
        WORKDAYS
    );
    let exported = fleetform::config::load(&path).unwrap_or_else(|p| panic!("{p}\n{text}"));
    let plan = env.plan_desired(&exported.desired).await;
    assert!(
        plan.actions.is_empty(),
        "round trip: {:?}\n{text}",
        plan.actions
    );
    // A second export refuses to overwrite the calendar file without --force.
    let again = crate::e2e::run(
        env.admin_bin()
            .args(["export", "--fleet", "acme-bikes", "--output"])
            .arg(out.path().join("other.yaml")),
    );
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    // To standard output, the calendars' files would have no place: refused.
    let stdout = crate::e2e::run(env.admin_bin().args(["export", "--fleet", "acme-bikes"]));
    assert_ne!(stdout.code, 0);
    assert!(
        stdout.stderr.contains("pass --output FILE"),
        "{}",
        stdout.stderr
    );

    let everything = out.path().join("all.yaml");
    let all = crate::e2e::run(
        env.admin_bin()
            .args([
                "export",
                "--fleet",
                "acme-bikes",
                "--scope",
                "all",
                "--force",
                "--output",
            ])
            .arg(&everything),
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    let text = std::fs::read_to_string(&everything).expect("exported");
    assert!(
        text.contains("  \"odd\":\n    type: \"hours\"\n"),
        "start and period left out: {text}"
    );
}

/// Computed attributes (`computedAttributes:`): created and updated as the file says (what it
/// does not manage kept), stamped with a comment ending the expression (Traccar gives them no
/// attributes), adopted, pruned when stamped with this fleet only; refused for a manager and
/// for an expression that does not parse; exported without the stamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computed_attributes_carry_the_marker_in_their_expression() {
    let env = crate::e2e::env().await;
    let post = |description: &str, expression: &str| json!({"description": description, "attribute": "alarm", "expression": expression, "type": "string", "priority": 10});
    for (description, expression) in [
        ("alarm flag", "ignition ? 'sos' : null"),
        ("by hand", "1"),
        ("other fleet's", "2 /* fleetform:other-fleet */"),
    ] {
        env.admin(
            reqwest::Method::POST,
            "/api/attributes/computed",
            Some(post(description, expression)),
        )
        .await;
    }
    let yaml = file(
        "computedAttributes:\n  speed-kmh: { attribute: speedKmh, expression: \"speed * 1.852\", type: number }\n  alarm flag: { type: string }\n",
    );
    let plan = env.plan(&yaml).await;
    assert_eq!(
        lines(&plan),
        [
            "create computedAttribute speed-kmh",
            "update computedAttribute alarm flag"
        ],
    );
    assert!(
        plan.actions.iter().any(|a| matches!(
            a,
            fleetform::core::model::Action::UpdateObject { adopt: true, changes, .. } if changes.is_empty()
        )),
        "an unmarked one that matches is adopted: {:?}",
        plan.actions
    );
    env.apply(&yaml).await;
    let expression = |o: Option<Json>| o.expect("exists")["expression"].clone();
    assert_eq!(
        expression(find(&env, "attributes/computed", "description", "speed-kmh").await),
        "speed * 1.852 /* fleetform:acme-bikes */"
    );
    let alarm = find(&env, "attributes/computed", "description", "alarm flag").await;
    assert_eq!(
        alarm.as_ref().expect("kept")["expression"],
        "ignition ? 'sos' : null /* fleetform:acme-bikes */"
    );
    assert!(alarm.expect("kept").get("attributes").is_none());
    replan_is_empty(&env, &yaml).await;

    // An update keeps the stamp; one that leaves the section is deleted only when stamped
    // with this fleet (prune: delete): neither the one made by hand nor another fleet's.
    let second = file(
        "computedAttributes:\n  alarm flag: { expression: \"ignition && alarm != null\", type: boolean }\n",
    );
    assert_eq!(
        lines(&env.plan(&second).await),
        [
            "delete computedAttribute speed-kmh",
            "update computedAttribute alarm flag"
        ],
    );
    env.apply(&second).await;
    let alarm = find(&env, "attributes/computed", "description", "alarm flag")
        .await
        .expect("kept");
    assert_eq!(alarm["type"], "boolean");
    assert_eq!(
        alarm["expression"],
        "ignition && alarm != null /* fleetform:acme-bikes */"
    );
    assert_eq!(alarm["priority"], 10, "unmanaged, kept");
    assert_eq!(alarm["attribute"], "alarm", "unmanaged, kept");
    assert!(
        find(&env, "attributes/computed", "description", "speed-kmh")
            .await
            .is_none()
    );
    assert_eq!(
        expression(find(&env, "attributes/computed", "description", "by hand").await),
        "1"
    );
    assert_eq!(
        expression(find(&env, "attributes/computed", "description", "other fleet's").await),
        "2 /* fleetform:other-fleet */"
    );
    replan_is_empty(&env, &second).await;

    let err = fleetform::config::parse(
        &file("computedAttributes:\n  broken: { attribute: x, expression: \"1 +* (\", type: number }\n"),
        "fleet.yaml",
    )
    .expect_err("does not parse");
    assert!(
        err.to_string().contains(
            "fleet.yaml:6:39: computedAttribute broken: the expression does not parse: unexpected `*` at column 4"
        ),
        "{err}"
    );
    let err = env
        .plan_as(&env.manager, &yaml)
        .await
        .expect_err("a manager may not");
    assert!(
        format!("{err:#}").contains("only an administrator may create computed attributes"),
        "{err:#}"
    );

    // Exported without the stamp: this fleet's with `--scope managed`, the unstamped one too
    // with `--scope all` (never another fleet's); each exported file plans nothing about them.
    let export = |scope: &str| {
        crate::e2e::run(
            env.admin_bin()
                .args(["export", "--fleet", "acme-bikes", "--scope", scope]),
        )
    };
    for (scope, by_hand) in [("managed", false), ("all", true)] {
        let run = export(scope);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = &run.stdout;
        assert!(text.contains("\ncomputedAttributes:\n"), "{text}");
        assert!(
            text.contains("    expression: \"ignition && alarm != null\"\n"),
            "{text}"
        );
        assert!(!text.contains("fleetform:"), "no stamp: {text}");
        assert!(!text.contains("other fleet's"), "{text}");
        assert_eq!(text.contains("by hand"), by_hand, "{text}");
        // Nothing changes; with `all`, the unstamped one is adopted, as every kind's are.
        let plan = env.plan(text).await;
        assert!(
            plan.actions.iter().all(|a| match a {
                fleetform::core::model::Action::UpdateObject {
                    kind,
                    key,
                    adopt,
                    changes,
                } if kind.name() == "computedAttribute" => {
                    *adopt && changes.is_empty() && key == "by hand"
                }
                other => other
                    .object()
                    .is_none_or(|(kind, _)| kind.name() != "computedAttribute"),
            }),
            "{scope}: {:?}",
            plan.actions
        );
    }
}

/// What the new sections cost: per kind read one list (`all=true`) and, with `manager:`, the
/// billing account's list; one more list per user giving a list of the kind; notifications'
/// references read the kinds they name (calendars, commands) even without their sections; no
/// kind is read without a reason.
#[tokio::test]
async fn each_kind_costs_one_list_and_is_read_only_when_needed() {
    let env = env_version(TraccarVersion::V6_14).await;
    let yaml = file(
        "notifications:\n  n: { type: alarm }\nusers:\n  - email: a@acme.example\n    drivers: []\n  - email: b@acme.example\n    drivers: []\n",
    );
    env.sandbox.reset_stats();
    env.plan(&yaml).await;
    let stats = env.sandbox.stats().by_route;
    let count = |route: &str| stats.get(route).copied().unwrap_or(0);
    // The list, and the billing account's; and the server's notificators, to check the file's.
    assert_eq!(count("GET /api/notifications"), 2, "{stats:#?}");
    assert_eq!(
        count("GET /api/notifications/notificators"),
        1,
        "{stats:#?}"
    );
    // The list and the billing account's; a and b are new, so they have no links to read.
    assert_eq!(count("GET /api/drivers"), 2, "{stats:#?}");
    // Named by notifications: read once, to resolve names.
    assert_eq!(count("GET /api/calendars"), 1, "{stats:#?}");
    assert_eq!(count("GET /api/commands"), 1, "{stats:#?}");
    for route in [
        "GET /api/maintenance",
        "GET /api/attributes/computed",
        "GET /api/geofences",
    ] {
        assert_eq!(count(route), 0, "{route}: {stats:#?}");
    }
    // Existing users giving a list: one more list each.
    env.apply(&yaml).await;
    env.sandbox.reset_stats();
    env.plan(&yaml).await;
    let stats = env.sandbox.stats().by_route;
    assert_eq!(
        stats.get("GET /api/drivers"),
        Some(&4),
        "list, billing account, a, b: {stats:#?}"
    );
}

/// `unmanaged:` names the new lists like the old ones: a user may not list them then, and
/// they are not read.
#[tokio::test]
async fn unmanaged_lists_of_the_new_kinds_are_neither_listed_nor_read() {
    let err = fleetform::config::parse(
        &file("unmanaged: [notifications]\nusers:\n  - email: a@acme.example\n    notifications: [n]\n"),
        "fleet.yaml",
    )
    .expect_err("listed while unmanaged");
    assert!(
        err.to_string().contains(
            "fleet.yaml:8:5: `notifications` is listed, but `unmanaged` says this file does not manage notification links"
        ),
        "{err}"
    );
    let env = env_version(TraccarVersion::V6_14).await;
    env.apply(&file("users:\n  - email: a@acme.example\n"))
        .await;
    env.sandbox.reset_stats();
    env.plan(&file(
        "unmanaged: [drivers]\nusers:\n  - email: a@acme.example\n",
    ))
    .await;
    let stats = env.sandbox.stats().by_route;
    assert!(!stats.contains_key("GET /api/drivers"), "{stats:#?}");
}

/// Run as the billing account (a manager), on 6.14 and 6.9: what it creates stays linked to it
/// (the creator link, kept), it links the objects to the users it manages, a notification
/// names its own command, and the re-plan (reading the lists linked to the manager and its
/// users' lists per user) is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_the_billing_account_the_new_kinds_stay_linked_to_it() {
    for version in [TraccarVersion::V6_14, TraccarVersion::V6_9] {
        let env = env_version(version).await;
        let yaml = "version: 1\nfleet: acme-bikes\ndrivers:\n  max: { uniqueId: DRV-7 }\ncommands:\n  stop: { type: engineStop }\nnotifications:\n  theft: { type: alarm, command: stop, notificators: [web] }\nusers:\n  - email: rider@acme.example\n    drivers: [max]\n    notifications: [theft]\n";
        let report = env.apply_as(&env.manager, yaml).await;
        assert!(report.is_success(), "{:?}", report.failed);
        let manager = env.user_id(fleetform::cmd::demo::DEMO_MANAGER).await;
        let rider = env.user_id("rider@acme.example").await;
        let max = find(&env, "drivers", "name", "max").await;
        let theft = find(&env, "notifications", "description", "theft").await;
        let stop = find(&env, "commands", "description", "stop").await;
        assert!(
            linked(&env, manager, ObjectType::Driver, id(&max)),
            "creator"
        );
        assert!(
            linked(&env, manager, ObjectType::Notification, id(&theft)),
            "creator"
        );
        assert!(
            linked(&env, manager, ObjectType::Command, id(&stop)),
            "creator"
        );
        assert!(linked(&env, rider, ObjectType::Driver, id(&max)));
        assert!(linked(&env, rider, ObjectType::Notification, id(&theft)));
        assert_eq!(theft.as_ref().expect("theft")["commandId"], id(&stop));
        let again = env.plan_as(&env.manager, yaml).await.expect("plan");
        assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
    }
}

/// A saved plan keeps the users' later lists (`desired_lists`): `apply --plan` notices a
/// driver link made by hand since the plan (and refuses), and applies a fresh one exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_carry_the_later_lists_and_notice_their_changes() {
    use std::path::Path;
    let env = crate::e2e::env().await;
    let bin =
        |args: &[&str], paths: &[&Path]| crate::e2e::run(env.admin_bin().args(args).args(paths));
    let dir = tempfile::tempdir().expect("tempdir");
    let file_path = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    let drivers = "drivers:\n  a: { uniqueId: DRV-A }\n  b: { uniqueId: DRV-B }\n";
    env.apply(&file(&format!(
        "{drivers}users:\n  - email: rider@acme.example\n"
    )))
    .await;
    let yaml = file(&format!(
        "{drivers}users:\n  - email: rider@acme.example\n    drivers: [a]\n"
    ));
    std::fs::write(&file_path, &yaml).expect("write");
    let plan = bin(&["plan", "--out"], &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let text = std::fs::read_to_string(&saved).expect("saved");
    let json: Json = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        json["scope"]["desired_lists"],
        json!({"driver": {"rider@acme.example": ["a"]}}),
        "{text}"
    );

    let rider = env.user_id("rider@acme.example").await;
    let b = id(&find(&env, "drivers", "name", "b").await);
    env.admin(
        reqwest::Method::POST,
        "/api/permissions",
        Some(json!({"userId": rider, "driverId": b})),
    )
    .await;
    let apply = bin(&["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply.stderr.contains("rider@acme.example"),
        "{}",
        apply.stderr
    );
    let a = id(&find(&env, "drivers", "name", "a").await);
    assert!(
        !linked(&env, rider, ObjectType::Driver, a),
        "nothing applied"
    );

    let plan = bin(&["plan", "--out"], &[&saved, Path::new("-f"), &file_path]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = bin(&["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert!(linked(&env, rider, ObjectType::Driver, a));
    assert!(!linked(&env, rider, ObjectType::Driver, b));
    replan_is_empty(&env, &yaml).await;
}
