//! diff: pure. Compares the desired fleet with the live server and returns the actions that move
//! live towards desired, in no particular order (`plan` orders them and checks them against what
//! the acting account may do). It must not do I/O, must not order or refuse actions, and must
//! never produce an action that changes nothing. The objects of the file's sections (devices,
//! groups) are diffed by `core::objects`, whose actions `diff` returns with the users'.
//!
//! Design:
//! - Scope. An action is only ever about (a) a user named in the file or (b) a live user carrying
//!   this fleet's marker (pruning). Administrators, the acting account and the manager are
//!   dropped from both sides before comparing ("never touched"), and so are users in the file
//!   that another fleet's marker claims: `plan` reports those as problems, but `diff` on its own
//!   is already safe.
//! - Users are matched by `UserKey` (lower-cased email). Creates use the email as the file spells
//!   it; every other action uses the email as the server spells it, because that is what the
//!   backend will find.
//! - Fields: only the fields the file names are compared ("`None` means not managed"). Equality
//!   is `same_value`: an empty name or phone equals null (Traccar returns null for ""), and a null
//!   attribute means "key absent", so it differs only when the live user has the key.
//! - Links are full sets: desired - live is linked, live - desired is unlinked.
//! - Pruning touches only marked users that left the file; a disabled or kept user keeps its
//!   links (re-adding it to the file later restores it as it was), a deleted one loses them with
//!   the user, so no unlink is planned for either. A user fleetform disabled (it carries
//!   `DISABLED_AT_ATTRIBUTE`) that is back in the file is enabled again (`disabled: true ->
//!   false`), unless the file manages `disabled` itself; one disabled by someone else is not.
//! - `prune: disable` with `pruneAfter` (`Desired::prune_after`): a marked user that left the
//!   file and is not disabled is disabled; one that is disabled and whose
//!   `DISABLED_AT_ATTRIBUTE` (written by the backend when it disables) is at least
//!   `prune_after` before `Live::now` is deleted; any other (disabled by someone else, or not
//!   long enough) is left alone. `now` comes with the live state, so the diff stays pure. The
//!   attribute is never compared: the file may not name it (config reserves it).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

pub use crate::core::model::same_value;
use crate::core::model::{
    Action, DISABLED_AT_ATTRIBUTE, Desired, DesiredUser, Field, FieldChange, LinkKind, Live,
    LiveUser, Prune, UserKey, Value, linked,
};

/// The actions that move `live` to `desired`, in no particular order. Never contains a no-op.
pub fn diff(desired: &Desired, live: &Live) -> Vec<Action> {
    let untouchable = untouchable(desired, live);
    let owner = desired.backend.rules.owner(desired, live);
    let mut actions = Vec::new();

    for (key, want) in &desired.users {
        if untouchable.contains(key) {
            continue;
        }
        match live.users.get(key) {
            None => create(desired, want, owner.clone(), &mut actions),
            Some(have) => {
                if have
                    .marker
                    .as_deref()
                    .is_some_and(|fleet| fleet != desired.fleet)
                {
                    continue;
                }
                update(
                    desired,
                    want,
                    have,
                    owner.as_deref(),
                    desired.backend.disable_field(),
                    &mut actions,
                );
            }
        }
    }

    for (key, have) in &live.users {
        if untouchable.contains(key)
            || desired.users.contains_key(key)
            || have.marker.as_deref() != Some(desired.fleet.as_str())
        {
            continue;
        }
        match desired.prune {
            Prune::Delete => actions.push(Action::DeleteUser {
                email: have.email.clone(),
            }),
            Prune::Disable | Prune::Deactivate => {
                let disabled = desired.backend.disable_field();
                let is_disabled = |f: &Field| {
                    have.fields
                        .get(f)
                        .is_some_and(|v| desired.backend.is_disabled_value(f, v))
                };
                if disabled.is_some_and(|f| !is_disabled(&f)) {
                    actions.push(Action::DisableUser {
                        email: have.email.clone(),
                    });
                } else if let Some(grace) = desired.prune_after
                    && disabled_at(have).is_some_and(|at| at + grace <= live.now)
                {
                    actions.push(Action::DeleteUser {
                        email: have.email.clone(),
                    });
                }
            }
            Prune::Keep => {}
        }
    }

    // The objects the file's sections manage (devices, groups): `core::objects`.
    actions.extend(crate::core::objects::diff(desired, live));
    actions
}

