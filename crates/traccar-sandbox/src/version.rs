//! The Traccar generation the sandbox imitates, and every behaviour switch that depends on it.
//!
//! Each predicate names the Traccar release that introduced the behaviour (see the version table,
//! §11 of API-NOTES.md). Handlers ask these predicates; they never compare versions themselves.

use std::fmt;
use std::str::FromStr;

/// A Traccar release line the sandbox can imitate. Ordered oldest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraccarVersion {
    /// Traccar 5.12: one-line error bodies, bad Basic credentials give 400 (NPE), no paging.
    V5_12,
    /// Traccar 6.9.1: the version observed in observed-api.md.
    V6_9,
    /// Traccar 6.14.5, the latest release (default).
    #[default]
    V6_14,
}

impl TraccarVersion {
    /// Every supported version, oldest first.
    pub const ALL: [TraccarVersion; 3] = [
        TraccarVersion::V5_12,
        TraccarVersion::V6_9,
        TraccarVersion::V6_14,
    ];

    /// The `version` reported by `GET /api/server`.
    pub fn version_string(&self) -> &'static str {
        match self {
            TraccarVersion::V5_12 => "5.12",
            TraccarVersion::V6_9 => "6.9.1",
            TraccarVersion::V6_14 => "6.14.5",
        }
    }

    /// (major, minor) of the imitated release.
    fn number(&self) -> (u32, u32) {
        match self {
            TraccarVersion::V5_12 => (5, 12),
            TraccarVersion::V6_9 => (6, 9),
            TraccarVersion::V6_14 => (6, 14),
        }
    }

    /// Whether the imitated release is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.number() >= (major, minor)
    }

    /// v6.0: the first user may register even when registration is disabled.
    pub fn first_user_ignores_registration(&self) -> bool {
        self.at_least(6, 0)
    }
    /// Before v6.0 a new server has `registration: true` (seen on a real 5.12); from 6.0 off.
    pub fn new_server_registration(&self) -> bool {
        !self.at_least(6, 0)
    }
    /// Before v6.0 the server object still has `twelveHourFormat` (after `zoom`; real 5.12).
    pub fn server_twelve_hour_format(&self) -> bool {
        !self.at_least(6, 0)
    }
    /// v6.0: a Bearer token of a deleted user makes the filter throw a NullPointerException
    /// (400; fixed after 6.14.5). Before, the filter finds no user and answers 401 (real 5.12).
    pub fn deleted_user_token_npe(&self) -> bool {
        self.at_least(6, 0)
    }
    /// v6.8.1: `ManagedUser` has a storage name, so a non-admin may link managed users. Before,
    /// any non-admin `managedUserId` link or unlink fails with `StorageException: StorageName
    /// annotation is missing` once the owner check passed (real 5.12).
    pub fn managed_user_links_by_non_admins(&self) -> bool {
        self.at_least(6, 9)
    }
    /// v6.14: a permission body must have exactly two keys (`IllegalArgumentException: Invalid
    /// permission`, real 6.14.4). Before, one key is `NoSuchElementException` and a third key
    /// reaches the SQL statement (real 6.9.1 and 5.12).
    pub fn permission_key_count_check(&self) -> bool {
        self.at_least(6, 14)
    }
    /// The embedded H2's build number in error texts: 2.2.224 in 5.12, 2.3.232 in 6.9.1,
    /// 2.4.240 in 6.14.4 (all seen on real servers).
    pub fn h2_build(&self) -> u32 {
        if self.at_least(6, 14) {
            240
        } else if self.at_least(6, 0) {
            232
        } else {
            224
        }
    }
    /// v5.11–v5.12: bad Basic (and form login) credentials give 400 NullPointerException.
    pub fn bad_credentials_npe(&self) -> bool {
        !self.at_least(6, 0)
    }
    /// v6.2: the Authorization scheme is matched case-insensitively.
    pub fn case_insensitive_scheme(&self) -> bool {
        self.at_least(6, 2)
    }
    /// v6.3: `GET /api/users?deviceId=` exists (admins; managers from v6.6).
    pub fn users_by_device(&self) -> bool {
        self.at_least(6, 3)
    }
    /// v6.6: managers may use `GET /api/users?deviceId=`.
    pub fn users_by_device_for_managers(&self) -> bool {
        self.at_least(6, 6)
    }
    /// v6.3: a readonly user may save its own `notificationTokens` / `termsAccepted`.
    pub fn readonly_self_attributes(&self) -> bool {
        self.at_least(6, 3)
    }
    /// v6.6: lists are ordered by name.
    pub fn sorted_lists(&self) -> bool {
        self.at_least(6, 6)
    }
    /// v6.7: error bodies are full stack traces instead of one line.
    pub fn stack_trace_errors(&self) -> bool {
        self.at_least(6, 7)
    }
    /// v6.7: changes are written to the audit log (`tc_actions`), read by `GET /api/audit`.
    pub fn audit_log(&self) -> bool {
        self.at_least(6, 7)
    }
    /// v6.12: audit rows carry the acting user's `userEmail`.
    pub fn audit_user_email(&self) -> bool {
        self.at_least(6, 12)
    }
    /// An audit query without a bound: real 6.14.4 fails in its own query builder with a bare
    /// `NullPointerException` before H2 sees the query; real 6.9.1 lets H2 refuse the unset
    /// parameter. (Taken as 6.14 for the sandbox's modes; the release in between is unobserved.)
    pub fn audit_unset_bound_is_npe(&self) -> bool {
        self.at_least(6, 14)
    }
    /// v6.10: `excludeAttributes`.
    pub fn exclude_attributes(&self) -> bool {
        self.at_least(6, 10)
    }
    /// v6.11: token revocation and a random id inside tokens.
    pub fn token_revocation(&self) -> bool {
        self.at_least(6, 11)
    }
    /// v6.12: `GET /api/users?deviceId=` also requires access to the device.
    pub fn users_by_device_checks_device(&self) -> bool {
        self.at_least(6, 12)
    }
    /// v6.12: a cookie session is only honoured from the origin it was opened from.
    pub fn session_origin_check(&self) -> bool {
        self.at_least(6, 12)
    }
    /// v6.13: `limit` / `offset` / `keyword` on lists.
    pub fn paging(&self) -> bool {
        self.at_least(6, 13)
    }
    /// v6.13: login identifiers are matched case-insensitively.
    pub fn case_insensitive_login(&self) -> bool {
        self.at_least(6, 13)
    }
    /// v6.13: `deviceId` -> `linkedDeviceId` links.
    pub fn linked_devices(&self) -> bool {
        self.at_least(6, 13)
    }
    /// v6.14: `GET /api/permissions` (admin only).
    pub fn permissions_listing(&self) -> bool {
        self.at_least(6, 14)
    }
    /// v6.14: group cycle detection walks up to 3 ancestors (before: only `groupId == id`).
    pub fn deep_cycle_check(&self) -> bool {
        self.at_least(6, 14)
    }
    /// Jackson's "Unrecognized field" message ends its list of known properties with `)`, not
    /// `])` (real 6.14.4; real 6.9.1 has the bracket; the release in between is unobserved).
    pub fn jackson_unbracketed_known_properties(&self) -> bool {
        self.at_least(6, 14)
    }
    /// Before 6.9.0 `Geofence.setArea` parsed the geometry while the body was read, so a bad
    /// `area` was a 400 (real 5.12); from 6.9.0 it is parsed lazily and any string is stored.
    pub fn geofence_area_parsed_on_read(&self) -> bool {
        !self.at_least(6, 9)
    }
    /// The ical4j release line that parses calendars: 3.2 before 6.5 (real 5.12: `Unparseable
    /// date: "..."`), 4.1 from 6.5 (java.time dates, `Error at line N:` on value errors too,
    /// real 6.9.1), 4.2 from 6.11 (an unknown `FREQ` is `Invalid value X for FREQ`, real
    /// 6.14.4).
    pub fn ical4j(&self) -> (u32, u32) {
        if self.at_least(6, 11) {
            (4, 2)
        } else if self.at_least(6, 5) {
            (4, 1)
        } else {
            (3, 2)
        }
    }
    /// Jackson names a checked exception thrown by a setter (`net.fortuna.ical4j.data.
    /// ParserException: ...`, one line, real 6.9.1); 5.12's Jackson 2.15 gave the bare message
    /// and a location line. Taken as 6.6 (Jackson 2.18); the releases between are unobserved.
    pub fn jackson_names_setter_exceptions(&self) -> bool {
        self.at_least(6, 6)
    }
    /// v6.6: notifications have a `description` (5.12's model has none: sending one is an
    /// unknown field).
    pub fn notification_description(&self) -> bool {
        self.at_least(6, 6)
    }
    /// v6.2: computed attributes have a `priority`.
    pub fn attribute_priority(&self) -> bool {
        self.at_least(6, 2)
    }
    /// v6.2: `GET /api/notifications/notificators?announcement=true` drops `web` and `command`.
    pub fn notificators_announcement(&self) -> bool {
        self.at_least(6, 2)
    }
    /// `GET /api/notifications/types`: the `Event.TYPE_*` constants in declaration order
    /// (real 6.9.1 answered these 19; 5.12 still has `textMessage`, removed in 6.9.0; 6.13.0
    /// added the proximity events and `unaccompaniedMotion`).
    pub fn notification_types(&self) -> Vec<&'static str> {
        let mut types = vec![
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
        ];
        if self.at_least(6, 13) {
            types.extend(["proximityEnter", "proximityExit", "unaccompaniedMotion"]);
        }
        types.extend(["alarm", "ignitionOn", "ignitionOff", "maintenance"]);
        if !self.at_least(6, 9) {
            types.push("textMessage");
        }
        types.extend(["driverChanged", "media"]);
        types
    }
    /// `GET /api/commands/types`: the `Command.TYPE_*` constants in declaration order (real
    /// 6.9.1 answered these 44, as 5.12 has them; 6.13.0 added `videoStart`/`videoStop`).
    pub fn command_types(&self) -> Vec<&'static str> {
        let mut types = vec![
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
        ];
        if self.at_least(6, 13) {
            types.extend(["videoStart", "videoStop"]);
        }
        types.extend([
            "alarmGeofence",
            "alarmBattery",
            "alarmSos",
            "alarmRemove",
            "alarmClock",
            "alarmSpeed",
            "alarmFall",
            "alarmVibration",
        ]);
        types
    }
}

impl fmt::Display for TraccarVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version_string())
    }
}

impl FromStr for TraccarVersion {
    type Err = anyhow::Error;

    /// Accepts "6.14", "6.14.5", "v6.9", "6.9.1", "5.12", "5.12.0"; the patch level is ignored.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let t = s.trim().trim_start_matches(['v', 'V']);
        let mut parts = t.split('.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next().unwrap_or_default();
        match (major, minor) {
            ("6", "14") => Ok(TraccarVersion::V6_14),
            ("6", "9") => Ok(TraccarVersion::V6_9),
            ("5", "12") => Ok(TraccarVersion::V5_12),
            _ => {
                anyhow::bail!("unsupported Traccar version {s:?}: expected one of 6.14, 6.9, 5.12")
            }
        }
    }
}
