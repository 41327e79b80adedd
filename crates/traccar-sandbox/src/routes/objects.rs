//! The resources of the object kinds (observed-objects.md §1-§8): `/api/geofences`,
//! `/api/notifications`, `/api/calendars`, `/api/attributes/computed`, `/api/drivers`,
//! `/api/commands` and `/api/maintenance`, each with `/{id}`, plus the lists of notification
//! types, notificators and command types. One generic implementation of Traccar's
//! `BaseObjectResource` and its two list families:
//!
//! - **list** (§1.6): without parameters only the objects linked *directly* to the caller,
//!   administrators included; `all=true` every object for an administrator (the caller's own
//!   for others); `userId` the objects linked to that user (`checkUser`); for every kind but
//!   calendars (`SimpleObjectResource`) also `groupId` / `deviceId`, ANDed with the user
//!   filter and needing access to that group or device. Ordered by name or description (NULL
//!   first, case-sensitive) from 6.6; keyword, paging and `excludeAttributes` as for devices.
//! - **get** (§1.3): access to the object, then the object or Jetty's 404 (administrators).
//! - **create** (§1.2): `checkEdit` (readonly; `limitCommands` for saved commands; access to a
//!   set `calendarId`/`commandId`), insert, then the **creator link** for every role. The
//!   answer is the body as read, with the new id (an `id` in the body is ignored).
//! - **update** (§1.4): full replace of the row the **body's** id names (the path id is
//!   ignored): access to that object, `checkEdit` (references checked only when changed), and
//!   the answer echoes the body. A missing row (administrator) changes nothing: still 200.
//! - **delete** (§1.5): access, `checkEdit`, delete with the cascades (`objects/`); 204.
//!
//! Computed attributes check `Administrator access required` before everything else on POST,
//! PUT and DELETE (§6). Not modelled: `/api/commands/send`, `/api/notifications/test`,
//! `/api/attributes/computed/test` (they need positions or notificators that send).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Ctx, Reply, audit, finish_list};
use crate::errors::ApiError;
use crate::objects::wire::{Wire, echo_json};
use crate::objects::{
    Calendar, ComputedAttribute, Driver, Geofence, Maintenance, Notification, SavedCommand,
};
use crate::rules::{self, EditKind};
use crate::store::ObjectType;

/// One object kind's resource: its path segments under `/api/` and its route templates.
pub struct Kind {
    pub kind: ObjectType,
    pub segments: &'static [&'static str],
    pub list: &'static str,
    pub item: &'static str,
}

/// The modelled kinds, in the order of observed-objects.md §1.1.
pub const KINDS: [Kind; 7] = [
    Kind {
        kind: ObjectType::Geofence,
        segments: &["geofences"],
        list: "/api/geofences",
        item: "/api/geofences/{id}",
    },
    Kind {
        kind: ObjectType::Notification,
        segments: &["notifications"],
        list: "/api/notifications",
        item: "/api/notifications/{id}",
    },
    Kind {
        kind: ObjectType::Calendar,
        segments: &["calendars"],
        list: "/api/calendars",
        item: "/api/calendars/{id}",
    },
    Kind {
        kind: ObjectType::Attribute,
        segments: &["attributes", "computed"],
        list: "/api/attributes/computed",
        item: "/api/attributes/computed/{id}",
    },
    Kind {
        kind: ObjectType::Driver,
        segments: &["drivers"],
        list: "/api/drivers",
        item: "/api/drivers/{id}",
    },
    Kind {
        kind: ObjectType::Command,
        segments: &["commands"],
        list: "/api/commands",
        item: "/api/commands/{id}",
    },
    Kind {
        kind: ObjectType::Maintenance,
        segments: &["maintenance"],
        list: "/api/maintenance",
        item: "/api/maintenance/{id}",
    },
];

/// The resource of `kind` (one of [`KINDS`]).
pub fn kind(kind: ObjectType) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// What a list is ordered by and searched in (`keyword`, 6.13+), per kind.
trait Listed: Wire {
    /// The sort field's value (`name` or `description`); `None` sorts first, as NULL on H2.
    fn sort_key(&self) -> Option<String>;
    /// The kind's search columns (6.14.4's `searchColumns`).
    fn keyword_fields(&self) -> Vec<Option<String>>;
}

