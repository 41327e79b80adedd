//! export: pure. Writes a fleet file (YAML text) from live state, for adopting a server that
//! fleetform does not manage yet (`fleetform export`). It must not do I/O: `workflow` fetches
//! twice through the `Backend` trait (once to list users, once with a scope of the exported
//! emails to read their links) and writes the text.
//!
//! Design:
//! - Who is exported: never administrators, the acting account or Traccar's temporary share
//!   users (the backend drops those); with `managed` only users carrying this fleet's marker,
//!   with `all` every user without a marker or with this fleet's (users of another fleet stay
//!   with their fleet), except unmarked managers (a user limit other than 0): a billing account
//!   listed as a user would be adopted and managed by the first apply. `left_out_managers`
//!   names them, so the command can say so in the file.
//! - What: name and phone when set, the permission fields (readonly, deviceReadonly,
//!   limitCommands, disableReports, deviceLimit, userLimit), disabled, expirationTime when set,
//!   direct device and group links. Attributes are not exported (they often hold app state such
//!   as push tokens); add the ones to manage by hand.
//! - `--infer-roles`: users with identical permission fields, when at least two share them,
//!   get a role `role-N` (most common first) instead of repeating the fields.
//! - `prune: keep`, so the adopted file deletes nothing until someone decides otherwise.
//! - The YAML is written by hand (strings as JSON-quoted scalars, which YAML reads as is) and
//!   then checked with `config::parse`, so export never hands out a file fleetform refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::config;
use crate::core::model::{Description, RiskClass};
use crate::core::model::{Field, Live, LiveUser, UserKey, Value, linked};
use crate::core::record::APPLIED_ATTRIBUTE;

/// Which users to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Users carrying this fleet's marker.
    Managed,
    /// Every user fleetform may manage that no other fleet claims.
    All,
}

/// Whether a field makes up a role under `--infer-roles` (the backend's permission fields).
fn is_permission(field: &Field) -> bool {
    field.spec().is_some_and(|spec| spec.permission)
}

