//! Faults on a telematics instance: a lost registration answer, a registration that failed
//! with 5xx, an access token that expires in the middle of an apply, a refresh token refused,
//! 5xx on reads and updates, 429 on the login, a service that refuses every token, and a
//! listing that shifts while it is read. Never a duplicate user, never a loop on the login.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use telematics_sandbox::{Fault, FaultHook, RequestInfo, SandboxConfig, route};

use super::{FLEET, TEnv, parse, tenv, tenv_with};

fn three(env: &TEnv) -> String {
    format!(
        "{}users:\n  - clientId: a\n    firstName: A\n  - clientId: b\n    city: Graz\n  - clientId: c\n    enabled: false\n",
        env.head(FLEET)
    )
}

/// A hook answering the `nth` (1-based) request of `route` with `fault`, and nothing else.
fn nth(route_name: &'static str, nth: usize, fault: Fault) -> FaultHook {
    let seen = Arc::new(AtomicUsize::new(0));
    Arc::new(move |r: &RequestInfo| {
        if r.route != route_name {
            return None;
        }
        (seen.fetch_add(1, Ordering::SeqCst) + 1 == nth).then(|| fault.clone())
    })
}

fn assert_one_each(env: &TEnv, ids: &[&str]) {
    for id in ids {
        assert_eq!(env.with_client_id(id).len(), 1, "exactly one user {id}");
    }
}

#[tokio::test]
async fn a_lost_registration_answer_is_read_back_never_registered_twice() {
    let env = tenv().await;
    env.sandbox
        .set_fault_hook(Some(nth(route::REGISTER, 2, Fault::AnswerLost)));
    let backend = env.backend().await;
    env.sandbox.reset_stats();
    let report = env.apply_with(&backend, &three(&env)).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_one_each(&env, &["a", "b", "c"]);
    assert_eq!(env.count(route::REGISTER), 3, "none sent twice");
    assert_eq!(env.count(route::FIND), 1, "the lost one was looked up");
    // The follow-up updates (city, deactivation) reached the user the lost answer created.
    assert_eq!(env.one("b").profile.city.as_deref(), Some("Graz"));
    assert!(!env.one("c").fields.enabled);
    env.sandbox.set_fault_hook(None);
    assert!(env.plan(&three(&env)).await.expect("plan").is_empty());
}

#[tokio::test]
async fn a_registration_refused_with_5xx_is_checked_then_sent_again() {
    let env = tenv().await;
    let error = Fault::Respond {
        status: 503,
        body: r#"{"Result":null,"Status":503,"Title":"Service Unavailable","Errors":[]}"#.into(),
    };
    env.sandbox
        .set_fault_hook(Some(nth(route::REGISTER, 1, error)));
    env.sandbox.reset_stats();
    env.apply(&three(&env)).await;
    assert_one_each(&env, &["a", "b", "c"]);
    assert_eq!(env.count(route::REGISTER), 4, "the refused one once more");
    assert_eq!(env.count(route::FIND), 1);
}

#[tokio::test]
async fn an_access_token_that_expires_mid_apply_is_refreshed_once() {
    let env = tenv().await;
    let backend = env.backend().await;
    let plan = fleetform::make_plan(&backend, &parse(&three(&env)).desired)
        .await
        .expect("plan");
    // A day passes between the plan and the apply: the access token (24 h) has expired.
    env.sandbox.advance_clock(Duration::from_secs(2 * 86_400));
    env.sandbox.reset_stats();
    let report = fleetform::apply::apply(&backend, &plan, &mut Vec::new()).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(env.count(route::LOGIN), 0);
    assert_eq!(
        env.count(route::REFRESH),
        1,
        "one refresh for every request that got 401"
    );
    assert_eq!(backend.client_stats().logins, 1);
    assert_one_each(&env, &["a", "b", "c"]);

    // The refresh token expired too (90 days): one more login, never a third.
    env.sandbox.advance_clock(Duration::from_secs(100 * 86_400));
    env.sandbox.reset_stats();
    let more = format!("{}  - clientId: d\n", three(&env));
    let report = env.apply_with(&backend, &more).await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(env.count(route::REFRESH), 1);
    assert_eq!(env.count(route::LOGIN), 1);
    assert_eq!(backend.client_stats().logins, 2);
    env.sandbox.advance_clock(Duration::from_secs(100 * 86_400));
    let error = format!(
        "{:#}",
        fleetform::make_plan(&backend, &parse(&more).desired)
            .await
            .expect_err("a third login is never made")
    );
    assert!(error.contains("logs in at most 2 times per run"), "{error}");
    assert_eq!(backend.client_stats().logins, 2);
}

