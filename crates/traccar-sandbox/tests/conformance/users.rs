//! Users: defaults, uniqueness, full-replace PUT, write-only passwords, role-scoped lists,
//! `checkUserUpdate`, manager rules and cascade deletes.

use serde_json::{Value, json};

use super::harness::*;

#[tokio::test]
async fn admin_created_user_defaults_device_limit_zero_and_is_not_linked() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let v = t.fetch(&format!("/api/users/{}", u.id)).await;
    assert_eq!(v["deviceLimit"], json!(0));
    assert_eq!(v["userLimit"], json!(0));
    assert_eq!(v["administrator"], json!(false));
    let managed = t
        .ids(t.admin(), &format!("/api/users?userId={}", t.admin.id))
        .await;
    assert!(
        !managed.contains(&u.id),
        "admin-created users are not linked to the admin"
    );
}

#[tokio::test]
async fn passwords_are_write_only() {
    let t = target().await;
    let (r, u) = t.create_user(t.admin(), json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["password"], Value::Null);
    let v = t.fetch(&format!("/api/users/{}", u.id)).await;
    assert_eq!(v["password"], Value::Null);
    assert!(v.get("hashedPassword").is_none() && v.get("salt").is_none());
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.first(), Some(&"id"));
    assert!(keys.contains(&"totpKey") && keys.contains(&"temporary"));
}

#[tokio::test]
async fn duplicate_email_is_400_storage_exception() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "dup", "email": u.email, "password": "x"}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .starts_with("org.traccar.storage.StorageException"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("Unique index or primary key violation"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn email_uniqueness_is_case_sensitive_as_on_h2() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "upper", "email": u.email.to_uppercase(), "password": "x"}),
        )
        .await;
    r.expect(200);
}

#[tokio::test]
async fn user_without_name_or_email_is_400_not_null() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/users",
            json!({"name": "noemail", "password": "p"}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line()
            .contains("NULL not allowed for column \"EMAIL\""),
        "{}",
        r.text
    );
    let r = t.post(t.admin(), "/api/users", json!({})).await;
    r.expect(400);
    assert!(
        r.first_line()
            .contains("NULL not allowed for column \"NAME\""),
        "{}",
        r.text
    );
    let r = t
        .post(t.admin(), "/api/users", json!({"name": "n", "email": null}))
        .await;
    r.expect(400);
    // The setter's NPE; its wording depends on the JVM's helpful-NPE parameter names.
    assert!(r.text.contains("is null"), "setter NPE: {}", r.text);
}

#[tokio::test]
async fn failed_inserts_consume_ids() {
    let t = target().await;
    let a = t.user(json!({})).await;
    t.post(
        t.admin(),
        "/api/users",
        json!({"name": "dup", "email": a.email, "password": "x"}),
    )
    .await
    .expect(400);
    let b = t.user(json!({})).await;
    assert!(
        b.id >= a.id + 2,
        "a failed insert consumed an id: {} then {}",
        a.id,
        b.id
    );
}

#[tokio::test]
async fn put_replaces_whole_object_omitted_fields_reset() {
    let t = target().await;
    let u = t
        .user(json!({"phone": "+100", "deviceLimit": 5, "readonly": true, "attributes": {"a": 1}}))
        .await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/users/{}", u.id),
            json!({"id": u.id, "name": "renamed", "email": u.email}),
        )
        .await;
    r.expect(200);
    let v = t.fetch(&format!("/api/users/{}", u.id)).await;
    assert_eq!(v["name"], json!("renamed"));
    assert_eq!(v["phone"], Value::Null);
    assert_eq!(v["deviceLimit"], json!(0));
    assert_eq!(v["readonly"], json!(false));
    assert_eq!(v["attributes"], json!({}));
}

#[tokio::test]
async fn put_uses_body_id_and_ignores_path_id() {
    let t = target().await;
    let a = t.user(json!({})).await;
    let b = t.user(json!({})).await;
    let mut body = t.fetch(&format!("/api/users/{}", a.id)).await;
    body["name"] = json!("changed-through-other-path");
    t.put(t.admin(), &format!("/api/users/{}", b.id), body)
        .await
        .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/users/{}", a.id)).await["name"],
        json!("changed-through-other-path")
    );
    assert_ne!(
        t.fetch(&format!("/api/users/{}", b.id)).await["name"],
        json!("changed-through-other-path")
    );
}

