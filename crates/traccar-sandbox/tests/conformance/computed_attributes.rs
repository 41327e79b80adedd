//! Computed attributes (observed-objects.md §6): administrators alone create, edit and
//! delete them; anyone may read and link those linked to it; nothing about the expression is
//! validated; there is no `attributes` map; `priority` exists from 6.2.

use serde_json::json;

use super::harness::*;

const PATH: &str = "/api/attributes/computed";

fn body(description: &str) -> serde_json::Value {
    json!({"description": description, "attribute": "speedKmh", "expression": "speed * 1.852", "type": "number"})
}

async fn attribute(t: &Target) -> i64 {
    t.object(t.admin(), PATH, body(&format!("conf-attr-{}", suffix())))
        .await
}

/// §6: the minimal body and its answer; `priority` defaults to 0 (from 6.2).
#[tokio::test]
async fn the_minimal_body_and_its_answer() {
    let t = target().await;
    let description = format!("conf-attr-{}", suffix());
    let r = t.post(t.admin(), PATH, body(&description)).await;
    r.expect(200);
    let v = r.json();
    let mut expected = json!({"id": v["id"], "description": description, "attribute": "speedKmh", "expression": "speed * 1.852", "type": "number"});
    if t.at_least(6, 2) {
        merge(&mut expected, json!({"priority": 0}));
    }
    assert_eq!(v, expected);
}

/// §6: POST, PUT and DELETE need an administrator, even for an attribute linked to the
/// caller.
#[tokio::test]
async fn writes_are_for_administrators_only() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let denied = "java.lang.SecurityException: Administrator access required";
    t.post(Auth::Basic(&m), PATH, body("mgr attr"))
        .await
        .expect_error(400, denied);
    let id = attribute(&t).await;
    t.link(t.admin(), json!({"userId": m.id, "attributeId": id}))
        .await
        .expect(204);
    let mut edit = body("edited");
    merge(&mut edit, json!({"id": id}));
    t.put(Auth::Basic(&m), &format!("{PATH}/{id}"), edit)
        .await
        .expect_error(400, denied);
    t.delete(Auth::Basic(&m), &format!("{PATH}/{id}"))
        .await
        .expect_error(400, denied);
}

/// §6 and §10: a non-admin reads the attributes linked to it and may link them to its
/// managed users and its devices; an attribute not linked to it is `Attribute access denied`.
#[tokio::test]
async fn non_admins_read_and_link_the_attributes_linked_to_them() {
    let t = target().await;
    let m = t.manager(-1, -1).await;
    let (r, sub) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    let (d, _) = t.device(Auth::Basic(&m)).await;
    let id = attribute(&t).await;
    assert!(t.ids(Auth::Basic(&m), PATH).await.is_empty());
    t.link(
        Auth::Basic(&m),
        json!({"userId": sub.id, "attributeId": id}),
    )
    .await
    .expect_error(400, "java.lang.SecurityException: Attribute access denied");
    t.link(t.admin(), json!({"userId": m.id, "attributeId": id}))
        .await
        .expect(204);
    assert_eq!(t.ids(Auth::Basic(&m), PATH).await, vec![id]);
    t.link(
        Auth::Basic(&m),
        json!({"userId": sub.id, "attributeId": id}),
    )
    .await
    .expect(204);
    t.link(Auth::Basic(&m), json!({"deviceId": d, "attributeId": id}))
        .await
        .expect(204);
    assert_eq!(
        t.ids(Auth::Basic(&m), &format!("{PATH}?deviceId={d}"))
            .await,
        vec![id]
    );
    assert_eq!(
        t.fetch_as(&sub, &format!("{PATH}/{id}")).await["id"],
        json!(id)
    );
}

/// §6: the expression and the type are stored unchecked.
#[tokio::test]
async fn expression_and_type_are_not_validated() {
    let t = target().await;
    let r = t
        .post(
            t.admin(),
            PATH,
            json!({"description": "broken", "attribute": "x", "expression": "1 +* (", "type": "banana"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["expression"], json!("1 +* ("));
    assert_eq!(r.json()["type"], json!("banana"));
}

/// §6: description, type, attribute and expression are NOT NULL, checked in table order.
#[tokio::test]
async fn description_type_attribute_and_expression_are_required() {
    let t = target().await;
    let not_null = |column: &str| {
        format!(
            "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLIntegrityConstraintViolationException: NULL not allowed for column \"{column}\"; SQL statement:"
        )
    };
    for (body, column) in [
        (
            json!({"attribute": "x", "expression": "1", "type": "number"}),
            "DESCRIPTION",
        ),
        (
            json!({"description": "d", "attribute": "x", "type": "number"}),
            "EXPRESSION",
        ),
        (json!({}), "DESCRIPTION"),
        (json!({"description": "d", "expression": "1"}), "TYPE"),
    ] {
        t.post(t.admin(), PATH, body)
            .await
            .expect_error(400, &not_null(column));
    }
}

/// §6: a computed attribute has no `attributes` map: sending one is an unknown field.
#[tokio::test]
async fn an_attributes_map_is_an_unknown_field() {
    let t = target().await;
    let mut with_map = body("d");
    merge(&mut with_map, json!({"attributes": {}}));
    let mut known = vec![
        "priority",
        "expression",
        "type",
        "id",
        "description",
        "attribute",
    ];
    if !t.at_least(6, 2) {
        known.retain(|k| *k != "priority");
    }
    t.post(t.admin(), PATH, with_map)
        .await
        .expect_error(400, &t.unrecognized("Attribute", "attributes", &known));
}

/// §1.4 and §6: PUT replaces the whole attribute (an omitted priority becomes 0).
#[tokio::test]
async fn put_replaces_the_whole_attribute() {
    let t = target().await;
    let mut full = body(&format!("conf-attr-{}", suffix()));
    if t.at_least(6, 2) {
        merge(&mut full, json!({"priority": 10}));
    }
    let id = t.object(t.admin(), PATH, full).await;
    let r = t
        .put(
            t.admin(),
            &format!("{PATH}/{id}"),
            json!({"id": id, "description": "Alarm flag", "attribute": "alarm", "expression": "true", "type": "boolean"}),
        )
        .await;
    r.expect(200);
    let v = t.fetch(&format!("{PATH}/{id}")).await;
    assert_eq!(v["expression"], json!("true"));
    if t.at_least(6, 2) {
        assert_eq!(v["priority"], json!(0));
    }
}

/// §10: users, devices and groups link to computed attributes.
#[tokio::test]
async fn users_devices_and_groups_link_to_computed_attributes() {
    let t = target().await;
    let id = attribute(&t).await;
    let u = t.user(json!({})).await;
    let (d, _) = t.device(t.admin()).await;
    let g = t.group(t.admin(), 0).await;
    for (owner, owner_id, filter) in [
        ("userId", u.id, "userId"),
        ("deviceId", d, "deviceId"),
        ("groupId", g, "groupId"),
    ] {
        t.link(t.admin(), json!({owner: owner_id, "attributeId": id}))
            .await
            .expect(204);
        assert_eq!(
            t.ids(t.admin(), &format!("{PATH}?{filter}={owner_id}"))
                .await,
            vec![id],
            "{owner}"
        );
    }
}
