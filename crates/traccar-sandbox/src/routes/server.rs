//! `/api/server` (`ServerResource`): the server object with its `version`, `newServer` for
//! anonymous callers, and admin-only full-replace PUT (unknown fields ignored).

use super::{Ctx, Reply};
use crate::errors::ApiError;
use crate::rules;
use crate::wire::{read_server, server_json};

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let anonymous = ctx.store.user(ctx.me).is_none();
    let new_server = anonymous && ctx.store.users().next().is_none();
    let admin = rules::is_admin(ctx.store, ctx.me);
    Ok(Reply::Json(server_json(
        ctx.store.server(),
        ctx.version,
        admin,
        new_server,
    )))
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    rules::check_admin(ctx.store, ctx.me)?;
    let body = ctx.body_str();
    let settings = read_server(&ctx.json()?, &body, ctx.version)?;
    *ctx.store.server_mut() = settings;
    Ok(Reply::Json(server_json(
        ctx.store.server(),
        ctx.version,
        true,
        false,
    )))
}
