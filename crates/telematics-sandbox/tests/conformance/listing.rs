//! `POST /v1/Management/users/GetFilteredPage` and the user read model (notes §5.4, §5.5, §8.2).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use telematics_sandbox::{AccountStatus, ActivityStatus, SandboxConfig, User};

use crate::harness::{Req, Target, start, start_with};

/// Registers `n` users with ClientIds `drv-0`, `drv-1`, …; their DeviceTokens in order.
async fn register_n(t: &Target, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..n {
        tokens.push(t.register_client(&format!("drv-{i}")).await);
    }
    tokens
}

fn client_ids(page: &Value) -> Vec<String> {
    page["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserFields"][0]["ClientId"].as_str().unwrap().to_string())
        .collect()
}

/// Notes §5.4, §8.2: the listing pages with `PageNumber` (1-based) and `PageSize` and answers
/// `Users`, `HasPreviousPage`, `HasNextPage`, `TotalUsers`, `TotalPages`, `CurrentPage`;
/// `ShowInactiveUsers: true` includes deactivated users, `false` leaves them out of the users
/// and the totals.
#[tokio::test]
async fn paging_returns_totals_and_inactive_users() {
    let t = start().await;
    let tokens = register_n(&t, 5).await;
    let admin = t.admin_token().await;
    t.update(&admin, &tokens[1], json!({"Status": "Deactivated"}))
        .await
        .result();
    let page1 = t.list(&admin, t.list_body(1, 2)).await.result();
    assert_eq!(
        page1.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "Users",
            "HasPreviousPage",
            "HasNextPage",
            "TotalUsers",
            "TotalPages",
            "CurrentPage"
        ]
    );
    assert_eq!(page1["TotalUsers"], 5);
    assert_eq!(page1["TotalPages"], 3);
    assert_eq!(page1["CurrentPage"], 1);
    assert_eq!(page1["HasPreviousPage"], false);
    assert_eq!(page1["HasNextPage"], true);
    assert_eq!(client_ids(&page1), ["drv-0", "drv-1"]);
    assert_eq!(page1["Users"][1]["Status"], "Inactive");
    let page3 = t.list(&admin, t.list_body(3, 2)).await.result();
    assert_eq!(client_ids(&page3), ["drv-4"]);
    assert_eq!(page3["HasPreviousPage"], true);
    assert_eq!(page3["HasNextPage"], false);

    let mut active_only = t.list_body(1, 10);
    active_only["ShowInactiveUsers"] = json!(false);
    let active = t.list(&admin, active_only.clone()).await.result();
    assert_eq!(active["TotalUsers"], 4);
    assert_eq!(client_ids(&active), ["drv-0", "drv-2", "drv-3", "drv-4"]);
    // Left out, ShowInactiveUsers is false.
    active_only
        .as_object_mut()
        .unwrap()
        .remove("ShowInactiveUsers");
    assert_eq!(t.list(&admin, active_only).await.result()["TotalUsers"], 4);
}

/// Notes §5.4 ("page through with HasNextPage"), §8.2: walking the pages while `HasNextPage`
/// visits every user exactly once; a page past the end is empty, not an error.
#[tokio::test]
async fn walking_has_next_page_visits_every_user_once() {
    let t = start().await;
    let tokens = register_n(&t, 7).await;
    let admin = t.admin_token().await;
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let result = t.list(&admin, t.list_body(page, 3)).await.result();
        for user in result["Users"].as_array().unwrap() {
            seen.push(user["DeviceToken"].as_str().unwrap().to_string());
        }
        if result["HasNextPage"] != true {
            break;
        }
        page += 1;
    }
    assert_eq!(page, 3);
    assert_eq!(seen, tokens, "creation order under Sort DateCreated");
    let past = t.list(&admin, t.list_body(9, 3)).await.result();
    assert_eq!(past["Users"], json!([]));
    assert_eq!(past["TotalUsers"], 7);
    assert_eq!(past["HasNextPage"], false);
    let empty = start().await;
    let admin = empty.admin_token().await;
    let none = empty.list(&admin, empty.list_body(1, 50)).await.result();
    assert_eq!(
        (
            none["TotalUsers"].clone(),
            none["TotalPages"].clone(),
            none["HasNextPage"].clone()
        ),
        (json!(0), json!(0), json!(false))
    );
}

