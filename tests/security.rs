//! Security properties, tested from the outside: credentials never appear in any output (stdout,
//! stderr, `-v` request logs, JSON plans, error messages) whichever way they are given; plain
//! http is refused for hosts that are not loopback; `--credentials-out` files are private and
//! never overwritten silently; malformed server answers give clean errors that name the request;
//! hostile fleet files give clean errors, never a panic.

use std::sync::Arc;

use base64::Engine;
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::DEMO_ADMIN;
use fleetform::config;
use proptest::prelude::*;
use serde_json::Value as Json;
use traccar_sandbox::{Fault, FaultHook};

use crate::e2e::{Run, bin, env, fleet, password, run};

const FILE: &str = r#"
version: 1
fleet: acme-bikes
manager: fleet@acme.example
users:
  - email: max@mustermann.at
    name: Max Mustermann
    devices: [BT-000101]
    groups: [Vienna]
  - email: erika@example.at
    devices: [BT-000107]
"#;

/// Every way of passing credentials, every command and output format, with `-v`: none of the
/// secrets used (nor the generated passwords) appears anywhere the user or a CI log can see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_any_output() {
    let env = env().await;
    let password = password(&env.admin);
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_ADMIN}:{password}"));
    let token = reqwest::Client::new()
        .post(format!("{}/api/session/token", env.url))
        .basic_auth(DEMO_ADMIN, Some(&password))
        .form(&[("expiration", "2030-01-01T00:00:00Z")])
        .send()
        .await
        .expect("token request")
        .text()
        .await
        .expect("token");
    assert!(token.len() > 20, "{token}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, FILE).expect("write");
    let creds = dir.path().join("creds.json");

    type Auth<'a> = &'a [(&'a str, &'a str)];
    let with_password: Auth = &[
        ("TRACCAR_EMAIL", DEMO_ADMIN),
        ("TRACCAR_PASSWORD", &password),
    ];
    let with_basic: Auth = &[("TRACCAR_AUTH_TOKEN", &basic)];
    let with_token: Auth = &[("TRACCAR_TOKEN", &token)];
    let mut runs = Vec::new();
    for (i, auth) in [with_password, with_basic, with_token]
        .into_iter()
        .enumerate()
    {
        let cmd = |args: &[&str]| {
            let mut c = bin();
            c.args(args)
                .arg("-f")
                .arg(&file)
                .env("TRACCAR_URL", &env.url);
            if args[0] == "apply" {
                c.arg("--credentials-out").arg(&creds);
            }
            for (k, v) in auth {
                c.env(k, v);
            }
            c
        };
        let plan = run(&mut cmd(&["plan", "-v"]));
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert!(
            plan.stderr.contains("GET /api/users -> 200 ("),
            "{}",
            plan.stderr
        );
        if auth == with_token {
            // The one URL that carries a secret is logged with its value replaced.
            assert!(
                plan.stderr
                    .contains("GET /api/session?token=REDACTED -> 200 ("),
                "{}",
                plan.stderr
            );
        }
        let json = run(&mut cmd(&["plan", "-v", "--format", "json"]));
        assert_eq!(json.code, 0, "{}", json.stderr);
        serde_json::from_str::<Json>(&json.stdout).expect("a JSON plan");
        runs.extend([plan, json]);
        if i == 0 {
            // Markdown, a saved plan and its metrics are outputs too.
            let saved = dir.path().join("saved.json");
            let metrics = dir.path().join("metrics.prom");
            let mut markdown = cmd(&["plan", "-v", "--format", "markdown"]);
            markdown
                .arg("--out")
                .arg(&saved)
                .arg("--metrics-out")
                .arg(&metrics);
            let markdown = run(&mut markdown);
            assert_eq!(markdown.code, 0, "{}", markdown.stderr);
            let files = Run {
                code: 0,
                stdout: std::fs::read_to_string(&saved).expect("saved plan"),
                stderr: std::fs::read_to_string(&metrics).unwrap_or_default(),
            };
            assert!(
                files.stdout.contains("max@mustermann.at"),
                "{}",
                files.stdout
            );
            runs.extend([markdown, files]);
            let applied = run(&mut cmd(&["apply", "-v", "--auto-approve"]));
            assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
            runs.push(applied);
        }
    }
    // A wrong secret of each kind: the error must not echo it.
    let wrong_password = "Wr0ng-Passw0rd-Value";
    let wrong_basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_ADMIN}:{wrong_password}"));
    let wrong_token = format!("{token}x");
    for auth in [
        vec![
            ("TRACCAR_EMAIL", DEMO_ADMIN),
            ("TRACCAR_PASSWORD", wrong_password),
        ],
        vec![("TRACCAR_AUTH_TOKEN", wrong_basic.as_str())],
        vec![("TRACCAR_TOKEN", wrong_token.as_str())],
    ] {
        let mut c = bin();
        c.args(["plan", "-v", "-f"])
            .arg(&file)
            .env("TRACCAR_URL", &env.url);
        for (k, v) in auth {
            c.env(k, v);
        }
        let r = run(&mut c);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);
        runs.push(r);
    }

    let written: Json =
        serde_json::from_str(&std::fs::read_to_string(&creds).expect("credentials")).expect("json");
    let generated: Vec<String> = written
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["password"].as_str().expect("password").to_string())
        .collect();
    assert_eq!(generated.len(), 2);
    let secrets: Vec<&str> = [
        password.as_str(),
        basic.as_str(),
        token.as_str(),
        wrong_password,
        wrong_basic.as_str(),
    ]
    .into_iter()
    .chain(generated.iter().map(String::as_str))
    .collect();
    for (i, r) in runs.iter().enumerate() {
        for s in &secrets {
            assert!(
                !r.stdout.contains(s),
                "run {i}: a secret in stdout:\n{}",
                r.stdout
            );
            assert!(
                !r.stderr.contains(s),
                "run {i}: a secret in stderr:\n{}",
                r.stderr
            );
        }
    }
}

