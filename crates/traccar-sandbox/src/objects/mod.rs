//! The object kinds beyond users, devices and groups that an operator manages by hand: geofences,
//! notifications, calendars, computed attributes, drivers, saved commands and maintenance
//! (shared/traccar/observed-objects.md). This module owns their rows and their tables inside the
//! store; `table.rs` owns the store's operations on them: what the database enforces (NOT NULL
//! columns checked in table order, the drivers' unique `uniqueId`, the foreign keys of `calendarId`
//! and `commandId`), the SQL their H2 errors quote, and the cascades of deleting one (§13): a
//! deleted calendar clears `calendarId` on geofences, notifications and devices; a deleted saved
//! command deletes the notifications whose `commandId` points at it; every deleted object loses its
//! link rows.
//!
//! It must not decide who may do what (`rules.rs`), nor read or write JSON (`objects/wire.rs`),
//! nor serve HTTP (`routes/objects.rs`). Orders and scheduled reports are not modelled.

pub(crate) mod area;
pub(crate) mod ical;
pub(crate) mod table;
pub(crate) mod wire;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::object_type::ObjectType;

/// A row of `tc_geofences`. `area` is stored as given (the API never parses it, §2).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Geofence {
    pub id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    /// WKT-like `CIRCLE (lat lon, r)`, `POLYGON ((lat lon, ...))` or `LINESTRING (lat lon, ...)`.
    pub area: Option<String>,
    /// 0 = none (stored as NULL).
    pub calendar_id: i64,
    pub attributes: Map<String, Value>,
}

/// A row of `tc_notifications` (§3). Traccar notifications have no name; `description` (v6.6+)
/// is the closest thing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notification {
    pub id: i64,
    /// The event type (`alarm`, `geofenceEnter`, ...); never checked against the list.
    pub event_type: Option<String>,
    /// Only v6.6 and newer have it.
    pub description: Option<String>,
    pub always: bool,
    /// A free comma-separated string (`web,mail`); never checked.
    pub notificators: Option<String>,
    pub calendar_id: i64,
    /// The saved command a `command` notificator sends; deleting it deletes this notification.
    pub command_id: i64,
    /// `alarms` (e.g. `sos,overspeed`) lives here for type `alarm`.
    pub attributes: Map<String, Value>,
}

/// A row of `tc_calendars` (§5): `data` holds the iCalendar file's bytes (base64 on the wire).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calendar {
    pub id: i64,
    pub name: Option<String>,
    pub data: Option<Vec<u8>>,
    pub attributes: Map<String, Value>,
}

/// A row of `tc_attributes`: a computed attribute (§6). It has no `attributes` map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComputedAttribute {
    pub id: i64,
    pub description: Option<String>,
    /// The position attribute it computes (`speedKmh`).
    pub attribute: Option<String>,
    pub expression: Option<String>,
    /// `string`, `number` or `boolean` by convention; never checked.
    pub value_type: Option<String>,
    /// Only v6.2 and newer have it.
    pub priority: i64,
}

/// A row of `tc_drivers` (§7): `uniqueId` is trimmed and unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Driver {
    pub id: i64,
    pub name: Option<String>,
    pub unique_id: Option<String>,
    pub attributes: Map<String, Value>,
}

/// A row of `tc_commands`: a saved command (§4). Its wire `deviceId` is never stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SavedCommand {
    pub id: i64,
    pub description: Option<String>,
    /// `engineStop`, `custom`, ...; never checked.
    pub command_type: Option<String>,
    pub text_channel: bool,
    pub attributes: Map<String, Value>,
}

/// A row of `tc_maintenances` (§8).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Maintenance {
    pub id: i64,
    pub name: Option<String>,
    /// The position attribute it counts (`odometer`, `totalDistance`, `hours`); never checked.
    pub maintenance_type: Option<String>,
    pub start: f64,
    pub period: f64,
    pub attributes: Map<String, Value>,
}

/// One of the object kinds above. Implemented by the row types only.
pub trait Object:
    sealed::Stored + Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The kind's permission-key type (`geofenceId` -> [`ObjectType::Geofence`]).
    const TYPE: ObjectType;
    /// The row's id (0 before it is inserted).
    fn id(&self) -> i64;
}

/// The `calendarId`, `commandId` and `groupId` a row refers to (0 = none), as `checkEdit`
/// compares them before and after an update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct References {
    pub group: i64,
    pub calendar: i64,
    pub command: i64,
}

pub(crate) mod sealed {
    use std::collections::BTreeMap;

    use super::{Objects, References};

    /// What the store needs of a row type; not implementable outside the crate.
    pub trait Stored: Sized {
        fn table(objects: &Objects) -> &BTreeMap<i64, Self>;
        fn table_mut(objects: &mut Objects) -> &mut BTreeMap<i64, Self>;
        fn set_id(&mut self, id: i64);
        /// The first NOT NULL column (in table order) the row leaves null.
        fn missing_column(&self) -> Option<&'static str>;
        /// Foreign-key columns: (constraint, column, referenced kind, value).
        fn foreign_keys(&self) -> Vec<(&'static str, &'static str, super::ObjectType, i64)> {
            Vec::new()
        }
        fn references(&self) -> References {
            References::default()
        }
        /// The value of the kind's unique column (drivers' `uniqueId`), if it has one.
        fn unique_key(&self) -> Option<&str> {
            None
        }
    }
}

