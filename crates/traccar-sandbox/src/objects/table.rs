//! The store's operations on the object rows of `objects` (insert, update, modify, delete with
//! their cascades), as H2 runs them: ids from each kind's sequence, NOT NULL columns checked in
//! table order, unique and foreign keys, and the statements the database's errors quote. Its
//! own file so that `objects` (the rows and tables) does not import the store that holds them.

use super::{
    Calendar, ComputedAttribute, Driver, Geofence, Maintenance, Notification, Object, SavedCommand,
};
use crate::errors::ApiError;
use crate::object_type::ObjectType;
use crate::store::Store;
use crate::version::TraccarVersion;

/// The INSERT and UPDATE statements H2 quotes for a kind. Their column order is the model's
/// getter order as the release's reflection returns it: these are real 6.9.1's (observed for
/// every kind, INSERT and UPDATE alike); 6.14 and 5.12 use the same order here, unverified,
/// minus the columns 5.12 lacks (notification `description`, attribute `priority`).
fn statements(kind: ObjectType, version: TraccarVersion) -> (String, String) {
    let (table, columns): (&str, &[&str]) = match kind {
        ObjectType::Geofence => (
            "tc_geofences",
            &["area", "calendarId", "name", "description", "attributes"],
        ),
        ObjectType::Notification => (
            "tc_notifications",
            &[
                "always",
                "calendarId",
                "description",
                "notificators",
                "attributes",
                "type",
                "commandId",
            ],
        ),
        ObjectType::Calendar => ("tc_calendars", &["data", "name", "attributes"]),
        ObjectType::Attribute => (
            "tc_attributes",
            &["expression", "description", "attribute", "priority", "type"],
        ),
        ObjectType::Driver => ("tc_drivers", &["name", "attributes", "uniqueId"]),
        ObjectType::Command => (
            "tc_commands",
            &["description", "attributes", "type", "textChannel"],
        ),
        ObjectType::Maintenance => (
            "tc_maintenances",
            &["period", "name", "start", "attributes", "type"],
        ),
        // Users, devices and groups have their own statements (`store.rs`); orders and reports
        // are not modelled.
        other => return (format!("INSERT INTO {}", other.table()), String::new()),
    };
    let columns: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| match (kind, *c) {
            (ObjectType::Notification, "description") => version.notification_description(),
            (ObjectType::Attribute, "priority") => version.attribute_priority(),
            _ => true,
        })
        .collect();
    let marks = vec!["?"; columns.len()].join(", ");
    let insert = format!(
        "INSERT INTO {table}({}) VALUES ({marks})",
        columns.join(", ")
    );
    let sets: Vec<String> = columns.iter().map(|c| format!("{c} = ?")).collect();
    let update = format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", "));
    (insert, update)
}

impl Store {
    /// Every row of kind `T`, in id order.
    pub fn objects<T: Object>(&self) -> impl Iterator<Item = &T> {
        T::table(&self.objects).values()
    }

    /// The row of kind `T` with this id.
    pub fn object<T: Object>(&self, id: i64) -> Option<&T> {
        T::table(&self.objects).get(&id)
    }

    /// Inserts a row as `INSERT INTO tc_<kind>s` would: the id comes from the kind's sequence
    /// (consumed even when the insert fails), then NOT NULL columns in table order, the
    /// drivers' unique uniqueId, the foreign keys. No permission checks, no creator link.
    pub fn insert_object<T: Object>(&mut self, mut row: T) -> Result<i64, ApiError> {
        let id = self.objects.next_id(T::TYPE);
        let (insert, _) = statements(T::TYPE, self.version);
        self.check_object_columns(&row, 0, &insert)?;
        row.set_id(id);
        if let Some(key) = row.unique_key() {
            self.objects.driver_unique_ids.insert(key.to_string(), id);
        }
        T::table_mut(&mut self.objects).insert(id, row);
        Ok(id)
    }

    /// `UPDATE tc_<kind>s SET <every column> WHERE id = ?` with the row's own id: a missing row
    /// changes nothing and checks nothing (no row is written), as on H2.
    pub fn update_object<T: Object>(&mut self, row: T) -> Result<(), ApiError> {
        let id = row.id();
        if !T::table(&self.objects).contains_key(&id) {
            return Ok(());
        }
        let (_, update) = statements(T::TYPE, self.version);
        self.check_object_columns(&row, id, &update)?;
        self.reindex_unique(id, &row);
        T::table_mut(&mut self.objects).insert(id, row);
        Ok(())
    }