#[test]
fn plain_http_is_refused_for_remote_hosts_unless_insecure_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, FILE).expect("write");
    let base = |url: &str| {
        let mut c = bin();
        c.args(["plan", "--timeout", "1", "-f"])
            .arg(&file)
            .env("TRACCAR_URL", url)
            .env("TRACCAR_EMAIL", DEMO_ADMIN)
            .env("TRACCAR_PASSWORD", "S3cret-In-Clear");
        c
    };
    let refused = run(&mut base("http://traccar.example.com"));
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("refusing plain http"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--insecure-http"),
        "{}",
        refused.stderr
    );
    // With the flag, the refusal is lifted (the documentation address then fails to connect).
    let allowed = run(base("http://192.0.2.1:9").arg("--insecure-http"));
    assert_eq!(allowed.code, 1);
    assert!(
        !allowed.stderr.contains("refusing plain http"),
        "{}",
        allowed.stderr
    );
    // Credentials in the URL are refused, and not repeated.
    let in_url = run(&mut base("https://admin:Url-Secret-9@traccar.example.com"));
    assert_eq!(in_url.code, 1);
    assert!(
        in_url.stderr.contains("must not contain credentials"),
        "{}",
        in_url.stderr
    );
    for r in [&refused, &allowed, &in_url] {
        for s in ["S3cret-In-Clear", "Url-Secret-9"] {
            assert!(
                !r.stderr.contains(s) && !r.stdout.contains(s),
                "{}",
                r.stderr
            );
        }
    }
    // A scheme fleetform does not speak is refused too, without echoing user info.
    let ftp = run(&mut base("ftp://u:Url-Secret-9@host/"));
    assert_eq!(ftp.code, 1);
    assert!(!ftp.stderr.contains("Url-Secret-9"), "{}", ftp.stderr);
}

