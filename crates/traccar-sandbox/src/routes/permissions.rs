//! `/api/permissions` and `/api/permissions/bulk` (`PermissionsResource`): links from a user,
//! device or group to a device, group, managed user or one of the object kinds (geofences,
//! notifications, calendars, computed attributes, drivers, saved commands, maintenance; orders
//! and reports, which the sandbox does not model, fail the foreign-key check).
//!
//! A body is an ordered JSON object with two `<type>Id` keys: the **first key is the owner**.
//! Bulk calls check only that every item has the same key set before writing, then check and
//! apply item by item (non-transactional). Link tables are multisets: POST adds a duplicate row,
//! DELETE removes every row of the pair and is a no-op when there is none.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply, audit};
use crate::errors::ApiError;
use crate::rules;
use crate::store::ObjectType;
use crate::version::TraccarVersion;

/// What `Permission.getKeyClass` finds for a key: a class with link tables, another model
/// class (its links have no table: `Table "TC_USER_EVENT" not found`), or none (`null`, whose
/// `getSimpleName()` is a NullPointerException; observed on 5.12, 6.9.1 and 6.14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyClass {
    Linkable(ObjectType),
    /// A `BaseModel` subclass without link tables (its simple name).
    Other(&'static str),
    Missing,
}

/// `BaseModel` subclasses of `org.traccar.model` that no link table names.
const OTHER_MODELS: [&str; 12] = [
    "Action",
    "BaseCommand",
    "DeviceAccumulators",
    "Event",
    "ExtendedModel",
    "LogRecord",
    "Message",
    "Position",
    "QueuedCommand",
    "Server",
    "Statistics",
    "KeystoreModel",
];

impl KeyClass {
    fn of(key: &str) -> KeyClass {
        if let Some(kind) = ObjectType::from_key(key) {
            return KeyClass::Linkable(kind);
        }
        let stem = key.get(..key.len().saturating_sub(2)).unwrap_or_default();
        OTHER_MODELS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(stem))
            .map_or(KeyClass::Missing, |m| KeyClass::Other(m))
    }

    /// `getStorageName`'s half for this class (`Managed` stripped, decapitalized).
    fn storage_name(self) -> String {
        match self {
            KeyClass::Linkable(kind) => kind.storage_name().to_string(),
            KeyClass::Other(name) => {
                let mut chars = name.chars();
                chars
                    .next()
                    .map(|c| c.to_lowercase().chain(chars).collect())
                    .unwrap_or_default()
            }
            KeyClass::Missing => String::new(),
        }
    }
}

/// One parsed permission: (owner class, owner id, property class, property id).
type Permission = (KeyClass, i64, KeyClass, i64);

fn null_class(side: &str) -> ApiError {
    ApiError::npe(&format!(
        "Cannot invoke \"java.lang.Class.getSimpleName()\" because \"{side}Class\" is null"
    ))
}

const LONG_MAP: &str = "java.util.LinkedHashMap<java.lang.String,java.lang.Long>";

fn jackson_shape(expected: &str, value: &Value) -> ApiError {
    let kind = match value {
        Value::Array(_) => "Array value (token `JsonToken.START_ARRAY`)",
        Value::Object(_) => "Object value (token `JsonToken.START_OBJECT`)",
        Value::String(_) => "String value (token `JsonToken.VALUE_STRING`)",
        Value::Null => "Null value (token `JsonToken.VALUE_NULL`)",
        _ => "Scalar value",
    };
    ApiError::Jackson(format!(
        "Cannot deserialize value of type `{expected}` from {kind}\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 1]"
    ))
}

/// Jackson's view of one item: `LinkedHashMap<String, Long>` (numeric strings are coerced).
fn as_long_map(value: &Value) -> Result<Vec<(String, Option<i64>)>, ApiError> {
    let Value::Object(map) = value else {
        return Err(jackson_shape(LONG_MAP, value));
    };
    map.iter()
        .map(|(k, v)| {
            let n = match v {
                Value::Null => None,
                Value::Number(n) => Some(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0)),
                Value::String(s) => Some(s.trim().parse().map_err(|_| {
                    ApiError::Jackson(format!(
                        "Cannot deserialize value of type `java.lang.Long` from String \"{s}\": not a valid `java.lang.Long` value"
                    ))
                })?),
                other => return Err(jackson_shape("java.lang.Long", other)),
            };
            Ok((k.clone(), n))
        })
        .collect()
}

/// `new Permission(LinkedHashMap)`: the first key is the owner, the second the property.
/// From v6.14 exactly two keys are required; before, one key fails on the constructor's second
/// `iterator.next()` and any further keys are ignored here (they reach the SQL statement).
fn permission(
    version: TraccarVersion,
    entries: &[(String, Option<i64>)],
) -> Result<Permission, ApiError> {
    if version.permission_key_count_check() && entries.len() != 2 {
        return Err(ApiError::illegal_argument("Invalid permission"));
    }
    if entries.len() < 2 {
        // The constructor's second iterator.next() (observed on 6.9.1 and 5.12).
        return Err(ApiError::no_such_element());
    }
    let owner = KeyClass::of(&entries[0].0);
    let property = KeyClass::of(&entries[1].0);
    let unboxed = |v: Option<i64>| {
        v.ok_or_else(|| ApiError::npe("Cannot invoke \"java.lang.Long.longValue()\" because the return value of \"java.util.Map$Entry.getValue()\" is null"))
    };
    Ok((
        owner,
        unboxed(entries[0].1)?,
        property,
        unboxed(entries[1].1)?,
    ))
}

