//! `/api/devices` and `/api/devices/{id}` (`DeviceResource`): visibility-scoped lists,
//! `?uniqueId=`/`?id=` lookups without admin bypass, creation limits and auto-link to the creator,
//! full-replace PUT.

use super::{Ctx, Reply, audit, finish_list};
use crate::errors::ApiError;
use crate::rules::{self, EditKind};
use crate::store::{Device, ObjectType};
use crate::wire::{device_echo_json, device_json, read_device};

pub fn list(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let store = &*ctx.store;
    let me = ctx.me;
    let unique_ids = ctx.query.all("uniqueId");
    let raw_ids = ctx.query.all("id");
    if !unique_ids.is_empty() || !raw_ids.is_empty() {
        // Exact lookups: always restricted to what the caller itself can see, admins included.
        let mut out = Vec::new();
        for unique_id in unique_ids {
            if let Some(d) = store
                .devices()
                .find(|d| d.unique_id.as_deref() == Some(unique_id))
                && rules::can_see_device(store, me, d.id)
            {
                out.push(device_json(d, false));
            }
        }
        for raw in raw_ids {
            let id: i64 = raw
                .trim()
                .parse()
                .map_err(|_| ApiError::jaxrs_not_found())?;
            if let Some(d) = store.device(id)
                && rules::can_see_device(store, me, id)
            {
                out.push(device_json(d, false));
            }
        }
        return Ok(Reply::Json(serde_json::Value::Array(out)));
    }
    let user_id = ctx.query.long("userId")?.unwrap_or(0);
    let mut ids: Vec<i64> = if ctx.query.bool("all") {
        if rules::is_admin(store, me) {
            store.devices().map(|d| d.id).collect()
        } else {
            rules::visible_devices(store, me).into_iter().collect()
        }
    } else if user_id == 0 {
        rules::visible_devices(store, me).into_iter().collect()
    } else {
        rules::check_user(store, me, user_id)?;
        store
            .linked(ObjectType::User, user_id, ObjectType::Device)
            .into_iter()
            .collect()
    };
    // v6.13 linked devices: AND-ed with the conditions above.
    let linked_from = if ctx.version.linked_devices() {
        ctx.query.long("deviceId")?.unwrap_or(0)
    } else {
        0
    };
    if linked_from > 0 {
        rules::check_permission(store, me, ObjectType::Device, linked_from)?;
        let linked = store.linked(ObjectType::Device, linked_from, ObjectType::LinkedDevice);
        ids.retain(|id| linked.contains(id));
    }
    let devices: Vec<&Device> = ids.iter().filter_map(|id| store.device(*id)).collect();
    finish_list(
        ctx,
        devices,
        |d| d.name.clone().unwrap_or_default(),
        |d| {
            vec![
                d.name.clone(),
                d.unique_id.clone(),
                d.phone.clone(),
                d.model.clone(),
                d.contact.clone(),
            ]
        },
        device_json,
    )
}

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, ObjectType::Device, id)?;
    match ctx.store.device(id) {
        Some(device) => Ok(Reply::Json(device_json(device, false))),
        None => Err(ApiError::JettyNotFound(ctx.uri.clone())),
    }
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let (mut device, echo) = read_device(&ctx.json()?, &body)?;
    device.id = 0;
    let me = ctx.me;
    rules::check_edit(ctx.store, me, EditKind::Device, true, false)?;
    rules::check_edit_references(ctx.store, me, None, device.group_id, device.calendar_id)?;
    let id = ctx.store.insert_device(device)?;
    audit::object(ctx, "create", ObjectType::Device, id);
    ctx.store
        .insert_link(ObjectType::User, me, ObjectType::Device, id)?;
    audit::link(ctx, true, (ObjectType::User, me), (ObjectType::Device, id));
    // The answer is the request entity with its id (status and the like echoed).
    match ctx.store.device(id) {
        Some(device) => Ok(Reply::Json(device_echo_json(device, &echo))),
        None => Err(ApiError::npe("device")),
    }
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let (device, echo) = read_device(&ctx.json()?, &body)?;
    let me = ctx.me;
    rules::check_permission(ctx.store, me, ObjectType::Device, device.id)?;
    rules::check_edit(ctx.store, me, EditKind::Device, false, false)?;
    let before = ctx
        .store
        .device(device.id)
        .map(|d| (d.group_id, d.calendar_id));
    rules::check_edit_references(ctx.store, me, before, device.group_id, device.calendar_id)?;
    if before.is_some() {
        ctx.store.update_device(device.clone())?;
    }
    audit::object(ctx, "edit", ObjectType::Device, device.id);
    Ok(Reply::Json(device_echo_json(&device, &echo)))
}

pub fn delete(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, ObjectType::Device, id)?;
    rules::check_edit(ctx.store, ctx.me, EditKind::Device, false, false)?;
    ctx.store.delete_device(id);
    audit::object(ctx, "remove", ObjectType::Device, id);
    Ok(Reply::NoContent)
}
