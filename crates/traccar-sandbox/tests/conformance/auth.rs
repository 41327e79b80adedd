//! Authentication: Basic, Bearer tokens, cookie sessions, and what 401 means.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::json;

use super::harness::*;

#[tokio::test]
async fn missing_credentials_on_protected_endpoint_is_401_with_traccar_body() {
    let t = target().await;
    let r = t.get(Auth::None, "/api/users").await;
    r.expect(401);
    assert_eq!(
        r.first_line(),
        "jakarta.ws.rs.WebApplicationException: HTTP 401 Unauthorized",
        "{}",
        r.text
    );
    assert!(
        r.header("www-authenticate").is_none(),
        "no WWW-Authenticate without Accept: text/html"
    );
}

#[tokio::test]
async fn www_authenticate_only_when_accept_contains_text_html() {
    let t = target().await;
    let accept = |value: &'static str| {
        t.client
            .get(t.url("/api/users"))
            .header("Accept", value)
            .send()
    };
    let r = accept("text/html, application/json").await.expect("sent");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"api\"")
    );
    let r = accept("*/*").await.expect("sent");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_none());
    // A q=0 on application/json is not honoured (real 5.12 and 6.14.4).
    let r = accept("application/json;q=0, text/html")
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn accept_without_json_is_406_before_authentication() {
    // Every resource produces only application/json; Jersey refuses before the security filter
    // runs (5.12, 6.9.1, 6.14.4 alike), with or without credentials.
    let t = target().await;
    for (value, auth) in [
        ("text/html", false),
        ("text/html", true),
        ("application/xml", false),
    ] {
        let mut request = t.client.get(t.url("/api/users")).header("Accept", value);
        if auth {
            request = request.basic_auth(&t.admin.email, Some(&t.admin.password));
        }
        let r = request.send().await.expect("sent");
        assert_eq!(r.status(), 406, "Accept: {value}");
        assert!(r.headers().get("www-authenticate").is_none());
        assert!(r.headers().get("content-type").is_none());
        let r = Resp {
            status: 406,
            headers: Default::default(),
            text: r.text().await.expect("body"),
            legacy: !t.at_least(6, 7),
        };
        assert_eq!(
            r.first_line(),
            "jakarta.ws.rs.NotAcceptableException: HTTP 406 Not Acceptable"
        );
    }
}

#[tokio::test]
async fn wrong_basic_password_is_401() {
    let t = target().await;
    let r = t
        .get(Auth::Raw(&t.admin.email, "definitely-wrong"), "/api/users")
        .await;
    r.expect(t.bad_credentials());
    if t.bad_credentials() == 401 {
        assert!(r.first_line().contains("HTTP 401 Unauthorized"));
    }
}

#[tokio::test]
async fn permit_all_server_endpoint_ignores_bad_credentials() {
    let t = target().await;
    let r = t
        .get(Auth::Raw(&t.admin.email, "definitely-wrong"), "/api/server")
        .await;
    if t.bad_credentials() == 400 {
        r.expect(400); // 5.11-5.12: the filter's NPE escapes even on @PermitAll endpoints
        return;
    }
    r.expect(200);
    assert!(r.json()["version"].is_string());
    assert!(
        r.json()["storageSpace"].is_null(),
        "anonymous callers get no storageSpace"
    );
}

#[tokio::test]
async fn post_users_with_bad_credentials_is_registration_not_401() {
    let t = target().await;
    if t.fetch("/api/server").await["registration"] == json!(true) {
        return; // an open server would create the user: nothing to pin here
    }
    let (r, _) = t
        .create_user(Auth::Raw(&t.admin.email, "definitely-wrong"), json!({}))
        .await;
    if t.bad_credentials() == 400 {
        r.expect(400);
        return;
    }
    r.expect_error(400, "java.lang.SecurityException: Registration disabled");
}

