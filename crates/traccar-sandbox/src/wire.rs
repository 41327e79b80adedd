//! The JSON wire format of Traccar's model classes, read and written like Jackson does it:
//! unknown properties are rejected (400 text/plain, Jackson's message), JSON `null` for a
//! primitive becomes false/0, scalars are coerced (`"5"` for a number, `1` for a boolean), a
//! `null` email or uniqueId is the setter's NullPointerException, omitted fields get Java
//! defaults. Output keeps Traccar's field order; `password` is always `null`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::store::{Device, Group, ServerSettings, User};
use super::version::TraccarVersion;

pub(crate) const SOURCE: &str =
    "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)";

/// Dates as Jackson writes them: `2026-11-22T15:22:25.583+00:00`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

pub(crate) fn time_value(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref()
        .map(|t| Value::String(format_time(t)))
        .unwrap_or(Value::Null)
}

pub(crate) fn location(body: &str, key: Option<&str>) -> String {
    // Jackson reports the position just after the offending property name and its colon.
    let mut line = 1;
    let mut column = 1;
    if let Some(key) = key
        && let Some(start) = body.find(&format!("\"{key}\""))
    {
        let mut end = start + key.len() + 2;
        let rest = &body[end..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n', ':']).len();
        end += skipped;
        let before = &body[..end];
        line = before.matches('\n').count() + 1;
        // Jackson has read one more character (the value's first) when it reports.
        column = end - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 2;
    }
    format!("{SOURCE}; line: {line}, column: {column}]")
}

/// Parses a request body as JSON, with Jackson-like messages for malformed input.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Jackson(format!(
            "No content to map due to end-of-input\n at {SOURCE}; line: 1, column: 0]"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        let message = if e.is_eof() {
            "Unexpected end-of-input within/between Object entries".to_string()
        } else {
            let text = String::from_utf8_lossy(body);
            let token: String = text.trim_start().chars().take_while(|c| c.is_alphanumeric()).collect();
            if token.is_empty() {
                format!("Unexpected character: {e}")
            } else {
                format!(
                    "Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
                )
            }
        };
        ApiError::Jackson(format!("{message}\n at {SOURCE}; line: {}, column: {}]", e.line(), e.column()))
    })
}

/// One model class: its Java name and its known JSON properties (in the order Jackson lists
/// them in an "Unrecognized field" message).
pub(crate) struct Class {
    pub java: &'static str,
    pub known: &'static [&'static str],
    /// Properties only older servers know (`legacy` readers accept them too).
    pub legacy: &'static [&'static str],
    /// `@JsonIgnoreProperties(ignoreUnknown = true)`: unknown properties are skipped.
    pub ignore_unknown: bool,
}

const USER: Class = Class {
    java: "org.traccar.model.User",
    known: &[
        "id",
        "attributes",
        "name",
        "login",
        "email",
        "phone",
        "readonly",
        "administrator",
        "map",
        "latitude",
        "longitude",
        "zoom",
        "coordinateFormat",
        "disabled",
        "expirationTime",
        "deviceLimit",
        "userLimit",
        "deviceReadonly",
        "limitCommands",
        "disableReports",
        "fixedEmail",
        "poiLayer",
        "totpKey",
        "temporary",
        "password",
    ],
    // Removed in v6.2; v6.1 and older accept it.
    legacy: &["twelveHourFormat"],
    ignore_unknown: false,
};
const DEVICE: Class = Class {
    java: "org.traccar.model.Device",
    known: &[
        "contact",
        "positionId",
        "model",
        "name",
        "uniqueId",
        "phone",
        "status",
        "attributes",
        "calendarId",
        "groupId",
        "id",
        "disabled",
        "category",
        "lastUpdate",
        "expirationTime",
    ],
    legacy: &[],
    ignore_unknown: false,
};
/// Real 6.9.1's order (the same set as every version's).
const GROUP: Class = Class {
    java: "org.traccar.model.Group",
    known: &["groupId", "id", "attributes", "name"],
    legacy: &[],
    ignore_unknown: false,
};