/// `export` and `apply PLAN` connect through the same path as `plan`: a `--url` carrying
/// credentials is refused without repeating them, whatever the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_never_printed_by_export_or_apply_plan() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, FILE).expect("write");
    let saved = dir.path().join("plan.json");
    let login = |c: &mut std::process::Command| {
        c.env("TRACCAR_EMAIL", DEMO_ADMIN)
            .env("TRACCAR_PASSWORD", password(&env.admin));
    };
    let mut plan = bin();
    plan.args(["plan", "-f"])
        .arg(&file)
        .arg("--out")
        .arg(&saved)
        .env("TRACCAR_URL", &env.url);
    login(&mut plan);
    let planned = run(&mut plan);
    assert_eq!(planned.code, 0, "{}", planned.stderr);

    let secret = "Url-Secret-9";
    for url in [
        format!("https://admin:{secret}@traccar.example.com"),
        format!("ftp://u:{secret}@host/"),
        env.url.replacen("://", &format!("://admin:{secret}@"), 1),
    ] {
        let mut export = bin();
        export.args([
            "export",
            "--fleet",
            "acme-bikes",
            "--timeout",
            "1",
            "--url",
            &url,
        ]);
        let mut apply = bin();
        apply
            .args(["apply", "--auto-approve", "--timeout", "1", "--plan"])
            .arg(&saved)
            .args(["--url", &url]);
        for cmd in [&mut export, &mut apply] {
            login(cmd);
            let r = run(cmd);
            assert_eq!(r.code, 1, "{url}: {}", r.stderr);
            assert!(
                !r.stderr.contains(secret) && !r.stdout.contains(secret),
                "{url}: {}{}",
                r.stdout,
                r.stderr
            );
            // The server is still named, with its user info cut.
            assert!(r.stderr.contains("<redacted>@"), "{url}: {}", r.stderr);
        }
    }
}

#[cfg(unix)]
#[test]
fn credentials_files_are_private_and_not_overwritten_without_force() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("creds.csv");
    let mut f = fleetform::cmd::apply::open_credentials_file(&path, false).expect("create");
    writeln!(f, "x").expect("write");
    drop(f);
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    let err = fleetform::cmd::apply::open_credentials_file(&path, false).expect_err("exists");
    assert!(format!("{err:#}").contains("--force"), "{err:#}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "x\n",
        "left as it was"
    );
    // --force on a file that was world-readable: overwritten, and private again.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    drop(fleetform::cmd::apply::open_credentials_file(&path, true).expect("force"));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "",
        "truncated"
    );
}

/// A hook that answers every `GET <path>` with `status` and `body`, as a broken proxy would.
fn answer(path: &'static str, status: u16, body: &'static str) -> FaultHook {
    Arc::new(move |info| {
        (info.method == "GET" && info.path == path).then(|| Fault::Respond {
            status,
            body: body.to_string(),
        })
    })
}