fn table_name(owner: ObjectType, property: ObjectType) -> String {
    format!("tc_{}_{}", owner.storage_name(), property.storage_name())
}

fn key_table_name(owner: KeyClass, property: KeyClass) -> String {
    format!("tc_{}_{}", owner.storage_name(), property.storage_name())
}

fn check_item(
    ctx: &Ctx<'_>,
    (owner, owner_id, property, property_id): Permission,
) -> Result<(), ApiError> {
    if !rules::is_admin(ctx.store, ctx.me) {
        for (class, id) in [(owner, owner_id), (property, property_id)] {
            let kind = match class {
                KeyClass::Linkable(kind) => kind,
                // `checkPermission(null, ...)` compares the class first.
                KeyClass::Missing => {
                    return Err(ApiError::npe(
                        "Cannot invoke \"Object.equals(Object)\" because \"clazz\" is null",
                    ));
                }
                // The access query joins `tc_user_<class>`, which does not exist.
                KeyClass::Other(_) => {
                    let table = key_table_name(KeyClass::Linkable(ObjectType::User), class);
                    return Err(ApiError::table_not_found(
                        &table,
                        &format!("SELECT id FROM {}s WHERE id = ?", class.storage_name()),
                    ));
                }
            };
            if kind == ObjectType::ManagedUser && !ctx.version.managed_user_links_by_non_admins() {
                // Before 6.8.1 `ManagedUser` has no @StorageName: the access query cannot be built.
                return Err(ApiError::storage_name_missing());
            }
            rules::check_permission(ctx.store, ctx.me, kind, id)?;
        }
    }
    Ok(())
}

fn apply(ctx: &mut Ctx<'_>, item: &Value, add: bool) -> Result<(), ApiError> {
    let entries = as_long_map(item)?;
    let p = permission(ctx.version, &entries)?;
    check_item(ctx, p)?;
    let (owner_class, owner_id, property_class, property_id) = p;
    // `getStorageName` reads the owner's class name first.
    if owner_class == KeyClass::Missing {
        return Err(null_class("owner"));
    }
    if property_class == KeyClass::Missing {
        return Err(null_class("property"));
    }
    let table = key_table_name(owner_class, property_class);
    let linkable = match (owner_class, property_class) {
        (KeyClass::Linkable(o), KeyClass::Linkable(p)) => {
            rules::link_table_exists(ctx.version, o, p).then_some((o, p))
        }
        _ => None,
    };
    let Some((owner, property)) = linkable else {
        let column = |c: KeyClass| match c {
            KeyClass::Linkable(kind) => kind.column(),
            other => format!("{}id", other.storage_name().to_lowercase()),
        };
        let statement = if add {
            format!("INSERT INTO {table} VALUES (?, ?)")
        } else {
            format!(
                "DELETE FROM {table} WHERE {} = ? AND {} = ?",
                column(owner_class),
                column(property_class)
            )
        };
        return Err(ApiError::table_not_found(&table, &statement));
    };
    if entries.len() > 2 {
        // Before 6.14 every key of the body is a value (INSERT) or a column (DELETE).
        return Err(if add {
            let marks = vec!["?"; entries.len()].join(", ");
            ApiError::storage(
                "JdbcSQLSyntaxErrorException",
                &format!(
                    "Column count does not match; SQL statement:\nINSERT INTO {table} VALUES ({marks}) [21002-232]"
                ),
            )
        } else {
            let columns: Vec<String> = entries.iter().map(|(k, _)| format!("{k} = ?")).collect();
            ApiError::storage(
                "JdbcSQLSyntaxErrorException",
                &format!(
                    "Column \"{}\" not found; SQL statement:\nDELETE FROM {table} WHERE {} [42122-232]",
                    entries[2].0.to_uppercase(),
                    columns.join(" AND ")
                ),
            )
        });
    }
    if add {
        ctx.store
            .insert_link(owner, owner_id, property, property_id)?;
    } else {
        ctx.store
            .delete_link(owner, owner_id, property, property_id);
    }
    audit::link(ctx, add, (owner, owner_id), (property, property_id));
    Ok(())
}

