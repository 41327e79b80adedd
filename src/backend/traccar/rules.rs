//! Traccar's description and rules: the user fields fleetform manages on a Traccar server, its
//! link kinds, and the rules of Traccar's permission model that the engine asks for through
//! `core::model::Rules`. Pure: no I/O.
//!
//! The rules (from ../shared/traccar/API-NOTES.md and observations of real servers):
//! - Administrators, the acting account and the fleet's manager (billing account) are never
//!   managed: the backend marks administrators `untouchable` when it reads them.
//! - A plain user may not manage other users at all (the backend refuses to read for one, see
//!   `read.rs`; the rule here covers a live state from elsewhere).
//! - As administrator with `manager:` set, every fleet user is created under the manager and
//!   linked to it (kind `manager`), and every linked device must be one of the manager's, so
//!   the whole fleet stays in the billing account. The manager must exist.
//! - A manager cannot set `deviceLimit`/`userLimit`: a create with either not 0, or an update
//!   that changes either, is refused with `Administrator access required` (6.9.1 and 6.14.4
//!   refuse the create; they do not silently set 0). A manager manages the users it creates.
//! - User limit: a manager with `userLimit` n > 0 may manage at most n users; Traccar checks
//!   it per create, and not atomically (6.9.1 let concurrent creates through past the limit),
//!   so the plan counts: the users it manages now, minus the plan's deletes of them, plus its
//!   creates (and, for an administrator with `manager:`, its links to the manager, which the
//!   server never limits) must stay within n.
//! - Expiration ceiling: a manager with an `expirationTime` may not give a user a different
//!   expiration that is null or later than its own (`Administrator access required`); a create
//!   without one (null, as the blank user) is allowed.
//! - Links the acting account cannot see: Traccar lets a manager read every link of a user it
//!   manages, but unlink only devices and groups it sees itself (`Device/Group access
//!   denied`). Such a link is a problem when the plan would remove it.
//! - As administrator with `manager:`, every linked group must be one the manager sees, as for
//!   devices, so the fleet stays in the billing account (Traccar does not check it: an
//!   administrator may link anything).
//! - Device limits (`deviceLimit`) limit only the devices a user creates, never links, and an
//!   email held by a user the acting manager cannot see cannot be seen before the create: the
//!   backend turns the server's constraint error into a message saying so (`write.rs`).
//! - Devices and groups (the `devices:`/`groups:` sections; observed-objects.md §11, §12;
//!   `checkEdit`): a manager with `deviceLimit` 0 may create no device, one with n > 0 none
//!   past n visible devices (the server counts the devices the creator sees at each create, so
//!   the plan counts those it sees now plus its creates); a `readonly` manager may create, edit
//!   or delete no device or group, a `deviceReadonly` one no device (`Write access denied`).
//!   Administrators are not limited. As administrator with `manager:`, devices and groups the
//!   file lists count as the manager's: the plan links those it does not see to it.
//! - Geofences (the `geofences:` section; observed-objects.md §1, §2): any non-readonly account
//!   may create, edit and delete them (no limit, no role), so only `readonly` is refused. The
//!   server stores any `area` text: `area.rs` checks it when the file is loaded
//!   (`ObjectSpec::check`), and a new geofence must have one (`ObjectSpec::required`; the column
//!   is NOT NULL).
//! - Drivers, maintenance, saved commands, calendars and notifications (their sections;
//!   observed-objects.md §3-§8, §11): like geofences, any non-readonly account may write them
//!   (saved commands: not a `limitCommands` one either), keyed as `objects.rs` says, users
//!   linked through `{userId, <kind>Id}`. Ownership as for geofences: what fleetform creates
//!   carries the marker in `attributes`; only marked objects are deleted, unmarked ones the
//!   file names are adopted. Traccar validates almost nothing, so the loader checks what it
//!   can: a notification's `type` and a saved command's `type` against the lists 6.9.1 serves
//!   (`NOTIFICATION_TYPES`, `COMMAND_TYPES`), and a calendar's file as iCalendar (`ical.rs`).
//!   A notification's `alarms` keys are checked at plan time against the server's version
//!   (`alarms.rs`: per-release tables read from the release jars), and refused on a
//!   notification whose type is not `alarm`. Deleting a saved command deletes the
//!   notifications that use it (FK cascade): `cascades` refuses such a plan while a
//!   notification the plan keeps uses it (notifications are read whenever commands are
//!   managed, so the rule sees them). Deleting a calendar only clears it from the
//!   notifications, geofences and devices that name it (`calendarId` 0: `OnDelete::Clear`,
//!   which the plan shows as cascade lines); the file's own references to a calendar must be
//!   in its section.
//! - Computed attributes (`computedAttributes:`, observed-objects.md §6) have no `attributes`
//!   map (Traccar refuses one), and marking the description (their key) would change what the
//!   user wrote. The marker is a block comment ending the expression, `speed * 1.852 /*
//!   fleetform:acme-bikes */` (`objects::COMMENT_MARKER`): Traccar's JEXL ignores comments
//!   (observed on real 5.12, 6.9.1 and 6.14.4: `POST /api/attributes/computed/test` answers
//!   the same value with and without it). The read strips it, so the file's expression compares without it, and
//!   every write puts it back; so they are adopted, and deleted like the other kinds. There is
//!   no applied record (no attributes): their drift is always "pending". Only an administrator may write them (`Administrator
//!   access required`): `object_rights` refuses them for a manager. The loader checks that the
//!   `expression` parses (`jexl.rs`) and `type` is string, number or boolean.

use crate::core::model::{
    Action, Desired, Field, LinkKind, Live, Problem, Prune, UserKey, Value, linked,
};
use crate::core::model::{
    Capabilities, Description, FieldSpec, FieldType, KeySpec, LinkSpec, ObjectKind, ObjectList,
    ObjectSpec, OnDelete, RefSpec, RiskClass, Rules, TextCheck,
};
use std::collections::BTreeSet;

use super::links;

/// The acting account's roles, as `Account::role` spells them.
pub const ADMIN: &str = "admin";
pub const MANAGER_ROLE: &str = "manager";
pub const USER: &str = "user";

/// The role of the account fleetform runs as on a Traccar server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Manager,
    User,
}

impl Role {
    /// The name in `Account::role` and in plans.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => ADMIN,
            Role::Manager => MANAGER_ROLE,
            Role::User => USER,
        }
    }
}

const fn field(name: &'static str, ty: FieldType, risk: RiskClass, doc: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        risk,
        empty_is_null: false,
        nullable: false,
        permission: false,
        write_only: false,
        doc,
    }
}

const fn permission(
    name: &'static str,
    ty: FieldType,
    risk: RiskClass,
    doc: &'static str,
) -> FieldSpec {
    FieldSpec {
        permission: true,
        ..field(name, ty, risk, doc)
    }
}

/// Traccar stores limits as 32-bit Java ints; -1 is unlimited.
const LIMIT: FieldType = FieldType::Int {
    min: -1,
    max: i32::MAX as i64,
};

/// Traccar's user fields, in display order (the order of plans and applied records). The docs
/// are the help text of the fleet file's schema.
static FIELDS: [FieldSpec; 10] = [
    FieldSpec {
        empty_is_null: true,
        ..field("name", FieldType::Text, RiskClass::Profile, "Display name.")
    },
    FieldSpec {
        empty_is_null: true,
        nullable: true,
        ..field(
            "phone",
            FieldType::Text,
            RiskClass::Profile,
            "Phone number. `null` means \"no phone number\".",
        )
    },
    permission(
        "readonly",
        FieldType::Bool,
        RiskClass::Restriction,
        "Read-only user: may not create, edit or delete anything, nor change links.",
    ),
    permission(
        "deviceReadonly",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not create, edit or delete devices (but may still see and use them).",
    ),
    permission(
        "limitCommands",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not send commands to devices.",
    ),
    permission(
        "disableReports",
        FieldType::Bool,
        RiskClass::Restriction,
        "May not run reports or export positions.",
    ),
    field(
        "disabled",
        FieldType::Bool,
        RiskClass::Disable,
        "A disabled user can not log in.",
    ),
    permission(
        "deviceLimit",
        LIMIT,
        RiskClass::Limit { grants_role: false },
        "How many devices the user may create: -1 unlimited, 0 none, n at most n visible devices.",
    ),
    permission(
        "userLimit",
        LIMIT,
        RiskClass::Limit { grants_role: true },
        "How many users the user may manage: -1 unlimited, 0 none (not a manager).",
    ),
    FieldSpec {
        nullable: true,
        ..field(
            "expirationTime",
            FieldType::Time,
            RiskClass::Expiry,
            "When the account expires, as an RFC 3339 timestamp such as\n`2027-06-30T00:00:00Z`. `null` means it never expires.",
        )
    },
];

/// A link to a device, by uniqueId.
pub const DEVICE: LinkKind = LinkKind("device");
/// A link to a group, by name.
pub const GROUP: LinkKind = LinkKind("group");
/// The user is one of the target's managed users: the target is the fleet's `manager` (billing
/// account). Only ever linked, by administrator runs that name a manager, so the whole fleet
/// stays in the billing account; never unlinked.
pub const MANAGER: LinkKind = LinkKind("manager");

