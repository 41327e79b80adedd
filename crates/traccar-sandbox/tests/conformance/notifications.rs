//! Notifications (observed-objects.md §3): only `type` is required, nothing is validated,
//! `calendarId` and `commandId` are foreign keys a non-admin must hold, deleting the saved
//! command deletes the notification, and the lists of event types and notificators.
//! `description` exists from 6.6 (5.12 has none).

use serde_json::{Value, json};

use super::harness::*;

/// §3: the minimal body is `{"type": ...}`; everything else defaults.
#[tokio::test]
async fn the_minimal_body_is_the_type_alone() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/notifications",
            json!({"type": "deviceOnline"}),
        )
        .await;
    r.expect(200);
    let v = r.json();
    let expected = if t.at_least(6, 6) {
        json!({"id": v["id"], "attributes": {}, "description": null, "calendarId": 0, "always": false, "type": "deviceOnline", "commandId": 0, "notificators": null})
    } else {
        json!({"id": v["id"], "attributes": {}, "calendarId": 0, "always": false, "type": "deviceOnline", "commandId": 0, "notificators": null})
    };
    assert_eq!(v, expected);
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    let expected_keys: Vec<&String> = expected.as_object().expect("object").keys().collect();
    assert_eq!(keys, expected_keys);
}

/// §3: `type` is the only NOT NULL column.
#[tokio::test]
async fn a_missing_type_is_a_not_null_violation() {
    let t = target().await;
    t.post(t.admin(), "/api/notifications", json!({"always": true}))
        .await
        .expect_error(400, "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"TYPE\"; SQL statement:");
}

/// §1.2 and §3: the type, the notificators and the alarms are free strings, stored as given.
#[tokio::test]
async fn type_notificators_and_alarms_are_not_validated() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/notifications",
            json!({"type": "noSuchEvent", "notificators": "web,mail,sms,telegram,bogus", "always": true, "attributes": {"alarms": "sos,overspeed,noSuchAlarm"}}),
        )
        .await;
    r.expect(200);
    let id = r.id();
    let v = t.fetch(&format!("/api/notifications/{id}")).await;
    assert_eq!(v["type"], json!("noSuchEvent"));
    assert_eq!(v["notificators"], json!("web,mail,sms,telegram,bogus"));
    assert_eq!(v["always"], json!(true));
    assert_eq!(
        v["attributes"],
        json!({"alarms": "sos,overspeed,noSuchAlarm"})
    );
}

/// §1.2: `always` must be a JSON boolean (Jackson's 400 text/plain); `1` is coerced.
#[tokio::test]
async fn always_as_a_string_is_400_text_plain() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/notifications",
            json!({"type": "alarm", "always": "yes"}),
        )
        .await;
    r.expect_error(400, "Cannot deserialize value of type `boolean` from String \"yes\": only \"true\"/\"True\"/\"TRUE\" or \"false\"/\"False\"/\"FALSE\" recognized");
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    let r = t
        .post(
            t.admin(),
            "/api/notifications",
            json!({"type": "alarm", "always": 1}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["always"], json!(true));
}

/// §1.2: an unknown field lists the known properties; before 6.6 `description` is unknown.
#[tokio::test]
async fn unknown_field_is_400_text_plain_listing_the_known_properties() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/notifications",
            json!({"type": "alarm", "bogus": 1}),
        )
        .await;
    let mut known = vec![
        "notificators",
        "commandId",
        "attributes",
        "calendarId",
        "type",
        "id",
        "description",
        "always",
    ];
    if !t.at_least(6, 6) {
        known.retain(|k| *k != "description");
    }
    r.expect_error(400, &t.unrecognized("Notification", "bogus", &known));
    if !t.at_least(6, 6) {
        let r = t
            .post(
                t.admin(),
                "/api/notifications",
                json!({"type": "alarm", "description": "x"}),
            )
            .await;
        r.expect(400);
        assert!(
            r.text.starts_with("Unrecognized field \"description\""),
            "{}",
            r.text
        );
    }
}

