//! Permissions (links): owner-first key order, duplicates, no-op deletes, bulk semantics,
//! per-item checks for non-admins, and the admin-only listing of 6.14.

use serde_json::{Value, json};

use super::harness::*;

fn rows_for(list: &Value, owner: &str, owner_id: i64) -> usize {
    list.as_array()
        .expect("array")
        .iter()
        .filter(|row| {
            row.as_object()
                .expect("object")
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(owner) && v.as_i64() == Some(owner_id))
        })
        .count()
}

#[tokio::test]
async fn permission_denials_are_400_not_403() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (d, _) = t.device(t.admin()).await;
    let r = t
        .link(Auth::Basic(&m), json!({"userId": m.id, "deviceId": d}))
        .await;
    r.expect_error(400, "java.lang.SecurityException: Device access denied");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    if t.at_least(6, 7) {
        assert!(
            r.text
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("\tat ")),
            "a stack trace follows: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn owner_key_must_come_first() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    let u = t.user(json!({})).await;
    let reversed = format!("{{\"deviceId\":{d},\"userId\":{}}}", u.id);
    let r = t
        .post_raw(t.admin(), "/api/permissions", "application/json", &reversed)
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .starts_with("org.traccar.storage.StorageException"),
        "{}",
        r.text
    );
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .is_empty()
    );
    let ordered = format!("{{\"userId\":{},\"deviceId\":{d}}}", u.id);
    t.post_raw(t.admin(), "/api/permissions", "application/json", &ordered)
        .await
        .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await,
        vec![d]
    );
}

#[tokio::test]
async fn repost_of_a_link_is_204_and_the_device_is_listed_once() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    let u = t.user(json!({})).await;
    for _ in 0..2 {
        t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
            .await
            .expect(204);
    }
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await,
        vec![d]
    );
    if t.at_least(6, 14) {
        let list = t
            .get(
                t.admin(),
                &format!("/api/permissions?userId={}&deviceId={d}", u.id),
            )
            .await;
        list.expect(200);
        assert_eq!(
            rows_for(&list.json(), "userId", u.id),
            2,
            "duplicate rows: {}",
            list.text
        );
    }
    // One DELETE removes every duplicate.
    t.delete_json(
        t.admin(),
        "/api/permissions",
        json!({"userId": u.id, "deviceId": d}),
    )
    .await
    .expect(204);
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn delete_of_missing_link_is_a_204_no_op() {
    let t = target().await;
    let (d, _) = t.device(t.admin()).await;
    let u = t.user(json!({})).await;
    t.delete_json(
        t.admin(),
        "/api/permissions",
        json!({"userId": u.id, "deviceId": d}),
    )
    .await
    .expect(204);
    t.call(
        t.admin(),
        reqwest::Method::DELETE,
        "/api/permissions/bulk",
        Some(json!([{"userId": u.id, "deviceId": d}])),
    )
    .await
    .expect(204);
}

#[tokio::test]
async fn link_to_missing_object_is_400_foreign_key() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let r = t
        .link(t.admin(), json!({"userId": u.id, "deviceId": 999999999}))
        .await;
    r.expect(400);
    assert!(
        r.text
            .contains("Referential integrity constraint violation"),
        "{}",
        r.text
    );
    assert!(r.text.contains("FK_USER_DEVICE_DEVICEID"), "{}", r.text);
    let (d, _) = t.device(t.admin()).await;
    let r = t
        .link(t.admin(), json!({"userId": 999999999, "deviceId": d}))
        .await;
    r.expect(400);
    assert!(r.text.contains("FK_USER_DEVICE_USERID"), "{}", r.text);
}

/// 6.14: the constructor requires two keys; before, its second `iterator.next()` fails.
#[tokio::test]
async fn permission_with_one_key_is_400() {
    let t = target().await;
    let r = t.link(t.admin(), json!({"userId": t.admin.id})).await;
    if t.at_least(6, 14) {
        r.expect_error(
            400,
            "java.lang.IllegalArgumentException: Invalid permission",
        );
    } else {
        r.expect_error(400, "java.util.NoSuchElementException");
    }
}

