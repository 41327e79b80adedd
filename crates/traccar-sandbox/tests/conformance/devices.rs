//! Devices: auto-link, visibility-scoped lists, exact lookups, limits, readonly flags, PUT and
//! delete rules.

use serde_json::{Value, json};

use super::harness::*;

#[tokio::test]
async fn device_create_auto_links_creator_even_admin() {
    let t = target().await;
    let r = t.create_device(t.admin(), json!({})).await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["status"], json!("offline"));
    assert_eq!(v["positionId"], json!(0));
    assert_eq!(v["groupId"], json!(0));
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", t.admin.id))
            .await
            .contains(&r.id())
    );
}

#[tokio::test]
async fn admin_plain_device_list_is_own_visible_set_all_true_lists_every_device() {
    let t = target().await;
    let m = t.manager(1, 5).await;
    let (mine, _) = t.device(t.admin()).await;
    let (theirs, _) = t.device(Auth::Basic(&m)).await;
    let plain = t.ids(t.admin(), "/api/devices").await;
    assert!(plain.contains(&mine) && !plain.contains(&theirs));
    let all = t.ids(t.admin(), "/api/devices?all=true").await;
    assert!(all.contains(&mine) && all.contains(&theirs));
    // all=true means nothing more for a non-admin.
    assert_eq!(
        t.ids(Auth::Basic(&m), "/api/devices?all=true").await,
        vec![theirs]
    );
}

#[tokio::test]
async fn unique_id_and_id_lookups_are_restricted_even_for_admins() {
    let t = target().await;
    let m = t.manager(1, 5).await;
    let (id, unique_id) = t.device(Auth::Basic(&m)).await;
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?uniqueId={unique_id}"))
            .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?id={id}")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        t.ids(
            Auth::Basic(&m),
            &format!("/api/devices?uniqueId={unique_id}")
        )
        .await,
        vec![id]
    );
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/devices?id={id}&id={id}"))
            .await,
        vec![id, id]
    );
}

#[tokio::test]
async fn devices_by_user_id_are_direct_links_only() {
    let t = target().await;
    let g = t.group(t.admin(), 0).await;
    let (in_group, _) = t.device(t.admin()).await;
    let mut body = t.fetch(&format!("/api/devices/{in_group}")).await;
    body["groupId"] = json!(g);
    t.put(t.admin(), &format!("/api/devices/{in_group}"), body)
        .await
        .expect(200);
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "groupId": g}))
        .await
        .expect(204);
    assert!(
        !t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .contains(&in_group)
    );
    assert!(
        !t.ids(Auth::Basic(&u), &format!("/api/devices?userId={}", u.id))
            .await
            .contains(&in_group)
    );
    assert_eq!(
        t.ids(Auth::Basic(&u), "/api/devices").await,
        vec![in_group],
        "plain list includes group devices"
    );
}

#[tokio::test]
async fn device_limit_zero_blocks_creation() {
    let t = target().await;
    let u = t.user(json!({})).await;
    t.create_device(Auth::Basic(&u), json!({}))
        .await
        .expect_error(400, "java.lang.SecurityException: Write access denied");
}

#[tokio::test]
async fn device_limit_counts_visible_devices() {
    let t = target().await;
    let u = t.user(json!({"deviceLimit": 1})).await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect(204);
    t.create_device(Auth::Basic(&u), json!({}))
        .await
        .expect_error(400, "java.lang.SecurityException: Write access denied");
    t.delete_json(
        t.admin(),
        "/api/permissions",
        json!({"userId": u.id, "deviceId": d}),
    )
    .await
    .expect(204);
    t.create_device(Auth::Basic(&u), json!({}))
        .await
        .expect(200);
}

#[tokio::test]
async fn negative_device_limit_is_unlimited() {
    let t = target().await;
    let u = t.user(json!({"deviceLimit": -1})).await;
    for _ in 0..3 {
        t.create_device(Auth::Basic(&u), json!({}))
            .await
            .expect(200);
    }
    assert_eq!(t.ids(Auth::Basic(&u), "/api/devices").await.len(), 3);
}