#[tokio::test]
async fn malformed_server_answers_give_a_clean_error_naming_the_request() {
    let env = env().await;
    let loaded = fleet(FILE);
    let options = || Options {
        retry: fleetform::backend::traccar::api::RetryPolicy {
            max_attempts: 2,
            base_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        },
        ..Options::default()
    };
    for (path, status, body, expect) in [
        ("/api/users", 200, "this is not json{", "GET /api/users"),
        (
            "/api/users",
            200,
            "{\"an\": \"object, not a list\"}",
            "GET /api/users",
        ),
        ("/api/devices", 200, "[{\"id\": \"seven\"}]", "/api/devices"),
        ("/api/groups", 200, "[1, 2, 3]", "/api/groups"),
        (
            "/api/users",
            502,
            "<html><body>Bad gateway</body></html>",
            "GET /api/users -> 502",
        ),
        ("/api/server", 200, "\u{0}\u{1}garbage", "/api/server"),
    ] {
        env.sandbox.set_fault_hook(Some(answer(path, status, body)));
        let result = async {
            let backend = TraccarBackend::connect(&env.url, &env.admin, options()).await?;
            fleetform::make_plan(&backend, &loaded.desired).await
        }
        .await;
        let err = result.expect_err("a malformed answer must fail the plan");
        let text = format!("{err:#}");
        assert!(text.contains(expect), "{path} {body:?}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(text.len() < 2_000, "the error stays short: {text}");
    }
    env.sandbox.set_fault_hook(None);
    // Nothing was written, and everything works again once the server is sane.
    assert!(env.user("max@mustermann.at").await.is_none());
    env.plan(FILE).await;
}

/// Values substituted from the environment never come back in a message after the file is
/// loaded: not in a plan refusal printed as the error, not in a server's answer that the apply
/// report repeats, not even cut short by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substituted_values_stay_out_of_errors_and_server_answers() {
    let env = env().await;
    let who = "Zx-Whoami-Value-7";
    let long = "L0ng-Substituted-Name-".repeat(8);
    let device = "BT-Secret-Device-9";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet.yaml");
    let fleetform = |args: &[&str], text: &str| {
        std::fs::write(&file, text).expect("write");
        run(env
            .admin_bin()
            .args(args)
            .arg("-f")
            .arg(&file)
            .env("WHO", who)
            .env("LONGNAME", &long)
            .env("DEV", device))
    };
    let base = "version: 1\nfleet: acme-bikes\nusers:\n  - email: new@acme.example\n    name: ${LONGNAME}\n    phone: ${WHO}\n";

    // A plan refusal names the device: as its variable.
    let refused = fleetform(&["plan"], &format!("{base}    devices: [\"${{DEV}}\"]\n"));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("device ${DEV} is not visible"),
        "{}",
        refused.stderr
    );

    // The server's answer quotes the phone whole and the name cut to 80 characters.
    let cut: String = long.chars().take(80).collect();
    let body = format!(
        "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: \
         Unique index or primary key violation: \"PUBLIC.USERS_NAME_PHONE ON PUBLIC.TC_USERS(NAME, PHONE) \
         VALUES ( /* 1 */ '{cut}...', '{who}' )\"; SQL statement:\nINSERT INTO tc_users [23505-232]"
    );
    env.sandbox.set_fault_hook(Some(Arc::new(move |info| {
        (info.method == "POST" && info.path == "/api/users").then(|| Fault::Respond {
            status: 400,
            body: body.clone(),
        })
    })));
    let applied = fleetform(&["apply", "--auto-approve"], base);
    env.sandbox.set_fault_hook(None);
    assert_eq!(applied.code, 1, "{}\n{}", applied.stdout, applied.stderr);
    let report = applied
        .stdout
        .split_once("failed:  ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no failed action:\n{}", applied.stdout));
    assert!(
        report.contains("VALUES ( /* 1 */ '${LONGNAME}...', '${WHO}' )"),
        "{report}"
    );
    for r in [&refused, &applied] {
        for value in [who, device, &cut[..20]] {
            assert!(!r.stderr.contains(value), "{value} in stderr: {}", r.stderr);
        }
    }
    for value in [who, &cut[..20]] {
        assert!(!report.contains(value), "{value} in the report: {report}");
    }
}

