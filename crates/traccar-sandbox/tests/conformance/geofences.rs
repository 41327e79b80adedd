//! Geofences (observed-objects.md §2), and through them the conventions every object kind
//! shares (§1): create answers, the creator link, NOT NULL columns, unvalidated content, 404 vs
//! access denied, the full-replace PUT keyed by the body's id, deletes, and list visibility
//! (direct links only, `all`, `userId`, `deviceId`, `groupId`, ordering).

use serde_json::{Value, json};

use super::harness::*;

const AREA: &str = "CIRCLE (48.85 2.35, 500)";

/// §1.2: 200 with the full object (defaults filled in); an `id` in the body is ignored.
#[tokio::test]
async fn create_answers_200_with_the_full_object_and_ignores_a_body_id() {
    let t = target().await;
    let name = format!("conf-gf-{}", suffix());
    let r = t
        .post(
            t.admin(),
            "/api/geofences",
            json!({"id": 999_999_999, "name": name, "area": AREA}),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_ne!(v["id"], json!(999_999_999));
    assert_eq!(
        v,
        json!({"id": v["id"], "attributes": {}, "calendarId": 0, "name": name, "description": null, "area": AREA})
    );
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "attributes",
            "calendarId",
            "name",
            "description",
            "area"
        ]
    );
}

/// §1.2 and §11: the creator is linked automatically, whatever its role, even a plain user with
/// `deviceLimit` 0; no other link is made.
#[tokio::test]
async fn the_creator_is_linked_automatically_for_every_role() {
    let t = target().await;
    let mine = t.geofence(t.admin()).await;
    assert!(
        t.ids(t.admin(), &format!("/api/geofences?userId={}", t.admin.id))
            .await
            .contains(&mine)
    );
    let plain = t.user(json!({})).await;
    let theirs = t.geofence(Auth::Basic(&plain)).await;
    assert_eq!(
        t.ids(Auth::Basic(&plain), "/api/geofences").await,
        vec![theirs]
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/geofences?userId={}", plain.id))
            .await,
        vec![theirs]
    );
}

/// §1.2 and §2: the required fields are the NOT NULL columns, checked in table order (name
/// before area); the error is H2's, wrapped in a StorageException.
#[tokio::test]
async fn required_fields_are_the_not_null_columns() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    t.post(t.admin(), "/api/geofences", json!({"name": "noarea"}))
        .await
        .expect_error(400, &not_null("AREA"));
    t.post(t.admin(), "/api/geofences", json!({"area": AREA}))
        .await
        .expect_error(400, &not_null("NAME"));
    let r = t.post(t.admin(), "/api/geofences", json!({})).await;
    r.expect_error(400, &not_null("NAME"));
    assert!(
        r.text.contains("INSERT INTO tc_geofences("),
        "the statement follows: {}",
        r.text
    );
}

/// §2: from 6.9.0 `area` is stored as given, never parsed by the API. Before, the model's
/// setter parsed it (real 5.12: a Jackson 400 text/plain naming the problem).
#[tokio::test]
async fn area_is_not_validated_from_6_9() {
    let t = target().await;
    for (area, legacy_error) in [
        ("garbage", "Unknown geometry type"),
        ("CIRCLE (abc)", "Not valid content"),
        ("CIRCLE (1 1, x)", " x is not a double"),
        ("POLYGON (1 1, 2 2)", "begin 1, end -1, length 18"),
    ] {
        let r = t
            .post(
                t.admin(),
                "/api/geofences",
                json!({"name": format!("conf-gf-{}", suffix()), "area": area}),
            )
            .await;
        if t.at_least(6, 9) {
            r.expect(200);
            assert_eq!(r.json()["area"], json!(area));
        } else {
            r.expect_error(400, legacy_error);
            assert!(
                r.text
                    .contains("(through reference chain: org.traccar.model.Geofence[\"area\"])"),
                "{}",
                r.text
            );
        }
    }
    for area in [
        "CIRCLE (48.2082 16.3738, 200)",
        "POLYGON ((48.0 2.0, 48.1 2.0, 48.1 2.1, 48.0 2.0))",
        "LINESTRING (48.0 2.0, 48.1 2.1)",
    ] {
        t.post(
            t.admin(),
            "/api/geofences",
            json!({"name": format!("conf-gf-{}", suffix()), "area": area}),
        )
        .await
        .expect(200);
    }
}