/// A link to a geofence, by name (a user's `geofences:` list; managed only when given).
pub const GEOFENCE: LinkKind = LinkKind("geofence");
/// A link to a driver, by name (`drivers:`; managed only when given).
pub const DRIVER: LinkKind = LinkKind("driver");
/// A link to a maintenance, by name (`maintenance:`; managed only when given).
pub const MAINTENANCE: LinkKind = LinkKind("maintenance");
/// A link to a saved command, by description (`commands:`; managed only when given).
pub const COMMAND: LinkKind = LinkKind("command");
/// A link to a calendar, by name (`calendars:`; managed only when given).
pub const CALENDAR: LinkKind = LinkKind("calendar");
/// A link to a notification, by description (`notifications:`; managed only when given).
pub const NOTIFICATION: LinkKind = LinkKind("notification");

/// A list of a user's links to one object kind added after the first release: managed only
/// when given.
const fn given_only(
    kind: LinkKind,
    file_key: &'static str,
    target_key: &'static str,
    doc: &'static str,
) -> LinkSpec {
    LinkSpec {
        kind,
        file_key: Some(file_key),
        target_key,
        owner: false,
        given_only: true,
        doc,
    }
}

static LINKS: [LinkSpec; 9] = [
    LinkSpec {
        kind: DEVICE,
        file_key: Some("devices"),
        target_key: "uniqueId",
        owner: false,
        given_only: false,
        doc: "Device uniqueIds linked to the user. The full list: other devices are unlinked. Left\nout, the user has no device links.",
    },
    LinkSpec {
        kind: GROUP,
        file_key: Some("groups"),
        target_key: "name",
        owner: false,
        given_only: false,
        doc: "Device group names linked to the user. The full list: other groups are unlinked.\nLeft out, the user has no group links.",
    },
    LinkSpec {
        kind: GEOFENCE,
        file_key: Some("geofences"),
        target_key: "name",
        owner: false,
        given_only: true,
        doc: "Geofence names linked to the user (the user sees them and their events). The full\nlist when given; left out, the user's geofence links are not managed.",
    },
    given_only(
        DRIVER,
        "drivers",
        "name",
        "Driver names linked to the user. The full list when given; left out, the user's\ndriver links are not managed.",
    ),
    given_only(
        MAINTENANCE,
        "maintenance",
        "name",
        "Maintenance names linked to the user. The full list when given; left out, the\nuser's maintenance links are not managed.",
    ),
    given_only(
        COMMAND,
        "commands",
        "description",
        "Saved command descriptions linked to the user (the user may send them). The full\nlist when given; left out, the user's command links are not managed.",
    ),
    given_only(
        CALENDAR,
        "calendars",
        "name",
        "Calendar names linked to the user. The full list when given; left out, the user's\ncalendar links are not managed.",
    ),
    given_only(
        NOTIFICATION,
        "notifications",
        "description",
        "Notification descriptions linked to the user (the user gets them). The full list\nwhen given; left out, the user's notification links are not managed.",
    ),
    LinkSpec {
        kind: MANAGER,
        file_key: None,
        target_key: "email",
        owner: true,
        given_only: false,
        doc: "",
    },
];

/// A device, by uniqueId (the `devices:` section).
pub const DEVICE_OBJECT: ObjectKind = ObjectKind("device");
/// A device group, by name (the `groups:` section).
pub const GROUP_OBJECT: ObjectKind = ObjectKind("group");
/// A geofence, by name (the `geofences:` section).
pub const GEOFENCE_OBJECT: ObjectKind = ObjectKind("geofence");
/// A driver, by name (the `drivers:` section).
pub const DRIVER_OBJECT: ObjectKind = ObjectKind("driver");
/// A maintenance, by name (the `maintenance:` section).
pub const MAINTENANCE_OBJECT: ObjectKind = ObjectKind("maintenance");
/// A saved command, by description (the `commands:` section).
pub const COMMAND_OBJECT: ObjectKind = ObjectKind("command");
/// A calendar, by name (the `calendars:` section).
pub const CALENDAR_OBJECT: ObjectKind = ObjectKind("calendar");
/// A notification, by description (the `notifications:` section).
pub const NOTIFICATION_OBJECT: ObjectKind = ObjectKind("notification");
/// A computed attribute, by description (the `computedAttributes:` section).
pub const COMPUTED_OBJECT: ObjectKind = ObjectKind("computedAttribute");

/// A text field of an object: `null` means "none", and an empty text is no value either.
const fn text(name: &'static str, doc: &'static str) -> FieldSpec {
    FieldSpec {
        empty_is_null: true,
        nullable: true,
        ..field(name, FieldType::Text, RiskClass::Profile, doc)
    }
}

/// The `calendar` reference of a device or a geofence (its `calendarId`, by the calendar's
/// name; observed-objects.md §2, §12).
const fn calendar_field() -> FieldSpec {
    text(
        "calendar",
        "The calendar during which it is active, by name. `null`: always. Deleting that\ncalendar on the server clears it (the plan shows it).",
    )
}

/// A device's or a geofence's calendar: cleared (calendarId 0) when the calendar is deleted.
const CALENDAR_REF: RefSpec = RefSpec {
    field: "calendar",
    target: CALENDAR_OBJECT,
    on_delete: OnDelete::Clear,
};

/// A device's fields (Traccar's JSON names, except `group` and `calendar`: the `groupId` and
/// `calendarId` as the target's name). `expirationTime` and the read-only fields are not
/// managed; updates carry them over as the server has them.
static DEVICE_FIELDS: [FieldSpec; 8] = [
    FieldSpec {
        nullable: false,
        ..text(
            "name",
            "Display name. Left out of a new device, the device is named by its uniqueId.",
        )
    },
    text(
        "group",
        "The device's group, by name. `null`: no group. Users linked to the group, its parent
or its grandparent see the device.",
    ),
    text(
        "category",
        "Category (the map icon), e.g. `bicycle`, `car`, `truck`.",
    ),
    text("phone", "Phone number of the device's SIM."),
    text("model", "Model."),
    text("contact", "Contact."),
    field(
        "disabled",
        FieldType::Bool,
        RiskClass::Profile,
        "A disabled device is kept, with its history, but the server refuses its positions.",
    ),
    calendar_field(),
];

/// A group's fields besides its name (the key).
static GROUP_FIELDS: [FieldSpec; 1] = [text(
    "parent",
    "The parent group, by name. `null`: a top-level group. Users linked to a group see its
children and grandchildren, and their devices.",
)];

/// A geofence's fields besides its name (the key).
static GEOFENCE_FIELDS: [FieldSpec; 3] = [
    FieldSpec {
        nullable: false,
        ..text(
            "area",
            "The shape, latitude first: `CIRCLE (lat lon, radius in metres)`,\n`POLYGON ((lat lon, lat lon, lat lon, ...))` or `LINESTRING (lat lon, ...)`.\nChecked when the file is loaded (the server stores any text). Required for a new\ngeofence.",
        )
    },
    text("description", "Description. `null`: none."),
    calendar_field(),
];

/// A field every new object needs (a NOT NULL column): never `null`.
const fn required(spec: FieldSpec) -> FieldSpec {
    FieldSpec {
        nullable: false,
        ..spec
    }
}

/// A driver's fields besides its name (the key).
static DRIVER_FIELDS: [FieldSpec; 1] = [required(text(
    "uniqueId",
    "The driver's identifier as trackers report it (e.g. an iButton or RFID id); unique on\nthe server. Required for a new driver.",
))];

/// A number of a maintenance: Traccar stores a double; the file holds whole numbers.
const AMOUNT: FieldType = FieldType::Int {
    min: 0,
    max: 1_000_000_000_000_000,
};

/// A maintenance's fields besides its name (the key).
static MAINTENANCE_FIELDS: [FieldSpec; 3] = [
    required(text(
        "type",
        "The position attribute the interval counts, e.g. `odometer` or `totalDistance`\n(metres) or `hours` (milliseconds). Required for a new maintenance.",
    )),
    field(
        "start",
        AMOUNT,
        RiskClass::Profile,
        "The value of `type` at which the first service is due.",
    ),
    field(
        "period",
        AMOUNT,
        RiskClass::Profile,
        "The interval between services, in the unit of `type` (e.g. 5000000 m = 5,000 km).",
    ),
];

/// A saved command's fields besides its description (the key). Its parameters are its
/// `attributes` (e.g. `data` of a `custom` command).
static COMMAND_FIELDS: [FieldSpec; 2] = [
    required(text(
        "type",
        "The command type, one Traccar knows (e.g. `engineStop`, `custom`). Required for a\nnew command.",
    )),
    field(
        "textChannel",
        FieldType::Bool,
        RiskClass::Profile,
        "Send it by SMS instead of the data connection.",
    ),
];

/// A calendar's fields besides its name (the key).
static CALENDAR_FIELDS: [FieldSpec; 1] = [required(text(
    "file",
    "The iCalendar file (BEGIN:VCALENDAR ... END:VCALENDAR with at least one VEVENT), as\na path relative to the fleet file. Read and checked when the file is loaded; plans show\nits text. Required for a new calendar.",
))];

