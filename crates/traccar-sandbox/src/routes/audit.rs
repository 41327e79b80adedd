//! `/api/audit` (`AuditResource`, v6.7+) and the rows the other routes write to it (`LogAction`).
//!
//! Modelled rows: `create`/`edit`/`remove` of users, devices, groups and the object kinds
//! (geofences, notifications, ...: `BaseObjectResource` logs them alike; object = the changed
//! row, its type the decapitalized class, e.g. `geofence`, `attribute`, `command`), and `link`/`unlink` of a permission, one row per item of a bulk call, written only for
//! items that were applied. A link row names the **property** as `objectType`/`objectId` and the
//! owner in `attributes.ownerType`/`ownerId` (as 6.9.1 logs it); a create's auto-link is logged
//! after the create. Not modelled: login/logout/denied, server edits, reports, sent commands.
//!
//! `GET /api/audit?from=&to=`: both bounds are ISO dates with an offset (one that does not parse
//! is JAX-RS's 404, before any check); administrators only (`Administrator access required`);
//! the rows with `from <= actionTime <= to` (SQL `BETWEEN`), oldest first; a missing bound leaves
//! a query parameter unset, which H2 refuses (real 6.9.1: 400 `StorageException` "Parameter "#1"
//! is not set"); real 6.14.4 fails earlier with a bare `NullPointerException` (400). From v6.12 each row carries the acting user's `userEmail` (null when unknown).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::errors::ApiError;
use crate::rules;
use crate::store::{Action, ObjectType};
use crate::wire::format_time;

/// `Introspector.decapitalize(clazz.getSimpleName())`.
fn decapitalized(kind: ObjectType) -> String {
    let name = kind.class_name();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn record(
    ctx: &mut Ctx<'_>,
    action_type: &'static str,
    object: (ObjectType, i64),
    owner: Option<(ObjectType, i64)>,
) {
    if !ctx.version.audit_log() {
        return;
    }
    let action = Action {
        time: Utc::now(),
        address: ctx.address.clone(),
        user_id: ctx.me,
        action_type,
        object_type: decapitalized(object.0),
        object_id: object.1,
        owner: owner.map(|(kind, id)| (decapitalized(kind), id)),
    };
    ctx.store.actions.push(action);
}

/// `create`, `edit` or `remove` of the object `kind`/`id` by the caller.
pub fn object(ctx: &mut Ctx<'_>, action_type: &'static str, kind: ObjectType, id: i64) {
    record(ctx, action_type, (kind, id), None);
}

/// `link` (`add`) or `unlink` of `owner` to `property` by the caller.
pub fn link(ctx: &mut Ctx<'_>, add: bool, owner: (ObjectType, i64), property: (ObjectType, i64)) {
    record(
        ctx,
        if add { "link" } else { "unlink" },
        property,
        Some(owner),
    );
}

/// `DateUtil.parseDate` (`ISO_ZONED_DATE_TIME`); a bound that does not convert is a 404.
fn bound(ctx: &Ctx<'_>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match ctx.query.first(name) {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::jaxrs_not_found()),
    }
}

fn row_json(ctx: &Ctx<'_>, id: usize, action: &Action) -> Value {
    let attributes = match &action.owner {
        Some((kind, id)) => json!({"ownerType": kind, "ownerId": id}),
        None => json!({}),
    };
    let mut row = json!({
        "id": id,
        "attributes": attributes,
        "actionTime": format_time(&action.time),
        "address": action.address,
        "userId": action.user_id,
        "actionType": action.action_type,
        "objectType": action.object_type,
        "objectId": action.object_id,
    });
    if ctx.version.audit_user_email()
        && let Value::Object(map) = &mut row
    {
        let email = ctx.store.user(action.user_id).and_then(|u| u.email.clone());
        map.insert("userEmail".into(), json!(email));
    }
    row
}

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (from, to) = (bound(ctx, "from")?, bound(ctx, "to")?);
    rules::check_admin(ctx.store, ctx.me)?;
    let (Some(from), Some(to)) = (from, to) else {
        if ctx.version.audit_unset_bound_is_npe() {
            return Err(ApiError::Java {
                status: 400,
                class: "java.lang.NullPointerException".to_string(),
                message: None,
                cause: None,
                site: "org.traccar.storage.QueryBuilder.setValue(QueryBuilder.java:142)",
            });
        }
        let unset = if from.is_none() { 1 } else { 2 };
        let jdbc = "org.h2.jdbc.JdbcSQLDataException".to_string();
        let message = format!(
            "Parameter \"#{unset}\" is not set; SQL statement:\nSELECT * FROM tc_actions WHERE actionTime BETWEEN ? AND ? ORDER BY actionTime [90012-232]"
        );
        return Err(ApiError::Java {
            status: 400,
            class: "org.traccar.storage.StorageException".to_string(),
            message: Some(format!("{jdbc}: {message}")),
            cause: Some((jdbc, message)),
            site: "org.traccar.storage.DatabaseStorage.getObjectsStream(DatabaseStorage.java:86)",
        });
    };
    // Ids follow insertion; the answer is ordered by time (a stable sort keeps ties in order).
    let mut rows: Vec<(usize, &Action)> = (1..)
        .zip(&ctx.store.actions)
        .filter(|(_, a)| from <= a.time && a.time <= to)
        .collect();
    rows.sort_by_key(|(_, a)| a.time);
    let rows = rows.iter().map(|(id, a)| row_json(ctx, *id, a)).collect();
    Ok(Reply::Json(Value::Array(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_decapitalized_as_introspector_does() {
        assert_eq!(decapitalized(ObjectType::User), "user");
        assert_eq!(decapitalized(ObjectType::ManagedUser), "managedUser");
        assert_eq!(decapitalized(ObjectType::Device), "device");
    }
}
