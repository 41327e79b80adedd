//! The committed fleet files and schema: `fleet.yaml.example` and every file in `examples/`
//! validate, and `schemas/fleet.schema.json` is what the file types generate.

use std::path::{Path, PathBuf};

use fleetform::backend::traccar::rules::{DEVICE, GROUP};
use fleetform::config;
use fleetform::core::model::{Value, linked};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The demo sandbox is seeded with these devices and groups only.
fn demo_devices() -> Vec<String> {
    (101..=112).map(|n| format!("BT-000{n}")).collect()
}

#[test]
fn schema_is_fresh() {
    let path = root().join("schemas/fleet.schema.json");
    let generated = config::schema_json();
    if std::env::var_os("FLEETFORM_BLESS").is_some() {
        std::fs::create_dir_all(root().join("schemas")).expect("create schemas/");
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/fleet.schema.json is stale (the fleet file types changed). Regenerate it with\n    \
         FLEETFORM_BLESS=1 cargo test --test tests config_files::schema_is_fresh\n\
         (or `cargo run -- schema > schemas/fleet.schema.json`) and commit it."
    );
}

#[test]
fn schema_is_valid_json_naming_the_top_level_keys() {
    let schema: serde_json::Value = serde_json::from_str(&config::schema_json()).expect("JSON");
    let properties = schema["properties"].as_object().expect("properties");
    for key in [
        "version", "fleet", "server", "manager", "prune", "roles", "users",
    ] {
        assert!(
            properties.contains_key(key),
            "{key} missing from the schema"
        );
    }
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}

#[test]
fn the_top_level_example_is_the_demo_fleet() {
    let loaded = config::load(&root().join("fleet.yaml.example")).unwrap_or_else(|e| panic!("{e}"));
    let desired = &loaded.desired;
    assert_eq!(desired.fleet, "acme-bikes");
    assert_eq!(
        desired.manager.as_ref().map(|m| m.as_str()),
        Some("fleet@acme.example")
    );
    assert_eq!(loaded.server_url.as_deref(), Some("http://127.0.0.1:8082"));
    let devices = demo_devices();
    for user in desired.users.values() {
        for device in linked(&user.links, DEVICE) {
            assert!(
                devices.contains(device),
                "{device} is not in the demo sandbox"
            );
        }
        for group in linked(&user.links, GROUP) {
            assert!(
                ["Vienna", "Graz"].contains(&group.as_str()),
                "{group} is not a demo group"
            );
        }
    }
    assert!(
        desired.users.len() >= 3,
        "the demo should show several users"
    );
}

#[test]
fn the_top_level_example_shows_every_field() {
    let text = std::fs::read_to_string(root().join("fleet.yaml.example")).expect("read");
    let schema: serde_json::Value = serde_json::from_str(&config::schema_json()).expect("JSON");
    let mut keys: Vec<String> = Vec::new();
    // Traccar's keys: the telematics users and roles, and its `server.instanceId`, are shown by
    // examples/telematics.yaml (`telematics_example_shows_every_field`).
    for (name, def) in schema["$defs"].as_object().expect("$defs") {
        if name.starts_with("Telematics") {
            continue;
        }
        if let Some(props) = def["properties"].as_object() {
            keys.extend(props.keys().filter(|k| *k != "instanceId").cloned());
        }
    }
    keys.extend(
        schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned(),
    );
    for key in keys {
        assert!(
            text.contains(&format!("{key}:")),
            "fleet.yaml.example does not show `{key}`"
        );
    }
    for option in ["delete", "disable", "keep"] {
        assert!(
            text.contains(option),
            "fleet.yaml.example does not mention prune: {option}"
        );
    }
}

#[test]
fn telematics_example_shows_every_field() {
    let path = root().join("examples/telematics.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    let schema: serde_json::Value = serde_json::from_str(&config::schema_json()).expect("JSON");
    let defs = &schema["$defs"];
    let mut keys: Vec<&String> = Vec::new();
    for def in ["TelematicsUser", "TelematicsRole", "Server"] {
        keys.extend(defs[def]["properties"].as_object().expect(def).keys());
    }
    for key in keys {
        assert!(
            text.contains(&format!("{key}:")),
            "examples/telematics.yaml does not show `{key}`"
        );
    }
    let loaded = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.desired.backend.kind, "telematics");
    assert!(loaded.server_instance.is_some());
    for option in ["deactivate", "delete", "keep"] {
        assert!(
            text.contains(option),
            "the example does not mention prune: {option}"
        );
    }
}

#[test]
fn every_example_validates() {
    let dir = root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|p| name(p)).collect();
    assert!(names.contains(&"minimal.yaml".to_string()), "{names:?}");
    assert!(names.contains(&"roles.yaml".to_string()), "{names:?}");
    for file in &files {
        let loaded = config::load(file).unwrap_or_else(|e| panic!("{}:\n{e}", file.display()));
        assert_eq!(loaded.source, file.display().to_string());
    }
}

/// Examples stay valid as time passes: every expiration they set is far ahead.
#[test]
fn example_expirations_are_far_ahead() {
    // A directory stands for its merged files.
    let mut files = vec![
        root().join("fleet.yaml.example"),
        root().join("examples/split"),
    ];
    files.extend(
        std::fs::read_dir(root().join("examples"))
            .expect("examples/")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")),
    );
    let horizon = chrono::Utc::now() + chrono::TimeDelta::days(365 * 20);
    let mut seen = 0;
    for file in &files {
        let loaded = config::load(file).unwrap_or_else(|e| panic!("{}:\n{e}", file.display()));
        for user in loaded.desired.users.values() {
            if let Some(Value::Time(t)) =
                user.fields
                    .get(&fleetform::backend::traccar::rules::field_named(
                        "expirationTime",
                    ))
            {
                seen += 1;
                assert!(
                    *t > horizon,
                    "{}: {} expires {t}, less than 20 years ahead",
                    file.display(),
                    user.email
                );
            }
        }
    }
    assert!(seen >= 3, "the examples show expiration dates");
}

#[test]
fn a_missing_file_is_one_problem_naming_it() {
    let path = root().join("examples/does-not-exist.yaml");
    let problems = config::load(&path).expect_err("missing file");
    assert_eq!(problems.0.len(), 1);
    assert_eq!(
        problems.0[0].location.as_deref(),
        Some(path.display().to_string().as_str())
    );
    assert!(
        problems.0[0].message.contains("can't read"),
        "{}",
        problems.0[0].message
    );
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `examples/full-fleet.yaml` names every object section and every user link list Traccar's
/// description declares, applies to the demo sandbox, and re-plans to nothing.
#[tokio::test]
async fn the_full_fleet_example_has_every_section_and_converges() {
    let path = root().join("examples/full-fleet.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    let backend = &fleetform::backend::traccar::rules::DESCRIPTION;
    for spec in backend.objects {
        assert!(
            text.contains(&format!("\n{}:\n", spec.section)),
            "examples/full-fleet.yaml has no `{}:` section",
            spec.section
        );
    }
    for (_, key) in backend.file_links() {
        assert!(
            text.contains(&format!("    {key}: [")),
            "examples/full-fleet.yaml lists no user `{key}`"
        );
    }
    // Loaded from its path: the calendar's iCalendar file is read beside it.
    let loaded = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.desired.objects.len(), backend.objects.len());
    let env = crate::e2e::env().await;
    let report = env.apply_desired(&loaded.desired).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let again = env.plan_desired(&loaded.desired).await;
    assert!(again.actions.is_empty(), "re-plan: {:?}", again.actions);
}