/// A notification's fields besides its description (the key).
static NOTIFICATION_FIELDS: [FieldSpec; 6] = [
    required(text(
        "type",
        "The event type, one Traccar knows: commandResult, deviceOnline, deviceUnknown,\ndeviceOffline, deviceInactive, queuedCommandSent, deviceMoving, deviceStopped,\ndeviceOverspeed, deviceFuelDrop, deviceFuelIncrease, geofenceEnter, geofenceExit, alarm,\nignitionOn, ignitionOff, maintenance, driverChanged, media. Required for a new\nnotification.",
    )),
    field(
        "always",
        FieldType::Bool,
        RiskClass::Profile,
        "Fire for every device, not only those linked to it.",
    ),
    field(
        "notificators",
        FieldType::List,
        RiskClass::Profile,
        "How it is delivered, e.g. `[web, mail]` (the server's `notificator.types`).",
    ),
    field(
        "alarms",
        FieldType::List,
        RiskClass::Profile,
        "For type `alarm` only: the alarm keys that fire it, e.g. `[sos, movement]`; checked at\nplan time against the keys of the server's version (README \"Alarm keys\").",
    ),
    text(
        "calendar",
        "The calendar during which it fires, by name. `null`: always.",
    ),
    text(
        "command",
        "The saved command it sends, by description. `null`: none. Deleting that command on\nthe server deletes this notification (the plan refuses to).",
    ),
];

/// A computed attribute's fields besides its description (the key).
static COMPUTED_FIELDS: [FieldSpec; 4] = [
    required(text(
        "attribute",
        "The position attribute it sets, e.g. `speedKmh`. Required for a new one.",
    )),
    required(text(
        "expression",
        "The JEXL expression computing it, e.g. `speed * 1.852`; checked to parse when the\nfile is loaded. Required for a new one.",
    )),
    required(text(
        "type",
        "The type of the result: `string`, `number` or `boolean`. Required for a new one.",
    )),
    field(
        "priority",
        FieldType::Int {
            min: -1_000_000,
            max: 1_000_000,
        },
        RiskClass::Profile,
        "Computed in ascending order of priority.",
    ),
];

/// The checks of a computed attribute's fields that Traccar does not make.
fn check_computed(field: &str, text: &str) -> Result<(), String> {
    match field {
        "expression" => {
            super::jexl::check(text).map_err(|e| format!("the expression does not parse: {e}"))
        }
        "type" => one_of(
            "computed attribute type",
            text,
            &["string", "number", "boolean"],
        ),
        _ => Ok(()),
    }
}

/// The event types of `GET /api/notifications/types` (6.9.1, observed-objects.md §3).
pub const NOTIFICATION_TYPES: [&str; 19] = [
    "commandResult",
    "deviceOnline",
    "deviceUnknown",
    "deviceOffline",
    "deviceInactive",
    "queuedCommandSent",
    "deviceMoving",
    "deviceStopped",
    "deviceOverspeed",
    "deviceFuelDrop",
    "deviceFuelIncrease",
    "geofenceEnter",
    "geofenceExit",
    "alarm",
    "ignitionOn",
    "ignitionOff",
    "maintenance",
    "driverChanged",
    "media",
];

/// The command types of `GET /api/commands/types` (6.9.1, observed-objects.md §4).
pub const COMMAND_TYPES: [&str; 44] = [
    "custom",
    "deviceIdentification",
    "positionSingle",
    "positionPeriodic",
    "positionStop",
    "engineStop",
    "engineResume",
    "alarmArm",
    "alarmDisarm",
    "alarmDismiss",
    "setTimezone",
    "requestPhoto",
    "powerOff",
    "rebootDevice",
    "factoryReset",
    "sendSms",
    "sendUssd",
    "sosNumber",
    "silenceTime",
    "setPhonebook",
    "message",
    "voiceMessage",
    "outputControl",
    "voiceMonitoring",
    "setAgps",
    "setIndicator",
    "configuration",
    "getVersion",
    "firmwareUpdate",
    "setConnection",
    "setOdometer",
    "getModemStatus",
    "getDeviceStatus",
    "setSpeedLimit",
    "modePowerSaving",
    "modeDeepSleep",
    "alarmGeofence",
    "alarmBattery",
    "alarmSos",
    "alarmRemove",
    "alarmClock",
    "alarmSpeed",
    "alarmFall",
    "alarmVibration",
];

/// `text` is one of `known`, or the reason it is not.
fn one_of(what: &str, text: &str, known: &[&str]) -> Result<(), String> {
    if known.contains(&text) {
        return Ok(());
    }
    let close = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(text))
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    Err(format!(
        "`{text}` is not a {what} Traccar 6.9 knows (the server would store it and never act \
         on it); {close}use one of: {}",
        known.join(", ")
    ))
}

/// A driver's `uniqueId` as Traccar stores it: trimmed (observed-objects.md §7), so one with
/// spaces around it would never match and be rewritten on every run.
fn check_driver(field: &str, text: &str) -> Result<(), String> {
    match field {
        "uniqueId" if text.trim() != text || text.is_empty() => Err(format!(
            "the uniqueId {text:?} is empty or has spaces around it, which the server drops: \
             write {:?}",
            text.trim()
        )),
        _ => Ok(()),
    }
}

/// The checks of a notification's fields that Traccar does not make.
fn check_notification(field: &str, text: &str) -> Result<(), String> {
    match field {
        "type" => one_of("notification type", text, &NOTIFICATION_TYPES),
        _ => Ok(()),
    }
}

/// The check of a saved command's type, which Traccar does not make.
fn check_command(field: &str, text: &str) -> Result<(), String> {
    match field {
        "type" => one_of("command type", text, &COMMAND_TYPES),
        _ => Ok(()),
    }
}

/// The check of a calendar's text (its file's content, read by the loader), which Traccar
/// makes too but only at apply.
fn check_calendar(field: &str, text: &str) -> Result<(), String> {
    match field {
        "file" => super::ical::check(text),
        _ => Ok(()),
    }
}

/// The check of a geofence's fields that Traccar does not make (`area.rs`).
fn check_geofence(field: &str, text: &str) -> Result<(), String> {
    match field {
        "area" => super::area::check(text),
        _ => Ok(()),
    }
}

/// A kind users link to whose objects have attributes (the marker) and may be deleted.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per kind, each argument named in its doc"
)]
const fn simple_kind(
    kind: ObjectKind,
    section: &'static str,
    key: &'static str,
    fields: &'static [FieldSpec],
    refs: &'static [RefSpec],
    link: LinkKind,
    check: Option<TextCheck>,
    required: &'static [&'static str],
    doc: &'static str,
    entry_doc: &'static str,
) -> ObjectSpec {
    ObjectSpec {
        kind,
        section,
        key,
        fields,
        refs,
        lists: &[],
        attributes: true,
        marked: true,
        deletable: true,
        link: Some(link),
        check,
        required,
        doc,
        entry_doc,
        files: &[],
    }
}

/// The objects a device or a group may have linked to it (`/api/permissions` pairs with
/// `deviceId`/`groupId` first, observed-objects.md §10): not calendars (no such table).
static OWNER_LISTS: [ObjectList; 6] = [
    ObjectList {
        file_key: "geofences",
        target: GEOFENCE_OBJECT,
        doc: "Geofences linked to it, by name. Given (even `[]`), the complete list of its \
              direct links; left out, its geofence links are not managed.",
    },
    ObjectList {
        file_key: "notifications",
        target: NOTIFICATION_OBJECT,
        doc: "Notifications linked to it, by description. Given (even `[]`), the complete list \
              of its direct links; left out, not managed.",
    },
    ObjectList {
        file_key: "drivers",
        target: DRIVER_OBJECT,
        doc: "Drivers linked to it, by name. Given (even `[]`), the complete list of its direct \
              links; left out, not managed.",
    },
    ObjectList {
        file_key: "commands",
        target: COMMAND_OBJECT,
        doc: "Saved commands linked to it, by description. Given (even `[]`), the complete list \
              of its direct links; left out, not managed.",
    },
    ObjectList {
        file_key: "maintenance",
        target: MAINTENANCE_OBJECT,
        doc: "Maintenance reminders linked to it, by name. Given (even `[]`), the complete list \
              of its direct links; left out, not managed.",
    },
    ObjectList {
        file_key: "computedAttributes",
        target: COMPUTED_OBJECT,
        doc: "Computed attributes linked to it, by description. Given (even `[]`), the complete \
              list of its direct links; left out, not managed.",
    },
];

