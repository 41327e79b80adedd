//! Traccar's permission rules (`PermissionsService`, `checkUserUpdate`, visibility), as pure
//! functions over the store. Each check returns the exact `ApiError` Traccar gives.
//!
//! `me` is the acting user id; 0 means anonymous (checks that dereference the anonymous user fail
//! with Traccar's NullPointerException). Handlers call these in Traccar's order; nothing here
//! writes to the store.

use std::collections::BTreeSet;

use super::errors::ApiError;
use super::objects::References;
use super::store::{Device, ObjectType, Store, User};
use super::version::TraccarVersion;

/// How many levels below a linked group still grant visibility (the group, child, grandchild).
pub const MAX_GROUP_DEPTH: usize = 3;

fn actor(store: &Store, me: i64) -> Result<&User, ApiError> {
    store.user(me).ok_or_else(ApiError::npe_null_user)
}

pub fn is_admin(store: &Store, me: i64) -> bool {
    store.user(me).is_some_and(|u| u.administrator)
}

/// `checkAdmin`: "Administrator access required".
pub fn check_admin(store: &Store, me: i64) -> Result<(), ApiError> {
    if actor(store, me)?.administrator {
        Ok(())
    } else {
        Err(ApiError::security("Administrator access required"))
    }
}

/// `checkManager`: admin or `userLimit != 0`, else "Manager access required".
pub fn check_manager(store: &Store, me: i64) -> Result<(), ApiError> {
    let user = actor(store, me)?;
    if user.administrator || user.manager() {
        Ok(())
    } else {
        Err(ApiError::security("Manager access required"))
    }
}

/// `checkUser`: self, admin, or a manager with a `tc_user_user(me, target)` row.
pub fn check_user(store: &Store, me: i64, target: i64) -> Result<(), ApiError> {
    let user = actor(store, me)?;
    if me == target
        || user.administrator
        || (user.manager()
            && store.is_linked(ObjectType::User, me, ObjectType::ManagedUser, target))
    {
        Ok(())
    } else {
        Err(ApiError::security("User access denied"))
    }
}

/// `checkPermission(Class, me, id)`: admin, self (for User), or reachable through links
/// (devices and groups through group expansion). Does not require `me` to be a manager.
pub fn check_permission(store: &Store, me: i64, kind: ObjectType, id: i64) -> Result<(), ApiError> {
    let user = actor(store, me)?;
    if user.administrator {
        return Ok(());
    }
    let allowed = match kind {
        ObjectType::User => {
            me == id || store.is_linked(ObjectType::User, me, ObjectType::ManagedUser, id)
        }
        ObjectType::ManagedUser => {
            store.is_linked(ObjectType::User, me, ObjectType::ManagedUser, id)
        }
        ObjectType::Device => can_see_device(store, me, id),
        ObjectType::Group => visible_groups(store, me).contains(&id),
        ObjectType::LinkedDevice => false,
        other => store.is_linked(ObjectType::User, me, other, id),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::security(&format!(
            "{} access denied",
            kind.class_name()
        )))
    }
}

/// The group and its ancestors, at most `MAX_GROUP_DEPTH` of them (`collectAncestorGroups`).
fn ancestors(store: &Store, group_id: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut current = group_id;
    while current != 0 && out.len() < MAX_GROUP_DEPTH {
        out.push(current);
        current = store.group(current).map(|g| g.group_id).unwrap_or(0);
    }
    out
}

/// Groups user `uid` can see: directly linked groups, their children and grandchildren.
pub fn visible_groups(store: &Store, uid: i64) -> BTreeSet<i64> {
    let linked = store.linked(ObjectType::User, uid, ObjectType::Group);
    if linked.is_empty() {
        return BTreeSet::new();
    }
    store
        .groups()
        .filter(|g| ancestors(store, g.id).iter().any(|a| linked.contains(a)))
        .map(|g| g.id)
        .collect()
}

fn device_visible_with(
    store: &Store,
    linked_groups: &BTreeSet<i64>,
    direct: &BTreeSet<i64>,
    device: &Device,
) -> bool {
    direct.contains(&device.id)
        || (device.group_id != 0
            && !linked_groups.is_empty()
            && ancestors(store, device.group_id)
                .iter()
                .any(|a| linked_groups.contains(a)))
}

/// Whether `uid` can see device `id`: a direct link, or its group within depth of a linked group.
pub fn can_see_device(store: &Store, uid: i64, id: i64) -> bool {
    let Some(device) = store.device(id) else {
        return false;
    };
    let direct = store.linked(ObjectType::User, uid, ObjectType::Device);
    let groups = store.linked(ObjectType::User, uid, ObjectType::Group);
    device_visible_with(store, &groups, &direct, device)
}

/// Devices user `uid` can see (direct plus group-derived). Managed users never contribute.
pub fn visible_devices(store: &Store, uid: i64) -> BTreeSet<i64> {
    let direct = store.linked(ObjectType::User, uid, ObjectType::Device);
    let groups = store.linked(ObjectType::User, uid, ObjectType::Group);
    if groups.is_empty() {
        return direct
            .into_iter()
            .filter(|id| store.device(*id).is_some())
            .collect();
    }
    store
        .devices()
        .filter(|d| device_visible_with(store, &groups, &direct, d))
        .map(|d| d.id)
        .collect()
}

/// What kind of object `checkEdit` is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditKind {
    User,
    Device,
    Group,
    /// A saved command: `limitCommands` also denies.
    Command,
    /// Any other object kind (geofences, notifications, ...): only `readonly` denies.
    Other,
}

