//! Every workflow on a telematics instance: validate, plan in every format, apply, re-plan,
//! updates of only what differs, deactivation and reactivation, delete, ownership, duplicates,
//! paging, saved plans, drift, export round trip, metrics, safety limits, `--target`, the
//! token cache, and bulk registration behind detection.

use fleetform::backend::telematics::Bulk;
use fleetform::backend::telematics::ownership::{Registrant, registrant};
use fleetform::core::model::Action;
use serde_json::Value as Json;
use telematics_sandbox::{AccountStatus, Gender, SandboxConfig, route};

use super::{FLEET, TEnv, tenv, tenv_with};
use crate::e2e::run;

fn drivers(env: &TEnv) -> String {
    format!(
        "{}users:
  - clientId: drv-0001
    firstName: Max
    lastName: Mustermann
    email: max@mustermann.at
    phone: \"+4366412345678\"
    enableTracking: true
    enableLogging: false
    enableRealTimeLocation: false
    enabled: true
  - clientId: drv-0002
    firstName: Erika
    gender: Female
    birthday: \"1990-05-31\"
    childrenCount: 2
    city: Wien
    country: Austria
    district: Leopoldstadt
    enableRealTimeLocation: true
  - clientId: DRV-0003
    firstName: Karl
    enabled: false
",
        env.head(FLEET)
    )
}

