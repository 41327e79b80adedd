//! drift: pure. Tells the two reasons a server can differ from the fleet file apart: changes the
//! file asks for that were never applied (*pending*) and changes made on the server behind the
//! file's back (*drift*), from the applied record (`core::record`). It must not do I/O;
//! `cmd::drift` fetches and prints.
//!
//! Design: the drift rule. For each difference the plan finds on a user (a field update or a
//! link or unlink), with `D` the digest of the user's current desired state and `R` the record
//! on the live user:
//! 1. no record (or an unreadable one): *pending*, fleetform has no memory of applying it;
//! 2. `R.digest == D`: fleetform applied exactly this desired state, so every difference was
//!    made on the server since: *drift*;
//! 3. otherwise the file changed since the last apply. If the live user, projected onto the
//!    fields `R` covers, has digest `R.digest`, the server is still as fleetform left it: every
//!    difference is *pending*;
//! 4. otherwise both changed. A field the record does not cover is *pending* (newly managed);
//!    every other difference is reported as *drift* (the server was changed behind fleetform's
//!    back, and one digest cannot say which of these differences that change was).
//!
//! Creates, deletes, disables and adoptions are always *pending*.
//!
//! Objects (the file's sections) follow the same rule with the object's own record
//! (`core::record`, over the fields its entry manages); a kind without attributes keeps no
//! record, so its differences are *pending*, said why.
//!
//! Where the server keeps an audit log the account may read (Traccar 6.7+, administrators),
//! the command adds who changed each drifted user and when (`Backend::audit`), or that the log
//! has no entry about it; elsewhere the report simply has no such section.
//!
//! Limits: a managed user deleted by hand is re-created, reported as pending (nothing on the
//! server remembers it); a link added by hand to a user that fleetform never recorded is
//! pending; when an apply stops half way, a user whose update (with the new record) landed but
//! whose later link actions failed reports those links as drift until the next apply; a value
//! changed by hand and changed back is in sync. The record is not a secret and not a signature:
//! anyone who can edit the user can forge it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::backend::AuditEntry;
use crate::core::model::{Action, Desired, Field, Live, ObjectKind, UserKey};
use crate::core::plan::Plan;
use crate::core::record::*;

/// Exit codes of `fleetform drift` (defined in `crate::exit`).
pub const EXIT_IN_SYNC: i32 = crate::exit::OK;
pub const EXIT_PENDING: i32 = crate::exit::CHANGES;
pub const EXIT_DRIFT: i32 = crate::exit::DRIFT;

/// Why a difference is pending or drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The user it is about (empty for an object).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// The object it is about, e.g. `device BT-000101` (none for a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// What apply would do about it, e.g. `readonly: false -> true`, `link device BT-1`.
    pub change: String,
    pub reason: String,
}

/// The drift report: what the file asks for and was never applied, and what changed on the
/// server behind the file's back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub fleet: String,
    pub pending: Vec<Difference>,
    pub drift: Vec<Difference>,
    /// Who changed the drifted users, newest first, where the server's audit log is readable.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit: BTreeMap<UserKey, Vec<AuditEntry>>,
}

impl Report {
    /// 0 in sync, 2 pending only, 3 drift (with or without pending).
    pub fn exit_code(&self) -> i32 {
        if !self.drift.is_empty() {
            EXIT_DRIFT
        } else if !self.pending.is_empty() {
            EXIT_PENDING
        } else {
            EXIT_IN_SYNC
        }
    }

