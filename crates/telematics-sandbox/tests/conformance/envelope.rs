//! The envelope, error answers, routing, casing and content types (notes §3, §4).

use serde_json::{Value, json};

use crate::harness::{Req, start};

/// Notes §3: every answer with a payload is `{"Result", "Status": 200, "Title": "", "Errors": []}`,
/// keys in that order, Content-Type JSON.
#[tokio::test]
async fn every_answer_is_wrapped_in_the_envelope() {
    let t = start().await;
    let r = t.login().await;
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Result", "Status", "Title", "Errors"]
    );
    assert_eq!(body["Status"], 200);
    assert_eq!(body["Title"], "");
    assert_eq!(body["Errors"], json!([]));
}

/// Notes §3 (mutations return the envelope with no `Result`; S1's live PUT, DELETE and
/// change-instance samples have no `Result` key).
#[tokio::test]
async fn mutations_answer_without_result() {
    let t = start().await;
    let token = t.register_client("drv-1").await;
    let admin = t.admin_token().await;
    let r = t.update(&admin, &token, json!({"FirstName": "Max"})).await;
    r.expect(200);
    assert_eq!(r.text, r#"{"Status":200,"Title":"","Errors":[]}"#);
}

/// Notes §3: validation failures are HTTP 422 with `Status` 422, `Title` "One or more
/// validation errors occurred." and `Errors[]` of `{Key, Message}`, without `Result`.
#[tokio::test]
async fn validation_errors_are_422_with_keys_and_messages() {
    let t = start().await;
    let r = t.register(json!({"Gender": "Robot"})).await;
    r.expect(422);
    let body = r.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Status", "Title", "Errors"]
    );
    assert_eq!(body["Status"], 422);
    assert_eq!(body["Title"], "One or more validation errors occurred.");
    assert_eq!(body["Errors"][0]["Key"], "$.Gender");
    assert!(
        body["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("Robot")
    );
}

/// Notes §4 (the catalogue): a path the service does not serve is a 404 with an empty body; a
/// served path with another method is a 405 with `Allow`. The third-party-only
/// `POST /v1/Management/users/count` (UNVERIFIED) is not served: its path matches
/// `DELETE /v1/Management/users/{DeviceToken}`, so it is a 405.
#[tokio::test]
async fn an_unknown_path_is_a_bare_404_and_a_wrong_method_a_405() {
    let t = start().await;
    for (method, path) in [
        ("GET", "/v1/Nothing"),
        ("POST", "/v1/Management/things"),
        ("GET", "/api/users"),
        ("GET", "/"),
    ] {
        let r = t.send(method, path, Req::new()).await;
        assert_eq!((r.status, r.text.as_str()), (404, ""), "{method} {path}");
    }
    let r = t
        .send("POST", "/v1/Management/users/count", Req::new())
        .await;
    assert_eq!((r.status, r.header("allow")), (405, Some("DELETE".into())));
    let r = t.send("DELETE", "/v1/Auth/Login", Req::new()).await;
    r.expect(405);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let r = t.send("PATCH", "/v1/Management/users", Req::new()).await;
    assert_eq!(r.header("allow").as_deref(), Some("GET, PUT"));
}

/// Notes §4 (path casing: official clients mix `Registration/create` and
/// `registration/Create`; inferred case-insensitive, UNVERIFIED): user-service paths match in
/// any case.
#[tokio::test]
async fn user_service_paths_match_in_any_case() {
    let t = start().await;
    let r = t
        .send(
            "POST",
            "/v1/registration/Create",
            t.instance_headers(Req::new()).json(json!({})),
        )
        .await;
    r.result();
    let admin = t.admin_token().await;
    t.send(
        "GET",
        "/v1/management/Users/FIND?ClientId=x",
        Req::new().bearer(&admin),
    )
    .await
    .result();
}

/// Notes §4 (body keys: Android clients send camelCase; model binding inferred to ignore case,
/// UNVERIFIED): body keys bind in any case.
#[tokio::test]
async fn body_keys_bind_in_any_case() {
    let t = start().await;
    let result = t
        .register(json!({"createAccessToken": false, "firstName": "Max",
                         "userFields": {"clientId": "drv-1", "enableTracking": false}}))
        .await
        .result();
    assert_eq!(result["AccessToken"], Value::Null);
    let admin = t.admin_token().await;
    let user = t
        .find_one(&admin, result["DeviceToken"].as_str().unwrap())
        .await;
    assert_eq!(user["UserProfile"]["FirstName"], "Max");
    assert_eq!(user["UserFields"][0]["ClientId"], "drv-1");
    assert_eq!(user["UserFields"][0]["EnableTracking"], false);
}

/// Notes §4 (Content-Type: `application/json` and `application/json-patch+json` both work): a
/// JSON body sent as anything else is a 415; an empty or malformed body is a 422.
#[tokio::test]
async fn a_body_needs_a_json_content_type_and_valid_json() {
    let t = start().await;
    let form = t
        .send(
            "POST",
            "/v1/Registration/create",
            t.instance_headers(Req::new())
                .raw("application/x-www-form-urlencoded", "{}"),
        )
        .await;
    assert_eq!((form.status, form.text.as_str()), (415, ""));
    let empty = t
        .send(
            "POST",
            "/v1/Registration/create",
            t.instance_headers(Req::new()).raw("application/json", ""),
        )
        .await;
    assert_eq!(empty.validation_keys(), [""]);
    let broken = t
        .send(
            "POST",
            "/v1/Registration/create",
            t.instance_headers(Req::new())
                .raw("application/json", "{\"FirstName\":"),
        )
        .await;
    assert_eq!(broken.validation_keys(), ["$"]);
    let patch = t
        .send(
            "POST",
            "/v1/Registration/create",
            t.instance_headers(Req::new())
                .raw("application/json-patch+json", "{}"),
        )
        .await;
    patch.result();
    assert_eq!(t.sandbox.seed(|s| s.user_count()), 1);
}
