//! The sandbox's own extras, beyond the service: request log, counters, fault hook, seeding,
//! the clock, token issuing and the banner.

use std::sync::Arc;

use serde_json::json;
use telematics_sandbox::{Fault, SandboxConfig, User, faults, route};

use crate::harness::{Req, start, start_with};

/// The log records method, path, query, status and route of every request, and never a
/// header or body: no password, token or instance key appears in it.
#[tokio::test]
async fn the_request_log_and_counters_record_every_request_without_secrets() {
    let t = start().await;
    let admin = t.admin_token().await;
    t.register_client("drv-1").await;
    t.find(&admin, "ClientId=drv-1").await.result();
    t.send("GET", "/v1/Nothing", Req::new()).await.expect(404);
    let log = t.sandbox.requests();
    let routes: Vec<(&str, u16)> = log.iter().map(|r| (r.route.as_str(), r.status)).collect();
    assert_eq!(
        routes,
        [
            (route::LOGIN, 200),
            (route::REGISTER, 200),
            (route::FIND, 200),
            ("GET (unmatched)", 404),
        ]
    );
    assert_eq!(log[2].query.as_deref(), Some("ClientId=drv-1"));
    let stats = t.sandbox.stats();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.by_route.get(route::REGISTER), Some(&1));
    let dump = format!("{log:?}{stats:?}");
    for secret in [
        t.config().admin.password.as_str(),
        t.config().instance.key.as_str(),
        admin.as_str(),
    ] {
        assert!(!dump.contains(secret), "the log shows a secret");
    }
    t.sandbox.reset_stats();
    assert!(t.sandbox.requests().is_empty());
    assert_eq!(t.sandbox.stats().total, 0);
}

/// The lost registration answer: the user is created, the connection closes without an
/// answer; reading back finds it, and the log shows status 0.
#[tokio::test]
async fn a_lost_registration_answer_still_creates_the_user() {
    let t = start().await;
    t.sandbox
        .set_fault_hook(Some(faults::first(route::REGISTER, Fault::AnswerLost)));
    let sent = t
        .client
        .post(format!("{}/v1/Registration/create", t.base))
        .header("InstanceId", &t.config().instance.id)
        .header("InstanceKey", &t.config().instance.key)
        .json(&json!({"CreateAccessToken": false, "UserFields": {"ClientId": "drv-1"}}))
        .send()
        .await;
    assert!(sent.is_err(), "no answer: {sent:?}");
    let admin = t.admin_token().await;
    let found = t.find(&admin, "ClientId=drv-1").await.result();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(t.sandbox.requests()[0].status, 0);
    assert_eq!(t.sandbox.stats().faulted, 1);
    // Only the first registration was faulted.
    t.register_client("drv-2").await;
}

/// A dropped request and an injected 5xx or 429 change nothing on the server.
#[tokio::test]
async fn dropped_and_refused_requests_change_nothing() {
    let t = start().await;
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = count.clone();
    t.sandbox.set_fault_hook(Some(Arc::new(move |info| {
        if info.route != route::REGISTER {
            return None;
        }
        match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Some(Fault::Drop),
            1 => Some(faults::server_error()),
            2 => Some(faults::unavailable()),
            3 => Some(faults::too_many_requests()),
            _ => None,
        }
    })));
    let req = || {
        t.client
            .post(format!("{}/v1/Registration/create", t.base))
            .header("InstanceId", &t.config().instance.id)
            .header("InstanceKey", &t.config().instance.key)
            .json(&json!({}))
            .send()
    };
    assert!(req().await.is_err());
    let statuses = [
        req().await.unwrap().status().as_u16(),
        req().await.unwrap().status().as_u16(),
        req().await.unwrap().status().as_u16(),
    ];
    assert_eq!(statuses, [500, 503, 429]);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
    assert_eq!(req().await.unwrap().status().as_u16(), 200);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 1);
}

/// Notes §3 (a body `Status` other than 200 is an error even on HTTP 200): the fault hook can
/// produce that answer; the request is not handled.
#[tokio::test]
async fn a_fault_can_answer_http_200_with_an_error_status_in_the_body() {
    let t = start().await;
    t.sandbox.set_fault_hook(Some(faults::first(
        route::REGISTER,
        faults::status_mismatch(),
    )));
    let r = t.register(json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["Status"], 500);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
}

