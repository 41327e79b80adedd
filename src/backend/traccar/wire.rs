//! Traccar's wire formats and their translation to and from the model. Users travel as raw JSON
//! objects: a PUT must send back every field the server returned (Traccar replaces the whole
//! object, and a field this fleetform does not know must survive), so the object is kept whole
//! and only managed keys are edited. Devices and groups are read-only here and get small structs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::rules::DESCRIPTION;
use crate::core::model::FieldType;
use crate::core::model::{Field, Value};

pub use crate::core::model::MARKER_ATTRIBUTE;

/// A server id. Traccar ids are 64-bit integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct Id(pub i64);

#[derive(Clone, Debug, Deserialize)]
pub struct Device {
    pub id: Id,
    #[serde(rename = "uniqueId")]
    pub unique_id: String,
    /// The device's group; 0 or null for none. A user linked to that group or one of its two
    /// nearest ancestors sees the device.
    #[serde(rename = "groupId", default)]
    pub group: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Group {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    /// The parent group; 0 or null for a root group.
    #[serde(rename = "groupId", default)]
    pub parent: Option<i64>,
}

impl Group {
    pub fn parent_id(&self) -> Option<Id> {
        self.parent.filter(|p| *p > 0).map(Id)
    }

    /// The small struct of a group read whole.
    pub fn of(json: &Map<String, Json>) -> Option<Group> {
        Some(Group {
            id: Id(json.get("id")?.as_i64()?),
            name: json
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            parent: json.get("groupId").and_then(Json::as_i64),
        })
    }
}

impl Device {
    /// The small struct of a device read whole.
    pub fn of(json: &Map<String, Json>) -> Option<Device> {
        Some(Device {
            id: Id(json.get("id")?.as_i64()?),
            unique_id: json.get("uniqueId")?.as_str()?.to_string(),
            group: json.get("groupId").and_then(Json::as_i64),
        })
    }
}

/// The key a model field has in Traccar's user JSON (attributes excluded): Traccar's fields are
/// declared under their JSON names (`rules.rs`).
fn json_key(field: &Field) -> Option<&'static str> {
    field.spec().map(|spec| spec.name)
}

