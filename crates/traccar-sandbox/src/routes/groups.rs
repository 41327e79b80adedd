//! `/api/groups` and `/api/groups/{id}` (`GroupResource`): lists including child and grandchild
//! groups, auto-link to the creator, cycle detection on PUT, deletes that orphan members.

use super::{Ctx, Reply, audit, finish_list};
use crate::errors::ApiError;
use crate::rules::{self, EditKind};
use crate::store::{Group, ObjectType};
use crate::wire::{group_json, read_group};

pub fn list(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let store = &*ctx.store;
    let me = ctx.me;
    let user_id = ctx.query.long("userId")?.unwrap_or(0);
    let ids: Vec<i64> = if ctx.query.bool("all") {
        if rules::is_admin(store, me) {
            store.groups().map(|g| g.id).collect()
        } else {
            rules::visible_groups(store, me).into_iter().collect()
        }
    } else {
        let target = if user_id > 0 {
            rules::check_user(store, me, user_id)?;
            user_id
        } else {
            me
        };
        rules::visible_groups(store, target).into_iter().collect()
    };
    let groups: Vec<&Group> = ids.iter().filter_map(|id| store.group(*id)).collect();
    finish_list(
        ctx,
        groups,
        |g| g.name.clone().unwrap_or_default(),
        |g| vec![g.name.clone()],
        group_json,
    )
}

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, ObjectType::Group, id)?;
    match ctx.store.group(id) {
        Some(group) => Ok(Reply::Json(group_json(group, false))),
        None => Err(ApiError::JettyNotFound(ctx.uri.clone())),
    }
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let mut group = read_group(&ctx.json()?, &body)?;
    group.id = 0;
    let me = ctx.me;
    rules::check_edit(ctx.store, me, EditKind::Group, true, false)?;
    rules::check_edit_references(ctx.store, me, None, group.group_id, 0)?;
    let id = ctx.store.insert_group(group)?;
    audit::object(ctx, "create", ObjectType::Group, id);
    ctx.store
        .insert_link(ObjectType::User, me, ObjectType::Group, id)?;
    audit::link(ctx, true, (ObjectType::User, me), (ObjectType::Group, id));
    match ctx.store.group(id) {
        Some(group) => Ok(Reply::Json(group_json(group, false))),
        None => Err(ApiError::npe("group")),
    }
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let group = read_group(&ctx.json()?, &body)?;
    let me = ctx.me;
    rules::check_permission(ctx.store, me, ObjectType::Group, group.id)?;
    rules::check_edit(ctx.store, me, EditKind::Group, false, false)?;
    let before = ctx.store.group(group.id).map(|g| (g.group_id, 0));
    rules::check_edit_references(ctx.store, me, before, group.group_id, 0)?;
    // v6.14 walks up to 3 ancestors of the new parent; older versions only reject self-parenting.
    let mut cycle = group.group_id != 0 && group.group_id == group.id;
    if ctx.version.deep_cycle_check() {
        let mut current = group.group_id;
        for _ in 0..3 {
            if current == 0 {
                break;
            }
            if current == group.id {
                cycle = true;
            }
            current = ctx.store.group(current).map(|g| g.group_id).unwrap_or(0);
        }
    }
    if cycle {
        return Err(ApiError::illegal_argument("Cycle in group hierarchy"));
    }
    if before.is_some() {
        ctx.store.update_group(group.clone())?;
    }
    audit::object(ctx, "edit", ObjectType::Group, group.id);
    Ok(Reply::Json(group_json(&group, false)))
}

pub fn delete(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, ObjectType::Group, id)?;
    rules::check_edit(ctx.store, ctx.me, EditKind::Group, false, false)?;
    ctx.store.delete_group(id);
    audit::object(ctx, "remove", ObjectType::Group, id);
    Ok(Reply::NoContent)
}
