//! Login, refresh, token expiry, the login rate limit and JWT kinds (notes §2, §3).

use std::time::Duration;

use serde_json::{Value, json};
use telematics_sandbox::{LoginLimit, SandboxConfig};

use crate::harness::{Req, start, start_with};

fn token_of(result: &Value) -> String {
    result["AccessToken"]["Token"].as_str().unwrap().to_string()
}

fn refresh_of(result: &Value) -> String {
    result["RefreshToken"].as_str().unwrap().to_string()
}

/// Notes §2.1, §2.3, §3: the admin login answers the envelope with `AccessToken {Token,
/// ExpiresIn}` and `RefreshToken`, and no DeviceToken; the JWT lives 86,400 s.
#[tokio::test]
async fn admin_login_answers_a_jwt_and_a_refresh_token_in_the_envelope() {
    let t = start().await;
    let result = t.login().await.result();
    let keys: Vec<&String> = result.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["AccessToken", "RefreshToken"]);
    assert_eq!(result["AccessToken"]["ExpiresIn"], 86_400);
    assert_eq!(token_of(&result).split('.').count(), 3, "a JWT");
    assert!(!refresh_of(&result).is_empty());
}

/// Notes §2.1: `LoginFields` is a JSON-encoded string; the object form some clients send is
/// UNVERIFIED, and the sandbox refuses it as a binding error (422).
#[tokio::test]
async fn login_fields_is_a_json_encoded_string_and_an_object_is_refused() {
    let t = start().await;
    let object_form = json!({
        "LoginFields": {"email": t.config().admin.email},
        "Password": t.config().admin.password,
    });
    let keys = t
        .send("POST", "/v1/Auth/Login", Req::new().json(object_form))
        .await
        .validation_keys();
    assert_eq!(keys, ["$.LoginFields"]);
    let missing = t
        .send("POST", "/v1/Auth/Login", Req::new().json(json!({})))
        .await
        .validation_keys();
    assert_eq!(missing, ["LoginFields", "Password"]);
}

/// Notes §2.1: a wrong credential is a bare 401 (no body), and so is a wrongly cased inner key
/// (`Email`, `DeviceToken`): the inner keys are matched exactly.
#[tokio::test]
async fn login_refusals_are_a_bare_401_and_inner_keys_are_case_sensitive() {
    let t = start().await;
    let admin = t.config().admin.clone();
    for body in [
        json!({"LoginFields": json!({"email": admin.email}).to_string(), "Password": "wrong"}),
        json!({"LoginFields": json!({"email": "other@x.invalid"}).to_string(), "Password": admin.password}),
        json!({"LoginFields": json!({"Email": admin.email}).to_string(), "Password": admin.password}),
        json!({"LoginFields": "not json", "Password": admin.password}),
    ] {
        let r = t
            .send("POST", "/v1/Auth/Login", Req::new().json(body))
            .await;
        r.expect(401);
        assert_eq!(r.text, "", "a bare 401");
    }
    // The email itself is not case-sensitive.
    let upper = json!({
        "LoginFields": json!({"email": admin.email.to_uppercase()}).to_string(),
        "Password": admin.password,
    });
    t.send("POST", "/v1/Auth/Login", Req::new().json(upper))
        .await
        .result();
}

/// Notes §2 (credential 2), §2.1: a user logs in with `{"Devicetoken": ...}`, the InstanceKey
/// as password and the `InstanceId` header; the answer carries its DeviceToken. The spelling
/// `DeviceToken` inside `LoginFields` is a bare 401.
#[tokio::test]
async fn user_login_needs_devicetoken_spelt_exactly_the_instance_key_and_the_instance_id_header() {
    let t = start().await;
    let device_token = t.register_client("drv-1").await;
    let instance = t.config().instance.clone();
    let body = |key: &str, password: &str| json!({"LoginFields": json!({key: device_token}).to_string(), "Password": password});
    let ok = t
        .send(
            "POST",
            "/v1/Auth/Login",
            Req::new()
                .header("InstanceId", &instance.id)
                .json(body("Devicetoken", &instance.key)),
        )
        .await
        .result();
    assert_eq!(ok["DeviceToken"], device_token.as_str());
    assert_eq!(ok["AccessToken"]["ExpiresIn"], 86_400);
    for (req, what) in [
        (
            Req::new()
                .header("InstanceId", &instance.id)
                .json(body("DeviceToken", &instance.key)),
            "wrong key case",
        ),
        (
            Req::new().json(body("Devicetoken", &instance.key)),
            "no InstanceId header",
        ),
        (
            Req::new()
                .header("InstanceId", &instance.id)
                .json(body("Devicetoken", "not-the-key")),
            "wrong InstanceKey",
        ),
    ] {
        let r = t.send("POST", "/v1/Auth/Login", req).await;
        assert_eq!((r.status, r.text.as_str()), (401, ""), "{what}");
    }
}

