//! `POST /v1/Auth/Login` and `POST /v1/Auth/RefreshToken` (notes §2.1, §2.2, §2.4).
//!
//! Login takes `LoginFields` as a JSON-encoded *string* (the documented form): `{"email": ...}`
//! with the admin API password, or `{"Devicetoken": ...}` with the InstanceKey as password and
//! an `InstanceId` header. Inner keys are matched exactly, so `DeviceToken` is a bare 401 (notes
//! §2.1). Every login attempt, good or bad, counts against the per-address limit, which is
//! checked (in `lib.rs`) before the body is even read.

use serde_json::{Value, json};

use super::Ctx;
use crate::auth::{Issued, Principal};
use crate::store::{AccountStatus, parse_uuid};
use crate::wire::{ApiError, FieldError, Obj, Patch, ok};

fn required_string(body: &Obj<'_>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match body.string(key, errors) {
        Patch::Set(s) => Some(s),
        Patch::Absent | Patch::Null => {
            if body.get(key).is_none_or(Value::is_null) {
                errors.push(FieldError::new(
                    key,
                    format!("The {key} field is required."),
                ));
            }
            None
        }
    }
}

/// `Result` of a login, refresh or registration with a token: the user's DeviceToken first
/// when the principal is a user (the admin answer has none).
pub fn token_result(principal: &Principal, issued: &Issued) -> Value {
    let mut result = serde_json::Map::new();
    if let Principal::User { device_token, .. } = principal {
        result.insert("DeviceToken".into(), json!(device_token));
    }
    result.insert(
        "AccessToken".into(),
        json!({"Token": issued.token, "ExpiresIn": issued.expires_in}),
    );
    result.insert("RefreshToken".into(), json!(issued.refresh_token));
    Value::Object(result)
}

pub fn login(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let body = Obj::body(&ctx.body, &mut errors);
    let (login_fields, password) = match &body {
        Some(body) => (
            required_string(body, "LoginFields", &mut errors),
            required_string(body, "Password", &mut errors),
        ),
        None => (None, None),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (Some(login_fields), Some(password)) = (login_fields, password) else {
        return Err(ApiError::LoginRefused);
    };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&login_fields) else {
        return Err(ApiError::LoginRefused);
    };
    let now = ctx.store.now();
    let principal = if let Some(Value::String(email)) = fields.get("email") {
        let admin = &ctx.config.admin;
        if !email.eq_ignore_ascii_case(&admin.email) || password != admin.password {
            return Err(ApiError::LoginRefused);
        }
        Principal::Admin(admin.email.clone())
    } else if let Some(Value::String(device_token)) = fields.get("Devicetoken") {
        let instance_id = ctx.header("InstanceId").ok_or(ApiError::LoginRefused)?;
        let instance = ctx
            .store
            .instance(instance_id)
            .ok_or(ApiError::LoginRefused)?;
        if instance.key != password {
            return Err(ApiError::LoginRefused);
        }
        let instance_id = instance.id.clone();
        let token = parse_uuid(device_token).ok_or(ApiError::LoginRefused)?;
        let user = ctx.store.user(&token).ok_or(ApiError::LoginRefused)?;
        if user.instance_id != instance_id || user.status == AccountStatus::Deleted {
            return Err(ApiError::LoginRefused);
        }
        Principal::User {
            device_token: token,
            instance_id,
        }
    } else {
        return Err(ApiError::LoginRefused);
    };
    let issued = ctx.auth.issue(
        principal.clone(),
        now,
        ctx.config.access_token_lifetime,
        ctx.config.refresh_token_lifetime,
    );
    Ok(ok(Some(token_result(&principal, &issued))))
}

pub fn refresh(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let body = Obj::body(&ctx.body, &mut errors);
    let (access, refresh) = match &body {
        Some(body) => (
            required_string(body, "AccessToken", &mut errors),
            required_string(body, "RefreshToken", &mut errors),
        ),
        None => (None, None),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (Some(access), Some(refresh)) = (access, refresh) else {
        return Err(ApiError::LoginRefused);
    };
    let now = ctx.store.now();
    let (principal, issued) = ctx
        .auth
        .refresh(
            &access,
            &refresh,
            now,
            ctx.config.access_token_lifetime,
            ctx.config.refresh_token_lifetime,
        )
        .ok_or(ApiError::LoginRefused)?;
    Ok(ok(Some(token_result(&principal, &issued))))
}
