//! `PUT /v1/Management/users`, deactivation, `DELETE` and change of instance (notes §5.6–§5.8).

use serde_json::{Value, json};
use telematics_sandbox::AccountStatus;

use crate::harness::{Req, start};

/// Notes §5.6, §8.4: `Status` is written `Deactivated` and read `Inactive`; `Active` brings it
/// back.
#[tokio::test]
async fn status_is_written_deactivated_and_read_inactive() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    t.update(&admin, &token, json!({"Status": "Deactivated"}))
        .await
        .result();
    assert_eq!(t.find_one(&admin, &token).await["Status"], "Inactive");
    assert_eq!(
        t.sandbox.seed(|s| s.user(&token).unwrap().status),
        AccountStatus::Deactivated
    );
    t.update(&admin, &token, json!({"Status": "active"}))
        .await
        .result();
    assert_eq!(t.find_one(&admin, &token).await["Status"], "Active");
}

/// Notes §5.6: the read value `Inactive` is not a write value (422, nothing changes); integer
/// statuses (S14, UNVERIFIED) are refused too.
#[tokio::test]
async fn status_inactive_cannot_be_written() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    for status in [json!("Inactive"), json!(2), json!(null)] {
        assert_eq!(
            t.update(&admin, &token, json!({"Status": status}))
                .await
                .validation_keys(),
            ["$.Status"],
            "{status}"
        );
    }
    assert_eq!(t.find_one(&admin, &token).await["Status"], "Active");
}

/// Notes §5.6: `Deleted` via PUT is a soft state (the user stays, reading `Inactive`), unlike
/// DELETE.
#[tokio::test]
async fn status_deleted_is_a_soft_state() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    t.update(&admin, &token, json!({"Status": "Deleted"}))
        .await
        .result();
    let user = t.find_one(&admin, &token).await;
    assert_eq!(user["Status"], "Inactive");
    assert_eq!(
        t.sandbox.seed(|s| s.user(&token).unwrap().status),
        AccountStatus::Deleted
    );
}

/// Notes §5.6: the target is named by the `UserDeviceToken` header, not the body; only that
/// user changes, and a DeviceToken in the body is ignored.
#[tokio::test]
async fn update_targets_the_user_device_token_header() {
    let t = start().await;
    let a = t.register_client("a").await;
    let b = t.register_client("b").await;
    let admin = t.admin_token().await;
    t.update(&admin, &b, json!({"FirstName": "Bea", "DeviceToken": a}))
        .await
        .result();
    assert_eq!(
        t.find_one(&admin, &b).await["UserProfile"]["FirstName"],
        "Bea"
    );
    assert_eq!(
        t.find_one(&admin, &a).await["UserProfile"]["FirstName"],
        Value::Null
    );
}

/// Notes §3 (403 — or maybe 422 — for a missing `UserDeviceToken`; the sandbox answers 403),
/// §3 (404 entity not found): without the header, or naming no user, nothing changes.
#[tokio::test]
async fn update_without_user_device_token_or_of_an_unknown_user_is_refused() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let r = t
        .send(
            "PUT",
            "/v1/Management/users",
            Req::new().bearer(&admin).json(json!({"FirstName": "X"})),
        )
        .await;
    r.expect(403);
    assert_eq!(r.json()["Status"], 403);
    for unknown in ["00000000-0000-4000-8000-000000000000", "drv-1"] {
        let r = t.update(&admin, unknown, json!({"FirstName": "X"})).await;
        r.expect(404);
        assert_eq!(r.json()["Status"], 404);
    }
    assert_eq!(
        t.find_one(&admin, &token).await["UserProfile"]["FirstName"],
        Value::Null
    );
}

/// Notes §5.6 (partial-update semantics UNVERIFIED; send only what changes): a field left out
/// is unchanged; the sandbox clears a field sent as `null`.
#[tokio::test]
async fn update_is_partial_and_null_clears_a_field() {
    let t = start().await;
    let token = t
        .register(json!({
            "CreateAccessToken": false,
            "FirstName": "Max", "LastName": "Muster", "Email": "max@x.invalid",
            "UserFields": {"ClientId": "drv-1", "EnableLogging": true},
        }))
        .await
        .result()["DeviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = t.admin_token().await;
    t.update(
        &admin,
        &token,
        json!({"LastName": "Neu", "Email": null, "UserFields": {"EnableTracking": false}}),
    )
    .await
    .result();
    let user = t.find_one(&admin, &token).await;
    assert_eq!(user["UserProfile"]["FirstName"], "Max");
    assert_eq!(user["UserProfile"]["LastName"], "Neu");
    assert_eq!(user["UserProfile"]["Email"], Value::Null);
    assert_eq!(
        user["UserFields"][0],
        json!({"ClientId": "drv-1", "EnableLogging": true, "EnableRealTimeLocation": false,
               "EnableTracking": false, "Enabled": true})
    );
}

/// Notes §5.5, §5.9 (S16's array form contradicts S1): `UserFields` is written as a plain
/// object; an array is a 422 and changes nothing.
#[tokio::test]
async fn user_fields_are_written_as_an_object_and_an_array_is_refused() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    assert_eq!(
        t.update(&admin, &token, json!({"UserFields": [{"Enabled": false}]}))
            .await
            .validation_keys(),
        ["$.UserFields"]
    );
    assert_eq!(
        t.find_one(&admin, &token).await["UserFields"][0]["Enabled"],
        true
    );
    t.update(&admin, &token, json!({"UserFields": {"Enabled": false}}))
        .await
        .result();
    assert_eq!(
        t.find_one(&admin, &token).await["UserFields"][0]["Enabled"],
        false
    );
}

