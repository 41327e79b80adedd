//! `/v1/Management/users…`: find, the paged listing, update, delete, change of instance, and the
//! user's own profile (notes §5.3–§5.8). Every route but the own profile needs the admin JWT;
//! the admin credential's scope is the whole company, so `find` and an unfiltered listing
//! return users of every instance (a client filters by `AccountInfo.InstanceId`).
//!
//! Rules chosen where the notes are silent or UNVERIFIED, each the one that keeps a wrong guess
//! visible to a client rather than hiding it:
//! - `Enabled` and `Status` are independent: writing one never changes the other, and only
//!   `Status` decides read `Status: "Inactive"` and what `ShowInactiveUsers=false` hides;
//! - PUT is a partial update: a field left out is unchanged, a field sent as `null` is cleared
//!   (a `null` flag or `Gender` is left alone / refused); an invalid field refuses the whole
//!   body with a 422 and changes nothing;
//! - `Status` is written only as `Active`, `Deactivated` or `Deleted` (names, any case): the
//!   read value `Inactive` and integers are 422; `Deleted` reads back as `Inactive`;
//! - an admin PUT without `UserDeviceToken` is a 403 envelope (the notes: 403, maybe 422);
//! - `find` compares text case-insensitively, as a database with a case-insensitive collation
//!   would, so `ClientId=drv-1` also finds `DRV-1`;
//! - the listing has no page-size maximum unless
//!   [`SandboxConfig::max_page_size`](crate::SandboxConfig::max_page_size) sets one, which caps
//!   `PageSize` silently; `PageNumber` and `PageSize` below 1 are 422; `Sort` left out sorts by
//!   DeviceToken (the enum's first value); ties keep creation order.

use std::cmp::Reverse;

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::Ctx;
use crate::auth::Principal;
use crate::store::{ActivityStatus, User, parse_uuid};
use crate::wire::{
    ApiError, FieldError, FieldsPatch, Obj, Patch, ProfilePatch, STATUS_WRITE_NAMES, View,
    conversion, ok, user_json,
};

