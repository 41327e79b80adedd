//! Error answers: Jackson 400s, JAX-RS 404/405/415, server object, fresh-server bootstrap.

use reqwest::Method;
use serde_json::json;

use super::harness::*;
use traccar_sandbox::SandboxConfig;

#[tokio::test]
async fn unknown_json_field_is_400_text_plain() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/devices",
            json!({"name": "x", "uniqueId": format!("conf-{}", suffix()), "bogusField": 1}),
        )
        .await;
    r.expect(400);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert!(
        r.text.starts_with("Unrecognized field \"bogusField\" (class org.traccar.model.Device), not marked as ignorable"),
        "{}",
        r.text
    );
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "x", "email": "x@y", "twelveHourFormat": true}),
        )
        .await;
    if t.at_least(6, 2) {
        r.expect(400);
        assert!(
            r.text.starts_with(
                "Unrecognized field \"twelveHourFormat\" (class org.traccar.model.User)"
            ),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400_text_plain_without_stack_trace() {
    let t = target().await;
    let r = t
        .post_raw(
            t.admin(),
            "/api/devices",
            "application/json",
            "{\"name\":\"x\",",
        )
        .await;
    r.expect(400);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert!(!r.text.contains("\tat "), "{}", r.text);
    let r = t
        .post_raw(
            t.admin(),
            "/api/permissions",
            "application/json",
            "not json",
        )
        .await;
    r.expect(400);
    assert!(r.text.starts_with("Unrecognized token 'not'"), "{}", r.text);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_wrong_method_is_405() {
    let t = target().await;
    let r = t
        .post_raw(
            t.admin(),
            "/api/devices",
            "text/plain",
            "{\"name\":\"y\",\"uniqueId\":\"y\"}",
        )
        .await;
    r.expect(415);
    assert!(
        r.first_line().contains("HTTP 415 Unsupported Media Type"),
        "{}",
        r.text
    );
    let r = t
        .call(t.admin(), Method::PUT, "/api/users", Some(json!({})))
        .await;
    r.expect(405);
    assert!(
        r.first_line().contains("HTTP 405 Method Not Allowed"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn unconvertible_parameters_and_unknown_paths_are_404() {
    let t = target().await;
    t.get(t.admin(), "/api/devices?userId=abc")
        .await
        .expect(404);
    t.get(t.admin(), "/api/users/abc").await.expect(404);
    t.get(t.admin(), "/api/no-such-resource").await.expect(404);
}

#[tokio::test]
async fn boolean_query_parameters_are_true_only_for_true() {
    let t = target().await;
    let m = t.manager(1, 5).await;
    let (theirs, _) = t.device(Auth::Basic(&m)).await;
    assert!(
        !t.ids(t.admin(), "/api/devices?all=1")
            .await
            .contains(&theirs)
    );
    assert!(
        t.ids(t.admin(), "/api/devices?all=TRUE")
            .await
            .contains(&theirs)
    );
}

#[tokio::test]
async fn server_reports_version_and_storage_space_for_admins() {
    let t = target().await;
    let anonymous = t.get(Auth::None, "/api/server").await;
    anonymous.expect(200);
    assert_eq!(anonymous.json()["version"], json!(t.version));
    assert_eq!(anonymous.json()["newServer"], json!(false));
    let admin = t.fetch("/api/server").await;
    assert!(admin["storageSpace"].is_array());
    if !t.is_real() {
        assert_eq!(t.version, sandbox_version().version_string());
    }
}

#[tokio::test]
async fn fresh_server_first_user_becomes_admin_without_credentials() {
    let t = fresh_sandbox(SandboxConfig::default()).await;
    let server = t.get(Auth::None, "/api/server").await.json();
    assert_eq!(server["newServer"], json!(true));
    assert_eq!(server["registration"], json!(false));
    let r = t
        .post(
            Auth::None,
            "/api/users",
            json!({"name": "admin", "email": "admin@example.com", "password": "admin"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["administrator"], json!(true));
    assert_eq!(r.json()["deviceLimit"], json!(-1));
    assert_eq!(r.json()["userLimit"], json!(0));
    assert_eq!(
        t.get(Auth::None, "/api/server").await.json()["newServer"],
        json!(false)
    );
}

#[tokio::test]
async fn registration_is_disabled_after_the_first_user() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let (r, _) = t.create_user(Auth::None, json!({})).await;
    r.expect_error(400, "java.lang.SecurityException: Registration disabled");
}

#[tokio::test]
async fn open_registration_creates_plain_unlinked_users_with_config_defaults() {
    let t = sandbox_target(SandboxConfig {
        registration: true,
        ..SandboxConfig::default()
    })
    .await;
    let (r, u) = t.create_user(Auth::None, json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["administrator"], json!(false));
    assert_eq!(r.json()["deviceLimit"], json!(-1));
    t.get(Auth::Basic(&u), "/api/devices").await.expect(200);
    let (r, _) = t
        .create_user(Auth::None, json!({"administrator": true}))
        .await;
    r.expect(400);
    assert!(
        r.first_line().starts_with("java.lang.NullPointerException"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn server_put_is_admin_only_ignores_unknown_fields_and_readonly_applies() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let u = t.user(json!({"deviceLimit": -1})).await;
    let mut server = t.fetch("/api/server").await;
    t.put(Auth::Basic(&u), "/api/server", server.clone())
        .await
        .expect_error(
            400,
            "java.lang.SecurityException: Administrator access required",
        );
    server["readonly"] = json!(true);
    server["someFutureField"] = json!(1);
    t.put(t.admin(), "/api/server", server).await.expect(200);
    t.create_device(Auth::Basic(&u), json!({}))
        .await
        .expect_error(400, "java.lang.SecurityException: Write access denied");
    t.create_device(t.admin(), json!({})).await.expect(200);
}

#[tokio::test]
async fn deleting_yourself_really_deletes_the_last_admin() {
    let t = sandbox_target(SandboxConfig::default()).await;
    t.delete(t.admin(), &format!("/api/users/{}", t.admin.id))
        .await
        .expect(204);
    t.get(t.admin(), "/api/users").await.expect(401);
    assert_eq!(
        t.get(Auth::None, "/api/server").await.json()["newServer"],
        json!(true)
    );
}

#[tokio::test]
async fn options_requests_skip_authentication() {
    let t = target().await;
    let r = t
        .client
        .request(Method::OPTIONS, t.url("/api/users"))
        .send()
        .await
        .expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
}