#[tokio::test]
async fn put_without_password_keeps_it_and_with_password_changes_it() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let body = t.fetch(&format!("/api/users/{}", u.id)).await;
    t.put(t.admin(), &format!("/api/users/{}", u.id), body.clone())
        .await
        .expect(200);
    t.get(Auth::Basic(&u), "/api/devices").await.expect(200);
    let mut with_password = body;
    with_password["password"] = json!("new-secret");
    t.put(t.admin(), &format!("/api/users/{}", u.id), with_password)
        .await
        .expect(200);
    t.get(Auth::Basic(&u), "/api/devices")
        .await
        .expect(t.bad_credentials());
    t.get(Auth::Raw(&u.email, "new-secret"), "/api/devices")
        .await
        .expect(200);
}

#[tokio::test]
async fn put_replaces_attributes_wholesale_and_echoes_the_body() {
    let t = target().await;
    let u = t
        .user(json!({"attributes": {"keep": "no", "notificationTokens": "abc"}}))
        .await;
    let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
    body["attributes"] = json!({"only": "this"});
    body["phone"] = json!("+1 555");
    let r = t
        .put(t.admin(), &format!("/api/users/{}", u.id), body.clone())
        .await;
    r.expect(200);
    assert_eq!(r.json()["attributes"], json!({"only": "this"}));
    assert_eq!(r.json()["phone"], json!("+1 555"));
    assert_eq!(
        t.fetch(&format!("/api/users/{}", u.id)).await["attributes"],
        json!({"only": "this"})
    );
}

