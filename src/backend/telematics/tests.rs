//! The telematics description seen through the engine, without a server: fleet files are read
//! and refused by it (located), and plans made from it prune by deactivating, label deletes
//! irreversible, count deactivations as removals and refuse what the rules refuse.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;

use super::rules::{ADMIN, ADMIN_WITHOUT_KEY, ANOTHER_FLEET, DESCRIPTION, field_named};
use crate::config;
use crate::core::model::{Account, Action, Live, LiveUser, Prune, UserKey, Value};
use crate::core::plan::Plan;
use crate::core::risk::{Risk, change_risk};

const HEAD: &str = "version: 1\nfleet: acme-drivers\nserver:\n  kind: telematics\n  url: https://user.example.com\n  instanceId: 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50\n";

fn problems(text: &str) -> Vec<String> {
    match config::parse(text, "f.yaml") {
        Ok(loaded) => panic!("expected problems, got {:?}", loaded.desired),
        Err(p) => p.0.iter().map(ToString::to_string).collect(),
    }
}

fn parse(text: &str) -> config::Loaded {
    config::parse(text, "f.yaml").unwrap_or_else(|p| panic!("{p}"))
}

#[test]
fn a_telematics_file_reads_by_its_description() {
    let loaded = parse(&format!(
        "{HEAD}users:\n  - clientId: Drv-1\n    firstName: Max\n    enabled: false\n  - clientId: drv-1\n    childrenCount: 2\n"
    ));
    let d = &loaded.desired;
    assert_eq!(d.backend, &DESCRIPTION);
    assert_eq!(d.prune, Prune::Deactivate, "deactivate is the default");
    assert_eq!(
        loaded.server_instance.as_deref(),
        Some("4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50")
    );
    assert_eq!(d.users.len(), 2, "clientIds are case-sensitive");
    let max = &d.users[&UserKey::exact("Drv-1")];
    assert_eq!(
        max.fields[&field_named("firstName")],
        Value::Text("Max".into())
    );
    assert_eq!(max.fields[&field_named("enabled")], Value::Bool(false));
}

#[test]
fn traccar_keys_in_a_telematics_file_are_located_errors() {
    assert_eq!(
        problems(&format!(
            "{HEAD}manager: fleet@acme.example\npruneAfter: 30d\nprune: disable\nunmanaged: [groups]\nusers:\n  - clientId: d1\n    readonly: true\n    devices: [BT-1]\n    attributes: {{a: 1}}\n  - email: a@x.at\n"
        )),
        [
            "f.yaml:7:10: `manager` is not supported by telematics servers: they have no managing (billing) accounts; remove it",
            "f.yaml:8:13: `pruneAfter` is not supported by telematics servers: fleetform has nowhere on them to record when it deactivated a user, so it could never tell how long ago that was; remove it",
            "f.yaml:9:8: `prune: disable` is not supported by telematics servers: use one of deactivate, delete, keep",
            "f.yaml:10:13: `unmanaged` lists \"groups\", which is not a link list of telematics users: they have none: remove `unmanaged`",
            "f.yaml:13:5: unknown key `readonly`: the keys allowed here are: clientId, role, firstName, lastName, nickname, email, phone, gender, birthday, maritalStatus, childrenCount, country, district, city, address, enableTracking, enableLogging, enableRealTimeLocation, enabled",
            "f.yaml:14:5: unknown key `devices`: the keys allowed here are: clientId, role, firstName, lastName, nickname, email, phone, gender, birthday, maritalStatus, childrenCount, country, district, city, address, enableTracking, enableLogging, enableRealTimeLocation, enabled",
            "f.yaml:15:5: unknown key `attributes`: the keys allowed here are: clientId, role, firstName, lastName, nickname, email, phone, gender, birthday, maritalStatus, childrenCount, country, district, city, address, enableTracking, enableLogging, enableRealTimeLocation, enabled",
            "f.yaml:16:5: the required key `clientId` is missing: add it, e.g. `clientId: drv-0001`",
        ]
    );
}