/// §3: `calendarId` and `commandId` are foreign keys.
#[tokio::test]
async fn a_missing_calendar_or_command_is_a_foreign_key_violation() {
    let t = target().await;
    for (field, constraint) in [
        (
            "commandId",
            "FK_NOTIFICATIONS_COMMANDID: PUBLIC.TC_NOTIFICATIONS FOREIGN KEY(COMMANDID) REFERENCES PUBLIC.TC_COMMANDS(ID) (999999999)",
        ),
        (
            "calendarId",
            "FK_NOTIFICATION_CALENDAR_CALENDARID: PUBLIC.TC_NOTIFICATIONS FOREIGN KEY(CALENDARID) REFERENCES PUBLIC.TC_CALENDARS(ID) (999999999)",
        ),
    ] {
        let r = t
            .post(
                t.admin(),
                "/api/notifications",
                json!({"type": "alarm", field: 999_999_999}),
            )
            .await;
        r.expect_error(400, &format!("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: Referential integrity constraint violation: \"{constraint}\"; SQL statement:"));
    }
}

/// §3: the event types of the version, as `[{"type": ...}]` (19 on 6.9.1, in this order).
#[tokio::test]
async fn types_lists_the_event_types_of_the_version() {
    let t = target().await;
    let types = t
        .column(t.admin(), "/api/notifications/types", "type")
        .await;
    let observed_6_9 = [
        "commandResult",
        "deviceOnline",
        "deviceUnknown",
        "deviceOffline",
        "deviceInactive",
        "queuedCommandSent",
        "deviceMoving",
        "deviceStopped",
        "deviceOverspeed",
        "deviceFuelDrop",
        "deviceFuelIncrease",
        "geofenceEnter",
        "geofenceExit",
        "alarm",
        "ignitionOn",
        "ignitionOff",
        "maintenance",
        "driverChanged",
        "media",
    ];
    if t.at_least(6, 9) && !t.at_least(6, 13) {
        assert_eq!(types, observed_6_9.map(Value::from));
    } else {
        for ty in observed_6_9 {
            assert!(types.contains(&json!(ty)), "{ty} in {types:?}");
        }
    }
    assert_eq!(
        types.contains(&json!("textMessage")),
        !t.at_least(6, 9),
        "textMessage went in 6.9"
    );
    assert_eq!(types.contains(&json!("proximityEnter")), t.at_least(6, 13));
    // Any user may read them.
    let u = t.user(json!({})).await;
    t.get(Auth::Basic(&u), "/api/notifications/types")
        .await
        .expect(200);
}

/// §3: the configured notificators (the local real servers: `web` only); from 6.2
/// `announcement=true` drops `web` and `command`.
#[tokio::test]
async fn notificators_lists_the_configured_ones_and_announcement_drops_web() {
    let t = target().await;
    let all = t
        .column(t.admin(), "/api/notifications/notificators", "type")
        .await;
    assert!(all.contains(&json!("web")), "{all:?}");
    let announced = t
        .column(
            t.admin(),
            "/api/notifications/notificators?announcement=true",
            "type",
        )
        .await;
    if t.at_least(6, 2) {
        assert!(
            !announced.contains(&json!("web")) && !announced.contains(&json!("command")),
            "{announced:?}"
        );
        assert_eq!(
            announced.len(),
            all.iter()
                .filter(|n| *n != "web" && *n != "command")
                .count()
        );
    } else {
        assert_eq!(announced, all);
    }
}

/// §3 and §13: deleting the saved command a notification's `commandId` points to deletes the
/// notification (FK ON DELETE CASCADE).
#[tokio::test]
async fn deleting_its_saved_command_deletes_the_notification() {
    let t = target().await;
    let command = t.command(t.admin()).await;
    let using = t
        .notification(t.admin(), json!({"commandId": command}))
        .await;
    let other = t.notification(t.admin(), json!({})).await;
    t.delete(t.admin(), &format!("/api/commands/{command}"))
        .await
        .expect(204);
    t.get(t.admin(), &format!("/api/notifications/{using}"))
        .await
        .expect(404);
    let all = t.ids(t.admin(), "/api/notifications?all=true").await;
    assert!(!all.contains(&using) && all.contains(&other));
}

/// §3 and §13: deleting its calendar only resets `calendarId` to 0.
#[tokio::test]
async fn deleting_its_calendar_resets_calendar_id() {
    let t = target().await;
    let calendar = t.calendar(t.admin()).await;
    let id = t
        .notification(t.admin(), json!({"calendarId": calendar}))
        .await;
    t.delete(t.admin(), &format!("/api/calendars/{calendar}"))
        .await
        .expect(204);
    assert_eq!(
        t.fetch(&format!("/api/notifications/{id}")).await["calendarId"],
        json!(0)
    );
}