/// Notes §5.4: `PageNumber` and `PageSize` are required (at least 1); S1's
/// `Filters`/`Pagination` body (UNVERIFIED, contradicted by S2 and S14) therefore fails
/// validation instead of silently listing something else.
#[tokio::test]
async fn listing_requires_page_number_and_page_size() {
    let t = start().await;
    let admin = t.admin_token().await;
    let s1_form = json!({
        "Filters": [{"Name": "InstanceId", "Value": t.config().instance.id}],
        "Pagination": {"Page": 1, "PageSize": 50},
    });
    assert_eq!(
        t.list(&admin, s1_form).await.validation_keys(),
        ["PageNumber", "PageSize"]
    );
    let mut zero = t.list_body(0, 50);
    zero["PageSize"] = json!(0);
    assert_eq!(
        t.list(&admin, zero).await.validation_keys(),
        ["PageNumber", "PageSize"]
    );
    let mut bad_sort = t.list_body(1, 50);
    bad_sort["Sort"] = json!("Created");
    assert_eq!(t.list(&admin, bad_sort).await.validation_keys(), ["$.Sort"]);
}

/// Notes §5.4 (`InstanceIds` scopes to one instance; `ApplicationIds` not required), §8.4
/// (instance membership is `AccountInfo.InstanceId`): the admin sees every instance of its
/// company, and the filter keeps only the named instance's users.
#[tokio::test]
async fn listing_filters_by_instance() {
    let t = start().await;
    register_n(&t, 2).await;
    let other = t.sandbox.seed(|s| {
        let other = s.add_instance("Other");
        let mut u = User::new(&other.id);
        u.fields.client_id = Some("elsewhere".into());
        s.add_user(u).unwrap();
        other
    });
    let admin = t.admin_token().await;
    assert_eq!(
        t.list(&admin, t.list_body(1, 50)).await.result()["TotalUsers"],
        2
    );
    let mut everything = t.list_body(1, 50);
    everything.as_object_mut().unwrap().remove("InstanceIds");
    let all = t.list(&admin, everything).await.result();
    assert_eq!(all["TotalUsers"], 3);
    let instances: BTreeSet<String> = all["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["AccountInfo"]["InstanceId"].as_str().unwrap().to_string())
        .collect();
    assert!(instances.contains(&other.id));
    let mut by_app = t.list_body(1, 50);
    by_app["ApplicationIds"] = json!([telematics_sandbox::APPLICATION_ID]);
    assert_eq!(t.list(&admin, by_app).await.result()["TotalUsers"], 2);
    let mut bad = t.list_body(1, 50);
    bad["InstanceIds"] = json!(["not-a-uuid"]);
    assert_eq!(
        t.list(&admin, bad).await.validation_keys(),
        ["$.InstanceIds[0]"]
    );
}

/// Notes §5.5: `UserFields` is read as an array holding one object with ClientId and the four
/// flags (capital T in `EnableRealTimeLocation`), in `find` and in the listing alike.
#[tokio::test]
async fn user_fields_are_read_as_an_array_of_one() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let listed = t.list(&admin, t.list_body(1, 10)).await.result()["Users"][0].clone();
    let found = t.find_one(&admin, &token).await;
    for user in [&listed, &found] {
        let fields = user["UserFields"].as_array().expect("an array");
        assert_eq!(fields.len(), 1);
        assert_eq!(
            fields[0].as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "ClientId",
                "EnableLogging",
                "EnableRealTimeLocation",
                "EnableTracking",
                "Enabled"
            ]
        );
    }
}

/// Notes §5.5: the user object's keys and their order, as the live samples show them.
#[tokio::test]
async fn the_user_object_has_the_documented_shape() {
    let t = start().await;
    t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let user = t.list(&admin, t.list_body(1, 10)).await.result()["Users"][0].clone();
    assert_eq!(
        user.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "DeviceToken",
            "DateCreated",
            "Status",
            "ActivityStatus",
            "UserProfile",
            "MobileDevice",
            "AccountInfo",
            "UserWallets",
            "IdentityId",
            "IdentityProvider",
            "UserFields",
        ]
    );
    assert_eq!(
        user["UserProfile"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "FirstName",
            "LastName",
            "Gender",
            "Birthday",
            "MaritalStatus",
            "ChildrenCount",
            "Address",
            "Country",
            "District",
            "City",
            "Nickname",
            "Email",
            "Phone",
            "ImageUrl",
            "ExternalImageUrl",
        ]
    );
    // DateCreated is a .NET DateTime without zone, e.g. 2026-06-12T04:51:03.3227368.
    let created = user["DateCreated"].as_str().unwrap();
    assert!(!created.ends_with('Z'), "{created}");
    assert_eq!(&created[10..11], "T");
    assert_eq!(user["UserProfile"]["Gender"], "None");
}