/// §1.2: an unknown field is Jackson's 400 text/plain naming the known properties.
#[tokio::test]
async fn unknown_field_is_400_text_plain_listing_the_known_properties() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/geofences",
            json!({"name": "u", "area": AREA, "bogus": 1}),
        )
        .await;
    r.expect_error(
        400,
        &t.unrecognized(
            "Geofence",
            "bogus",
            &[
                "attributes",
                "calendarId",
                "id",
                "description",
                "area",
                "name",
            ],
        ),
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
}

/// §1.2 and §2: `calendarId` is a foreign key (0 means none).
#[tokio::test]
async fn a_missing_calendar_is_a_foreign_key_violation() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/geofences",
            json!({"name": "c", "area": AREA, "calendarId": 999_999_999}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line().starts_with("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: Referential integrity constraint violation: \"FK_GEOFENCE_CALENDAR_CALENDARID: PUBLIC.TC_GEOFENCES FOREIGN KEY(CALENDARID) REFERENCES PUBLIC.TC_CALENDARS(ID) (999999999)\""),
        "{}",
        r.text
    );
    let calendar = t.calendar(t.admin()).await;
    let r = t
        .post(
            t.admin(),
            "/api/geofences",
            json!({"name": "c", "area": AREA, "calendarId": calendar}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["calendarId"], json!(calendar));
}

/// §1.3: an administrator gets Jetty's 404 page for a missing id; anyone else gets `Geofence
/// access denied`, for a missing id and for one not linked to it alike.
#[tokio::test]
async fn get_of_a_missing_id_is_404_for_admins_and_access_denied_for_others() {
    let t = target().await;
    let r = t.get(t.admin(), "/api/geofences/999999999").await;
    r.expect(404);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html;charset=iso-8859-1")
    );
    let u = t.user(json!({})).await;
    let foreign = t.geofence(t.admin()).await;
    for id in [999_999_999, foreign] {
        t.get(Auth::Basic(&u), &format!("/api/geofences/{id}"))
            .await
            .expect_error(400, "java.lang.SecurityException: Geofence access denied");
    }
}

/// §1.4: PUT writes every column from the body; what it leaves out becomes null, 0 or `{}`.
#[tokio::test]
async fn put_replaces_the_whole_object() {
    let t = target().await;
    let calendar = t.calendar(t.admin()).await;
    let name = format!("conf-gf-{}", suffix());
    let id = t
        .object(
            t.admin(),
            "/api/geofences",
            json!({"name": name, "area": AREA, "description": "office", "calendarId": calendar, "attributes": {"color": "#ff0000"}}),
        )
        .await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/geofences/{id}"),
            json!({"id": id, "name": name, "area": AREA}),
        )
        .await;
    r.expect(200);
    let expected = json!({"id": id, "attributes": {}, "calendarId": 0, "name": name, "description": null, "area": AREA});
    assert_eq!(r.json(), expected);
    assert_eq!(t.fetch(&format!("/api/geofences/{id}")).await, expected);
}

