//! The JSON wire format of the object kinds, read and written as Traccar's Jackson does
//! (observed-objects.md §1.2, §2-§8): unknown properties are a 400 text/plain naming the known
//! ones in Jackson's order, except for saved commands, which ignore them; scalars are coerced
//! (`"12"` for a double, `1` for a boolean, `5` for a string); a calendar's `data` is base64
//! decoded while the body is read and must parse as iCalendar; a driver's `uniqueId` is
//! trimmed (JSON `null` is the setter's NullPointerException). Output keeps Traccar's field
//! order. Fields a kind gained in a later release (notification `description` in 6.6, computed
//! attribute `priority` in 6.2) are unknown properties to older versions and absent from their
//! output.
//!
//! What is echoed but never stored (a saved command's `deviceId`) comes back in [`Read::echo`].

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{
    Calendar, ComputedAttribute, Driver, Geofence, Maintenance, Notification, Object, SavedCommand,
    ical,
};
use crate::errors::ApiError;
use crate::version::TraccarVersion;
use crate::wire::{Class, Reader, attributes_value, location};

/// A row read from a request body, plus the fields the response echoes but the table does not
/// keep (they override the row's own in the answer).
pub(crate) struct Read<T> {
    pub row: T,
    pub echo: Map<String, Value>,
}

impl<T> Read<T> {
    fn plain(row: T) -> Read<T> {
        Read {
            row,
            echo: Map::new(),
        }
    }
}

/// Reading and writing one kind's JSON.
pub(crate) trait Wire: Object {
    /// Reads a request body as Jackson would for the imitated version.
    fn read(value: &Value, body: &str, version: TraccarVersion) -> Result<Read<Self>, ApiError>;
    /// The row as Traccar serializes it; `exclude_attributes` writes `{}` for `attributes`.
    fn to_json(&self, version: TraccarVersion, exclude_attributes: bool) -> Value;
}

/// The answer for a read row: its JSON with the echoed fields put back.
pub(crate) fn echo_json<T: Wire>(read: &Read<T>, version: TraccarVersion) -> Value {
    let mut value = read.row.to_json(version, false);
    if let Value::Object(map) = &mut value {
        for (k, v) in &read.echo {
            map.insert(k.clone(), v.clone());
        }
    }
    value
}

const GEOFENCE: Class = Class {
    java: "org.traccar.model.Geofence",
    known: &[
        "attributes",
        "calendarId",
        "id",
        "description",
        "area",
        "name",
    ],
    legacy: &[],
    ignore_unknown: false,
};
const NOTIFICATION: Class = Class {
    java: "org.traccar.model.Notification",
    known: &[
        "notificators",
        "commandId",
        "attributes",
        "calendarId",
        "type",
        "id",
        "description",
        "always",
    ],
    legacy: &[],
    ignore_unknown: false,
};
/// Before 6.6 (no `description`); the order is 6.9.1's without it (unverified).
const NOTIFICATION_5: Class = Class {
    java: "org.traccar.model.Notification",
    known: &[
        "notificators",
        "commandId",
        "attributes",
        "calendarId",
        "type",
        "id",
        "always",
    ],
    legacy: &[],
    ignore_unknown: false,
};
const CALENDAR: Class = Class {
    java: "org.traccar.model.Calendar",
    known: &["data", "id", "attributes", "name"],
    legacy: &[],
    ignore_unknown: false,
};
const ATTRIBUTE: Class = Class {
    java: "org.traccar.model.Attribute",
    known: &[
        "priority",
        "expression",
        "type",
        "id",
        "description",
        "attribute",
    ],
    legacy: &[],
    ignore_unknown: false,
};
/// Before 6.2 (no `priority`); the order is 6.9.1's without it (unverified).
const ATTRIBUTE_5: Class = Class {
    java: "org.traccar.model.Attribute",
    known: &["expression", "type", "id", "description", "attribute"],
    legacy: &[],
    ignore_unknown: false,
};
const DRIVER: Class = Class {
    java: "org.traccar.model.Driver",
    known: &["id", "uniqueId", "attributes", "name"],
    legacy: &[],
    ignore_unknown: false,
};
const COMMAND: Class = Class {
    java: "org.traccar.model.Command",
    known: &[],
    legacy: &[],
    ignore_unknown: true,
};
const MAINTENANCE: Class = Class {
    java: "org.traccar.model.Maintenance",
    known: &["period", "start", "attributes", "type", "id", "name"],
    legacy: &[],
    ignore_unknown: false,
};