/// Notes §5.3, §5.5: without `IncludeAccountInfo` the AccountInfo names are null (the ids stay).
#[tokio::test]
async fn account_info_names_need_include_account_info() {
    let t = start().await;
    t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let named =
        t.list(&admin, t.list_body(1, 10)).await.result()["Users"][0]["AccountInfo"].clone();
    assert_eq!(named["InstanceName"], t.config().instance.name.as_str());
    assert!(named["CompanyName"].is_string());
    let mut body = t.list_body(1, 10);
    body["IncludeAccountInfo"] = json!(false);
    let bare = t.list(&admin, body).await.result()["Users"][0]["AccountInfo"].clone();
    assert_eq!(bare["InstanceId"], named["InstanceId"]);
    assert_eq!(bare["CompanyId"], named["CompanyId"]);
    for name in ["CompanyName", "ApplicationName", "InstanceName"] {
        assert_eq!(bare[name], Value::Null, "{name}");
    }
}

/// Notes §5.4, §5.5: ActivityStatus reads `"No Data"` with a space, filters as `"NoData"`
/// without one (`"No Data"` as a filter is a 422), and an empty filter list means all.
#[tokio::test]
async fn activity_status_reads_no_data_with_a_space_and_filters_without() {
    let t = start().await;
    t.register_client("fresh").await;
    t.sandbox.seed(|s| {
        let mut u = User::new(&t.config().instance.id);
        u.activity_status = ActivityStatus::Lost;
        u.fields.client_id = Some("lost".into());
        s.add_user(u).unwrap();
    });
    let admin = t.admin_token().await;
    let all = t.list(&admin, t.list_body(1, 10)).await.result();
    assert_eq!(all["Users"][0]["ActivityStatus"], "No Data");
    assert_eq!(all["Users"][1]["ActivityStatus"], "Lost");
    let mut body = t.list_body(1, 10);
    body["ActivityStatuses"] = json!(["NoData"]);
    assert_eq!(
        client_ids(&t.list(&admin, body.clone()).await.result()),
        ["fresh"]
    );
    body["ActivityStatuses"] = json!(["No Data"]);
    assert_eq!(
        t.list(&admin, body).await.validation_keys(),
        ["$.ActivityStatuses"]
    );
}

/// Notes §5.5 (S1/S2 live samples): small differences between the two reads: IdentityProvider
/// `Firebase` in `find` but `firebase` in the listing; `UserWallets` `[]` versus `null`.
#[tokio::test]
async fn find_and_the_listing_differ_in_identity_provider_case_and_wallets() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    t.update(
        &admin,
        &token,
        json!({"IdentityId": "identity-1", "IdentityProvider": "Firebase"}),
    )
    .await
    .result();
    let found = t.find_one(&admin, &token).await;
    let listed = t.list(&admin, t.list_body(1, 10)).await.result()["Users"][0].clone();
    assert_eq!(found["IdentityProvider"], "Firebase");
    assert_eq!(listed["IdentityProvider"], "firebase");
    assert_eq!(found["UserWallets"], json!([]));
    assert_eq!(listed["UserWallets"], Value::Null);
    assert_eq!(found["IdentityId"], listed["IdentityId"]);
}