fn run(ctx: &mut Ctx<'_>, bulk: bool, add: bool) -> Result<Reply, ApiError> {
    let body = ctx.json()?;
    if bulk {
        let Value::Array(items) = &body else {
            return Err(jackson_shape(
                "java.util.List<java.util.LinkedHashMap<java.lang.String,java.lang.Long>>",
                &body,
            ));
        };
        // Jackson deserializes the whole list before the resource method runs.
        let maps: Vec<_> = items.iter().map(as_long_map).collect::<Result<_, _>>()?;
        rules::check_restriction_readonly(ctx.store, ctx.me)?;
        // checkPermissionTypes: every item has the same key *set* (order not compared).
        if let Some(first) = maps.first() {
            let keys = |m: &Vec<(String, Option<i64>)>| {
                let mut k: Vec<String> = m.iter().map(|(k, _)| k.clone()).collect();
                k.sort();
                k
            };
            let expected = keys(first);
            if maps.iter().any(|m| keys(m) != expected) {
                return Err(ApiError::Java {
                    status: 400,
                    class: "jakarta.ws.rs.WebApplicationException".to_string(),
                    message: Some("HTTP 400 Bad Request".to_string()),
                    cause: None,
                    site: "org.traccar.api.resource.PermissionsResource.checkPermissionTypes(PermissionsResource.java:58)",
                });
            }
        }
        // Not transactional: items before a failure stay applied.
        for item in items {
            apply(ctx, item, add)?;
        }
    } else {
        as_long_map(&body)?;
        rules::check_restriction_readonly(ctx.store, ctx.me)?;
        apply(ctx, &body, add)?;
    }
    Ok(Reply::NoContent)
}

pub fn link(ctx: &mut Ctx<'_>, bulk: bool) -> Result<Reply, ApiError> {
    run(ctx, bulk, true)
}

pub fn unlink(ctx: &mut Ctx<'_>, bulk: bool) -> Result<Reply, ApiError> {
    run(ctx, bulk, false)
}

/// Java's `String.hashCode`.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The iteration order of a `java.util.HashMap` holding `keys` (inserted in this order).
fn java_hashmap_order(keys: &[String]) -> Vec<String> {
    let mut capacity = 16usize;
    while keys.len() as f64 > capacity as f64 * 0.75 {
        capacity *= 2;
    }
    let bucket = |k: &str| {
        let h = java_hash(k) as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut indexed: Vec<(usize, usize, &String)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (bucket(k), i, k))
        .collect();
    indexed.sort();
    indexed.into_iter().map(|(_, _, k)| k.clone()).collect()
}

/// `GET /api/permissions` (v6.14.0–6.14.5): admin only; the first two `*Id` query parameters
/// **in Jersey's HashMap order** name owner and property (0 = wildcard). Keys in the answer are
/// H2's upper-case column labels, duplicates included.
pub fn list(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    rules::check_admin(ctx.store, ctx.me)?;
    let mut distinct: Vec<String> = Vec::new();
    for (k, _) in &ctx.query.0 {
        if !distinct.contains(k) {
            distinct.push(k.clone());
        }
    }
    let ordered: Vec<String> = java_hashmap_order(&distinct)
        .into_iter()
        .filter(|k| k.ends_with("Id"))
        .collect();
    if ordered.len() < 2 {
        return Err(ApiError::npe(
            "Cannot invoke \"java.util.Map$Entry.getKey()\" because \"entry\" is null",
        ));
    }
    let class = |key: &str| {
        ObjectType::from_key(key).ok_or_else(|| {
            ApiError::other(
                "java.lang.ClassNotFoundException",
                Some(&format!("org.traccar.model.{}", &key[..key.len() - 2])),
            )
        })
    };
    let value = |key: &str| -> Result<i64, ApiError> {
        let raw = ctx.query.first(key).unwrap_or_default();
        raw.trim().parse().map_err(|_| {
            ApiError::other(
                "java.lang.NumberFormatException",
                Some(&format!("For input string: \"{raw}\"")),
            )
        })
    };
    let owner = class(&ordered[0])?;
    let property = class(&ordered[1])?;
    let (owner_id, property_id) = (value(&ordered[0])?, value(&ordered[1])?);
    if !rules::link_table_exists(ctx.version, owner, property) {
        let table = table_name(owner, property);
        return Err(ApiError::table_not_found(
            &table,
            &format!("SELECT * FROM {table}"),
        ));
    }
    let rows = ctx
        .store
        .links(owner, property)
        .map(|t| t.rows())
        .unwrap_or_default();
    let (owner_col, property_col) = (
        owner.column().to_uppercase(),
        property.column().to_uppercase(),
    );
    let out: Vec<Value> = rows
        .into_iter()
        .filter(|(o, p)| {
            (owner_id == 0 || *o == owner_id) && (property_id == 0 || *p == property_id)
        })
        .map(|(o, p)| {
            let mut m = Map::new();
            m.insert(owner_col.clone(), json!(o));
            m.insert(property_col.clone(), json!(p));
            Value::Object(m)
        })
        .collect();
    Ok(Reply::Json(Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(keys: &[&str]) -> Vec<String> {
        java_hashmap_order(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_hash("userId"), -836030906);
        assert_eq!(java_hash(""), 0);
    }

    #[test]
    fn hashmap_order_matches_the_notes() {
        assert_eq!(order(&["userId", "groupId"]), ["groupId", "userId"]);
        assert_eq!(
            order(&["userId", "managedUserId"]),
            ["managedUserId", "userId"]
        );
        assert_eq!(order(&["userId", "deviceId"]), ["userId", "deviceId"]);
    }
}