#[tokio::test]
async fn put_of_missing_user_is_400_for_admin() {
    let t = target().await;
    let r = t
        .put(
            t.admin(),
            "/api/users/999999999",
            json!({"id": 999999999, "name": "x", "email": format!("conf-{}@x", suffix())}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line().starts_with("java.lang.NullPointerException"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn get_missing_user_is_404_html_for_admin_and_400_for_others() {
    let t = target().await;
    let r = t.get(t.admin(), "/api/users/999999999").await;
    r.expect(404);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    if t.at_least(6, 0) {
        assert!(r.text.contains("HTTP ERROR 404"), "{}", r.text);
    } else {
        // Traccar 5.12's own error page.
        assert!(
            r.text.contains("<body>404 - Not Found</body>"),
            "{}",
            r.text
        );
    }
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("must-revalidate,no-cache,no-store")
    );
    let u = t.user(json!({})).await;
    t.get(Auth::Basic(&u), "/api/users/999999999")
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
}

#[tokio::test]
async fn delete_of_missing_user_is_204_for_admin() {
    let t = target().await;
    t.delete(t.admin(), "/api/users/999999999")
        .await
        .expect(204);
}

#[tokio::test]
async fn delete_user_cascades_links_but_keeps_devices() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (device, _) = t.device(Auth::Basic(&m)).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    t.link(
        Auth::Basic(&m),
        json!({"userId": sub.id, "deviceId": device}),
    )
    .await
    .expect(204);
    t.delete(t.admin(), &format!("/api/users/{}", m.id))
        .await
        .expect(204);
    // The device survives, orphaned from the deleted manager; the managed link is gone.
    t.fetch(&format!("/api/devices/{device}")).await;
    assert!(
        t.ids(t.admin(), &format!("/api/devices?userId={}", sub.id))
            .await
            .contains(&device)
    );
    t.get(Auth::Basic(&m), "/api/devices")
        .await
        .expect(t.bad_credentials());
}

#[tokio::test]
async fn users_list_depends_on_role() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let plain = t.user(json!({})).await;
    let all = t.ids(t.admin(), "/api/users").await;
    assert!(
        all.contains(&m.id)
            && all.contains(&sub.id)
            && all.contains(&plain.id)
            && all.contains(&t.admin.id)
    );
    assert_eq!(
        t.ids(Auth::Basic(&m), "/api/users").await,
        vec![sub.id],
        "a manager sees its managed users, not itself"
    );
    assert_eq!(
        t.ids(Auth::Basic(&plain), "/api/users").await,
        Vec::<i64>::new()
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/users?userId={}", m.id))
            .await,
        vec![sub.id]
    );
    t.get(Auth::Basic(&plain), &format!("/api/users?userId={}", m.id))
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
}

#[tokio::test]
async fn user_can_read_itself_but_not_others() {
    let t = target().await;
    let a = t.user(json!({})).await;
    let b = t.user(json!({})).await;
    t.get(Auth::Basic(&a), &format!("/api/users/{}", a.id))
        .await
        .expect(200);
    t.get(Auth::Basic(&a), &format!("/api/users/{}", b.id))
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
}

#[tokio::test]
async fn users_are_sorted_by_name_from_6_6() {
    let t = target().await;
    if !t.at_least(6, 6) {
        return;
    }
    let sfx = suffix();
    let b = t.user(json!({"name": format!("conf-sort-{sfx}-b")})).await;
    let a = t.user(json!({"name": format!("conf-sort-{sfx}-a")})).await;
    let ids = t.ids(t.admin(), "/api/users").await;
    let pos = |id| ids.iter().position(|x| *x == id).expect("listed");
    assert!(pos(a.id) < pos(b.id));
}

#[tokio::test]
async fn users_by_device_id_lists_direct_links_from_6_3() {
    let t = target().await;
    if !t.at_least(6, 3) {
        return;
    }
    let (device, _) = t.device(t.admin()).await;
    let u = t.user(json!({})).await;
    t.link(t.admin(), json!({"userId": u.id, "deviceId": device}))
        .await
        .expect(204);
    let ids = t
        .ids(t.admin(), &format!("/api/users?deviceId={device}"))
        .await;
    assert!(ids.contains(&u.id) && ids.contains(&t.admin.id));
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn manager_cannot_create_admin_or_set_limits() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (r, _) = t
        .create_user(Auth::Basic(&m), json!({"administrator": true}))
        .await;
    r.expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    let (r, _) = t
        .create_user(Auth::Basic(&m), json!({"deviceLimit": 3}))
        .await;
    r.expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    let (r, _) = t
        .create_user(Auth::Basic(&m), json!({"userLimit": -1}))
        .await;
    r.expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
}

#[tokio::test]
async fn manager_created_users_get_limits_zero_and_are_linked() {
    let t = target().await;
    let m = t.manager(5, 5).await;
    let (r, sub) = t
        .create_user(Auth::Basic(&m), json!({"readonly": true}))
        .await;
    r.expect(200);
    assert_eq!(r.json()["deviceLimit"], json!(0));
    assert_eq!(r.json()["userLimit"], json!(0));
    assert_eq!(
        r.json()["readonly"],
        json!(true),
        "managers may set restriction flags"
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/users?userId={}", m.id))
            .await,
        vec![sub.id]
    );
}

#[tokio::test]
async fn manager_user_limit_is_enforced() {
    let t = target().await;
    let m = t.manager(1, 0).await;
    t.create_user(Auth::Basic(&m), json!({}))
        .await
        .0
        .expect(200);
    let (r, _) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect_error(
        400,
        "java.lang.SecurityException: Manager user limit reached",
    );
}

#[tokio::test]
async fn ordinary_user_cannot_create_users_when_registration_is_off() {
    let t = target().await;
    if t.fetch("/api/server").await["registration"] == json!(true) {
        return;
    }
    let u = t.user(json!({})).await;
    let (r, _) = t.create_user(Auth::Basic(&u), json!({})).await;
    r.expect_error(400, "java.lang.SecurityException: Registration disabled");
    let (r, _) = t
        .create_user(Auth::Basic(&u), json!({"readonly": true}))
        .await;
    r.expect_error(400, "java.lang.SecurityException: Manager access required");
}

#[tokio::test]
async fn user_cannot_lift_own_restrictions_or_limits() {
    let t = target().await;
    let u = t.user(json!({"limitCommands": true})).await;
    let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
    body["limitCommands"] = json!(false);
    t.put(
        Auth::Basic(&u),
        &format!("/api/users/{}", u.id),
        body.clone(),
    )
    .await
    .expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    body["limitCommands"] = json!(true);
    body["deviceLimit"] = json!(10);
    t.put(
        Auth::Basic(&u),
        &format!("/api/users/{}", u.id),
        body.clone(),
    )
    .await
    .expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    body["deviceLimit"] = json!(0);
    body["name"] = json!("self-renamed");
    t.put(Auth::Basic(&u), &format!("/api/users/{}", u.id), body)
        .await
        .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/users/{}", u.id)).await["name"],
        json!("self-renamed")
    );
}