/// Notes §5.4 (`Sort`: `<Field>` or `<Field>Desc`): sorting by a profile field, absent values
/// first, and descending.
#[tokio::test]
async fn sort_orders_by_the_named_field_and_desc_reverses() {
    let t = start().await;
    for (client, last) in [("a", Some("Zed")), ("b", None), ("c", Some("adams"))] {
        let mut body = json!({"CreateAccessToken": false, "UserFields": {"ClientId": client}});
        if let Some(last) = last {
            body["LastName"] = json!(last);
        }
        t.register(body).await.result();
    }
    let admin = t.admin_token().await;
    let mut body = t.list_body(1, 10);
    body["Sort"] = json!("LastName");
    assert_eq!(
        client_ids(&t.list(&admin, body.clone()).await.result()),
        ["b", "c", "a"]
    );
    body["Sort"] = json!("lastnamedesc");
    assert_eq!(
        client_ids(&t.list(&admin, body.clone()).await.result()),
        ["a", "c", "b"]
    );
    body["Sort"] = json!("DateCreatedDesc");
    assert_eq!(
        client_ids(&t.list(&admin, body).await.result()),
        ["c", "b", "a"]
    );
}

/// Notes §5.4 (no documented page-size maximum): `SandboxConfig::max_page_size` caps
/// `PageSize` silently; the totals and `HasNextPage` follow the capped size, so a client that
/// walks `HasNextPage` still sees everyone.
#[tokio::test]
async fn a_page_size_cap_is_applied_silently() {
    let t = start_with(SandboxConfig {
        max_page_size: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    register_n(&t, 3).await;
    let admin = t.admin_token().await;
    let page = t.list(&admin, t.list_body(1, 1000)).await.result();
    assert_eq!(page["Users"].as_array().unwrap().len(), 2);
    assert_eq!(page["TotalUsers"], 3);
    assert_eq!(page["TotalPages"], 2);
    assert_eq!(page["HasNextPage"], true);
}

/// Notes §5.4 (Content-Type `application/json-patch+json` [S2], plain JSON also used [S14]).
#[tokio::test]
async fn the_listing_accepts_json_patch_and_plain_json() {
    let t = start().await;
    register_n(&t, 1).await;
    let admin = t.admin_token().await;
    let body = t.list_body(1, 10).to_string();
    for content_type in ["application/json-patch+json", "application/json"] {
        let result = t
            .send(
                "POST",
                "/v1/Management/users/GetFilteredPage",
                Req::new().bearer(&admin).raw(content_type, &body),
            )
            .await
            .result();
        assert_eq!(result["TotalUsers"], 1, "{content_type}");
    }
}

/// Notes §5.4 (`SearchTerm`, `Country`, `City`, `RtdEnabled`, `DateCreatedFrom`/`To`): the
/// other filters narrow the listing.
#[tokio::test]
async fn the_other_filters_narrow_the_listing() {
    let t = start().await;
    t.register(json!({"FirstName": "Anna", "City": "Graz", "UserFields": {"ClientId": "anna", "EnableRealTimeLocation": true}}))
        .await
        .result();
    t.register(json!({"FirstName": "Bert", "City": "Wien", "UserFields": {"ClientId": "bert"}}))
        .await
        .result();
    let admin = t.admin_token().await;
    let with = |key: &str, value: Value| {
        let mut body = t.list_body(1, 10);
        body[key] = value;
        body
    };
    let ids = |body| async { client_ids(&t.list(&admin, body).await.result()) };
    assert_eq!(ids(with("SearchTerm", json!("ann"))).await, ["anna"]);
    assert_eq!(ids(with("City", json!("wien"))).await, ["bert"]);
    assert_eq!(ids(with("RtdEnabled", json!(true))).await, ["anna"]);
    assert_eq!(ids(with("RtdEnabled", json!(false))).await, ["bert"]);
    assert_eq!(
        ids(with("DateCreatedFrom", json!("2000-01-01"))).await,
        ["anna", "bert"]
    );
    assert_eq!(
        ids(with("DateCreatedTo", json!("2000-01-01"))).await,
        Vec::<String>::new()
    );
}

/// Notes §5.6 (write `Deleted` is a soft state), §5.5 (read `Active`/`Inactive`): a soft-deleted
/// user is listed with `ShowInactiveUsers` and reads `Inactive` (the sandbox's choice).
#[tokio::test]
async fn a_soft_deleted_user_reads_inactive() {
    let t = start().await;
    t.sandbox.seed(|s| {
        let mut u = User::new(&t.config().instance.id);
        u.status = AccountStatus::Deleted;
        u.fields.client_id = Some("gone".into());
        s.add_user(u).unwrap();
    });
    let admin = t.admin_token().await;
    let page = t.list(&admin, t.list_body(1, 10)).await.result();
    assert_eq!(page["Users"][0]["Status"], "Inactive");
}