static OBJECTS: [ObjectSpec; 9] = [
    ObjectSpec {
        kind: GROUP_OBJECT,
        section: "groups",
        key: "name",
        fields: &GROUP_FIELDS,
        refs: &[RefSpec {
            field: "parent",
            target: GROUP_OBJECT,
            on_delete: OnDelete::Clear,
        }],
        lists: &OWNER_LISTS,
        attributes: true,
        marked: true,
        deletable: true,
        link: Some(GROUP),
        check: None,
        required: &[],
        doc:
            "Device groups this fleet manages, by name. A group missing from the server is created;
an existing one without this fleet's stamp is adopted. A group stamped with this fleet
that leaves the section is deleted with `prune: delete` (its devices and child groups
stay, without that group). Left out, groups are not managed.",
        entry_doc: "One device group. Fields left out are not managed.",
        files: &[],
    },
    ObjectSpec {
        kind: DEVICE_OBJECT,
        section: "devices",
        key: "uniqueId",
        fields: &DEVICE_FIELDS,
        refs: &[
            RefSpec {
                field: "group",
                target: GROUP_OBJECT,
                on_delete: OnDelete::Clear,
            },
            CALENDAR_REF,
        ],
        lists: &OWNER_LISTS,
        attributes: true,
        marked: true,
        deletable: false,
        link: Some(DEVICE),
        check: None,
        required: &[],
        doc:
            "Devices this fleet manages, by uniqueId (the identifier the tracker reports). A device
missing from the server is created; an existing one without this fleet's stamp is
adopted. fleetform never deletes a device (its history would go with it): one that leaves
the section is left as it is. Left out, devices are not managed.",
        entry_doc: "One device. Fields left out are not managed.",
        files: &[],
    },
    ObjectSpec {
        kind: GEOFENCE_OBJECT,
        section: "geofences",
        key: "name",
        fields: &GEOFENCE_FIELDS,
        refs: &[CALENDAR_REF],
        lists: &[],
        attributes: true,
        marked: true,
        deletable: true,
        link: Some(GEOFENCE),
        check: Some(check_geofence),
        required: &["area"],
        doc: "Geofences this fleet manages, by name. A geofence missing from the server is created;
an existing one without this fleet's stamp is adopted. A geofence stamped with this fleet
that leaves the section is deleted with `prune: delete` (the server drops its links with
it). Left out, geofences are not managed.",
        entry_doc: "One geofence. Fields left out are not managed.",
        files: &[],
    },
    simple_kind(
        DRIVER_OBJECT,
        "drivers",
        "name",
        &DRIVER_FIELDS,
        &[],
        DRIVER,
        Some(check_driver),
        &["uniqueId"],
        "Drivers this fleet manages, by name. A driver missing from the server is created; an
existing one without this fleet's stamp is adopted. A driver stamped with this fleet that
leaves the section is deleted with `prune: delete`. Left out, drivers are not managed.",
        "One driver. Fields left out are not managed.",
    ),
    simple_kind(
        MAINTENANCE_OBJECT,
        "maintenance",
        "name",
        &MAINTENANCE_FIELDS,
        &[],
        MAINTENANCE,
        None,
        &["type"],
        "Maintenance reminders this fleet manages, by name. One missing from the server is
created; an existing one without this fleet's stamp is adopted. One stamped with this
fleet that leaves the section is deleted with `prune: delete`. Left out, maintenance is
not managed.",
        "One maintenance reminder. Fields left out are not managed.",
    ),
    simple_kind(
        COMMAND_OBJECT,
        "commands",
        "description",
        &COMMAND_FIELDS,
        &[],
        COMMAND,
        Some(check_command),
        &["type"],
        "Saved commands this fleet manages, by description. One missing from the server is
created; an existing one without this fleet's stamp is adopted. One stamped with this
fleet that leaves the section is deleted with `prune: delete`, unless a notification uses
it (the server would delete that notification too: the plan refuses). Left out, saved
commands are not managed.",
        "One saved command. Its parameters go in `attributes`. Fields left out are not managed.",
    ),
    ObjectSpec {
        files: &[("file", "ics")],
        ..simple_kind(
            CALENDAR_OBJECT,
            "calendars",
            "name",
            &CALENDAR_FIELDS,
            &[],
            CALENDAR,
            Some(check_calendar),
            &["file"],
            "Calendars this fleet manages, by name, each from an iCalendar file beside the fleet
file. One missing from the server is created; an existing one without this fleet's stamp
is adopted. One stamped with this fleet that leaves the section is deleted with `prune:
delete` (the server clears it from the geofences, notifications and devices that use
it). Left out, calendars are not managed.",
            "One calendar. Fields left out are not managed.",
        )
    },
    simple_kind(
        NOTIFICATION_OBJECT,
        "notifications",
        "description",
        &NOTIFICATION_FIELDS,
        &[
            // Deleting a calendar clears it (calendarId 0); deleting a saved command deletes the
            // notifications that use it (observed-objects.md §13).
            RefSpec {
                field: "calendar",
                target: CALENDAR_OBJECT,
                on_delete: OnDelete::Clear,
            },
            RefSpec {
                field: "command",
                target: COMMAND_OBJECT,
                on_delete: OnDelete::Delete,
            },
        ],
        NOTIFICATION,
        Some(check_notification),
        &["type"],
        "Notifications this fleet manages, by description (Traccar's notifications have no name;
one without a description is never managed). One missing from the server is created; an
existing one without this fleet's stamp is adopted. One stamped with this fleet that
leaves the section is deleted with `prune: delete`. Left out, notifications are not
managed.",
        "One notification. Fields left out are not managed.",
    ),
    ObjectSpec {
        kind: COMPUTED_OBJECT,
        section: "computedAttributes",
        key: "description",
        fields: &COMPUTED_FIELDS,
        refs: &[],
        lists: &[],
        // No attributes map on the server: the marker is a comment ending the expression (see
        // the header).
        attributes: false,
        marked: true,
        deletable: true,
        link: None,
        check: Some(check_computed),
        required: &["attribute", "expression", "type"],
        doc: "Computed attributes this fleet manages, by description (administrators only). One
missing from the server is created; an existing one without this fleet's stamp is adopted.
Traccar gives them no attributes, so the stamp is a comment ending the expression
(`speed * 1.852 /* fleetform:acme-bikes */`), which Traccar's expression language ignores.
One stamped with this fleet that leaves the section is deleted with `prune: delete`. Left
out, computed attributes are not managed.",
        entry_doc: "One computed attribute. Fields left out are not managed.",
        files: &[],
    },
];

/// Traccar's description.
pub static DESCRIPTION: Description = Description {
    kind: "traccar",
    key: KeySpec {
        name: "email",
        fold_case: true,
        email: true,
        example: "someone@example.com",
        doc: "The user's email, the login. Matched case-insensitively.",
    },
    fields: &FIELDS,
    links: &LINKS,
    objects: &OBJECTS,
    capabilities: Capabilities {
        attributes: true,
        managing_account: true,
        prune: &[Prune::Delete, Prune::Disable, Prune::Keep],
        instance: false,
        delete_erases_data: false,
        generated_passwords: true,
    },
    rules: &TraccarRules,
    login: "TRACCAR_TOKEN, or TRACCAR_EMAIL and TRACCAR_PASSWORD",
};

/// The declared Traccar field `name` (a programming error if it is not one).
pub fn field_named(name: &str) -> Field {
    DESCRIPTION
        .field(name)
        .unwrap_or_else(|| panic!("{name} is not a Traccar field"))
}

/// The reason an administrator is never managed (`LiveUser::untouchable`).
pub const ADMINISTRATOR: &str = "is an administrator on the server; fleetform never manages \
                                 administrators, remove the user from the file";

struct TraccarRules;

/// A problem about the user `email` (as an action names it), located at its file entry.
fn about(desired: &Desired, email: &str, message: String) -> Problem {
    let want = desired.users.get(&desired.backend.key.key(email));
    Problem {
        user: Some(want.map_or_else(|| email.to_string(), |u| u.email.clone())),
        origin: want.and_then(|u| u.origin.clone()),
        message,
    }
}

/// The acting account's own value of `field`, as the server holds it.
fn own<'a>(live: &'a Live, field: &str) -> Option<&'a Value> {
    live.users
        .get(&UserKey::new(&live.account.email))?
        .fields
        .get(&field_named(field))
}

/// The user-limit rule (see the header): the account whose `userLimit` the plan must respect,
/// and the problems when the plan takes it over the limit. Every user the plan would add to it
/// is named, since any of them may be the one the server refuses.
fn user_limit(desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
    let me = UserKey::new(&live.account.email);
    let (holder, limit, managed): (String, Option<&Value>, Vec<&UserKey>) =
        match live.account.role.as_str() {
            // A manager sees exactly the users it manages (and itself).
            MANAGER_ROLE => (
                live.account.email.clone(),
                own(live, "userLimit"),
                live.users.keys().filter(|k| **k != me).collect(),
            ),
            ADMIN => {
                let Some(key) = &desired.manager else {
                    return Vec::new();
                };
                let Some(manager) = live.users.get(key) else {
                    return Vec::new();
                };
                (
                    manager.email.clone(),
                    manager.fields.get(&field_named("userLimit")),
                    live.users
                        .iter()
                        .filter(|(_, u)| u.managed_by.contains(key))
                        .map(|(k, _)| k)
                        .collect(),
                )
            }
            _ => return Vec::new(),
        };
    let Some(&Value::Int(limit)) = limit else {
        return Vec::new();
    };
    if limit <= 0 {
        return Vec::new();
    }
    let managed: BTreeSet<&UserKey> = managed.into_iter().collect();
    let mut removed = 0;
    let mut added: Vec<&str> = Vec::new();
    for action in actions {
        match action {
            Action::CreateUser { .. } => added.push(action.email()),
            Action::Link { kind: MANAGER, .. } => added.push(action.email()),
            Action::DeleteUser { email } if managed.contains(&UserKey::new(email)) => removed += 1,
            _ => {}
        }
    }
    let count = added.len();
    let after = (managed.len() + count).saturating_sub(removed) as i64;
    if after <= limit {
        return Vec::new();
    }
    added
        .into_iter()
        .map(|email| {
            about(
                desired,
                email,
                format!(
                    "the plan makes {holder} manage {after} users, over its userLimit {limit} \
                     ({} now, +{} added, -{removed} deleted); the server refuses the users \
                     past the limit (Manager user limit reached): remove {} user(s) from the \
                     file or ask an administrator to raise {holder}'s userLimit",
                    managed.len(),
                    count,
                    after - limit,
                ),
            )
        })
        .collect()
}

