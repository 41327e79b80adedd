//! Maintenance (observed-objects.md §8): `start` and `period` are doubles defaulting to 0,
//! numeric strings are coerced and nothing is range-checked; `name` and `type` are required.

use serde_json::json;

use super::harness::*;

/// §8: the minimal body and its answer (`start`/`period` 0.0).
#[tokio::test]
async fn the_minimal_body_is_name_and_type() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/maintenance",
            json!({"name": "Oil", "type": "odometer"}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!({"id": r.id(), "attributes": {}, "name": "Oil", "type": "odometer", "start": 0.0, "period": 0.0})
    );
    assert!(
        r.text.contains("\"start\":0.0,\"period\":0.0"),
        "{}",
        r.text
    );
}

/// §1.2 and §8: numeric strings are coerced, negative numbers accepted, the type is free.
#[tokio::test]
async fn numeric_strings_are_coerced_and_nothing_is_range_checked() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/maintenance",
            json!({"name": "numstr", "type": "hours", "start": "12", "period": -5}),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_eq!(
        (v["start"].clone(), v["period"].clone()),
        (json!(12.0), json!(-5.0))
    );
    let r = t
        .post(
            t.admin(),
            "/api/maintenance",
            json!({"name": "Brakes", "type": "totalDistance", "start": 1000.5, "period": 15000, "attributes": {"x": 1}}),
        )
        .await;
    r.expect(200);
    assert!(
        r.text.contains("\"start\":1000.5,\"period\":15000.0"),
        "{}",
        r.text
    );
}

/// §1.2: a non-numeric `start` is Jackson's 400 text/plain.
#[tokio::test]
async fn a_non_numeric_start_is_400_text_plain() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            "/api/maintenance",
            json!({"name": "s", "type": "hours", "start": "abc"}),
        )
        .await;
    r.expect_error(400, "Cannot deserialize value of type `double` from String \"abc\": not a valid `double` value (as String to convert)");
    assert!(
        r.text
            .contains("(through reference chain: org.traccar.model.Maintenance[\"start\"])"),
        "{}",
        r.text
    );
}

/// §8: `name` and `type` are NOT NULL (name first, in table order).
#[tokio::test]
async fn name_and_type_are_required() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    t.post(t.admin(), "/api/maintenance", json!({"name": "notype"}))
        .await
        .expect_error(400, &not_null("TYPE"));
    t.post(t.admin(), "/api/maintenance", json!({}))
        .await
        .expect_error(400, &not_null("NAME"));
}

/// §1.2: an unknown field lists maintenance's six known properties.
#[tokio::test]
async fn unknown_field_is_400_text_plain_listing_the_known_properties() {
    let t = target().await;
    t.post(
        t.admin(),
        "/api/maintenance",
        json!({"name": "a", "type": "x", "bogus": 1}),
    )
    .await
    .expect_error(
        400,
        &t.unrecognized(
            "Maintenance",
            "bogus",
            &["period", "start", "attributes", "type", "id", "name"],
        ),
    );
}

/// §1.4 and §8: PUT replaces the whole maintenance (an omitted start becomes 0.0).
#[tokio::test]
async fn put_replaces_the_whole_maintenance() {
    let t = target().await;
    let id = t
        .object(
            t.admin(),
            "/api/maintenance",
            json!({"name": "Oil", "type": "odometer", "start": 100, "attributes": {"x": 1}}),
        )
        .await;
    let r = t
        .put(
            t.admin(),
            &format!("/api/maintenance/{id}"),
            json!({"id": id, "name": "Oil", "type": "odometer", "period": 5000}),
        )
        .await;
    r.expect(200);
    let expected = json!({"id": id, "attributes": {}, "name": "Oil", "type": "odometer", "start": 0.0, "period": 5000.0});
    assert_eq!(r.json(), expected);
    assert_eq!(t.fetch(&format!("/api/maintenance/{id}")).await, expected);
}

/// §10: users, devices and groups link to maintenance.
#[tokio::test]
async fn users_devices_and_groups_link_to_maintenance() {
    let t = target().await;
    let id = t
        .object(
            t.admin(),
            "/api/maintenance",
            json!({"name": "Oil", "type": "odometer"}),
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
        t.link(t.admin(), json!({owner: owner_id, "maintenanceId": id}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(t.admin(), &format!("/api/maintenance?{filter}={owner_id}"))
                .await,
            vec![id],
            "{owner}"
        );
    }
}