impl Wire for Geofence {
    fn read(value: &Value, body: &str, version: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let r = Reader::new(&GEOFENCE, value, body)?;
        let area = r.string("area")?;
        if version.geofence_area_parsed_on_read() && r.raw("area").is_some() {
            // `setArea` parses the geometry (before 6.9.0); a null area is its
            // NullPointerException.
            let failure = match &area {
                Some(text) => super::area::check(text).err(),
                None => Some(
                    "Cannot invoke \"String.startsWith(String)\" because \"area\" is null".into(),
                ),
            };
            if let Some(message) = failure {
                return Err(ApiError::Jackson(format!(
                    "{message}\n at {} (through reference chain: {}[\"area\"])",
                    location(body, Some("area")),
                    GEOFENCE.java
                )));
            }
        }
        Ok(Read::plain(Geofence {
            id: r.long("id")?,
            attributes: r.attributes()?,
            calendar_id: r.long("calendarId")?,
            name: r.string("name")?,
            description: r.string("description")?,
            area,
        }))
    }

    fn to_json(&self, _: TraccarVersion, exclude: bool) -> Value {
        json!({
            "id": self.id, "attributes": attributes_value(&self.attributes, exclude),
            "calendarId": self.calendar_id, "name": self.name,
            "description": self.description, "area": self.area,
        })
    }
}

impl Wire for Notification {
    fn read(value: &Value, body: &str, version: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let class = if version.notification_description() {
            &NOTIFICATION
        } else {
            &NOTIFICATION_5
        };
        let r = Reader::new(class, value, body)?;
        Ok(Read::plain(Notification {
            id: r.long("id")?,
            attributes: r.attributes()?,
            description: r.string("description")?,
            calendar_id: r.long("calendarId")?,
            always: r.bool("always")?,
            event_type: r.string("type")?,
            command_id: r.long("commandId")?,
            notificators: r.string("notificators")?,
        }))
    }

    fn to_json(&self, version: TraccarVersion, exclude: bool) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert(
            "attributes".into(),
            attributes_value(&self.attributes, exclude),
        );
        if version.notification_description() {
            out.insert("description".into(), json!(self.description));
        }
        out.insert("calendarId".into(), json!(self.calendar_id));
        out.insert("always".into(), json!(self.always));
        out.insert("type".into(), json!(self.event_type));
        out.insert("commandId".into(), json!(self.command_id));
        out.insert("notificators".into(), json!(self.notificators));
        Value::Object(out)
    }
}

impl Wire for Calendar {
    fn read(value: &Value, body: &str, version: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let r = Reader::new(&CALENDAR, value, body)?;
        let data = match r.raw("data") {
            None => None,
            Some(raw) => Some(calendar_data(&r, raw, version)?),
        };
        Ok(Read::plain(Calendar {
            id: r.long("id")?,
            attributes: r.attributes()?,
            name: r.string("name")?,
            data,
        }))
    }

    fn to_json(&self, _: TraccarVersion, exclude: bool) -> Value {
        let data = self
            .data
            .as_ref()
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d));
        json!({
            "id": self.id, "attributes": attributes_value(&self.attributes, exclude),
            "name": self.name, "data": data,
        })
    }
}