#[test]
fn telematics_keys_in_a_traccar_file_are_located_errors() {
    assert_eq!(
        problems(
            "version: 1\nfleet: f\nserver:\n  instanceId: 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50\nprune: deactivate\nusers:\n  - email: a@x.at\n    firstName: Max\n    enableTracking: true\n  - clientId: drv-1\n"
        ),
        [
            "f.yaml:4:15: `server.instanceId` is not used by traccar servers (only by telematics); remove it, or set `server.kind`",
            "f.yaml:5:8: `prune: deactivate` is not supported by traccar servers: use one of delete, disable, keep",
            "f.yaml:8:5: unknown key `firstName`: the keys allowed here are: email, role, devices, groups, geofences, drivers, maintenance, commands, calendars, notifications, name, phone, attributes, readonly, deviceReadonly, limitCommands, disableReports, disabled, deviceLimit, userLimit, expirationTime",
            "f.yaml:9:5: unknown key `enableTracking`: the keys allowed here are: email, role, devices, groups, geofences, drivers, maintenance, commands, calendars, notifications, name, phone, attributes, readonly, deviceReadonly, limitCommands, disableReports, disabled, deviceLimit, userLimit, expirationTime",
            "f.yaml:10:5: the required key `email` is missing: add it, e.g. `email: someone@example.com`",
            "f.yaml:10:5: unknown key `clientId`: the keys allowed here are: email, role, devices, groups, geofences, drivers, maintenance, commands, calendars, notifications, name, phone, attributes, readonly, deviceReadonly, limitCommands, disableReports, disabled, deviceLimit, userLimit, expirationTime",
        ]
    );
}

#[test]
fn the_instance_is_required_and_a_uuid() {
    let head = "version: 1\nfleet: f\nserver:\n  kind: telematics\n";
    assert_eq!(
        problems(head),
        [
            "f.yaml:4:3: the required key `server.instanceId` is missing: a telematics fleet is one instance (user group); add its id, e.g. `instanceId: 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50`"
        ]
    );
    assert_eq!(
        problems(&format!("{head}  instanceId: drivers\n")),
        [
            "f.yaml:5:15: invalid `server.instanceId` \"drivers\": an instance id is a UUID, e.g. 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50 (DataHub shows it)",
        ]
    );
}

#[test]
fn duplicate_client_ids_name_both_places_across_files() {
    let a = format!("{HEAD}users:\n  - clientId: drv-1\n  - clientId: DRV-1\n");
    let b = "users:\n  - clientId: drv-1\n    firstName: Max\n";
    let result = config::parse_many(
        &[("a.yaml".into(), a), ("b.yaml".into(), b.into())],
        &|_| None,
    );
    let problems: Vec<String> = result
        .expect_err("duplicate")
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "b.yaml:2:15: the user drv-1 is listed twice (first at a.yaml:8:15); clientIds match exactly: keep one entry"
        ]
    );
}

fn account(role: &str) -> Account {
    Account {
        backend: "telematics".into(),
        url: "https://user.example.com".into(),
        server_version: "v1, instance 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50".into(),
        email: "ops@acme.example".into(),
        role: role.into(),
    }
}

fn user(client_id: &str, marker: Option<&str>, fields: &[(&str, Value)]) -> LiveUser {
    LiveUser {
        email: client_id.into(),
        untouchable: None,
        marker: marker.map(str::to_string),
        fields: fields
            .iter()
            .map(|(n, v)| (field_named(n), v.clone()))
            .collect(),
        links: Default::default(),
        managed_by: BTreeSet::new(),
    }
}

fn live(role: &str, users: Vec<LiveUser>) -> Live {
    Live {
        account: account(role),
        users: users
            .into_iter()
            .map(|u| (UserKey::exact(&u.email), u))
            .collect(),
        targets: Default::default(),
        ambiguous: Default::default(),
        owner_targets: Default::default(),
        objects: Default::default(),
        unnamed: Default::default(),
        choices: Default::default(),
        now: chrono::Utc
            .with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
            .single()
            .unwrap_or_default(),
    }
}