#[tokio::test]
async fn device_readonly_and_readonly_users_cannot_write_devices() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    for flags in [
        json!({"deviceReadonly": true, "deviceLimit": -1}),
        json!({"readonly": true, "deviceLimit": -1}),
    ] {
        let u = t.user(flags).await;
        t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
            .await
            .expect(204);
        t.create_device(Auth::Basic(&u), json!({}))
            .await
            .expect_error(400, "java.lang.SecurityException: Write access denied");
        let body = t.fetch(&format!("/api/devices/{d}")).await;
        t.put(Auth::Basic(&u), &format!("/api/devices/{d}"), body)
            .await
            .expect_error(400, "java.lang.SecurityException: Write access denied");
        t.delete(Auth::Basic(&u), &format!("/api/devices/{d}"))
            .await
            .expect_error(400, "java.lang.SecurityException: Write access denied");
    }
}

#[tokio::test]
async fn duplicate_or_missing_unique_id_is_400_storage_exception() {
    let t = target().await;
    let (_, unique_id) = t.device(t.admin()).await;
    let r = t
        .post(
            t.admin(),
            "/api/devices",
            json!({"name": "dup", "uniqueId": unique_id}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .starts_with("org.traccar.storage.StorageException"),
        "{}",
        r.text
    );
    assert!(r.text.contains("Unique index or primary key violation"));
    let r = t
        .post(t.admin(), "/api/devices", json!({"name": "nouid"}))
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .contains("NULL not allowed for column \"UNIQUEID\""),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn device_put_replaces_whole_object() {
    let t = target().await;
    let r = t
        .create_device(
            t.admin(),
            json!({"phone": "123", "model": "X", "attributes": {"a": 1}}),
        )
        .await;
    r.expect(200);
    let id = r.id();
    let unique_id = r.json()["uniqueId"].clone();
    t.put(
        t.admin(),
        &format!("/api/devices/{id}"),
        json!({"id": id, "name": "renamed", "uniqueId": unique_id}),
    )
    .await
    .expect(200);
    let v = t.fetch(&format!("/api/devices/{id}")).await;
    assert_eq!(v["name"], json!("renamed"));
    assert_eq!(v["phone"], Value::Null);
    assert_eq!(v["model"], Value::Null);
    assert_eq!(v["attributes"], json!({}));
}

#[tokio::test]
async fn non_admin_cannot_move_device_into_invisible_group() {
    let t = target().await;
    let u = t.user(json!({"deviceLimit": -1})).await;
    let (d, _) = t.device(Auth::Basic(&u)).await;
    let g = t.group(t.admin(), 0).await;
    let mut body = t.fetch(&format!("/api/devices/{d}")).await;
    body["groupId"] = json!(g);
    t.put(Auth::Basic(&u), &format!("/api/devices/{d}"), body.clone())
        .await
        .expect_error(400, "java.lang.SecurityException: Group access denied");
    t.link(t.admin(), json!({"userId": u.id, "groupId": g}))
        .await
        .expect(204);
    t.put(Auth::Basic(&u), &format!("/api/devices/{d}"), body)
        .await
        .expect(200);
}

#[tokio::test]
async fn user_who_sees_device_through_group_may_delete_it() {
    let t = target().await;
    let g = t.group(t.admin(), 0).await;
    let r = t.create_device(t.admin(), json!({"groupId": g})).await;
    r.expect(200);
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "groupId": g}))
        .await
        .expect(204);
    t.delete(Auth::Basic(&u), &format!("/api/devices/{}", r.id()))
        .await
        .expect(204);
    t.get(t.admin(), &format!("/api/devices/{}", r.id()))
        .await
        .expect(404);
}

#[tokio::test]
async fn missing_device_is_404_for_admin_400_for_others_delete_204() {
    let t = target().await;
    t.get(t.admin(), "/api/devices/999999999").await.expect(404);
    t.delete(t.admin(), "/api/devices/999999999")
        .await
        .expect(204);
    let u = t.user(json!({})).await;
    t.get(Auth::Basic(&u), "/api/devices/999999999")
        .await
        .expect_error(400, "java.lang.SecurityException: Device access denied");
}

