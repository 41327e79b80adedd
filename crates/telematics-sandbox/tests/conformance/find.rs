//! `GET /v1/Management/users/find` (notes §5.3).

use serde_json::json;

use crate::harness::start;

fn client_ids(result: &serde_json::Value) -> Vec<&str> {
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserFields"][0]["ClientId"].as_str().unwrap())
        .collect()
}

/// Notes §5.3: `Result` is always an array, even for an exact DeviceToken, and empty when
/// nothing matches (not a 404).
#[tokio::test]
async fn find_returns_an_array_even_for_a_device_token() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let result = t
        .find(&admin, &format!("DeviceToken={token}"))
        .await
        .result();
    assert_eq!(result.as_array().unwrap().len(), 1);
    assert_eq!(result[0]["DeviceToken"], token.as_str());
    let none = t
        .find(&admin, "DeviceToken=00000000-0000-4000-8000-000000000000")
        .await
        .result();
    assert_eq!(none, json!([]));
}

/// Notes §5.3: `ShowInactiveUsers` defaults to false, so a deactivated user is found only with
/// `ShowInactiveUsers=true`.
#[tokio::test]
async fn find_hides_inactive_users_unless_asked() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    t.update(&admin, &token, json!({"Status": "Deactivated"}))
        .await
        .result();
    assert_eq!(t.find(&admin, "ClientId=drv-1").await.result(), json!([]));
    let shown = t
        .find(&admin, "ClientId=drv-1&ShowInactiveUsers=true")
        .await
        .result();
    assert_eq!(shown[0]["Status"], "Inactive");
}

/// Notes §5.3: at least one search field is required; a malformed DeviceToken or boolean is a
/// 422 as well.
#[tokio::test]
async fn find_needs_a_search_field() {
    let t = start().await;
    let admin = t.admin_token().await;
    assert_eq!(t.find(&admin, "").await.validation_keys(), [""]);
    assert_eq!(
        t.find(&admin, "ShowInactiveUsers=true&IncludeAccountInfo=true")
            .await
            .validation_keys(),
        [""]
    );
    assert_eq!(
        t.find(&admin, "DeviceToken=drv-1").await.validation_keys(),
        ["DeviceToken"]
    );
    assert_eq!(
        t.find(&admin, "ClientId=a&ShowInactiveUsers=yes")
            .await
            .validation_keys(),
        ["ShowInactiveUsers"]
    );
}

/// Notes §5.3: several parameters are ANDed.
#[tokio::test]
async fn find_ands_its_parameters() {
    let t = start().await;
    for (client, first, last) in [
        ("a", "Max", "Muster"),
        ("b", "Max", "Other"),
        ("c", "Eva", "Muster"),
    ] {
        t.register(
            json!({"FirstName": first, "LastName": last, "UserFields": {"ClientId": client}}),
        )
        .await
        .result();
    }
    let admin = t.admin_token().await;
    let found = t
        .find(&admin, "FirstName=Max&LastName=Muster")
        .await
        .result();
    assert_eq!(client_ids(&found), ["a"]);
    let found = t.find(&admin, "LastName=Muster").await.result();
    assert_eq!(client_ids(&found), ["a", "c"]);
    let found = t.find(&admin, "FullName=Eva+Muster").await.result();
    assert_eq!(client_ids(&found), ["c"]);
    let found = t.find(&admin, "FirstName=Max&ClientId=c").await.result();
    assert_eq!(found, json!([]));
}

/// Notes §8.3 (ClientId uniqueness not enforced; detect duplicates). Case sensitivity of
/// `find` is UNVERIFIED: the sandbox compares text case-insensitively, as a database with a
/// case-insensitive collation would, so a client must check the ClientId it gets back.
#[tokio::test]
async fn find_by_client_id_ignores_case_and_returns_every_duplicate() {
    let t = start().await;
    t.register_client("DRV-1").await;
    t.register_client("drv-1").await;
    t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let found = t.find(&admin, "clientid=drv-1").await.result();
    assert_eq!(client_ids(&found), ["DRV-1", "drv-1", "drv-1"]);
}

/// Notes §5.3: query parameter names bind in any case, and `IncludeAccountInfo` fills the names.
#[tokio::test]
async fn find_parameters_bind_in_any_case() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let found = t
        .find(
            &admin,
            &format!(
                "devicetoken={}&includeaccountinfo=TRUE",
                token.to_uppercase()
            ),
        )
        .await
        .result();
    assert_eq!(found[0]["DeviceToken"], token.as_str());
    assert_eq!(
        found[0]["AccountInfo"]["InstanceName"],
        t.config().instance.name.as_str()
    );
}
