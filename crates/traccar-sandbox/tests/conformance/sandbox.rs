//! Sandbox-only features: request log, per-route counters, fault injection, throttle, latency,
//! in-process seeding, and the curl walkthrough from the Traccar documentation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::*;
use traccar_sandbox::{
    Driver, Fault, FaultHook, Geofence, Notification, ObjectType, SandboxConfig,
};

#[tokio::test]
async fn stats_count_requests_per_route_and_reset() {
    let t = sandbox_target(SandboxConfig::default()).await;
    t.sandbox().reset_stats();
    t.get(t.admin(), "/api/users").await.expect(200);
    t.get(t.admin(), &format!("/api/users/{}", t.admin.id))
        .await
        .expect(200);
    t.get(t.admin(), &format!("/api/users/{}", t.admin.id))
        .await
        .expect(200);
    t.get(t.admin(), "/nowhere").await.expect(404);
    let stats = t.sandbox().stats();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.by_route.get("GET /api/users"), Some(&1));
    assert_eq!(stats.by_route.get("GET /api/users/{id}"), Some(&2));
    assert_eq!(stats.by_route.get("GET (unmatched)"), Some(&1));
    t.sandbox().reset_stats();
    assert_eq!(t.sandbox().stats().total, 0);
    assert!(t.sandbox().requests().is_empty());
}

#[tokio::test]
async fn request_log_records_status_and_never_credentials() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let token = t
        .form(&client(), t.admin(), "/api/session/token", &[])
        .await
        .text;
    t.get(Auth::None, &format!("/api/session?token={token}"))
        .await
        .expect(200);
    t.get(Auth::None, "/api/users").await.expect(401);
    let log = t.sandbox().requests();
    let last = log.last().expect("logged");
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("GET", "/api/users", 401)
    );
    let dump = format!("{log:?}");
    assert!(!dump.contains(&token), "token values are redacted");
    assert!(!dump.contains(&t.admin.password));
    assert!(dump.contains("token=REDACTED"));
}

#[tokio::test]
async fn fault_respond_answers_without_handling() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let hook: FaultHook = Arc::new(|info| {
        (info.route == "POST /api/devices").then(|| Fault::Respond {
            status: 503,
            body: "try later".into(),
        })
    });
    t.sandbox().set_fault_hook(Some(hook));
    let r = t.create_device(t.admin(), json!({})).await;
    r.expect(503);
    assert_eq!(r.text, "try later");
    t.sandbox().set_fault_hook(None);
    assert!(t.ids(t.admin(), "/api/devices?all=true").await.is_empty());
    assert_eq!(t.sandbox().stats().faulted, 1);
}

#[tokio::test]
async fn fault_drop_closes_the_connection_without_applying() {
    let t = sandbox_target(SandboxConfig::default()).await;
    t.sandbox().set_fault_hook(Some(Arc::new(|info| {
        (info.method == "POST").then_some(Fault::Drop)
    })));
    let sent = client()
        .post(t.url("/api/devices"))
        .basic_auth(&t.admin.email, Some(&t.admin.password))
        .json(&json!({"name": "d", "uniqueId": "dropped"}))
        .send()
        .await;
    assert!(sent.is_err(), "no answer: {sent:?}");
    t.sandbox().set_fault_hook(None);
    assert!(t.ids(t.admin(), "/api/devices?all=true").await.is_empty());
    assert_eq!(
        t.sandbox()
            .requests()
            .iter()
            .find(|r| r.path == "/api/devices")
            .map(|r| r.status),
        Some(0)
    );
}

#[tokio::test]
async fn fault_answer_lost_applies_then_fails() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let once = Arc::new(AtomicBool::new(true));
    t.sandbox().set_fault_hook(Some(Arc::new(move |info| {
        (info.route == "POST /api/permissions" && once.swap(false, Ordering::SeqCst))
            .then_some(Fault::AnswerLost)
    })));
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let sent = client()
        .post(t.url("/api/permissions"))
        .basic_auth(&t.admin.email, Some(&t.admin.password))
        .json(&json!({"userId": u.id, "deviceId": d}))
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await,
        vec![d],
        "the change was applied"
    );
}