/// 6.14: `Invalid permission`. Before, the third key reaches SQL: one value too many for the
/// INSERT, an unknown column for the DELETE.
#[tokio::test]
async fn permission_with_three_keys_is_400() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    let body = json!({"userId": u.id, "deviceId": d, "groupId": g});
    let added = t.link(t.admin(), body.clone()).await;
    let removed = t.delete_json(t.admin(), "/api/permissions", body).await;
    if t.at_least(6, 14) {
        added.expect_error(
            400,
            "java.lang.IllegalArgumentException: Invalid permission",
        );
        removed.expect_error(
            400,
            "java.lang.IllegalArgumentException: Invalid permission",
        );
    } else {
        added.expect_error(
            400,
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Column count does not match; SQL statement:",
        );
        assert!(
            added
                .text
                .contains("INSERT INTO tc_user_device VALUES (?, ?, ?)"),
            "{}",
            added.text
        );
        removed.expect_error(
            400,
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Column \"GROUPID\" not found; SQL statement:",
        );
    }
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn bulk_requires_the_same_key_set_before_any_write() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    let r = t
        .post(
            t.admin(),
            "/api/permissions/bulk",
            json!([{"userId": u.id, "deviceId": d}, {"userId": u.id, "groupId": g}]),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line().contains("WebApplicationException"),
        "{}",
        r.text
    );
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", u.id))
            .await
            .is_empty(),
        "nothing applied"
    );
    t.post(t.admin(), "/api/permissions/bulk", json!([]))
        .await
        .expect(204);
}

#[tokio::test]
async fn bulk_is_not_transactional() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (own, _) = t.device(Auth::Basic(&m)).await;
    let (foreign, _) = t.device(t.admin()).await;
    let r = t
        .post(
            Auth::Basic(&m),
            "/api/permissions/bulk",
            json!([{"userId": sub.id, "deviceId": own}, {"userId": sub.id, "deviceId": foreign}]),
        )
        .await;
    r.expect_error(400, "java.lang.SecurityException: Device access denied");
    assert_eq!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", sub.id))
            .await,
        vec![own],
        "the first item stayed applied"
    );
}

/// Object links (owner a device, property a geofence) follow the same bulk rules as users'
/// links: one key set, checked and applied item by item, the items before a refusal stay
/// applied (fleetform's object-link batches rely on it; observed for user→device items,
/// observed-api.md "manager bulk", and `PermissionsResource` runs one loop for every pair).
#[tokio::test]
async fn bulk_object_links_are_not_transactional() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (own, _) = t.device(Auth::Basic(&m)).await;
    let (own2, _) = t.device(Auth::Basic(&m)).await;
    let (foreign, _) = t.device(t.admin()).await;
    let zone = t.geofence(Auth::Basic(&m)).await;
    t.post(
        Auth::Basic(&m),
        "/api/permissions/bulk",
        json!([{"deviceId": own, "geofenceId": zone}, {"deviceId": own2, "geofenceId": zone}]),
    )
    .await
    .expect(204);
    let r = t
        .post(
            Auth::Basic(&m),
            "/api/permissions/bulk",
            json!([{"deviceId": own, "geofenceId": zone}, {"deviceId": foreign, "geofenceId": zone}]),
        )
        .await;
    r.expect_error(400, "java.lang.SecurityException: Device access denied");
    assert!(
        t.ids(
            t.admin(),
            &format!("/api/geofences?deviceId={foreign}&all=true")
        )
        .await
        .is_empty(),
        "the refused item was not applied"
    );
    // The first item was applied again: a second row of the pair, which one DELETE removes.
    t.call(
        Auth::Basic(&m),
        reqwest::Method::DELETE,
        "/api/permissions/bulk",
        Some(json!([{"deviceId": own, "geofenceId": zone}])),
    )
    .await
    .expect(204);
    assert!(
        t.ids(Auth::Basic(&m), &format!("/api/geofences?deviceId={own}"))
            .await
            .is_empty()
    );
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/geofences?deviceId={own2}"))
            .await,
        vec![zone]
    );
}

#[tokio::test]
async fn manager_links_visible_devices_to_managed_users_only() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (own, _) = t.device(Auth::Basic(&m)).await;
    t.link(Auth::Basic(&m), json!({"userId": sub.id, "deviceId": own}))
        .await
        .expect(204);
    let other = t.user(json!({})).await;
    t.link(
        Auth::Basic(&m),
        json!({"userId": other.id, "deviceId": own}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: User access denied");
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/devices?userId={}", sub.id))
            .await,
        vec![own]
    );
}