#[tokio::test]
async fn plan_apply_replan_registers_owned_users_with_one_login() {
    let env = tenv().await;
    let file = drivers(&env);
    let plan = env.plan(&file).await.expect("plan");
    assert_eq!(plan.summary().create, 3);
    env.sandbox.reset_stats();
    let backend = env.backend().await;
    let report = env.apply_with(&backend, &file).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert!(
        report.credentials.is_empty(),
        "no passwords on this service"
    );
    assert_eq!(env.count(route::LOGIN), 1, "one login per run");
    assert_eq!(backend.client_stats().logins, 1);
    assert_eq!(env.count(route::REGISTER), 3);

    let max = env.one("drv-0001");
    assert_eq!(max.profile.first_name.as_deref(), Some("Max"));
    assert_eq!(max.profile.phone.as_deref(), Some("+4366412345678"));
    assert!(max.fields.enabled && max.fields.enable_tracking && !max.fields.enable_logging);
    assert_eq!(
        registrant(&max.device_token, &env.instance, FLEET, "drv-0001"),
        Registrant::ThisFleet,
        "the DeviceToken proves the fleet"
    );
    let erika = env.one("drv-0002");
    assert_eq!(erika.profile.gender, Gender::Female);
    assert_eq!(erika.profile.city.as_deref(), Some("Wien"));
    assert_eq!(erika.profile.children_count, Some(2));
    assert!(erika.fields.enable_real_time_location);
    let karl = env.one("DRV-0003");
    assert!(!karl.fields.enabled, "created deactivated: Enabled false");
    assert_ne!(karl.status, AccountStatus::Active, "and Status Deactivated");
    assert!(env.with_client_id("drv-0003").is_empty(), "keys are exact");

    let again = env.plan(&file).await.expect("re-plan");
    assert!(again.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn updates_change_only_what_differs_and_keep_what_the_file_leaves_alone() {
    let env = tenv().await;
    let file = drivers(&env);
    env.apply(&file).await;
    // Changed by hand: a field the file manages, and one it does not.
    let token = env.one("drv-0001").device_token;
    env.sandbox.seed(|s| {
        let u = s.user_mut(&token).expect("user");
        u.profile.first_name = Some("Maximilian".into());
        u.profile.nickname = Some("Maxi".into());
        u.fields.enable_logging = true;
    });
    let plan = env.plan(&file).await.expect("plan");
    assert_eq!(plan.actions.len(), 1, "{:?}", plan.actions);
    let Action::UpdateUser { changes, .. } = &plan.actions[0] else {
        panic!("{:?}", plan.actions)
    };
    let names: Vec<String> = changes.iter().map(|c| c.field.name()).collect();
    assert_eq!(names, ["firstName", "enableLogging"]);
    env.sandbox.reset_stats();
    env.apply(&file).await;
    assert_eq!(env.count(route::UPDATE), 1);
    let max = env.one("drv-0001");
    assert_eq!(max.profile.first_name.as_deref(), Some("Max"));
    assert_eq!(
        max.profile.nickname.as_deref(),
        Some("Maxi"),
        "not managed: kept"
    );
    assert_eq!(max.fields.client_id.as_deref(), Some("drv-0001"));
    assert!(!max.fields.enable_logging && max.fields.enable_tracking);
    assert!(env.plan(&file).await.expect("plan").is_empty());
}

#[tokio::test]
async fn prune_deactivates_by_default_and_the_file_reactivates() {
    let env = tenv().await;
    env.apply(&drivers(&env)).await;
    let fewer = format!("{}users:\n  - clientId: drv-0002\n", env.head(FLEET));
    let plan = env.plan(&fewer).await.expect("plan");
    // DRV-0003 is deactivated already: only drv-0001 is pruned.
    assert_eq!(
        plan.actions,
        [Action::DisableUser {
            email: "drv-0001".into()
        }]
    );
    let json = fleetform::views::render::json(&plan);
    assert_eq!(json["summary"]["disable"], 1);
    env.apply(&fewer).await;
    let max = env.one("drv-0001");
    assert!(!max.fields.enabled);
    assert_ne!(max.status, AccountStatus::Active);
    assert_eq!(
        max.profile.first_name.as_deref(),
        Some("Max"),
        "kept its data"
    );
    assert!(env.plan(&fewer).await.expect("plan").is_empty());

    // Back in the file with `enabled: true`: both switches are set back.
    let back = format!(
        "{}users:\n  - clientId: drv-0002\n  - clientId: drv-0001\n    enabled: true\n",
        env.head(FLEET)
    );
    env.apply(&back).await;
    let max = env.one("drv-0001");
    assert!(max.fields.enabled);
    assert_eq!(max.status, AccountStatus::Active);
    // Deactivated by either switch counts as deactivated.
    let token = max.device_token.clone();
    env.sandbox
        .seed(|s| s.user_mut(&token).expect("user").status = AccountStatus::Deactivated);
    let plan = env.plan(&back).await.expect("plan");
    assert_eq!(plan.summary().update, 1, "{:?}", plan.actions);
    env.apply(&back).await;
    assert_eq!(env.one("drv-0001").status, AccountStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_irreversible_counted_by_the_safety_limits_and_overridable() {
    let env = tenv().await;
    env.apply(&drivers(&env)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(
        &path,
        format!(
            "{}prune: delete\nsafety:\n  minManagedForPercent: 1\nusers:\n  - clientId: drv-0002\n",
            env.head(FLEET)
        ),
    )
    .expect("write");
    let plan = run(env.bin().args(["plan", "-f"]).arg(&path));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("- user drv-0001 (delete, irreversible: the user and all its data)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Warning: apply will refuse this plan: the plan deletes or disables 2 of the fleet's 3 managed users"),
        "{}",
        plan.stdout
    );
    let refused = run(env.bin().args(["apply", "--auto-approve", "-f"]).arg(&path));
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("--allow-mass-removal"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.users().len(), 3, "nothing deleted");
    let applied = run(env
        .bin()
        .args(["apply", "--auto-approve", "--allow-mass-removal", "-f"])
        .arg(&path));
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert_eq!(env.users().len(), 1);
    assert_eq!(
        env.one("drv-0002").profile.first_name.as_deref(),
        Some("Erika")
    );
}

#[tokio::test]
async fn users_this_fleet_did_not_register_are_managed_while_named_and_never_pruned() {
    let env = tenv().await;
    let theirs = env.seed_user(Some("app-1"), |u| u.profile.first_name = Some("App".into()));
    let named = env.seed_user(Some("app-2"), |u| u.fields.enable_logging = true);
    let anonymous = env.seed_user(None, |u| u.profile.first_name = Some("NoClientId".into()));
    let file = format!(
        "{}prune: delete\nusers:\n  - clientId: app-2\n    enableLogging: false\n",
        env.head(FLEET)
    );
    let plan = env.plan(&file).await.expect("plan");
    assert_eq!(
        plan.actions.len(),
        1,
        "only app-2's update: {:?}",
        plan.actions
    );
    assert!(
        matches!(&plan.actions[0], Action::UpdateUser { email, adopt: false, .. } if email == "app-2")
    );
    env.apply(&file).await;
    assert!(!env.one("app-2").fields.enable_logging);
    // Out of the file: nothing proves the fleet registered it, so it is never pruned.
    let empty = format!("{}prune: delete\nusers: []\n", env.head(FLEET));
    assert!(env.plan(&empty).await.expect("plan").is_empty());
    env.apply(&empty).await;
    let tokens: Vec<String> = env.users().into_iter().map(|u| u.device_token).collect();
    for token in [theirs, named, anonymous] {
        assert!(tokens.contains(&token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_ids_stop_the_run_before_any_write() {
    let env = tenv().await;
    let a = env.seed_user(Some("drv-9"), |_| {});
    let b = env.seed_user(Some("drv-9"), |_| {});
    // Duplicates the fleet has nothing to do with are no reason to stop.
    env.seed_user(Some("other"), |_| {});
    env.seed_user(Some("other"), |_| {});
    let file = format!(
        "{}users:\n  - clientId: drv-9\n    firstName: X\n  - clientId: new-1\n",
        env.head(FLEET)
    );
    env.sandbox.reset_stats();
    let error = format!("{:#}", env.plan(&file).await.expect_err("duplicates"));
    assert!(
        error.contains("fleet.yaml:8:5: user drv-9: shares its clientId with 1 other user(s)"),
        "{error}"
    );
    assert!(
        error.contains(&a) && error.contains(&b),
        "names both users: {error}"
    );
    assert!(error.contains("nothing was applied"), "{error}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, &file).expect("write");
    let applied = run(env.bin().args(["apply", "--auto-approve", "-f"]).arg(&path));
    assert_eq!(applied.code, 1);
    assert!(
        applied.stderr.contains("user drv-9: shares its clientId"),
        "{}",
        applied.stderr
    );
    let writes: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.route != route::LIST && r.route != route::LOGIN)
        .map(|r| r.route)
        .collect();
    assert!(writes.is_empty(), "no write: {writes:?}");

    // A duplicate of a user this fleet registered stops a run whose file dropped it, too.
    env.apply(&format!("{}users:\n  - clientId: mine\n", env.head(FLEET)))
        .await;
    let mine = env.one("mine").device_token;
    env.seed_user(Some("mine"), |_| {});
    let error = format!(
        "{:#}",
        env.plan(&format!("{}users: []\n", env.head(FLEET)))
            .await
            .expect_err("duplicate of this fleet's user")
    );
    assert!(
        error.contains("user mine: registered by fleet acme-drivers but shares its clientId"),
        "{error}"
    );
    assert!(error.contains(&mine), "{error}");
}

#[tokio::test]
async fn another_fleets_users_are_refused_and_never_pruned() {
    let env = tenv().await;
    env.apply(&format!(
        "{}users:\n  - clientId: shared\n  - clientId: a-only\n",
        env.head("fleet-a")
    ))
    .await;
    let error = format!(
        "{:#}",
        env.plan(&format!(
            "{}users:\n  - clientId: shared\n",
            env.head("fleet-b")
        ))
        .await
        .expect_err("another fleet's")
    );
    assert!(
        error.contains("user shared: belongs to fleet (another fleetform fleet)"),
        "{error}"
    );
    let b = format!(
        "{}prune: delete\nusers:\n  - clientId: b-only\n",
        env.head("fleet-b")
    );
    let plan = env.plan(&b).await.expect("plan");
    assert_eq!(plan.summary().create, 1);
    assert_eq!(
        plan.summary().delete,
        0,
        "fleet a's users are not fleet b's"
    );
}

#[tokio::test]
async fn the_listing_pages_through_every_user_in_as_few_requests_as_the_service_allows() {
    let env = tenv_with(SandboxConfig {
        login_limit: None,
        max_page_size: Some(7),
        ..SandboxConfig::default()
    })
    .await;
    for i in 0..30 {
        env.seed_user(Some(&format!("u{i:02}")), |u| {
            if i % 3 == 0 {
                u.status = AccountStatus::Deactivated;
            }
        });
    }
    let names: String = (0..30)
        .map(|i| format!("  - clientId: u{i:02}\n"))
        .collect();
    let file = format!("{}prune: keep\nusers:\n{names}", env.head(FLEET));
    env.sandbox.reset_stats();
    let plan = env.plan(&file).await.expect("plan");
    assert!(
        plan.is_empty(),
        "inactive users are read too: {:?}",
        plan.actions
    );
    assert_eq!(env.count(route::LIST), 5, "30 users in pages of 7");

    // Without a cap, one page.
    let env = tenv().await;
    for i in 0..30 {
        env.seed_user(Some(&format!("u{i:02}")), |_| {});
    }
    env.sandbox.reset_stats();
    assert!(env.plan(&file).await.expect("plan").is_empty());
    assert_eq!(env.count(route::LIST), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_output_format_and_the_detailed_exit_code() {
    let env = tenv().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, drivers(&env)).expect("write");
    let validate = run(super::bin().args(["validate", "-f"]).arg(&path));
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    assert!(
        validate
            .stdout
            .contains("valid (fleet acme-drivers, 3 users)"),
        "{}",
        validate.stdout
    );

    let text = run(env
        .bin()
        .args(["plan", "--detailed-exitcode", "-f"])
        .arg(&path));
    assert_eq!(text.code, 2, "{}", text.stderr);
    assert!(
        text.stdout.contains("(telematics v1, instance "),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("+ user drv-0001  [granted]"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("password"), "{}", text.stdout);
    let json = run(env
        .bin()
        .args(["plan", "--format", "json", "-f"])
        .arg(&path));
    assert_eq!(json.code, 0, "{}", json.stderr);
    let json: Json = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(json["server"]["backend"], "telematics");
    assert_eq!(json["summary"]["create"], 3);
    assert_eq!(json["actions"][0]["fields"]["firstName"], "Karl");
    let md = run(env
        .bin()
        .args(["plan", "--format", "markdown", "-f"])
        .arg(&path));
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(
        md.stdout
            .starts_with("### fleetform plan for fleet `acme-drivers`"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("| create user | 3 |"), "{}", md.stdout);

    let apply = run(env.bin().args(["apply", "--auto-approve", "-f"]).arg(&path));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stdout.contains("Apply: 3 done, 0 failed, 0 skipped."),
        "{}",
        apply.stdout
    );
    let again = run(env
        .bin()
        .args(["plan", "--detailed-exitcode", "-f"])
        .arg(&path));
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_apply_exactly_and_refuse_when_stale() {
    let env = tenv().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, drivers(&env)).expect("write");
    let saved = dir.path().join("plan.json");
    let plan = run(env
        .bin()
        .args(["plan", "--out"])
        .arg(&saved)
        .arg("-f")
        .arg(&path));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let json: Json =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    assert_eq!(json["server"]["instance"], Json::from(env.instance.clone()));
    let show = run(super::bin().arg("show").arg(&saved));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("+ user drv-0002"), "{}", show.stdout);

    // Another user of the plan's scope appears on the server: stale, nothing applied.
    env.seed_user(Some("drv-0001"), |_| {});
    let stale = run(env.bin().args(["apply", "--auto-approve"]).arg(&saved));
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("the saved plan is stale"),
        "{}",
        stale.stderr
    );
    assert!(
        stale
            .stderr
            .contains("user drv-0001 was created since the plan"),
        "{}",
        stale.stderr
    );
    assert_eq!(env.users().len(), 1, "nothing applied");

    let env = tenv().await;
    std::fs::write(&path, drivers(&env)).expect("write");
    let plan = run(env
        .bin()
        .args(["plan", "--out"])
        .arg(&saved)
        .arg("-f")
        .arg(&path));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let applied = run(env.bin().args(["apply", "--auto-approve"]).arg(&saved));
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert!(
        applied.stdout.contains("Saved plan of"),
        "{}",
        applied.stdout
    );
    assert_eq!(env.users().len(), 3);
    // Applied once, the plan is stale.
    let twice = run(env.bin().args(["apply", "--auto-approve"]).arg(&saved));
    assert_eq!(twice.code, 1, "{}", twice.stdout);
    assert_eq!(env.users().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reports_changes_as_pending_and_metrics_are_written() {
    let env = tenv().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, drivers(&env)).expect("write");
    env.apply(&drivers(&env)).await;
    let metrics = dir.path().join("metrics.prom");
    let in_sync = run(env
        .bin()
        .args(["drift", "--metrics-out"])
        .arg(&metrics)
        .arg("-f")
        .arg(&path));
    assert_eq!(in_sync.code, 0, "{}\n{}", in_sync.stdout, in_sync.stderr);
    assert!(in_sync.stdout.contains("In sync."), "{}", in_sync.stdout);
    let token = env.one("drv-0002").device_token;
    env.sandbox
        .seed(|s| s.user_mut(&token).expect("user").profile.city = Some("Graz".into()));
    let drift = run(env
        .bin()
        .args(["drift", "--format", "json", "--metrics-out"])
        .arg(&metrics)
        .arg("-f")
        .arg(&path));
    // No place on the service records what fleetform applied: every difference is pending.
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    let report: Json = serde_json::from_str(&drift.stdout).expect("json");
    assert_eq!(report["pending"][0]["email"], "drv-0002");
    assert_eq!(report["pending"][0]["change"], "city: \"Graz\" -> \"Wien\"");
    assert_eq!(report["drift"], serde_json::json!([]));
    let prom = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(
        prom.contains("fleetform_pending_changes{command=\"drift\",fleet=\"acme-drivers\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("fleetform_last_run_success{command=\"drift\",fleet=\"acme-drivers\"} 1"),
        "{prom}"
    );
    let apply_metrics = dir.path().join("apply.prom");
    let applied = run(env
        .bin()
        .args(["apply", "--auto-approve", "--metrics-out"])
        .arg(&apply_metrics)
        .arg("-f")
        .arg(&path));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let prom = std::fs::read_to_string(&apply_metrics).expect("metrics");
    assert!(
        prom.contains(
            "fleetform_apply_actions{command=\"apply\",fleet=\"acme-drivers\",result=\"done\"} 1"
        ),
        "{prom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limits_plan_and_apply_to_users_by_client_id() {
    let env = tenv().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, drivers(&env)).expect("write");
    let applied = run(env
        .bin()
        .args(["apply", "--auto-approve", "--target", "drv-0002", "-f"])
        .arg(&path));
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert_eq!(env.users().len(), 1);
    env.one("drv-0002");
    // clientIds are exact: DRV-0002 is nobody.
    let wrong = run(env
        .bin()
        .args(["plan", "--target", "DRV-0002", "-f"])
        .arg(&path));
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("--target DRV-0002"),
        "{}",
        wrong.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_a_file_that_plans_no_changes() {
    let env = tenv().await;
    env.apply(&drivers(&env)).await;
    env.seed_user(Some("app-7"), |u| {
        u.profile.first_name = Some("Anna \"the app\"".into());
        u.profile.birthday =
            chrono::NaiveDate::from_ymd_opt(1985, 1, 2).and_then(|d| d.and_hms_opt(0, 0, 0));
        u.fields.enable_logging = true;
    });
    env.seed_user(None, |_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    for (scope, count) in [("managed", 3), ("all", 4)] {
        let out = dir.path().join(format!("{scope}.yaml"));
        let export = run(env
            .bin()
            .args(["export", "--kind", "telematics", "--url", &env.url])
            .args([
                "--instance-id",
                &env.instance,
                "--fleet",
                FLEET,
                "--scope",
                scope,
            ])
            .arg("--infer-roles")
            .arg("-o")
            .arg(&out));
        assert_eq!(export.code, 0, "{}", export.stderr);
        let text = std::fs::read_to_string(&out).expect("exported");
        let loaded = fleetform::config::load(&out).unwrap_or_else(|p| panic!("{p}\n{text}"));
        assert_eq!(loaded.desired.users.len(), count, "{text}");
        assert!(text.contains("kind: telematics"), "{text}");
        assert!(text.contains("- clientId: \"drv-0001\""), "{text}");
        let plan = run(env
            .bin()
            .args(["plan", "--detailed-exitcode", "-f"])
            .arg(&out));
        assert_eq!(
            plan.code, 0,
            "{scope}: {}\n{}\n{text}",
            plan.stdout, plan.stderr
        );
    }
    let missing = run(env.bin().args([
        "export",
        "--kind",
        "telematics",
        "--url",
        &env.url,
        "--fleet",
        FLEET,
    ]));
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("--instance-id is required"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_cache_replaces_logins_with_refreshes() {
    let env = tenv_with(SandboxConfig {
        // The strictest reading of the notes: five logins, then a block.
        access_token_lifetime: std::time::Duration::from_secs(600),
        ..SandboxConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, drivers(&env)).expect("write");
    let cache = dir.path().join("tokens.json");
    let plan = |extra: &[&str]| {
        let mut cmd = env.bin();
        cmd.args(["plan", "-v", "-f"]).arg(&path).args(extra);
        run(&mut cmd)
    };
    let first = plan(&["--token-cache", cache.to_str().expect("utf-8")]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(env.count(route::LOGIN), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache)
            .expect("cache")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Ten more runs, a cron job's afternoon: refreshes only (by the flag or the variable).
    for i in 0..10 {
        env.sandbox
            .advance_clock(std::time::Duration::from_secs(900));
        let r = if i % 2 == 0 {
            plan(&["--token-cache", cache.to_str().expect("utf-8")])
        } else {
            let mut cmd = env.bin();
            cmd.env("TELEMATICS_TOKEN_CACHE", &cache)
                .args(["plan", "-f"])
                .arg(&path);
            run(&mut cmd)
        };
        assert_eq!(r.code, 0, "run {i}: {}", r.stderr);
    }
    assert_eq!(env.count(route::LOGIN), 1, "one login in eleven runs");
    assert_eq!(env.count(route::REFRESH), 10);
    assert_eq!(env.sandbox.stats().logins_refused, 0);
    // Without the cache the same eleven runs would log in eleven times: the fifth is refused.
    for _ in 0..5 {
        plan(&[]);
    }
    let blocked = plan(&[]);
    assert_eq!(blocked.code, 1);
    assert!(
        blocked.stderr.contains("too many logins"),
        "{}",
        blocked.stderr
    );
    assert!(
        blocked.stderr.contains("--token-cache"),
        "{}",
        blocked.stderr
    );
    // A cache others may read is refused, never used.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let open = plan(&["--token-cache", cache.to_str().expect("utf-8")]);
        assert_eq!(open.code, 1);
        assert!(
            open.stderr.contains("may be read by other users"),
            "{}",
            open.stderr
        );
    }
}

#[tokio::test]
async fn bulk_registration_is_used_only_where_the_service_takes_it() {
    // Where CreateMany exists, it registers the users in one request.
    let env = tenv_with(SandboxConfig {
        login_limit: None,
        create_many: true,
        ..SandboxConfig::default()
    })
    .await;
    let file = drivers(&env);
    let backend = env.backend().await;
    env.sandbox.reset_stats();
    let report = env.apply_with(&backend, &file).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(backend.bulk_registration(), Bulk::Works);
    assert_eq!(env.count(route::REGISTER_MANY), 1);
    assert_eq!(env.count(route::REGISTER), 0);
    for id in ["drv-0001", "drv-0002", "DRV-0003"] {
        env.one(id);
    }
    assert!(env.plan(&file).await.expect("plan").is_empty());

    // Where it does not (404), one attempt, a read back, then single registrations.
    let env = tenv().await;
    let backend = env.backend().await;
    env.sandbox.reset_stats();
    let report = env.apply_with(&backend, &file).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(backend.bulk_registration(), Bulk::Off);
    let bulk_tries = |env: &TEnv| {
        env.sandbox
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/Registration/CreateMany")
            .count()
    };
    assert_eq!(bulk_tries(&env), 1, "one attempt (a 404 here)");
    assert_eq!(env.count(route::REGISTER), 3);
    let more = format!(
        "{}  - clientId: drv-0009\n  - clientId: drv-0010\n",
        drivers(&env)
    );
    let report = env.apply_with(&backend, &more).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(bulk_tries(&env), 1, "off for the rest of the run");
    assert_eq!(env.users().len(), 5);

    // --no-bulk never tries it.
    let env = tenv_with(SandboxConfig {
        login_limit: None,
        create_many: true,
        ..SandboxConfig::default()
    })
    .await;
    let backend = env
        .backend_with(fleetform::backend::telematics::Options {
            bulk: false,
            ..env.options()
        })
        .await;
    env.sandbox.reset_stats();
    env.apply_with(&backend, &drivers(&env)).await;
    assert_eq!(env.count(route::REGISTER_MANY), 0);
    assert_eq!(env.count(route::REGISTER), 3);
}