#[tokio::test]
async fn fault_delay_then_handles_normally() {
    let t = sandbox_target(SandboxConfig::default()).await;
    t.sandbox().set_fault_hook(Some(Arc::new(|info| {
        (info.route == "GET /api/server").then_some(Fault::Delay(Duration::from_millis(30)))
    })));
    let start = Instant::now();
    t.get(Auth::None, "/api/server").await.expect(200);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn throttle_delays_excess_requests_but_never_rejects() {
    let t = sandbox_target(SandboxConfig {
        max_requests_per_sec: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    for _ in 0..5 {
        t.get(Auth::None, "/api/server").await.expect(200);
    }
    assert!(
        t.sandbox().stats().throttled >= 1,
        "{:?}",
        t.sandbox().stats()
    );
    let quiet = sandbox_target(SandboxConfig::default()).await;
    for _ in 0..5 {
        quiet.get(Auth::None, "/api/server").await.expect(200);
    }
    assert_eq!(quiet.sandbox().stats().throttled, 0, "off by default");
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let t = sandbox_target(SandboxConfig {
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    })
    .await;
    let start = Instant::now();
    t.get(Auth::None, "/api/server").await.expect(200);
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[tokio::test]
async fn seed_creates_objects_visible_over_http() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let (user, device, group) = t.sandbox().seed(|store| {
        let user = store
            .add_user("seeded", "seeded@example.com", Some("pw"))
            .expect("user");
        let group = store.add_group("seeded-group", 0).expect("group");
        let device = store
            .add_device("seeded-device", "seed-1", group)
            .expect("device");
        store.link_user_group(user, group).expect("link");
        (user, device, group)
    });
    let creds = Creds {
        id: user,
        email: "seeded@example.com".into(),
        password: "pw".into(),
    };
    assert_eq!(
        t.ids(Auth::Basic(&creds), "/api/devices").await,
        vec![device]
    );
    assert_eq!(t.ids(Auth::Basic(&creds), "/api/groups").await, vec![group]);
}

/// The object kinds are seeded in-process as they are created over HTTP (minus the creator
/// link), the database's constraints and cascades included, and the notificators are set.
#[tokio::test]
async fn seeded_object_kinds_are_served_with_their_constraints_and_cascades() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let admin = t.admin.id;
    let (fence, calendar, command, notification) = t.sandbox().seed(|store| {
        let calendar = store.add_calendar("workdays", ICS).expect("calendar");
        let fence = store
            .add_geofence("depot", "CIRCLE (48.2082 16.3738, 200)")
            .expect("geofence");
        store.modify_object::<Geofence>(fence, |g| g.calendar_id = calendar);
        let command = store
            .add_command("engine-stop", "engineStop")
            .expect("command");
        let notification = store
            .add_notification("alarm", Some("theft-alarm"), Some("web,mail"))
            .expect("notification");
        store.modify_object::<Notification>(notification, |n| n.command_id = command);
        store.add_driver("max", " DRV-0001 ").expect("driver");
        assert!(
            store.add_driver("twin", "DRV-0001").is_err(),
            "unique uniqueId"
        );
        store
            .add_maintenance("service-5000km", "odometer", 0.0, 5_000_000.0)
            .expect("maintenance");
        store
            .add_computed_attribute("speed-kmh", "speedKmh", "speed * 1.852", "number")
            .expect("attribute");
        assert!(
            store
                .insert_object(Geofence {
                    name: Some("no area".into()),
                    ..Geofence::default()
                })
                .is_err(),
            "NOT NULL area"
        );
        for (kind, id) in [
            (ObjectType::Geofence, fence),
            (ObjectType::Notification, notification),
            (ObjectType::Calendar, calendar),
        ] {
            store
                .insert_link(ObjectType::User, admin, kind, id)
                .expect("link");
        }
        store.set_notificators(&["web"]);
        (fence, calendar, command, notification)
    });
    let v = t.fetch(&format!("/api/geofences/{fence}")).await;
    assert_eq!(v["calendarId"], json!(calendar));
    assert_eq!(
        t.ids(t.admin(), "/api/notifications").await,
        vec![notification]
    );
    assert_eq!(
        t.fetch(&format!("/api/calendars/{calendar}")).await["data"],
        json!(base64(ICS))
    );
    assert_eq!(
        t.column(t.admin(), "/api/notifications/notificators", "type")
            .await,
        [json!("web")]
    );
    t.delete(t.admin(), &format!("/api/commands/{command}"))
        .await
        .expect(204);
    t.delete(t.admin(), &format!("/api/calendars/{calendar}"))
        .await
        .expect(204);
    t.sandbox().seed(|store| {
        assert!(store.object::<Notification>(notification).is_none());
        assert_eq!(
            store.object::<Geofence>(fence).map(|g| g.calendar_id),
            Some(0)
        );
        assert_eq!(store.objects::<Driver>().count(), 1);
        assert_eq!(
            store
                .objects::<Driver>()
                .next()
                .and_then(|d| d.unique_id.clone()),
            Some("DRV-0001".into())
        );
    });
}

#[tokio::test]
async fn curl_walkthrough_creates_users_devices_and_links() {
    // The same requests as the Traccar API documentation's curl examples.
    let t = sandbox_target(SandboxConfig::default()).await;
    let user = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "Driver", "email": "driver@example.com", "password": "secret"}),
        )
        .await;
    user.expect(200);
    let device = t
        .post(
            t.admin(),
            "/api/devices",
            json!({"name": "Truck 1", "uniqueId": "123456789012345"}),
        )
        .await;
    device.expect(200);
    t.post(
        t.admin(),
        "/api/permissions",
        json!({"userId": user.id(), "deviceId": device.id()}),
    )
    .await
    .expect(204);
    let driver = Creds {
        id: user.id(),
        email: "driver@example.com".into(),
        password: "secret".into(),
    };
    let devices = t.get(Auth::Basic(&driver), "/api/devices").await;
    devices.expect(200);
    assert_eq!(devices.json()[0]["uniqueId"], json!("123456789012345"));
}

#[tokio::test]
async fn seed_handles_large_fleets() {
    let t = sandbox_target(SandboxConfig::default()).await;
    let manager = t.sandbox().seed(|store| {
        let manager = store
            .add_user("boss", "boss@example.com", Some("pw"))
            .expect("manager");
        store.set_limits(manager, -1, -1);
        for i in 0..5_000 {
            let user = store
                .add_user(&format!("u{i}"), &format!("u{i}@example.com"), None)
                .expect("user");
            let device = store
                .add_device(&format!("d{i}"), &format!("imei-{i}"), 0)
                .expect("device");
            store.link_managed_user(manager, user).expect("managed");
            store.link_user_device(user, device).expect("link");
        }
        assert!(
            store.add_user("dup", "u7@example.com", None).is_err(),
            "unique email still enforced"
        );
        manager
    });
    let boss = Creds {
        id: manager,
        email: "boss@example.com".into(),
        password: "pw".into(),
    };
    assert_eq!(t.ids(Auth::Basic(&boss), "/api/users").await.len(), 5_000);
    assert_eq!(t.ids(t.admin(), "/api/devices?all=true").await.len(), 5_000);
    assert_eq!(
        t.ids(t.admin(), "/api/devices?uniqueId=imei-42")
            .await
            .len(),
        0,
        "admins see only their own"
    );
}