/// From 6.8.1. Before (5.12), every `managedUserId` link or unlink by a non-admin fails once
/// the owner check passed: `ManagedUser` has no table name for the access query.
#[tokio::test]
async fn managed_user_links_require_existing_management() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (_, a) = t.create_user(Auth::Basic(&m), json!({})).await;
    let (_, b) = t.create_user(Auth::Basic(&m), json!({})).await;
    let stranger = t.user(json!({})).await;
    if !t.at_least(6, 8) {
        let missing = "org.traccar.storage.StorageException: StorageName annotation is missing";
        for (owner, user) in [(a.id, stranger.id), (a.id, b.id)] {
            t.link(
                Auth::Basic(&m),
                json!({"userId": owner, "managedUserId": user}),
            )
            .await
            .expect_error(400, missing);
        }
        t.delete_json(
            Auth::Basic(&m),
            "/api/permissions",
            json!({"userId": m.id, "managedUserId": a.id}),
        )
        .await
        .expect_error(400, missing);
        // The owner is still checked first.
        t.link(
            Auth::Basic(&m),
            json!({"userId": stranger.id, "managedUserId": b.id}),
        )
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
        assert!(
            t.ids(t.admin(), &format!("/api/users?userId={}", a.id))
                .await
                .is_empty()
        );
        let mut managed = t.ids(Auth::Basic(&m), "/api/users").await;
        managed.sort();
        assert_eq!(managed, vec![a.id, b.id], "the unlink changed nothing");
        return;
    }
    t.link(
        Auth::Basic(&m),
        json!({"userId": a.id, "managedUserId": stranger.id}),
    )
    .await
    .expect_error(
        400,
        "java.lang.SecurityException: ManagedUser access denied",
    );
    t.link(
        Auth::Basic(&m),
        json!({"userId": a.id, "managedUserId": b.id}),
    )
    .await
    .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/users?userId={}", a.id))
            .await,
        vec![b.id]
    );
}

#[tokio::test]
async fn admin_links_managed_users_and_groups() {
    let t = target().await;
    let m = t.user(json!({})).await;
    let u = t.user(json!({})).await;
    let g = t.group(t.admin(), 0).await;
    t.link(t.admin(), json!({"userId": m.id, "managedUserId": u.id}))
        .await
        .expect(204);
    t.link(t.admin(), json!({"userId": u.id, "groupId": g}))
        .await
        .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/users?userId={}", m.id))
            .await,
        vec![u.id]
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/groups?userId={}", u.id))
            .await,
        vec![g]
    );
}

#[tokio::test]
async fn readonly_user_links_are_operation_restricted() {
    let t = target().await;
    let u = t.user(json!({"readonly": true})).await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect(204);
    t.link(Auth::Basic(&u), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect_error(400, "java.lang.SecurityException: Operation restricted");
}

#[tokio::test]
async fn plain_user_may_link_own_device_to_itself_but_not_others() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let (mine, _) = t.device(t.admin()).await;
    let (other, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": mine}))
        .await
        .expect(204);
    t.link(Auth::Basic(&u), json!({"userId": u.id, "deviceId": mine}))
        .await
        .expect(204);
    t.link(Auth::Basic(&u), json!({"userId": u.id, "deviceId": other}))
        .await
        .expect_error(400, "java.lang.SecurityException: Device access denied");
}

#[tokio::test]
async fn permissions_listing_is_admin_only_and_exists_from_6_14() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect(204);
    let r = t
        .get(
            t.admin(),
            &format!("/api/permissions?userId={}&deviceId=0", u.id),
        )
        .await;
    if !t.at_least(6, 14) {
        r.expect(405);
        return;
    }
    r.expect(200);
    assert_eq!(rows_for(&r.json(), "userId", u.id), 1, "{}", r.text);
    t.get(
        Auth::Basic(&u),
        &format!("/api/permissions?userId={}&deviceId=0", u.id),
    )
    .await
    .expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
}

#[tokio::test]
async fn delete_permissions_needs_a_json_body() {
    let t = target().await;
    let r = t
        .client
        .delete(t.url("/api/permissions"))
        .basic_auth(&t.admin.email, Some(&t.admin.password))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 415);
}

