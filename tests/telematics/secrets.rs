//! The telematics secrets (the admin password, the instance key, the access and refresh
//! tokens) never appear in any output: stdout, stderr with `-v`, JSON and markdown plans,
//! saved plans, metrics, drift reports, exported files and errors, whether the run logged in
//! or refreshed from the token cache, and when a credential is wrong.

use serde_json::Value as Json;

use super::{FLEET, tenv};
use crate::e2e::{Run, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telematics_secrets_never_appear_in_any_output() {
    let env = tenv().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(
        &path,
        format!(
            "{}prune: delete\nusers:\n  - clientId: drv-1\n    firstName: Max\n  - clientId: drv-2\n    enabled: false\n",
            env.head(FLEET)
        ),
    )
    .expect("write");
    let cache = dir.path().join("tokens.json");
    let saved = dir.path().join("plan.json");
    let metrics = dir.path().join("metrics.prom");
    let exported = dir.path().join("exported.yaml");
    let mut runs: Vec<Run> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let keep_tokens = |tokens: &mut Vec<String>| {
        let cached: Json =
            serde_json::from_str(&std::fs::read_to_string(&cache).expect("cache")).expect("json");
        for key in ["access_token", "refresh_token"] {
            let token = cached[key].as_str().expect("token").to_string();
            assert!(token.len() > 16);
            tokens.push(token);
        }
    };
    let with_cache = |args: &[&str]| {
        let mut cmd = env.bin();
        cmd.arg(args[0])
            .arg("--token-cache")
            .arg(&cache)
            .args(&args[1..]);
        cmd
    };
    for args in [
        vec!["plan", "-v"],
        vec!["plan", "-v", "--format", "json"],
        vec!["plan", "-v", "--format", "markdown"],
    ] {
        let r = run(with_cache(&args).arg("-f").arg(&path));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        keep_tokens(&mut tokens);
        runs.push(r);
    }
    let r = run(with_cache(&["plan", "-v", "--out"])
        .arg(&saved)
        .arg("--metrics-out")
        .arg(&metrics)
        .arg("-f")
        .arg(&path));
    assert_eq!(r.code, 0, "{}", r.stderr);
    runs.push(r);
    runs.push(Run {
        code: 0,
        stdout: std::fs::read_to_string(&saved).expect("saved plan"),
        stderr: std::fs::read_to_string(&metrics).expect("metrics"),
    });
    // An expired access token: this run refreshes, and the new pair is kept too.
    env.sandbox
        .advance_clock(std::time::Duration::from_secs(2 * 86_400));
    let r = run(with_cache(&["apply", "-v", "--auto-approve"]).arg(&saved));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("POST /v1/Auth/RefreshToken -> 200"),
        "{}",
        r.stderr
    );
    keep_tokens(&mut tokens);
    runs.push(r);
    // Without the cache: a login, in every remaining command.
    for args in [vec!["drift", "-v"], vec!["apply", "-v", "--auto-approve"]] {
        let r = run(env.bin().args(&args).arg("-f").arg(&path));
        assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("POST /v1/Auth/Login -> 200"),
            "{}",
            r.stderr
        );
        runs.push(r);
    }
    let r = run(env
        .bin()
        .args(["export", "-v", "--kind", "telematics", "--url", &env.url])
        .args(["--instance-id", &env.instance, "--fleet", FLEET, "-o"])
        .arg(&exported));
    assert_eq!(r.code, 0, "{}", r.stderr);
    runs.push(r);
    runs.push(Run {
        code: 0,
        stdout: std::fs::read_to_string(&exported).expect("exported"),
        stderr: String::new(),
    });
    // Wrong credentials: the errors do not echo them.
    let wrong_password = "Wr0ng-Telematics-Passw0rd";
    let wrong_key = "0f1e2d3c-4b5a-4978-8695-000000000000";
    let r = run(env
        .bin()
        .env("TELEMATICS_PASSWORD", wrong_password)
        .args(["plan", "-v", "-f"])
        .arg(&path));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);
    runs.push(r);
    let fresh = dir.path().join("fresh.yaml");
    std::fs::write(
        &fresh,
        format!("{}users:\n  - clientId: drv-new\n", env.head(FLEET)),
    )
    .expect("write");
    let r = run(env
        .bin()
        .env("TELEMATICS_INSTANCE_KEY", wrong_key)
        .args(["apply", "-v", "--auto-approve", "-f"])
        .arg(&fresh));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("POST /v1/Registration/create -> 401"),
        "{}",
        r.stdout
    );
    runs.push(r);

    let secrets: Vec<&str> = [
        env.password.as_str(),
        env.key.as_str(),
        wrong_password,
        wrong_key,
    ]
    .into_iter()
    .chain(tokens.iter().map(String::as_str))
    .collect();
    for (i, r) in runs.iter().enumerate() {
        for secret in &secrets {
            assert!(
                !r.stdout.contains(secret),
                "run {i}: a secret in stdout:\n{}",
                r.stdout
            );
            assert!(
                !r.stderr.contains(secret),
                "run {i}: a secret in stderr:\n{}",
                r.stderr
            );
        }
    }
    assert!(
        tokens.len() >= 8,
        "the tokens of several sessions were checked"
    );
}