/// Unlinks of devices and groups the acting account does not see: Traccar shows a manager
/// every link of its users but refuses to remove one to an object it cannot see itself.
fn unseen_links(desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
    if live.account.role == ADMIN {
        // An administrator sees every device and group.
        return Vec::new();
    }
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Unlink {
                email,
                kind: kind @ (DEVICE | GROUP),
                target,
            } => {
                let seen = linked(&live.targets, *kind).contains(target)
                    || linked(&live.ambiguous, *kind).contains(target);
                (!seen).then(|| {
                    about(
                        desired,
                        email,
                        format!(
                            "{kind} {target} is linked to this user{}, but {} cannot see it and \
                             so cannot change this link with this credential (the server \
                             refuses: {} access denied); add it to the user's {kind}s to keep \
                             it, or ask an administrator to unlink it",
                            if *kind == GROUP {
                                " (or seen through a parent group that may go too)"
                            } else {
                                ""
                            },
                            live.account.email,
                            if *kind == DEVICE { "Device" } else { "Group" }
                        ),
                    )
                })
            }
            _ => None,
        })
        .collect()
}

/// A problem about the object an action names, located at its entry in the file.
fn about_object(desired: &Desired, kind: ObjectKind, key: &str, message: String) -> Problem {
    Problem {
        user: None,
        origin: desired
            .objects
            .get(&kind)
            .and_then(|objects| objects.get(key))
            .and_then(|o| o.origin.clone()),
        message: format!("{kind} {key}: {message}"),
    }
}

/// What a manager may do to devices and groups (see the header): its restriction flags and
/// its device limit, counted over the plan's creates.
fn object_rights(desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
    if live.account.role != MANAGER_ROLE {
        return Vec::new();
    }
    let me = &live.account.email;
    let flag = |name: &str| own(live, name) == Some(&Value::Bool(true));
    let (readonly, device_readonly) = (flag("readonly"), flag("deviceReadonly"));
    // A `limitCommands` account may not write saved commands (observed-objects.md §11).
    let limit_commands = flag("limitCommands");
    // A limit the server did not show is not judged.
    let limit = match own(live, "deviceLimit") {
        Some(Value::Int(n)) => *n,
        _ => -1,
    };
    let visible = linked(&live.targets, DEVICE).len() as i64;
    let creates = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::CreateObject {
                    kind: DEVICE_OBJECT,
                    ..
                }
            )
        })
        .count() as i64;
    let mut problems = Vec::new();
    for action in actions {
        let Some((kind, key)) = action.object() else {
            continue;
        };
        let verb = match action {
            Action::CreateObject { .. } => "create",
            Action::UpdateObject { .. } => "change",
            _ => "delete",
        };
        if kind == COMPUTED_OBJECT {
            problems.push(about_object(
                desired,
                kind,
                key,
                format!(
                    "only an administrator may {verb} computed attributes (the server refuses \
                     {me}: Administrator access required); run as an administrator, or remove \
                     `computedAttributes:`"
                ),
            ));
            continue;
        }
        let restricted = if readonly {
            Some("readonly")
        } else if device_readonly && kind == DEVICE_OBJECT {
            Some("deviceReadonly")
        } else if limit_commands && kind == COMMAND_OBJECT {
            Some("limitCommands")
        } else {
            None
        };
        if let Some(flag) = restricted {
            problems.push(about_object(
                desired,
                kind,
                key,
                format!(
                    "{me} is {flag}, so it may not {verb} {kind}s (the server refuses: Write \
                     access denied); run as an administrator, or ask one to lift {flag}"
                ),
            ));
            continue;
        }
        if kind != DEVICE_OBJECT || verb != "create" {
            continue;
        }
        if limit == 0 {
            problems.push(about_object(
                desired,
                kind,
                key,
                format!(
                    "{me} has deviceLimit 0, so it may create no device (the server refuses: \
                     Write access denied); ask an administrator to create it or to raise the limit"
                ),
            ));
        } else if limit > 0 && visible + creates > limit {
            problems.push(about_object(
                desired,
                kind,
                key,
                format!(
                    "the plan makes {me} see {} devices, over its deviceLimit {limit} ({visible} \
                     now, +{creates} created); the server refuses the creates past the limit \
                     (Write access denied): remove {} device(s) from the file or ask an \
                     administrator to raise the limit",
                    visible + creates,
                    visible + creates - limit
                ),
            ));
        }
    }
    problems
}

/// Deleting a saved command deletes the notifications whose `command` it is (Traccar's
/// `ON DELETE CASCADE`, observed-objects.md §3, §13): never done silently, the plan refuses
/// while a notification the plan keeps uses it. (Deleting a calendar only clears it from the
/// objects that use it; `core::objects::check` refuses that for the file's objects.)
fn cascades(desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
    let deleted = crate::core::cascade::deleted(actions);
    let Some(spec) = DESCRIPTION.object(NOTIFICATION_OBJECT) else {
        return Vec::new();
    };
    let Some(field) = spec.field("command") else {
        return Vec::new();
    };
    let notifications = live.objects.get(&NOTIFICATION_OBJECT);
    let mut problems = Vec::new();
    for (_, command) in deleted.iter().filter(|(k, _)| *k == COMMAND_OBJECT) {
        // Notifications fleetform cannot name (no description, or one several share) go with
        // the command too: the plan cannot fix them, so the command stays.
        for (key, notification) in live.unnamed.get(&NOTIFICATION_OBJECT).into_iter().flatten() {
            if notification.fields.get(&field) == Some(&Value::Text(command.to_string())) {
                problems.push(Problem {
                    user: None,
                    origin: None,
                    message: format!(
                        "command {command}: this plan deletes it (it left `commands:`, prune: \
                         delete), and Traccar would delete with it the notification {key} that \
                         uses it, which has no description fleetform could name it by (or one \
                         several share): add the command back under `commands:`, or make that \
                         notification use another command on the server first"
                    ),
                });
            }
        }
        for (key, notification) in notifications.into_iter().flatten() {
            let uses = notification.fields.get(&field) == Some(&Value::Text(command.to_string()));
            // A notification the plan switches to another command (or none) is switched
            // before the command goes (`plan::late_delete`).
            let switched = actions.iter().any(|a| {
                matches!(a, Action::UpdateObject { kind: NOTIFICATION_OBJECT, key: k, changes, .. }
                    if k == key && changes.iter().any(|c| c.field == field))
            });
            if !uses || switched || deleted.contains(&(NOTIFICATION_OBJECT, key.as_str())) {
                continue;
            }
            problems.push(about_object(
                desired,
                NOTIFICATION_OBJECT,
                key,
                format!(
                    "uses the saved command {command}, which this plan deletes (it left \
                     `commands:`, prune: delete); Traccar would delete this notification with \
                     it: add the command back under `commands:`, or give the notification \
                     another `command` (or `null`) in the file"
                ),
            ));
        }
    }
    problems
}

/// The account that must keep the fleet's groups (`links::groups_leaving_the_owner`): the
/// acting manager, or the `manager:` of an administrator's run (which may link groups to it).
fn holder<'a>(desired: &Desired, live: &'a Live) -> Option<links::Holder<'a>> {
    let (email, seen, may_link) = match (live.account.role.as_str(), &desired.manager) {
        (MANAGER_ROLE, _) => (
            live.account.email.clone(),
            linked(&live.targets, GROUP),
            false,
        ),
        (ADMIN, Some(manager)) => (
            live.users
                .get(manager)
                .map_or_else(|| manager.to_string(), |user| user.email.clone()),
            live.owner_targets.get(&GROUP)?,
            true,
        ),
        _ => return None,
    };
    Some(links::Holder {
        email,
        seen,
        may_link,
        link: GROUP,
        kind: GROUP_OBJECT,
        parent: "parent",
    })
}

