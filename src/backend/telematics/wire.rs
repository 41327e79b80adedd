//! The service's user object on the wire and the model's fields: reading a user of the listing
//! into field values, and writing changes into a registration or update body. Pure.
//!
//! Read (notes §5.5): `DeviceToken`, `Status` (`Active` | `Inactive`), `UserProfile {...}`,
//! `UserFields` (an array of one object on read; an object is accepted too), `AccountInfo
//! {InstanceId, ...}`. Keys are matched case-insensitively (`api::get`). `ActivityStatus`,
//! `MobileDevice`, `DateCreated`, `ImageUrl` and the identity fields are never read: they are
//! the service's, not desired state.
//!
//! `enabled` (UNVERIFIED how `UserFields.Enabled` and `Status` relate, notes §5.7): read as
//! false when either says the user is deactivated (`Enabled: false`, or `Status` `Inactive` /
//! `Deactivated`), true when `Enabled` is true and `Status` active, unknown (null) otherwise;
//! written as both (`Enabled` and `Status: Active | Deactivated`). A status fleetform does not
//! know (`Deleted`, a soft delete) makes the user untouchable rather than "re-activated".
//!
//! Write (notes §5.6): profile fields at the top level in PascalCase (the model's name with a
//! capital first letter), flags under `UserFields`. `UserFields` is always sent whole: the
//! ClientId and every flag as read, with the changes applied. Whether the service merges a
//! partial `UserFields` or replaces it is UNVERIFIED; sent whole, neither way loses the
//! ClientId (without which the user would vanish from the fleet and be registered again) or
//! resets a flag the plan does not change.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use super::api::get;
use super::rules::DESCRIPTION;
use crate::core::model::{Field, Value};

/// A user as the listing gives it, reduced to what fleetform reads.
#[derive(Clone, Debug, PartialEq)]
pub struct WireUser {
    pub token: String,
    pub client_id: Option<String>,
    /// `AccountInfo.InstanceId`, when the service said.
    pub instance: Option<String>,
    /// The account's state as read (see the header), or why fleetform will not touch it.
    pub status: Status,
    /// Every declared field with the value read (`enabled` included).
    pub fields: BTreeMap<Field, Value>,
    /// `UserFields` as read, to send back whole.
    pub user_fields: Map<String, Json>,
    /// `DateCreated` as the service wrote it, for messages.
    pub created: Option<String>,
}

/// The state `Status` gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Deactivated,
    /// Not given.
    Missing,
    /// A status fleetform does not manage, e.g. `Deleted`.
    Other(String),
}