/// Observed on 6.9.1 (issue 9, item 5): a manager reads every link of a user it manages, also
/// to a device or group it cannot see itself, but cannot remove those links.
#[tokio::test]
async fn manager_reads_but_cannot_unlink_what_it_cannot_see() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (hidden, _) = t.device(t.admin()).await;
    let secret = t.group(t.admin(), 0).await;
    let child = t.group(t.admin(), secret).await;
    t.link(t.admin(), json!({"userId": sub.id, "deviceId": hidden}))
        .await
        .expect(204);
    t.link(t.admin(), json!({"userId": sub.id, "groupId": secret}))
        .await
        .expect(204);
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/devices?userId={}", sub.id))
            .await,
        vec![hidden]
    );
    // The child is listed through its parent, though it is not linked itself.
    let mut groups = t
        .ids(Auth::Basic(&m), &format!("/api/groups?userId={}", sub.id))
        .await;
    groups.sort();
    assert_eq!(groups, vec![secret, child]);
    t.delete_json(
        Auth::Basic(&m),
        "/api/permissions",
        json!({"userId": sub.id, "deviceId": hidden}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Device access denied");
    t.delete_json(
        Auth::Basic(&m),
        "/api/permissions",
        json!({"userId": sub.id, "groupId": secret}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Group access denied");
}

/// observed-objects.md §10 and Appendix B: linking an object twice is 204 twice and stores a
/// duplicate row (6.14's listing shows every copy; a saved command because `userId` and
/// `commandId` are among the pairs 6.14.0-6.14.5's listing can read, see API-NOTES §8.5),
/// lists show the object once, one DELETE removes every copy, and deleting a link that is
/// gone is 204 again.
#[tokio::test]
async fn object_links_twice_store_duplicates_and_one_delete_removes_all() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let command = t.command(t.admin()).await;
    let link = json!({"userId": u.id, "commandId": command});
    for _ in 0..3 {
        t.link(t.admin(), link.clone()).await.expect(204);
    }
    assert_eq!(
        t.ids(t.admin(), &format!("/api/commands?userId={}", u.id))
            .await,
        vec![command]
    );
    if t.at_least(6, 14) {
        let list = t
            .get(
                t.admin(),
                &format!("/api/permissions?userId={}&commandId=0", u.id),
            )
            .await;
        list.expect(200);
        assert_eq!(rows_for(&list.json(), "userId", u.id), 3, "{}", list.text);
    }
    for _ in 0..2 {
        t.delete_json(t.admin(), "/api/permissions", link.clone())
            .await
            .expect(204);
        assert!(
            t.ids(t.admin(), &format!("/api/commands?userId={}", u.id))
                .await
                .is_empty()
        );
    }
}

/// observed-objects.md §10: the first key is the owner; an object key first names a link
/// table that does not exist.
#[tokio::test]
async fn object_links_name_the_owner_first() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let fence = t.geofence(t.admin()).await;
    let notification = t.notification(t.admin(), json!({})).await;
    for (body, table) in [
        (
            format!("{{\"geofenceId\":{fence},\"userId\":{}}}", u.id),
            "TC_GEOFENCE_USER",
        ),
        (
            format!("{{\"notificationId\":{notification},\"geofenceId\":{fence}}}"),
            "TC_NOTIFICATION_GEOFENCE",
        ),
    ] {
        t.post_raw(t.admin(), "/api/permissions", "application/json", &body)
            .await
            .expect_error(400, &format!("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Table \"{table}\" not found; SQL statement:"));
    }
}

/// observed-objects.md §10: odd keys: a model class without links (`eventId`) names a missing
/// table, an unknown one (`bogusId`) has no class at all; a numeric string id is accepted, a
/// null one is a NullPointerException.
#[tokio::test]
async fn odd_permission_keys_fail_as_observed() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let fence = t.geofence(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "eventId": 1}))
        .await
        .expect_error(400, "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Table \"TC_USER_EVENT\" not found; SQL statement:");
    t.link(t.admin(), json!({"userId": u.id, "bogusId": 1}))
        .await
        .expect_error(400, "java.lang.NullPointerException: Cannot invoke \"java.lang.Class.getSimpleName()\" because \"propertyClass\" is null");
    t.link(t.admin(), json!({"userId": u.id, "geofenceId": null}))
        .await
        .expect_error(400, "java.lang.NullPointerException: Cannot invoke \"java.lang.Long.longValue()\" because the return value of \"java.util.Map$Entry.getValue()\" is null");
    t.link(
        t.admin(),
        json!({"userId": u.id, "geofenceId": fence.to_string()}),
    )
    .await
    .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/geofences?userId={}", u.id))
            .await,
        vec![fence]
    );
}