/// §3 and §11: a non-admin must have the calendar and the saved command it references.
#[tokio::test]
async fn a_non_admin_needs_the_calendar_and_command_it_references() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let calendar = t.calendar(t.admin()).await;
    let command = t.command(t.admin()).await;
    t.post(
        Auth::Basic(&m),
        "/api/notifications",
        json!({"type": "alarm", "calendarId": calendar}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Calendar access denied");
    t.post(
        Auth::Basic(&m),
        "/api/notifications",
        json!({"type": "alarm", "commandId": command}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Command access denied");
    let own_calendar = t.calendar(Auth::Basic(&m)).await;
    let own_command = t.command(Auth::Basic(&m)).await;
    let r = t
        .post(
            Auth::Basic(&m),
            "/api/notifications",
            json!({"type": "alarm", "calendarId": own_calendar, "commandId": own_command}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["commandId"], json!(own_command));
}

/// §11 (probed on 6.9.1): on PUT a reference is checked only when it changes: a user may keep
/// a calendar it cannot see, but not set it again once cleared.
#[tokio::test]
async fn references_are_checked_only_when_they_change() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let calendar = t.calendar(t.admin()).await;
    let command = t.command(t.admin()).await;
    let id = t
        .notification(
            t.admin(),
            json!({"calendarId": calendar, "commandId": command}),
        )
        .await;
    t.link(t.admin(), json!({"userId": m.id, "notificationId": id}))
        .await
        .expect(204);
    let body = |calendar: i64| json!({"id": id, "type": "alarm", "calendarId": calendar, "commandId": command});
    t.put(
        Auth::Basic(&m),
        &format!("/api/notifications/{id}"),
        body(calendar),
    )
    .await
    .expect(200);
    t.put(
        Auth::Basic(&m),
        &format!("/api/notifications/{id}"),
        body(0),
    )
    .await
    .expect(200);
    t.put(
        Auth::Basic(&m),
        &format!("/api/notifications/{id}"),
        body(calendar),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Calendar access denied");
}

/// §1.4 and §3: PUT replaces the whole notification.
#[tokio::test]
async fn put_replaces_the_whole_notification() {
    let t = target().await;
    let id = t
        .notification(
            t.admin(),
            json!({"type": "geofenceEnter", "notificators": "web", "always": true, "attributes": {"x": 1}}),
        )
        .await;
    t.put(
        t.admin(),
        &format!("/api/notifications/{id}"),
        json!({"id": id, "type": "geofenceExit"}),
    )
    .await
    .expect(200);
    let v = t.fetch(&format!("/api/notifications/{id}")).await;
    assert_eq!(v["type"], json!("geofenceExit"));
    assert_eq!(v["notificators"], Value::Null);
    assert_eq!(v["always"], json!(false));
    assert_eq!(v["attributes"], json!({}));
}

/// §1.6: ordered by description from 6.6, NULL first, case-sensitively.
#[tokio::test]
async fn lists_are_sorted_by_description_null_first() {
    let t = target().await;
    if !t.at_least(6, 6) {
        return;
    }
    let u = t.user(json!({})).await;
    for body in [
        json!({"type": "alarm", "description": "mail etc"}),
        json!({"type": "alarm", "description": "Alarms"}),
        json!({"type": "alarm"}),
    ] {
        t.notification(Auth::Basic(&u), body).await;
    }
    let descriptions = t
        .column(Auth::Basic(&u), "/api/notifications", "description")
        .await;
    assert_eq!(
        descriptions,
        [Value::Null, json!("Alarms"), json!("mail etc")]
    );
}

/// §10: users, devices and groups link to notifications.
#[tokio::test]
async fn users_devices_and_groups_link_to_notifications() {
    let t = target().await;
    let id = t.notification(t.admin(), json!({})).await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, owner_id, filter) in [
        ("userId", u.id, "userId"),
        ("deviceId", d, "deviceId"),
        ("groupId", g, "groupId"),
    ] {
        t.link(t.admin(), json!({owner: owner_id, "notificationId": id}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(
                t.admin(),
                &format!("/api/notifications?{filter}={owner_id}")
            )
            .await,
            vec![id],
            "{owner}"
        );
    }
}
