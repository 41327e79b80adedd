//! Validation: from the located YAML tree, through the file types, to the model's `Desired`,
//! collecting every problem with its location instead of stopping at the first (cargo-deny's
//! `ValidationContext` style). Rules that span values live here: emails and their uniqueness,
//! the manager, roles and their merge into users, timestamps, limits, reserved attribute keys,
//! duplicate links, the fleet name and the format version. The object sections (`devices:`,
//! `groups:`, ...) are taken out here and validated by `config::objects`; the typed field values
//! both use, reserved attribute keys and the problem `Context` are `config::fields`.
//!
//! The file is decoded piecewise (top level, each role, each user) so that a broken user entry
//! can't hide problems in the others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeDelta;

use super::decode::{decode_value, decode_with};
pub use super::fields::Context;
use super::fields::{Raw, managed_fields, raw_value, value_pos};
use super::file::{FileRole, FileSafety, FileUser, FleetFile};
use super::yaml::{Kind, Node, Pos};
use crate::core::model::{Description, LinkKind, Links, ObjectKind};
use crate::core::model::{Desired, DesiredUser, Field, Prune, Safety, UserKey, Value};

pub use crate::core::model::MARKER_ATTRIBUTE;

/// The only format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// `null` would silently mean "not managed" for most keys; refuse it so the intent is explicit.
fn refuse_nulls(
    ctx: &mut Context,
    node: &Node,
    nullable: &[&str],
    link_lists: &[&str],
) -> BTreeSet<usize> {
    let mut refused = BTreeSet::new();
    for (i, (key, value)) in node.entries().iter().enumerate() {
        let Some(name) = key.as_text() else { continue };
        if value.is_null() && !nullable.contains(&name) {
            // Lists and maps left out mean "none" (a backend's link lists, `users`, `roles`) or
            // "none managed" (`attributes`, managed key by key), never "leave it alone".
            let fix = match name {
                _ if link_lists.contains(&name) => {
                    "list the links, or write [] or leave the key out for no links"
                }
                "users" => "list the users, or write [] or leave the key out for no users",
                "roles" => "define the roles, or write {} or leave the key out for no roles",
                "attributes" => {
                    "give the attributes to manage, or leave the key out to manage none (`key: null` removes one attribute)"
                }
                _ => "give it a value, or remove the key to leave it unmanaged",
            };
            ctx.report(Some(value.pos), format!("`{name}` is null: {fix}"));
            refused.insert(i);
        }
    }
    refused
}

