//! Traccar's audit log (`GET /api/audit?from=&to=`, administrators, stored since 6.7.0), read
//! for the drift report: who changed a drifted user, and when. Feature-detected: an account
//! that is not an administrator, an older server, or any error (404 where there is no log,
//! 400, a timeout) gives an empty answer, never a failure. Only entries whose object is one of
//! the asked users (`objectType` user, `objectId` its id, learnt by the last `fetch`) are kept,
//! the newest `PER_USER` per user, from the last `DAYS` days.

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
        let now = Utc::now();
        let query = [
            (
                "from",
                (now - Duration::days(DAYS)).to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            ("to", now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        ];
        match self.api.get::<Vec<Json>>("/api/audit", &query).await {
            Ok(rows) => entries_of(&rows, &ids),
            Err(_) => BTreeMap::new(),
        }
    }
}

/// The entries about `ids`, newest first, at most `PER_USER` each.
pub fn entries_of(rows: &[Json], ids: &HashMap<Id, UserKey>) -> BTreeMap<UserKey, Vec<AuditEntry>> {
    let mut out: BTreeMap<UserKey, Vec<AuditEntry>> = BTreeMap::new();
    for row in rows {
        let is_user = row
            .get("objectType")
            .and_then(Json::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("user"));
        let Some(key) = row
            .get("objectId")
            .and_then(Json::as_i64)
            .and_then(|id| ids.get(&Id(id)))
        else {
            continue;
        };
        if !is_user {
            continue;
        }
        let text = |k: &str| row.get(k).and_then(Json::as_str).map(str::to_string);
        let by = text("userEmail").unwrap_or_else(|| {
            row.get("userId")
                .and_then(Json::as_i64)
                .map_or_else(|| "unknown".into(), |id| format!("user #{id}"))
        });
        out.entry(key.clone()).or_default().push(AuditEntry {
            time: text("actionTime").unwrap_or_default(),
            by,
            action: text("actionType").unwrap_or_default(),
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
        let ids: HashMap<Id, UserKey> = [(Id(7), max.clone())].into();
        let rows = vec![
            json!({"actionTime": "2026-11-01T10:00:00.000+00:00", "userId": 1, "userEmail": "admin@x.at", "actionType": "edit", "objectType": "user", "objectId": 7}),
            json!({"actionTime": "2026-11-02T10:00:00.000+00:00", "userId": 2, "actionType": "link", "objectType": "user", "objectId": 7}),
            json!({"actionTime": "2026-11-03T10:00:00.000+00:00", "userId": 1, "actionType": "edit", "objectType": "device", "objectId": 7}),
            json!({"actionTime": "2026-11-03T10:00:00.000+00:00", "userId": 1, "actionType": "edit", "objectType": "user", "objectId": 8}),
        ];
        let out = entries_of(&rows, &ids);
        assert_eq!(out.len(), 1);
        let entries = &out[&max];
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].by, "user #2");
        assert_eq!(entries[0].action, "link");
        assert_eq!(entries[1].by, "admin@x.at");
    }
}
