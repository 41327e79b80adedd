//! The model classes of Traccar's permission keys (`deviceId`, `managedUserId`, ...): their Java
//! class names (as error messages quote them), their storage names and link-table columns. Its
//! own file so that the store and the object tables both use it without importing each other.

/// A model class that can appear in a permission key (`<type>Id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    User,
    Device,
    Group,
    ManagedUser,
    LinkedDevice,
    Geofence,
    Notification,
    Calendar,
    Attribute,
    Driver,
    Command,
    Maintenance,
    Order,
    Report,
}

impl ObjectType {
    const ALL: [ObjectType; 14] = [
        ObjectType::User,
        ObjectType::Device,
        ObjectType::Group,
        ObjectType::ManagedUser,
        ObjectType::LinkedDevice,
        ObjectType::Geofence,
        ObjectType::Notification,
        ObjectType::Calendar,
        ObjectType::Attribute,
        ObjectType::Driver,
        ObjectType::Command,
        ObjectType::Maintenance,
        ObjectType::Order,
        ObjectType::Report,
    ];

    /// The Java simple class name (`Device`, `ManagedUser`, ...), as in "Device access denied".
    pub fn class_name(self) -> &'static str {
        match self {
            ObjectType::User => "User",
            ObjectType::Device => "Device",
            ObjectType::Group => "Group",
            ObjectType::ManagedUser => "ManagedUser",
            ObjectType::LinkedDevice => "LinkedDevice",
            ObjectType::Geofence => "Geofence",
            ObjectType::Notification => "Notification",
            ObjectType::Calendar => "Calendar",
            ObjectType::Attribute => "Attribute",
            ObjectType::Driver => "Driver",
            ObjectType::Command => "Command",
            ObjectType::Maintenance => "Maintenance",
            ObjectType::Order => "Order",
            ObjectType::Report => "Report",
        }
    }

    /// `Permission.getKeyClass`: drop the trailing `Id`, match the class name case-insensitively.
    pub fn from_key(key: &str) -> Option<ObjectType> {
        let stem = key.get(..key.len().checked_sub(2)?)?;
        ObjectType::ALL
            .into_iter()
            .find(|t| t.class_name().eq_ignore_ascii_case(stem))
    }

    /// The storage name: `Managed`/`Linked` prefixes stripped, lower case (`manageduser` -> `user`).
    pub fn storage_name(self) -> &'static str {
        match self {
            ObjectType::ManagedUser => "user",
            ObjectType::LinkedDevice => "device",
            other => match other {
                ObjectType::User => "user",
                ObjectType::Device => "device",
                ObjectType::Group => "group",
                ObjectType::Geofence => "geofence",
                ObjectType::Notification => "notification",
                ObjectType::Calendar => "calendar",
                ObjectType::Attribute => "attribute",
                ObjectType::Driver => "driver",
                ObjectType::Command => "command",
                ObjectType::Maintenance => "maintenance",
                ObjectType::Order => "order",
                ObjectType::Report => "report",
                ObjectType::ManagedUser | ObjectType::LinkedDevice => "",
            },
        }
    }

    /// The object table this type lives in (`tc_users`, ...).
    pub fn table(self) -> String {
        format!("tc_{}s", self.storage_name())
    }

    /// The link-table column for this side of a permission (`userid`, `manageduserid`, ...).
    pub fn column(self) -> String {
        format!("{}id", self.class_name().to_lowercase())
    }
}
