//! Validation: from the located YAML tree, through the file types, to the model's `Desired`,
//! collecting every problem with its location instead of stopping at the first (cargo-deny's
//! `ValidationContext` style). Rules that span values live here: emails and their uniqueness,
//! the manager, roles and their merge into users, timestamps, limits, reserved attribute keys,
//! duplicate links, the fleet name and the format version.
//!
//! The file is decoded piecewise (top level, each role, each user) so that a broken user entry
//! can't hide problems in the others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::decode::{Found, decode};
use super::file::{FileRole, FileUser, FleetFile, NULLABLE_KEYS, UserFields};
use super::yaml::{Kind, Node, Pos};
use super::{Problem, Problems};
use crate::model::{Desired, DesiredUser, Field, UserKey, Value};

/// The attribute fleetform keeps its ownership marker in.
pub const MARKER_ATTRIBUTE: &str = "fleetform";

/// The only format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// Collects problems for one file.
pub struct Context<'a> {
    source: &'a str,
    problems: Vec<(Option<Pos>, Problem)>,
}

impl<'a> Context<'a> {
    pub fn new(source: &'a str) -> Self {
        Context {
            source,
            problems: Vec::new(),
        }
    }

    pub fn location(&self, pos: Pos) -> String {
        format!("{}:{pos}", self.source)
    }

    pub fn report(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        let location = Some(match pos {
            Some(p) => self.location(p),
            None => self.source.to_string(),
        });
        let problem = Problem {
            location,
            message: shorten(message.into()),
        };
        self.problems.push((pos, problem));
    }

    fn report_all(&mut self, found: Vec<Found>) {
        for (pos, message) in found {
            self.report(Some(pos), message);
        }
    }

    /// The problems in file order (those without a position first, as they concern the file).
    pub fn finish(mut self) -> Result<(), Problems> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|(pos, _)| *pos);
        Err(Problems(
            self.problems.into_iter().map(|(_, p)| p).collect(),
        ))
    }
}

/// The longest problem message, in characters. Messages quote the offending value; a hostile
/// file's megabyte-long scalar must not come back as a megabyte-long error.
const MAX_PROBLEM_CHARS: usize = 600;

/// Cuts the middle of an overlong message, keeping its start (what is wrong) and its end (what
/// to do about it).
fn shorten(message: String) -> String {
    let count = message.chars().count();
    if count <= MAX_PROBLEM_CHARS {
        return message;
    }
    let head: String = message.chars().take(MAX_PROBLEM_CHARS / 2).collect();
    let tail: String = message
        .chars()
        .skip(count - MAX_PROBLEM_CHARS / 4)
        .collect();
    format!(
        "{head}[... {} characters cut ...]{tail}",
        count - MAX_PROBLEM_CHARS / 2 - MAX_PROBLEM_CHARS / 4
    )
}

/// Where `key`'s value is in the mapping `node` (or the mapping itself).
fn value_pos(node: &Node, key: &str) -> Pos {
    node.get(key).map_or(node.pos, |(_, v)| v.pos)
}

/// `null` would silently mean "not managed" for most keys; refuse it so the intent is explicit.
fn refuse_nulls(ctx: &mut Context<'_>, node: &Node, nullable: &[&str]) -> BTreeSet<usize> {
    let mut refused = BTreeSet::new();
    for (i, (key, value)) in node.entries().iter().enumerate() {
        let Some(name) = key.as_text() else { continue };
        if value.is_null() && !nullable.contains(&name) {
            ctx.report(
                Some(value.pos),
                format!(
                    "`{name}` is null: give it a value, or remove the key to leave it unmanaged{}",
                    match name {
                        "devices" | "groups" => " (write [] for no links)",
                        "roles" | "attributes" => " (write {} for none)",
                        "users" => " (write [] for no users)",
                        _ => "",
                    }
                ),
            );
            refused.insert(i);
        }
    }
    refused
}

/// Reports every required key `node` lacks (serde would name only the first) and returns them.
fn require(ctx: &mut Context<'_>, node: &Node, keys: &[(&'static str, &str)]) -> Vec<&'static str> {
    let mut missing = Vec::new();
    for (key, example) in keys {
        if node.get(key).is_none() {
            ctx.report(
                Some(node.pos),
                format!("the required key `{key}` is missing: add it, e.g. `{example}`"),
            );
            missing.push(*key);
        }
    }
    missing
}