#[tokio::test]
async fn manager_may_restrict_managed_user_but_not_others() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let mut body = t.fetch(&format!("/api/users/{}", sub.id)).await;
    body["disabled"] = json!(true);
    t.put(Auth::Basic(&m), &format!("/api/users/{}", sub.id), body)
        .await
        .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/users/{}", sub.id)).await["disabled"],
        json!(true)
    );
    let other = t.user(json!({})).await;
    let mut body = t.fetch(&format!("/api/users/{}", other.id)).await;
    body["disabled"] = json!(true);
    t.put(Auth::Basic(&m), &format!("/api/users/{}", other.id), body)
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
}

#[tokio::test]
async fn readonly_user_cannot_edit_itself_except_notification_attributes() {
    let t = target().await;
    let u = t.user(json!({"readonly": true})).await;
    let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
    body["name"] = json!("nope");
    t.put(
        Auth::Basic(&u),
        &format!("/api/users/{}", u.id),
        body.clone(),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Write access denied");
    if t.at_least(6, 3) {
        let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
        body["attributes"] = json!({"notificationTokens": "tok"});
        t.put(Auth::Basic(&u), &format!("/api/users/{}", u.id), body)
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn fixed_email_blocks_non_admin_email_change() {
    let t = target().await;
    let u = t.user(json!({"fixedEmail": true})).await;
    let mut body = t.fetch(&format!("/api/users/{}", u.id)).await;
    body["email"] = json!(format!("conf-changed-{}@example.com", suffix()));
    t.put(
        Auth::Basic(&u),
        &format!("/api/users/{}", u.id),
        body.clone(),
    )
    .await
    .expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    t.put(t.admin(), &format!("/api/users/{}", u.id), body)
        .await
        .expect(200);
}

#[tokio::test]
async fn expiring_manager_cannot_grant_a_later_expiration() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let mut body = t.fetch(&format!("/api/users/{}", m.id)).await;
    body["expirationTime"] = json!("2099-01-01T00:00:00.000+00:00");
    t.put(t.admin(), &format!("/api/users/{}", m.id), body)
        .await
        .expect(200);
    let (r, _) = t
        .create_user(
            Auth::Basic(&m),
            json!({"expirationTime": "2099-06-01T00:00:00.000+00:00"}),
        )
        .await;
    r.expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    let (r, _) = t
        .create_user(
            Auth::Basic(&m),
            json!({"expirationTime": "2098-06-01T00:00:00.000+00:00"}),
        )
        .await;
    r.expect(200);
    // before is blank on POST: a null expiration equals null, so it is allowed (v5.5+).
    let (r, _) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
}

#[tokio::test]
async fn manager_deletes_managed_user_but_not_others() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    t.delete(Auth::Basic(&m), &format!("/api/users/{}", t.admin.id))
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
    t.delete(Auth::Basic(&m), "/api/users/999999999")
        .await
        .expect_error(400, "java.lang.SecurityException: User access denied");
    t.delete(Auth::Basic(&m), &format!("/api/users/{}", sub.id))
        .await
        .expect(204);
}

/// Observed on 6.9.1 (issue 9, item 3): on update, an expiring manager may move a managed
/// user's expiration up to its own, not past it and not to "never" (null).
#[tokio::test]
async fn expiring_manager_cannot_set_a_later_or_no_expiration_on_update() {
    let t = target().await;
    let m = t.manager(5, 0).await;
    let mut body = t.fetch(&format!("/api/users/{}", m.id)).await;
    body["expirationTime"] = json!("2099-01-01T00:00:00.000+00:00");
    t.put(t.admin(), &format!("/api/users/{}", m.id), body)
        .await
        .expect(200);
    let (r, sub) = t
        .create_user(
            Auth::Basic(&m),
            json!({"expirationTime": "2098-01-01T00:00:00.000+00:00"}),
        )
        .await;
    r.expect(200);
    let path = format!("/api/users/{}", sub.id);
    for (value, ok) in [
        (json!(null), false),
        (json!("2099-06-01T00:00:00.000+00:00"), false),
        (json!("2099-01-01T00:00:00.000+00:00"), true),
    ] {
        let mut body = t.fetch(&path).await;
        body["expirationTime"] = value.clone();
        let r = t.put(Auth::Basic(&m), &path, body).await;
        if ok {
            r.expect(200);
        } else {
            r.expect_error(
                400,
                "java.lang.SecurityException: Administrator access required",
            );
        }
    }
}