/// A JSON object being read into one model class.
pub(crate) struct Reader<'a> {
    class: &'a Class,
    map: &'a Map<String, Value>,
    body: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(class: &'a Class, value: &'a Value, body: &'a str) -> Result<Reader<'a>, ApiError> {
        Reader::with_legacy(class, false, value, body)
    }

    fn with_legacy(
        class: &'a Class,
        legacy: bool,
        value: &'a Value,
        body: &'a str,
    ) -> Result<Reader<'a>, ApiError> {
        let Value::Object(map) = value else {
            let (kind, token) = match value {
                Value::Array(_) => ("Array value", "START_ARRAY"),
                Value::String(_) => ("String value", "VALUE_STRING"),
                Value::Number(_) => ("Integer value", "VALUE_NUMBER_INT"),
                Value::Bool(_) => ("Boolean value", "VALUE_TRUE"),
                _ => ("Null value", "VALUE_NULL"),
            };
            return Err(ApiError::Jackson(format!(
                "Cannot deserialize value of type `{}` from {kind} (token `JsonToken.{token}`)\n at {SOURCE}; line: 1, column: 1]",
                class.java
            )));
        };
        let extra: &[&str] = if legacy { class.legacy } else { &[] };
        let known: Vec<&str> = class.known.iter().chain(extra).copied().collect();
        for key in map.keys().filter(|_| !class.ignore_unknown) {
            if !known.contains(&key.as_str()) {
                let list = known
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::Jackson(format!(
                    "Unrecognized field \"{key}\" (class {}), not marked as ignorable ({} known properties: {list}])\n at {} (through reference chain: {}[\"{key}\"])",
                    class.java,
                    known.len(),
                    location(body, Some(key)),
                    class.java
                )));
            }
        }
        Ok(Reader { class, map, body })
    }

    /// Jackson's "Cannot deserialize value of type ..." for `key`.
    pub fn mismatch(&self, key: &str, java_type: &str, value: &Value) -> ApiError {
        let kind = match value {
            Value::String(s) => {
                let why = match java_type {
                    "boolean" => "only \"true\"/\"True\"/\"TRUE\" or \"false\"/\"False\"/\"FALSE\" recognized".to_string(),
                    "double" => "not a valid `double` value (as String to convert)".to_string(),
                    "int" | "long" => format!("not a valid `{java_type}` value"),
                    _ => "not a valid representation".to_string(),
                };
                format!("String \"{s}\": {why}")
            }
            other => token_kind(other).to_string(),
        };
        ApiError::Jackson(format!(
            "Cannot deserialize value of type `{java_type}` from {kind}\n at {} (through reference chain: {}[\"{key}\"])",
            location(self.body, Some(key)),
            self.class.java
        ))
    }

    /// The raw value of a property, if present.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The body being read (for error locations).
    pub fn body(&self) -> &str {
        self.body
    }

    /// The Java class name (for error reference chains).
    pub fn java(&self) -> &'static str {
        self.class.java
    }

    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64() != Some(0)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
            Some(v) => Err(self.mismatch(key, "boolean", v)),
        }
    }

    pub fn long(&self, key: &str) -> Result<i64, ApiError> {
        self.integer(key, "long")
    }

    /// A Java `int` (floats truncate, numeric strings convert).
    pub fn int(&self, key: &str) -> Result<i64, ApiError> {
        self.integer(key, "int")
    }

    fn integer(&self, key: &str, java_type: &str) -> Result<i64, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| self.mismatch(key, java_type, &Value::Number(n.clone()))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(0),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| self.mismatch(key, java_type, &Value::String(s.clone()))),
            Some(v) => Err(self.mismatch(key, java_type, v)),
        }
    }

    pub fn double(&self, key: &str) -> Result<f64, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(0.0),
            Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| self.mismatch(key, "double", &Value::String(s.clone()))),
            Some(v) => Err(self.mismatch(key, "double", v)),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(self.mismatch(key, "java.lang.String", v)),
        }
    }

    /// A string whose setter calls `trim()`: JSON null is a NullPointerException.
    /// Jackson wraps the setter's NullPointerException in a JsonMappingException, which
    /// Jersey's mapper answers as 400 text/plain.
    pub fn trimmed(&self, key: &str, variable: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            Some(Value::Null) => Err(ApiError::Jackson(format!(
                "Cannot invoke \"String.trim()\" because \"{variable}\" is null\n at {} (through reference chain: {}[\"{key}\"])",
                location(self.body, Some(key)),
                self.class.java
            ))),
            _ => Ok(self.string(key)?.map(|s| s.trim().to_string())),
        }
    }

    fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n
                .as_i64()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())),
            Some(Value::String(s)) => parse_date(s)
                .map(Some)
                .ok_or_else(|| self.mismatch(key, "java.util.Date", &Value::String(s.clone()))),
            Some(v) => Err(self.mismatch(key, "java.util.Date", v)),
        }
    }

    pub fn attributes(&self) -> Result<Map<String, Value>, ApiError> {
        match self.map.get("attributes") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(v) => Err(self.mismatch(
                "attributes",
                "java.util.LinkedHashMap<java.lang.String,java.lang.Object>",
                v,
            )),
        }
    }
}