/// Parses Traccar's dates (`2026-11-22T15:22:25.583+00:00`, also epoch millis).
pub fn parse_time(v: &Json) -> Option<DateTime<Utc>> {
    match v {
        Json::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Json::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}

/// Formats a date the way Traccar writes them, which every version parses.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// The model's view of a user object: every managed field and every attribute except the
/// marker.
pub fn user_fields(user: &Map<String, Json>) -> BTreeMap<Field, Value> {
    let mut fields = BTreeMap::new();
    for field in DESCRIPTION.scalars() {
        let Some(spec) = field.spec() else {
            continue;
        };
        let raw = user.get(spec.name).unwrap_or(&Json::Null);
        let value = match spec.ty {
            FieldType::Time => parse_time(raw).map(Value::time).unwrap_or(Value::Null),
            FieldType::Text => match raw {
                Json::String(s) if !s.is_empty() => Value::Text(s.clone()),
                _ => Value::Null,
            },
            FieldType::List => list_of(raw),
            _ => Value::from_json(raw),
        };
        fields.insert(field, value);
    }
    if let Some(Json::Object(attributes)) = user.get("attributes") {
        for (key, value) in attributes {
            if key != MARKER_ATTRIBUTE {
                fields.insert(Field::Attribute(key.clone()), Value::from_json(value));
            }
        }
    }
    fields
}

/// A list field as Traccar stores it, a comma-separated text (`"web,mail"`; null or empty:
/// none), as the model's list.
pub fn list_of(raw: &Json) -> Value {
    let text = raw.as_str().unwrap_or_default();
    Value::list(text.split(',').map(|w| w.trim().to_string()))
}

/// A model list as Traccar stores it: the words comma-joined.
pub fn list_text(value: &Value) -> Json {
    Json::String(value.words().join(","))
}

pub fn marker(user: &Map<String, Json>) -> Option<String> {
    match user.get("attributes")?.get(MARKER_ATTRIBUTE)? {
        Json::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Writes managed fields into a user object, leaving every other key as it was.
pub fn set_fields<'a>(
    user: &mut Map<String, Json>,
    fields: impl IntoIterator<Item = (&'a Field, &'a Value)>,
) {
    for (field, value) in fields {
        match field {
            Field::Attribute(key) => {
                let attributes = user
                    .entry("attributes")
                    .or_insert_with(|| Json::Object(Map::new()));
                if !attributes.is_object() {
                    *attributes = Json::Object(Map::new());
                }
                if let Json::Object(map) = attributes {
                    match value {
                        Value::Null => {
                            map.remove(key);
                        }
                        v => {
                            map.insert(key.clone(), v.to_json());
                        }
                    }
                }
            }
            other => {
                let Some(key) = json_key(other) else { continue };
                let json = match value {
                    Value::Time(t) => Json::String(format_time(t)),
                    v => v.to_json(),
                };
                user.insert(key.to_string(), json);
            }
        }
    }
}

pub fn set_marker(user: &mut Map<String, Json>, fleet: &str) {
    set_fields(
        user,
        [(
            &Field::Attribute(MARKER_ATTRIBUTE.to_string()),
            &Value::Text(fleet.to_string()),
        )],
    );
}

/// Reads a key of a `GET /api/permissions` row case-insensitively: the server emits raw column
/// labels (`userid`, `USERID`, or `userId`).
pub fn permission_id(row: &Map<String, Json>, key: &str) -> Option<Id> {
    row.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| match v {
            Json::Number(n) => n.as_i64(),
            Json::String(s) => s.parse().ok(),
            _ => None,
        })
        .map(Id)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{TRACCAR, tf};
    use serde_json::json;

    fn obj(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn user_fields_read_every_field_and_attribute_but_the_marker() {
        let user = obj(json!({
            "id": 3, "name": "Max", "email": "max@x.at", "phone": null, "readonly": false,
            "deviceReadonly": true, "limitCommands": false, "disableReports": false,
            "disabled": false, "deviceLimit": -1, "userLimit": 0,
            "expirationTime": "2027-06-30T00:00:00.123+00:00",
            "attributes": {"costCenter": "4711", "fleetform": "acme"}
        }));
        let f = user_fields(&user);
        assert_eq!(f[&tf("name")], Value::Text("Max".into()));
        assert_eq!(f[&tf("phone")], Value::Null);
        assert_eq!(f[&tf("deviceReadonly")], Value::Bool(true));
        assert_eq!(f[&tf("deviceLimit")], Value::Int(-1));
        assert_eq!(
            f[&tf("expirationTime")],
            Value::time("2027-06-30T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            f[&Field::Attribute("costCenter".into())],
            Value::Text("4711".into())
        );
        assert!(!f.contains_key(&Field::Attribute("fleetform".into())));
        assert_eq!(marker(&user).as_deref(), Some("acme"));
    }

    #[test]
    fn set_fields_keeps_unmanaged_keys_and_attributes() {
        let mut user = obj(json!({
            "id": 3, "name": "Max", "email": "max@x.at", "totpKey": "K", "map": "osm",
            "attributes": {"notificationTokens": "abc", "old": 1}
        }));
        let name = tf("name");
        let old = Field::Attribute("old".into());
        let cc = Field::Attribute("cc".into());
        let exp = tf("expirationTime");
        let t = Value::time("2027-01-01T00:00:00Z".parse().unwrap());
        set_fields(
            &mut user,
            [
                (&name, &Value::Text("Maxi".into())),
                (&old, &Value::Null),
                (&cc, &Value::Text("1".into())),
                (&exp, &t),
            ],
        );
        set_marker(&mut user, "acme");
        assert_eq!(user["name"], "Maxi");
        assert_eq!(user["totpKey"], "K");
        assert_eq!(user["map"], "osm");
        assert_eq!(user["expirationTime"], "2027-01-01T00:00:00.000+00:00");
        assert_eq!(
            user["attributes"],
            json!({"notificationTokens": "abc", "cc": "1", "fleetform": "acme"})
        );
    }

    #[test]
    fn permission_rows_parse_case_insensitively() {
        let row = obj(json!({"USERID": 1, "deviceid": "7"}));
        assert_eq!(permission_id(&row, "userId"), Some(Id(1)));
        assert_eq!(permission_id(&row, "deviceId"), Some(Id(7)));
        assert_eq!(permission_id(&row, "groupId"), None);
    }
}
