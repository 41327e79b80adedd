//! Version modes: what differs between the 6.14, 6.9 and 5.12 sandboxes (API-NOTES §11).

use std::str::FromStr;

use serde_json::json;

use super::harness::*;
use traccar_sandbox::{SandboxConfig, TraccarVersion};

fn mode(version: TraccarVersion) -> SandboxConfig {
    // New-server defaults come with the version (5.12: registration on).
    SandboxConfig {
        version,
        ..SandboxConfig::default()
    }
}

/// `cargo test` runs the suite's `target()` tests in the default 6.14 mode; this runs the same
/// binary again in the 5.12 and 6.9 modes (`TRACCAR_SANDBOX_VERSION`), so every mode is checked.
#[test]
fn every_target_test_passes_in_the_5_12_and_6_9_modes() {
    if std::env::var_os("TRACCAR_SANDBOX_VERSION").is_some()
        || std::env::var_os("TRACCAR_CONFORMANCE_URL").is_some()
    {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    for version in ["5.12", "6.9"] {
        let out = std::process::Command::new(&exe)
            .env("TRACCAR_SANDBOX_VERSION", version)
            .args(["--skip", "versions::", "--skip", "sandbox::"])
            .output()
            .expect("test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout
            .lines()
            .rfind(|l| l.starts_with("test result"))
            .unwrap_or_default();
        eprintln!("{version} mode: {summary}");
        assert!(
            out.status.success(),
            "the suite fails in the {version} mode:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn version_strings_and_parsing() {
    assert_eq!(TraccarVersion::default(), TraccarVersion::V6_14);
    assert_eq!(
        TraccarVersion::from_str("6.14").ok(),
        Some(TraccarVersion::V6_14)
    );
    assert_eq!(
        TraccarVersion::from_str("6.14.5").ok(),
        Some(TraccarVersion::V6_14)
    );
    assert_eq!(
        TraccarVersion::from_str("6.9").ok(),
        Some(TraccarVersion::V6_9)
    );
    assert_eq!(
        TraccarVersion::from_str("5.12").ok(),
        Some(TraccarVersion::V5_12)
    );
    assert!(TraccarVersion::from_str("4.15").is_err());
    for (v, s) in [
        (TraccarVersion::V6_14, "6.14.5"),
        (TraccarVersion::V6_9, "6.9.1"),
        (TraccarVersion::V5_12, "5.12"),
    ] {
        let t = sandbox_target(mode(v)).await;
        assert_eq!(
            t.get(Auth::None, "/api/server").await.json()["version"],
            json!(s)
        );
    }
}

#[tokio::test]
async fn v6_9_login_is_case_sensitive_and_v6_14_is_not() {
    for (v, expected) in [(TraccarVersion::V6_9, 401), (TraccarVersion::V6_14, 200)] {
        let t = sandbox_target(mode(v)).await;
        t.get(
            Auth::Raw("ADMIN@EXAMPLE.COM", &t.admin.password),
            "/api/users",
        )
        .await
        .expect(expected);
    }
}

#[tokio::test]
async fn v6_9_has_no_permissions_listing_and_no_paging() {
    let t = sandbox_target(mode(TraccarVersion::V6_9)).await;
    t.get(t.admin(), "/api/permissions?userId=1&deviceId=0")
        .await
        .expect(405);
    for _ in 0..3 {
        t.device(t.admin()).await;
    }
    assert_eq!(
        t.ids(t.admin(), "/api/devices?limit=1").await.len(),
        3,
        "limit is ignored before 6.13"
    );
}

#[tokio::test]
async fn v6_14_paging_limit_offset_keyword() {
    let t = sandbox_target(mode(TraccarVersion::V6_14)).await;
    for name in ["c-dev", "a-dev", "b-dev", "zz-other"] {
        t.post(
            t.admin(),
            "/api/devices",
            json!({"name": name, "uniqueId": name}),
        )
        .await
        .expect(200);
    }
    let names = |r: Resp| -> Vec<String> {
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        names(t.get(t.admin(), "/api/devices?all=true").await),
        ["a-dev", "b-dev", "c-dev", "zz-other"]
    );
    assert_eq!(
        names(
            t.get(t.admin(), "/api/devices?all=true&limit=2&offset=1")
                .await
        ),
        ["b-dev", "c-dev"]
    );
    assert_eq!(
        names(t.get(t.admin(), "/api/devices?all=true&offset=2").await).len(),
        4,
        "offset without limit is ignored"
    );
    assert_eq!(
        names(t.get(t.admin(), "/api/devices?all=true&keyword=DEV").await),
        ["a-dev", "b-dev", "c-dev"]
    );
    t.get(t.admin(), "/api/devices?limit=x").await.expect(404);
}

#[tokio::test]
async fn v6_14_permissions_listing_has_the_hashmap_order_bug() {
    let t = sandbox_target(mode(TraccarVersion::V6_14)).await;
    let u = t.user(json!({})).await;
    let g = t.group(t.admin(), 0).await;
    t.link(t.admin(), json!({"userId": u.id, "groupId": g}))
        .await
        .expect(204);
    // 6.14.0-6.14.5 take Jersey's HashMap order: [groupId, userId] -> no such table.
    let r = t
        .get(
            t.admin(),
            &format!("/api/permissions?userId={}&groupId=0", u.id),
        )
        .await;
    r.expect(400);
    assert!(r.text.contains("TC_GROUP_USER"), "{}", r.text);
    let r = t
        .get(t.admin(), "/api/permissions?userId=0&deviceId=0")
        .await;
    r.expect(200);
    assert!(
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .all(|row| row.get("USERID").is_some() && row.get("DEVICEID").is_some())
    );
    t.get(t.admin(), "/api/permissions").await.expect(400);
}

#[tokio::test]
async fn v5_12_bad_basic_credentials_are_400_npe_everywhere() {
    let t = sandbox_target(mode(TraccarVersion::V5_12)).await;
    for path in ["/api/users", "/api/server"] {
        let r = t.get(Auth::Raw(&t.admin.email, "wrong"), path).await;
        r.expect(400);
        assert!(r.text.contains("NullPointerException"), "{}", r.text);
    }
    let r = t
        .form(
            &client(),
            Auth::None,
            "/api/session",
            &[("email", &t.admin.email), ("password", "wrong")],
        )
        .await;
    r.expect(400);
    t.get(Auth::None, "/api/users").await.expect(401);
}

#[tokio::test]
async fn v5_12_error_bodies_are_one_line() {
    let t = sandbox_target(mode(TraccarVersion::V5_12)).await;
    let u = t.user(json!({})).await;
    let r = t.get(Auth::Basic(&u), "/api/devices/12345").await;
    r.expect(400);
    assert!(
        r.text
            .starts_with("Device access denied - SecurityException ("),
        "{}",
        r.text
    );
    assert_eq!(r.text.lines().count(), 1);
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "dup", "email": t.admin.email}),
        )
        .await;
    r.expect(400);
    assert!(
        r.text.starts_with("Unique index or primary key violation"),
        "root cause only: {}",
        r.text
    );
}

#[tokio::test]
async fn v6_9_error_bodies_are_stack_traces() {
    let t = sandbox_target(mode(TraccarVersion::V6_9)).await;
    let u = t.user(json!({})).await;
    let r = t.get(Auth::Basic(&u), "/api/devices/12345").await;
    r.expect_error(400, "java.lang.SecurityException: Device access denied");
    assert!(r.text.lines().count() > 3);
}

#[tokio::test]
async fn v5_12_ignores_users_device_filter_and_does_not_sort() {
    let t = sandbox_target(mode(TraccarVersion::V5_12)).await;
    let (d, _) = t.device(t.admin()).await;
    let b = t.user(json!({"name": "b-user"})).await;
    let a = t.user(json!({"name": "a-user"})).await;
    let ids = t.ids(t.admin(), &format!("/api/users?deviceId={d}")).await;
    assert_eq!(
        ids,
        vec![t.admin.id, b.id, a.id],
        "deviceId ignored, insertion order"
    );
}

#[tokio::test]
async fn v6_9_users_by_device_does_not_check_device_access_but_v6_14_does() {
    for (v, ok) in [(TraccarVersion::V6_9, true), (TraccarVersion::V6_14, false)] {
        let t = sandbox_target(mode(v)).await;
        let m = t.manager(5, 0).await;
        let (d, _) = t.device(t.admin()).await;
        let r = t
            .get(Auth::Basic(&m), &format!("/api/users?deviceId={d}"))
            .await;
        if ok {
            r.expect(200);
            assert_eq!(r.json(), json!([]), "intersected with managed users");
        } else {
            r.expect_error(400, "java.lang.SecurityException: Device access denied");
        }
    }
}

#[tokio::test]
async fn v5_12_new_server_has_registration_on_and_accepts_the_first_user() {
    // As a real 5.12 answered on an empty database.
    let t = fresh_sandbox(mode(TraccarVersion::V5_12)).await;
    let server = t.get(Auth::None, "/api/server").await.json();
    assert_eq!(server["registration"], json!(true));
    assert_eq!(server["newServer"], json!(true));
    let keys: Vec<&String> = server.as_object().expect("object").keys().collect();
    let zoom = keys.iter().position(|k| *k == "zoom").expect("zoom");
    assert_eq!(keys[zoom + 1], "twelveHourFormat", "5.12's server object");
    let r = t
        .post(
            Auth::None,
            "/api/users",
            json!({"name": "admin", "email": "admin@example.com", "password": "admin"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["administrator"], json!(true));
    let (r, _) = t.create_user(Auth::None, json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["administrator"], json!(false), "open registration");
    let admin = Creds {
        id: 1,
        email: "admin@example.com".into(),
        password: "admin".into(),
    };
    let mut body = t.fetch_as(&admin, "/api/server").await;
    body["registration"] = json!(false);
    body["twelveHourFormat"] = json!(true);
    let r = t.put(Auth::Basic(&admin), "/api/server", body).await;
    r.expect(200);
    assert_eq!(r.json()["twelveHourFormat"], json!(true));
    let (r, _) = t.create_user(Auth::None, json!({})).await;
    r.expect_error(400, "java.lang.SecurityException: Registration disabled");
    let modern = fresh_sandbox(mode(TraccarVersion::V6_14)).await;
    let server = modern.get(Auth::None, "/api/server").await.json();
    assert_eq!(server["registration"], json!(false));
    assert!(server.get("twelveHourFormat").is_none());
}

#[tokio::test]
async fn v5_12_accepts_twelve_hour_format_on_users() {
    let t = sandbox_target(mode(TraccarVersion::V5_12)).await;
    let (r, _) = t
        .create_user(t.admin(), json!({"twelveHourFormat": true}))
        .await;
    r.expect(200);
    assert_eq!(r.json()["twelveHourFormat"], json!(true));
    let stored = t.fetch(&format!("/api/users/{}", r.id())).await;
    assert_eq!(
        stored["twelveHourFormat"],
        json!(true),
        "5.12 still stores and writes it"
    );
    let modern = sandbox_target(mode(TraccarVersion::V6_14)).await;
    assert!(
        modern
            .fetch(&format!("/api/users/{}", modern.admin.id))
            .await
            .get("twelveHourFormat")
            .is_none()
    );
}

#[tokio::test]
async fn v6_9_does_not_check_the_session_origin() {
    let t = sandbox_target(mode(TraccarVersion::V6_9)).await;
    let c = cookie_client();
    t.form(
        &c,
        Auth::None,
        "/api/session",
        &[("email", &t.admin.email), ("password", &t.admin.password)],
    )
    .await
    .expect(200);
    let r = c
        .get(t.url("/api/users"))
        .header("Origin", "http://elsewhere.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn v6_14_links_devices_to_devices_but_v6_9_has_no_such_table() {
    let t = sandbox_target(mode(TraccarVersion::V6_14)).await;
    let (a, _) = t.device(t.admin()).await;
    let (b, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"deviceId": a, "linkedDeviceId": b}))
        .await
        .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?deviceId={a}"))
            .await,
        vec![b]
    );
    let old = sandbox_target(mode(TraccarVersion::V6_9)).await;
    let (a, _) = old.device(old.admin()).await;
    let (b, _) = old.device(old.admin()).await;
    let r = old
        .link(old.admin(), json!({"deviceId": a, "linkedDeviceId": b}))
        .await;
    r.expect(400);
    assert!(r.text.contains("TC_DEVICE_DEVICE"), "{}", r.text);
}