fn plan_of(text: &str, live: &Live) -> Result<Plan, String> {
    let loaded = parse(text);
    crate::plan(&loaded.desired, live, &Default::default()).map_err(|e| format!("{e:#}"))
}

#[test]
fn prune_deactivates_this_fleets_users_only_and_counts_as_disable() {
    let on = Value::Bool(true);
    let off = Value::Bool(false);
    let l = live(
        ADMIN,
        vec![
            user("kept", Some("acme-drivers"), &[("enabled", on.clone())]),
            user("left", Some("acme-drivers"), &[("enabled", on.clone())]),
            user("gone-already", Some("acme-drivers"), &[("enabled", off)]),
            user("unknown-state", Some("acme-drivers"), &[]),
            user("theirs", None, &[("enabled", on.clone())]),
            user("other-fleet", Some(ANOTHER_FLEET), &[("enabled", on)]),
        ],
    );
    let plan = plan_of(&format!("{HEAD}users:\n  - clientId: kept\n"), &l).expect("plan");
    assert_eq!(
        plan.actions,
        [
            Action::DisableUser {
                email: "left".into()
            },
            Action::DisableUser {
                email: "unknown-state".into()
            },
        ]
    );
    assert_eq!(plan.summary().disable, 2);
    // No applied record rides along: the service has nowhere to keep one.
    let json = crate::views::render::json(&plan).to_string();
    assert!(!json.contains("fleetformApplied"), "{json}");
}

#[test]
fn deletes_are_labelled_irreversible_in_every_format() {
    let l = live(ADMIN, vec![user("left", Some("acme-drivers"), &[])]);
    let plan = plan_of(&format!("{HEAD}prune: delete\nusers: []\n"), &l).expect("plan");
    assert_eq!(plan.summary().delete, 1);
    let mut text = Vec::new();
    crate::views::render::text(&plan, &mut text, false).expect("text");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        text.contains("- user left (delete, irreversible: the user and all its data)"),
        "{text}"
    );
    assert!(
        !text.contains("password"),
        "no passwords on this service: {text}"
    );
    let mut md = Vec::new();
    crate::views::render::markdown(&plan, &mut md).expect("markdown");
    let md = String::from_utf8(md).expect("utf-8");
    assert!(md.contains("(**irreversible**)"), "{md}");
    let json = crate::views::render::json(&plan);
    assert_eq!(json["actions"][0]["irreversible"], serde_json::json!(true));
    assert_eq!(
        json["actions"][0]["action"],
        serde_json::json!("delete_user")
    );
}

#[test]
fn a_deactivation_in_the_file_is_a_removal_for_the_safety_limits() {
    let users: Vec<LiveUser> = (0..4)
        .map(|i| {
            user(
                &format!("d{i}"),
                Some("acme-drivers"),
                &[("enabled", Value::Bool(true))],
            )
        })
        .collect();
    let l = live(ADMIN, users);
    let text = format!(
        "{HEAD}safety:\n  minManagedForPercent: 1\nusers:\n  - clientId: d0\n    enabled: false\n  - clientId: d1\n    enabled: false\n  - clientId: d2\n  - clientId: d3\n"
    );
    let loaded = parse(&text);
    let plan = crate::plan(&loaded.desired, &l, &Default::default()).expect("plan");
    let counts = crate::core::safety::counts_with(&loaded.desired, &l, &plan, &BTreeMap::new());
    assert_eq!((counts.managed, counts.removals), (4, 2));
    let refusal = crate::core::safety::check(&loaded.desired, &l, &plan, false)
        .expect_err("50% > 25%")
        .to_string();
    assert!(
        refusal.contains("2 of the fleet's 4 managed users"),
        "{refusal}"
    );
    assert_eq!(
        plan.steps().next().map(|(_, a)| a.risk),
        Some(Risk::AccountRemoved)
    );
}

