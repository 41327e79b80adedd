//! The GitOps workflow against the in-process sandbox, mostly through the real binary: saved
//! plans (stale ones refused with nothing applied, fresh ones applied, never a secret), drift
//! versus pending exit codes, the export round trip, and `--metrics-out` files parsed back.
//! Tests that run the binary use the multi-thread runtime so the sandbox keeps answering.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use fleetform::cmd::demo::DEMO_ADMIN;
use fleetform::config;
use serde_json::{Value as Json, json};

use crate::e2e::{Env, Run, bin, env, password as secret, run};

use crate::e2e::BASE as FLEET;

/// Runs the binary as the demo administrator against `env`.
pub fn fleetform(env: &Env, args: &[&str], files: &[&Path]) -> Run {
    run(bin()
        .args(args)
        .args(files)
        .env("TRACCAR_URL", &env.url)
        .env("TRACCAR_EMAIL", DEMO_ADMIN)
        .env("TRACCAR_PASSWORD", secret(&env.admin)))
}

/// One sample of a Prometheus text file: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A small parser for the text exposition format: checks that every sample's metric has HELP
/// and TYPE lines before it and parses labels and values.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut typed: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            typed.push(parts.next().expect("name").to_string());
            assert_eq!(parts.next(), Some("gauge"), "{line}");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("value");
        let value: f64 = value.parse().expect("number");
        let (name, labels) = series.split_once('{').expect("labels");
        let labels = labels.strip_suffix('}').expect("closing brace");
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").expect("label");
            map.insert(k.to_string(), v.trim_end_matches('"').to_string());
        }
        assert!(typed.iter().any(|t| t == name), "{name} has no TYPE line");
        samples.push((name.to_string(), map, value));
    }
    samples
}