impl Wire for ComputedAttribute {
    fn read(value: &Value, body: &str, version: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let class = if version.attribute_priority() {
            &ATTRIBUTE
        } else {
            &ATTRIBUTE_5
        };
        let r = Reader::new(class, value, body)?;
        Ok(Read::plain(ComputedAttribute {
            id: r.long("id")?,
            description: r.string("description")?,
            attribute: r.string("attribute")?,
            expression: r.string("expression")?,
            value_type: r.string("type")?,
            priority: r.int("priority")?,
        }))
    }

    fn to_json(&self, version: TraccarVersion, _: bool) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("description".into(), json!(self.description));
        out.insert("attribute".into(), json!(self.attribute));
        out.insert("expression".into(), json!(self.expression));
        out.insert("type".into(), json!(self.value_type));
        if version.attribute_priority() {
            out.insert("priority".into(), json!(self.priority));
        }
        Value::Object(out)
    }
}

impl Wire for Driver {
    fn read(value: &Value, body: &str, _: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let r = Reader::new(&DRIVER, value, body)?;
        Ok(Read::plain(Driver {
            id: r.long("id")?,
            attributes: r.attributes()?,
            name: r.string("name")?,
            unique_id: r.trimmed("uniqueId", "uniqueId")?,
        }))
    }

    fn to_json(&self, _: TraccarVersion, exclude: bool) -> Value {
        json!({
            "id": self.id, "attributes": attributes_value(&self.attributes, exclude),
            "name": self.name, "uniqueId": self.unique_id,
        })
    }
}

impl Wire for SavedCommand {
    fn read(value: &Value, body: &str, _: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let r = Reader::new(&COMMAND, value, body)?;
        let device_id = r.long("deviceId")?;
        let row = SavedCommand {
            id: r.long("id")?,
            attributes: r.attributes()?,
            command_type: r.string("type")?,
            text_channel: r.bool("textChannel")?,
            description: r.string("description")?,
        };
        let mut echo = Map::new();
        echo.insert("deviceId".into(), json!(device_id));
        Ok(Read { row, echo })
    }

    fn to_json(&self, _: TraccarVersion, exclude: bool) -> Value {
        json!({
            "id": self.id, "attributes": attributes_value(&self.attributes, exclude),
            "deviceId": 0, "type": self.command_type, "textChannel": self.text_channel,
            "description": self.description,
        })
    }
}

impl Wire for Maintenance {
    fn read(value: &Value, body: &str, _: TraccarVersion) -> Result<Read<Self>, ApiError> {
        let r = Reader::new(&MAINTENANCE, value, body)?;
        Ok(Read::plain(Maintenance {
            id: r.long("id")?,
            attributes: r.attributes()?,
            name: r.string("name")?,
            maintenance_type: r.string("type")?,
            start: r.double("start")?,
            period: r.double("period")?,
        }))
    }

    fn to_json(&self, _: TraccarVersion, exclude: bool) -> Value {
        json!({
            "id": self.id, "attributes": attributes_value(&self.attributes, exclude),
            "name": self.name, "type": self.maintenance_type,
            "start": self.start, "period": self.period,
        })
    }
}

/// `Calendar.setData(byte[])`: Jackson decodes base64 first, then ical4j parses the bytes; both
/// fail while the body is read (400 text/plain).
fn calendar_data(
    r: &Reader<'_>,
    raw: &Value,
    version: TraccarVersion,
) -> Result<Vec<u8>, ApiError> {
    let chain = format!("(through reference chain: {}[\"data\"])", r.java());
    let text = match raw {
        Value::String(s) => s,
        // `new ByteArrayInputStream(null)` inside the setter.
        Value::Null => {
            return Err(ApiError::Jackson(format!(
                "Cannot read the array length because \"buf\" is null {chain}"
            )));
        }
        other => return Err(r.mismatch("data", "byte[]", other)),
    };
    let bytes = jackson_base64(text).map_err(|(rest, reason)| {
        ApiError::Jackson(format!(
            "Cannot deserialize value of type `byte[]` from String \"{rest}\": {reason}\n at {} {chain}",
            location(r.body(), Some("data")),
        ))
    })?;
    ical::check(&bytes, version.ical4j()).map_err(|e| {
        if version.jackson_names_setter_exceptions() {
            ApiError::Jackson(format!(
                "net.fortuna.ical4j.data.ParserException: {} {chain}",
                e.text()
            ))
        } else {
            ApiError::Jackson(format!(
                "{}\n at {} {chain}",
                e.text(),
                location(r.body(), Some("data"))
            ))
        }
    })?;
    Ok(bytes)
}

