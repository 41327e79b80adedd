//! `POST /v1/Registration/create` and the UNVERIFIED `CreateMany` (notes §2, §3, §5.1, §5.2).

use serde_json::{Value, json};
use telematics_sandbox::{SandboxConfig, route};

use crate::harness::{Req, start, start_with};

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 36
            && s.chars()
                .enumerate()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'))
    })
}

/// Notes §2 (credential 1), §5.1: registration takes no JWT but both instance headers; one
/// missing is a 422 naming it (the status is the sandbox's choice) and creates nothing.
#[tokio::test]
async fn registration_without_instance_headers_is_refused() {
    let t = start().await;
    let instance = t.config().instance.clone();
    let keys = t
        .send(
            "POST",
            "/v1/Registration/create",
            Req::new().json(json!({})),
        )
        .await
        .validation_keys();
    assert_eq!(keys, ["InstanceId", "InstanceKey"]);
    let keys = t
        .send(
            "POST",
            "/v1/Registration/create",
            Req::new()
                .header("InstanceId", &instance.id)
                .json(json!({})),
        )
        .await
        .validation_keys();
    assert_eq!(keys, ["InstanceKey"]);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
}

/// Notes §2, §5.1: an unknown InstanceId or a wrong InstanceKey is refused (401, the sandbox's
/// choice of status) and creates nothing.
#[tokio::test]
async fn registration_with_a_wrong_instance_key_is_refused() {
    let t = start().await;
    let instance = t.config().instance.clone();
    for (id, key) in [
        (instance.id.as_str(), "0f1e2d3c-0000-4000-8000-000000000000"),
        (
            "00000000-0000-4000-8000-000000000000",
            instance.key.as_str(),
        ),
    ] {
        let r = t
            .send(
                "POST",
                "/v1/Registration/create",
                Req::new()
                    .header("InstanceId", id)
                    .header("InstanceKey", key)
                    .json(json!({})),
            )
            .await;
        r.expect(401);
        assert_eq!(r.json()["Status"], 401);
    }
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
}

/// Notes §5.1: every body field is optional, `{}` registers a user; `CreateAccessToken`
/// defaults to true, so a user JWT (432,000 s) and a refresh token come back.
#[tokio::test]
async fn an_empty_body_registers_a_user_and_returns_user_tokens_by_default() {
    let t = start().await;
    let result = t.register(json!({})).await.result();
    assert!(is_uuid(&result["DeviceToken"]), "{result}");
    assert_eq!(result["AccessToken"]["ExpiresIn"], 432_000);
    assert!(result["RefreshToken"].is_string());
    // The user JWT works for the user's own profile.
    let own = t
        .send(
            "GET",
            "/v1/Management/users",
            Req::new().bearer(result["AccessToken"]["Token"].as_str().unwrap()),
        )
        .await
        .result();
    assert_eq!(own["DeviceToken"], result["DeviceToken"]);
}

/// Notes §5.1, §8.5: with `CreateAccessToken: false` (the backend flow) the tokens are null.
#[tokio::test]
async fn create_access_token_false_returns_null_tokens() {
    let t = start().await;
    let result = t
        .register(json!({"CreateAccessToken": false}))
        .await
        .result();
    assert_eq!(
        result.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["DeviceToken", "AccessToken", "RefreshToken"]
    );
    assert!(is_uuid(&result["DeviceToken"]));
    assert_eq!(result["AccessToken"], Value::Null);
    assert_eq!(result["RefreshToken"], Value::Null);
}

/// Notes §5.1: a `CustomToken` UUID becomes the DeviceToken. Registering the same CustomToken
/// again is UNVERIFIED; the sandbox refuses it with a 422 and creates nothing, and a CustomToken
/// that is not a UUID is a 422 too.
#[tokio::test]
async fn custom_token_becomes_the_device_token_and_a_duplicate_is_refused() {
    let t = start().await;
    let custom = "9a7c3e10-5b2d-4f4e-8a61-0c9d8e7f6a5b";
    let result = t
        .register(json!({"CreateAccessToken": false, "CustomToken": custom.to_uppercase()}))
        .await
        .result();
    assert_eq!(result["DeviceToken"], custom);
    let keys = t
        .register(json!({"CreateAccessToken": false, "CustomToken": custom}))
        .await
        .validation_keys();
    assert_eq!(keys, ["CustomToken"]);
    let keys = t
        .register(json!({"CustomToken": "drv-0001"}))
        .await
        .validation_keys();
    assert_eq!(keys, ["CustomToken"]);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 1);
}

/// Notes §3 ("POST create endpoints are not idempotent"), §8.3 (ClientId uniqueness is not
/// enforced): the same body twice makes two users with the same ClientId.
#[tokio::test]
async fn registration_is_not_idempotent_and_client_ids_are_not_unique() {
    let t = start().await;
    let a = t.register_client("drv-0001").await;
    let b = t.register_client("drv-0001").await;
    assert_ne!(a, b);
    let twins = t.sandbox.seed(|s| s.users_by_client_id("drv-0001").len());
    assert_eq!(twins, 2);
}