#[tokio::test]
async fn form_login_sets_session_cookie_and_get_session_returns_user() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let c = cookie_client();
    let r = t
        .form(
            &c,
            Auth::None,
            "/api/session",
            &[("email", &u.email), ("password", &u.password)],
        )
        .await;
    r.expect(200);
    assert_eq!(r.id(), u.id);
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("JSESSIONID="))
    );
    let who = t
        .send(&c, Auth::None, Method::GET, "/api/session", None)
        .await;
    who.expect(200);
    assert_eq!(who.id(), u.id);
    // The cookie authenticates protected endpoints too.
    t.send(&c, Auth::None, Method::GET, "/api/devices", None)
        .await
        .expect(200);
    t.send(&c, Auth::None, Method::DELETE, "/api/session", None)
        .await
        .expect(204);
    t.send(&c, Auth::None, Method::GET, "/api/session", None)
        .await
        .expect(404);
}

#[tokio::test]
async fn form_login_with_wrong_password_is_401() {
    let t = target().await;
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[("email", &t.admin.email), ("password", "nope")],
        )
        .await;
    r.expect(t.bad_credentials());
}

#[tokio::test]
async fn get_session_with_basic_only_is_404() {
    let t = target().await;
    let r = t.get(t.admin(), "/api/session").await;
    r.expect(404);
    assert!(r.first_line().contains("HTTP 404 Not Found"), "{}", r.text);
}

#[tokio::test]
async fn bearer_token_authenticates_like_basic() {
    let t = target().await;
    let r = t
        .form(
            &client(),
            t.admin(),
            "/api/session/token",
            &[("expiration", "2030-01-01T00:00:00Z")],
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        !r.text.starts_with('"'),
        "the token is a bare string, not JSON-quoted"
    );
    let token = r.text.clone();
    assert_eq!(token_payload(&token)["u"], json!(t.admin.id));
    t.get(Auth::Bearer(&token), "/api/users").await.expect(200);
    let d = t.create_device(Auth::Bearer(&token), json!({})).await;
    d.expect(200);
}

#[tokio::test]
async fn token_without_expiration_lasts_seven_days() {
    let t = target().await;
    let r = t
        .form(&client(), t.admin(), "/api/session/token", &[])
        .await;
    r.expect(200);
    let expiry = token_payload(&r.text)["e"].as_str().expect("e").to_string();
    let expiry: DateTime<Utc> = DateTime::parse_from_rfc3339(&expiry)
        .expect("date")
        .with_timezone(&Utc);
    let days = (expiry - Utc::now()).num_hours();
    assert!((7 * 24 - 1..=7 * 24).contains(&days), "expires in {days} h");
}

#[tokio::test]
async fn expired_token_is_issued_but_rejected_with_401() {
    let t = target().await;
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    let r = t
        .form(
            &client(),
            t.admin(),
            "/api/session/token",
            &[("expiration", &past)],
        )
        .await;
    r.expect(200);
    t.get(Auth::Bearer(&r.text), "/api/users").await.expect(401);
}

#[tokio::test]
async fn tampered_token_is_401_and_garbage_token_is_400() {
    let t = target().await;
    let r = t
        .form(
            &client(),
            t.admin(),
            "/api/session/token",
            &[("expiration", "2030-01-01T00:00:00Z")],
        )
        .await;
    let mut chars: Vec<char> = r.text.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    t.get(Auth::Bearer(&tampered), "/api/users")
        .await
        .expect(401);
    let g = t.get(Auth::Bearer("not-a-token"), "/api/users").await;
    g.expect(400);
    assert!(
        g.first_line()
            .starts_with("java.lang.ArrayIndexOutOfBoundsException"),
        "{}",
        g.text
    );
}

#[tokio::test]
async fn token_endpoint_requires_authentication_and_a_zoned_date() {
    let t = target().await;
    t.form(
        &client(),
        Auth::None,
        "/api/session/token",
        &[("expiration", "2030-01-01T00:00:00Z")],
    )
    .await
    .expect(401);
    let r = t
        .form(
            &client(),
            t.admin(),
            "/api/session/token",
            &[("expiration", "tomorrow")],
        )
        .await;
    r.expect(400);
    assert!(r.text.contains("DateTimeParseException"), "{}", r.text);
}