/// §1.4: the path id is ignored, the body's id decides; a missing body id (admin) is 200 and
/// stores nothing; a body without id is 200 echoing id 0 and changes nothing.
#[tokio::test]
async fn put_updates_the_object_the_body_id_names_not_the_path() {
    let t = target().await;
    let first = t.geofence(t.admin()).await;
    let second = t.geofence(t.admin()).await;
    let before_second = t.fetch(&format!("/api/geofences/{second}")).await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/geofences/{second}"),
            json!({"id": first, "name": "edited via the wrong path", "area": AREA}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        t.fetch(&format!("/api/geofences/{first}")).await["name"],
        json!("edited via the wrong path")
    );
    assert_eq!(
        t.fetch(&format!("/api/geofences/{second}")).await,
        before_second
    );
    let r = t
        .put(
            t.admin(),
            "/api/geofences/999999999",
            json!({"id": 999_999_999, "name": "missing", "area": AREA}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["name"], json!("missing"));
    t.get(t.admin(), "/api/geofences/999999999")
        .await
        .expect(404);
    let r = t
        .put(
            t.admin(),
            &format!("/api/geofences/{first}"),
            json!({"name": "no id in body", "area": AREA}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["id"], json!(0));
    assert_eq!(
        t.fetch(&format!("/api/geofences/{first}")).await["name"],
        json!("edited via the wrong path")
    );
}

/// §1.4 (probed on 6.9.1): a non-admin's access check uses the body's id too: its own object
/// through a foreign path works, a foreign object through its own path does not.
#[tokio::test]
async fn a_non_admin_put_is_checked_against_the_body_id() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let own = t.geofence(Auth::Basic(&u)).await;
    let foreign = t.geofence(t.admin()).await;
    t.put(
        Auth::Basic(&u),
        &format!("/api/geofences/{own}"),
        json!({"id": foreign, "name": "hijack", "area": AREA}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Geofence access denied");
    t.put(
        Auth::Basic(&u),
        &format!("/api/geofences/{foreign}"),
        json!({"id": own, "name": "via a foreign path", "area": AREA}),
    )
    .await
    .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/geofences/{own}")).await["name"],
        json!("via a foreign path")
    );
}

/// §1.5: DELETE answers 204 without a body, also for a missing id (admin); a non-admin gets
/// `Geofence access denied` for an object not linked to it and for a missing id.
#[tokio::test]
async fn delete_is_204_for_admins_even_when_missing_and_access_denied_for_others() {
    let t = target().await;
    let id = t.geofence(t.admin()).await;
    let r = t.delete(t.admin(), &format!("/api/geofences/{id}")).await;
    r.expect(204);
    assert!(r.text.is_empty());
    t.get(t.admin(), &format!("/api/geofences/{id}"))
        .await
        .expect(404);
    t.delete(t.admin(), "/api/geofences/999999999")
        .await
        .expect(204);
    let u = t.user(json!({})).await;
    let foreign = t.geofence(t.admin()).await;
    for id in [foreign, 999_999_999] {
        t.delete(Auth::Basic(&u), &format!("/api/geofences/{id}"))
            .await
            .expect_error(400, "java.lang.SecurityException: Geofence access denied");
    }
}

/// §1.5: there is no owner: any non-readonly user linked to an object may edit and delete it.
#[tokio::test]
async fn any_linked_user_may_edit_and_delete_there_is_no_owner() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let fence = t.geofence(Auth::Basic(&m)).await;
    t.link(
        Auth::Basic(&m),
        json!({"userId": sub.id, "geofenceId": fence}),
    )
    .await
    .expect(204);
    t.put(
        Auth::Basic(&sub),
        &format!("/api/geofences/{fence}"),
        json!({"id": fence, "name": "sub edits manager fence", "area": AREA}),
    )
    .await
    .expect(200);
    assert_eq!(
        t.fetch(&format!("/api/geofences/{fence}")).await["name"],
        json!("sub edits manager fence")
    );
    t.delete(Auth::Basic(&sub), &format!("/api/geofences/{fence}"))
        .await
        .expect(204);
    assert!(t.ids(Auth::Basic(&m), "/api/geofences").await.is_empty());
}

/// §1.6: without parameters a list shows only the objects linked directly to the caller, and
/// that holds for administrators; `all=true` lists every object for an administrator and
/// means nothing more for anyone else.
#[tokio::test]
async fn lists_show_only_objects_linked_directly_to_the_caller_admins_included() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let theirs = t.geofence(Auth::Basic(&u)).await;
    let mine = t.geofence(t.admin()).await;
    let plain = t.ids(t.admin(), "/api/geofences").await;
    assert!(plain.contains(&mine) && !plain.contains(&theirs));
    let all = t.ids(t.admin(), "/api/geofences?all=true").await;
    assert!(all.contains(&mine) && all.contains(&theirs));
    assert_eq!(t.ids(Auth::Basic(&u), "/api/geofences").await, vec![theirs]);
    assert_eq!(
        t.ids(Auth::Basic(&u), "/api/geofences?all=true").await,
        vec![theirs]
    );
    t.get(Auth::Basic(&u), &format!("/api/geofences/{mine}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Geofence access denied");
}

/// §1.6: a user's own list does not inherit through its groups or devices.
#[tokio::test]
async fn lists_do_not_inherit_through_groups_or_devices() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let g = t.group(t.admin(), 0).await;
    let (d, _) = t.device(t.admin()).await;
    for body in [
        json!({"userId": u.id, "groupId": g}),
        json!({"userId": u.id, "deviceId": d}),
    ] {
        t.link(t.admin(), body).await.expect(204);
    }
    let via_group = t.geofence(t.admin()).await;
    let via_device = t.geofence(t.admin()).await;
    t.link(t.admin(), json!({"groupId": g, "geofenceId": via_group}))
        .await
        .expect(204);
    t.link(t.admin(), json!({"deviceId": d, "geofenceId": via_device}))
        .await
        .expect(204);
    assert!(t.ids(Auth::Basic(&u), "/api/geofences").await.is_empty());
    assert!(
        t.ids(Auth::Basic(&u), &format!("/api/geofences?deviceId={d}"))
            .await
            .is_empty()
    );
    assert!(
        t.ids(Auth::Basic(&u), &format!("/api/geofences?groupId={g}"))
            .await
            .is_empty()
    );
    t.get(Auth::Basic(&u), &format!("/api/geofences/{via_device}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Geofence access denied");
}

/// §1.6: `userId` lists what is linked directly to that user: any user for an administrator
/// (a missing one gives `[]`), a managed user for a manager, nobody else (`User access
/// denied`).
#[tokio::test]
async fn user_id_filter_lists_that_users_links_and_needs_access_to_the_user() {
    let t = target().await;
    assert_eq!(
        t.ids(t.admin(), "/api/geofences?userId=999999999").await,
        Vec::<i64>::new()
    );
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let subs = t.geofence(Auth::Basic(&sub)).await;
    assert_eq!(
        t.ids(
            Auth::Basic(&m),
            &format!("/api/geofences?userId={}", sub.id)
        )
        .await,
        vec![subs]
    );
    let stranger = t.user(json!({})).await;
    t.get(
        Auth::Basic(&m),
        &format!("/api/geofences?userId={}", stranger.id),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: User access denied");
}

/// §1.6: a manager does not see the objects its managed users created, not even with
/// `all=true`, and cannot read one by id, though `?userId=` lists them.
#[tokio::test]
async fn managers_do_not_see_objects_their_managed_users_created() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let subs = t.geofence(Auth::Basic(&sub)).await;
    assert!(
        !t.ids(Auth::Basic(&m), "/api/geofences")
            .await
            .contains(&subs)
    );
    assert!(
        !t.ids(Auth::Basic(&m), "/api/geofences?all=true")
            .await
            .contains(&subs)
    );
    t.get(Auth::Basic(&m), &format!("/api/geofences/{subs}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Geofence access denied");
    t.delete(Auth::Basic(&m), &format!("/api/geofences/{subs}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Geofence access denied");
}

/// §1.6: `deviceId`/`groupId` list what is linked directly to that device or group, ANDed
/// with the user filter: the caller itself (administrators included) unless `all=true` or
/// `userId` says otherwise. A device does not inherit from its group.
#[tokio::test]
async fn device_and_group_filters_are_anded_with_the_caller() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let g = t.group(Auth::Basic(&m), 0).await;
    let r = t
        .create_device(Auth::Basic(&m), json!({"groupId": g}))
        .await;
    r.expect(200);
    let d = r.id();
    let fence = t.geofence(Auth::Basic(&m)).await;
    for body in [
        json!({"deviceId": d, "geofenceId": fence}),
        json!({"groupId": g, "geofenceId": fence}),
    ] {
        t.link(Auth::Basic(&m), body).await.expect(204);
    }
    let grouped = t.geofence(Auth::Basic(&m)).await;
    t.link(
        Auth::Basic(&m),
        json!({"groupId": g, "geofenceId": grouped}),
    )
    .await
    .expect(204);
    // The administrator's own links do not include the manager's fence.
    assert!(
        t.ids(t.admin(), &format!("/api/geofences?deviceId={d}"))
            .await
            .is_empty()
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/geofences?all=true&deviceId={d}"))
            .await,
        vec![fence]
    );
    assert_eq!(
        t.ids(
            t.admin(),
            &format!("/api/geofences?userId={}&deviceId={d}", m.id)
        )
        .await,
        vec![fence]
    );
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("/api/geofences?deviceId={d}"))
            .await,
        vec![fence],
        "the device does not inherit its group's geofence"
    );
    let mut by_group = t
        .ids(Auth::Basic(&m), &format!("/api/geofences?groupId={g}"))
        .await;
    by_group.sort();
    assert_eq!(by_group, vec![fence, grouped]);
    assert_eq!(
        t.ids(t.admin(), "/api/geofences?deviceId=999999999").await,
        Vec::<i64>::new()
    );
}