/// Notes §2.4: logins are limited per address (default: 5 per minute, then a one-hour block,
/// the rule of S3/S4/S5); the attempt over the limit is 429 with the envelope, good
/// credentials or not, and the block outlasts the window. Failed attempts count too.
#[tokio::test]
async fn login_is_rate_limited_after_the_limit() {
    let t = start().await;
    let wrong = json!({
        "LoginFields": json!({"email": t.config().admin.email}).to_string(),
        "Password": "wrong",
    });
    t.send("POST", "/v1/Auth/Login", Req::new().json(wrong))
        .await
        .expect(401);
    for _ in 0..4 {
        t.login().await.result();
    }
    let refused = t.login().await;
    refused.expect(429);
    let body = refused.json();
    assert_eq!(body["Status"], 429);
    assert!(body.get("Result").is_none(), "{body}");
    assert_eq!(t.sandbox.stats().logins_refused, 1);
    // Past the one-minute window but inside the hour: still blocked.
    t.sandbox.advance_clock(Duration::from_secs(120));
    t.login().await.expect(429);
    t.sandbox.advance_clock(Duration::from_secs(3600));
    t.login().await.result();
}

/// Notes §2.4 (sources disagree: per minute, hour or day): the limit is a knob, and `None`
/// switches it off.
#[tokio::test]
async fn the_login_limit_is_configurable() {
    let t = start_with(SandboxConfig {
        login_limit: Some(LoginLimit {
            max: 2,
            window: Duration::from_secs(86_400),
            block: Duration::from_secs(86_400),
        }),
        ..SandboxConfig::default()
    })
    .await;
    t.login().await.result();
    t.login().await.result();
    t.login().await.expect(429);
    t.sandbox.advance_clock(Duration::from_secs(3600));
    t.login().await.expect(429);
    t.sandbox.reset_login_limit();
    t.login().await.result();

    let t = start_with(SandboxConfig {
        login_limit: None,
        ..SandboxConfig::default()
    })
    .await;
    for _ in 0..20 {
        t.login().await.result();
    }
}

/// Notes §2.4 (S10: "refresh has no limit"): refreshing is not counted against the login limit.
#[tokio::test]
async fn refresh_is_not_rate_limited() {
    let t = start().await;
    let mut pair = t.login().await.result();
    for _ in 0..10 {
        pair = t
            .send(
                "POST",
                "/v1/Auth/RefreshToken",
                Req::new().json(json!({
                    "AccessToken": token_of(&pair),
                    "RefreshToken": refresh_of(&pair),
                })),
            )
            .await
            .result();
    }
    for _ in 0..4 {
        t.login().await.result();
    }
}