#[test]
fn enabling_is_an_escalation_and_disabling_a_removal() {
    let change = |before: Value, after: Value| crate::core::model::FieldChange {
        field: field_named("enabled"),
        before,
        after,
    };
    let (t, f) = (Value::Bool(true), Value::Bool(false));
    assert_eq!(
        change_risk(&change(t.clone(), f.clone())),
        Risk::AccountRemoved
    );
    assert_eq!(
        change_risk(&change(Value::Null, f.clone())),
        Risk::AccountRemoved
    );
    assert_eq!(
        change_risk(&change(f, t.clone())),
        Risk::PrivilegeEscalation
    );
    assert_eq!(change_risk(&change(Value::Null, t)), Risk::None);
    let flag = crate::core::model::FieldChange {
        field: field_named("enableRealTimeLocation"),
        before: Value::Bool(false),
        after: Value::Bool(true),
    };
    assert_eq!(change_risk(&flag), Risk::None, "profile data, not access");
}

#[test]
fn the_rules_refuse_bad_dates_genders_and_registration_without_the_key() {
    let text = format!(
        "{HEAD}users:\n  - clientId: a\n    birthday: 31.05.1990\n    gender: female\n  - clientId: b\n"
    );
    let message = plan_of(&text, &live(ADMIN_WITHOUT_KEY, vec![])).expect_err("refused");
    assert!(
        message.contains("f.yaml:8:5: user a: birthday \"31.05.1990\" is not a date"),
        "{message}"
    );
    assert!(
        message.contains("f.yaml:8:5: user a: gender \"female\" is not one the service knows"),
        "{message}"
    );
    assert!(
        message.contains("f.yaml:11:5: user b: is not on the server, and registering users needs the instance's key: set TELEMATICS_INSTANCE_KEY"),
        "{message}"
    );
    // With the key, and good values, the same users are created.
    let text = format!(
        "{HEAD}users:\n  - clientId: a\n    birthday: \"1990-05-31\"\n    gender: Female\n  - clientId: b\n"
    );
    let plan = plan_of(&text, &live(ADMIN, vec![])).expect("plan");
    assert_eq!(plan.summary().create, 2);
}

#[test]
fn users_the_file_cannot_mean_stop_the_plan_at_their_place() {
    let mut dup = user("drv-1", Some("acme-drivers"), &[]);
    dup.untouchable = Some("shares its clientId with 1 other user(s) on the server".into());
    let mut pruned_dup = user("drv-2", Some("acme-drivers"), &[]);
    pruned_dup.untouchable = Some("shares its clientId with 1 other user(s) on the server".into());
    let theirs = user("drv-3", Some(ANOTHER_FLEET), &[]);
    let l = live(ADMIN, vec![dup, pruned_dup, theirs]);
    let message = plan_of(
        &format!("{HEAD}users:\n  - clientId: drv-1\n  - clientId: drv-3\n"),
        &l,
    )
    .expect_err("refused");
    assert!(
        message.contains("user drv-2: registered by fleet acme-drivers but shares its clientId"),
        "{message}"
    );
    assert!(
        message.contains("f.yaml:8:5: user drv-1: shares its clientId"),
        "{message}"
    );
    assert!(
        message.contains("f.yaml:9:5: user drv-3: belongs to fleet (another fleetform fleet)"),
        "{message}"
    );
    assert!(message.contains("nothing was applied"), "{message}");
}

#[test]
fn the_example_is_complete() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/telematics.yaml");
    let loaded = config::load(&path).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(loaded.desired.backend, &DESCRIPTION);
    assert_eq!(loaded.desired.prune, Prune::Deactivate);
    let text = std::fs::read_to_string(&path).expect("read");
    for spec in DESCRIPTION.fields {
        assert!(
            text.contains(&format!("{}:", spec.name)),
            "examples/telematics.yaml does not show `{}`",
            spec.name
        );
    }
    for word in [
        "deactivate",
        "delete",
        "keep",
        "roles:",
        "safety:",
        "instanceId:",
    ] {
        assert!(text.contains(word), "the example does not show {word}");
    }
    let managed: BTreeMap<&str, usize> = loaded
        .desired
        .users
        .iter()
        .map(|(k, u)| (k.as_str(), u.fields.len()))
        .collect();
    assert_eq!(managed["drv-0004"], 3, "only the role's flags: {managed:?}");
}