#[tokio::test]
async fn get_session_with_token_query_opens_a_cookie_session() {
    let t = target().await;
    let token = t
        .form(&client(), t.admin(), "/api/session/token", &[])
        .await
        .text;
    let c = cookie_client();
    let r = t
        .send(
            &c,
            Auth::None,
            Method::GET,
            &format!("/api/session?token={token}"),
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.id(), t.admin.id);
    assert!(r.header("set-cookie").is_some());
    t.send(&c, Auth::None, Method::GET, "/api/session", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn token_survives_password_change() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let token = t
        .form(&client(), Auth::Basic(&u), "/api/session/token", &[])
        .await;
    token.expect(200);
    let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
    body["password"] = json!("a-new-password");
    t.put(t.admin(), &format!("/api/users/{}", u.id), body)
        .await
        .expect(200);
    t.get(Auth::Basic(&u), "/api/devices")
        .await
        .expect(t.bad_credentials());
    t.get(Auth::Raw(&u.email, "a-new-password"), "/api/devices")
        .await
        .expect(200);
    t.get(Auth::Bearer(&token.text), "/api/devices")
        .await
        .expect(200);
}

#[tokio::test]
async fn login_email_case_sensitivity_depends_on_version() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let r = t
        .get(
            Auth::Raw(&u.email.to_uppercase(), &u.password),
            "/api/devices",
        )
        .await;
    // Case-insensitive login exists only from 6.13.
    r.expect(if t.at_least(6, 13) {
        200
    } else {
        t.bad_credentials()
    });
}

#[tokio::test]
async fn user_without_password_cannot_login_400_npe() {
    let t = target().await;
    let sfx = suffix();
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "nopass", "email": format!("conf-nopass-{sfx}@example.com")}),
        )
        .await;
    r.expect(200);
    let login = t
        .get(
            Auth::Raw(&format!("conf-nopass-{sfx}@example.com"), "x"),
            "/api/devices",
        )
        .await;
    login.expect(400);
    assert!(
        login
            .first_line()
            .starts_with("java.lang.NullPointerException"),
        "{}",
        login.text
    );
}

#[tokio::test]
async fn disabled_user_gets_401_on_basic_and_400_on_form_login() {
    let t = target().await;
    let u = t.user(json!({"disabled": true})).await;
    t.get(Auth::Basic(&u), "/api/devices").await.expect(401);
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[("email", &u.email), ("password", &u.password)],
        )
        .await;
    r.expect_error(400, "java.lang.SecurityException: User is disabled");
}

#[tokio::test]
async fn authorization_header_wins_over_session_cookie() {
    let t = target().await;
    let c = cookie_client();
    t.form(
        &c,
        Auth::None,
        "/api/session",
        &[("email", &t.admin.email), ("password", &t.admin.password)],
    )
    .await
    .expect(200);
    t.send(&c, Auth::None, Method::GET, "/api/users", None)
        .await
        .expect(200);
    t.send(
        &c,
        Auth::Raw(&t.admin.email, "wrong"),
        Method::GET,
        "/api/users",
        None,
    )
    .await
    .expect(t.bad_credentials());
}

#[tokio::test]
async fn revoked_token_is_401_from_6_11() {
    let t = target().await;
    if !t.at_least(6, 11) {
        return;
    }
    let token = t
        .form(&client(), t.admin(), "/api/session/token", &[])
        .await
        .text;
    t.get(Auth::Bearer(&token), "/api/devices")
        .await
        .expect(200);
    t.form(
        &client(),
        t.admin(),
        "/api/session/token/revoke",
        &[("token", &token)],
    )
    .await
    .expect(204);
    t.get(Auth::Bearer(&token), "/api/devices")
        .await
        .expect(401);
}

#[tokio::test]
async fn authorization_scheme_is_case_insensitive_from_6_2_and_unknown_schemes_are_401() {
    let t = target().await;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", t.admin.email, t.admin.password));
    let lower = format!("basic {encoded}");
    let r = t.get(Auth::Header(&lower), "/api/users").await;
    if t.at_least(6, 2) {
        r.expect(200);
    }
    if t.at_least(6, 2) {
        t.get(Auth::Header(&format!("Digest {encoded}")), "/api/users")
            .await
            .expect(401);
    }
}