/// §1.6: a non-admin filtering by a device or group needs access to it.
#[tokio::test]
async fn device_and_group_filters_need_access_to_the_device_or_group() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    t.get(Auth::Basic(&u), &format!("/api/geofences?deviceId={d}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Device access denied");
    t.get(Auth::Basic(&u), &format!("/api/geofences?groupId={g}"))
        .await
        .expect_error(400, "java.lang.SecurityException: Group access denied");
}

/// §1.6: lists are ordered by name, case-sensitively (upper case first), from 6.6; before, in
/// insertion order.
#[tokio::test]
async fn lists_are_sorted_by_name_case_sensitively() {
    let t = target().await;
    let u = t.user(json!({})).await;
    for name in ["zeta circle", "Alpha polygon", "beta road"] {
        t.object(
            Auth::Basic(&u),
            "/api/geofences",
            json!({"name": name, "area": AREA}),
        )
        .await;
    }
    let names = t.column(Auth::Basic(&u), "/api/geofences", "name").await;
    let expected = if t.at_least(6, 6) {
        ["Alpha polygon", "beta road", "zeta circle"]
    } else {
        ["zeta circle", "Alpha polygon", "beta road"]
    };
    assert_eq!(names, expected.map(Value::from));
}

/// §2 and §11: a non-admin must have the calendar it references (`Calendar access denied`).
#[tokio::test]
async fn a_non_admin_needs_the_calendar_it_references() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let foreign = t.calendar(t.admin()).await;
    t.post(
        Auth::Basic(&m),
        "/api/geofences",
        json!({"name": "cal of admin", "area": AREA, "calendarId": foreign}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Calendar access denied");
    let own = t.calendar(Auth::Basic(&m)).await;
    t.post(
        Auth::Basic(&m),
        "/api/geofences",
        json!({"name": "own cal", "area": AREA, "calendarId": own}),
    )
    .await
    .expect(200);
}

/// §11: a readonly user may read what is linked to it but not create, edit or delete.
#[tokio::test]
async fn readonly_users_read_but_cannot_write() {
    let t = target().await;
    let ro = t.user(json!({"readonly": true})).await;
    let fence = t.geofence(t.admin()).await;
    t.link(t.admin(), json!({"userId": ro.id, "geofenceId": fence}))
        .await
        .expect(204);
    assert_eq!(t.ids(Auth::Basic(&ro), "/api/geofences").await, vec![fence]);
    let denied = "java.lang.SecurityException: Write access denied";
    t.post(
        Auth::Basic(&ro),
        "/api/geofences",
        json!({"name": "ro fence", "area": AREA}),
    )
    .await
    .expect_error(400, denied);
    t.put(
        Auth::Basic(&ro),
        &format!("/api/geofences/{fence}"),
        json!({"id": fence, "name": "ro edit", "area": AREA}),
    )
    .await
    .expect_error(400, denied);
    t.delete(Auth::Basic(&ro), &format!("/api/geofences/{fence}"))
        .await
        .expect_error(400, denied);
}

/// §10: users, devices and groups link to geofences (owner key first), and each link is
/// read back through the matching filter.
#[tokio::test]
async fn users_devices_and_groups_link_to_geofences() {
    let t = target().await;
    let fence = t.geofence(t.admin()).await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, id, filter) in [
        ("userId", u.id, "userId"),
        ("deviceId", d, "all=true&deviceId"),
        ("groupId", g, "all=true&groupId"),
    ] {
        t.link(t.admin(), json!({owner: id, "geofenceId": fence}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(t.admin(), &format!("/api/geofences?{filter}={id}"))
                .await,
            vec![fence],
            "{owner}"
        );
    }
}

/// §13: deleting a geofence removes its link rows; the objects on the other side stay.
#[tokio::test]
async fn deleting_a_geofence_removes_its_links() {
    let t = target().await;
    let fence = t.geofence(t.admin()).await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"userId": u.id, "geofenceId": fence}))
        .await
        .expect(204);
    t.link(t.admin(), json!({"deviceId": d, "geofenceId": fence}))
        .await
        .expect(204);
    t.delete(t.admin(), &format!("/api/geofences/{fence}"))
        .await
        .expect(204);
    assert!(
        t.ids(t.admin(), &format!("/api/geofences?userId={}", u.id))
            .await
            .is_empty()
    );
    assert!(
        t.ids(t.admin(), &format!("/api/geofences?all=true&deviceId={d}"))
            .await
            .is_empty()
    );
    t.fetch(&format!("/api/devices/{d}")).await;
}

/// §1.6 (6.14.4's source): `keyword` searches the name from 6.13; older servers ignore it.
#[tokio::test]
async fn keyword_searches_the_name_from_6_13() {
    let t = target().await;
    let u = t.user(json!({})).await;
    let sfx = suffix();
    let hit = t
        .object(
            Auth::Basic(&u),
            "/api/geofences",
            json!({"name": format!("Depot {sfx}"), "area": AREA}),
        )
        .await;
    let miss = t.geofence(Auth::Basic(&u)).await;
    let mut found = t
        .ids(
            Auth::Basic(&u),
            &format!("/api/geofences?keyword=depot%20{sfx}"),
        )
        .await;
    found.sort();
    if t.at_least(6, 13) {
        assert_eq!(found, vec![hit]);
    } else {
        assert_eq!(found, vec![hit, miss]);
    }
}