impl Rules for TraccarRules {
    fn check(&self, desired: &Desired, live: &Live) -> Vec<Problem> {
        let account = &live.account;
        let mut problems = Vec::new();
        if account.role == USER {
            problems.push(Problem {
                user: None,
                origin: None,
                message: format!(
                    "the account {} is a plain user; run fleetform as an administrator or a manager",
                    account.email
                ),
            });
        }
        // Notifications are keyed by their description, which Traccar added in 6.6: before it
        // (5.12) none can be named, and a create with one is refused (`Unrecognized field
        // "description"`). An unknown version (0) is not refused.
        let version = super::version::Version::parse(&account.server_version);
        let notifications = desired.objects.contains_key(&NOTIFICATION_OBJECT)
            || desired
                .users
                .values()
                .any(|u| u.links.get(&NOTIFICATION).is_some());
        if notifications && version.0 > 0 && version < super::version::Version(6, 6, 0) {
            problems.push(Problem {
                user: None,
                origin: None,
                message: format!(
                    "the server is Traccar {}, whose notifications have no description, and \
                     fleetform names notifications by it (Traccar 6.6 added it): remove the \
                     `notifications:` section and the users' `notifications:` lists for this \
                     server, or upgrade it",
                    account.server_version
                ),
            });
        }
        // A notification's alarm keys, by the server's version (`alarms.rs`).
        problems.extend(super::alarms::check(desired, live, NOTIFICATION_OBJECT));
        // A computed attribute's `priority` came with Traccar 6.2: 5.12 refuses a body with it
        // (`Unrecognized field "priority"`, observed on real 5.12).
        if version.0 > 0 && version < super::version::Version(6, 2, 0) {
            let priority = DESCRIPTION
                .object(COMPUTED_OBJECT)
                .and_then(|spec| spec.field("priority"));
            for (key, want) in desired.objects.get(&COMPUTED_OBJECT).into_iter().flatten() {
                if priority
                    .as_ref()
                    .is_some_and(|f| want.fields.contains_key(f))
                {
                    problems.push(about_object(
                        desired,
                        COMPUTED_OBJECT,
                        key,
                        format!(
                            "`priority` is not a field of Traccar {}'s computed attributes (6.2 \
                             added it; the server refuses it): remove it from the entry",
                            account.server_version
                        ),
                    ));
                }
            }
        }
        // The manager must exist for an admin run to attach new users and check the billing
        // account; a manager run never sees other managers, so it is not checked there.
        let Some(manager) = desired.manager.as_ref().filter(|_| account.role == ADMIN) else {
            return problems;
        };
        if !live.users.contains_key(manager) {
            problems.push(Problem {
                user: None,
                origin: None,
                message: format!(
                    "the manager account {manager} does not exist on the server; create it \
                     or fix the fleet's `manager`"
                ),
            });
            return problems;
        }
        let allowed = linked(&live.owner_targets, DEVICE);
        // What the file's sections list is linked to the manager by the plan.
        let listed = |kind, target: &str| crate::core::objects::in_file(desired, kind, target);
        for want in desired.users.values() {
            for device in linked(&want.links, DEVICE) {
                if linked(&live.targets, DEVICE).contains(device)
                    && !allowed.contains(device)
                    && !listed(DEVICE, device)
                {
                    problems.push(Problem {
                        user: Some(want.email.clone()),
                        origin: want.origin.clone(),
                        message: format!(
                            "device {device} is not one of the manager's devices; the fleet must \
                             stay in the billing account (link the device to the manager first)"
                        ),
                    });
                }
            }
            let Some(groups) = live.owner_targets.get(&GROUP) else {
                continue;
            };
            for group in linked(&want.links, GROUP) {
                if linked(&live.targets, GROUP).contains(group)
                    && !groups.contains(group)
                    && !listed(GROUP, group)
                {
                    problems.push(Problem {
                        user: Some(want.email.clone()),
                        origin: want.origin.clone(),
                        message: format!(
                            "group {group} is not one the manager {manager} sees; the fleet must \
                             stay in the billing account (link the group to the manager first, \
                             or remove it from the user's groups)"
                        ),
                    });
                }
            }
        }
        problems
    }

    fn owner(&self, desired: &Desired, live: &Live) -> Option<String> {
        let manager = desired.manager.as_ref()?;
        (live.account.role == ADMIN).then(|| {
            live.users
                .get(manager)
                .map_or_else(|| manager.to_string(), |user| user.email.clone())
        })
    }

    fn owner_keeps(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Action> {
        match (holder(desired, live), live.objects.get(&GROUP_OBJECT)) {
            (Some(holder), Some(groups)) => links::owner_keeps(desired, groups, actions, &holder),
            _ => Vec::new(),
        }
    }

    fn check_actions(&self, desired: &Desired, live: &Live, actions: &[Action]) -> Vec<Problem> {
        let mut problems = user_limit(desired, live, actions);
        problems.extend(unseen_links(desired, live, actions));
        problems.extend(object_rights(desired, live, actions));
        problems.extend(cascades(desired, live, actions));
        if let (Some(holder), Some(groups)) =
            (holder(desired, live), live.objects.get(&GROUP_OBJECT))
        {
            problems.extend(links::groups_leaving_the_owner(
                desired, groups, actions, &holder,
            ));
        }
        if live.account.role != MANAGER_ROLE {
            return problems;
        }
        const MESSAGE: &str = "a manager account cannot set deviceLimit/userLimit (the server \
                               refuses it: Administrator access required); ask an administrator \
                               or remove the field";
        let is_limit = |field: &Field| field.is("deviceLimit") || field.is("userLimit");
        let ceiling = own(live, "expirationTime").and_then(|v| match v {
            Value::Time(t) => Some(*t),
            _ => None,
        });
        // A later expiration than the manager's own, or none, needs an administrator.
        let above_ceiling = |value: &Value| {
            ceiling.and_then(|c| match value {
                Value::Time(t) if *t > c => Some(format!(
                    "expirationTime {value} is later than {}'s own ({})",
                    live.account.email,
                    Value::Time(c)
                )),
                Value::Null => Some(format!(
                    "expirationTime null (never expires) is later than {}'s own ({})",
                    live.account.email,
                    Value::Time(c)
                )),
                _ => None,
            })
        };
        let expiry_message = |what: String| {
            format!(
                "{what}: a manager may only give expirations up to its own (the server refuses \
                 it: Administrator access required); set an earlier expirationTime or ask an \
                 administrator"
            )
        };
        for action in actions {
            let wrong: Vec<String> = match action {
                Action::CreateUser { fields, .. } => fields
                    .iter()
                    .filter_map(|(field, value)| {
                        if is_limit(field) && *value != Value::Int(0) {
                            Some(format!("{field} {value}: {MESSAGE}"))
                        } else if field.is("expirationTime") && *value != Value::Null {
                            above_ceiling(value).map(expiry_message)
                        } else {
                            None
                        }
                    })
                    .collect(),
                Action::UpdateUser { changes, .. } => changes
                    .iter()
                    .filter_map(|c| {
                        if is_limit(&c.field) {
                            Some(format!(
                                "{} {} -> {}: {MESSAGE}",
                                c.field, c.before, c.after
                            ))
                        } else if c.field.is("expirationTime") {
                            above_ceiling(&c.after).map(expiry_message)
                        } else {
                            None
                        }
                    })
                    .collect(),
                _ => continue,
            };
            for message in wrong {
                problems.push(about(desired, action.email(), message));
            }
        }
        problems
    }

    fn creator_manages(&self, live: &Live) -> bool {
        live.account.role == MANAGER_ROLE
    }
}

#[cfg(test)]
mod tests {
    //! One table per rule: the live facts, the file, and the problems expected (by user).
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::core::diff::tests::{BOSS, FLEET, ME, desired, have, live, set, want, with_field};
    use crate::core::model::{DesiredUser, LiveUser};
    use crate::core::plan::plan;
    use crate::testing::tf;
    use crate::testing::{DEVICE, GROUP};

    fn refused(d: &Desired, l: &Live) -> Vec<String> {
        match plan(d, l) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    fn managed(n: usize) -> Vec<LiveUser> {
        (0..n)
            .map(|i| have(&format!("u{i}@x.test"), Some(FLEET)))
            .collect()
    }

    fn keep(n: usize) -> Vec<DesiredUser> {
        (0..n).map(|i| want(&format!("u{i}@x.test"))).collect()
    }

    #[test]
    fn a_manager_may_not_plan_past_its_user_limit_counting_deletes() {
        // 8 of 10 managed: 2 more fit, a third does not; a delete makes room for one.
        let mut l = live("manager", managed(8));
        l.users
            .get_mut(&UserKey::new(ME))
            .unwrap()
            .fields
            .insert(tf("userLimit"), Value::Int(10));
        let mut users = keep(8);
        users.extend([want("n1@x.test"), want("n2@x.test")]);
        assert!(refused(&desired(users.clone()), &l).is_empty());
        users.push(want("n3@x.test"));
        let got = refused(&desired(users.clone()), &l);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].contains("manage 11 users, over its userLimit 10"),
            "{got:?}"
        );
        assert!(got[0].contains("Manager user limit reached"), "{got:?}");
        users.remove(0); // u0 is deleted (prune: delete)
        assert!(refused(&desired(users), &l).is_empty());
    }

