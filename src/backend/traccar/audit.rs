//! Traccar's audit log (`GET /api/audit?from=&to=`, administrators, stored since 6.7.0), read
//! for the drift report: who changed a drifted user, and when. Feature-detected: an account
//! that is not an administrator, an older server, or any error (404 where there is no log,
//! 400, a timeout) gives an empty answer, never a failure. Only entries about one of the asked
//! users (ids learnt by the last `fetch`) are kept, the newest `PER_USER` per user, from the last
//! `DAYS` days up to the second after now (`to` is compared at millisecond precision: a bound
//! rounded down to the second missed an edit made within the same second).
//!
//! An entry is about a user when its object is the user (`objectType` user, `objectId` its id:
//! create, edit, delete) or when the user owns a link it records (6.9.1 logs a link or unlink
//! with the linked object as `objectType`/`objectId` — `device`, `group`, `managedUser` — and
//! the user in `attributes.ownerType`/`ownerId`). The acting user is shown by email when the
//! fetch saw it, else as `user #N`. Once the log was read, every asked user is in the answer,
//! with no entries when the log has none about it (the report says so rather than guess).

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::Value as Json;

use super::rules::Role;
use super::wire::Id;
use super::{TraccarBackend, Version};
use crate::backend::AuditEntry;
use crate::core::model::UserKey;

/// How far back the log is read.
pub const DAYS: i64 = 30;
/// Entries kept per user.
pub const PER_USER: usize = 3;

impl TraccarBackend {
    pub(super) async fn audit_of(&self, users: &[UserKey]) -> BTreeMap<UserKey, Vec<AuditEntry>> {
        if self.role != Role::Admin || self.version < Version(6, 7, 0) || users.is_empty() {
            return BTreeMap::new();
        }
        let ids: HashMap<Id, UserKey> = {
            let known = self.ids();
            users
                .iter()
                .filter_map(|k| known.users.get(k).map(|id| (*id, k.clone())))
                .collect()
        };
        let emails: HashMap<Id, String> = self
            .ids()
            .users
            .iter()
            .map(|(k, id)| (*id, k.to_string()))
            .collect();
        let now = Utc::now();
        let query = [
            (
                "from",
                (now - Duration::days(DAYS)).to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            (
                "to",
                (now + Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        ];
        match self.api.get::<Vec<Json>>("/api/audit", &query).await {
            Ok(rows) => entries_of(&rows, &ids, &emails),
            Err(_) => BTreeMap::new(),
        }
    }
}

/// The entries about `ids` (see the header), newest first, at most `PER_USER` each, and an empty
/// list for an asked user the rows say nothing about; `emails` names the acting users the fetch
/// saw.
pub fn entries_of(
    rows: &[Json],
    ids: &HashMap<Id, UserKey>,
    emails: &HashMap<Id, String>,
) -> BTreeMap<UserKey, Vec<AuditEntry>> {
    let mut out: BTreeMap<UserKey, Vec<AuditEntry>> =
        ids.values().map(|k| (k.clone(), Vec::new())).collect();
    for row in rows {
        let text = |k: &str| row.get(k).and_then(Json::as_str).map(str::to_string);
        let object_type = text("objectType").unwrap_or_default();
        let is_user = |t: &str| t.eq_ignore_ascii_case("user");
        let owner = row.get("attributes").filter(|a| {
            a.get("ownerType")
                .and_then(Json::as_str)
                .is_some_and(is_user)
        });
        // The user the entry is about: the owner of a link, else the object itself.
        let about = match owner {
            Some(attributes) => attributes.get("ownerId").and_then(Json::as_i64),
            None if is_user(&object_type) => row.get("objectId").and_then(Json::as_i64),
            None => None,
        };
        let Some(key) = about.and_then(|id| ids.get(&Id(id))) else {
            continue;
        };
        let by = text("userEmail").unwrap_or_else(|| {
            row.get("userId").and_then(Json::as_i64).map_or_else(
                || "unknown".into(),
                |id| {
                    emails
                        .get(&Id(id))
                        .cloned()
                        .unwrap_or(format!("user #{id}"))
                },
            )
        });
        let action = text("actionType").unwrap_or_default();
        out.entry(key.clone()).or_default().push(AuditEntry {
            time: text("actionTime").unwrap_or_default(),
            by,
            action: if owner.is_some() {
                format!("{action} {object_type}")
            } else {
                action
            },
        });
    }
    for entries in out.values_mut() {
        // ISO 8601 times of one server sort as text.
        entries.sort_by(|a, b| b.time.cmp(&a.time));
        entries.truncate(PER_USER);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_newest_entries_about_the_asked_users() {
        let max = UserKey::new("max@x.at");
        let quiet = UserKey::new("quiet@x.at");
        let ids: HashMap<Id, UserKey> = [(Id(7), max.clone()), (Id(10), quiet.clone())].into();
        let emails: HashMap<Id, String> = [(Id(3), "fleet@x.at".to_string())].into();
        let rows = vec![
            json!({"actionTime": "2026-11-01T10:00:00.000+00:00", "userId": 1, "userEmail": "admin@x.at", "actionType": "edit", "objectType": "user", "objectId": 7}),
            json!({"actionTime": "2026-11-02T10:00:00.000+00:00", "userId": 2, "actionType": "create", "objectType": "user", "objectId": 7}),
            // A device edit whose id happens to equal the user's: not about the user.
            json!({"actionTime": "2026-11-03T10:00:00.000+00:00", "userId": 1, "actionType": "edit", "objectType": "device", "objectId": 7}),
            json!({"actionTime": "2026-11-03T10:00:00.000+00:00", "userId": 1, "actionType": "edit", "objectType": "user", "objectId": 8}),
            // As 6.9.1 logs a manager's device link to user 7: the device is the object.
            json!({"actionTime": "2026-11-04T10:00:00.000+00:00", "userId": 3, "actionType": "link", "objectType": "device", "objectId": 42, "attributes": {"ownerType": "user", "ownerId": 7}}),
            json!({"actionTime": "2026-11-04T11:00:00.000+00:00", "userId": 3, "actionType": "link", "objectType": "device", "objectId": 7, "attributes": {"ownerType": "user", "ownerId": 9}}),
        ];
        let out = entries_of(&rows, &ids, &emails);
        assert_eq!(out.len(), 2);
        // Asked about, nothing in the log: present, without entries.
        assert_eq!(out[&quiet], Vec::new());
        let entries = &out[&max];
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].by, "fleet@x.at");
        assert_eq!(entries[0].action, "link device");
        assert_eq!(entries[1].by, "user #2");
        assert_eq!(entries[1].action, "create");
        assert_eq!(entries[2].by, "admin@x.at");
    }
}