#[tokio::test]
async fn managers_do_not_see_managed_users_devices() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": sub.id, "deviceId": d}))
        .await
        .expect(204);
    assert!(!t.ids(Auth::Basic(&m), "/api/devices").await.contains(&d));
    t.get(Auth::Basic(&m), &format!("/api/devices/{d}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Device access denied");
    // ...but may list them by userId (checkUser passes for a managed user).
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/devices?userId={}", sub.id))
            .await,
        vec![d]
    );
    t.get(
        Auth::Basic(&m),
        &format!("/api/devices?userId={}", t.admin.id),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: User access denied");
}

#[tokio::test]
async fn delete_device_cascades_its_links() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect(204);
    t.delete(t.admin(), &format!("/api/devices/{d}"))
        .await
        .expect(204);
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn exclude_attributes_empties_attributes_from_6_10() {
    let t = target().await;
    let r = t
        .create_device(t.admin(), json!({"attributes": {"speedLimit": 80}}))
        .await;
    r.expect(200);
    let list = t
        .get(t.admin(), &format!("/api/devices?id={}", r.id()))
        .await;
    assert_eq!(list.json()[0]["attributes"], json!({"speedLimit": 80}));
    let path = format!("/api/devices?userId={}&excludeAttributes=true", t.admin.id);
    let listed = t.get(t.admin(), &path).await.json();
    let item = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["id"] == json!(r.id()))
        .cloned()
        .expect("listed");
    let expected = if t.at_least(6, 10) {
        json!({})
    } else {
        json!({"speedLimit": 80})
    };
    assert_eq!(item["attributes"], expected);
}

/// observed-objects.md §12: PUT writes every field (name, uniqueId, groupId, category, phone,
/// model, contact, disabled, calendarId, attributes) and resets what it leaves out.
#[tokio::test]
async fn device_put_writes_every_field_and_resets_the_omitted_ones() {
    let t = target().await;
    let g = t.group(t.admin(), 0).await;
    let calendar = t.calendar(t.admin()).await;
    let (id, unique_id) = t.device(t.admin()).await;
    let full = json!({"id": id, "name": "dev-admin-a2", "uniqueId": unique_id, "groupId": g, "calendarId": calendar, "category": "car", "phone": "+100", "model": "X1", "contact": "Bob", "disabled": true, "attributes": {"speedLimit": 30}});
    let r = t.put(t.admin(), &format!("/api/devices/{id}"), full).await;
    r.expect(200);
    let v = t.fetch(&format!("/api/devices/{id}")).await;
    for (field, value) in [
        ("name", json!("dev-admin-a2")),
        ("groupId", json!(g)),
        ("calendarId", json!(calendar)),
        ("category", json!("car")),
        ("phone", json!("+100")),
        ("model", json!("X1")),
        ("contact", json!("Bob")),
        ("disabled", json!(true)),
        ("attributes", json!({"speedLimit": 30})),
    ] {
        assert_eq!(v[field], value, "{field}");
    }
    t.put(
        t.admin(),
        &format!("/api/devices/{id}"),
        json!({"id": id, "name": "bare", "uniqueId": unique_id}),
    )
    .await
    .expect(200);
    let v = t.fetch(&format!("/api/devices/{id}")).await;
    for (field, value) in [
        ("groupId", json!(0)),
        ("calendarId", json!(0)),
        ("category", Value::Null),
        ("phone", Value::Null),
        ("model", Value::Null),
        ("contact", Value::Null),
        ("disabled", json!(false)),
        ("attributes", json!({})),
    ] {
        assert_eq!(v[field], value, "{field}");
    }
    t.put(
        t.admin(),
        &format!("/api/devices/{id}"),
        json!({"id": id, "name": "no uniqueId in PUT"}),
    )
    .await
    .expect_error(400, "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"UNIQUEID\"; SQL statement:");
}