    /// Changes a stored row in place (seeding; no checks). False when it does not exist.
    pub fn modify_object<T: Object>(&mut self, id: i64, f: impl FnOnce(&mut T)) -> bool {
        let Some(mut row) = T::table(&self.objects).get(&id).cloned() else {
            return false;
        };
        f(&mut row);
        row.set_id(id);
        self.reindex_unique(id, &row);
        T::table_mut(&mut self.objects).insert(id, row);
        true
    }

    /// Moves the unique index entry of row `id` to the value `row` holds.
    fn reindex_unique<T: Object>(&mut self, id: i64, row: &T) {
        if let Some(old) = T::table(&self.objects)
            .get(&id)
            .and_then(|r| r.unique_key())
        {
            let old = old.to_string();
            if self.objects.driver_unique_ids.get(&old) == Some(&id) {
                self.objects.driver_unique_ids.remove(&old);
            }
        }
        if let Some(key) = row.unique_key() {
            self.objects.driver_unique_ids.insert(key.to_string(), id);
        }
    }

    fn check_object_columns<T: Object>(
        &self,
        row: &T,
        own_id: i64,
        statement: &str,
    ) -> Result<(), ApiError> {
        if let Some(column) = row.missing_column() {
            return Err(ApiError::not_null(column, statement));
        }
        if let Some(key) = row.unique_key()
            && let Some(existing) = self
                .objects
                .driver_unique_ids
                .get(key)
                .filter(|id| **id != own_id)
        {
            return Err(ApiError::unique(
                "CONSTRAINT_INDEX_1",
                "TC_DRIVERS(UNIQUEID",
                *existing,
                key,
                statement,
            ));
        }
        let table = T::TYPE.table().to_uppercase();
        for (constraint, column, target, value) in row.foreign_keys() {
            if value != 0 && !self.exists(target, value) {
                return Err(ApiError::foreign_key(
                    constraint,
                    &table,
                    column,
                    &target.table().to_uppercase(),
                    value,
                    statement,
                ));
            }
        }
        Ok(())
    }

    /// Deletes a row of one of the kinds above with the database's cascades: its link rows go
    /// (either side); a calendar's users (geofences, notifications, devices) get `calendarId`
    /// 0; a saved command's notifications are deleted, with their links. A missing id (or a
    /// kind this module does not hold) is a no-op; returns whether a row was deleted.
    pub fn delete_object(&mut self, kind: ObjectType, id: i64) -> bool {
        let objects = &mut self.objects;
        let removed = match kind {
            ObjectType::Geofence => objects.geofences.remove(&id).is_some(),
            ObjectType::Notification => objects.notifications.remove(&id).is_some(),
            ObjectType::Calendar => objects.calendars.remove(&id).is_some(),
            ObjectType::Attribute => objects.attributes.remove(&id).is_some(),
            ObjectType::Driver => match objects.drivers.remove(&id) {
                Some(driver) => {
                    if let Some(key) = driver.unique_id {
                        objects.driver_unique_ids.remove(&key);
                    }
                    true
                }
                None => false,
            },
            ObjectType::Command => objects.commands.remove(&id).is_some(),
            ObjectType::Maintenance => objects.maintenances.remove(&id).is_some(),
            _ => false,
        };
        if !removed {
            return false;
        }
        self.remove_links_of(kind, id);
        match kind {
            ObjectType::Calendar => {
                for g in self.objects.geofences.values_mut() {
                    if g.calendar_id == id {
                        g.calendar_id = 0;
                    }
                }
                for n in self.objects.notifications.values_mut() {
                    if n.calendar_id == id {
                        n.calendar_id = 0;
                    }
                }
                for d in self.devices.values_mut() {
                    if d.calendar_id == id {
                        d.calendar_id = 0;
                    }
                }
            }
            ObjectType::Command => {
                let using: Vec<i64> = self
                    .objects
                    .notifications
                    .values()
                    .filter(|n| n.command_id == id)
                    .map(|n| n.id)
                    .collect();
                for notification in using {
                    self.delete_object(ObjectType::Notification, notification);
                }
            }
            _ => {}
        }
        true
    }

    // ---- seeding helpers (in-process, no permission checks, no creator link) ----

    /// Adds a geofence. Returns its id.
    pub fn add_geofence(&mut self, name: &str, area: &str) -> Result<i64, ApiError> {
        self.insert_object(Geofence {
            name: Some(name.to_string()),
            area: Some(area.to_string()),
            ..Geofence::default()
        })
    }