    /// The users with at least one drifted difference, keyed as `desired`'s backend keys them
    /// (objects are not users: they are left out).
    pub fn drifted_users(&self, desired: &Desired) -> BTreeSet<UserKey> {
        self.drift
            .iter()
            .filter(|d| d.object.is_none())
            .map(|d| desired.key(&d.email))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pending(&'static str),
    Drift(&'static str),
}

/// Classifies every change of `plan` (made by `plan_recorded(desired, live)`) by the rule in
/// the design comment.
pub fn classify(desired: &Desired, live: &Live, plan: &Plan) -> Report {
    let mut report = Report {
        fleet: desired.fleet.clone(),
        pending: Vec::new(),
        drift: Vec::new(),
        audit: BTreeMap::new(),
    };
    let verdict = |email: &str, field: Option<&Field>| -> Verdict {
        let key = desired.key(email);
        let (Some(want), Some(have)) = (desired.users.get(&key), live.users.get(&key)) else {
            return Verdict::Pending("not in the file");
        };
        let Some(record) = live_record(desired.backend, have) else {
            return Verdict::Pending("no record of an earlier apply on this user");
        };
        if record.digest == desired_digest(desired.backend, want) {
            Verdict::Drift("changed on the server after fleetform applied this file")
        } else if live_matches_record(desired.backend, have, &record) {
            Verdict::Pending("the file changed since the last apply")
        } else if field.is_some_and(|f| !record.fields.contains(f)) {
            Verdict::Pending("newly managed by the file")
        } else {
            Verdict::Drift(
                "changed on the server after the last apply (the file changed too, so this \
                 may also be pending)",
            )
        }
    };
    let mut push = |email: &str, object: Option<String>, change: String, verdict: Verdict| {
        let (list, reason) = match verdict {
            Verdict::Pending(r) => (&mut report.pending, r),
            Verdict::Drift(r) => (&mut report.drift, r),
        };
        list.push(Difference {
            email: email.to_string(),
            object,
            change,
            reason: reason.to_string(),
        });
    };
    for action in &plan.actions {
        let email = action.email();
        if let Some((kind, key)) = action.object() {
            for (change, verdict) in object_differences(desired, live, action) {
                push("", Some(format!("{kind} {key}")), change, verdict);
            }
            continue;
        }
        match action {
            Action::CreateUser { .. } => push(
                email,
                None,
                "create user".into(),
                Verdict::Pending("in the file, not on the server"),
            ),
            Action::DeleteUser { .. } => push(
                email,
                None,
                "delete user".into(),
                Verdict::Pending("managed by this fleet, not in the file"),
            ),
            Action::DisableUser { .. } => push(
                email,
                None,
                "disable user".into(),
                Verdict::Pending("managed by this fleet, not in the file"),
            ),
            Action::UpdateUser { changes, adopt, .. } => {
                if *adopt {
                    push(
                        email,
                        None,
                        format!("adopt into fleet {}", desired.fleet),
                        Verdict::Pending("in the file, not yet marked as this fleet's"),
                    );
                }
                for change in changes.iter().filter(|c| !is_record(&c.field)) {
                    let text = format!("{}: {} -> {}", change.field, change.before, change.after);
                    push(email, None, text, verdict(email, Some(&change.field)));
                }
            }
            Action::Link { kind, target, .. } => {
                push(
                    email,
                    None,
                    format!("link {kind} {target}"),
                    verdict(email, None),
                );
            }
            Action::Unlink { kind, target, .. } => {
                push(
                    email,
                    None,
                    format!("unlink {kind} {target}"),
                    verdict(email, None),
                );
            }
            Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. }
            | Action::LinkObject { .. }
            | Action::UnlinkObject { .. } => {}
        }
    }
    report
}

/// The verdict on a change of the object `key` of `kind`, by the rule in the design comment
/// applied to the object's record. A kind without attributes has no record: pending.
fn object_verdict(
    desired: &Desired,
    live: &Live,
    (kind, key): (ObjectKind, &str),
    field: Option<&Field>,
) -> Verdict {
    let (Some(spec), Some(want), Some(have)) = (
        desired.backend.object(kind),
        desired.objects.get(&kind).and_then(|o| o.get(key)),
        live.objects.get(&kind).and_then(|o| o.get(key)),
    ) else {
        return Verdict::Pending("not in the file");
    };
    if !spec.attributes {
        return Verdict::Pending(
            "objects of this kind have no attributes to keep a record of an earlier apply in: \
             a change on the server and a change to the file look the same",
        );
    }
    let Some(record) = live_object_record(spec, have) else {
        return Verdict::Pending("no record of an earlier apply on this object");
    };
    if record.digest == desired_object_digest(spec, want) {
        Verdict::Drift("changed on the server after fleetform applied this file")
    } else if live_object_matches_record(spec, have, &record) {
        Verdict::Pending("the file changed since the last apply")
    } else if field.is_some_and(|f| !record.fields.contains(f)) {
        Verdict::Pending("newly managed by the file")
    } else {
        Verdict::Drift(
            "changed on the server after the last apply (the file changed too, so this may \
             also be pending)",
        )
    }
}

/// The differences of one object action, with their verdicts.
fn object_differences(desired: &Desired, live: &Live, action: &Action) -> Vec<(String, Verdict)> {
    match action {
        Action::CreateObject { .. } => vec![(
            "create".into(),
            Verdict::Pending("in the file, not on the server"),
        )],
        Action::DeleteObject { .. } => vec![(
            "delete".into(),
            Verdict::Pending("managed by this fleet, not in the file"),
        )],
        Action::UpdateObject {
            kind,
            key,
            changes,
            adopt,
        } => {
            let mut out = Vec::new();
            if *adopt {
                out.push((
                    format!("adopt into fleet {}", desired.fleet),
                    Verdict::Pending("in the file, not yet marked as this fleet's"),
                ));
            }
            out.extend(changes.iter().filter(|c| !is_record(&c.field)).map(|c| {
                (
                    format!("{}: {} -> {}", c.field, c.before, c.after),
                    object_verdict(desired, live, (*kind, key), Some(&c.field)),
                )
            }));
            out
        }
        // A link difference gets the object's verdict (its record covers the lists given).
        Action::LinkObject {
            kind,
            key,
            target_kind,
            target,
        } => vec![(
            format!("link {target_kind} {target}"),
            object_verdict(desired, live, (*kind, key), None),
        )],
        Action::UnlinkObject {
            kind,
            key,
            target_kind,
            target,
        } => vec![(
            format!("unlink {target_kind} {target}"),
            object_verdict(desired, live, (*kind, key), None),
        )],
        _ => Vec::new(),
    }
}

/// The human view of a drift report.
pub fn text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.pending.is_empty() && report.drift.is_empty() {
        return writeln!(out, "In sync. The server matches fleet {}.", report.fleet);
    }
    let section = |title: &str, items: &[Difference]| -> String {
        let mut s = String::new();
        if items.is_empty() {
            return s;
        }
        let _ = writeln!(s, "{title}:");
        for d in items {
            let who = d.object.as_deref().unwrap_or(&d.email);
            let _ = writeln!(s, "  {who}: {} ({})", d.change, d.reason);
        }
        s.push('\n');
        s
    };
    write!(
        out,
        "{}",
        section(
            "Drift (changed on the server behind the file's back)",
            &report.drift
        )
    )?;
    if !report.audit.is_empty() {
        writeln!(
            out,
            "Recent changes to the drifted users (the server's audit log):"
        )?;
        for (user, entries) in &report.audit {
            if entries.is_empty() {
                writeln!(out, "  {user}: no audit entry found for this user")?;
            }
            for e in entries {
                writeln!(out, "  {user}: {} by {} ({})", e.time, e.by, e.action)?;
            }
        }
        writeln!(out)?;
    }
    write!(
        out,
        "{}",
        section(
            "Pending (asked for by the file, not applied yet)",
            &report.pending
        )
    )?;
    // Users by email, objects by kind and key: what the drift is on.
    let users = report
        .drift
        .iter()
        .filter(|d| d.object.is_none())
        .map(|d| d.email.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let objects = report
        .drift
        .iter()
        .filter_map(|d| d.object.as_deref())
        .collect::<BTreeSet<_>>()
        .len();
    let on = match (users, objects) {
        (u, 0) => format!("{u} user(s)"),
        (0, o) => format!("{o} object(s)"),
        (u, o) => format!("{u} user(s) and {o} object(s)"),
    };
    writeln!(
        out,
        "Drift: {} change(s) on {on}; pending: {} change(s). `fleetform apply` restores the file's state.",
        report.drift.len(),
        report.pending.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, desired, have, live, set, want, with_field};
    use crate::core::model::{DesiredUser, LiveUser, Value};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, TRACCAR, tf};

    fn applied(user: &DesiredUser, mut live: LiveUser) -> LiveUser {
        live.marker = Some(FLEET.into());
        for (f, v) in &user.fields {
            live.fields.insert(f.clone(), v.clone());
        }
        live.fields
            .insert(applied_field(), record_of(TRACCAR, user));
        live.links = user.links.clone();
        live
    }

    fn max() -> DesiredUser {
        let mut u = with_field(want("max@x.at"), tf("readonly"), Value::Bool(true));
        u.links.insert(DEVICE, set(&["D1"]));
        u
    }

    fn report(d: &Desired, l: &Live) -> Report {
        let plan = plan_recorded(d, l).expect("plan");
        classify(d, l, &plan)
    }

    /// The digest hashes `{"fields", "devices", "groups"}` in this order: records written
    /// before links became the backend's entries must keep matching.
    #[test]
    fn the_record_digest_keeps_its_bytes() {
        use sha2::{Digest, Sha256};
        let mut u = max();
        u.links.insert(crate::testing::GROUP, set(&["G 1"]));
        let canonical = r#"{"fields":{"readonly":{"b":true}},"devices":["D1"],"groups":["G 1"]}"#;
        let hash = Sha256::digest(canonical.as_bytes());
        assert_eq!(
            desired_digest(TRACCAR, &u),
            hex::encode(&hash[..16]),
            "the canonical state of {canonical}"
        );
        let bare = r#"{"fields":{},"devices":[],"groups":[]}"#;
        assert_eq!(
            desired_digest(TRACCAR, &want("a@x.at")),
            hex::encode(&Sha256::digest(bare.as_bytes())[..16])
        );
    }

    #[test]
    fn records_round_trip_and_ignore_themselves() {
        let u = max();
        let record = parse_record(TRACCAR, &record_of(TRACCAR, &u)).expect("parses");
        assert_eq!(record.digest, desired_digest(TRACCAR, &u));
        assert_eq!(record.fields, vec![tf("readonly")]);
        let stamped = stamp(&desired(vec![u.clone()]));
        let s = &stamped.users[&UserKey::new("max@x.at")];
        assert_eq!(desired_digest(TRACCAR, s), desired_digest(TRACCAR, &u));
        assert!(live_matches_record(
            TRACCAR,
            &applied(&u, have("max@x.at", None)),
            &record
        ));

        let odd = Field::Attribute("a,b%2C".into());
        let u = with_field(max(), odd.clone(), Value::Int(1));
        let record = parse_record(TRACCAR, &record_of(TRACCAR, &u)).expect("parses");
        assert_eq!(record.fields, vec![tf("readonly"), odd]);
    }

    #[test]
    fn the_four_cases() {
        let u = max();
        let d = desired(vec![u.clone()]);
        // In sync.
        let l = live("admin", vec![applied(&u, have("max@x.at", None))]);
        let r = report(&d, &l);
        assert_eq!(r.exit_code(), EXIT_IN_SYNC, "{r:?}");
        // Drift: a hand-made change after apply.
        let mut hand = applied(&u, have("max@x.at", None));
        hand.fields.insert(tf("readonly"), Value::Bool(false));
        hand.links.entry(DEVICE).or_default().insert("D2".into());
        let r = report(&d, &live("admin", vec![hand.clone()]));
        assert_eq!(r.exit_code(), EXIT_DRIFT, "{r:?}");
        assert_eq!(r.drift.len(), 2);
        assert!(r.pending.is_empty());
        // Pending: the file changed, the server is as applied.
        let mut u2 = u.clone();
        u2.links.entry(DEVICE).or_default().insert("D3".into());
        u2.fields.insert(tf("deviceReadonly"), Value::Bool(true));
        let d2 = desired(vec![u2]);
        let r = report(&d2, &l);
        assert_eq!(r.exit_code(), EXIT_PENDING, "{r:?}");
        assert_eq!(r.pending.len(), 2, "{r:?}");
        // Both: the file changed and the server changed.
        let r = report(&d2, &live("admin", vec![hand]));
        assert_eq!(r.exit_code(), EXIT_DRIFT, "{r:?}");
        assert!(
            r.pending
                .iter()
                .any(|p| p.change.starts_with("deviceReadonly")),
            "newly managed field is pending: {r:?}"
        );
    }

    #[test]
    fn the_text_report_has_a_section_per_kind_and_counts() {
        let u = max();
        let mut hand = applied(&u, have("max@x.at", None));
        hand.links.entry(DEVICE).or_default().insert("D2".into());
        let mut d = desired(vec![u, want("new@x.at")]);
        d.prune = crate::core::model::Prune::Keep;
        let mut r = report(&d, &live("admin", vec![hand]));
        r.audit.insert(
            UserKey::new("max@x.at"),
            vec![AuditEntry {
                time: "2026-11-01T10:00:00Z".into(),
                by: "admin@x.at".into(),
                action: "link".into(),
            }],
        );
        let mut out = Vec::new();
        text(&r, &mut out).expect("write");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(out.contains("Drift (changed on the server"), "{out}");
        assert!(out.contains("  max@x.at: unlink device D2 ("), "{out}");
        assert!(
            out.contains("2026-11-01T10:00:00Z by admin@x.at (link)"),
            "{out}"
        );
        assert!(out.contains("  new@x.at: create user ("), "{out}");
        assert!(
            out.contains("Drift: 1 change(s) on 1 user(s); pending: 1 change(s)."),
            "{out}"
        );
    }

    #[test]
    fn a_drifted_user_the_audit_log_says_nothing_about_is_named_as_such() {
        let u = max();
        let mut hand = applied(&u, have("max@x.at", None));
        hand.links.entry(DEVICE).or_default().insert("D2".into());
        let mut r = report(&desired(vec![u]), &live("admin", vec![hand]));
        let text_of = |r: &Report| {
            let mut out = Vec::new();
            text(r, &mut out).expect("write");
            String::from_utf8(out).expect("utf-8")
        };
        // No log read: no section at all.
        assert!(!text_of(&r).contains("audit"), "{}", text_of(&r));
        // The log was read and has nothing about max: said, not guessed.
        r.audit.insert(UserKey::new("max@x.at"), Vec::new());
        let out = text_of(&r);
        assert!(
            out.contains("  max@x.at: no audit entry found for this user\n"),
            "{out}"
        );
        assert!(!out.contains(" by "), "{out}");
    }

    #[test]
    fn a_record_only_update_is_not_planned_but_rides_along_with_links() {
        let u = max();
        let mut old = applied(&u, have("max@x.at", None));
        old.fields.remove(&applied_field());
        let l = live("admin", vec![old.clone()]);
        assert!(
            plan_recorded(&desired(vec![u.clone()]), &l)
                .expect("plan")
                .is_empty()
        );
        let mut u2 = u.clone();
        u2.links.entry(DEVICE).or_default().insert("D2".into());
        let plan = plan_recorded(&desired(vec![u2]), &l).expect("plan");
        assert_eq!(plan.actions.len(), 2, "{:?}", plan.actions);
    }

    /// An object's link differences get the object's verdict: its record covers the lists
    /// the entry gives.
    #[test]
    fn object_link_differences_get_the_object_verdict() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GEOFENCE_OBJECT};
        use crate::core::model::{DesiredObject, LiveObject};
        let spec = TRACCAR.object(DEVICE_OBJECT).expect("devices");
        let entry = |geofences: &[&str]| DesiredObject {
            links: [(
                GEOFENCE_OBJECT,
                geofences.iter().map(|g| g.to_string()).collect(),
            )]
            .into(),
            key: "BT-1".into(),
            fields: BTreeMap::new(),
            origin: None,
        };
        let file = |geofences: &[&str]| {
            let mut d = desired(vec![]);
            d.objects.insert(
                DEVICE_OBJECT,
                [("BT-1".to_string(), entry(geofences))].into(),
            );
            d
        };
        let live_with = |record: Value, geofences: &[&str]| {
            let mut l = live("admin", vec![]);
            for g in ["a", "b", "x"] {
                l.targets
                    .entry(crate::backend::traccar::rules::GEOFENCE)
                    .or_default()
                    .insert(g.to_string());
            }
            l.objects.insert(
                DEVICE_OBJECT,
                [(
                    "BT-1".to_string(),
                    LiveObject {
                        links: [(
                            GEOFENCE_OBJECT,
                            geofences.iter().map(|g| g.to_string()).collect(),
                        )]
                        .into(),
                        key: "BT-1".into(),
                        marker: Some(FLEET.into()),
                        fields: [(applied_field(), record)].into(),
                    },
                )]
                .into(),
            );
            l
        };
        // Applied with [a], then x linked by hand: drift.
        let applied = object_record_of(spec, &entry(&["a"]));
        let r = report(&file(&["a"]), &live_with(applied.clone(), &["a", "x"]));
        assert_eq!(r.exit_code(), EXIT_DRIFT, "{r:?}");
        assert_eq!(r.drift.len(), 1, "{r:?}");
        assert_eq!(r.drift[0].change, "unlink geofence x");
        assert_eq!(r.drift[0].object.as_deref(), Some("device BT-1"));
        // Applied with [a], the server as applied, the file now [a, b]: pending.
        let r = report(&file(&["a", "b"]), &live_with(applied, &["a"]));
        assert_eq!(r.exit_code(), EXIT_PENDING, "{r:?}");
        assert_eq!(r.pending.len(), 1, "{r:?}");
        assert_eq!(r.pending[0].change, "link geofence b");
        assert_eq!(r.pending[0].reason, "the file changed since the last apply");
    }

    /// Objects follow their applied record as users do: without one every difference is
    /// pending, said why, and the text names the object; with the record of the file's
    /// current entry a difference is drift; with the record of an older entry, and the object
    /// still as recorded, pending.
    #[test]
    fn object_differences_follow_their_record() {
        use crate::backend::traccar::rules::DEVICE_OBJECT;
        use crate::core::model::{DesiredObject, LiveObject};
        let spec = TRACCAR.object(DEVICE_OBJECT).expect("devices");
        let name = spec.field("name").expect("name");
        let entry = |key: &str, fields: Vec<(Field, Value)>| DesiredObject {
            links: Default::default(),
            key: key.into(),
            fields: fields.into_iter().collect(),
            origin: None,
        };
        let bike = entry("BT-1", vec![(name.clone(), Value::Text("Bike".into()))]);
        let mut d = desired(vec![]);
        d.objects.insert(
            DEVICE_OBJECT,
            [
                ("BT-1".to_string(), bike.clone()),
                ("BT-2".to_string(), entry("BT-2", vec![])),
            ]
            .into(),
        );
        let live_with = |record: Option<Value>| {
            let mut fields: BTreeMap<Field, Value> =
                [(name.clone(), Value::Text("Renamed by hand".into()))].into();
            if let Some(record) = record {
                fields.insert(applied_field(), record);
            }
            let mut l = live("admin", vec![]);
            l.objects.insert(
                DEVICE_OBJECT,
                [(
                    "BT-1".to_string(),
                    LiveObject {
                        links: Default::default(),
                        key: "BT-1".into(),
                        marker: Some(FLEET.into()),
                        fields,
                    },
                )]
                .into(),
            );
            l
        };

        // No record: pending.
        let r = report(&d, &live_with(None));
        assert_eq!(r.exit_code(), EXIT_PENDING, "{r:?}");
        assert!(r.drift.is_empty());
        let got: Vec<(Option<&str>, &str)> = r
            .pending
            .iter()
            .map(|p| (p.object.as_deref(), p.change.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("device BT-2"), "create"),
                (Some("device BT-1"), "name: \"Renamed by hand\" -> \"Bike\"")
            ]
        );
        let mut out = Vec::new();
        text(&r, &mut out).expect("write");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains(
                "  device BT-1: name: \"Renamed by hand\" -> \"Bike\" (no record of an earlier apply on this object)"
            ),
            "{out}"
        );

        // fleetform applied this entry, then someone renamed the device: drift.
        let r = report(&d, &live_with(Some(object_record_of(spec, &bike))));
        assert_eq!(r.exit_code(), EXIT_DRIFT, "{r:?}");
        assert_eq!(r.drift.len(), 1, "{r:?}");
        assert_eq!(r.drift[0].object.as_deref(), Some("device BT-1"));
        let mut out = Vec::new();
        text(&r, &mut out).expect("write");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("Drift: 1 change(s) on 1 object(s); pending: 1 change(s)."),
            "{out}"
        );

        // fleetform applied an older entry (the name by hand was the file's then): pending.
        let old = entry(
            "BT-1",
            vec![(name.clone(), Value::Text("Renamed by hand".into()))],
        );
        let r = report(&d, &live_with(Some(object_record_of(spec, &old))));
        assert_eq!(r.exit_code(), EXIT_PENDING, "{r:?}");
        assert!(
            r.pending
                .iter()
                .any(|p| p.reason == "the file changed since the last apply"),
            "{r:?}"
        );

        let r = report(&d, &live_with(None));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["pending"][0]["object"], "device BT-2");
        assert!(json["pending"][0].get("email").is_none(), "{json}");
    }
}