/// Validates the whole document. Returns the model and the server URL.
pub fn validate(ctx: &mut Context<'_>, root: &Node) -> Option<(Desired, Option<String>)> {
    if !matches!(root.kind, Kind::Map(_)) {
        ctx.report(
            Some(root.pos),
            format!(
                "the file holds {}, not a fleet: start it with `version: 1` and `fleet: <name>`",
                root.describe()
            ),
        );
        return None;
    }

    // Roles and users are decoded one by one below, so one broken entry hides nothing else.
    let mut skip = refuse_nulls(ctx, root, &[]);
    let roles_node = take_entry(root, "roles", &mut skip);
    let users_node = take_entry(root, "users", &mut skip);
    let missing = require(
        ctx,
        root,
        &[("version", "version: 1"), ("fleet", "fleet: my-fleet")],
    );
    if let Some((_, server)) = root.get("server") {
        refuse_nulls(ctx, server, &[]);
    }
    let (file, found) = decode::<FleetFile>(root, &skip, &missing);
    ctx.report_all(found);

    let roles = roles_node
        .map(|node| decode_roles(ctx, node))
        .unwrap_or_default();
    let users = users_node
        .map(|node| decode_users(ctx, node))
        .unwrap_or_default();

    // Users are checked even when the top level is broken: their problems are independent.
    let top = file.as_ref().map(|f| check_top(ctx, root, f));
    let manager = top.as_ref().and_then(|t| t.manager.as_ref());
    let roles = check_roles(ctx, &roles);
    let users = check_users(ctx, &users, &roles, manager);
    let (file, top) = (file?, top?);
    Some((
        Desired {
            fleet: top.fleet?,
            manager: top.manager.map(|(key, _)| key),
            prune: file.prune.unwrap_or_default(),
            users: users?,
        },
        file.server.and_then(|s| s.url),
    ))
}

/// Takes `key`'s entry out of the top-level decode and returns its value node (unless it was
/// refused as null).
fn take_entry<'n>(root: &'n Node, key: &str, skip: &mut BTreeSet<usize>) -> Option<&'n Node> {
    let (i, (_, value)) = root
        .entries()
        .iter()
        .enumerate()
        .find(|(_, (k, _))| k.as_text() == Some(key))?;
    let refused = skip.contains(&i);
    skip.insert(i);
    (!refused).then_some(value)
}

fn decode_roles<'n>(
    ctx: &mut Context<'_>,
    node: &'n Node,
) -> Vec<(String, &'n Node, Option<FileRole>)> {
    if !matches!(node.kind, Kind::Map(_)) {
        ctx.report(
            Some(node.pos),
            format!(
                "`roles` must be a mapping from role names to fields, not {}",
                node.describe()
            ),
        );
        return Vec::new();
    }
    let mut roles = Vec::new();
    for (key, value) in node.entries() {
        let Some(name) = key.as_text() else {
            ctx.report(Some(key.pos), "a role name must be a string");
            continue;
        };
        if !matches!(value.kind, Kind::Map(_)) {
            ctx.report(
                Some(value.pos),
                format!(
                    "role `{name}` must be a mapping of user fields (e.g. `{{ readonly: true }}`), not {}",
                    value.describe()
                ),
            );
            roles.push((name.to_string(), value, None));
            continue;
        }
        let skip = refuse_nulls(ctx, value, &NULLABLE_KEYS);
        let (role, found) = decode::<FileRole>(value, &skip, &[]);
        ctx.report_all(found);
        roles.push((name.to_string(), value, role));
    }
    roles
}

fn decode_users<'n>(ctx: &mut Context<'_>, node: &'n Node) -> Vec<(&'n Node, Option<FileUser>)> {
    if !matches!(node.kind, Kind::Seq(_)) {
        ctx.report(
            Some(node.pos),
            format!(
                "`users` must be a list of users (`- email: ...`), not {}",
                node.describe()
            ),
        );
        return Vec::new();
    }
    let mut users = Vec::new();
    for item in node.items() {
        if !matches!(item.kind, Kind::Map(_)) {
            ctx.report(
                Some(item.pos),
                format!(
                    "a user must be a mapping with at least `email:`, not {}",
                    item.describe()
                ),
            );
            continue;
        }
        let skip = refuse_nulls(ctx, item, &NULLABLE_KEYS);
        let missing = require(ctx, item, &[("email", "email: someone@example.com")]);
        let (user, found) = decode::<FileUser>(item, &skip, &missing);
        ctx.report_all(found);
        users.push((item, user));
    }
    users
}