/// The wire key of a model field: its name with a capital first letter.
pub fn wire_key(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Whether a field travels in `UserFields` (the flags) rather than at the top level.
pub fn is_flag(field: &Field) -> bool {
    field.spec().is_some_and(|s| FLAGS.contains(&s.name))
}

/// The telematics flags (`UserFields`), besides `enabled`.
pub const FLAGS: [&str; 3] = ["enableTracking", "enableLogging", "enableRealTimeLocation"];

/// Reads one user object. `None` without a DeviceToken (nothing could address it).
pub fn read_user(user: &Json) -> Option<WireUser> {
    let token = get(user, "DeviceToken")?.as_str()?.trim().to_string();
    if token.is_empty() {
        return None;
    }
    let user_fields = match get(user, "UserFields") {
        Some(Json::Array(items)) => items.first().and_then(Json::as_object).cloned(),
        Some(Json::Object(map)) => Some(map.clone()),
        _ => None,
    }
    .unwrap_or_default();
    let uf = Json::Object(user_fields.clone());
    let client_id = get(&uf, "ClientId")
        .and_then(Json::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let instance = get(user, "AccountInfo")
        .and_then(|a| get(a, "InstanceId"))
        .and_then(Json::as_str)
        .map(|i| i.trim().to_lowercase());
    let status = match get(user, "Status") {
        None | Some(Json::Null) => Status::Missing,
        Some(Json::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "active" => Status::Active,
            "inactive" | "deactivated" => Status::Deactivated,
            _ => Status::Other(s.clone()),
        },
        // The integer spelling one client uses (1 active, 2 inactive; notes §5.6).
        Some(Json::Number(n)) => match n.as_i64() {
            Some(1) => Status::Active,
            Some(2) => Status::Deactivated,
            _ => Status::Other(n.to_string()),
        },
        Some(other) => Status::Other(other.to_string()),
    };
    let profile = get(user, "UserProfile").cloned().unwrap_or(Json::Null);
    let mut fields = BTreeMap::new();
    for field in DESCRIPTION.scalars() {
        let Some(spec) = field.spec() else { continue };
        if spec.name == "enabled" {
            continue;
        }
        let key = wire_key(spec.name);
        let raw = if is_flag(&field) {
            get(&uf, &key)
        } else {
            get(&profile, &key)
        };
        let value = match raw {
            None | Some(Json::Null) => Value::Null,
            Some(Json::Bool(b)) => Value::Bool(*b),
            Some(Json::Number(n)) => match n.as_i64() {
                Some(i) if spec.ty != crate::core::model::FieldType::Text => Value::Int(i),
                _ => Value::Text(n.to_string()),
            },
            Some(Json::String(s)) if spec.name == "birthday" => Value::Text(date_of(s)),
            Some(Json::String(s)) => Value::Text(s.clone()),
            Some(other) => Value::Text(other.to_string()),
        };
        fields.insert(field, value);
    }
    let enabled = match (get(&uf, "Enabled").and_then(Json::as_bool), &status) {
        (Some(false), _) | (_, Status::Deactivated) => Value::Bool(false),
        (Some(true), Status::Active | Status::Missing) => Value::Bool(true),
        _ => Value::Null,
    };
    fields.insert(super::rules::field_named("enabled"), enabled);
    let created = get(user, "DateCreated")
        .and_then(Json::as_str)
        .map(str::to_string);
    Some(WireUser {
        token,
        client_id,
        instance,
        status,
        fields,
        user_fields,
        created,
    })
}

/// A birthday as a date: the service may answer `1990-05-31T00:00:00`; the file writes
/// `1990-05-31`.
fn date_of(text: &str) -> String {
    let text = text.trim();
    match text.get(..10) {
        Some(date)
            if super::rules::is_date(date) && (text.len() == 10 || text[10..].starts_with('T')) =>
        {
            date.to_string()
        }
        _ => text.to_string(),
    }
}

/// The JSON of a model value.
fn json_of(value: &Value) -> Json {
    value.to_json()
}

/// The `UserFields` to send: the ClientId and the flags as read (`base`), with `changes`
/// (flags and `enabled`) applied.
pub fn user_fields(
    client_id: &str,
    base: &Map<String, Json>,
    changes: &BTreeMap<Field, Value>,
) -> Json {
    let mut out = Map::new();
    // Known keys only, in their canonical spelling: what the notes document (§5.6).
    for key in [
        "EnableTracking",
        "EnableLogging",
        "EnableRealTimeLocation",
        "Enabled",
    ] {
        let base = Json::Object(base.clone());
        if let Some(v) = get(&base, key).filter(|v| v.is_boolean()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    out.insert("ClientId".into(), json!(client_id));
    for (field, value) in changes {
        if (is_flag(field) || field.is("enabled")) && *value != Value::Null {
            out.insert(wire_key(&field.name()), json_of(value));
        }
    }
    Json::Object(out)
}

/// The status to write with `enabled`.
pub fn status_for(enabled: bool) -> &'static str {
    if enabled { "Active" } else { "Deactivated" }
}

/// The body of `PUT /v1/Management/users` that sets `changes` (profile fields at the top
/// level, flags and `enabled` in a whole `UserFields`, `enabled` also as `Status`).
pub fn update_body(
    client_id: &str,
    base: &Map<String, Json>,
    changes: &BTreeMap<Field, Value>,
) -> Json {
    let mut body = Map::new();
    let mut flags = false;
    for (field, value) in changes {
        if field.spec().is_none() {
            // Attributes: this service has none (the config refuses them).
            continue;
        }
        if is_flag(field) {
            flags = true;
        } else if field.is("enabled") {
            flags = true;
            if let Value::Bool(on) = value {
                body.insert("Status".into(), json!(status_for(*on)));
            }
        } else {
            body.insert(wire_key(&field.name()), json_of(value));
        }
    }
    if flags {
        body.insert("UserFields".into(), user_fields(client_id, base, changes));
    }
    Json::Object(body)
}

/// The profile fields registration is documented to take (notes §5.1); the others (`Country`,
/// `District`, `City`) and a deactivated status are set by an update right after.
pub const REGISTRATION_PROFILE: [&str; 10] = [
    "firstName",
    "lastName",
    "nickname",
    "phone",
    "email",
    "birthday",
    "gender",
    "maritalStatus",
    "childrenCount",
    "address",
];

/// The body of `POST /v1/Registration/create` for a new user with DeviceToken `token`, and
/// the fields an update must set after it (see `REGISTRATION_PROFILE`).
pub fn registration(
    client_id: &str,
    token: &str,
    fields: &BTreeMap<Field, Value>,
) -> (Json, BTreeMap<Field, Value>) {
    let mut body = Map::new();
    body.insert("CreateAccessToken".into(), json!(false));
    body.insert("CustomToken".into(), json!(token));
    let mut after = BTreeMap::new();
    let mut flags = BTreeMap::new();
    for (field, value) in fields {
        let Some(spec) = field.spec() else { continue };
        if *value == Value::Null {
            continue;
        }
        if is_flag(field) {
            flags.insert(field.clone(), value.clone());
        } else if spec.name == "enabled" {
            flags.insert(field.clone(), value.clone());
            if *value == Value::Bool(false) {
                // Registration's `Status` is UNVERIFIED: deactivate right after.
                after.insert(field.clone(), value.clone());
            }
        } else if REGISTRATION_PROFILE.contains(&spec.name) {
            body.insert(wire_key(spec.name), json_of(value));
        } else {
            after.insert(field.clone(), value.clone());
        }
    }
    body.insert(
        "UserFields".into(),
        user_fields(client_id, &Map::new(), &flags),
    );
    (Json::Object(body), after)
}

#[cfg(test)]
mod tests {
    use super::super::rules::field_named;
    use super::*;

    fn sample() -> Json {
        json!({
            "DeviceToken": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "DateCreated": "2026-01-02T03:04:05",
            "Status": "Active",
            "ActivityStatus": "No Data",
            "UserProfile": {"FirstName": "Max", "LastName": null, "Birthday": "1990-05-31T00:00:00",
                            "ChildrenCount": 2, "Phone": "+43"},
            "AccountInfo": {"InstanceId": "4D3C0F36-5E1A-4C8E-9A57-0B1C2D3E4F50"},
            "UserFields": [{"ClientId": "drv-1", "EnableTracking": true, "EnableLogging": false,
                            "EnableRealTimeLocation": false, "Enabled": true}]
        })
    }

    #[test]
    fn a_listed_user_reads_into_fields() {
        let user = read_user(&sample()).expect("user");
        assert_eq!(user.client_id.as_deref(), Some("drv-1"));
        assert_eq!(
            user.instance.as_deref(),
            Some("4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50")
        );
        assert_eq!(user.status, Status::Active);
        let f = |n: &str| user.fields[&field_named(n)].clone();
        assert_eq!(f("firstName"), Value::Text("Max".into()));
        assert_eq!(f("lastName"), Value::Null);
        assert_eq!(f("birthday"), Value::Text("1990-05-31".into()));
        assert_eq!(f("childrenCount"), Value::Int(2));
        assert_eq!(f("enableTracking"), Value::Bool(true));
        assert_eq!(f("enabled"), Value::Bool(true));
        assert_eq!(user.fields.len(), DESCRIPTION.fields.len());
    }

    #[test]
    fn deactivated_when_either_says_so() {
        for (enabled, status, want) in [
            (json!(true), json!("Active"), Value::Bool(true)),
            (json!(false), json!("Active"), Value::Bool(false)),
            (json!(true), json!("Inactive"), Value::Bool(false)),
            (json!(null), json!("Inactive"), Value::Bool(false)),
            (json!(true), json!(2), Value::Bool(false)),
            (json!(null), json!("Active"), Value::Null),
        ] {
            let mut u = sample();
            u["Status"] = status.clone();
            u["UserFields"][0]["Enabled"] = enabled.clone();
            let user = read_user(&u).expect("user");
            assert_eq!(
                user.fields[&field_named("enabled")],
                want,
                "{enabled} {status}"
            );
        }
        let mut u = sample();
        u["Status"] = json!("Deleted");
        assert_eq!(
            read_user(&u).expect("user").status,
            Status::Other("Deleted".into())
        );
        // UserFields as an object, camelCase keys.
        let u = json!({"deviceToken": "t", "userFields": {"clientId": "c"}});
        assert_eq!(read_user(&u).expect("user").client_id.as_deref(), Some("c"));
        assert_eq!(read_user(&json!({"Status": "Active"})), None);
    }

    #[test]
    fn updates_send_changed_profile_fields_and_user_fields_whole() {
        let user = read_user(&sample()).expect("user");
        let changes: BTreeMap<Field, Value> = [
            (field_named("firstName"), Value::Text("Moritz".into())),
            (field_named("enableLogging"), Value::Bool(true)),
        ]
        .into();
        assert_eq!(
            update_body("drv-1", &user.user_fields, &changes),
            json!({
                "FirstName": "Moritz",
                "UserFields": {"ClientId": "drv-1", "EnableTracking": true, "EnableLogging": true,
                               "EnableRealTimeLocation": false, "Enabled": true}
            })
        );
        let off: BTreeMap<Field, Value> = [(field_named("enabled"), Value::Bool(false))].into();
        let body = update_body("drv-1", &user.user_fields, &off);
        assert_eq!(body["Status"], json!("Deactivated"));
        assert_eq!(body["UserFields"]["Enabled"], json!(false));
        assert_eq!(body["UserFields"]["ClientId"], json!("drv-1"));
        let only_profile: BTreeMap<Field, Value> =
            [(field_named("city"), Value::Text("Graz".into()))].into();
        assert_eq!(
            update_body("drv-1", &user.user_fields, &only_profile),
            json!({"City": "Graz"})
        );
    }

    #[test]
    fn registration_takes_documented_fields_and_leaves_the_rest_for_an_update() {
        let fields: BTreeMap<Field, Value> = [
            (field_named("firstName"), Value::Text("Max".into())),
            (field_named("city"), Value::Text("Wien".into())),
            (field_named("enableTracking"), Value::Bool(true)),
            (field_named("enabled"), Value::Bool(false)),
        ]
        .into();
        let (body, after) = registration("drv-1", "tok", &fields);
        assert_eq!(
            body,
            json!({
                "CreateAccessToken": false,
                "CustomToken": "tok",
                "FirstName": "Max",
                "UserFields": {"ClientId": "drv-1", "EnableTracking": true, "Enabled": false}
            })
        );
        assert_eq!(
            after.keys().map(Field::name).collect::<Vec<_>>(),
            ["city", "enabled"]
        );
    }
}