/// How Jackson names the token it found where another type was expected.
pub(crate) fn token_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "Array value (token `JsonToken.START_ARRAY`)",
        Value::Object(_) => "Object value (token `JsonToken.START_OBJECT`)",
        Value::String(_) => "String value (token `JsonToken.VALUE_STRING`)",
        Value::Bool(true) => "Boolean value (token `JsonToken.VALUE_TRUE`)",
        Value::Bool(false) => "Boolean value (token `JsonToken.VALUE_FALSE`)",
        Value::Number(n) if n.is_f64() => {
            "Floating-point value (token `JsonToken.VALUE_NUMBER_FLOAT`)"
        }
        Value::Number(_) => "Integer value (token `JsonToken.VALUE_NUMBER_INT`)",
        Value::Null => "Null value (token `JsonToken.VALUE_NULL`)",
    }
}

/// Jackson's accepted date inputs: ISO-8601 with or without millis and zone, or a date only.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A user as sent by a client, plus the plain password it carries (if any, non-empty).
pub struct UserInput {
    pub user: User,
    pub password: Option<String>,
}

/// Reads a User body. `legacy` accepts v6.1-era fields (`twelveHourFormat`).
pub fn read_user(value: &Value, body: &str, legacy: bool) -> Result<UserInput, ApiError> {
    let r = Reader::with_legacy(&USER, legacy, value, body)?;
    let user = User {
        id: r.long("id")?,
        attributes: r.attributes()?,
        name: r.string("name")?,
        login: r.string("login")?,
        email: r.trimmed("email", "email")?,
        phone: r.string("phone")?.map(|p| p.trim().to_string()),
        readonly: r.bool("readonly")?,
        administrator: r.bool("administrator")?,
        map: r.string("map")?,
        latitude: r.double("latitude")?,
        longitude: r.double("longitude")?,
        zoom: r.long("zoom")?,
        coordinate_format: r.string("coordinateFormat")?,
        disabled: r.bool("disabled")?,
        expiration_time: r.time("expirationTime")?,
        device_limit: r.long("deviceLimit")?,
        user_limit: r.long("userLimit")?,
        device_readonly: r.bool("deviceReadonly")?,
        limit_commands: r.bool("limitCommands")?,
        disable_reports: r.bool("disableReports")?,
        fixed_email: r.bool("fixedEmail")?,
        poi_layer: r.string("poiLayer")?,
        totp_key: r.string("totpKey")?,
        temporary: r.bool("temporary")?,
        twelve_hour_format: r.bool("twelveHourFormat")?,
        password: None,
    };
    // User.setPassword ignores null and "".
    let password = r.string("password")?.filter(|p| !p.is_empty());
    Ok(UserInput { user, password })
}