#[tokio::test]
async fn a_service_that_refuses_every_token_is_not_asked_again_and_again() {
    let env = tenv().await;
    let backend = env.backend().await;
    let unauthorized = Fault::Respond {
        status: 401,
        body: String::new(),
    };
    env.sandbox
        .set_fault_hook(Some(Arc::new(move |r: &RequestInfo| {
            (r.route == route::LIST).then(|| unauthorized.clone())
        })));
    env.sandbox.reset_stats();
    let error = format!(
        "{:#}",
        fleetform::make_plan(&backend, &parse(&three(&env)).desired)
            .await
            .expect_err("refused")
    );
    assert!(
        error.contains("refused the renewed access token too"),
        "{error}"
    );
    assert_eq!(env.count(route::LIST), 2, "the request and its one retry");
    assert_eq!(env.count(route::REFRESH), 1);
    assert_eq!(env.count(route::LOGIN), 0);
}

#[tokio::test]
async fn server_errors_on_reads_and_updates_are_retried() {
    let env = tenv().await;
    env.apply(&three(&env)).await;
    let changed = three(&env).replace("firstName: A", "firstName: Anna");
    let unavailable = Fault::Respond {
        status: 502,
        body: "<html>bad gateway</html>".into(),
    };
    let seen = Arc::new(AtomicUsize::new(0));
    env.sandbox
        .set_fault_hook(Some(Arc::new(move |r: &RequestInfo| {
            let first = [route::LIST, route::UPDATE].contains(&r.route.as_str())
                && seen.fetch_add(1, Ordering::SeqCst) < 2;
            first.then(|| unavailable.clone())
        })));
    env.apply(&changed).await;
    assert_eq!(env.one("a").profile.first_name.as_deref(), Some("Anna"));
    env.sandbox.set_fault_hook(None);

    // An update that keeps failing fails alone, after its retries; the create beside it is
    // done.
    let broken = Fault::Respond {
        status: 500,
        body: r#"{"Status":500,"Title":"An error occurred.","Errors":[]}"#.into(),
    };
    env.sandbox
        .set_fault_hook(Some(Arc::new(move |r: &RequestInfo| {
            (r.route == route::UPDATE).then(|| broken.clone())
        })));
    let both = format!(
        "{}  - clientId: d\n",
        changed.replace("firstName: Anna", "firstName: Annika")
    );
    let backend = env.backend().await;
    env.sandbox.reset_stats();
    let report = env.apply_with(&backend, &both).await;
    assert_eq!(
        (report.done.len(), report.failed.len()),
        (1, 1),
        "{report:?}"
    );
    let (action, failure) = &report.failed[0];
    assert_eq!(action.email(), "a");
    assert!(
        failure
            .to_string()
            .contains("PUT /v1/Management/users -> 500: An error occurred. (after 4 attempts)"),
        "{failure}"
    );
    assert_eq!(env.count(route::UPDATE), 4);
    assert_one_each(&env, &["a", "b", "c", "d"]);
    assert_eq!(env.one("a").profile.first_name.as_deref(), Some("Anna"));
}