struct Top {
    fleet: Option<String>,
    manager: Option<(UserKey, Pos)>,
}

fn check_top(ctx: &mut Context<'_>, root: &Node, file: &FleetFile) -> Top {
    if file.version != FORMAT_VERSION {
        ctx.report(
            Some(value_pos(root, "version")),
            format!(
                "unsupported format version {}: this fleetform reads `version: {FORMAT_VERSION}`",
                file.version
            ),
        );
    }
    let fleet = if valid_fleet_name(&file.fleet) {
        Some(file.fleet.clone())
    } else {
        ctx.report(
            Some(value_pos(root, "fleet")),
            format!(
                "invalid fleet name {:?}: use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                file.fleet
            ),
        );
        None
    };
    if let Some(url) = file.server.as_ref().and_then(|s| s.url.as_deref()) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let pos = root
                .get("server")
                .map_or(root.pos, |(_, server)| value_pos(server, "url"));
            ctx.report(
                Some(pos),
                format!("invalid server url {url:?}: it must start with http:// or https://"),
            );
        }
    }
    let manager = file.manager.as_deref().and_then(|email| {
        let pos = value_pos(root, "manager");
        match check_email(email) {
            Ok(key) => Some((key, pos)),
            Err(why) => {
                ctx.report(Some(pos), format!("invalid manager email {email:?}: {why}"));
                None
            }
        }
    });
    Top { fleet, manager }
}

/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, without a regex engine.
pub fn valid_fleet_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A trimmed email that has the shape of an address: one `@` with text on both sides and no
/// whitespace. Deliverability is the server's business.
pub fn check_email(email: &str) -> Result<UserKey, &'static str> {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return Err("an email needs an `@`");
    };
    if local.is_empty() || domain.is_empty() {
        return Err("an email needs text before and after the `@`");
    }
    if domain.contains('@') {
        return Err("an email has only one `@`");
    }
    if email.chars().any(char::is_whitespace) {
        return Err("an email can't contain spaces");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err("the domain after the `@` is malformed");
    }
    Ok(UserKey::new(email))
}

/// Converts a role's or user's fields; `node` is its mapping, for locations.
fn managed_fields(
    ctx: &mut Context<'_>,
    node: &Node,
    fields: UserFields<'_>,
) -> BTreeMap<Field, Value> {
    let mut out = BTreeMap::new();
    if let Some(name) = fields.name {
        out.insert(Field::Name, Value::Text(name.to_string()));
    }
    if let Some(phone) = fields.phone {
        out.insert(
            Field::Phone,
            phone.map_or(Value::Null, |p| Value::Text(p.to_string())),
        );
    }
    let flags = [
        (Field::Readonly, fields.readonly),
        (Field::DeviceReadonly, fields.device_readonly),
        (Field::LimitCommands, fields.limit_commands),
        (Field::DisableReports, fields.disable_reports),
        (Field::Disabled, fields.disabled),
    ];
    for (field, value) in flags {
        if let Some(b) = value {
            out.insert(field, Value::Bool(b));
        }
    }
    for (field, value) in [
        (Field::DeviceLimit, fields.device_limit),
        (Field::UserLimit, fields.user_limit),
    ] {
        let Some(n) = value else { continue };
        // Traccar stores limits as 32-bit Java ints.
        if n < -1 || n > i64::from(i32::MAX) {
            ctx.report(
                Some(value_pos(node, &field.name())),
                format!(
                    "`{field}` is {n}: use -1 for unlimited, 0 for none, or a number up to {}",
                    i32::MAX
                ),
            );
        } else {
            out.insert(field, Value::Int(n));
        }
    }
    if let Some(time) = fields.expiration_time {
        match time {
            None => {
                out.insert(Field::ExpirationTime, Value::Null);
            }
            Some(text) => match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(t) => {
                    out.insert(Field::ExpirationTime, Value::time(t.with_timezone(&Utc)));
                }
                Err(e) => ctx.report(
                    Some(value_pos(node, "expirationTime")),
                    format!(
                        "`expirationTime` {text:?} is not an RFC 3339 timestamp ({e}): write e.g. 2027-06-30T00:00:00Z, or null for never"
                    ),
                ),
            },
        }
    }
    if let Some(attributes) = fields.attributes {
        for (key, value) in attributes {
            if key == MARKER_ATTRIBUTE {
                let pos = node
                    .get("attributes")
                    .and_then(|(_, attrs)| attrs.get(MARKER_ATTRIBUTE))
                    .map_or(node.pos, |(k, _)| k.pos);
                ctx.report(
                    Some(pos),
                    format!(
                        "the attribute `{MARKER_ATTRIBUTE}` is reserved: fleetform keeps its ownership marker there; use another key"
                    ),
                );
                continue;
            }
            out.insert(Field::Attribute(key.clone()), Value::from_json(value));
        }
    }
    out
}