/// Reads a Device body. `status`, `lastUpdate` and `positionId` are accepted but never
/// stored; the second value holds them as the answer echoes them (observed on 6.9.1: a PUT
/// with `"status":"online"` answers `online`, the next GET `offline`).
pub fn read_device(value: &Value, body: &str) -> Result<(Device, Map<String, Value>), ApiError> {
    let r = Reader::new(&DEVICE, value, body)?;
    let mut echo = Map::new();
    if let Some(status) = r.string("status")? {
        echo.insert("status".into(), json!(status));
    }
    if let Some(t) = r.time("lastUpdate")? {
        echo.insert("lastUpdate".into(), json!(format_time(&t)));
    }
    if r.raw("positionId").is_some() {
        echo.insert("positionId".into(), json!(r.long("positionId")?));
    }
    let device = Device {
        id: r.long("id")?,
        attributes: r.attributes()?,
        group_id: r.long("groupId")?,
        calendar_id: r.long("calendarId")?,
        name: r.string("name")?,
        unique_id: r.trimmed("uniqueId", "uniqueId")?,
        phone: r.string("phone")?.map(|p| p.trim().to_string()),
        model: r.string("model")?,
        contact: r.string("contact")?,
        category: r.string("category")?,
        disabled: r.bool("disabled")?,
        expiration_time: r.time("expirationTime")?,
    };
    Ok((device, echo))
}

/// A device's JSON with the echoed `status`/`lastUpdate`/`positionId` of its request.
pub fn device_echo_json(d: &Device, echo: &Map<String, Value>) -> Value {
    let mut value = device_json(d, false);
    if let Value::Object(map) = &mut value {
        for (k, v) in echo {
            map.insert(k.clone(), v.clone());
        }
    }
    value
}

/// Reads a Group body.
pub fn read_group(value: &Value, body: &str) -> Result<Group, ApiError> {
    let r = Reader::new(&GROUP, value, body)?;
    Ok(Group {
        id: r.long("id")?,
        attributes: r.attributes()?,
        name: r.string("name")?,
        group_id: r.long("groupId")?,
    })
}

pub(crate) fn attributes_value(attributes: &Map<String, Value>, exclude: bool) -> Value {
    if exclude {
        Value::Object(Map::new())
    } else {
        Value::Object(attributes.clone())
    }
}

/// A user as Traccar serializes it (`password` always null; no hash, no salt). Servers before
/// v6.2 also write `twelveHourFormat` (after `zoom`).
pub fn user_json(u: &User, exclude_attributes: bool, version: TraccarVersion) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("id", json!(u.id));
    put(
        "attributes",
        attributes_value(&u.attributes, exclude_attributes),
    );
    put("name", json!(u.name));
    put("login", json!(u.login));
    put("email", json!(u.email));
    put("phone", json!(u.phone));
    put("readonly", json!(u.readonly));
    put("administrator", json!(u.administrator));
    put("map", json!(u.map));
    put("latitude", json!(u.latitude));
    put("longitude", json!(u.longitude));
    put("zoom", json!(u.zoom));
    if !version.at_least(6, 2) {
        put("twelveHourFormat", json!(u.twelve_hour_format));
    }
    put("coordinateFormat", json!(u.coordinate_format));
    put("disabled", json!(u.disabled));
    put("expirationTime", time_value(&u.expiration_time));
    put("deviceLimit", json!(u.device_limit));
    put("userLimit", json!(u.user_limit));
    put("deviceReadonly", json!(u.device_readonly));
    put("limitCommands", json!(u.limit_commands));
    put("disableReports", json!(u.disable_reports));
    put("fixedEmail", json!(u.fixed_email));
    put("poiLayer", json!(u.poi_layer));
    put("totpKey", json!(u.totp_key));
    put("temporary", json!(u.temporary));
    put("password", Value::Null);
    Value::Object(out)
}

/// A device as Traccar serializes it (always `offline`, never a position).
pub fn device_json(d: &Device, exclude_attributes: bool) -> Value {
    json!({
        "id": d.id, "attributes": attributes_value(&d.attributes, exclude_attributes),
        "groupId": d.group_id, "calendarId": d.calendar_id, "name": d.name,
        "uniqueId": d.unique_id, "status": "offline", "lastUpdate": null, "positionId": 0,
        "phone": d.phone, "model": d.model, "contact": d.contact, "category": d.category,
        "disabled": d.disabled, "expirationTime": time_value(&d.expiration_time),
    })
}