/// Hostile fleet files through the real binary: a clean, located error and exit 1; never a
/// panic, a hang or an out-of-memory kill.
#[test]
fn hostile_fleet_files_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut laughs = String::from(
        "version: 1\nfleet: a\nroles:\n  x:\n    attributes:\n      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        laughs.push_str(&format!("      a{i}: &a{i} [{refs}]\n"));
    }
    let huge = vec![b'#'; config::MAX_DOCUMENT_BYTES + 10];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("alias bomb", laughs.into_bytes()),
        (
            "deep nesting",
            format!(
                "version: 1\nfleet: a\nx: {}{}\n",
                "[".repeat(50_000),
                "]".repeat(50_000)
            )
            .into_bytes(),
        ),
        ("huge file", huge),
        (
            "huge scalar",
            format!("version: 1\nfleet: {}\n", "a".repeat(2_000_000)).into_bytes(),
        ),
        ("invalid UTF-8", b"version: 1\nfleet: \xff\xfe\n".to_vec()),
        (
            "duplicate keys",
            b"version: 1\nfleet: a\nfleet: b\n".to_vec(),
        ),
        (
            "wrong types",
            b"version: [1]\nfleet: {a: b}\nusers: 7\n".to_vec(),
        ),
        ("not a mapping", b"- just\n- a list\n".to_vec()),
        ("binary", (0u8..=255).cycle().take(5_000).collect()),
    ];
    for (what, bytes) in cases {
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, &bytes).expect("write");
        let r = run(bin().args(["validate", "-f"]).arg(&file));
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert!(r.stderr.contains("fleet.yaml"), "{what}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
        assert!(
            r.stderr.len() < 20_000,
            "{what}: the error is not the file again"
        );
    }
}

/// Arbitrary JSON values (JSON is YAML) at every place of a fleet file, and at its root.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        "[ -~]{0,12}".prop_map(Json::String),
        "\\PC{0,8}".prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map("[a-zA-Z.]{0,10}", inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_arbitrary_values(
        root in json_value(),
        email in json_value(),
        devices in json_value(),
        fields in json_value(),
        roles in json_value(),
    ) {
        let _ = config::parse_bytes(root.to_string().as_bytes(), "f.yaml");
        let doc = serde_json::json!({
            "version": 1,
            "fleet": "a",
            "roles": roles,
            "users": [{"email": email, "devices": devices, "attributes": fields}],
        });
        let _ = config::parse_bytes(doc.to_string().as_bytes(), "f.yaml");
        // The same in block style, where indentation matters.
        let block = format!(
            "version: 1\nfleet: a\nusers:\n  - email: {email}\n    devices: {devices}\n    attributes: {fields}\n"
        );
        let _ = config::parse_bytes(block.as_bytes(), "f.yaml");
    }

    #[test]
    fn the_loader_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        prefix in prop::sample::select(vec!["", "version: 1\nfleet: a\nusers:\n  - ", "\u{feff}"]),
    ) {
        let mut all = prefix.as_bytes().to_vec();
        all.extend(bytes);
        let _ = config::parse_bytes(&all, "f.yaml");
    }
}

/// A certificate the client cannot verify (here a self-signed one, as a company CA's would be
/// without `--ca-cert`) fails at the first handshake: it is not retried (it was, five times:
/// "invalid peer certificate: UnknownIssuer (after 5 attempts)") and the error points to
/// `--ca-cert`. The fixture's certificate and key (tests/fixtures/untrusted-*.der) are a
/// throwaway self-signed pair for 127.0.0.1, trusted by nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverifiable_certificate_fails_at_once_and_points_to_ca_cert() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let cert = CertificateDer::from(include_bytes!("fixtures/untrusted-cert.der").to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        include_bytes!("fixtures/untrusted-key.der").to_vec(),
    ));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let server = {
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                handshakes.fetch_add(1, Ordering::SeqCst);
                // The client refuses the certificate; the handshake fails on this side too.
                let _ = acceptor.accept(stream).await;
            }
        })
    };
    let credentials = fleetform::backend::traccar::api::Credentials::Password {
        email: "a@x.test".into(),
        password: fleetform::core::secret::Secret::new("pw"),
    };
    let url = format!("https://127.0.0.1:{port}");
    let Err(error) = TraccarBackend::connect(&url, &credentials, Options::default()).await else {
        panic!("the certificate is not trusted");
    };
    let message = format!("{error:#}");
    server.abort();
    assert!(message.contains("--ca-cert"), "{message}");
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(!message.contains("attempts"), "{message}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 1, "{message}");
}
