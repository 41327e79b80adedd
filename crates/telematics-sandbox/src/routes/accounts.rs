//! The read side of the Accounts API (notes §6), served on the same port: the company's
//! applications, one application (with its instances on `?includeInstances=true`), an
//! application's instances, and one instance with its `Key`. A missing object is HTTP 200 with
//! `Result: null`, not a 404 (notes §3, §6). Writes (creating, changing or deleting
//! applications and instances) are not served.

use serde_json::{Value, json};

use super::Ctx;
use crate::store::{Application, Instance, Store};
use crate::wire::{ApiError, ok};

fn application_json(app: &Application) -> Value {
    json!({
        "Id": app.id,
        "Name": app.name,
        "Description": app.description,
        "Status": "Active",
        "GooglePlayLink": null,
        "AppleStoreLink": null,
        "Environment": app.environment,
    })
}

fn instance_json(store: &Store, i: &Instance) -> Value {
    json!({
        "Id": i.id,
        "Key": i.key,
        "Name": i.name,
        "Description": i.description,
        "Status": "Active",
        "InviteCode": i.invite_code,
        "AppId": i.application_id,
        "AppName": store.application(&i.application_id).map(|a| a.name.clone()),
        "CompanyId": store.company().id,
    })
}

fn param(ctx: &Ctx<'_>) -> String {
    ctx.param.clone().unwrap_or_default()
}

pub fn company_applications(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let store = &*ctx.store;
    if !store.company().id.eq_ignore_ascii_case(&param(ctx)) {
        return Ok(ok(Some(Value::Null)));
    }
    let apps: Vec<Value> = store.applications().iter().map(application_json).collect();
    Ok(ok(Some(Value::Array(apps))))
}

pub fn application(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let store = &*ctx.store;
    let Some(app) = store.application(&param(ctx)) else {
        return Ok(ok(Some(Value::Null)));
    };
    let mut result = application_json(app);
    let include = ctx
        .query
        .get("includeInstances")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    result["Instances"] = if include {
        store
            .instances()
            .iter()
            .filter(|i| i.application_id.eq_ignore_ascii_case(&app.id))
            .map(|i| json!({"Id": i.id, "Key": i.key, "Name": i.name, "Status": "Active"}))
            .collect()
    } else {
        Value::Null
    };
    Ok(ok(Some(result)))
}

pub fn application_instances(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let store = &*ctx.store;
    let Some(app) = store.application(&param(ctx)) else {
        return Ok(ok(Some(Value::Null)));
    };
    let instances: Vec<Value> = store
        .instances()
        .iter()
        .filter(|i| i.application_id.eq_ignore_ascii_case(&app.id))
        .map(|i| instance_json(store, i))
        .collect();
    Ok(ok(Some(Value::Array(instances))))
}

pub fn instance(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let store = &*ctx.store;
    Ok(ok(Some(
        store
            .instance(&param(ctx))
            .map_or(Value::Null, |i| instance_json(store, i)),
    )))
}
