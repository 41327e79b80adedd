//! The command line as a user meets it, through the real binary: `apply PLAN.json`, `show`,
//! the default `-f`, which credential `-v` says was used, a URL without a scheme, a closed
//! pipe, `--credentials-out` checked before anything is read, the refusal shown by `plan` in
//! every format, `-q`, flags only where they are used, and `demo` from any directory.

use std::path::Path;

use fleetform::cmd::demo::DEMO_ADMIN;
use serde_json::Value as Json;

use crate::e2e::{BASE as FLEET, Env, Run, bin, env, password, run};

/// Runs the binary as the demo administrator against `env`, in `dir`.
fn fleetform(env: &Env, dir: &Path, args: &[&str]) -> Run {
    run(env.admin_bin().current_dir(dir).args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reads_fleet_yaml_by_default_and_apply_takes_the_saved_plan_as_its_argument() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).expect("write");

    // No -f: fleet.yaml in the current directory.
    let plan = fleetform(&env, dir.path(), &["plan", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("Plan: 2 to create"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("2 passwords will be generated at apply for the new users"),
        "{}",
        plan.stdout
    );

    // `show` renders it without a server: no URL, no credentials.
    for (format, needle) in [
        ("text", "Plan: 2 to create"),
        ("markdown", "| create user | 2 |"),
        ("json", "\"create\": 2"),
    ] {
        let shown =
            run(bin()
                .current_dir(dir.path())
                .args(["show", "plan.json", "--format", format]));
        assert_eq!(shown.code, 0, "{format}: {}", shown.stderr);
        assert!(shown.stdout.contains(needle), "{format}: {}", shown.stdout);
        if format == "json" {
            let value: Json = serde_json::from_str(&shown.stdout).expect("json");
            assert_eq!(value["server"]["url"], env.url.trim_end_matches('/'));
            assert!(
                value["saved"]["age_seconds"]
                    .as_i64()
                    .is_some_and(|a| a >= 0)
            );
            assert_eq!(value["saved"]["fleet_file"]["path"], "fleet.yaml");
        } else {
            assert!(
                shown.stdout.contains("Saved plan made just now")
                    || shown.stdout.contains("minute ago"),
                "{}",
                shown.stdout
            );
            assert!(shown.stdout.contains(&env.url), "{}", shown.stdout);
            assert!(shown.stdout.contains(DEMO_ADMIN), "{}", shown.stdout);
        }
    }

    // `apply PLAN.json`, as `terraform apply PLAN`.
    let apply = fleetform(&env, dir.path(), &["apply", "plan.json", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stdout.contains("Saved plan of"), "{}", apply.stdout);
    assert!(env.user("max@mustermann.at").await.is_some());

    // The positional form and --plan are one option: both at once, or with -f, is refused.
    let both = fleetform(
        &env,
        dir.path(),
        &["apply", "plan.json", "--plan", "plan.json"],
    );
    assert_eq!(both.code, 1, "{}", both.stderr);
    let with_file = fleetform(
        &env,
        dir.path(),
        &["apply", "plan.json", "-f", "fleet.yaml"],
    );
    assert_eq!(with_file.code, 1, "{}", with_file.stderr);
    assert!(
        with_file.stderr.contains("cannot be used with"),
        "{}",
        with_file.stderr
    );

    // A fleet file where the saved plan goes is pointed to -f.
    let yaml = fleetform(&env, dir.path(), &["apply", "fleet.yaml"]);
    assert_eq!(yaml.code, 1);
    assert!(
        yaml.stderr.contains("`fleetform apply -f fleet.yaml`"),
        "{}",
        yaml.stderr
    );

    // -q: the summary and nothing of the per-user lines.
    let quiet = fleetform(&env, dir.path(), &["plan", "-q"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(
        quiet.stdout.trim(),
        "No changes. The fleet matches the server."
    );
}

#[test]
fn without_f_commands_read_fleet_yaml_or_fleet_d_and_say_what_they_looked_for() {
    let validate = |dir: &Path| run(bin().current_dir(dir).arg("validate"));
    let dir = tempfile::tempdir().expect("tempdir");
    let none = validate(dir.path());
    assert_eq!(none.code, 1);
    assert!(
        none.stderr
            .contains("no fleet file: found neither fleet.yaml nor fleet.d/; pass -f"),
        "{}",
        none.stderr
    );
    std::fs::create_dir(dir.path().join("fleet.d")).expect("mkdir");
    std::fs::write(dir.path().join("fleet.d/a.yaml"), FLEET).expect("write");
    let folder = validate(dir.path());
    assert_eq!(folder.code, 0, "{}", folder.stderr);
    assert!(
        folder.stdout.contains("valid (fleet acme-bikes, 2 users)"),
        "{}",
        folder.stdout
    );
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).expect("write");
    let both = validate(dir.path());
    assert_eq!(both.code, 1);
    assert!(both.stderr.contains("pass -f to choose"), "{}", both.stderr);
    std::fs::remove_dir_all(dir.path().join("fleet.d")).expect("rm");
    let file = validate(dir.path());
    assert_eq!(file.code, 0, "{}", file.stderr);
    assert!(
        file.stdout.starts_with("fleet.yaml: valid"),
        "{}",
        file.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_names_the_credential_used_and_the_ones_ignored_never_a_value() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).expect("write");
    let token = "bm90OnVzZWQ="; // base64 of not:used
    let r = run(env
        .admin_bin()
        .current_dir(dir.path())
        .args(["plan", "-v"])
        .env("TRACCAR_AUTH_TOKEN", token));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "credentials: TRACCAR_EMAIL and TRACCAR_PASSWORD (also set and ignored, by \
             precedence: TRACCAR_AUTH_TOKEN)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(token));
    assert!(!r.stderr.contains(&password(&env.admin)));
}

#[test]
fn every_command_that_connects_says_how_to_log_in_and_offers_only_its_flags() {
    for sub in ["plan", "apply", "drift", "export"] {
        let help = run(bin().args([sub, "--help"]));
        assert_eq!(help.code, 0);
        for needle in ["TRACCAR_TOKEN", "TRACCAR_AUTH_TOKEN", "-v says which"] {
            assert!(
                help.stdout.contains(needle),
                "{sub}: {needle}\n{}",
                help.stdout
            );
        }
        // Only apply writes links in batches.
        assert_eq!(
            help.stdout.contains("--batch-size"),
            sub == "apply",
            "{sub}:\n{}",
            help.stdout
        );
        for flag in ["--verbose", "--quiet", "--concurrency", "--timeout"] {
            assert!(help.stdout.contains(flag), "{sub}: {flag}");
        }
    }
    let drift = run(bin().args(["drift", "--batch-size", "5"]));
    assert_eq!(drift.code, 1);
    assert!(
        drift.stderr.contains("unexpected argument"),
        "{}",
        drift.stderr
    );
}

#[test]
fn a_url_without_a_scheme_is_told_to_add_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).expect("write");
    let r = run(bin()
        .current_dir(dir.path())
        .args(["plan", "--url", "127.0.0.1:8082"])
        .env("TRACCAR_TOKEN", "t"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("add http:// or https://"), "{}", r.stderr);
    assert!(!r.stderr.contains("relative URL"), "{}", r.stderr);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // The reader is gone before fleetform writes a byte, as with `fleetform schema | head -0`.
    drop(reader);
    let out = bin()
        .arg("schema")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credentials_file_that_cannot_be_written_is_refused_before_anything_is_read() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fleet.yaml"), FLEET).expect("write");
    std::fs::write(dir.path().join("creds.csv"), "old").expect("write");
    let before = env.sandbox.requests().len();
    for (path, expected) in [
        ("creds.csv", "already exists"),
        ("missing/creds.csv", "cannot create a file in missing"),
    ] {
        let r = fleetform(
            &env,
            dir.path(),
            &["apply", "--auto-approve", "--credentials-out", path],
        );
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains(expected), "{}", r.stderr);
        assert_eq!(r.stdout, "", "no plan was made");
    }
    assert_eq!(env.sandbox.requests().len(), before, "nothing was read");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("creds.csv")).expect("read"),
        "old"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_refusal_apply_will_make_in_every_format() {
    let env = env().await;
    env.apply(FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let empty =
        "version: 1\nfleet: acme-bikes\nmanager: fleet@acme.example\nprune: delete\nusers: []\n";
    std::fs::write(dir.path().join("fleet.yaml"), empty).expect("write");
    for format in ["text", "markdown", "json"] {
        let r = fleetform(
            &env,
            dir.path(),
            &["plan", "--format", format, "--out", "plan.json"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("apply will refuse this plan"),
            "{format}: {}",
            r.stdout
        );
        assert!(r.stdout.contains("--allow-mass-removal"), "{format}");
        assert!(
            r.stdout
                .contains("every one of the fleet's 2 managed users"),
            "{format}"
        );
        // And so does `show` of the saved plan.
        let shown =
            run(bin()
                .current_dir(dir.path())
                .args(["show", "plan.json", "--format", format]));
        assert!(
            shown.stdout.contains("apply will refuse this plan"),
            "{format}: {}",
            shown.stdout
        );
    }
}

#[test]
fn demo_runs_from_any_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(bin().current_dir(dir.path()).arg("demo"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("`fleetform plan -f fleet.yaml.example`"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

/// A progress bar only on a terminal: with stderr a pipe (CI), apply says nothing there, and
/// `-q` leaves the per-user lines out of stdout but keeps the summary and the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_progress_bar_off_a_terminal_and_quiet_keeps_the_summary() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = String::from("version: 1\nfleet: acme-bikes\nusers:\n");
    for i in 0..30 {
        yaml.push_str(&format!("  - email: rider{i}@acme.example\n"));
    }
    std::fs::write(dir.path().join("fleet.yaml"), yaml).expect("write");
    let r = fleetform(&env, dir.path(), &["apply", "--auto-approve", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "nothing on stderr off a terminal");
    assert!(
        r.stdout.starts_with("Plan: 30 to create, 0 to update"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("+ user rider0@acme.example"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Creating users"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Apply: 30 done, 0 failed, 0 skipped."),
        "{}",
        r.stdout
    );
}