#[tokio::test]
async fn basic_credentials_without_colon_are_400() {
    let t = target().await;
    let encoded = base64::engine::general_purpose::STANDARD.encode("no-colon-here");
    let r = t
        .get(Auth::Header(&format!("Basic {encoded}")), "/api/users")
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .starts_with("java.lang.ArrayIndexOutOfBoundsException"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn totp_users_cannot_use_basic_and_form_login_needs_the_code() {
    let t = target().await;
    let key = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let u = t.user(json!({"totpKey": key})).await;
    t.get(Auth::Basic(&u), "/api/devices").await.expect(401);
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[("email", &u.email), ("password", &u.password)],
        )
        .await;
    r.expect(401);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("TOTP"));
    let now = Utc::now().timestamp();
    let code = traccar_sandbox::totp_code(key, now).expect("code");
    let wrong = format!("{:06}", (code + 500_000) % 1_000_000);
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[
                ("email", &u.email),
                ("password", &u.password),
                ("code", &wrong),
            ],
        )
        .await;
    r.expect_error(
        400,
        "java.lang.SecurityException: User authorization failed",
    );
    let right = format!("{code:06}");
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[
                ("email", &u.email),
                ("password", &u.password),
                ("code", &right),
            ],
        )
        .await;
    r.expect(200);
}

#[tokio::test]
async fn session_cookie_is_bound_to_its_origin_from_6_12() {
    let t = target().await;
    let c = cookie_client();
    let login = c
        .post(t.url("/api/session"))
        .header("Origin", "http://good.example")
        .form(&[("email", &t.admin.email), ("password", &t.admin.password)])
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 200);
    let with_origin =
        |origin: &'static str| c.get(t.url("/api/users")).header("Origin", origin).send();
    assert_eq!(
        with_origin("http://good.example")
            .await
            .expect("sent")
            .status(),
        200
    );
    let foreign = with_origin("http://evil.example")
        .await
        .expect("sent")
        .status();
    assert_eq!(foreign, if t.at_least(6, 12) { 401 } else { 200 });
    assert_eq!(
        c.get(t.url("/api/users"))
            .send()
            .await
            .expect("sent")
            .status(),
        200,
        "no Origin: allowed"
    );
}

#[tokio::test]
async fn impersonation_needs_admin_or_manager_and_switches_the_session() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let other = t.user(json!({})).await;
    let c = cookie_client();
    t.form(
        &c,
        Auth::None,
        "/api/session",
        &[("email", &m.email), ("password", &m.password)],
    )
    .await
    .expect(200);
    t.send(
        &c,
        Auth::None,
        Method::GET,
        &format!("/api/session/{}", other.id),
        None,
    )
    .await
    .expect_error(400, "java.lang.SecurityException: User access denied");
    t.send(
        &c,
        Auth::None,
        Method::GET,
        &format!("/api/session/{}", sub.id),
        None,
    )
    .await
    .expect(200);
    let who = t
        .send(&c, Auth::None, Method::GET, "/api/session", None)
        .await;
    who.expect(200);
    assert_eq!(
        who.id(),
        sub.id,
        "the session now belongs to the impersonated user"
    );
}

/// 6.0 to 6.14.5: 400 NullPointerException; 5.12: the token finds no user, so 401.
#[tokio::test]
async fn bearer_token_of_a_deleted_user_is_400_up_to_6_14_5() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let token = t
        .form(&client(), Auth::Basic(&u), "/api/session/token", &[])
        .await;
    token.expect(200);
    t.delete(t.admin(), &format!("/api/users/{}", u.id))
        .await
        .expect(204);
    let r = t.get(Auth::Bearer(&token.text), "/api/devices").await;
    if !t.at_least(6, 0) {
        r.expect_error(
            401,
            "jakarta.ws.rs.WebApplicationException: HTTP 401 Unauthorized",
        );
        return;
    }
    // The filter dereferences the missing user (fixed after 6.14.5 with a 401).
    r.expect(400);
    assert!(
        r.first_line().starts_with("java.lang.NullPointerException"),
        "{}",
        r.text
    );
}