/// Notes §5.1: profile fields and `UserFields` (ClientId and flags, a plain object) are set at
/// registration and read back; flags left out take the new-user defaults (enabled, tracking,
/// no logging, no real-time location: the live sample of a fresh user).
#[tokio::test]
async fn registration_sets_profile_and_flags() {
    let t = start().await;
    let token = t
        .register(json!({
            "CreateAccessToken": false,
            "FirstName": "Max",
            "LastName": "Mustermann",
            "Email": "max@mustermann.at",
            "Phone": "+4366412345678",
            "Gender": "Male",
            "Birthday": "1989-02-17",
            "City": "Wien",
            "UserFields": {"ClientId": "drv-0001", "EnableLogging": true},
        }))
        .await
        .result()["DeviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = t.admin_token().await;
    let user = t.find_one(&admin, &token).await;
    let p = &user["UserProfile"];
    assert_eq!(p["FirstName"], "Max");
    assert_eq!(p["LastName"], "Mustermann");
    assert_eq!(p["Email"], "max@mustermann.at");
    assert_eq!(p["Phone"], "+4366412345678");
    assert_eq!(p["Gender"], "Male");
    assert_eq!(p["Birthday"], "1989-02-17T00:00:00");
    assert_eq!(p["City"], "Wien");
    assert_eq!(p["Nickname"], Value::Null);
    assert_eq!(p["ImageUrl"], telematics_sandbox::DEFAULT_IMAGE_URL);
    assert_eq!(
        user["UserFields"],
        json!([{
            "ClientId": "drv-0001",
            "EnableLogging": true,
            "EnableRealTimeLocation": false,
            "EnableTracking": true,
            "Enabled": true,
        }])
    );
    assert_eq!(user["Status"], "Active");
    assert_eq!(user["ActivityStatus"], "No Data");
    assert_eq!(
        user["AccountInfo"]["InstanceId"],
        t.config().instance.id.as_str()
    );
}

/// Notes §5.1, §5.5: a registration body with a wrongly typed field is a 422 and creates
/// nothing; `UserFields` as an array (the read shape) is refused on write.
#[tokio::test]
async fn an_invalid_registration_body_creates_nothing() {
    let t = start().await;
    for (body, key) in [
        (json!({"FirstName": 5}), "$.FirstName"),
        (json!({"Gender": "Unknown"}), "$.Gender"),
        (json!({"Birthday": "17/02/1989"}), "$.Birthday"),
        (json!({"UserFields": [{"ClientId": "x"}]}), "$.UserFields"),
        (
            json!({"UserFields": {"Enabled": "yes"}}),
            "$.UserFields.Enabled",
        ),
        (json!([]), "$"),
    ] {
        assert_eq!(
            t.register(body.clone()).await.validation_keys(),
            [key],
            "{body}"
        );
    }
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
}

/// Notes §4 (#2), §5.2: `CreateMany` is UNVERIFIED; by default the sandbox does not serve it and
/// answers as for any unknown path (404, empty body), creating nothing.
#[tokio::test]
async fn create_many_is_not_served_by_default() {
    let t = start().await;
    let r = t
        .send(
            "POST",
            "/v1/Registration/CreateMany",
            t.instance_headers(Req::new())
                .json(json!([{"UserFields": {"ClientId": "a"}}])),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (404, ""));
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 0);
    assert_eq!(t.sandbox.stats().by_route.get("POST (unmatched)"), Some(&1));
}

/// Notes §5.2 (UNVERIFIED, behind `SandboxConfig::create_many`): the guessed shape, an array of
/// single-registration bodies answered by an array of results in order, all or nothing.
#[tokio::test]
async fn create_many_behind_its_knob_registers_an_array_all_or_nothing() {
    let t = start_with(SandboxConfig {
        create_many: true,
        ..SandboxConfig::default()
    })
    .await;
    let bulk = |body: Value| {
        t.send(
            "POST",
            "/v1/Registration/CreateMany",
            t.instance_headers(Req::new()).json(body),
        )
    };
    let result = bulk(json!([
        {"CreateAccessToken": false, "UserFields": {"ClientId": "a"}},
        {"CreateAccessToken": false, "UserFields": {"ClientId": "b"}},
    ]))
    .await
    .result();
    let items = result.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| is_uuid(&i["DeviceToken"])));
    let keys = bulk(json!([
        {"UserFields": {"ClientId": "c"}},
        {"Gender": "Unknown"},
    ]))
    .await
    .validation_keys();
    assert_eq!(keys, ["$[1].Gender"]);
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 2);
    assert_eq!(
        t.sandbox.stats().by_route.get(route::REGISTER_MANY),
        Some(&2)
    );
}