    /// Adds a notification of an event type (`alarm`, `geofenceEnter`, ...) with a description
    /// and notificators (`web,mail`). Returns its id.
    pub fn add_notification(
        &mut self,
        event_type: &str,
        description: Option<&str>,
        notificators: Option<&str>,
    ) -> Result<i64, ApiError> {
        self.insert_object(Notification {
            event_type: Some(event_type.to_string()),
            description: description.map(str::to_string),
            notificators: notificators.map(str::to_string),
            ..Notification::default()
        })
    }

    /// Adds a calendar from the text of an iCalendar file (not parsed here). Returns its id.
    pub fn add_calendar(&mut self, name: &str, ics: &str) -> Result<i64, ApiError> {
        self.insert_object(Calendar {
            name: Some(name.to_string()),
            data: Some(ics.as_bytes().to_vec()),
            ..Calendar::default()
        })
    }

    /// Adds a computed attribute. Returns its id.
    pub fn add_computed_attribute(
        &mut self,
        description: &str,
        attribute: &str,
        expression: &str,
        value_type: &str,
    ) -> Result<i64, ApiError> {
        self.insert_object(ComputedAttribute {
            description: Some(description.to_string()),
            attribute: Some(attribute.to_string()),
            expression: Some(expression.to_string()),
            value_type: Some(value_type.to_string()),
            ..ComputedAttribute::default()
        })
    }

    /// Adds a driver (uniqueId trimmed, as the model's setter does). Returns its id.
    pub fn add_driver(&mut self, name: &str, unique_id: &str) -> Result<i64, ApiError> {
        self.insert_object(Driver {
            name: Some(name.to_string()),
            unique_id: Some(unique_id.trim().to_string()),
            ..Driver::default()
        })
    }

    /// Adds a saved command. Returns its id.
    pub fn add_command(&mut self, description: &str, command_type: &str) -> Result<i64, ApiError> {
        self.insert_object(SavedCommand {
            description: Some(description.to_string()),
            command_type: Some(command_type.to_string()),
            ..SavedCommand::default()
        })
    }

    /// Adds a maintenance. Returns its id.
    pub fn add_maintenance(
        &mut self,
        name: &str,
        maintenance_type: &str,
        start: f64,
        period: f64,
    ) -> Result<i64, ApiError> {
        self.insert_object(Maintenance {
            name: Some(name.to_string()),
            maintenance_type: Some(maintenance_type.to_string()),
            start,
            period,
            ..Maintenance::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_6_9_column_order_and_drop_what_5_12_lacks() {
        let (insert, update) = statements(ObjectType::Geofence, TraccarVersion::V6_9);
        assert_eq!(
            insert,
            "INSERT INTO tc_geofences(area, calendarId, name, description, attributes) VALUES (?, ?, ?, ?, ?)"
        );
        assert_eq!(
            update,
            "UPDATE tc_geofences SET area = ?, calendarId = ?, name = ?, description = ?, attributes = ? WHERE id = ?"
        );
        let (insert, _) = statements(ObjectType::Notification, TraccarVersion::V5_12);
        assert!(!insert.contains("description"), "{insert}");
    }

    #[test]
    fn deleting_a_command_deletes_its_notifications_and_their_links() {
        let mut store = Store::default();
        let user = store.add_user("u", "u@x", None).expect("user");
        let command = store.add_command("stop", "engineStop").expect("command");
        let notification = store
            .add_notification("alarm", Some("theft"), Some("web"))
            .expect("notification");
        store.modify_object::<Notification>(notification, |n| n.command_id = command);
        store
            .insert_link(
                ObjectType::User,
                user,
                ObjectType::Notification,
                notification,
            )
            .expect("link");
        assert!(store.delete_object(ObjectType::Command, command));
        assert!(store.object::<Notification>(notification).is_none());
        assert!(
            store
                .linked(ObjectType::User, user, ObjectType::Notification)
                .is_empty()
        );
    }

    #[test]
    fn driver_unique_ids_are_unique_and_follow_updates() {
        let mut store = Store::default();
        let a = store.add_driver("a", " D-1 ").expect("a");
        assert!(store.add_driver("b", "D-1").is_err());
        store.modify_object::<Driver>(a, |d| d.unique_id = Some("D-2".into()));
        store.add_driver("b", "D-1").expect("free again");
        assert!(store.delete_object(ObjectType::Driver, a));
        store.add_driver("c", "D-2").expect("free after delete");
    }
}