#[tokio::test]
async fn a_429_on_the_login_stops_the_run_after_one_login() {
    let env = tenv_with(SandboxConfig::default()).await;
    let too_many = Fault::RespondWith {
        status: 429,
        headers: vec![("Retry-After".into(), "3600".into())],
        body: r#"{"Result":null,"Status":429,"Title":"Too many login attempts.","Errors":[]}"#
            .into(),
    };
    env.sandbox
        .set_fault_hook(Some(nth(route::LOGIN, 1, too_many)));
    let error = match fleetform::backend::telematics::TelematicsBackend::connect(
        &env.url,
        &env.instance,
        &env.credentials(),
        env.options(),
    )
    .await
    {
        Ok(_) => panic!("connected despite the 429"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("too many logins from this address"),
        "{error}"
    );
    assert!(error.contains("--token-cache"), "{error}");
    assert_eq!(env.count(route::LOGIN), 1, "never retried");
    assert_eq!(env.sandbox.stats().total, 1, "nothing else was sent");
    assert!(env.users().is_empty());

    // The sandbox's own limit, five a minute: the sixth run of the minute is refused.
    env.sandbox.set_fault_hook(None);
    env.sandbox.reset_login_limit();
    for _ in 0..5 {
        env.backend().await;
    }
    let refused = fleetform::backend::telematics::TelematicsBackend::connect(
        &env.url,
        &env.instance,
        &env.credentials(),
        env.options(),
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(env.sandbox.stats().logins_refused, 1);
}

#[tokio::test]
async fn a_listing_that_shifts_while_it_is_read_is_read_again_or_refused() {
    let env = tenv_with(SandboxConfig {
        login_limit: None,
        max_page_size: Some(5),
        ..SandboxConfig::default()
    })
    .await;
    for i in 0..12 {
        env.seed_user(Some(&format!("u{i:02}")), |_| {});
    }
    let moved = Fault::Respond {
        status: 200,
        body: r#"{"Result":{"Users":[],"HasPreviousPage":true,"HasNextPage":false,"TotalUsers":13,"TotalPages":3,"CurrentPage":2},"Status":200,"Title":"","Errors":[]}"#.into(),
    };
    let file = format!("{}prune: delete\nusers: []\n", env.head(FLEET));
    // Once: the walk starts again and the plan is made from the second, consistent walk.
    env.sandbox
        .set_fault_hook(Some(nth(route::LIST, 2, moved.clone())));
    env.sandbox.reset_stats();
    let plan = env.plan(&file).await.expect("plan");
    assert!(plan.is_empty(), "nobody of this fleet: {:?}", plan.actions);
    assert_eq!(env.count(route::LIST), 2 + 3);
    // Every time: refused, nothing planned, nothing written.
    let seen = Arc::new(AtomicUsize::new(0));
    env.sandbox
        .set_fault_hook(Some(Arc::new(move |r: &RequestInfo| {
            (r.route == route::LIST && seen.fetch_add(1, Ordering::SeqCst) % 2 == 1)
                .then(|| moved.clone())
        })));
    let error = format!("{:#}", env.plan(&file).await.expect_err("shifting"));
    assert!(
        error.contains("changed while fleetform read it, 3 times in a row"),
        "{error}"
    );
    assert!(
        error.contains("counted 12 users at the start and 13 at the end"),
        "{error}"
    );
    assert_eq!(env.users().len(), 12);
}

#[tokio::test]
async fn a_bulk_registration_whose_answer_is_lost_or_refused_creates_no_duplicate() {
    for (fault, created_by_bulk) in [
        (Fault::AnswerLost, true),
        (
            Fault::Respond {
                status: 503,
                body: String::new(),
            },
            false,
        ),
    ] {
        let env = tenv_with(SandboxConfig {
            login_limit: None,
            create_many: true,
            ..SandboxConfig::default()
        })
        .await;
        env.sandbox
            .set_fault_hook(Some(nth(route::REGISTER_MANY, 1, fault)));
        let backend = env.backend().await;
        env.sandbox.reset_stats();
        let report = env.apply_with(&backend, &three(&env)).await;
        assert!(report.is_success(), "{:?}", report.failed);
        assert_one_each(&env, &["a", "b", "c"]);
        assert_eq!(env.count(route::REGISTER_MANY), 1, "never sent twice");
        if created_by_bulk {
            assert_eq!(env.count(route::REGISTER), 0, "the read-back found them");
        } else {
            assert_eq!(
                env.count(route::FIND),
                3,
                "each looked up before it is sent again"
            );
            assert_eq!(env.count(route::REGISTER), 3);
        }
        assert_eq!(
            backend.bulk_registration(),
            fleetform::backend::telematics::Bulk::Off
        );
        assert_eq!(env.one("b").profile.city.as_deref(), Some("Graz"));
        env.sandbox.set_fault_hook(None);
        assert!(env.plan(&three(&env)).await.expect("plan").is_empty());
    }
}