/// observed-objects.md §12: `status`, `lastUpdate` and `positionId` in a body are echoed in the
/// answer but never stored.
#[tokio::test]
async fn device_status_position_and_last_update_are_echoed_not_stored() {
    let t = target().await;
    let (id, unique_id) = t.device(t.admin()).await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/devices/{id}"),
            json!({"id": id, "name": "echo", "uniqueId": unique_id, "status": "online", "positionId": 77, "lastUpdate": "2026-01-01T00:00:00.000+00:00"}),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["status"], json!("online"));
    assert_eq!(v["positionId"], json!(77));
    assert_eq!(v["lastUpdate"], json!("2026-01-01T00:00:00.000+00:00"));
    let stored = t.fetch(&format!("/api/devices/{id}")).await;
    assert_eq!(stored["status"], json!("offline"));
    assert_eq!(stored["positionId"], json!(0));
    assert_eq!(stored["lastUpdate"], Value::Null);
}

/// observed-objects.md §12: a device's `calendarId` is a foreign key, and a non-admin needs
/// the calendar (`Calendar access denied`), as for its group (`Group access denied`).
#[tokio::test]
async fn device_calendar_is_a_foreign_key_a_non_admin_must_hold() {
    let t = target().await;
    let (id, unique_id) = t.device(t.admin()).await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/devices/{id}"),
            json!({"id": id, "name": "d", "uniqueId": unique_id, "calendarId": 999_999_999}),
        )
        .await;
    r.expect(400);
    assert!(r.first_line().contains("\"FK_DEVICES_CALENDARID: PUBLIC.TC_DEVICES FOREIGN KEY(CALENDARID) REFERENCES PUBLIC.TC_CALENDARS(ID) (999999999)\""), "{}", r.text);
    let m = t.manager(-1, -1).await;
    let (own, own_uid) = t.device(Auth::Basic(&m)).await;
    let foreign = t.calendar(t.admin()).await;
    t.put(
        Auth::Basic(&m),
        &format!("/api/devices/{own}"),
        json!({"id": own, "name": "d", "uniqueId": own_uid, "calendarId": foreign}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Calendar access denied");
    let mine = t.calendar(Auth::Basic(&m)).await;
    let r = t
        .put(
            Auth::Basic(&m),
            &format!("/api/devices/{own}"),
            json!({"id": own, "name": "d", "uniqueId": own_uid, "calendarId": mine}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["calendarId"], json!(mine));
}

/// observed-objects.md §12: `deviceLimit` governs creation only: a managed user with
/// `deviceLimit` 0 may rename a device linked to it.
#[tokio::test]
async fn a_user_without_device_limit_may_edit_its_linked_devices() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (d, unique_id) = t.device(Auth::Basic(&m)).await;
    t.link(Auth::Basic(&m), json!({"userId": sub.id, "deviceId": d}))
        .await
        .expect(204);
    t.create_device(Auth::Basic(&sub), json!({}))
        .await
        .expect_error(400, "java.lang.SecurityException: Write access denied");
    t.put(
        Auth::Basic(&sub),
        &format!("/api/devices/{d}"),
        json!({"id": d, "name": "sub renames", "uniqueId": unique_id}),
    )
    .await
    .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/devices/{d}")).await["name"],
        json!("sub renames")
    );
}

/// observed-objects.md §12: a `uniqueId` another user's device holds is a unique violation on
/// POST and PUT alike, which tells the caller that it exists.
#[tokio::test]
async fn a_unique_id_in_use_elsewhere_is_a_unique_violation() {
    let t = target().await;
    let (_, taken) = t.device(t.admin()).await;
    let m = t.manager(-1, -1).await;
    let r = t
        .post(
            Auth::Basic(&m),
            "/api/devices",
            json!({"name": "dup of admin device", "uniqueId": taken}),
        )
        .await;
    r.expect(400);
    assert!(
        r.text.contains("Unique index or primary key violation"),
        "{}",
        r.text
    );
    let (own, _) = t.device(Auth::Basic(&m)).await;
    let r = t
        .put(
            Auth::Basic(&m),
            &format!("/api/devices/{own}"),
            json!({"id": own, "name": "d", "uniqueId": taken}),
        )
        .await;
    r.expect(400);
    assert!(r.text.contains("TC_DEVICES(UNIQUEID"), "{}", r.text);
}