/// Reports every required key `node` lacks (serde would name only the first) and returns them.
fn require(ctx: &mut Context, node: &Node, keys: &[(&'static str, &str)]) -> Vec<&'static str> {
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

/// One parsed file: its index among the context's sources, and its root node.
pub type Doc<'n> = (usize, &'n Node);

/// Where the fleet's server is, as the files say: `server.url` and `server.instanceId`.
pub struct Server {
    pub url: Option<String>,
    pub instance: Option<String>,
}

/// Validates several documents as one fleet (see `config::load_many` for the merge rules).
/// Returns the model and where the server is.
pub fn validate_docs(
    ctx: &mut Context,
    docs: &[Doc<'_>],
    default: &'static Description,
) -> Option<(Desired, Server)> {
    // Users and roles are decoded by the backend's description, so the backend is found first:
    // the first `server.kind` that names a known backend (`check_top` reports the others).
    let backend = docs
        .iter()
        .filter_map(|(_, root)| {
            let (_, server) = root.get("server")?;
            let (_, kind) = server.get("kind")?;
            crate::backend::describe(kind.as_text()?)
        })
        .next()
        .unwrap_or(default);
    let mut complete = true;
    let mut tops = Vec::new();
    let mut roles = Vec::new();
    let mut users = Vec::new();
    // The backend's object sections (`devices:`, `groups:`), by kind, as each file gives them.
    let mut sections: BTreeMap<ObjectKind, Vec<super::objects::Section<'_>>> = BTreeMap::new();
    let mut top_keys: Vec<&'static str> = super::decode::fields_of::<FleetFile>();
    top_keys.extend(backend.objects.iter().map(|spec| spec.section));
    for &(file, root) in docs {
        ctx.select(file);
        if !matches!(root.kind, Kind::Map(_)) {
            ctx.report(
                Some(root.pos),
                format!(
                    "the file holds {}, not a fleet: start it with `version: 1` and `fleet: <name>`",
                    root.describe()
                ),
            );
            complete = false;
            continue;
        }
        // Roles and users are decoded one by one below, so one broken entry hides nothing else.
        let mut skip = refuse_nulls(ctx, root, &[], &[]);
        let roles_node = take_entry(root, "roles", &mut skip);
        let users_node = take_entry(root, "users", &mut skip);
        for spec in backend.objects {
            if let Some(node) = take_entry(root, spec.section, &mut skip) {
                sections.entry(spec.kind).or_default().push((file, node));
            }
        }
        if let Some((_, server)) = root.get("server") {
            refuse_nulls(ctx, server, &[], &[]);
        }
        // `version` and `fleet` are required, but may come from another file: see `check_top`.
        let (top, found) = decode_with::<FleetFile>(root, &skip, &[], &top_keys);
        ctx.report_all(found);
        if let Some(node) = roles_node {
            roles.extend(
                decode_roles(ctx, node, backend)
                    .into_iter()
                    .map(|(name, pos, node, role)| (file, name, pos, node, role)),
            );
        }
        if let Some(node) = users_node {
            users.extend(
                decode_users(ctx, node, backend)
                    .into_iter()
                    .map(|(node, user)| (file, node, user)),
            );
        }
        match top {
            Some(top) => tops.push((file, root, top)),
            None => complete = false,
        }
    }

    // Users are checked even when the top level is broken: their problems are independent.
    let top = check_top(ctx, &tops, docs, backend);
    let roles = check_roles(ctx, &roles);
    check_unmanaged(ctx, &users, &top.unmanaged, top.backend);
    let users = check_users(ctx, &users, &roles, top.manager.as_ref(), top.backend);
    let objects = super::objects::check(ctx, top.backend, &sections);
    let field_origins = super::objects::field_origins(ctx, top.backend, &sections);
    if !complete {
        return None;
    }
    Some((
        Desired {
            backend: top.backend,
            fleet: top.fleet?,
            manager: top.manager.map(|(key, _)| key),
            prune: top.prune,
            prune_after: top.prune_after,
            safety: top.safety,
            unmanaged: top.unmanaged,
            users: users?,
            objects: objects?,
            field_origins,
        },
        Server {
            url: top.server_url,
            instance: top.instance,
        },
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

/// A decoded role: its name, where the name is, its mapping and its fields (if they decode).
type RoleEntry<'n> = (String, Pos, &'n Node, Option<Decoded<FileRole>>);

/// A role or user as decoded: the shared keys, the backend's fields (typed by its
/// description, not yet checked against its rules) and, for users, the key as written.
struct Decoded<T> {
    file: T,
    key: Option<String>,
    fields: Vec<(Field, Raw)>,
    /// A user's link lists, by the backend's `LinkSpec::file_key`.
    lists: BTreeMap<&'static str, Vec<String>>,
}

/// The backend's field names that may be `null` with a meaning of their own ("no phone",
/// "never expires"). Elsewhere `null` is refused: it would silently mean "not managed".
fn nullable_keys(backend: &Description) -> Vec<&'static str> {
    backend
        .fields
        .iter()
        .filter(|spec| spec.nullable)
        .map(|spec| spec.name)
        .collect()
}

/// The keys of a user (`keyed`) or role mapping, in the order messages and the schema list
/// them: the key, role and links, then profile data (the profile fields, then `attributes`),
/// then the fields that decide access (`Description::file_keys`).
fn allowed_keys(backend: &Description, keyed: bool) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if keyed {
        keys.extend([backend.key.name, "role"]);
        keys.extend(backend.file_links().map(|(_, key)| key));
    }
    keys.extend(backend.file_keys());
    keys
}

/// Decodes a user (`keyed`) or role mapping: the backend's key and fields by its description,
/// the rest as `T`. Every problem is reported; `None` when the mapping cannot be used.
fn decode_entry<T: serde::de::DeserializeOwned>(
    ctx: &mut Context,
    node: &Node,
    backend: &'static Description,
    keyed: bool,
) -> Option<Decoded<T>> {
    let link_lists: Vec<&'static str> = backend.file_links().map(|(_, key)| key).collect();
    let mut skip = refuse_nulls(ctx, node, &nullable_keys(backend), &link_lists);
    let missing: Vec<&'static str> = if keyed {
        let example = format!("{}: {}", backend.key.name, backend.key.example);
        require(ctx, node, &[(backend.key.name, &example)])
    } else {
        Vec::new()
    };
    let mut key = None;
    let mut fields = Vec::new();
    let mut lists = BTreeMap::new();
    let mut broken = false;
    for (i, (name, value)) in node.entries().iter().enumerate() {
        let Some(name) = name.as_text() else { continue };
        if skip.contains(&i) {
            continue;
        }
        if keyed && name == backend.key.name {
            skip.insert(i);
            match decode_value::<String>(name, value) {
                Ok(text) => key = Some(text),
                Err(found) => {
                    ctx.report_all(vec![found]);
                    broken = true;
                }
            }
        } else if keyed && let Some(list) = link_lists.iter().find(|k| **k == name) {
            skip.insert(i);
            match decode_value::<Vec<String>>(name, value) {
                Ok(targets) => {
                    lists.insert(*list, targets);
                }
                Err(found) => {
                    ctx.report_all(vec![found]);
                    broken = true;
                }
            }
        } else if name == "attributes" && !backend.capabilities.attributes {
            // Shared by the file types, but only for backends whose users have them.
            skip.insert(i);
            let allowed = allowed_keys(backend, keyed);
            ctx.report(
                node.entries().get(i).map(|(k, _)| k.pos),
                super::decode::unknown_key(name, &allowed),
            );
        } else if let Some(field) = backend.field(name).filter(|f| f.spec().is_some()) {
            skip.insert(i);
            match raw_value(name, &field, value) {
                Ok(raw) => fields.push((field, raw)),
                Err(found) => ctx.report_all(vec![found]),
            }
        }
    }
    let allowed = allowed_keys(backend, keyed);
    let (file, found) = decode_with::<T>(node, &skip, &missing, &allowed);
    ctx.report_all(found);
    if broken || (keyed && key.is_none()) {
        return None;
    }
    Some(Decoded {
        file: file?,
        key,
        fields,
        lists,
    })
}

fn decode_roles<'n>(
    ctx: &mut Context,
    node: &'n Node,
    backend: &'static Description,
) -> Vec<RoleEntry<'n>> {
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
            roles.push((name.to_string(), key.pos, value, None));
            continue;
        }
        let role = decode_entry::<FileRole>(ctx, value, backend, false);
        roles.push((name.to_string(), key.pos, value, role));
    }
    roles
}