/// The tables of the kinds above, their id sequences and the drivers' unique index.
#[derive(Debug, Default)]
pub struct Objects {
    geofences: BTreeMap<i64, Geofence>,
    notifications: BTreeMap<i64, Notification>,
    calendars: BTreeMap<i64, Calendar>,
    attributes: BTreeMap<i64, ComputedAttribute>,
    drivers: BTreeMap<i64, Driver>,
    commands: BTreeMap<i64, SavedCommand>,
    maintenances: BTreeMap<i64, Maintenance>,
    last_ids: BTreeMap<ObjectType, i64>,
    /// Exact (trimmed) driver uniqueId -> driver id.
    driver_unique_ids: BTreeMap<String, i64>,
}

macro_rules! stored {
    ($row:ident, $kind:ident, $field:ident) => {
        impl Object for $row {
            const TYPE: ObjectType = ObjectType::$kind;
            fn id(&self) -> i64 {
                self.id
            }
        }
        impl sealed::Stored for $row {
            fn table(objects: &Objects) -> &BTreeMap<i64, Self> {
                &objects.$field
            }
            fn table_mut(objects: &mut Objects) -> &mut BTreeMap<i64, Self> {
                &mut objects.$field
            }
            fn set_id(&mut self, id: i64) {
                self.id = id;
            }
            stored!(@columns $row);
        }
    };
    (@columns Geofence) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[("NAME", self.name.is_none()), ("AREA", self.area.is_none())])
        }
        fn foreign_keys(&self) -> Vec<(&'static str, &'static str, ObjectType, i64)> {
            vec![("FK_GEOFENCE_CALENDAR_CALENDARID", "CALENDARID", ObjectType::Calendar, self.calendar_id)]
        }
        fn references(&self) -> References {
            References { calendar: self.calendar_id, ..References::default() }
        }
    };
    (@columns Notification) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[("TYPE", self.event_type.is_none())])
        }
        fn foreign_keys(&self) -> Vec<(&'static str, &'static str, ObjectType, i64)> {
            vec![
                ("FK_NOTIFICATION_CALENDAR_CALENDARID", "CALENDARID", ObjectType::Calendar, self.calendar_id),
                ("FK_NOTIFICATIONS_COMMANDID", "COMMANDID", ObjectType::Command, self.command_id),
            ]
        }
        fn references(&self) -> References {
            References { calendar: self.calendar_id, command: self.command_id, group: 0 }
        }
    };
    (@columns Calendar) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[("NAME", self.name.is_none()), ("DATA", self.data.is_none())])
        }
    };
    (@columns ComputedAttribute) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[
                ("DESCRIPTION", self.description.is_none()),
                ("TYPE", self.value_type.is_none()),
                ("ATTRIBUTE", self.attribute.is_none()),
                ("EXPRESSION", self.expression.is_none()),
            ])
        }
    };
    (@columns Driver) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[("NAME", self.name.is_none()), ("UNIQUEID", self.unique_id.is_none())])
        }
        fn unique_key(&self) -> Option<&str> {
            self.unique_id.as_deref()
        }
    };
    (@columns SavedCommand) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[
                ("DESCRIPTION", self.description.is_none()),
                ("TYPE", self.command_type.is_none()),
            ])
        }
    };
    (@columns Maintenance) => {
        fn missing_column(&self) -> Option<&'static str> {
            first_null(&[("NAME", self.name.is_none()), ("TYPE", self.maintenance_type.is_none())])
        }
    };
}

fn first_null(columns: &[(&'static str, bool)]) -> Option<&'static str> {
    columns.iter().find(|(_, null)| *null).map(|(c, _)| *c)
}

stored!(Geofence, Geofence, geofences);
stored!(Notification, Notification, notifications);
stored!(Calendar, Calendar, calendars);
stored!(ComputedAttribute, Attribute, attributes);
stored!(Driver, Driver, drivers);
stored!(SavedCommand, Command, commands);
stored!(Maintenance, Maintenance, maintenances);

impl Objects {
    pub(crate) fn contains(&self, kind: ObjectType, id: i64) -> bool {
        match kind {
            ObjectType::Geofence => self.geofences.contains_key(&id),
            ObjectType::Notification => self.notifications.contains_key(&id),
            ObjectType::Calendar => self.calendars.contains_key(&id),
            ObjectType::Attribute => self.attributes.contains_key(&id),
            ObjectType::Driver => self.drivers.contains_key(&id),
            ObjectType::Command => self.commands.contains_key(&id),
            ObjectType::Maintenance => self.maintenances.contains_key(&id),
            _ => false,
        }
    }

    fn next_id(&mut self, kind: ObjectType) -> i64 {
        let last = self.last_ids.entry(kind).or_insert(0);
        *last += 1;
        *last
    }
}