    #[test]
    fn an_unlimited_manager_is_not_counted() {
        let mut l = live("manager", managed(3));
        l.users
            .get_mut(&UserKey::new(ME))
            .unwrap()
            .fields
            .insert(tf("userLimit"), Value::Int(-1));
        let mut users = keep(3);
        users.extend((0..20).map(|i| want(&format!("n{i}@x.test"))));
        assert!(refused(&desired(users), &l).is_empty());
    }

    #[test]
    fn an_admin_run_holds_the_manager_to_its_user_limit() {
        let mut boss = have(BOSS, None);
        boss.fields.insert(tf("userLimit"), Value::Int(2));
        let mut users = managed(1);
        users[0].managed_by.insert(UserKey::new(BOSS));
        users.push(boss);
        users.push(have("adopted@x.test", None)); // not yet the manager's
        let mut l = live("admin", users);
        l.owner_targets.insert(DEVICE, set(&[]));
        let mut d = desired(vec![
            want("u0@x.test"),
            want("adopted@x.test"),
            want("new@x.test"),
        ]);
        d.manager = Some(UserKey::new(BOSS));
        let got = refused(&d, &l);
        // 1 managed + the adopted one linked + the new one = 3 > 2: both added users named.
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("user adopted@x.test: the plan makes fleet@acme.example manage 3")
        );
        assert!(got[1].starts_with("user new@x.test:"));
        d.users.remove(&UserKey::new("new@x.test"));
        assert!(refused(&d, &l).is_empty());
    }

    #[test]
    fn a_manager_may_not_give_a_later_expiration_than_its_own() {
        let ceiling = Utc.with_ymd_and_hms(2027, 12, 31, 0, 0, 0).unwrap();
        let mut sub = have("old@x.test", Some(FLEET));
        sub.fields.insert(
            tf("expirationTime"),
            Value::time(ceiling - chrono::TimeDelta::days(30)),
        );
        let mut l = live("manager", vec![sub]);
        l.users
            .get_mut(&UserKey::new(ME))
            .unwrap()
            .fields
            .insert(tf("expirationTime"), Value::time(ceiling));
        let at = |d: i64| Value::time(ceiling + chrono::TimeDelta::days(d));
        let table: Vec<(&str, &str, Value, bool)> = vec![
            ("create, earlier", "n@x.test", at(-1), true),
            ("create, same", "n@x.test", at(0), true),
            ("create, later", "n@x.test", at(1), false),
            (
                "create, never expires (null = the blank user's)",
                "n@x.test",
                Value::Null,
                true,
            ),
            ("update, earlier", "old@x.test", at(-2), true),
            ("update, later", "old@x.test", at(1), false),
            ("update to never", "old@x.test", Value::Null, false),
        ];
        for (name, email, value, ok) in table {
            let mut users = vec![want("old@x.test")];
            users.retain(|u| u.email != email);
            users.push(with_field(want(email), tf("expirationTime"), value));
            let got = refused(&desired(users), &l);
            assert_eq!(got.is_empty(), ok, "{name}: {got:?}");
            if !ok {
                assert!(got[0].contains("Administrator access required"), "{got:?}");
            }
        }
    }

    #[test]
    fn links_a_manager_cannot_see_are_refused_when_removed_and_kept_when_listed() {
        let mut sub = have("sub@x.test", Some(FLEET));
        sub.links.insert(DEVICE, set(&["D1", "HIDDEN"]));
        sub.links.insert(GROUP, set(&["SecretGroup"]));
        let l = live("manager", vec![sub]);
        let mut w = want("sub@x.test");
        w.links.insert(DEVICE, set(&["D1"]));
        let got = refused(&desired(vec![w.clone()]), &l);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains("device HIDDEN is linked to this user"),
            "{got:?}"
        );
        assert!(got[0].contains("Device access denied"), "{got:?}");
        assert!(got[1].contains("group SecretGroup"), "{got:?}");
        w.links.insert(DEVICE, set(&["D1", "HIDDEN"]));
        w.links.insert(GROUP, set(&["SecretGroup"]));
        let kept = plan(&desired(vec![w]), &l).expect("nothing to change");
        assert!(kept.is_empty(), "{:?}", kept.actions);
    }

    fn devices(d: &mut Desired, keys: &[&str]) {
        let spec = DESCRIPTION.object(DEVICE_OBJECT).expect("devices");
        let objects = d.objects.entry(spec.kind).or_default();
        for key in keys {
            objects.insert(
                key.to_string(),
                crate::core::model::DesiredObject {
                    links: Default::default(),
                    key: key.to_string(),
                    fields: Default::default(),
                    origin: Some(format!("f.yaml:{}:3", key.len())),
                },
            );
        }
    }

    fn groups(d: &mut Desired, keys: &[&str]) {
        let objects = d.objects.entry(GROUP_OBJECT).or_default();
        for key in keys {
            objects.insert(
                key.to_string(),
                crate::core::model::DesiredObject {
                    links: Default::default(),
                    key: key.to_string(),
                    fields: Default::default(),
                    origin: None,
                },
            );
        }
    }

    fn manager_with(fields: &[(&str, Value)]) -> Live {
        let mut l = live("manager", vec![]);
        // D1 is on the server (an unmarked device the manager sees).
        l.objects.entry(DEVICE_OBJECT).or_default().insert(
            "D1".into(),
            crate::core::model::LiveObject {
                links: Default::default(),
                key: "D1".into(),
                marker: None,
                fields: Default::default(),
            },
        );
        let me = l.users.get_mut(&UserKey::new(ME)).unwrap();
        for (name, value) in fields {
            me.fields.insert(tf(name), value.clone());
        }
        l
    }

    #[test]
    fn a_manager_creates_devices_within_its_device_limit() {
        // `live` shows the manager D1..D3.
        let table: Vec<(&str, Value, usize, usize)> = vec![
            ("deviceLimit 0: no device at all", Value::Int(0), 1, 1),
            ("unlimited", Value::Int(-1), 5, 0),
            ("3 seen + 2 created fit 5", Value::Int(5), 2, 0),
            (
                "3 seen + 3 created exceed 5: every create named",
                Value::Int(5),
                3,
                3,
            ),
        ];
        for (name, limit, creates, expected) in table {
            let l = manager_with(&[("deviceLimit", limit)]);
            let mut d = desired(vec![]);
            let keys: Vec<String> = (0..creates).map(|i| format!("N{i}")).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            devices(&mut d, &keys);
            // Existing devices are updated (adopted), which no limit holds back.
            devices(&mut d, &["D1"]);
            let got = refused(&d, &l);
            assert_eq!(got.len(), expected, "{name}: {got:#?}");
            for problem in &got {
                assert!(problem.contains("deviceLimit"), "{name}: {problem}");
                assert!(problem.contains("Write access denied"), "{name}: {problem}");
            }
        }
        let l = manager_with(&[("deviceLimit", Value::Int(5))]);
        let mut d = desired(vec![]);
        devices(&mut d, &["N0", "N1", "N2"]);
        let got = refused(&d, &l);
        assert!(
            got[0].starts_with("f.yaml:2:3: device N0: the plan makes Admin@Acme.example see 6 devices, over its deviceLimit 5 (3 now, +3 created)"),
            "{got:#?}"
        );
    }

    #[test]
    fn a_restricted_manager_may_not_change_devices_or_groups() {
        let mut d = desired(vec![]);
        devices(&mut d, &["D1", "NEW"]);
        groups(&mut d, &["G-new"]);
        let limits = ("deviceLimit", Value::Int(-1));
        let got = refused(
            &d,
            &manager_with(&[limits.clone(), ("deviceReadonly", Value::Bool(true))]),
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got.iter()
                .all(|p| p.contains("is deviceReadonly, so it may not")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.contains("device NEW: ") && p.contains("may not create devices"))
        );
        assert!(
            got.iter()
                .any(|p| p.contains("device D1: ") && p.contains("may not change devices"))
        );
        let got = refused(
            &d,
            &manager_with(&[limits.clone(), ("readonly", Value::Bool(true))]),
        );
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got.iter()
                .any(|p| p.contains("group G-new: ") && p.contains("is readonly"))
        );
        // An administrator is held to none of it.
        let mut admin = live("admin", vec![]);
        admin
            .users
            .get_mut(&UserKey::new(ME))
            .unwrap()
            .fields
            .insert(tf("deviceLimit"), Value::Int(0));
        assert!(refused(&d, &admin).is_empty());
        assert!(refused(&d, &manager_with(&[limits])).is_empty());
    }

    #[test]
    fn a_limit_commands_manager_may_not_write_saved_commands() {
        let mut d = desired(vec![]);
        for (kind, required) in [(COMMAND_OBJECT, "type"), (DRIVER_OBJECT, "uniqueId")] {
            let field = DESCRIPTION
                .object(kind)
                .and_then(|spec| spec.field(required))
                .expect("declared");
            d.objects.entry(kind).or_default().insert(
                "x".into(),
                crate::core::model::DesiredObject {
                    links: Default::default(),
                    key: "x".into(),
                    fields: [(field, Value::Text("custom".into()))].into(),
                    origin: Some("f.yaml:9:3".into()),
                },
            );
        }
        let got = refused(
            &d,
            &manager_with(&[
                ("deviceLimit", Value::Int(-1)),
                ("limitCommands", Value::Bool(true)),
            ]),
        );
        assert_eq!(
            got,
            [
                "f.yaml:9:3: command x: Admin@Acme.example is limitCommands, so it may not create \
              commands (the server refuses: Write access denied); run as an administrator, or \
              ask one to lift limitCommands"
            ]
        );
        assert!(refused(&d, &manager_with(&[("deviceLimit", Value::Int(-1))])).is_empty());
    }

    mod cascade {
        //! A property of the command -> notification cascade over random files and servers:
        //! a plan either deletes no command a surviving notification uses, or is refused; a
        //! plan that is not refused converges (its simulation re-plans to nothing).
        use proptest::prelude::*;
        use proptest::sample::select;

        use super::*;
        use crate::core::model::{DesiredObject, LiveObject};
        use crate::core::plan::{plan, simulate};

        const COMMANDS: [&str; 3] = ["c0", "c1", "c2"];
        const NOTIFICATIONS: [&str; 3] = ["n0", "n1", "n2"];

        fn field(kind: ObjectKind, name: &str) -> Field {
            DESCRIPTION
                .object(kind)
                .and_then(|spec| spec.field(name))
                .expect("declared")
        }

        fn marker() -> impl Strategy<Value = Option<&'static str>> {
            select(vec![None, Some(FLEET), Some("other")])
        }

        /// (exists, marker, index of the command among those present; past them: none).
        type Held = (bool, Option<&'static str>, usize);

        fn live_of(commands: &[Held], notifications: &[Held]) -> Live {
            let mut l = live("admin", vec![]);
            let mut present = Vec::new();
            for (i, (exists, marker, _)) in commands.iter().enumerate() {
                if *exists {
                    l.objects.entry(COMMAND_OBJECT).or_default().insert(
                        COMMANDS[i].into(),
                        LiveObject {
                            links: Default::default(),
                            key: COMMANDS[i].into(),
                            marker: marker.map(str::to_string),
                            fields: [(field(COMMAND_OBJECT, "type"), Value::Text("custom".into()))]
                                .into(),
                        },
                    );
                    l.targets
                        .entry(COMMAND)
                        .or_default()
                        .insert(COMMANDS[i].into());
                    present.push(COMMANDS[i]);
                }
            }
            for (i, (exists, marker, command)) in notifications.iter().enumerate() {
                if *exists {
                    let command = present
                        .get(*command)
                        .map_or(Value::Null, |c| Value::Text(c.to_string()));
                    l.objects.entry(NOTIFICATION_OBJECT).or_default().insert(
                        NOTIFICATIONS[i].into(),
                        LiveObject {
                            links: Default::default(),
                            key: NOTIFICATIONS[i].into(),
                            marker: marker.map(str::to_string),
                            fields: [
                                (
                                    field(NOTIFICATION_OBJECT, "type"),
                                    Value::Text("alarm".into()),
                                ),
                                (field(NOTIFICATION_OBJECT, "command"), command),
                            ]
                            .into(),
                        },
                    );
                    l.targets
                        .entry(NOTIFICATION)
                        .or_default()
                        .insert(NOTIFICATIONS[i].into());
                }
            }
            l
        }

        fn object(key: &str, fields: Vec<(Field, Value)>) -> DesiredObject {
            DesiredObject {
                links: Default::default(),
                key: key.into(),
                fields: fields.into_iter().collect(),
                origin: None,
            }
        }

        /// A file: a subset of the commands, notifications naming a listed command, `null`
        /// or (leaving `command` out) nothing.
        fn desired_of(commands: &[bool], notifications: &[(bool, usize)], delete: bool) -> Desired {
            let mut d = desired(vec![]);
            d.prune = if delete { Prune::Delete } else { Prune::Keep };
            let listed: Vec<&str> = COMMANDS
                .iter()
                .zip(commands)
                .filter(|(_, keep)| **keep)
                .map(|(c, _)| *c)
                .collect();
            d.objects.insert(
                COMMAND_OBJECT,
                listed
                    .iter()
                    .map(|c| {
                        let typed = (field(COMMAND_OBJECT, "type"), Value::Text("custom".into()));
                        (c.to_string(), object(c, vec![typed]))
                    })
                    .collect(),
            );
            let mut wanted = std::collections::BTreeMap::new();
            for (i, (keep, command)) in notifications.iter().enumerate() {
                if !keep {
                    continue;
                }
                let mut fields = vec![(
                    field(NOTIFICATION_OBJECT, "type"),
                    Value::Text("alarm".into()),
                )];
                match listed.get(*command) {
                    Some(c) => fields.push((
                        field(NOTIFICATION_OBJECT, "command"),
                        Value::Text(c.to_string()),
                    )),
                    None if *command % 2 == 0 => {
                        fields.push((field(NOTIFICATION_OBJECT, "command"), Value::Null))
                    }
                    None => {}
                }
                wanted.insert(
                    NOTIFICATIONS[i].to_string(),
                    object(NOTIFICATIONS[i], fields),
                );
            }
            d.objects.insert(NOTIFICATION_OBJECT, wanted);
            d
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn no_plan_deletes_a_command_under_a_notification(
                commands in prop::collection::vec((any::<bool>(), marker(), 0usize..4), 3),
                notifications in prop::collection::vec((any::<bool>(), marker(), 0usize..4), 3),
                want_commands in prop::collection::vec(any::<bool>(), 3),
                want_notifications in prop::collection::vec((any::<bool>(), 0usize..5), 3),
                delete in any::<bool>(),
            ) {
                let l = live_of(&commands, &notifications);
                let d = desired_of(&want_commands, &want_notifications, delete);
                let claimed = d.objects.iter().any(|(kind, wanted)| {
                    wanted.keys().any(|key| {
                        l.objects.get(kind).and_then(|o| o.get(key))
                            .is_some_and(|o| o.marker.as_deref() == Some("other"))
                    })
                });
                let gone = |kind: ObjectKind, key: &str| {
                    delete
                        && !d.objects[&kind].contains_key(key)
                        && l.objects.get(&kind).and_then(|o| o.get(key))
                            .is_some_and(|o| o.marker.as_deref() == Some(FLEET))
                };
                let command = field(NOTIFICATION_OBJECT, "command");
                let cascades = l.objects.get(&NOTIFICATION_OBJECT).into_iter().flatten().any(
                    |(key, n)| {
                        // One the file gives a `command` is switched before the delete.
                        let switched = d.objects[&NOTIFICATION_OBJECT]
                            .get(key)
                            .is_some_and(|o| o.fields.contains_key(&command));
                        !gone(NOTIFICATION_OBJECT, key)
                            && !switched
                            && matches!(n.fields.get(&command), Some(Value::Text(c)) if gone(COMMAND_OBJECT, c))
                    },
                );
                match plan(&d, &l) {
                    Err(problems) => {
                        prop_assert!(claimed || cascades, "{problems:?}");
                        if !claimed {
                            prop_assert!(
                                problems.iter().all(|p| p.message.contains("Traccar would delete this notification")),
                                "{problems:?}"
                            );
                        }
                    }
                    Ok(p) => {
                        prop_assert!(!claimed && !cascades, "{:?}", p.actions);
                        let after = simulate(&l, &p);
                        let again = plan(&d, &after);
                        prop_assert!(again.as_ref().is_ok_and(|p| p.is_empty()), "{again:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn devices_and_groups_the_file_lists_join_the_billing_account() {
        let mut l = live("admin", vec![have(BOSS, None)]);
        l.owner_targets.insert(DEVICE, set(&["D1"]));
        l.owner_targets.insert(GROUP, set(&["G1"]));
        let mut w = want("n@x.test");
        w.links.insert(DEVICE, set(&["D1", "D2"]));
        w.links.insert(GROUP, set(&["G2"]));
        let mut d = desired(vec![w]);
        d.manager = Some(UserKey::new(BOSS));
        assert_eq!(refused(&d, &l).len(), 2, "D2 and G2 are not the manager's");
        devices(&mut d, &["D2"]);
        groups(&mut d, &["G2"]);
        let p = plan(&d, &l).expect("listed: linked to the manager");
        let to_manager: Vec<String> = p
            .actions
            .iter()
            .filter(|a| a.email() == BOSS)
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            to_manager,
            [
                "link device D2 to fleet@acme.example",
                "link group G2 to fleet@acme.example"
            ]
        );
    }

    #[test]
    fn an_admin_run_keeps_groups_in_the_billing_account() {
        let boss = have(BOSS, None);
        let mut l = live("admin", vec![boss]);
        l.owner_targets.insert(DEVICE, set(&[]));
        l.owner_targets.insert(GROUP, set(&["G1"]));
        let mut w = want("n@x.test");
        w.links.insert(GROUP, set(&["G1", "G2"]));
        let mut d = desired(vec![w]);
        d.manager = Some(UserKey::new(BOSS));
        let got = refused(&d, &l);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("group G2 is not one the manager"),
            "{got:?}"
        );
    }
}