fn decode_users<'n>(
    ctx: &mut Context,
    node: &'n Node,
    backend: &'static Description,
) -> Vec<(&'n Node, Option<Decoded<FileUser>>)> {
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
                    "a user must be a mapping with at least `{}:`, not {}",
                    backend.key.name,
                    item.describe()
                ),
            );
            continue;
        }
        let user = decode_entry::<FileUser>(ctx, item, backend, true);
        users.push((item, user));
    }
    users
}

/// The top-level keys, merged over every file.
struct Top {
    fleet: Option<String>,
    /// The manager and where it is given.
    manager: Option<(UserKey, String)>,
    prune: Prune,
    prune_after: Option<TimeDelta>,
    safety: Safety,
    /// The link kinds the file does not manage, and where `unmanaged` is given.
    unmanaged: BTreeSet<LinkKind>,
    server_url: Option<String>,
    /// `server.instanceId`, lower-cased, for backends with instances (`Capabilities::instance`).
    instance: Option<String>,
    /// The backend named by `server.kind` (default: Traccar).
    backend: &'static Description,
}

/// A top-level value as one file gives it, and where.
struct Given<T> {
    value: T,
    file: usize,
    pos: Pos,
}

/// The first value given; every later one that differs is reported, naming both places.
fn agree<T: PartialEq>(
    ctx: &mut Context,
    key: &str,
    given: Vec<Given<T>>,
    show: impl Fn(&T) -> String,
) -> Option<Given<T>> {
    let mut given = given.into_iter();
    let first = given.next()?;
    let first_at = ctx.location_in(first.file, first.pos);
    for other in given {
        if other.value != first.value {
            ctx.select(other.file);
            ctx.report(
                Some(other.pos),
                format!(
                    "`{key}` is {} here but {} at {first_at}: merged fleet files must agree; give it in one file only",
                    show(&other.value),
                    show(&first.value)
                ),
            );
        }
    }
    Some(first)
}

