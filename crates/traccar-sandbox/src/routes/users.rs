//! `/api/users` and `/api/users/{id}` (`UserResource`): listing by role, bootstrap and
//! registration, manager-created users, full-replace PUT guarded by `checkUserUpdate`, deletes
//! that cascade to links.

use super::{Ctx, Reply, audit, finish_list};
use crate::errors::ApiError;
use crate::rules::{self, EditKind};
use crate::store::{ObjectType, PasswordHash, User};
use crate::wire::{read_user, user_json};

pub fn list(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let store = &*ctx.store;
    let me = ctx.me;
    let user_id = ctx.query.long("userId")?.unwrap_or(0);
    let device_id = if ctx.version.users_by_device() {
        ctx.query.long("deviceId")?.unwrap_or(0)
    } else {
        0
    };
    let mut ids: Vec<i64> = if user_id > 0 {
        rules::check_user(store, me, user_id)?;
        store
            .linked(ObjectType::User, user_id, ObjectType::ManagedUser)
            .into_iter()
            .collect()
    } else if !rules::is_admin(store, me) {
        store
            .linked(ObjectType::User, me, ObjectType::ManagedUser)
            .into_iter()
            .collect()
    } else {
        store.users().map(|u| u.id).collect()
    };
    if device_id > 0 {
        if ctx.version.users_by_device_for_managers() {
            rules::check_manager(store, me)?;
        } else {
            rules::check_admin(store, me)?;
        }
        if ctx.version.users_by_device_checks_device() {
            rules::check_permission(store, me, ObjectType::Device, device_id)?;
        }
        let linked = store.linked_to(ObjectType::User, ObjectType::Device, device_id);
        ids.retain(|id| linked.contains(id));
    }
    let users: Vec<&User> = ids.iter().filter_map(|id| store.user(*id)).collect();
    let version = ctx.version;
    finish_list(
        ctx,
        users,
        |u| u.name.clone().unwrap_or_default(),
        |u| vec![u.name.clone(), u.email.clone()],
        |u, exclude| user_json(u, exclude, version),
    )
}

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, ObjectType::User, id)?;
    match ctx.store.user(id) {
        Some(user) => Ok(Reply::Json(user_json(user, false, ctx.version))),
        None => Err(ApiError::JettyNotFound(ctx.uri.clone())),
    }
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let input = read_user(&ctx.json()?, &body, !ctx.version.at_least(6, 2))?;
    let mut entity = input.user;
    entity.id = 0;
    let me = ctx.me;
    let actor = ctx.store.user(me).cloned();
    let blank = User::default();
    match &actor {
        Some(a) if a.administrator => {}
        Some(a) if a.manager() => {
            rules::check_user_update(ctx.store, me, &blank, &entity)?;
            if a.user_limit > 0 {
                let managed = ctx
                    .store
                    .linked(ObjectType::User, me, ObjectType::ManagedUser)
                    .len() as i64;
                if managed >= a.user_limit {
                    return Err(ApiError::security("Manager user limit reached"));
                }
            }
        }
        _ => {
            rules::check_user_update(ctx.store, me, &blank, &entity)?;
            let first = ctx.store.users().next().is_none();
            let open = ctx.store.server().registration
                || (first && ctx.version.first_user_ignores_registration());
            if !open {
                return Err(ApiError::security("Registration disabled"));
            }
            // UserUtil.setUserDefaults: users.defaultDeviceLimit (-1); no default expiration.
            entity.device_limit = -1;
            if first {
                entity.administrator = true;
            }
        }
    }
    entity.password = input.password.as_deref().map(PasswordHash::new);
    let id = ctx.store.insert_user(entity)?;
    audit::object(ctx, "create", ObjectType::User, id);
    if actor.as_ref().is_some_and(|a| a.manager()) {
        ctx.store
            .insert_link(ObjectType::User, me, ObjectType::ManagedUser, id)?;
        audit::link(
            ctx,
            true,
            (ObjectType::User, me),
            (ObjectType::ManagedUser, id),
        );
    }
    match ctx.store.user(id) {
        Some(user) => Ok(Reply::Json(user_json(user, false, ctx.version))),
        None => Err(ApiError::npe("user")),
    }
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let input = read_user(&ctx.json()?, &body, !ctx.version.at_least(6, 2))?;
    let after = input.user;
    let me = ctx.me;
    rules::check_permission(ctx.store, me, ObjectType::User, after.id)?;
    let Some(before) = ctx.store.user(after.id).cloned() else {
        return Err(ApiError::npe(
            "Cannot invoke \"org.traccar.model.User.getAdministrator()\" because \"before\" is null",
        ));
    };
    rules::check_user_update(ctx.store, me, &before, &after)?;
    let skip_readonly = rules::readonly_self_update_allowed(ctx.version, me, &before, &after);
    rules::check_edit(ctx.store, me, EditKind::User, false, skip_readonly)?;
    ctx.store.update_user(
        after.clone(),
        input.password.as_deref().map(PasswordHash::new),
    )?;
    audit::object(ctx, "edit", ObjectType::User, after.id);
    // The response echoes the request entity (defaults filled in), not the stored row.
    Ok(Reply::Json(user_json(&after, false, ctx.version)))
}

pub fn delete(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    let me = ctx.me;
    rules::check_permission(ctx.store, me, ObjectType::User, id)?;
    rules::check_edit(ctx.store, me, EditKind::User, false, false)?;
    ctx.store.delete_user(id);
    audit::object(ctx, "remove", ObjectType::User, id);
    if id == me
        && let Some(session) = ctx
            .session_id
            .as_deref()
            .and_then(|sid| ctx.auth.sessions.get_mut(sid))
    {
        session.user_id = None;
    }
    Ok(Reply::NoContent)
}
