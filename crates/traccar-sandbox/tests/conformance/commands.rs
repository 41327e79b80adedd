//! Saved commands (observed-objects.md §4): unknown fields are ignored, `deviceId` is echoed
//! but not stored, `limitCommands` users cannot write them but may read and link them, and
//! the list of command types.

use serde_json::{Value, json};

use super::harness::*;

/// §4: the only kind that ignores unknown fields (`@JsonIgnoreProperties(ignoreUnknown)`).
#[tokio::test]
async fn unknown_fields_are_ignored() {
    let t = target().await;
    let description = format!("conf-cmd-{}", suffix());
    let r = t
        .post(
            t.admin(),
            "/api/commands",
            json!({"description": description, "type": "custom", "bogusField": 1}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!({"id": r.id(), "attributes": {}, "deviceId": 0, "type": "custom", "textChannel": false, "description": description})
    );
}

/// §4: `deviceId` comes back in the POST (and PUT) answer but is not stored.
#[tokio::test]
async fn device_id_is_echoed_but_not_stored() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    let r = t
        .post(
            t.admin(),
            "/api/commands",
            json!({"description": "Engine stop", "type": "engineStop", "textChannel": true, "deviceId": d, "attributes": {"data": "STOP#", "noQueue": true}}),
        )
        .await;
    r.expect(200);
    let id = r.id();
    assert_eq!(r.json()["deviceId"], json!(d));
    let stored = t.fetch(&format!("/api/commands/{id}")).await;
    assert_eq!(
        stored,
        json!({"id": id, "attributes": {"data": "STOP#", "noQueue": true}, "deviceId": 0, "type": "engineStop", "textChannel": true, "description": "Engine stop"})
    );
    let r = t
        .put(
            t.admin(),
            &format!("/api/commands/{id}"),
            json!({"id": id, "description": "Engine stop", "type": "engineStop", "deviceId": d}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["deviceId"], json!(d));
    assert_eq!(
        t.fetch(&format!("/api/commands/{id}")).await["deviceId"],
        json!(0)
    );
}

/// §4: `description` and `type` are NOT NULL; the type is never validated.
#[tokio::test]
async fn description_and_type_are_required_and_the_type_is_not_validated() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    t.post(t.admin(), "/api/commands", json!({"type": "custom"}))
        .await
        .expect_error(400, &not_null("DESCRIPTION"));
    t.post(
        t.admin(),
        "/api/commands",
        json!({"description": "no type"}),
    )
    .await
    .expect_error(400, &not_null("TYPE"));
    let r = t
        .post(
            t.admin(),
            "/api/commands",
            json!({"description": "weird", "type": "noSuchCommand"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["type"], json!("noSuchCommand"));
}

/// §4: every `Command.TYPE_*` (44 on 6.9.1, in this order); for a device without positions
/// only `custom`; a device id that does not convert is JAX-RS's 404.
#[tokio::test]
async fn types_lists_the_command_types() {
    let t = target().await;
    let types = t.column(t.admin(), "/api/commands/types", "type").await;
    let observed_6_9 = [
        "custom",
        "deviceIdentification",
        "positionSingle",
        "positionPeriodic",
        "positionStop",
        "engineStop",
        "engineResume",
        "alarmArm",
        "alarmDisarm",
        "alarmDismiss",
        "setTimezone",
        "requestPhoto",
        "powerOff",
        "rebootDevice",
        "factoryReset",
        "sendSms",
        "sendUssd",
        "sosNumber",
        "silenceTime",
        "setPhonebook",
        "message",
        "voiceMessage",
        "outputControl",
        "voiceMonitoring",
        "setAgps",
        "setIndicator",
        "configuration",
        "getVersion",
        "firmwareUpdate",
        "setConnection",
        "setOdometer",
        "getModemStatus",
        "getDeviceStatus",
        "setSpeedLimit",
        "modePowerSaving",
        "modeDeepSleep",
        "alarmGeofence",
        "alarmBattery",
        "alarmSos",
        "alarmRemove",
        "alarmClock",
        "alarmSpeed",
        "alarmFall",
        "alarmVibration",
    ];
    if t.at_least(6, 13) {
        assert_eq!(types.len(), 46);
        assert!(types.contains(&json!("videoStart")));
    } else {
        assert_eq!(types, observed_6_9.map(Value::from));
    }
    let (d, _) = t.device(t.admin()).await;
    assert_eq!(
        t.column(
            t.admin(),
            &format!("/api/commands/types?deviceId={d}"),
            "type"
        )
        .await,
        [json!("custom")]
    );
    t.get(t.admin(), "/api/commands/types?deviceId=abc")
        .await
        .expect(404);
    let u = t.user(json!({})).await;
    t.get(
        Auth::Basic(&u),
        &format!("/api/commands/types?deviceId={d}"),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Device access denied");
}

/// §4 and §11: a `limitCommands` user cannot create, edit or delete saved commands, but reads
/// and links those linked to it.
#[tokio::test]
async fn limit_commands_users_cannot_write_saved_commands_but_read_and_link_them() {
    let t = target().await;
    let lc = t.user(json!({"limitCommands": true})).await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": lc.id, "deviceId": d}))
        .await
        .expect(204);
    let id = t.command(t.admin()).await;
    t.link(t.admin(), json!({"userId": lc.id, "commandId": id}))
        .await
        .expect(204);
    assert_eq!(t.ids(Auth::Basic(&lc), "/api/commands").await, vec![id]);
    let denied = "java.lang.SecurityException: Write access denied";
    t.post(
        Auth::Basic(&lc),
        "/api/commands",
        json!({"description": "lc cmd", "type": "custom"}),
    )
    .await
    .expect_error(400, denied);
    t.put(
        Auth::Basic(&lc),
        &format!("/api/commands/{id}"),
        json!({"id": id, "description": "lc edit", "type": "custom"}),
    )
    .await
    .expect_error(400, denied);
    t.delete(Auth::Basic(&lc), &format!("/api/commands/{id}"))
        .await
        .expect_error(400, denied);
    t.link(Auth::Basic(&lc), json!({"deviceId": d, "commandId": id}))
        .await
        .expect(204);
    // A notification may still name the command (it is a notification, not a command).
    let r = t
        .post(
            Auth::Basic(&lc),
            "/api/notifications",
            json!({"type": "alarm", "commandId": id}),
        )
        .await;
    r.expect(200);
    // Other kinds are unaffected.
    t.geofence(Auth::Basic(&lc)).await;
}

/// §10: users, devices and groups link to saved commands.
#[tokio::test]
async fn users_devices_and_groups_link_to_saved_commands() {
    let t = target().await;
    let id = t.command(t.admin()).await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, owner_id, filter) in [
        ("userId", u.id, "userId"),
        ("deviceId", d, "deviceId"),
        ("groupId", g, "groupId"),
    ] {
        t.link(t.admin(), json!({owner: owner_id, "commandId": id}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(t.admin(), &format!("/api/commands?{filter}={owner_id}"))
                .await,
            vec![id],
            "{owner}"
        );
    }
}

/// §1.6: ordered by description from 6.6.
#[tokio::test]
async fn lists_are_sorted_by_description() {
    let t = target().await;
    let u = t.user(json!({})).await;
    for description in ["zz custom", "Engine stop", "weird"] {
        t.object(
            Auth::Basic(&u),
            "/api/commands",
            json!({"description": description, "type": "custom"}),
        )
        .await;
    }
    let listed = t
        .column(Auth::Basic(&u), "/api/commands", "description")
        .await;
    let expected = if t.at_least(6, 6) {
        ["Engine stop", "weird", "zz custom"]
    } else {
        ["zz custom", "Engine stop", "weird"]
    };
    assert_eq!(listed, expected.map(Value::from));
}