fn sample(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .unwrap_or_else(|| panic!("{name} {label:?} missing from {samples:?}"))
        .2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_saved_plan_applies_and_the_replan_is_empty_and_holds_no_secret() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    let creds = dir.path().join("creds.csv");
    let metrics = dir.path().join("plan.prom");
    std::fs::write(&file, FLEET).expect("write");

    let plan = fleetform(
        &env,
        &["plan", "--detailed-exitcode", "--out"],
        &[
            &saved,
            Path::new("--metrics-out"),
            &metrics,
            Path::new("-f"),
            &file,
        ],
    );
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let text = std::fs::read_to_string(&saved).expect("saved plan");
    let json: Json = serde_json::from_str(&text).expect("json");
    assert_eq!(json["saved_plan_version"], 1);
    assert_eq!(json["server"]["url"], json!(env.url.trim_end_matches('/')));
    assert_eq!(json["account"]["email"], DEMO_ADMIN);
    assert_eq!(json["plan"]["summary"]["create"], 2);
    assert_eq!(json["fingerprints"]["users"]["max@mustermann.at"], "absent");
    assert_eq!(
        json["fleet_file"]["sha256"].as_str().map(str::len),
        Some(64)
    );
    let samples = parse_metrics(&std::fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(
        sample(&samples, "fleetform_plan_actions", Some(("kind", "create"))),
        2.0
    );
    assert_eq!(sample(&samples, "fleetform_last_run_success", None), 1.0);

    let apply = fleetform(
        &env,
        &["apply", "--auto-approve", "--plan"],
        &[&saved, Path::new("--credentials-out"), &creds],
    );
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stdout.contains("Saved plan of"), "{}", apply.stdout);
    assert!(
        apply.stdout.contains("Plan: 2 to create"),
        "{}",
        apply.stdout
    );
    let max = env.user("max@mustermann.at").await.expect("created");
    assert_eq!(max["attributes"]["fleetform"], "acme-bikes");
    assert!(
        max["attributes"]["fleetformApplied"]
            .as_str()
            .is_some_and(|r| r.starts_with("v1:")),
        "the applied record is written: {max}"
    );

    let replan = fleetform(&env, &["plan", "--detailed-exitcode", "-f"], &[&file]);
    assert_eq!(replan.code, 0, "{}{}", replan.stdout, replan.stderr);
    assert!(replan.stdout.contains("No changes."), "{}", replan.stdout);

    // Secrets: neither the credential nor the generated passwords are in the saved plan.
    let written = std::fs::read_to_string(&creds).expect("credentials");
    let generated: Vec<&str> = written
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next())
        .collect();
    assert_eq!(generated.len(), 2);
    for s in generated
        .iter()
        .copied()
        .chain([secret(&env.admin).as_str()])
    {
        assert!(!text.contains(s), "a secret is in the saved plan");
    }
    assert!(!text.to_lowercase().contains("password"), "{text}");

    // Applying the same saved plan again is refused: the users it would create exist now.
    let again = fleetform(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again
            .stderr
            .contains("user max@mustermann.at was created since the plan"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_naming_what_changed_and_nothing_is_applied() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    let metrics = dir.path().join("apply.prom");
    std::fs::write(&file, FLEET.replace("Max Mustermann", "Max M.")).expect("write");
    let plan = fleetform(&env, &["plan", "--out"], &[&saved, Path::new("-f"), &file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    // Someone changes a user the plan read, by hand, after the review.
    env.put_user("erika@example.at", |u| u["phone"] = json!("+43 1 999"))
        .await;
    let apply = fleetform(
        &env,
        &["apply", "--auto-approve", "--metrics-out"],
        &[&metrics, Path::new("--plan"), &saved],
    );
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(apply.stderr.contains("stale"), "{}", apply.stderr);
    assert!(
        apply.stderr.contains("nothing was applied"),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains("user erika@example.at changed since the plan"),
        "{}",
        apply.stderr
    );
    assert!(
        !apply.stderr.contains("max@mustermann.at"),
        "{}",
        apply.stderr
    );
    let max = env.user("max@mustermann.at").await.expect("user");
    assert_eq!(max["name"], "Max Mustermann", "nothing was applied");
    let samples = parse_metrics(&std::fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(
        sample(
            &samples,
            "fleetform_last_run_success",
            Some(("command", "apply"))
        ),
        0.0
    );
    assert!(
        samples
            .iter()
            .all(|(_, labels, _)| labels.get("fleet").map(String::as_str) == Some("acme-bikes")),
        "a failed apply of a saved plan names its fleet: {samples:?}"
    );

    // A saved plan made against another server version is refused too.
    let plan = fleetform(&env, &["plan", "--out"], &[&saved, Path::new("-f"), &file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut json: Json =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    json["server"]["version"] = json!("6.9.1");
    json["account"]["email"] = json!("someone@else.example");
    std::fs::write(&saved, json.to_string()).expect("write");
    let apply = fleetform(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("server version"), "{}", apply.stderr);
    assert!(apply.stderr.contains("acting account"), "{}", apply.stderr);
    assert_eq!(
        env.user("max@mustermann.at").await.expect("user")["name"],
        "Max Mustermann"
    );
}

/// `--metrics-out` on apply is written on every run that loaded the file: with nothing to do
/// (from `-f` and from a saved plan), and on failure, naming the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_writes_metrics_with_nothing_to_do_and_names_the_fleet_on_failure() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    std::fs::write(&file, FLEET).expect("write");
    let plan = fleetform(&env, &["plan", "--out"], &[&saved, Path::new("-f"), &file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    let from_file = dir.path().join("file.prom");
    let from_plan = dir.path().join("saved.prom");
    for (metrics, flag, input) in [(&from_file, "-f", &file), (&from_plan, "--plan", &saved)] {
        let apply = fleetform(
            &env,
            &["apply", "--auto-approve", "--metrics-out"],
            &[metrics, Path::new(flag), input],
        );
        assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
        assert!(apply.stdout.contains("No changes."), "{}", apply.stdout);
        let text = std::fs::read_to_string(metrics).expect("metrics written with no changes");
        let samples = parse_metrics(&text);
        assert_eq!(
            sample(
                &samples,
                "fleetform_last_run_success",
                Some(("fleet", "acme-bikes"))
            ),
            1.0
        );
        for kind in ["create", "update", "delete", "link", "unlink"] {
            assert_eq!(
                sample(&samples, "fleetform_plan_actions", Some(("kind", kind))),
                0.0
            );
        }
        assert_eq!(
            sample(
                &samples,
                "fleetform_apply_actions",
                Some(("result", "done"))
            ),
            0.0
        );
    }

    // A failed run (no terminal and no --auto-approve) still names the fleet it loaded.
    let changed = dir.path().join("changed.yaml");
    std::fs::write(&changed, FLEET.replace("Max Mustermann", "Max M.")).expect("write");
    let failed_metrics = dir.path().join("failed.prom");
    let apply = fleetform(
        &env,
        &["apply", "--metrics-out"],
        &[&failed_metrics, Path::new("-f"), &changed],
    );
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    let samples = parse_metrics(&std::fs::read_to_string(&failed_metrics).expect("metrics"));
    assert_eq!(
        sample(
            &samples,
            "fleetform_last_run_success",
            Some(("fleet", "acme-bikes"))
        ),
        0.0
    );
}

/// What the staleness check covers (README, "Apply exactly what was reviewed"): Traccar's user
/// settings that fleetform does not model (map, coordinateFormat, latitude, fixedEmail,
/// poiLayer) are not fingerprinted, so a change to them keeps the plan fresh, and the apply's
/// read-modify-write keeps the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_ignores_unmodelled_user_settings_and_apply_keeps_them() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let saved = dir.path().join("plan.json");
    std::fs::write(&file, FLEET.replace("Max Mustermann", "Max M.")).expect("write");
    let plan = fleetform(&env, &["plan", "--out"], &[&saved, Path::new("-f"), &file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    let settings = json!({
        "map": "osm",
        "coordinateFormat": "dms",
        "latitude": 48.2,
        "fixedEmail": true,
        "poiLayer": "https://poi.example/layer.kml",
    });
    let edit = settings.clone();
    env.put_user("max@mustermann.at", move |u| {
        for (key, value) in edit.as_object().expect("object") {
            u[key] = value.clone();
        }
    })
    .await;
    let apply = fleetform(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let max = env.user("max@mustermann.at").await.expect("user");
    assert_eq!(max["name"], "Max M.");
    for (key, value) in settings.as_object().expect("object") {
        assert_eq!(&max[key], value, "{key} was overwritten: {max}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_tells_pending_from_drift_with_exit_codes_and_metrics() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let metrics = dir.path().join("drift.prom");
    let drift = |file: &Path| {
        fleetform(
            &env,
            &["drift", "--format", "json", "--metrics-out"],
            &[&metrics, Path::new("-f"), file],
        )
    };
    let report = |r: &Run| -> Json { serde_json::from_str(&r.stdout).expect("json report") };

    // In sync.
    std::fs::write(&file, FLEET).expect("write");
    let r = drift(&file);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // Pending only: the file asks for more than was applied.
    let changed = FLEET.replace(
        "[BT-000101, BT-000102]",
        "[BT-000101, BT-000102, BT-000103]",
    );
    let changed_file = dir.path().join("changed.yaml");
    std::fs::write(&changed_file, &changed).expect("write");
    let r = drift(&changed_file);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let j = report(&r);
    assert_eq!(j["pending"].as_array().map(Vec::len), Some(1), "{j}");
    assert_eq!(j["drift"], json!([]));
    let samples = parse_metrics(&std::fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(sample(&samples, "fleetform_drift_objects", None), 0.0);
    assert_eq!(sample(&samples, "fleetform_pending_changes", None), 1.0);

    // Drift only: a managed field changed by hand behind the file's back.
    env.put_user("max@mustermann.at", |u| {
        u["deviceReadonly"] = json!(false);
        u["phone"] = json!("+43 1 234"); // not managed: not drift
    })
    .await;
    let r = drift(&file);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let j = report(&r);
    assert_eq!(j["drift"][0]["email"], "max@mustermann.at", "{j}");
    assert!(
        j["drift"][0]["change"]
            .as_str()
            .is_some_and(|c| c.starts_with("deviceReadonly")),
        "{j}"
    );
    assert_eq!(j["pending"], json!([]));
    // The sandbox keeps Traccar's audit log: the hand edit is attributed, newest first.
    assert_eq!(j["audit"]["max@mustermann.at"][0]["by"], DEMO_ADMIN, "{j}");
    assert_eq!(j["audit"]["max@mustermann.at"][0]["action"], "edit", "{j}");
    let samples = parse_metrics(&std::fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(
        sample(
            &samples,
            "fleetform_drift_objects",
            Some(("command", "drift"))
        ),
        1.0
    );
    assert_eq!(sample(&samples, "fleetform_last_run_success", None), 1.0);
    assert!(sample(&samples, "fleetform_last_run_timestamp_seconds", None) > 1.7e9);

    // The JSON plan shows the applied record exactly when it changes: not when the plan only
    // repairs drift (the record already describes the file), but next to a pending change.
    let changed_fields = |file: &Path| -> Vec<String> {
        let r = fleetform(&env, &["plan", "--format", "json", "-f"], &[file]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let j: Json = serde_json::from_str(&r.stdout).expect("json plan");
        j["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .flat_map(|a| a["changes"].as_array().cloned().unwrap_or_default())
            .map(|c| c["field"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let repair = changed_fields(&file);
    assert_eq!(repair, ["deviceReadonly"], "{repair:?}");
    let pending = changed_fields(&changed_file);
    assert!(
        pending.iter().any(|f| f == "attributes.fleetformApplied"),
        "{pending:?}"
    );

    // Both: drift wins the exit code, and the pending change is still reported as pending.
    let r = drift(&changed_file);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let j = report(&r);
    assert!(!j["drift"].as_array().expect("drift").is_empty(), "{j}");

    // The text report names both sections; drift never wrote anything.
    let text = fleetform(&env, &["drift", "-f"], &[&changed_file]);
    assert_eq!(text.code, 3);
    assert!(text.stdout.contains("Drift"), "{}", text.stdout);
    assert_eq!(
        env.user("max@mustermann.at").await.expect("user")["deviceReadonly"],
        false
    );
    // Apply restores the file's state; drift is clean again.
    env.apply(FLEET).await;
    assert_eq!(drift(&file).code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_plan_has_no_changes() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("exported.yaml");
    let r = fleetform(
        &env,
        &["export", "--fleet", "acme-bikes", "--infer-roles", "-o"],
        &[&out],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&out).expect("exported");
    let loaded = config::parse(&text, "exported.yaml").unwrap_or_else(|p| panic!("{p}\n{text}"));
    assert_eq!(loaded.desired.users.len(), 2, "{text}");
    assert!(!text.contains("fleetformApplied"), "{text}");
    assert!(
        text.contains("BT-000107") && text.contains("Vienna"),
        "{text}"
    );
    let plan = fleetform(&env, &["plan", "--detailed-exitcode", "-f"], &[&out]);
    assert_eq!(plan.code, 0, "{}{}\n{text}", plan.stdout, plan.stderr);

    // `--scope all` also lists unmarked users, never administrators or the acting account, and
    // never the billing account (a manager): applying the file must not adopt it.
    env.admin(
        reqwest::Method::POST,
        "/api/users",
        Some(json!({"name": "Walk-in", "email": "walkin@example.at", "password": "Walk-1n-pw"})),
    )
    .await;
    let all = fleetform(
        &env,
        &["export", "--fleet", "acme-bikes", "--scope", "all"],
        &[],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(
        all.stdout.contains("email: \"walkin@example.at\""),
        "{}",
        all.stdout
    );
    assert!(
        !all.stdout.contains("email: \"fleet@acme.example\""),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout
            .contains("# Not exported: fleet@acme.example, a manager"),
        "{}",
        all.stdout
    );
    // It suggests either way of managing a billing account's users (issue 11).
    for suggestion in [
        "add `manager: fleet@acme.example`",
        "to keep one file per billing account, export again logged in as it",
    ] {
        assert!(
            all.stdout.contains(suggestion),
            "{suggestion}\n{}",
            all.stdout
        );
    }
    let all_file = dir.path().join("all.yaml");
    std::fs::write(&all_file, &all.stdout).expect("write");
    let plan = fleetform(&env, &["plan", "--format", "json", "-f"], &[&all_file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let json: Json = serde_json::from_str(&plan.stdout).expect("json plan");
    for action in json["actions"].as_array().expect("actions") {
        assert_ne!(action["email"], "fleet@acme.example", "{action}");
    }
    assert!(
        !all.stdout.contains(&format!("email: \"{DEMO_ADMIN}\"")),
        "{}",
        all.stdout
    );
    // Refuses to overwrite.
    let again = fleetform(&env, &["export", "--fleet", "acme-bikes", "-o"], &[&out]);
    assert_eq!(again.code, 1);
}

#[test]
fn the_applied_record_attribute_is_reserved() {
    let yaml = "version: 1\nfleet: f\nusers:\n  - email: a@x.at\n    attributes: { fleetformApplied: x }\n";
    let problems = config::parse(yaml, "f.yaml").expect_err("reserved");
    assert!(
        problems.to_string().contains("fleetformApplied"),
        "{problems}"
    );
}

#[test]
fn apply_takes_either_a_file_or_a_saved_plan() {
    let r = Command::new(env!("CARGO_BIN_EXE_fleetform"))
        .args(["apply", "--plan", "p.json", "-f", "f.yaml"])
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(1));
    // Neither: the default fleet file, which this directory does not have.
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Command::new(env!("CARGO_BIN_EXE_fleetform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no fleet file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_several_files_saves_and_applies() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("fleet.d");
    std::fs::create_dir(&files).expect("mkdir");
    let cut = FLEET.find("users:").expect("users");
    // The top level in one file, the users in another.
    std::fs::write(files.join("00-fleet.yaml"), &FLEET[..cut]).expect("write");
    std::fs::write(
        files.join("10-users.yaml"),
        format!("version: 1\n{}", &FLEET[cut..]),
    )
    .expect("write");
    let saved = dir.path().join("plan.json");
    let plan = fleetform(&env, &["plan", "--out"], &[&saved, Path::new("-f"), &files]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = fleetform(&env, &["apply", "--auto-approve", "--plan"], &[&saved]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let again = fleetform(&env, &["plan", "--detailed-exitcode", "-f"], &[&files]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}