struct Role {
    fields: Option<BTreeMap<Field, Value>>,
}

fn check_roles(
    ctx: &mut Context<'_>,
    roles: &[(String, &Node, Option<FileRole>)],
) -> BTreeMap<String, Role> {
    roles
        .iter()
        .map(|(name, node, role)| {
            let fields = role.as_ref().map(|r| managed_fields(ctx, node, r.fields()));
            (name.clone(), Role { fields })
        })
        .collect()
}

fn check_users(
    ctx: &mut Context<'_>,
    users: &[(&Node, Option<FileUser>)],
    roles: &BTreeMap<String, Role>,
    manager: Option<&(UserKey, Pos)>,
) -> Option<BTreeMap<UserKey, DesiredUser>> {
    let mut out: BTreeMap<UserKey, DesiredUser> = BTreeMap::new();
    let mut seen: BTreeMap<UserKey, Pos> = BTreeMap::new();
    let mut complete = true;
    for (node, user) in users {
        let Some(user) = user else {
            complete = false;
            continue;
        };
        let email_pos = value_pos(node, "email");
        let key = match check_email(&user.email) {
            Ok(key) => Some(key),
            Err(why) => {
                ctx.report(
                    Some(email_pos),
                    format!("invalid email {:?}: {why}", user.email),
                );
                None
            }
        };
        if let Some(key) = &key {
            if let Some(first) = seen.get(key) {
                ctx.report(
                    Some(email_pos),
                    format!(
                        "the user {key} is listed twice (first at {}); emails match case-insensitively: keep one entry",
                        ctx.location(*first)
                    ),
                );
            } else {
                seen.insert(key.clone(), email_pos);
            }
            if let Some((manager, manager_pos)) = manager {
                if manager == key {
                    ctx.report(
                        Some(email_pos),
                        format!(
                            "{key} is the manager account (at {}), which fleetform never changes: remove it from `users`",
                            ctx.location(*manager_pos)
                        ),
                    );
                }
            }
        }

        let mut fields = BTreeMap::new();
        if let Some(role_name) = &user.role {
            match roles.get(role_name) {
                Some(role) => fields.extend(
                    role.fields
                        .iter()
                        .flatten()
                        .map(|(f, v)| (f.clone(), v.clone())),
                ),
                None => {
                    let known: Vec<&str> = roles.keys().map(String::as_str).collect();
                    let hint = match super::decode::suggest(role_name, &known) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if known.is_empty() => "define it under `roles:`".to_string(),
                        None => format!("the roles defined are: {}", known.join(", ")),
                    };
                    ctx.report(
                        Some(value_pos(node, "role")),
                        format!("unknown role `{role_name}`: {hint}"),
                    );
                }
            }
        }
        // The user's own fields override the role's, attribute by attribute.
        fields.extend(managed_fields(ctx, node, user.fields()));

        let devices = links(ctx, node, "devices", "device", user.devices.as_deref());
        let groups = links(ctx, node, "groups", "group", user.groups.as_deref());

        if let Some(key) = key {
            out.entry(key).or_insert(DesiredUser {
                email: user.email.trim().to_string(),
                fields,
                devices,
                groups,
                origin: Some(ctx.location(node.pos)),
            });
        }
    }
    complete.then_some(out)
}

/// A user's device or group links as a set, reporting empty and repeated entries.
fn links(
    ctx: &mut Context<'_>,
    node: &Node,
    key: &str,
    what: &str,
    list: Option<&[String]>,
) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let items = node.get(key).map(|(_, v)| v.items()).unwrap_or_default();
    for (i, target) in list.unwrap_or_default().iter().enumerate() {
        let pos = items.get(i).map_or(node.pos, |n| n.pos);
        if target.trim().is_empty() {
            ctx.report(
                Some(pos),
                format!("an empty {what} name in `{key}`: remove it"),
            );
        } else if !set.insert(target.clone()) {
            ctx.report(
                Some(pos),
                format!("{what} `{target}` is listed twice in this user's `{key}`: remove one"),
            );
        }
    }
    set
}