/// A group as Traccar serializes it.
pub fn group_json(g: &Group, exclude_attributes: bool) -> Value {
    json!({
        "id": g.id, "attributes": attributes_value(&g.attributes, exclude_attributes),
        "groupId": g.group_id, "name": g.name,
    })
}

/// The server object. `storage_space` for admins, `new_server` for anonymous callers. Before
/// 6.0 it also has `twelveHourFormat`, after `zoom`.
pub fn server_json(
    s: &ServerSettings,
    version: TraccarVersion,
    storage_space: bool,
    new_server: bool,
) -> Value {
    let object = server_fields(s, version.version_string(), storage_space, new_server);
    if !version.server_twelve_hour_format() {
        return object;
    }
    let Value::Object(fields) = object else {
        return object;
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let zoom = k == "zoom";
        out.insert(k, v);
        if zoom {
            out.insert("twelveHourFormat".into(), json!(s.twelve_hour_format));
        }
    }
    Value::Object(out)
}

fn server_fields(
    s: &ServerSettings,
    version: &str,
    storage_space: bool,
    new_server: bool,
) -> Value {
    json!({
        "id": 1, "attributes": s.attributes, "registration": s.registration,
        "readonly": s.readonly, "deviceReadonly": s.device_readonly, "map": s.map,
        "bingKey": s.bing_key, "mapUrl": s.map_url, "overlayUrl": s.overlay_url,
        "latitude": s.latitude, "longitude": s.longitude, "zoom": s.zoom,
        "forceSettings": s.force_settings, "coordinateFormat": s.coordinate_format,
        "limitCommands": s.limit_commands, "disableReports": s.disable_reports,
        "fixedEmail": s.fixed_email, "poiLayer": s.poi_layer, "announcement": s.announcement,
        "emailEnabled": false, "geocoderEnabled": false, "textEnabled": false,
        "storageSpace": if storage_space { json!([0, 0]) } else { Value::Null },
        "newServer": new_server, "openIdEnabled": false, "openIdForce": false,
        "version": version,
    })
}

/// Reads a Server body: unknown fields are ignored (`@JsonIgnoreProperties(ignoreUnknown)`),
/// omitted fields reset (full replace).
pub fn read_server(
    value: &Value,
    body: &str,
    version: TraccarVersion,
) -> Result<ServerSettings, ApiError> {
    const SERVER: Class = Class {
        java: "org.traccar.model.Server",
        known: &[],
        legacy: &[],
        ignore_unknown: true,
    };
    let Value::Object(map) = value else {
        return Err(ApiError::Jackson(format!(
            "Cannot deserialize value of type `org.traccar.model.Server` from non-object value\n at {SOURCE}; line: 1, column: 1]"
        )));
    };
    let r = Reader {
        class: &SERVER,
        map,
        body,
    };
    Ok(ServerSettings {
        registration: r.bool("registration")?,
        readonly: r.bool("readonly")?,
        device_readonly: r.bool("deviceReadonly")?,
        map: r.string("map")?,
        bing_key: r.string("bingKey")?,
        map_url: r.string("mapUrl")?,
        overlay_url: r.string("overlayUrl")?,
        latitude: r.double("latitude")?,
        longitude: r.double("longitude")?,
        zoom: r.long("zoom")?,
        twelve_hour_format: version.server_twelve_hour_format() && r.bool("twelveHourFormat")?,
        force_settings: r.bool("forceSettings")?,
        coordinate_format: r.string("coordinateFormat")?,
        limit_commands: r.bool("limitCommands")?,
        disable_reports: r.bool("disableReports")?,
        fixed_email: r.bool("fixedEmail")?,
        poi_layer: r.string("poiLayer")?,
        announcement: r.string("announcement")?,
        attributes: r.attributes()?,
    })
}
