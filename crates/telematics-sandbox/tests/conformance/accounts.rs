//! The Accounts API reads served on the same port (notes §6, §3).

use serde_json::Value;
use telematics_sandbox::{APPLICATION_ID, COMPANY_ID};

use crate::harness::{Req, start};

/// Notes §6, §5 of S5: `GET /v1/Instances/{InstanceId}` answers the instance with its `Key`
/// (the InstanceKey), PascalCase, `Status` as a string.
#[tokio::test]
async fn instance_details_carry_the_instance_key() {
    let t = start().await;
    let admin = t.admin_token().await;
    let instance = t
        .send(
            "GET",
            &format!("/v1/Instances/{}", t.config().instance.id),
            Req::new().bearer(&admin),
        )
        .await
        .result();
    assert_eq!(instance["Id"], t.config().instance.id.as_str());
    assert_eq!(instance["Key"], t.config().instance.key.as_str());
    assert_eq!(instance["Status"], "Active");
    assert_eq!(instance["AppId"], APPLICATION_ID);
    assert_eq!(instance["CompanyId"], COMPANY_ID);
    let listed = t
        .send(
            "GET",
            &format!("/v1/applications/{APPLICATION_ID}/instances"),
            Req::new().bearer(&admin),
        )
        .await
        .result();
    assert_eq!(listed[0], instance);
}

/// Notes §3, §6: a missing application or instance is HTTP 200 with `Result: null`, not 404.
#[tokio::test]
async fn a_missing_application_or_instance_is_200_with_a_null_result() {
    let t = start().await;
    let admin = t.admin_token().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/v1/Instances/{missing}"),
        format!("/v1/Applications/{missing}"),
        format!("/v1/applications/{missing}/instances"),
    ] {
        let r = t.send("GET", &path, Req::new().bearer(&admin)).await;
        assert_eq!(r.result(), Value::Null, "{path}");
        assert!(r.json().get("Result").is_some(), "Result: null is present");
    }
}

/// Notes §4, §6 (the Accounts API's casing is inconsistent on purpose; use its paths exactly):
/// `/v1/Instances` and `/v1/applications/{id}/instances` match only as written.
#[tokio::test]
async fn accounts_paths_match_only_as_written() {
    let t = start().await;
    let admin = t.admin_token().await;
    for path in [
        format!("/v1/instances/{}", t.config().instance.id),
        format!("/v1/Applications/{APPLICATION_ID}/instances"),
    ] {
        t.send("GET", &path, Req::new().bearer(&admin))
            .await
            .expect(404);
    }
}

/// Notes §6 and S5: the application answers its instances (Id, Key, Name, Status) only with
/// `includeInstances=true`; the company's application list has none.
#[tokio::test]
async fn an_application_lists_its_instances_only_when_asked() {
    let t = start().await;
    let admin = t.admin_token().await;
    let get = async |path: String| t.send("GET", &path, Req::new().bearer(&admin)).await;
    let plain = get(format!("/v1/Applications/{APPLICATION_ID}"))
        .await
        .result();
    assert_eq!(plain["Instances"], Value::Null);
    let with = get(format!(
        "/v1/Applications/{APPLICATION_ID}?includeInstances=true"
    ))
    .await
    .result();
    assert_eq!(
        with["Instances"][0]["Key"],
        t.config().instance.key.as_str()
    );
    let apps = get(format!("/v1/companies/{COMPANY_ID}/applications"))
        .await
        .result();
    assert_eq!(apps[0]["Id"], APPLICATION_ID);
    assert!(apps[0].get("Instances").is_none());
}