/// Notes §2 ("all /v1/Management/users… admin operations need the admin JWT"), §3 (401): no
/// token, a foreign token and a malformed header are 401 with an empty body and a
/// `WWW-Authenticate: Bearer` challenge.
#[tokio::test]
async fn management_needs_a_bearer_jwt() {
    let t = start().await;
    let other = start().await;
    let foreign = other.admin_token().await;
    for req in [
        Req::new(),
        Req::new().bearer(&foreign),
        Req::new().bearer("not-a-jwt"),
        Req::new().header("Authorization", "Basic YTpi"),
    ] {
        let r = t
            .send("GET", "/v1/Management/users/find?ClientId=x", req)
            .await;
        r.expect(401);
        assert_eq!(r.text, "");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
}

/// Notes §2.2, §2.3, §3 (401 = JWT expired → refresh): an expired access token is 401 (the
/// challenge says it expired); refresh with the expired token and its refresh token answers a
/// new pair, the new token works, and the used refresh token is spent.
#[tokio::test]
async fn expired_jwt_is_401_and_refresh_gives_a_new_one() {
    let t = start_with(SandboxConfig {
        access_token_lifetime: Duration::from_secs(60),
        ..SandboxConfig::default()
    })
    .await;
    let first = t.login().await.result();
    assert_eq!(first["AccessToken"]["ExpiresIn"], 60);
    let token = token_of(&first);
    t.find(&token, "ClientId=x").await.result();
    t.sandbox.advance_clock(Duration::from_secs(60));
    let expired = t.find(&token, "ClientId=x").await;
    expired.expect(401);
    assert!(
        expired
            .header("www-authenticate")
            .unwrap()
            .contains("The token expired at"),
        "{:?}",
        expired.headers
    );
    let refresh_body = json!({"AccessToken": token, "RefreshToken": refresh_of(&first)});
    let second = t
        .send(
            "POST",
            "/v1/Auth/RefreshToken",
            Req::new().json(refresh_body.clone()),
        )
        .await
        .result();
    assert_eq!(second["AccessToken"]["ExpiresIn"], 60);
    assert_ne!(token_of(&second), token);
    assert_ne!(
        refresh_of(&second),
        refresh_of(&first),
        "a new refresh token"
    );
    t.find(&token_of(&second), "ClientId=x").await.result();
    // The refresh token was used up: a second refresh with it is refused, a bare 401.
    let again = t
        .send(
            "POST",
            "/v1/Auth/RefreshToken",
            Req::new().json(refresh_body),
        )
        .await;
    assert_eq!((again.status, again.text.as_str()), (401, ""));
}

/// Notes §2.2, §2.3 (refresh tokens live three months; after that, log in again): a refresh
/// token must come with the access token it was issued with, and expires.
#[tokio::test]
async fn refresh_needs_the_matching_pair_and_an_unexpired_refresh_token() {
    let t = start_with(SandboxConfig {
        login_limit: None,
        ..SandboxConfig::default()
    })
    .await;
    let a = t.login().await.result();
    let b = t.login().await.result();
    let refresh = |access: String, refresh: String| {
        t.send(
            "POST",
            "/v1/Auth/RefreshToken",
            Req::new().json(json!({"AccessToken": access, "RefreshToken": refresh})),
        )
    };
    refresh(token_of(&a), refresh_of(&b)).await.expect(401);
    refresh("x.y.z".into(), refresh_of(&b)).await.expect(401);
    let keys = t
        .send(
            "POST",
            "/v1/Auth/RefreshToken",
            Req::new().json(json!({"AccessToken": token_of(&a)})),
        )
        .await
        .validation_keys();
    assert_eq!(keys, ["RefreshToken"]);
    t.sandbox
        .advance_clock(Duration::from_secs(90 * 86_400 + 1));
    refresh(token_of(&a), refresh_of(&a)).await.expect(401);
}

/// Notes §3 (403 = wrong JWT type): a user JWT on an admin endpoint is 403 with an empty body;
/// the admin JWT has no own profile either.
#[tokio::test]
async fn a_user_jwt_is_forbidden_on_admin_endpoints() {
    let t = start().await;
    let registered = t
        .register(json!({"UserFields": {"ClientId": "u"}}))
        .await
        .result();
    let user_token = token_of(&registered);
    for (method, path, body) in [
        ("GET", "/v1/Management/users/find?ClientId=u", None),
        (
            "POST",
            "/v1/Management/users/GetFilteredPage",
            Some(t.list_body(1, 10)),
        ),
        (
            "DELETE",
            "/v1/Management/users/00000000-0000-4000-8000-000000000000",
            None,
        ),
        (
            "GET",
            &format!("/v1/Instances/{}", t.config().instance.id),
            None,
        ),
    ] {
        let mut req = Req::new().bearer(&user_token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = t.send(method, path, req).await;
        assert_eq!((r.status, r.text.as_str()), (403, ""), "{method} {path}");
    }
    let admin = t.admin_token().await;
    t.send("GET", "/v1/Management/users", Req::new().bearer(&admin))
        .await
        .expect(403);
    let own = t
        .send(
            "GET",
            "/v1/Management/users",
            Req::new().bearer(&user_token),
        )
        .await
        .result();
    assert_eq!(own["UserFields"][0]["ClientId"], "u");
}