fn check_top(
    ctx: &mut Context,
    tops: &[(usize, &Node, FleetFile)],
    docs: &[Doc<'_>],
    default: &'static Description,
) -> Top {
    let mut versions = 0;
    let mut fleets_given = 0;
    let mut fleets = Vec::new();
    let mut urls = Vec::new();
    let mut kinds = Vec::new();
    let mut instances = Vec::new();
    let mut managers = Vec::new();
    let mut prunes = Vec::new();
    let mut prune_afters = Vec::new();
    let mut safeties = Vec::new();
    let mut unmanaged = Vec::new();
    for (file, root, top) in tops {
        let (file, root) = (*file, *root);
        ctx.select(file);
        // Given, even if wrongly (its problem is reported already): not missing.
        versions += usize::from(root.get("version").is_some());
        fleets_given += usize::from(root.get("fleet").is_some());
        if let Some(version) = top.version
            && version != FORMAT_VERSION
        {
            ctx.report(
                Some(value_pos(root, "version")),
                format!(
                    "unsupported format version {version}: this fleetform reads `version: {FORMAT_VERSION}`"
                ),
            );
        }
        if let Some(fleet) = &top.fleet {
            let pos = value_pos(root, "fleet");
            if valid_fleet_name(fleet) {
                fleets.push(Given {
                    value: fleet.clone(),
                    file,
                    pos,
                });
            } else {
                ctx.report(
                    Some(pos),
                    format!(
                        "invalid fleet name {fleet:?}: use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
                    ),
                );
            }
        }
        if let Some(url) = top.server.as_ref().and_then(|s| s.url.as_deref()) {
            let pos = root
                .get("server")
                .map_or(root.pos, |(_, server)| value_pos(server, "url"));
            let credentials = url::Url::parse(url)
                .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
            if credentials {
                // The URL is not repeated: the part before `@` is a credential.
                ctx.report(
                    Some(pos),
                    format!(
                        "`server.url` holds credentials (user info before `@`): remove them, and \
                         set {}, in the environment",
                        default.login
                    ),
                );
            } else if url.starts_with("http://") || url.starts_with("https://") {
                urls.push(Given {
                    value: url.to_string(),
                    file,
                    pos,
                });
            } else {
                ctx.report(
                    Some(pos),
                    format!("invalid server url {url:?}: it must start with http:// or https://"),
                );
            }
        }
        if let Some(id) = top.server.as_ref().and_then(|s| s.instance_id.as_deref()) {
            let pos = root
                .get("server")
                .map_or(root.pos, |(_, server)| value_pos(server, "instanceId"));
            if crate::backend::valid_uuid(id) {
                instances.push(Given {
                    value: id.trim().to_lowercase(),
                    file,
                    pos,
                });
            } else {
                ctx.report(
                    Some(pos),
                    format!(
                        "invalid `server.instanceId` {id:?}: an instance id is a UUID, e.g. \
                         4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50 (DataHub shows it)"
                    ),
                );
            }
        }
        if let Some(kind) = top.server.as_ref().and_then(|s| s.kind.as_deref()) {
            let pos = root
                .get("server")
                .map_or(root.pos, |(_, server)| value_pos(server, "kind"));
            match crate::backend::describe(kind) {
                Some(backend) => kinds.push(Given {
                    value: backend,
                    file,
                    pos,
                }),
                None => ctx.report(
                    Some(pos),
                    format!(
                        "unknown server kind {kind:?}: use one of {}",
                        crate::backend::KINDS.join(", ")
                    ),
                ),
            }
        }
        if let Some(email) = top.manager.as_deref() {
            let pos = value_pos(root, "manager");
            match check_email(email) {
                Ok(key) => managers.push(Given {
                    value: key,
                    file,
                    pos,
                }),
                Err(why) => {
                    ctx.report(Some(pos), format!("invalid manager email {email:?}: {why}"))
                }
            }
        }
        if let Some(prune) = top.prune {
            prunes.push(Given {
                value: prune,
                file,
                pos: value_pos(root, "prune"),
            });
        }
        if let Some(text) = &top.prune_after {
            let pos = value_pos(root, "pruneAfter");
            match parse_duration(text) {
                Ok(delta) => prune_afters.push(Given {
                    value: (text.trim().to_string(), delta),
                    file,
                    pos,
                }),
                Err(why) => ctx.report(Some(pos), format!("invalid `pruneAfter` {text:?}: {why}")),
            }
        }
        if let Some(names) = &top.unmanaged {
            let node = root.get("unmanaged").map_or(root, |(_, v)| v);
            let mut kinds = BTreeSet::new();
            for (i, name) in names.iter().enumerate() {
                let pos = match &node.kind {
                    Kind::Seq(items) => items.get(i).map_or(node.pos, |n| n.pos),
                    _ => node.pos,
                };
                match default.file_links().find(|(_, key)| key == name) {
                    Some((spec, _)) => {
                        kinds.insert(spec.kind);
                    }
                    None => {
                        let lists: Vec<&str> = default.file_links().map(|(_, k)| k).collect();
                        let fix = match lists.split_last() {
                            None => "they have none: remove `unmanaged`".to_string(),
                            Some((last, rest)) if !rest.is_empty() => {
                                format!("use {} or {last}", rest.join(", "))
                            }
                            Some((last, _)) => format!("use {last}"),
                        };
                        ctx.report(
                            Some(pos),
                            format!(
                                "`unmanaged` lists {name:?}, which is not a link list of {} users: {fix}",
                                default.kind,
                            ),
                        );
                    }
                }
            }
            unmanaged.push(Given {
                value: kinds,
                file,
                pos: node.pos,
            });
        }
        if let Some(safety) = &top.safety {
            let node = root.get("safety").map_or(root, |(_, v)| v);
            check_safety(ctx, node, safety);
            safeties.push(Given {
                value: safety.clone(),
                file,
                pos: node.pos,
            });
        }
    }

    let several = ctx.file_count() > 1;
    // Only when every file was read: a file that failed to parse may well give the key.
    if tops.len() == ctx.file_count() {
        for (key, count, hint) in [
            ("version", versions, "version: 1"),
            ("fleet", fleets_given, "fleet: my-fleet"),
        ] {
            if count > 0 {
                continue;
            }
            if several {
                ctx.select(0);
                ctx.report(
                    None,
                    format!(
                        "none of the merged fleet files gives `{key}`: add `{hint}` to one of them"
                    ),
                );
            } else if let Some((file, root)) = docs.first() {
                ctx.select(*file);
                ctx.report(
                    Some(root.pos),
                    format!("the required key `{key}` is missing: add it, e.g. `{hint}`"),
                );
            }
        }
    }

    let fleet = agree(ctx, "fleet", fleets, |f| format!("{f:?}")).map(|g| g.value);
    let server_url = agree(ctx, "server.url", urls, |u| format!("{u:?}")).map(|g| g.value);
    let backend =
        agree(ctx, "server.kind", kinds, |b| b.kind.to_string()).map_or(default, |g| g.value);
    let instance = agree(ctx, "server.instanceId", instances, |i| format!("{i:?}"));
    let instance = check_instance(ctx, tops, backend, instance);
    let manager = agree(ctx, "manager", managers, |m| m.to_string()).map(|g| {
        let at = ctx.location_in(g.file, g.pos);
        (g.value, at)
    });
    let prune = agree(ctx, "prune", prunes, |p| prune_name(*p).to_string());
    let prune_after = agree(ctx, "pruneAfter", prune_afters, |(text, _)| {
        format!("{text:?}")
    });
    let safety = agree(ctx, "safety", safeties, |_| {
        "a different `safety:`".to_string()
    })
    .map(|g| to_safety(&g.value))
    .unwrap_or_default();
    let unmanaged = agree(ctx, "unmanaged", unmanaged, |kinds| {
        let names: Vec<&str> = default
            .file_links()
            .filter(|(spec, _)| kinds.contains(&spec.kind))
            .map(|(_, key)| key)
            .collect();
        format!("[{}]", names.join(", "))
    })
    .map(|g| g.value)
    .unwrap_or_default();

    let supported = backend.capabilities.prune;
    if let Some(g) = &prune
        && !supported.contains(&g.value)
    {
        ctx.select(g.file);
        let modes: Vec<&str> = supported.iter().map(|p| prune_name(*p)).collect();
        ctx.report(
            Some(g.pos),
            format!(
                "`prune: {}` is not supported by {} servers: use one of {}",
                prune_name(g.value),
                backend.kind,
                modes.join(", ")
            ),
        );
    }
    let prune_value = prune
        .as_ref()
        .map(|g| g.value)
        .or_else(|| supported.first().copied())
        .unwrap_or_default();
    if let Some(g) = &prune_after
        && !backend.capabilities.attributes
    {
        ctx.select(g.file);
        ctx.report(
            Some(g.pos),
            format!(
                "`pruneAfter` is not supported by {} servers: fleetform has nowhere on them to record when it {} a user, so it could never tell how long ago that was; remove it",
                backend.kind,
                if supported.contains(&Prune::Deactivate) { "deactivated" } else { "disabled" }
            ),
        );
    } else if let Some(g) = &prune_after
        && prune_value != Prune::Disable
    {
        ctx.select(g.file);
        ctx.report(
            Some(g.pos),
            format!(
                "`pruneAfter` only works with `prune: disable` (it deletes users fleetform disabled that long ago), but prune is {}: set `prune: disable` or remove `pruneAfter`",
                prune_name(prune_value)
            ),
        );
    }
    if let Some((file, pos)) = tops.iter().find_map(|(file, root, top)| {
        top.manager.as_ref()?;
        Some((*file, value_pos(root, "manager")))
    }) && !backend.capabilities.managing_account
    {
        ctx.select(file);
        ctx.report(
            Some(pos),
            format!(
                "`manager` is not supported by {} servers: they have no managing (billing) accounts; remove it",
                backend.kind
            ),
        );
    }
    Top {
        fleet,
        manager,
        instance,
        prune: prune_value,
        prune_after: prune_after.map(|g| g.value.1),
        safety,
        unmanaged,
        server_url,
        backend,
    }
}

/// `server.instanceId` as the backend wants it: required where the backend has instances
/// (when every file was read, so a file that failed to parse cannot be the one giving it), and
/// refused at its position elsewhere.
fn check_instance(
    ctx: &mut Context,
    tops: &[(usize, &Node, FleetFile)],
    backend: &Description,
    instance: Option<Given<String>>,
) -> Option<String> {
    let with_instance: Vec<&str> = crate::backend::KINDS
        .iter()
        .copied()
        .filter(|kind| crate::backend::describe(kind).is_some_and(|b| b.capabilities.instance))
        .collect();
    match instance {
        Some(g) if !backend.capabilities.instance => {
            ctx.select(g.file);
            ctx.report(
                Some(g.pos),
                format!(
                    "`server.instanceId` is not used by {} servers (only by {}); remove it, or set \
                     `server.kind`",
                    backend.kind,
                    with_instance.join(", ")
                ),
            );
            None
        }
        Some(g) => Some(g.value),
        // Given but invalid: reported where it is given.
        None if tops
            .iter()
            .any(|(_, _, t)| t.server.as_ref().is_some_and(|s| s.instance_id.is_some())) =>
        {
            None
        }
        None if backend.capabilities.instance && tops.len() == ctx.file_count() => {
            let (file, root) = tops
                .iter()
                .find(|(_, root, _)| root.get("server").is_some())
                .or(tops.first())
                .map(|(file, root, _)| (*file, *root))?;
            ctx.select(file);
            let pos = root
                .get("server")
                .map_or(root.pos, |(_, server)| server.pos);
            ctx.report(
                Some(pos),
                format!(
                    "the required key `server.instanceId` is missing: a {} fleet is one instance \
                     (user group); add its id, e.g. `instanceId: 4d3c0f36-5e1a-4c8e-9a57-0b1c2d3e4f50`",
                    backend.kind
                ),
            );
            None
        }
        None => None,
    }
}

fn prune_name(prune: Prune) -> &'static str {
    prune.name()
}