impl Listed for Geofence {
    fn sort_key(&self) -> Option<String> {
        self.name.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.name.clone()]
    }
}
impl Listed for Notification {
    fn sort_key(&self) -> Option<String> {
        self.description.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.description.clone()]
    }
}
impl Listed for Calendar {
    fn sort_key(&self) -> Option<String> {
        self.name.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.name.clone()]
    }
}
impl Listed for ComputedAttribute {
    fn sort_key(&self) -> Option<String> {
        self.description.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.description.clone()]
    }
}
impl Listed for Driver {
    fn sort_key(&self) -> Option<String> {
        self.name.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.name.clone(), self.unique_id.clone()]
    }
}
impl Listed for SavedCommand {
    fn sort_key(&self) -> Option<String> {
        self.description.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.description.clone()]
    }
}
impl Listed for Maintenance {
    fn sort_key(&self) -> Option<String> {
        self.name.clone()
    }
    fn keyword_fields(&self) -> Vec<Option<String>> {
        vec![self.name.clone()]
    }
}

/// Runs `method` on the list (`item == false`) or item resource of `kind`.
pub fn handle(
    kind: ObjectType,
    item: bool,
    method: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Reply, ApiError> {
    fn run<T: Listed>(item: bool, method: &str, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        match (item, method) {
            (false, "GET") => list::<T>(ctx),
            (false, _) => create::<T>(ctx),
            (true, "GET") => get::<T>(ctx),
            (true, "PUT") => update::<T>(ctx),
            (true, _) => delete::<T>(ctx),
        }
    }
    match kind {
        ObjectType::Geofence => run::<Geofence>(item, method, ctx),
        ObjectType::Notification => run::<Notification>(item, method, ctx),
        ObjectType::Calendar => run::<Calendar>(item, method, ctx),
        ObjectType::Attribute => run::<ComputedAttribute>(item, method, ctx),
        ObjectType::Driver => run::<Driver>(item, method, ctx),
        ObjectType::Command => run::<SavedCommand>(item, method, ctx),
        ObjectType::Maintenance => run::<Maintenance>(item, method, ctx),
        // Route::parse only yields the kinds above.
        _ => Err(ApiError::jaxrs_not_found()),
    }
}

fn edit_kind(kind: ObjectType) -> EditKind {
    if kind == ObjectType::Command {
        EditKind::Command
    } else {
        EditKind::Other
    }
}

/// `AttributeResource`: writes need an administrator, checked first.
fn check_admin_writes(ctx: &Ctx<'_>, kind: ObjectType) -> Result<(), ApiError> {
    if kind == ObjectType::Attribute {
        rules::check_admin(ctx.store, ctx.me)?;
    }
    Ok(())
}

fn list<T: Listed>(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let store = &*ctx.store;
    let me = ctx.me;
    // SimpleObjectResource (calendars) has no groupId/deviceId parameters: they are ignored,
    // converted or not.
    let extended = T::TYPE != ObjectType::Calendar;
    let user_id = ctx.query.long("userId")?.unwrap_or(0);
    let (group_id, device_id) = if extended {
        (
            ctx.query.long("groupId")?.unwrap_or(0),
            ctx.query.long("deviceId")?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    // `None`: every row (an administrator's `all=true`).
    let mut ids: Option<BTreeSet<i64>> = if ctx.query.bool("all") {
        (!rules::is_admin(store, me)).then(|| store.linked(ObjectType::User, me, T::TYPE))
    } else if user_id == 0 {
        Some(store.linked(ObjectType::User, me, T::TYPE))
    } else {
        rules::check_user(store, me, user_id)?;
        Some(store.linked(ObjectType::User, user_id, T::TYPE))
    };
    for (owner, owner_id) in [
        (ObjectType::Group, group_id),
        (ObjectType::Device, device_id),
    ] {
        if owner_id > 0 {
            rules::check_permission(store, me, owner, owner_id)?;
            let linked = store.linked(owner, owner_id, T::TYPE);
            ids = Some(match ids {
                None => linked,
                Some(ids) => ids.intersection(&linked).copied().collect(),
            });
        }
    }
    let rows: Vec<&T> = match ids {
        None => store.objects::<T>().collect(),
        Some(ids) => ids.iter().filter_map(|id| store.object::<T>(*id)).collect(),
    };
    let version = ctx.version;
    finish_list(ctx, rows, T::sort_key, T::keyword_fields, |row, exclude| {
        row.to_json(version, exclude)
    })
}

fn get<T: Listed>(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, T::TYPE, id)?;
    match ctx.store.object::<T>(id) {
        Some(row) => Ok(Reply::Json(row.to_json(ctx.version, false))),
        None => Err(ApiError::JettyNotFound(ctx.uri.clone())),
    }
}

fn create<T: Listed>(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let mut read = T::read(&ctx.json()?, &body, ctx.version)?;
    check_admin_writes(ctx, T::TYPE)?;
    read.row.set_id(0);
    let me = ctx.me;
    rules::check_edit(ctx.store, me, edit_kind(T::TYPE), true, false)?;
    rules::check_references(ctx.store, me, None, read.row.references())?;
    let id = ctx.store.insert_object(read.row.clone())?;
    read.row.set_id(id);
    audit::object(ctx, "create", T::TYPE, id);
    ctx.store.insert_link(ObjectType::User, me, T::TYPE, id)?;
    audit::link(ctx, true, (ObjectType::User, me), (T::TYPE, id));
    Ok(Reply::Json(echo_json(&read, ctx.version)))
}

fn update<T: Listed>(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = ctx.body_str();
    let read = T::read(&ctx.json()?, &body, ctx.version)?;
    check_admin_writes(ctx, T::TYPE)?;
    let me = ctx.me;
    let id = read.row.id();
    rules::check_permission(ctx.store, me, T::TYPE, id)?;
    rules::check_edit(ctx.store, me, edit_kind(T::TYPE), false, false)?;
    let before = ctx.store.object::<T>(id).map(|row| row.references());
    rules::check_references(ctx.store, me, before, read.row.references())?;
    ctx.store.update_object(read.row.clone())?;
    audit::object(ctx, "edit", T::TYPE, id);
    Ok(Reply::Json(echo_json(&read, ctx.version)))
}

fn delete<T: Listed>(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    check_admin_writes(ctx, T::TYPE)?;
    let id = ctx.path_id;
    rules::check_permission(ctx.store, ctx.me, T::TYPE, id)?;
    rules::check_edit(ctx.store, ctx.me, edit_kind(T::TYPE), false, false)?;
    ctx.store.delete_object(T::TYPE, id);
    audit::object(ctx, "remove", T::TYPE, id);
    Ok(Reply::NoContent)
}

fn typed(types: impl IntoIterator<Item = impl Into<String>>) -> Reply {
    Reply::Json(Value::Array(
        types
            .into_iter()
            .map(|t| json!({"type": t.into()}))
            .collect(),
    ))
}

/// `GET /api/notifications/types`: the event types of the imitated version (§3).
pub fn notification_types(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(typed(ctx.version.notification_types()))
}

/// `GET /api/notifications/notificators`: the configured `notificator.types` (§3,
/// [`Store::notificators`](crate::Store::notificators)); from 6.2 `announcement=true` drops
/// `web` and `command`.
pub fn notificators(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let announcement = ctx.version.notificators_announcement() && ctx.query.bool("announcement");
    Ok(typed(
        ctx.store
            .notificators()
            .iter()
            .filter(|t| !announcement || !matches!(t.as_str(), "web" | "command"))
            .cloned(),
    ))
}

/// `GET /api/commands/types` (§4): every `Command.TYPE_*`; with `deviceId` (access to the
/// device needed) what its protocol supports, which for a device without positions (all of
/// the sandbox's) is `custom` alone. A missing device (administrator) is the
/// NullPointerException of reading its command sender (6.8+; 5.12 has no sender lookup).
pub fn command_types(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let device_id = ctx.query.long("deviceId")?.unwrap_or(0);
    if device_id == 0 {
        return Ok(typed(ctx.version.command_types()));
    }
    rules::check_permission(ctx.store, ctx.me, ObjectType::Device, device_id)?;
    if ctx.store.device(device_id).is_none() && ctx.version.at_least(6, 8) {
        return Err(ApiError::npe(
            "Cannot invoke \"org.traccar.model.Device.getString(String)\" because \"device\" is null",
        ));
    }
    Ok(typed(["custom"]))
}