/// observed-objects.md §10: a link to a missing object is a foreign-key violation for an
/// administrator (owner or property side, named `FK_<OWNER>_<PROPERTY>_<COLUMN>`) and `<Class>
/// access denied` for anyone else.
#[tokio::test]
async fn object_links_to_missing_objects_fail_the_foreign_key_or_access() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let r = t
        .link(
            t.admin(),
            json!({"userId": u.id, "geofenceId": 999_999_999}),
        )
        .await;
    r.expect(400);
    assert!(r.first_line().contains("Referential integrity constraint violation: \"FK_USER_GEOFENCE_GEOFENCEID: PUBLIC.TC_USER_GEOFENCE FOREIGN KEY(GEOFENCEID) REFERENCES PUBLIC.TC_GEOFENCES(ID) (999999999)\""), "{}", r.text);
    let notification = t.notification(t.admin(), json!({})).await;
    let r = t
        .link(
            t.admin(),
            json!({"deviceId": 999_999_999, "notificationId": notification}),
        )
        .await;
    r.expect(400);
    assert!(r.first_line().contains("\"FK_DEVICE_NOTIFICATION_DEVICEID: PUBLIC.TC_DEVICE_NOTIFICATION FOREIGN KEY(DEVICEID) REFERENCES PUBLIC.TC_DEVICES(ID) (999999999)\""), "{}", r.text);
    t.link(
        Auth::Basic(&u),
        json!({"userId": u.id, "geofenceId": 999_999_999}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Geofence access denied");
}

/// observed-objects.md §10 and §11: a non-admin links only what it has on both sides: its own
/// objects to itself, its managed users, its devices and groups.
#[tokio::test]
async fn non_admin_object_links_need_access_to_both_sides() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (own_device, _) = t.device(Auth::Basic(&m)).await;
    let own_group = t.group(Auth::Basic(&m), 0).await;
    let fence = t.geofence(Auth::Basic(&m)).await;
    for body in [
        json!({"userId": sub.id, "geofenceId": fence}),
        json!({"deviceId": own_device, "geofenceId": fence}),
        json!({"groupId": own_group, "geofenceId": fence}),
    ] {
        t.link(Auth::Basic(&m), body).await.expect(204);
    }
    let foreign_fence = t.geofence(t.admin()).await;
    let (foreign_device, _) = t.device(t.admin()).await;
    let foreign_group = t.group(t.admin(), 0).await;
    let stranger = t.user(json!({})).await;
    for (body, denied) in [
        (
            json!({"userId": sub.id, "geofenceId": foreign_fence}),
            "Geofence",
        ),
        (
            json!({"userId": m.id, "geofenceId": foreign_fence}),
            "Geofence",
        ),
        (
            json!({"deviceId": foreign_device, "geofenceId": fence}),
            "Device",
        ),
        (
            json!({"groupId": foreign_group, "geofenceId": fence}),
            "Group",
        ),
        (json!({"userId": stranger.id, "geofenceId": fence}), "User"),
    ] {
        t.link(Auth::Basic(&m), body.clone()).await.expect_error(
            400,
            &format!("java.lang.SecurityException: {denied} access denied"),
        );
        t.delete_json(Auth::Basic(&m), "/api/permissions", body)
            .await
            .expect_error(
                400,
                &format!("java.lang.SecurityException: {denied} access denied"),
            );
    }
    // A plain user (deviceLimit 0) links its own geofence to a device it has.
    t.link(
        t.admin(),
        json!({"userId": sub.id, "deviceId": foreign_device}),
    )
    .await
    .expect(204);
    let subs = t.geofence(Auth::Basic(&sub)).await;
    t.link(
        Auth::Basic(&sub),
        json!({"deviceId": foreign_device, "geofenceId": subs}),
    )
    .await
    .expect(204);
    // Readonly callers may not link at all.
    let ro = t.user(json!({"readonly": true})).await;
    t.link(
        Auth::Basic(&ro),
        json!({"userId": ro.id, "geofenceId": fence}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Operation restricted");
}

/// API-NOTES §8.5, checked on real 6.14.4: the listing takes its two keys in Java HashMap
/// order, so of the object links it reads a user's saved commands but not a user's geofences,
/// notifications or calendars (the key pair comes out property first: `Table
/// "TC_GEOFENCE_USER" not found`), whichever order the query gives them in.
#[tokio::test]
async fn permissions_listing_reads_user_commands_but_not_user_geofences_on_6_14() {
    let t = target().await;
    if !t.at_least(6, 14) {
        return;
    }
    let u = t.user(json!({})).await;
    let command = t.command(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "commandId": command}))
        .await
        .expect(204);
    let list = t
        .get(
            t.admin(),
            &format!("/api/permissions?userId={}&commandId=0", u.id),
        )
        .await;
    list.expect(200);
    assert_eq!(rows_for(&list.json(), "userId", u.id), 1, "{}", list.text);
    for (query, table) in [
        (format!("userId={}&geofenceId=0", u.id), "TC_GEOFENCE_USER"),
        (format!("geofenceId=0&userId={}", u.id), "TC_GEOFENCE_USER"),
        (
            format!("userId={}&notificationId=0", u.id),
            "TC_NOTIFICATION_USER",
        ),
        (format!("userId={}&calendarId=0", u.id), "TC_CALENDAR_USER"),
    ] {
        t.get(t.admin(), &format!("/api/permissions?{query}"))
            .await
            .expect_error(400, &format!("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLSyntaxErrorException: Table \"{table}\" not found; SQL statement:"));
    }
}