/// `30d`, `12h`, `90m` (the pattern `PRUNE_AFTER_PATTERN`), at least one minute.
pub fn parse_duration(text: &str) -> Result<TimeDelta, &'static str> {
    const HINT: &str =
        "write a whole number followed by d (days), h (hours) or m (minutes), e.g. 30d";
    let text = text.trim();
    let Some(unit) = text.chars().last() else {
        return Err(HINT);
    };
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(HINT);
    }
    let n: i64 = digits.parse().map_err(|_| "the number is too large")?;
    let delta = match unit {
        'd' => TimeDelta::try_days(n),
        'h' => TimeDelta::try_hours(n),
        'm' => TimeDelta::try_minutes(n),
        _ => return Err(HINT),
    }
    .ok_or("the number is too large")?;
    if delta <= TimeDelta::zero() {
        return Err(
            "it must be at least 1m: a disabled user is deleted only after this grace period",
        );
    }
    Ok(delta)
}

fn check_safety(ctx: &mut Context, node: &Node, safety: &FileSafety) {
    for (key, value) in [
        ("maxRemovalPercent", safety.max_removal_percent),
        ("maxUnlinkPercent", safety.max_unlink_percent),
    ] {
        if let Some(n) = value
            && n > 100
        {
            ctx.report(
                Some(value_pos(node, key)),
                format!("`{key}` is {n}: a percentage is 0 to 100"),
            );
        }
    }
}