pub fn own_profile(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let Some(Principal::User { device_token, .. }) = &ctx.principal else {
        return Err(ApiError::Forbidden);
    };
    let user = ctx
        .store
        .user(device_token)
        .ok_or_else(|| ApiError::not_found("User not found."))?;
    Ok(ok(Some(user_json(user, ctx.store, true, View::Find))))
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let header = ctx.header("UserDeviceToken").filter(|v| !v.is_empty());
    let target = match &ctx.principal {
        Some(Principal::User { device_token, .. }) => match header {
            Some(h) if !h.eq_ignore_ascii_case(device_token) => return Err(ApiError::Forbidden),
            _ => device_token.clone(),
        },
        _ => header
            .ok_or_else(|| {
                ApiError::Status(
                    403,
                    "The UserDeviceToken header is required to update a user.".into(),
                )
            })?
            .to_string(),
    };
    let target = parse_uuid(&target)
        .filter(|t| ctx.store.user(t).is_some())
        .ok_or_else(|| ApiError::not_found("User not found."))?;

    let mut errors = Vec::new();
    let Some(body) = Obj::body(&ctx.body, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let profile = ProfilePatch::read(&body, &mut errors);
    let fields = FieldsPatch::read(&body, &mut errors);
    let status = body.name_of("Status", &STATUS_WRITE_NAMES, &mut errors);
    if status == Patch::Null {
        errors.push(conversion("$.Status", "UserStatus"));
    }
    let external_image_url = body.string("ExternalImageUrl", &mut errors);
    let identity_id = body.string("IdentityId", &mut errors);
    let identity_provider = body.string("IdentityProvider", &mut errors);
    let new_password = body.string("NewPassword", &mut errors);
    let old_password = body.string("OldPassword", &mut errors);
    if matches!(new_password, Patch::Set(_)) && !matches!(old_password, Patch::Set(_)) {
        errors.push(FieldError::new(
            "OldPassword",
            "OldPassword is required to set NewPassword.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let user = ctx
        .store
        .user_mut(&target)
        .ok_or_else(|| ApiError::not_found("User not found."))?;
    profile.apply(&mut user.profile);
    fields.apply(&mut user.fields);
    if let Patch::Set(status) = status {
        user.status = status;
    }
    external_image_url.apply(&mut user.profile.external_image_url);
    identity_id.apply(&mut user.identity_id);
    identity_provider.apply(&mut user.identity_provider);
    Ok(ok(None))
}

pub fn delete(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let token = ctx.param.as_deref().and_then(parse_uuid);
    match token.and_then(|t| ctx.store.remove_user(&t)) {
        Some(_) => Ok(ok(None)),
        None => Err(ApiError::not_found("User not found.")),
    }
}

pub fn change_instance(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let Some(body) = Obj::body(&ctx.body, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let token = body.uuid("DeviceToken", &mut errors);
    let to_id = body.uuid("ToInstanceId", &mut errors);
    let to_key = body.string("ToInstanceKey", &mut errors);
    for (key, missing) in [
        ("DeviceToken", !matches!(token, Patch::Set(_))),
        ("ToInstanceId", !matches!(to_id, Patch::Set(_))),
        ("ToInstanceKey", !matches!(to_key, Patch::Set(_))),
    ] {
        if missing && body.get(key).is_none_or(Value::is_null) {
            errors.push(FieldError::new(
                key,
                format!("The {key} field is required."),
            ));
        }
    }
    let (Patch::Set(token), Patch::Set(to_id), Patch::Set(to_key), true) =
        (token, to_id, to_key, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    if ctx.store.user(&token).is_none() {
        return Err(ApiError::not_found("User not found."));
    }
    let instance = match ctx.store.instance(&to_id) {
        Some(i) if i.key.eq_ignore_ascii_case(&to_key) => i.id.clone(),
        _ => {
            return Err(ApiError::invalid(
                "ToInstanceKey",
                "Invalid ToInstanceId or ToInstanceKey.",
            ));
        }
    };
    if let Some(user) = ctx.store.user_mut(&token) {
        user.instance_id = instance;
    }
    Ok(ok(None))
}

fn eq_ci(value: Option<&String>, wanted: &str) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(wanted))
}

pub fn find(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let q = &ctx.query;
    let mut errors = Vec::new();
    let include_account_info = q.bool("IncludeAccountInfo", &mut errors);
    let show_inactive = q.bool("ShowInactiveUsers", &mut errors);
    let device_token = q.get("DeviceToken").filter(|v| !v.is_empty());
    let device_token = match device_token {
        Some(v) => match parse_uuid(v) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new(
                    "DeviceToken",
                    format!("The value '{v}' is not valid for DeviceToken."),
                ));
                None
            }
        },
        None => None,
    };
    let os_type = match q.get("OsType").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("android") || v == "0" => Some("android"),
        Some(v) if v.eq_ignore_ascii_case("ios") || v == "1" => Some("iOS"),
        Some(v) => {
            errors.push(FieldError::new(
                "OsType",
                format!("The value '{v}' is not valid for OsType."),
            ));
            None
        }
    };
    let text = |key: &str| q.get(key).filter(|v| !v.is_empty()).map(str::to_string);
    let email = text("Email");
    let phone = text("Phone");
    let client_id = text("ClientId");
    let country = text("Country");
    let full_name = text("FullName");
    let first_name = text("FirstName");
    let last_name = text("LastName");
    let searched = device_token.is_some()
        || q.get("OsType").is_some_and(|v| !v.is_empty())
        || [
            &email,
            &phone,
            &client_id,
            &country,
            &full_name,
            &first_name,
            &last_name,
        ]
        .iter()
        .any(|v| v.is_some());
    if !searched && errors.is_empty() {
        errors.push(FieldError::new(
            "",
            "At least one search parameter is required: DeviceToken, Email, Phone, ClientId, \
             Country, OsType, FullName, FirstName or LastName.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let matches = |u: &User| -> bool {
        let p = &u.profile;
        (show_inactive || !u.is_inactive())
            && device_token.as_ref().is_none_or(|t| &u.device_token == t)
            // The sandbox's users have no mobile device, so no OsType matches.
            && os_type.is_none()
            && email.as_ref().is_none_or(|v| eq_ci(p.email.as_ref(), v))
            && phone.as_ref().is_none_or(|v| eq_ci(p.phone.as_ref(), v))
            && client_id
                .as_ref()
                .is_none_or(|v| eq_ci(u.fields.client_id.as_ref(), v))
            && country.as_ref().is_none_or(|v| eq_ci(p.country.as_ref(), v))
            && first_name
                .as_ref()
                .is_none_or(|v| eq_ci(p.first_name.as_ref(), v))
            && last_name
                .as_ref()
                .is_none_or(|v| eq_ci(p.last_name.as_ref(), v))
            && full_name.as_ref().is_none_or(|v| {
                let full = format!(
                    "{} {}",
                    p.first_name.as_deref().unwrap_or_default(),
                    p.last_name.as_deref().unwrap_or_default()
                );
                full.trim().eq_ignore_ascii_case(v.trim())
            })
    };
    let store = &*ctx.store;
    let found: Vec<Value> = store
        .users()
        .into_iter()
        .filter(|u| matches(u))
        .map(|u| user_json(u, store, include_account_info, View::Find))
        .collect();
    Ok(ok(Some(Value::Array(found))))
}

/// The sortable fields of `GetFilteredPage`'s `Sort` (each also as `<Field>Desc`).
const SORT_FIELDS: [&str; 15] = [
    "DeviceToken",
    "FirstName",
    "LastName",
    "Nickname",
    "Phone",
    "Email",
    "Gender",
    "Birthday",
    "MaritalStatus",
    "ChildrenCount",
    "Country",
    "District",
    "City",
    "DateCreated",
    "ActivityStatus",
];

/// One user's sort value: absent values first, text compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Text(Option<String>),
    Time(Option<NaiveDateTime>),
    Int(Option<i32>),
}

fn sort_value(field: usize, u: &User) -> SortValue {
    let p = &u.profile;
    let text = |v: &Option<String>| SortValue::Text(v.as_ref().map(|s| s.to_lowercase()));
    match SORT_FIELDS.get(field).copied().unwrap_or_default() {
        "FirstName" => text(&p.first_name),
        "LastName" => text(&p.last_name),
        "Nickname" => text(&p.nickname),
        "Phone" => text(&p.phone),
        "Email" => text(&p.email),
        "Gender" => SortValue::Text(Some(p.gender.as_str().to_string())),
        "Birthday" => SortValue::Time(p.birthday),
        "MaritalStatus" => text(&p.marital_status),
        "ChildrenCount" => SortValue::Int(p.children_count),
        "Country" => text(&p.country),
        "District" => text(&p.district),
        "City" => text(&p.city),
        "DateCreated" => SortValue::Time(Some(u.date_created)),
        "ActivityStatus" => SortValue::Text(Some(u.activity_status.filter_value().to_string())),
        _ => SortValue::Text(Some(u.device_token.clone())),
    }
}

fn required_page_int(body: &Obj<'_>, key: &str, errors: &mut Vec<FieldError>) -> usize {
    match body.int(key, errors) {
        Patch::Set(n) if n >= 1 => usize::try_from(n).unwrap_or(1),
        Patch::Set(n) => {
            errors.push(FieldError::new(
                key,
                format!("{key} must be at least 1, not {n}."),
            ));
            1
        }
        Patch::Null | Patch::Absent => {
            if body.get(key).is_none_or(Value::is_null) {
                errors.push(FieldError::new(
                    key,
                    format!("The {key} field is required."),
                ));
            }
            1
        }
    }
}

pub fn filtered_page(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let Some(body) = Obj::body(&ctx.body, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let page_number = required_page_int(&body, "PageNumber", &mut errors);
    let page_size = required_page_int(&body, "PageSize", &mut errors);
    let flag = |key: &str, errors: &mut Vec<FieldError>| {
        matches!(body.bool(key, errors), Patch::Set(true))
    };
    let include_account_info = flag("IncludeAccountInfo", &mut errors);
    let show_inactive = flag("ShowInactiveUsers", &mut errors);
    let sort_names: Vec<(String, (usize, bool))> = SORT_FIELDS
        .iter()
        .enumerate()
        .flat_map(|(i, f)| [(f.to_string(), (i, false)), (format!("{f}Desc"), (i, true))])
        .collect();
    let sort_refs: Vec<(&str, (usize, bool))> =
        sort_names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let (sort_field, descending) = match body.name_of("Sort", &sort_refs, &mut errors) {
        Patch::Set(s) => s,
        _ => (0, false),
    };
    let company_ids = body.uuid_list("CompanyIds", &mut errors);
    let application_ids = body.uuid_list("ApplicationIds", &mut errors);
    let instance_ids = body.uuid_list("InstanceIds", &mut errors);
    let search_term = match body.string("SearchTerm", &mut errors) {
        Patch::Set(s) if !s.trim().is_empty() => Some(s.trim().to_lowercase()),
        _ => None,
    };
    let activity_names: Vec<(&str, ActivityStatus)> = ActivityStatus::ALL
        .iter()
        .map(|a| (a.filter_value(), *a))
        .collect();
    let mut activity = Vec::new();
    match body.get("ActivityStatuses") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let wrapped = json!({ "ActivityStatuses": item });
                let Some(one) = Obj::at(&wrapped, "$".into()) else {
                    continue;
                };
                match one.name_of("ActivityStatuses", &activity_names, &mut errors) {
                    Patch::Set(a) => activity.push(a),
                    Patch::Null => errors.push(conversion(
                        &format!("$.ActivityStatuses[{i}]"),
                        "ActivityStatus",
                    )),
                    Patch::Absent => {}
                }
            }
        }
        Some(_) => errors.push(conversion("$.ActivityStatuses", "ActivityStatus[]")),
    }
    let from = body.datetime("DateCreatedFrom", &mut errors);
    let to = body.datetime("DateCreatedTo", &mut errors);
    let country = body.string("Country", &mut errors);
    let city = body.string("City", &mut errors);
    let rtd = body.bool("RtdEnabled", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let store = &*ctx.store;
    let in_list = |list: &Option<Vec<String>>, value: Option<&str>| match list {
        None => true,
        Some(l) if l.is_empty() => true,
        Some(l) => value.is_some_and(|v| l.iter().any(|x| x.eq_ignore_ascii_case(v))),
    };
    // Per instance (a handful), not per user: whether its application passes the filter.
    let instance_passes: std::collections::HashMap<&str, bool> = store
        .instances()
        .iter()
        .map(|i| {
            let ok = in_list(&application_ids, Some(&i.application_id))
                && in_list(&instance_ids, Some(&i.id));
            (i.id.as_str(), ok)
        })
        .collect();
    let company_passes = in_list(&company_ids, Some(&store.company().id));
    let text_eq = |patch: &Patch<String>, value: &Option<String>| match patch {
        Patch::Set(w) if !w.is_empty() => eq_ci(value.as_ref(), w),
        _ => true,
    };
    let contains = |v: &Option<String>, term: &str| {
        v.as_ref().is_some_and(|s| s.to_lowercase().contains(term))
    };
    let mut selected: Vec<&User> = store
        .users()
        .into_iter()
        .filter(|u| {
            let p = &u.profile;
            (show_inactive || !u.is_inactive())
                && company_passes
                && instance_passes
                    .get(u.instance_id.as_str())
                    .copied()
                    .unwrap_or(false)
                && (activity.is_empty() || activity.contains(&u.activity_status))
                && match &from {
                    Patch::Set(t) => u.date_created >= *t,
                    _ => true,
                }
                && match &to {
                    Patch::Set(t) => u.date_created <= *t,
                    _ => true,
                }
                && text_eq(&country, &p.country)
                && text_eq(&city, &p.city)
                && match rtd {
                    Patch::Set(b) => u.fields.enable_real_time_location == b,
                    _ => true,
                }
                && search_term.as_ref().is_none_or(|term| {
                    [
                        &p.first_name,
                        &p.last_name,
                        &p.nickname,
                        &p.email,
                        &p.phone,
                        &u.fields.client_id,
                    ]
                    .iter()
                    .any(|v| contains(v, term))
                        || u.device_token.contains(term.as_str())
                })
        })
        .collect();
    if descending {
        selected.sort_by_cached_key(|u| (Reverse(sort_value(sort_field, u)), u.seq));
    } else {
        selected.sort_by_cached_key(|u| (sort_value(sort_field, u), u.seq));
    }
    let size = match ctx.config.max_page_size {
        Some(max) => page_size.min(usize::try_from(max.max(1)).unwrap_or(usize::MAX)),
        None => page_size,
    };
    let total = selected.len();
    let total_pages = total.div_ceil(size);
    let users: Vec<Value> = selected
        .iter()
        .skip((page_number - 1).saturating_mul(size))
        .take(size)
        .map(|u| user_json(u, store, include_account_info, View::Page))
        .collect();
    Ok(ok(Some(json!({
        "Users": users,
        "HasPreviousPage": page_number > 1,
        "HasNextPage": page_number < total_pages,
        "TotalUsers": total,
        "TotalPages": total_pages,
        "CurrentPage": page_number,
    }))))
}