/// A seeded plan faults about its rate of requests, and only the targeted class.
#[tokio::test]
async fn a_seeded_plan_faults_only_its_target() {
    let t = start_with(SandboxConfig {
        login_limit: None,
        ..SandboxConfig::default()
    })
    .await;
    let mut plan = faults::Plan::new(3, 1.0);
    plan.kinds = vec![faults::Kind::ServerError];
    plan.target = faults::Target::Writes;
    let (hook, counts) = plan.hook();
    t.sandbox.set_fault_hook(Some(hook));
    let admin = t.admin_token().await;
    t.find(&admin, "ClientId=x").await.result();
    let r = t.register(json!({})).await;
    assert!(r.status >= 500, "{}", r.status);
    assert_eq!(counts.total(), 1);
}

/// Seeding adds users directly (any state, any instance) without requests or rate limits.
#[tokio::test]
async fn seeding_adds_users_without_requests() {
    let t = start().await;
    let tokens = t.sandbox.seed(|s| {
        (0..250)
            .map(|i| {
                let mut u = User::new(&t.config().instance.id);
                u.fields.client_id = Some(format!("drv-{i:04}"));
                s.add_user(u).unwrap()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(tokens.len(), 250);
    assert_eq!(t.sandbox.stats().total, 0);
    let admin = t.admin_token().await;
    let page = t.list(&admin, t.list_body(1, 100)).await.result();
    assert_eq!(page["TotalUsers"], 250);
    assert_eq!(page["TotalPages"], 3);
}

/// `issue_admin_tokens` hands out a working pair without a login request, so without counting
/// against the login limit; its Debug form hides the tokens.
#[tokio::test]
async fn issued_admin_tokens_work_and_do_not_count_as_logins() {
    let t = start_with(SandboxConfig {
        login_limit: Some(telematics_sandbox::LoginLimit {
            max: 1,
            ..telematics_sandbox::LoginLimit::default()
        }),
        ..SandboxConfig::default()
    })
    .await;
    let pair = t.sandbox.issue_admin_tokens();
    assert!(!format!("{pair:?}").contains(&pair.access_token));
    t.find(&pair.access_token, "ClientId=x").await.result();
    let refreshed = t
        .send(
            "POST",
            "/v1/Auth/RefreshToken",
            Req::new().json(
                json!({"AccessToken": pair.access_token, "RefreshToken": pair.refresh_token}),
            ),
        )
        .await
        .result();
    assert!(refreshed["AccessToken"]["Token"].is_string());
    t.login().await.result();
    t.login().await.expect(429);
}

/// The banner names the URL, the instance id and the three environment variables.
#[tokio::test]
async fn the_banner_prints_the_instance_and_the_environment_to_export() {
    let t = start().await;
    let banner = telematics_sandbox::banner(&t.sandbox);
    let c = t.config();
    for line in [
        format!("Telematics sandbox listening on {}", t.base),
        format!("export TELEMATICS_INSTANCE_KEY={}", c.instance.key),
        format!("export TELEMATICS_EMAIL={}", c.admin.email),
        format!("export TELEMATICS_PASSWORD={}", c.admin.password),
        format!("  instanceId: {}", c.instance.id),
        format!("  url: {}", t.base),
    ] {
        assert!(
            banner.lines().any(|l| l == line),
            "missing {line:?} in\n{banner}"
        );
    }
}

/// A configured instance and admin credential replace the defaults; an instance id that is not
/// a UUID is refused at start.
#[tokio::test]
async fn the_instance_and_admin_credential_are_configurable() {
    let mut config = SandboxConfig::default();
    config.instance.id = telematics_sandbox::new_uuid();
    config.instance.key = telematics_sandbox::new_uuid();
    config.admin.email = "ops@example.invalid".into();
    config.admin.password = "another-password".into();
    let t = start_with(config.clone()).await;
    t.admin_token().await;
    t.register(json!({})).await.result();
    let old = t
        .send(
            "POST",
            "/v1/Registration/create",
            Req::new()
                .header("InstanceId", telematics_sandbox::DEFAULT_INSTANCE_ID)
                .header("InstanceKey", telematics_sandbox::DEFAULT_INSTANCE_KEY)
                .json(json!({})),
        )
        .await;
    old.expect(401);
    config.instance.id = "not-a-uuid".into();
    let refused = telematics_sandbox::Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await;
    assert!(refused.is_err());
}