fn to_safety(file: &FileSafety) -> Safety {
    let default = Safety::default();
    let count =
        |n: Option<u32>, d: usize| n.map_or(d, |n| usize::try_from(n).unwrap_or(usize::MAX));
    Safety {
        max_removal_percent: file
            .max_removal_percent
            .unwrap_or(default.max_removal_percent),
        min_managed_for_percent: count(
            file.min_managed_for_percent,
            default.min_managed_for_percent,
        ),
        max_unlink_percent: file
            .max_unlink_percent
            .unwrap_or(default.max_unlink_percent),
        min_links_for_percent: count(file.min_links_for_percent, default.min_links_for_percent),
        allow_remove_all: file.allow_remove_all.unwrap_or(default.allow_remove_all),
    }
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

struct Role {
    fields: Option<BTreeMap<Field, Value>>,
}

/// A decoded role with the file it is in.
type RoleAt<'n> = (usize, String, Pos, &'n Node, Option<Decoded<FileRole>>);

/// Converts every role's fields; a role defined in two files is reported at the second, and
/// the first definition is used.
fn check_roles(ctx: &mut Context, roles: &[RoleAt<'_>]) -> BTreeMap<String, Role> {
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (file, name, name_pos, node, role) in roles {
        ctx.select(*file);
        let fields = role
            .as_ref()
            .map(|r| managed_fields(ctx, node, &r.fields, r.file.attributes.as_ref()));
        if let Some(first) = seen.get(name.as_str()) {
            ctx.report(
                Some(*name_pos),
                format!(
                    "the role `{name}` is defined twice (first at {first}): keep one definition"
                ),
            );
            continue;
        }
        seen.insert(name, ctx.location(*name_pos));
        out.insert(name.clone(), Role { fields });
    }
    out
}

/// Converts every user, across files: a user listed twice (in one file or two) is reported at
/// the second entry, naming the first.
/// Reports every user that lists a link kind the file declares `unmanaged`.
fn check_unmanaged(
    ctx: &mut Context,
    users: &[(usize, &Node, Option<Decoded<FileUser>>)],
    unmanaged: &BTreeSet<LinkKind>,
    backend: &'static Description,
) {
    for (spec, key) in backend.file_links() {
        if !unmanaged.contains(&spec.kind) {
            continue;
        }
        for (file, node, _) in users {
            if let Some((name, _)) = node.get(key) {
                ctx.select(*file);
                ctx.report(
                    Some(name.pos),
                    format!(
                        "`{key}` is listed, but `unmanaged` says this file does not manage {} links: remove the list, or take {key} out of `unmanaged`",
                        spec.kind
                    ),
                );
            }
        }
    }
}

fn check_users(
    ctx: &mut Context,
    users: &[(usize, &Node, Option<Decoded<FileUser>>)],
    roles: &BTreeMap<String, Role>,
    manager: Option<&(UserKey, String)>,
    backend: &'static Description,
) -> Option<BTreeMap<UserKey, DesiredUser>> {
    let mut out: BTreeMap<UserKey, DesiredUser> = BTreeMap::new();
    let mut seen: BTreeMap<UserKey, String> = BTreeMap::new();
    let mut complete = true;
    for (file, node, user) in users {
        ctx.select(*file);
        let Some(user) = user else {
            complete = false;
            continue;
        };
        let spec = backend.key;
        let email_pos = value_pos(node, spec.name);
        let written = user.key.as_deref().unwrap_or_default();
        let checked = if spec.email {
            check_email(written).map(|_| spec.key(written))
        } else if written.trim().is_empty() {
            Err("it is empty")
        } else {
            Ok(spec.key(written))
        };
        let key = match checked {
            Ok(key) => Some(key),
            Err(why) => {
                ctx.report(
                    Some(email_pos),
                    format!("invalid {} {written:?}: {why}", spec.name),
                );
                None
            }
        };
        if let Some(key) = &key {
            if let Some(first) = seen.get(key) {
                ctx.report(
                    Some(email_pos),
                    format!(
                        "the user {key} is listed twice (first at {first}); {}s match {}: keep one entry",
                        spec.name,
                        if spec.fold_case { "case-insensitively" } else { "exactly" }
                    ),
                );
            } else {
                seen.insert(key.clone(), ctx.location(email_pos));
            }
            if let Some((manager, manager_at)) = manager
                && manager == key
            {
                ctx.report(
                    Some(email_pos),
                    format!(
                        "{key} is the manager account (at {manager_at}), which fleetform never changes: remove it from `users`"
                    ),
                );
            }
        }

        let mut fields = BTreeMap::new();
        if let Some(role_name) = &user.file.role {
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
        fields.extend(managed_fields(
            ctx,
            node,
            &user.fields,
            user.file.attributes.as_ref(),
        ));

        let mut user_links = Links::new();
        for (spec, key) in backend.file_links() {
            let list = user.lists.get(key).map(Vec::as_slice);
            let set = links(ctx, node, key, spec.kind.name(), list);
            // A given-only list is managed when given, even empty (`[]`: no links).
            if !set.is_empty() || (spec.given_only && list.is_some()) {
                user_links.insert(spec.kind, set);
            }
        }

        if let Some(key) = key {
            out.entry(key).or_insert(DesiredUser {
                email: written.trim().to_string(),
                fields,
                links: user_links,
                origin: Some(ctx.location(node.pos)),
            });
        }
    }
    complete.then_some(out)
}

/// A user's device or group links as a set, reporting empty and repeated entries.
fn links(
    ctx: &mut Context,
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