/// Notes §5.7 (how `Enabled` and `Status` relate is UNVERIFIED): in the sandbox they are
/// independent. `Enabled: false` alone keeps `Status: "Active"` (and the user visible without
/// `ShowInactiveUsers`); `Status: "Deactivated"` alone keeps `Enabled: true`. A client that
/// writes both and reads "deactivated if either says so" is right either way.
#[tokio::test]
async fn enabled_and_status_are_independent() {
    let t = start().await;
    let a = t.register_client("a").await;
    let b = t.register_client("b").await;
    let admin = t.admin_token().await;
    t.update(&admin, &a, json!({"UserFields": {"Enabled": false}}))
        .await
        .result();
    t.update(&admin, &b, json!({"Status": "Deactivated"}))
        .await
        .result();
    let a_read = t.find(&admin, "ClientId=a").await.result();
    assert_eq!(a_read[0]["Status"], "Active");
    assert_eq!(a_read[0]["UserFields"][0]["Enabled"], false);
    let b_read = t.find_one(&admin, &b).await;
    assert_eq!(b_read["Status"], "Inactive");
    assert_eq!(b_read["UserFields"][0]["Enabled"], true);
    // Both at once, and both back.
    t.update(
        &admin,
        &a,
        json!({"Status": "Deactivated", "UserFields": {"Enabled": false}}),
    )
    .await
    .result();
    t.update(
        &admin,
        &a,
        json!({"Status": "Active", "UserFields": {"Enabled": true}}),
    )
    .await
    .result();
    let a_read = t.find_one(&admin, &a).await;
    assert_eq!(
        (
            a_read["Status"].clone(),
            a_read["UserFields"][0]["Enabled"].clone()
        ),
        (json!("Active"), json!(true))
    );
}

/// Notes §3 (422: read `Errors[].Message`, do not retry): one invalid field refuses the whole
/// update, and the valid fields of the same body are not applied.
#[tokio::test]
async fn an_invalid_field_refuses_the_whole_update() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let keys = t
        .update(
            &admin,
            &token,
            json!({"FirstName": "Max", "Gender": "Robot", "ChildrenCount": "two", "NewPassword": "x"}),
        )
        .await
        .validation_keys();
    assert_eq!(keys, ["$.Gender", "$.ChildrenCount", "OldPassword"]);
    assert_eq!(
        t.find_one(&admin, &token).await["UserProfile"]["FirstName"],
        Value::Null
    );
}

/// Notes §5.7, §3 (delete of something deleted: 404, may count as success): DELETE removes the
/// user for good; a second DELETE is 404.
#[tokio::test]
async fn delete_removes_the_user_for_good_and_a_second_delete_is_404() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let keep = t.register_client("drv-2").await;
    let admin = t.admin_token().await;
    let path = format!("/v1/Management/users/{token}");
    let r = t.send("DELETE", &path, Req::new().bearer(&admin)).await;
    assert_eq!(r.result(), Value::Null);
    assert!(
        r.json().get("Result").is_none(),
        "a mutation answers without Result"
    );
    assert_eq!(
        t.find(
            &admin,
            &format!("DeviceToken={token}&ShowInactiveUsers=true")
        )
        .await
        .result(),
        json!([])
    );
    let again = t.send("DELETE", &path, Req::new().bearer(&admin)).await;
    again.expect(404);
    assert_eq!(again.json()["Status"], 404);
    assert!(t.sandbox.seed(|s| s.user(&keep).is_some()));
}

/// Notes §5.8: `instances/change` moves a user when given the target instance's key; a wrong
/// key is a 422 and moves nothing.
#[tokio::test]
async fn change_instance_moves_a_user_with_the_target_key() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let other = t.sandbox.seed(|s| s.add_instance("Other"));
    let admin = t.admin_token().await;
    let change = |key: &str| {
        t.send(
            "POST",
            "/v1/Management/users/instances/change",
            Req::new().bearer(&admin).json(
                json!({"DeviceToken": token, "ToInstanceId": other.id, "ToInstanceKey": key}),
            ),
        )
    };
    assert_eq!(
        change("00000000-0000-4000-8000-000000000000")
            .await
            .validation_keys(),
        ["ToInstanceKey"]
    );
    assert_eq!(
        t.find_one(&admin, &token).await["AccountInfo"]["InstanceId"],
        t.config().instance.id.as_str()
    );
    change(&other.key).await.result();
    let moved = t.find_one(&admin, &token).await;
    assert_eq!(moved["AccountInfo"]["InstanceId"], other.id.as_str());
    assert_eq!(moved["AccountInfo"]["InstanceName"], "Other");
}

/// Notes §5.6 ("or user JWT for self"): a user JWT updates the user's own profile without the
/// header, and may not name another user.
#[tokio::test]
async fn a_user_jwt_updates_only_its_own_profile() {
    let t = start().await;
    let me = t
        .register(json!({"UserFields": {"ClientId": "me"}}))
        .await
        .result();
    let other = t.register_client("other").await;
    let my_token = me["AccessToken"]["Token"].as_str().unwrap();
    t.send(
        "PUT",
        "/v1/Management/users",
        Req::new().bearer(my_token).json(json!({"Nickname": "me!"})),
    )
    .await
    .result();
    let r = t
        .send(
            "PUT",
            "/v1/Management/users",
            Req::new()
                .bearer(my_token)
                .header("UserDeviceToken", &other)
                .json(json!({"Nickname": "hacked"})),
        )
        .await;
    r.expect(403);
    let admin = t.admin_token().await;
    let my_device = me["DeviceToken"].as_str().unwrap();
    assert_eq!(
        t.find_one(&admin, my_device).await["UserProfile"]["Nickname"],
        "me!"
    );
    assert_eq!(
        t.find_one(&admin, &other).await["UserProfile"]["Nickname"],
        Value::Null
    );
}