/// When fleetform disabled this user (`DISABLED_AT_ATTRIBUTE`), if it recorded it and the value
/// is a valid RFC 3339 time. A missing or malformed value never leads to a delete.
pub fn disabled_at(user: &LiveUser) -> Option<DateTime<Utc>> {
    match user
        .fields
        .get(&Field::Attribute(DISABLED_AT_ATTRIBUTE.to_string()))?
    {
        Value::Time(t) => Some(*t),
        Value::Text(text) => DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

/// The users fleetform never touches: those the backend marks untouchable (Traccar's
/// administrators), the acting account and the managing account.
pub fn untouchable(desired: &Desired, live: &Live) -> BTreeSet<UserKey> {
    let mut keys: BTreeSet<UserKey> = live
        .users
        .iter()
        .filter(|(_, user)| user.untouchable.is_some())
        .map(|(key, _)| key.clone())
        .collect();
    keys.insert(desired.backend.key.key(&live.account.email));
    if let Some(manager) = &desired.manager {
        keys.insert(manager.clone());
    }
    keys
}

fn create(
    desired: &Desired,
    want: &DesiredUser,
    managed_by: Option<String>,
    actions: &mut Vec<Action>,
) {
    // A null attribute means "absent", which a new user already is.
    let fields = want
        .fields
        .iter()
        .filter(|(field, value)| !(matches!(field, Field::Attribute(_)) && **value == Value::Null))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    actions.push(Action::CreateUser {
        email: want.email.clone(),
        fields,
        managed_by,
    });
    for (spec, _) in desired
        .backend
        .file_links()
        .filter(|(s, _)| !desired.unmanaged.contains(&s.kind))
        .filter(|(s, _)| crate::core::model::Description::manages_links(s, &want.links))
    {
        links(
            &want.email,
            linked(&want.links, spec.kind),
            &BTreeSet::new(),
            spec.kind,
            actions,
        );
    }
}

fn update(
    desired: &Desired,
    want: &DesiredUser,
    have: &LiveUser,
    manager: Option<&str>,
    disable_field: Option<Field>,
    actions: &mut Vec<Action>,
) {
    let mut changes: Vec<FieldChange> = want
        .fields
        .iter()
        // A write-only field is set on create only: the server never shows it to compare.
        .filter(|(field, _)| !field.spec().is_some_and(|spec| spec.write_only))
        .filter(|(field, value)| !same_value(field, value, have.fields.get(*field)))
        .map(|(field, value)| FieldChange {
            field: field.clone(),
            before: have.fields.get(field).cloned().unwrap_or(Value::Null),
            after: value.clone(),
        })
        .collect();
    // What fleetform disabled (`prune: disable`), fleetform enables when the user is back in
    // the file, unless the file itself manages the flag.
    if let Some(field) = disable_field
        && !want.fields.contains_key(&field)
        && have
            .fields
            .get(&field)
            .is_some_and(|v| desired.backend.is_disabled_value(&field, v))
        && disabled_at(have).is_some()
    {
        let (before, after) = crate::core::model::Description::disabled_and_enabled(&field);
        changes.push(FieldChange {
            field,
            before,
            after,
        });
        changes.sort_by(|a, b| a.field.cmp(&b.field));
    }
    let adopt = have.marker.is_none();
    if !changes.is_empty() || adopt {
        actions.push(Action::UpdateUser {
            email: have.email.clone(),
            changes,
            adopt,
        });
    }
    // A user adopted, or created by a run that stopped before linking it to the manager,
    // joins the billing account like the users fleetform creates there.
    if let Some(manager) = manager
        && let Some(kind) = desired.backend.owner_link()
        && !have.managed_by.contains(&desired.key(manager))
    {
        actions.push(Action::Link {
            email: have.email.clone(),
            kind,
            target: manager.to_string(),
        });
    }
    for (spec, _) in desired
        .backend
        .file_links()
        .filter(|(s, _)| !desired.unmanaged.contains(&s.kind))
        .filter(|(s, _)| crate::core::model::Description::manages_links(s, &want.links))
    {
        links(
            &have.email,
            linked(&want.links, spec.kind),
            linked(&have.links, spec.kind),
            spec.kind,
            actions,
        );
    }
}

/// Links `want - have` and unlinks `have - want`.
fn links(
    email: &str,
    want: &BTreeSet<String>,
    have: &BTreeSet<String>,
    kind: LinkKind,
    actions: &mut Vec<Action>,
) {
    for target in want.difference(have) {
        actions.push(Action::Link {
            email: email.to_string(),
            kind,
            target: target.clone(),
        });
    }
    for target in have.difference(want) {
        actions.push(Action::Unlink {
            email: email.to_string(),
            kind,
            target: target.clone(),
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Table-driven tests (peribolos style): each case is a desired and a live state built with
    //! the small helpers below, and the exact set of expected actions.

    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, Links, TRACCAR, linked, tf};
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::core::model::{Account, Desired, DesiredUser, Live, LiveUser};

    pub(crate) const FLEET: &str = "acme-bikes";
    pub(crate) const ME: &str = "Admin@Acme.example";
    pub(crate) const BOSS: &str = "fleet@acme.example";

    pub(crate) fn account(role: &str) -> Account {
        Account {
            backend: "traccar".into(),
            url: "https://traccar.acme.example".into(),
            server_version: "6.14.5".into(),
            email: ME.into(),
            role: role.into(),
        }
    }

    pub(crate) fn want(email: &str) -> DesiredUser {
        DesiredUser {
            email: email.into(),
            fields: BTreeMap::new(),
            links: Default::default(),
            origin: None,
        }
    }

    pub(crate) fn have(email: &str, marker: Option<&str>) -> LiveUser {
        LiveUser {
            email: email.into(),
            untouchable: None,
            marker: marker.map(str::to_string),
            fields: BTreeMap::new(),
            links: Default::default(),
            managed_by: BTreeSet::new(),
        }
    }

    pub(crate) fn with_field(mut user: DesiredUser, field: Field, value: Value) -> DesiredUser {
        user.fields.insert(field, value);
        user
    }

    pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    pub(crate) fn desired(users: Vec<DesiredUser>) -> Desired {
        Desired {
            backend: TRACCAR,
            fleet: FLEET.into(),
            manager: None,
            prune: Prune::Delete,
            prune_after: None,
            safety: Default::default(),
            unmanaged: Default::default(),
            users: users
                .into_iter()
                .map(|u| (UserKey::new(&u.email), u))
                .collect(),
            objects: Default::default(),
            field_origins: Default::default(),
        }
    }

    /// A live server with the acting admin, devices D1..D3 and groups G1, G2 (and an ambiguous
    /// group "Twice").
    pub(crate) fn live(role: &str, users: Vec<LiveUser>) -> Live {
        let mut me = have(ME, None);
        me.untouchable = (role == "admin").then(|| crate::testing::ADMINISTRATOR.to_string());
        let mut all: BTreeMap<UserKey, LiveUser> = users
            .into_iter()
            .map(|u| (UserKey::new(&u.email), u))
            .collect();
        all.insert(UserKey::new(ME), me);
        Live {
            account: account(role),
            users: all,
            targets: Links::from([
                (DEVICE, set(&["D1", "D2", "D3"])),
                (GROUP, set(&["G1", "G2"])),
            ]),
            ambiguous: Links::from([(GROUP, set(&["Twice"]))]),
            owner_targets: Links::new(),
            now: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 1, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            objects: Default::default(),
            unnamed: Default::default(),
            choices: Default::default(),
        }
    }

    pub(crate) fn link(email: &str, kind: LinkKind, target: &str) -> Action {
        Action::Link {
            email: email.into(),
            kind,
            target: target.into(),
        }
    }

    pub(crate) fn unlink(email: &str, kind: LinkKind, target: &str) -> Action {
        Action::Unlink {
            email: email.into(),
            kind,
            target: target.into(),
        }
    }

    fn change(field: Field, before: Value, after: Value) -> FieldChange {
        FieldChange {
            field,
            before,
            after,
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    struct Case {
        name: &'static str,
        desired: Desired,
        live: Live,
        want: Vec<Action>,
    }

    fn sorted(mut actions: Vec<Action>) -> Vec<Action> {
        actions.sort_by_key(|a| format!("{a:?}"));
        actions
    }

    fn cases() -> Vec<Case> {
        let mut linked = have("b@x.test", Some(FLEET));
        linked.links.insert(DEVICE, set(&["D1", "D2"]));
        linked.links.insert(GROUP, set(&["G1"]));
        let mut linked_want = want("b@x.test");
        linked_want.links.insert(DEVICE, set(&["D2", "D3"]));
        linked_want.links.insert(GROUP, set(&["G2"]));

        let mut admin = have("root@x.test", Some(FLEET));
        admin.untouchable = (true).then(|| crate::testing::ADMINISTRATOR.to_string());
        let mut disabled = have("gone@x.test", Some(FLEET));
        disabled.fields.insert(tf("disabled"), Value::Bool(true));
        let mut attrs = have("c@x.test", Some(FLEET));
        attrs
            .fields
            .insert(Field::Attribute("kept".into()), Value::Int(1));
        attrs
            .fields
            .insert(Field::Attribute("gone".into()), Value::Int(2));
        attrs.fields.insert(tf("phone"), Value::Null);
        let mut prune_linked = have("old@x.test", Some(FLEET));
        prune_linked.links.insert(DEVICE, set(&["D1"]));

        let mut with_manager = desired(vec![with_field(
            want("New@X.test"),
            tf("name"),
            text("New"),
        )]);
        with_manager.manager = Some(UserKey::new(BOSS));

        let mut prune_disable = desired(vec![]);
        prune_disable.prune = Prune::Disable;
        let mut prune_after = prune_disable.clone();
        prune_after.prune_after = Some(chrono::TimeDelta::days(30));
        let disabled_since = |email: &str, at: &str| {
            let mut u = have(email, Some(FLEET));
            u.fields.insert(tf("disabled"), Value::Bool(true));
            u.fields.insert(
                Field::Attribute(DISABLED_AT_ATTRIBUTE.into()),
                Value::Text(at.into()),
            );
            u
        };
        // `live()` reads the server at 2026-11-01T12:00:00Z.
        let grace_users = vec![
            disabled_since("long@x.test", "2026-09-01T00:00:00Z"),
            disabled_since("exactly@x.test", "2026-10-02T12:00:00Z"),
            disabled_since("recent@x.test", "2026-10-20T00:00:00Z"),
            disabled_since("garbled@x.test", "last tuesday"),
            disabled.clone(),
            {
                let mut u = disabled_since("enabled@x.test", "2026-01-01T00:00:00Z");
                u.fields.insert(tf("disabled"), Value::Bool(false));
                u
            },
            have("active@x.test", Some(FLEET)),
            disabled_since("stranger@x.test", "2026-01-01T00:00:00Z"),
        ];
        let mut grace_live = live("admin", grace_users);
        if let Some(u) = grace_live.users.get_mut(&UserKey::new("stranger@x.test")) {
            u.marker = None;
        }
        let mut prune_keep = desired(vec![]);
        prune_keep.prune = Prune::Keep;

        vec![
            Case {
                name: "empty desired, empty live: nothing",
                desired: desired(vec![]),
                live: live("admin", vec![]),
                want: vec![],
            },
            Case {
                name: "create with fields and links, no manager",
                desired: desired(vec![{
                    let mut u = with_field(want("Max@X.test"), tf("name"), text("Max"));
                    u.fields
                        .insert(Field::Attribute("absent".into()), Value::Null);
                    u.links.insert(DEVICE, set(&["D1"]));
                    u.links.insert(GROUP, set(&["G1"]));
                    u
                }]),
                live: live("admin", vec![]),
                want: vec![
                    Action::CreateUser {
                        email: "Max@X.test".into(),
                        fields: [(tf("name"), text("Max"))].into_iter().collect(),
                        managed_by: None,
                    },
                    link("Max@X.test", DEVICE, "D1"),
                    link("Max@X.test", GROUP, "G1"),
                ],
            },
            Case {
                name: "admin create with manager: managed_by as the server spells it",
                desired: with_manager.clone(),
                live: live("admin", vec![have("Fleet@Acme.example", None)]),
                want: vec![Action::CreateUser {
                    email: "New@X.test".into(),
                    fields: [(tf("name"), text("New"))].into_iter().collect(),
                    managed_by: Some("Fleet@Acme.example".into()),
                }],
            },
            Case {
                name: "admin create with a missing manager: managed_by is the file's key",
                desired: with_manager.clone(),
                live: live("admin", vec![]),
                want: vec![Action::CreateUser {
                    email: "New@X.test".into(),
                    fields: [(tf("name"), text("New"))].into_iter().collect(),
                    managed_by: Some(BOSS.into()),
                }],
            },
            Case {
                name: "manager-run create: no managed_by (the server links the creator)",
                desired: with_manager,
                live: live("manager", vec![]),
                want: vec![Action::CreateUser {
                    email: "New@X.test".into(),
                    fields: [(tf("name"), text("New"))].into_iter().collect(),
                    managed_by: None,
                }],
            },
            Case {
                name: "adopt an unmarked user with no field changes",
                desired: desired(vec![want("a@x.test")]),
                live: live("admin", vec![have("A@x.test", None)]),
                want: vec![Action::UpdateUser {
                    email: "A@x.test".into(),
                    changes: vec![],
                    adopt: true,
                }],
            },
            Case {
                name: "marked user in sync: no update (no-op free)",
                desired: desired(vec![with_field(want("a@x.test"), tf("name"), text("A"))]),
                live: live(
                    "admin",
                    vec![{
                        let mut u = have("a@x.test", Some(FLEET));
                        u.fields.insert(tf("name"), text("A"));
                        u.fields.insert(tf("phone"), text("+43"));
                        u
                    }],
                ),
                want: vec![],
            },
            Case {
                name: "update only the changed fields; before is null when absent",
                desired: desired(vec![{
                    let mut u = with_field(want("a@x.test"), tf("name"), text("New"));
                    u.fields.insert(tf("readonly"), Value::Bool(true));
                    u.fields.insert(tf("deviceLimit"), Value::Int(5));
                    u
                }]),
                live: live(
                    "admin",
                    vec![{
                        let mut u = have("a@x.test", Some(FLEET));
                        u.fields.insert(tf("name"), text("Old"));
                        u.fields.insert(tf("deviceLimit"), Value::Int(5));
                        u
                    }],
                ),
                want: vec![Action::UpdateUser {
                    email: "a@x.test".into(),
                    changes: vec![
                        change(tf("name"), text("Old"), text("New")),
                        change(tf("readonly"), Value::Null, Value::Bool(true)),
                    ],
                    adopt: false,
                }],
            },
            Case {
                name: "empty phone and name equal null",
                desired: desired(vec![{
                    let mut u = with_field(want("c@x.test"), tf("phone"), text(""));
                    u.fields.insert(tf("name"), Value::Null);
                    u
                }]),
                live: live(
                    "admin",
                    vec![{
                        let mut u = attrs.clone();
                        u.fields.insert(tf("name"), text(""));
                        u
                    }],
                ),
                want: vec![],
            },
            Case {
                name: "null attribute removes a present key only",
                desired: desired(vec![{
                    let mut u = with_field(
                        want("c@x.test"),
                        Field::Attribute("gone".into()),
                        Value::Null,
                    );
                    u.fields
                        .insert(Field::Attribute("never".into()), Value::Null);
                    u
                }]),
                live: live("admin", vec![attrs]),
                want: vec![Action::UpdateUser {
                    email: "c@x.test".into(),
                    changes: vec![change(
                        Field::Attribute("gone".into()),
                        Value::Int(2),
                        Value::Null,
                    )],
                    adopt: false,
                }],
            },
            Case {
                name: "links: desired - live linked, live - desired unlinked",
                desired: desired(vec![linked_want]),
                live: live("admin", vec![linked]),
                want: vec![
                    unlink("b@x.test", DEVICE, "D1"),
                    link("b@x.test", DEVICE, "D3"),
                    unlink("b@x.test", GROUP, "G1"),
                    link("b@x.test", GROUP, "G2"),
                ],
            },
            Case {
                name: "prune delete: marked user that left the file, no unlinks",
                desired: desired(vec![]),
                live: live("admin", vec![prune_linked.clone()]),
                want: vec![Action::DeleteUser {
                    email: "old@x.test".into(),
                }],
            },
            Case {
                name: "prune disable: disable unless already disabled, links kept",
                desired: prune_disable.clone(),
                live: live("admin", vec![prune_linked.clone(), disabled.clone()]),
                want: vec![Action::DisableUser {
                    email: "old@x.test".into(),
                }],
            },
            Case {
                name: "pruneAfter: delete only users fleetform disabled long enough ago",
                desired: prune_after.clone(),
                live: grace_live.clone(),
                want: vec![
                    Action::DeleteUser {
                        email: "long@x.test".into(),
                    },
                    Action::DeleteUser {
                        email: "exactly@x.test".into(),
                    },
                    Action::DisableUser {
                        email: "enabled@x.test".into(),
                    },
                    Action::DisableUser {
                        email: "active@x.test".into(),
                    },
                ],
            },
            Case {
                name: "prune disable without pruneAfter never deletes",
                desired: prune_disable.clone(),
                live: grace_live,
                want: vec![
                    Action::DisableUser {
                        email: "enabled@x.test".into(),
                    },
                    Action::DisableUser {
                        email: "active@x.test".into(),
                    },
                ],
            },
            Case {
                name: "a user fleetform disabled is enabled when back in the file; others not",
                desired: desired(vec![
                    want("back@x.test"),
                    want("theirs@x.test"),
                    with_field(want("kept@x.test"), tf("disabled"), Value::Bool(true)),
                ]),
                live: live("admin", {
                    let stamp = Field::Attribute(DISABLED_AT_ATTRIBUTE.into());
                    let mut back = have("back@x.test", Some(FLEET));
                    back.fields.insert(tf("disabled"), Value::Bool(true));
                    back.fields
                        .insert(stamp.clone(), Value::Text("2026-01-01T00:00:00Z".into()));
                    let mut kept = back.clone();
                    kept.email = "kept@x.test".into();
                    // Disabled by someone else: no stamp, left as it is.
                    let mut theirs = have("theirs@x.test", Some(FLEET));
                    theirs.fields.insert(tf("disabled"), Value::Bool(true));
                    vec![back, kept, theirs]
                }),
                want: vec![Action::UpdateUser {
                    email: "back@x.test".into(),
                    changes: vec![FieldChange {
                        field: tf("disabled"),
                        before: Value::Bool(true),
                        after: Value::Bool(false),
                    }],
                    adopt: false,
                }],
            },
            Case {
                name: "prune keep: nothing at all",
                desired: prune_keep,
                live: live("admin", vec![prune_linked, disabled]),
                want: vec![],
            },
            Case {
                name: "never touched: admins, the acting account, the manager, strangers",
                desired: {
                    let mut d = desired(vec![
                        with_field(want("root@x.test"), tf("name"), text("R")),
                        with_field(want("admin@acme.example"), tf("name"), text("Me")),
                        with_field(want(BOSS), tf("name"), text("Boss")),
                        with_field(want("theirs@x.test"), tf("name"), text("T")),
                    ]);
                    d.manager = Some(UserKey::new(BOSS));
                    d
                },
                live: live(
                    "admin",
                    vec![
                        admin,
                        {
                            let mut u = have(BOSS, Some(FLEET));
                            u.links.insert(DEVICE, set(&["D1"]));
                            u
                        },
                        have("theirs@x.test", Some("other-fleet")),
                        have("stranger@x.test", None),
                        have("neighbour@x.test", Some("other-fleet")),
                    ],
                ),
                want: vec![],
            },
        ]
    }

    #[test]
    fn diff_table() {
        for case in cases() {
            let got = diff(&case.desired, &case.live);
            assert_eq!(sorted(got), sorted(case.want), "case: {}", case.name);
        }
    }

    #[test]
    fn same_value_table() {
        let attr = Field::Attribute("k".into());
        let table: Vec<(&str, Field, Value, Option<Value>, bool)> = vec![
            (
                "empty phone = null",
                tf("phone"),
                text(""),
                Some(Value::Null),
                true,
            ),
            ("empty phone = absent", tf("phone"), text(""), None, true),
            (
                "null name = empty",
                tf("name"),
                Value::Null,
                Some(text("")),
                true,
            ),
            (
                "name differs",
                tf("name"),
                text("a"),
                Some(text("b")),
                false,
            ),
            ("attr null = absent", attr.clone(), Value::Null, None, true),
            (
                "attr null vs key",
                attr.clone(),
                Value::Null,
                Some(Value::Null),
                false,
            ),
            (
                "attr value vs absent",
                attr.clone(),
                Value::Int(1),
                None,
                false,
            ),
            ("attr equal", attr, Value::Int(1), Some(Value::Int(1)), true),
            (
                "bool vs absent",
                tf("readonly"),
                Value::Bool(false),
                None,
                false,
            ),
            (
                "null expiry = absent",
                tf("expirationTime"),
                Value::Null,
                None,
                true,
            ),
            (
                "empty text is not null elsewhere",
                Field::Attribute("t".into()),
                text(""),
                None,
                false,
            ),
        ];
        for (name, field, want, have, same) in table {
            assert_eq!(
                same_value(&field, &want, have.as_ref()),
                same,
                "case: {name}"
            );
        }
    }
}
