//! Drivers (observed-objects.md §7): `uniqueId` is trimmed and unique, `null` is the setter's
//! NullPointerException; links from users, devices and groups, bulk included (§10).

use serde_json::json;

use super::harness::*;

fn unique() -> String {
    format!("DRV-{}", suffix())
}

/// §7: `uniqueId` is trimmed (on POST and PUT).
#[tokio::test]
async fn unique_id_is_trimmed() {
    let t = target().await;
    let uid = unique();
    let r = t
        .post(
            t.admin(),
            "/api/drivers",
            json!({"name": "Anna", "uniqueId": format!("  {uid}  "), "attributes": {"phone": "+1"}}),
        )
        .await;
    r.expect(200);
    let id = r.id();
    assert_eq!(
        r.json(),
        json!({"id": id, "attributes": {"phone": "+1"}, "name": "Anna", "uniqueId": uid})
    );
    let r = t
        .put(
            t.admin(),
            &format!("/api/drivers/{id}"),
            json!({"id": id, "name": "Anna B", "uniqueId": format!(" {uid} ")}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["uniqueId"], json!(uid));
    assert_eq!(
        t.fetch(&format!("/api/drivers/{id}")).await,
        json!({"id": id, "attributes": {}, "name": "Anna B", "uniqueId": uid})
    );
}

/// §7: a duplicate `uniqueId` is H2's unique-index violation, on POST and on PUT; the row
/// holding it is named (`/* id */`).
#[tokio::test]
async fn a_duplicate_unique_id_is_a_unique_violation() {
    let t = target().await;
    let uid = unique();
    let first = t
        .object(
            t.admin(),
            "/api/drivers",
            json!({"name": "Zed", "uniqueId": uid}),
        )
        .await;
    let r = t
        .post(
            t.admin(),
            "/api/drivers",
            json!({"name": "dup", "uniqueId": uid}),
        )
        .await;
    r.expect(400);
    assert!(
        r.first_line().starts_with("org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: Unique index or primary key violation: \"PUBLIC.")
            && r.first_line().contains(&format!("ON PUBLIC.TC_DRIVERS(UNIQUEID NULLS FIRST) VALUES ( /* {first} */ '{uid}' )\"")),
        "{}",
        r.text
    );
    let second = t
        .object(
            t.admin(),
            "/api/drivers",
            json!({"name": "other", "uniqueId": unique()}),
        )
        .await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/drivers/{second}"),
            json!({"id": second, "name": "x", "uniqueId": uid}),
        )
        .await;
    r.expect(400);
    assert!(
        r.text.contains("Unique index or primary key violation")
            && r.text.contains("UPDATE tc_drivers SET"),
        "{}",
        r.text
    );
}

/// §7: `"uniqueId": null` fails in the setter (`trim()`): Jackson's 400 text/plain.
#[tokio::test]
async fn a_null_unique_id_is_the_setters_null_pointer_exception() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/drivers",
            json!({"name": "nulluid", "uniqueId": null}),
        )
        .await;
    r.expect_error(
        400,
        "Cannot invoke \"String.trim()\" because \"uniqueId\" is null",
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
}

/// §7: `name` and `uniqueId` are NOT NULL.
#[tokio::test]
async fn name_and_unique_id_are_required() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    t.post(t.admin(), "/api/drivers", json!({"name": "nouid"}))
        .await
        .expect_error(400, &not_null("UNIQUEID"));
    t.post(t.admin(), "/api/drivers", json!({"uniqueId": unique()}))
        .await
        .expect_error(400, &not_null("NAME"));
}

/// §1.2: an unknown field lists the driver's four known properties.
#[tokio::test]
async fn unknown_field_is_400_text_plain_listing_the_known_properties() {
    let t = target().await;
    t.post(
        t.admin(),
        "/api/drivers",
        json!({"name": "a", "uniqueId": unique(), "bogus": 1}),
    )
    .await
    .expect_error(
        400,
        &t.unrecognized("Driver", "bogus", &["id", "uniqueId", "attributes", "name"]),
    );
}

/// §10: users, devices and groups link to drivers.
#[tokio::test]
async fn users_devices_and_groups_link_to_drivers() {
    let t = target().await;
    let id = t
        .object(
            t.admin(),
            "/api/drivers",
            json!({"name": "Zed", "uniqueId": unique()}),
        )
        .await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, owner_id, filter) in [
        ("userId", u.id, "userId"),
        ("deviceId", d, "deviceId"),
        ("groupId", g, "groupId"),
    ] {
        t.link(t.admin(), json!({owner: owner_id, "driverId": id}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(t.admin(), &format!("/api/drivers?{filter}={owner_id}"))
                .await,
            vec![id],
            "{owner}"
        );
    }
}

/// §10: bulk entries must share one key set (400 before anything is applied); a bulk DELETE
/// with a missing id is 204.
#[tokio::test]
async fn bulk_links_need_one_key_set_and_bulk_unlinks_ignore_missing_ids() {
    let t = target().await;
    let driver = t
        .object(
            t.admin(),
            "/api/drivers",
            json!({"name": "Anna", "uniqueId": unique()}),
        )
        .await;
    let u = t.user(json!({})).await;
    let (d1, _) = t.device(t.admin()).await;
    let (d2, _) = t.device(t.admin()).await;
    let r = t
        .post(
            t.admin(),
            "/api/permissions/bulk",
            json!([{"userId": u.id, "driverId": driver}, {"deviceId": d1, "driverId": driver}]),
        )
        .await;
    r.expect_error(
        400,
        "jakarta.ws.rs.WebApplicationException: HTTP 400 Bad Request",
    );
    assert!(
        t.ids(t.admin(), &format!("/api/drivers?userId={}", u.id))
            .await
            .is_empty(),
        "nothing applied"
    );
    t.post(
        t.admin(),
        "/api/permissions/bulk",
        json!([{"deviceId": d1, "driverId": driver}, {"deviceId": d2, "driverId": driver}]),
    )
    .await
    .expect(204);
    assert_eq!(
        t.ids(t.admin(), &format!("/api/drivers?deviceId={d2}"))
            .await,
        vec![driver]
    );
    t.call(
        t.admin(),
        reqwest::Method::DELETE,
        "/api/permissions/bulk",
        Some(json!([{"deviceId": d1, "driverId": driver}, {"deviceId": d2, "driverId": 999_999_999}])),
    )
    .await
    .expect(204);
    assert!(
        t.ids(t.admin(), &format!("/api/drivers?deviceId={d1}"))
            .await
            .is_empty()
    );
    assert_eq!(
        t.ids(t.admin(), &format!("/api/drivers?deviceId={d2}"))
            .await,
        vec![driver]
    );
}

/// §13: deleting a device removes its driver links; the driver stays.
#[tokio::test]
async fn deleting_a_device_removes_its_driver_links() {
    let t = target().await;
    let driver = t
        .object(
            t.admin(),
            "/api/drivers",
            json!({"name": "Anna", "uniqueId": unique()}),
        )
        .await;
    let (d, _) = t.device(t.admin()).await;
    t.link(t.admin(), json!({"deviceId": d, "driverId": driver}))
        .await
        .expect(204);
    t.delete(t.admin(), &format!("/api/devices/{d}"))
        .await
        .expect(204);
    assert!(
        t.ids(t.admin(), &format!("/api/drivers?deviceId={d}"))
            .await
            .is_empty()
    );
    t.fetch(&format!("/api/drivers/{driver}")).await;
}