/// `checkEdit(me, class, addition, skipReadonly)` for non-admins: readonly, deviceReadonly,
/// deviceLimit (on device creation). "Write access denied".
pub fn check_edit(
    store: &Store,
    me: i64,
    kind: EditKind,
    addition: bool,
    skip_readonly: bool,
) -> Result<(), ApiError> {
    let user = actor(store, me)?;
    if user.administrator {
        return Ok(());
    }
    let server = store.server();
    let denied = || Err(ApiError::security("Write access denied"));
    if !skip_readonly && (server.readonly || user.readonly) {
        return denied();
    }
    if kind == EditKind::Command && (server.limit_commands || user.limit_commands) {
        return denied();
    }
    if kind == EditKind::Device {
        if server.device_readonly || user.device_readonly {
            return denied();
        }
        if addition {
            if user.device_limit == 0 {
                return denied();
            }
            if user.device_limit > 0 && visible_devices(store, me).len() as i64 >= user.device_limit
            {
                return denied();
            }
        }
    }
    Ok(())
}

/// The object part of `checkEdit` for devices and groups (see [`check_references`]).
pub fn check_edit_references(
    store: &Store,
    me: i64,
    before: Option<(i64, i64)>,
    group_id: i64,
    calendar_id: i64,
) -> Result<(), ApiError> {
    let refs = |(group, calendar): (i64, i64)| References {
        group,
        calendar,
        command: 0,
    };
    check_references(store, me, before.map(refs), refs((group_id, calendar_id)))
}

/// The object part of `checkEdit`: a `groupId`, `calendarId` or (notification) `commandId`
/// that is set (> 0) and changed, or set on creation (`before` is `None`), needs access to
/// that group, calendar or saved command, checked in that order (`Group access denied`,
/// `Calendar access denied`, `Command access denied`). An unchanged reference is not checked
/// (observed on 6.9.1). Admins skip it (the foreign keys catch bad ids).
pub fn check_references(
    store: &Store,
    me: i64,
    before: Option<References>,
    after: References,
) -> Result<(), ApiError> {
    if is_admin(store, me) {
        return Ok(());
    }
    let old = before.unwrap_or_default();
    for (new, old, kind) in [
        (after.group, old.group, ObjectType::Group),
        (after.calendar, old.calendar, ObjectType::Calendar),
        (after.command, old.command, ObjectType::Command),
    ] {
        if new > 0 && (before.is_none() || new != old) {
            check_permission(store, me, kind, new)?;
        }
    }
    Ok(())
}

/// `checkRestriction(me, readonly)`: "Operation restricted" for readonly non-admins.
pub fn check_restriction_readonly(store: &Store, me: i64) -> Result<(), ApiError> {
    let user = actor(store, me)?;
    if !user.administrator && (store.server().readonly || user.readonly) {
        return Err(ApiError::security("Operation restricted"));
    }
    Ok(())
}

/// `checkUserUpdate(actor, before, after)`: which user fields need which role (§4.4).
/// On creation `before` is a blank user and `after.id == 0`.
pub fn check_user_update(
    store: &Store,
    me: i64,
    before: &User,
    after: &User,
) -> Result<(), ApiError> {
    if before.administrator != after.administrator
        || before.device_limit != after.device_limit
        || before.user_limit != after.user_limit
    {
        check_admin(store, me)?;
    }
    if let Some(actor_expiration) = store.user(me).and_then(|u| u.expiration_time)
        && before.expiration_time != after.expiration_time
        && after.expiration_time.is_none_or(|t| t > actor_expiration)
    {
        check_admin(store, me)?;
    }
    if before.readonly != after.readonly
        || before.device_readonly != after.device_readonly
        || before.disabled != after.disabled
        || before.limit_commands != after.limit_commands
        || before.disable_reports != after.disable_reports
        || before.fixed_email != after.fixed_email
    {
        if me == after.id {
            check_admin(store, me)?;
        } else if after.id > 0 {
            check_user(store, me, after.id)?;
        } else {
            check_manager(store, me)?;
        }
    }
    if before.fixed_email
        && before.email.as_deref().map(str::trim) != after.email.as_deref().map(str::trim)
    {
        check_admin(store, me)?;
    }
    Ok(())
}

/// The v6.3 readonly exception: a readonly user may PUT itself when nothing but the attributes
/// `notificationTokens` and `termsAccepted` changed (`User.compare` ignores the password).
pub fn readonly_self_update_allowed(
    version: TraccarVersion,
    me: i64,
    before: &User,
    after: &User,
) -> bool {
    if !version.readonly_self_attributes() || me != after.id {
        return false;
    }
    let strip = |u: &User| {
        let mut u = u.clone();
        u.password = None;
        u.attributes.remove("notificationTokens");
        u.attributes.remove("termsAccepted");
        u
    };
    strip(before) == strip(after)
}

/// The valid link tables `(owner, property)` of the imitated version (§8.2).
pub fn link_table_exists(version: TraccarVersion, owner: ObjectType, property: ObjectType) -> bool {
    use ObjectType::*;
    let common = [
        Geofence,
        Notification,
        Attribute,
        Driver,
        Command,
        Maintenance,
        Order,
        Report,
    ];
    match owner {
        User => {
            matches!(property, Device | Group | ManagedUser | Calendar)
                || common.contains(&property)
        }
        Device => {
            common.contains(&property) || (property == LinkedDevice && version.linked_devices())
        }
        Group => common.contains(&property),
        _ => false,
    }
}