const BASE64_FAILED: &str = "Failed to decode VALUE_STRING as base64 (MIME-NO-LINEFEEDS): ";

/// Jackson's MIME-NO-LINEFEEDS base64 decoding of a JSON string: whitespace is skipped between
/// 4-character units, padding is required, decoding continues after a padded unit. An error
/// gives (what Jackson quotes as the string: the text after the offending character, empty at
/// the end) and the reason.
fn jackson_base64(text: &str) -> Result<Vec<u8>, (String, String)> {
    fn value(c: char) -> Option<u32> {
        match c {
            'A'..='Z' => Some(c as u32 - 'A' as u32),
            'a'..='z' => Some(c as u32 - 'a' as u32 + 26),
            '0'..='9' => Some(c as u32 - '0' as u32 + 52),
            '+' => Some(62),
            '/' => Some(63),
            _ => None,
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let rest = |i: usize| chars[i + 1..].iter().collect::<String>();
    let illegal = |i: usize, unit: usize| {
        let c = chars[i];
        let reason = if (c as u32) <= 0x20 {
            format!(
                "Illegal white space character (code 0x{:x}) as character #{} of 4-char base64 unit: can only used between units",
                c as u32,
                unit + 1
            )
        } else if c == '=' {
            format!(
                "Unexpected padding character ('=') as character #{} of 4-char base64 unit: padding only legal as 3rd or 4th character",
                unit + 1
            )
        } else {
            format!(
                "Illegal character '{c}' (code 0x{:x}) in base64 content",
                c as u32
            )
        };
        (rest(i), format!("{BASE64_FAILED}{reason}"))
    };
    let end = || {
        (
            String::new(),
            "Unexpected end of base64-encoded String: base64 variant 'MIME-NO-LINEFEEDS' expects padding (one or more '=' characters) at the end. This Base64Variant might have been incorrectly configured".to_string(),
        )
    };
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i] as u32) <= 0x20 {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(out);
        }
        let mut bits = 0u32;
        let mut unit = 0;
        let mut padding = 0;
        while unit < 4 {
            let Some(&c) = chars.get(i) else {
                return Err(end());
            };
            match value(c) {
                Some(v) if padding == 0 => bits = (bits << 6) | v,
                None if c == '=' && unit >= 2 => {
                    padding += 1;
                    bits <<= 6;
                }
                _ => return Err(illegal(i, unit)),
            }
            unit += 1;
            i += 1;
        }
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_quote_what_follows_the_bad_character_as_jackson_does() {
        // Observed on real 6.9.1.
        assert_eq!(
            jackson_base64("!!not base64!!").map_err(|e| e.0),
            Err("!not base64!!".to_string())
        );
        assert_eq!(
            jackson_base64("a!bc").map_err(|e| e.0),
            Err("bc".to_string())
        );
        assert_eq!(jackson_base64("YWJj!").map_err(|e| e.0), Err(String::new()));
        let (rest, reason) = jackson_base64("YWJjZA").expect_err("no padding");
        assert!(rest.is_empty());
        assert!(reason.starts_with("Unexpected end of base64-encoded String"));
        assert_eq!(jackson_base64("Zm9v YmFy").ok(), Some(b"foobar".to_vec()));
        assert_eq!(jackson_base64("YQ==YQ==").ok(), Some(b"aa".to_vec()));
        assert_eq!(jackson_base64("").ok(), Some(Vec::new()));
    }
}
