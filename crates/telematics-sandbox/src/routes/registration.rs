//! `POST /v1/Registration/create` (notes §5.1) and, only behind
//! [`SandboxConfig::create_many`](crate::SandboxConfig::create_many), the UNVERIFIED bulk
//! `POST /v1/Registration/CreateMany` (notes §5.2).
//!
//! Registration takes no JWT but the `InstanceId` + `InstanceKey` headers. It is not
//! idempotent: every accepted call creates a user, so a client that lost an answer must read
//! back, never register again (notes §3). Rules chosen where the notes are silent:
//! - a missing instance header is a 422 naming the header; an unknown InstanceId or a wrong
//!   InstanceKey is a 401 envelope; either way nothing is created;
//! - `CustomToken` must be a UUID; one that is already a DeviceToken is a 422 (the notes leave
//!   a duplicate CustomToken open; refusing is the answer that can never create a second user);
//! - `Status` and `InstanceInviteCode` in the body are ignored (project excerpt only);
//!   `Country`, `District`, `City` are accepted (the project excerpt lists them);
//! - flags left out take the defaults of [`UserFields`](crate::UserFields).

use serde_json::{Value, json};

use super::Ctx;
use super::auth::token_result;
use crate::auth::Principal;
use crate::store::{Instance, User, parse_uuid};
use crate::wire::{ApiError, FieldError, FieldsPatch, Obj, Patch, ProfilePatch, conversion, ok};

/// A validated registration body.
struct Registration {
    custom_token: Option<String>,
    create_access_token: bool,
    profile: ProfilePatch,
    fields: FieldsPatch,
}

fn read(body: &Obj<'_>, errors: &mut Vec<FieldError>) -> Registration {
    let custom_token = match body.string("CustomToken", errors) {
        Patch::Set(s) => match parse_uuid(&s) {
            Some(u) => Some(u),
            None => {
                errors.push(FieldError::new(
                    "CustomToken",
                    format!("'{s}' is not a valid CustomToken: it must be a UUID."),
                ));
                None
            }
        },
        _ => None,
    };
    let create_access_token = !matches!(body.bool("CreateAccessToken", errors), Patch::Set(false));
    Registration {
        custom_token,
        create_access_token,
        profile: ProfilePatch::read(body, errors),
        fields: FieldsPatch::read(body, errors),
    }
}

/// The instance the headers name, or the refusal.
fn instance(ctx: &Ctx<'_>, errors: &mut Vec<FieldError>) -> Result<Option<Instance>, ApiError> {
    let id = ctx.header("InstanceId").filter(|v| !v.is_empty());
    let key = ctx.header("InstanceKey").filter(|v| !v.is_empty());
    for (name, value) in [("InstanceId", id), ("InstanceKey", key)] {
        if value.is_none() {
            errors.push(FieldError::new(
                name,
                format!("The {name} header is required."),
            ));
        }
    }
    let (Some(id), Some(key)) = (id, key) else {
        return Ok(None);
    };
    match ctx.store.instance(id) {
        Some(instance) if instance.key.eq_ignore_ascii_case(key) => Ok(Some(instance.clone())),
        _ => Err(ApiError::Status(
            401,
            "Invalid InstanceId or InstanceKey.".into(),
        )),
    }
}

fn register(ctx: &mut Ctx<'_>, instance: &Instance, reg: Registration) -> Result<Value, ApiError> {
    let mut user = User::new(&instance.id);
    if let Some(token) = reg.custom_token {
        user.device_token = token;
    }
    reg.profile.apply(&mut user.profile);
    reg.fields.apply(&mut user.fields);
    // The token was checked free and the instance found under this same lock, so this
    // cannot fail; if it did, it is the sandbox's bug, answered as a 500.
    let token = ctx
        .store
        .add_user(user)
        .map_err(|e| ApiError::Status(500, format!("sandbox: {e}")))?;
    if reg.create_access_token {
        let principal = Principal::User {
            device_token: token,
            instance_id: instance.id.clone(),
        };
        let issued = ctx.auth.issue(
            principal.clone(),
            ctx.store.now(),
            ctx.config.registration_token_lifetime,
            ctx.config.refresh_token_lifetime,
        );
        Ok(token_result(&principal, &issued))
    } else {
        Ok(json!({"DeviceToken": token, "AccessToken": null, "RefreshToken": null}))
    }
}

fn duplicate_token(ctx: &Ctx<'_>, reg: &Registration, key: &str) -> Option<FieldError> {
    let token = reg.custom_token.as_deref()?;
    ctx.store.user(token).map(|_| {
        FieldError::new(
            key,
            format!("A user with DeviceToken {token} already exists."),
        )
    })
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let body = Obj::body(&ctx.body, &mut errors);
    let reg = body.as_ref().map(|b| read(b, &mut errors));
    let instance = instance(ctx, &mut errors)?;
    if let Some(e) = reg
        .as_ref()
        .and_then(|r| duplicate_token(ctx, r, "CustomToken"))
    {
        errors.push(e);
    }
    let (Some(reg), Some(instance), true) = (reg, instance, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let result = register(ctx, &instance, reg)?;
    Ok(ok(Some(result)))
}

/// UNVERIFIED bulk registration, in the shape the issue calls most likely: a JSON array of
/// single-registration bodies, answered with an array of single-registration results in the
/// same order. All-or-nothing: any invalid entry (or a CustomToken repeated within the batch or
/// already taken) refuses the whole batch with a 422 whose keys are `[i].Field`.
pub fn create_many(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let items = match &ctx.body {
        Value::Array(items) => items.clone(),
        _ => {
            errors.push(conversion("$", "an array of registrations"));
            Vec::new()
        }
    };
    let mut regs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(body) = Obj::at(item, format!("$[{i}]")) else {
            errors.push(conversion(&format!("$[{i}]"), "an object"));
            continue;
        };
        let mut item_errors = Vec::new();
        let reg = read(&body, &mut item_errors);
        let key = format!("[{i}].CustomToken");
        if let Some(e) = duplicate_token(ctx, &reg, &key) {
            item_errors.push(e);
        }
        if let Some(token) = &reg.custom_token
            && !seen.insert(token.clone())
        {
            item_errors.push(FieldError::new(
                key,
                format!("DeviceToken {token} appears twice in this batch."),
            ));
        }
        errors.extend(item_errors.into_iter().map(|mut e| {
            if !e.key.starts_with('$') && !e.key.starts_with('[') {
                e.key = format!("[{i}].{}", e.key);
            }
            e
        }));
        regs.push(reg);
    }
    let instance = instance(ctx, &mut errors)?;
    let (Some(instance), true) = (instance, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let mut results = Vec::new();
    for reg in regs {
        results.push(register(ctx, &instance, reg)?);
    }
    Ok(ok(Some(Value::Array(results))))
}