/// The users to export (see the design comment).
pub fn select(backend: &Description, live: &Live, fleet: &str, which: Which) -> BTreeSet<UserKey> {
    let me = backend.key.key(&live.account.email);
    live.users
        .iter()
        .filter(|(key, user)| **key != me && user.untouchable.is_none())
        .filter(|(_, user)| match (which, user.marker.as_deref()) {
            (_, Some(marker)) => marker == fleet,
            (Which::All, None) => !is_manager(user),
            (Which::Managed, None) => false,
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// A user with power over other users: a limit that grants a role (`RiskClass::Limit {
/// grants_role }`, Traccar's `userLimit`) set to anything but 0. Such an account is usually a
/// billing account, not a fleet member.
fn is_manager(user: &LiveUser) -> bool {
    user.fields.iter().any(|(field, value)| {
        field
            .spec()
            .is_some_and(|spec| spec.risk == RiskClass::Limit { grants_role: true })
            && matches!(value, Value::Int(n) if *n != 0)
    })
}

/// The unmarked managers `select` leaves out under `all` (emails, as the server spells them).
pub fn left_out_managers(backend: &Description, live: &Live, which: Which) -> Vec<String> {
    let me = backend.key.key(&live.account.email);
    if which == Which::Managed {
        return Vec::new();
    }
    live.users
        .iter()
        .filter(|(key, user)| {
            **key != me && user.untouchable.is_none() && user.marker.is_none() && is_manager(user)
        })
        .map(|(_, user)| user.email.clone())
        .collect()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn yaml_value(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Time(t) => q(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        Value::Text(s) if s.is_empty() => return None,
        Value::Text(s) => q(s),
        Value::Json(j) => j.to_string(),
    })
}

fn permissions(user: &LiveUser) -> Vec<(Field, String)> {
    user.fields
        .iter()
        .filter(|(f, _)| is_permission(f))
        .filter_map(|(f, v)| Some((f.clone(), yaml_value(v)?)))
        .collect()
}

fn list(items: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Where the exported fleet's server is: written as `server:` for backends other than the
/// default (a Traccar file names no server, as before).
#[derive(Clone, Copy, Debug)]
pub struct Server<'a> {
    pub url: &'a str,
    /// The instance, for backends with instances (`server.instanceId`).
    pub instance: Option<&'a str>,
}

/// The fleet file for `users` (keys of `live.users`, with links read), checked by
/// `config::parse`. `header` is written as a comment on top.
pub fn fleet_file(
    backend: &'static Description,
    live: &Live,
    (fleet, server): (&str, &Server<'_>),
    users: &BTreeSet<UserKey>,
    infer_roles: bool,
    header: &str,
) -> Result<String, config::Problems> {
    let exported: Vec<&LiveUser> = users.iter().filter_map(|k| live.users.get(k)).collect();

    // Roles: identical permission sets shared by at least two users, most common first.
    let mut roles: Vec<(Vec<(Field, String)>, usize)> = Vec::new();
    if infer_roles {
        type Set = Vec<(Field, String)>;
        let mut counts: BTreeMap<Vec<(String, String)>, (Set, usize)> = BTreeMap::new();
        for user in &exported {
            let set = permissions(user);
            if set.is_empty() {
                continue;
            }
            let key = set.iter().map(|(f, v)| (f.name(), v.clone())).collect();
            counts.entry(key).or_insert((set, 0)).1 += 1;
        }
        roles = counts.into_values().filter(|(_, n)| *n >= 2).collect();
        roles.sort_by_key(|r| std::cmp::Reverse(r.1));
    }
    let role_of = |user: &LiveUser| -> Option<usize> {
        let set = permissions(user);
        roles.iter().position(|(r, _)| *r == set)
    };

    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "version: 1");
    let _ = writeln!(out, "fleet: {}", q(fleet));
    if backend.kind != crate::backend::DEFAULT.kind {
        let _ = writeln!(out, "server:");
        let _ = writeln!(out, "  kind: {}", backend.kind);
        let _ = writeln!(out, "  url: {}", q(server.url));
        if let Some(instance) = server.instance {
            let _ = writeln!(out, "  instanceId: {}", q(instance));
        }
    }
    let removals: Vec<&str> = backend
        .capabilities
        .prune
        .iter()
        .filter(|p| **p != crate::core::model::Prune::Keep)
        .map(|p| p.name())
        .collect();
    let _ = writeln!(
        out,
        "# keep: users removed from this file stay on the server. Use {} once the file is complete.",
        removals.join(" or ")
    );
    let _ = writeln!(out, "prune: keep");
    if !roles.is_empty() {
        let _ = writeln!(out, "roles:");
        for (i, (set, _)) in roles.iter().enumerate() {
            let _ = writeln!(out, "  role-{}:", i + 1);
            for (field, value) in set {
                let _ = writeln!(out, "    {field}: {value}");
            }
        }
    }
    if exported.is_empty() {
        let _ = writeln!(out, "users: []");
    } else {
        let _ = writeln!(out, "users:");
    }
    for user in &exported {
        let _ = writeln!(out, "  - {}: {}", backend.key.name, q(&user.email));
        let role = role_of(user);
        if let Some(i) = role {
            let _ = writeln!(out, "    role: role-{}", i + 1);
        }
        for field in backend.scalars() {
            if role.is_some() && is_permission(&field) {
                continue;
            }
            if let Some(value) = user.fields.get(&field).and_then(yaml_value) {
                let _ = writeln!(out, "    {field}: {value}");
            }
        }
        for (spec, key) in backend.file_links() {
            let targets = linked(&user.links, spec.kind);
            if !targets.is_empty() {
                let _ = writeln!(out, "    {key}: {}", list(targets));
            }
        }
    }
    // The record and the marker are fleetform's bookkeeping, never exported.
    debug_assert!(!out.contains(APPLIED_ATTRIBUTE));
    config::parse(&out, "exported fleet file")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::tests::{FLEET, have, live, set};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, tf};

    #[test]
    fn exports_a_valid_file_with_roles() {
        let mut a = have("a@x.at", Some(FLEET));
        a.fields
            .insert(tf("name"), Value::Text("A \"quoted\" name".into()));
        a.fields.insert(tf("readonly"), Value::Bool(true));
        a.links.insert(DEVICE, set(&["D1"]));
        let mut b = have("b@x.at", Some(FLEET));
        b.fields.insert(tf("readonly"), Value::Bool(true));
        b.links.insert(GROUP, set(&["G1"]));
        let c = have("c@x.at", None);
        let mut billing = have("billing@x.at", None);
        billing.fields.insert(tf("userLimit"), Value::Int(100));
        let mut unlimited = have("unlimited@x.at", None);
        unlimited.fields.insert(tf("userLimit"), Value::Int(-1));
        let mut not_a_manager = have("d@x.at", None);
        not_a_manager.fields.insert(tf("userLimit"), Value::Int(0));
        let l = live("admin", vec![a, b, c, billing, unlimited, not_a_manager]);
        let users = select(TRACCAR, &l, FLEET, Which::Managed);
        assert_eq!(users.len(), 2);
        // `all` never lists an unmarked manager: the first apply would adopt it.
        let all = select(TRACCAR, &l, FLEET, Which::All);
        assert_eq!(
            all.iter().map(UserKey::as_str).collect::<Vec<_>>(),
            ["a@x.at", "b@x.at", "c@x.at", "d@x.at"]
        );
        assert_eq!(
            left_out_managers(TRACCAR, &l, Which::All),
            ["billing@x.at", "unlimited@x.at"]
        );
        assert!(left_out_managers(TRACCAR, &l, Which::Managed).is_empty());
        let server = Server {
            url: "https://traccar.example.com",
            instance: None,
        };
        let text = fleet_file(TRACCAR, &l, (FLEET, &server), &users, true, "test").expect("valid");
        assert!(!text.contains("server:"), "{text}");
        assert!(text.contains("role: role-1"), "{text}");
        let loaded = config::parse(&text, "t").expect("parses");
        let a = &loaded.desired.users[&UserKey::new("a@x.at")];
        assert_eq!(a.fields[&tf("readonly")], Value::Bool(true));
        assert_eq!(
            a.fields[&tf("name")],
            Value::Text("A \"quoted\" name".into())
        );
    }
}
