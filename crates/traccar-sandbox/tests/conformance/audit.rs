//! The audit log (`GET /api/audit?from=&to=`, v6.7+): administrators only, rows in the window
//! ordered by time, user changes logged on the user, links logged on the linked object with the
//! owner in `attributes`, one row per applied item of a bulk call; no such route before 6.7.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::harness::*;

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// (actionType, objectType, objectId, ownerType, ownerId, userId) of a row.
type Row = (String, String, i64, Option<String>, Option<i64>, i64);

fn row(r: &Value) -> Row {
    let text = |v: &Value| v.as_str().map(str::to_string);
    (
        text(&r["actionType"]).unwrap_or_default(),
        text(&r["objectType"]).unwrap_or_default(),
        r["objectId"].as_i64().unwrap_or_default(),
        text(&r["attributes"]["ownerType"]),
        r["attributes"]["ownerId"].as_i64(),
        r["userId"].as_i64().unwrap_or_default(),
    )
}

fn expected(action: &str, object: (&str, i64), owner: Option<(&str, i64)>, by: i64) -> Row {
    (
        action.into(),
        object.0.into(),
        object.1,
        owner.map(|o| o.0.to_string()),
        owner.map(|o| o.1),
        by,
    )
}

#[tokio::test]
async fn audit_log_records_user_changes_and_links_by_their_owner() {
    let t = target().await;
    if !t.at_least(6, 7) {
        // No AuditResource: answered like any unknown path under /api.
        let unknown = t.get(t.admin(), "/api/no-such-resource").await;
        let r = t.get(t.admin(), "/api/audit").await;
        r.expect(unknown.status);
        assert_eq!(r.first_line(), unknown.first_line(), "{}", r.text);
        return;
    }
    let start = Utc::now() - Duration::seconds(1);
    let m = t.manager(5, 0).await;
    let (d, _) = t.device(t.admin()).await;
    let (r, u) = t.create_user(Auth::Basic(&m), json!({})).await;
    r.expect(200);
    t.link(t.admin(), json!({"userId": u.id, "deviceId": d}))
        .await
        .expect(204);
    t.delete_json(
        t.admin(),
        "/api/permissions/bulk",
        json!([{"userId": u.id, "deviceId": d}]),
    )
    .await
    .expect(204);
    // Not transactional: the first item is applied and logged, the second fails (no device).
    t.post(
        t.admin(),
        "/api/permissions/bulk",
        json!([{"userId": u.id, "deviceId": d}, {"userId": u.id, "deviceId": 987_654_321}]),
    )
    .await
    .expect(400);
    let mut user = t.fetch(&format!("/api/users/{}", u.id)).await;
    user["phone"] = json!("+43 1 234");
    t.put(t.admin(), &format!("/api/users/{}", u.id), user)
        .await
        .expect(200);
    t.delete(t.admin(), &format!("/api/users/{}", u.id))
        .await
        .expect(204);
    let end = Utc::now() + Duration::seconds(1);
    let window = format!("/api/audit?from={}&to={}", iso(start), iso(end));

    t.get(Auth::Basic(&m), &window).await.expect_error(
        400,
        "java.lang.SecurityException: Administrator access required",
    );
    // Dates are converted before the resource runs: a bad one is 404 even for a non-admin.
    t.get(Auth::Basic(&m), "/api/audit?from=yesterday&to=today")
        .await
        .expect(404);
    // Without bounds: H2 refuses the unset parameter (real 6.9.1); real 6.14.4's query builder
    // throws first.
    let unbounded = if t.at_least(6, 14) {
        "java.lang.NullPointerException"
    } else {
        "org.traccar.storage.StorageException: org.h2.jdbc.JdbcSQLDataException: Parameter \"#1\" is not set; SQL statement:"
    };
    t.get(t.admin(), "/api/audit")
        .await
        .expect_error(400, unbounded);

    let rows = t.fetch(&window).await;
    let rows = rows.as_array().expect("array");
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = rows
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r["actionTime"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("actionTime ({e}): {r}"))
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ordered by time");
    let about_u = |r: &&Value| {
        let (_, object, id, _, owner, _) = row(r);
        (object == "user" || object == "managedUser") && id == u.id || owner == Some(u.id)
    };
    let mut got: Vec<Row> = rows.iter().filter(about_u).map(row).collect();
    let admin = t.admin.id;
    let link = |action: &str| expected(action, ("device", d), Some(("user", u.id)), admin);
    let mut want = vec![
        expected("create", ("user", u.id), None, m.id),
        expected("link", ("managedUser", u.id), Some(("user", m.id)), m.id),
        link("link"),
        link("unlink"),
        link("link"),
        expected("edit", ("user", u.id), None, admin),
        expected("remove", ("user", u.id), None, admin),
    ];
    // Rows of the same millisecond have no defined order.
    got.sort();
    want.sort();
    assert_eq!(got, want, "{rows:#?}");
    for r in rows.iter().filter(about_u) {
        assert!(r["address"].as_str().is_some_and(|a| !a.is_empty()), "{r}");
        if t.at_least(6, 12) {
            let by = r["userId"].as_i64();
            let email = if by == Some(m.id) {
                &m.email
            } else {
                &t.admin.email
            };
            assert_eq!(r["userEmail"].as_str(), Some(email.as_str()), "{r}");
        } else {
            assert!(r.get("userEmail").is_none(), "{r}");
        }
    }
    // The window is inclusive and the log is not filtered by anything else.
    let before = format!("/api/audit?from={}&to={}", iso(start), iso(start));
    assert!(
        t.fetch(&before)
            .await
            .as_array()
            .expect("array")
            .iter()
            .all(|r| !about_u(&r))
    );
}
