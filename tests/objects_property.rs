//! Property test of the object sections (`groups:`, `devices:`, `geofences:`) and the users'
//! links to them, against the sandbox (5.12, 6.9 and 6.14 modes), as the administrator acting
//! for the billing account (`manager:`) or as the billing account itself. For random live states
//! (nested groups, devices in them, geofences; each object absent, unmarked, this fleet's or
//! another fleet's) and random files (a random subset of each section, random parents, groups,
//! names, areas and attributes; new riders linked to random devices, groups and geofences),
//! with `prune: delete` or `keep`:
//!
//! - the plan is not refused (the generator names no object the rules forbid: another
//!   fleet's objects are never in the file, references point at objects that stay);
//! - no planned action is a no-op, one apply succeeds with no request refused by the sandbox;
//! - afterwards (`crate::property::after`) every object the file lists holds the file's fields
//!   and this fleet's marker, this fleet's objects that left the file are deleted where the
//!   kind may be and `prune: delete` says so (never a device), every other object is exactly
//!   as it was, the riders hold exactly the file's links, and the re-plan is empty;
//! - objects the acting account cannot see (an administrator's group and geofence outside the
//!   billing account) are untouched, and the billing account sees every object of the file;
//! - at no point between the apply's requests does a rider see a device that neither the state
//!   before nor the file grants it (a device moved out of a group must not be visible to the
//!   group's new rider first).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::{self, DEMO_ADMIN, DEMO_MANAGER};
use fleetform::config;
use proptest::prelude::*;
use proptest::sample::select;
use reqwest::Method;
use serde_json::{Value as Json, json};
use traccar_sandbox::{Sandbox, SandboxConfig, TraccarVersion};

use crate::convergence::{Watched, apply_watched, effective};
use crate::e2e::password;

const FLEET: &str = "prop";

/// The groups a file may name: the two the demo seeds (unmarked, the billing account's), then
/// three the case may build. A group's parent is always an earlier one, so no state and no
/// file has a cycle.
const GROUPS: [&str; 5] = ["Vienna", "Graz", "N1", "N2", "N3"];
/// The devices a file may name: three the demo seeds, two the case may build.
const DEVICES: [&str; 5] = ["BT-000101", "BT-000102", "BT-000107", "NEW-1", "NEW-2"];
/// Index of the first device the case may build.
const FIRST_NEW_DEVICE: usize = 3;
const GEOFENCES: [&str; 3] = ["Z1", "Z2", "Z3"];
const RIDERS: [&str; 2] = ["rider1@fleet.test", "rider2@fleet.test"];

/// The later kinds the case may hold two objects of each (their keys), with how the API
/// creates one by hand and how the file writes an entry: drivers, maintenance, saved commands
/// and notifications. Calendars need a file beside the fleet file and are left to
/// `tests/kinds.rs`; a notification's saved command (whose delete deletes the notification)
/// to the cascade property in `backend/traccar/rules.rs`.
struct Later {
    section: &'static str,
    path: &'static str,
    /// The JSON key of the key.
    key: &'static str,
    names: [&'static str; 2],
    /// The rest of the body of one made by hand.
    by_hand: fn(&str) -> Json,
    /// The entry's fields in the file, from a drawn text.
    entry: fn(&str, &str) -> String,
}

const LATER: [Later; 4] = [
    Later {
        section: "drivers",
        path: "/api/drivers",
        key: "name",
        names: ["drv-a", "drv-b"],
        by_hand: |name| json!({"uniqueId": format!("L-{name}")}),
        entry: |name, text| format!("uniqueId: U-{name}-{text}"),
    },
    Later {
        section: "maintenance",
        path: "/api/maintenance",
        key: "name",
        names: ["service-a", "service-b"],
        by_hand: |_| json!({"type": "odometer", "start": 0, "period": 1000}),
        entry: |_, text| format!("type: odometer, start: 0, period: {}", 1000 * text.len()),
    },
    Later {
        section: "commands",
        path: "/api/commands",
        key: "description",
        names: ["stop-a", "stop-b"],
        by_hand: |_| json!({"type": "engineStop", "textChannel": false}),
        entry: |_, text| {
            let ty = if text.len() % 2 == 0 {
                "engineStop"
            } else {
                "engineResume"
            };
            format!("type: {ty}")
        },
    },
    Later {
        section: "notifications",
        path: "/api/notifications",
        key: "description",
        names: ["alarm-a", "alarm-b"],
        by_hand: |_| {
            json!({"type": "alarm", "always": false, "notificators": "web",
            "attributes": {"alarms": "sos"}})
        },
        entry: |_, text| {
            let alarms = if text.len() % 2 == 0 {
                "[sos]"
            } else {
                "[movement, sos]"
            };
            format!("type: alarm, alarms: {alarms}, notificators: [web]")
        },
    },
];

/// One later kind in a case: who holds its two objects before the apply, the entries the file
/// gives (index and drawn text; `None`: no section), and each rider's list (`None`: none).
#[derive(Clone, Debug)]
struct LaterCase {
    live: Vec<Owner>,
    file: Option<Vec<(usize, String)>>,
    riders: Vec<Option<Vec<usize>>>,
}

fn later_case() -> impl Strategy<Value = LaterCase> {
    (
        proptest::collection::vec(owner(), 2),
        proptest::option::weighted(
            0.7,
            proptest::collection::vec((0usize..2, "[a-z]{1,4}"), 0..3),
        ),
        proptest::collection::vec(
            proptest::option::weighted(0.6, proptest::collection::vec(0usize..2, 0..3)),
            2,
        ),
    )
        .prop_map(|(live, file, riders)| LaterCase { live, file, riders })
}

impl LaterCase {
    /// The entries the file gives, never another fleet's object.
    fn entries(&self) -> Option<BTreeMap<usize, String>> {
        self.file.as_ref().map(|entries| {
            let mut out = BTreeMap::new();
            for (i, text) in entries {
                if self.live[*i] != Owner::Other {
                    out.entry(*i).or_insert_with(|| text.clone());
                }
            }
            out
        })
    }
}

/// Who holds an object the case builds before the apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Absent,
    Unmarked,
    Ours,
    /// Another fleet's marker: never in the file, never touched.
    Other,
}

fn owner() -> impl Strategy<Value = Owner> {
    select(vec![
        Owner::Absent,
        Owner::Unmarked,
        Owner::Ours,
        Owner::Other,
    ])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The administrator with `manager:` in the file.
    AdminForManager,
    /// The billing account's own credential.
    Manager,
}

/// One entry of a section the file may give: which object, and the fields it manages.
#[derive(Clone, Debug)]
struct Entry {
    index: usize,
    /// A parent (groups) or a group (devices), by index into `GROUPS`; `None`: not managed;
    /// `usize::MAX`: none (`null`). For geofences, `Some` says the entry gives an area.
    reference: Option<usize>,
    /// A name (devices), a description (geofences) or an attribute value (groups).
    text: Option<String>,
    /// A geofence's radius.
    radius: u32,
    /// Groups and devices: the geofences linked to it (indices into `GEOFENCES`, filtered to
    /// the file's geofences); `None`: the list is not given.
    zones: Option<Vec<usize>>,
}

/// A rider's device, group and geofence picks (indices; `None`: no `geofences:` list).
type RiderPicks = (Vec<usize>, Vec<usize>, Option<Vec<usize>>);

#[derive(Clone, Debug)]
struct Case {
    version: TraccarVersion,
    mode: Mode,
    prune_delete: bool,
    /// N1..N3 before the apply: owner and parent (an index below its own).
    live_groups: Vec<(Owner, usize)>,
    /// NEW-1, NEW-2 before the apply: owner and group.
    live_devices: Vec<(Owner, usize)>,
    live_geofences: Vec<Owner>,
    /// Each device's group moves (in the live state) for BT-000101..: None stays.
    groups: Option<Vec<Entry>>,
    devices: Option<Vec<Entry>>,
    geofences: Option<Vec<Entry>>,
    /// Per rider: device, group and geofence picks (indices; filtered to what the file allows).
    riders: Vec<RiderPicks>,
    /// The later kinds, in `LATER`'s order.
    later: Vec<LaterCase>,
    /// Per rider, whether it exists before the apply (this fleet's, managed by the billing
    /// account) and its direct device and group links then (indices; only objects that exist).
    live_riders: Vec<Option<(Vec<usize>, Vec<usize>)>>,
}

fn entry(max: usize, refs: usize) -> impl Strategy<Value = Entry> {
    (
        0..max,
        prop_oneof![Just(None), Just(Some(usize::MAX)), (0..refs).prop_map(Some)],
        prop_oneof![Just(None), "[a-z]{1,6}".prop_map(Some)],
        50u32..500,
        proptest::option::weighted(0.5, proptest::collection::vec(0usize..3, 0..3)),
    )
        .prop_map(|(index, reference, text, radius, zones)| Entry {
            index,
            reference,
            text,
            radius,
            zones,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec![
            TraccarVersion::V6_14,
            TraccarVersion::V6_9,
            TraccarVersion::V5_12,
        ]),
        select(vec![Mode::AdminForManager, Mode::Manager]),
        any::<bool>(),
        proptest::collection::vec((owner(), 0usize..5), 3),
        proptest::collection::vec((owner(), 0usize..5), 2),
        proptest::collection::vec(owner(), 3),
        proptest::option::weighted(0.8, proptest::collection::vec(entry(5, 5), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(entry(5, 5), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(entry(3, 1), 0..4)),
        proptest::collection::vec(
            (
                proptest::collection::vec(0usize..5, 0..3),
                proptest::collection::vec(0usize..5, 0..3),
                proptest::option::weighted(0.7, proptest::collection::vec(0usize..3, 0..3)),
            ),
            2,
        ),
        proptest::collection::vec(
            proptest::option::weighted(
                0.6,
                (
                    proptest::collection::vec(0usize..5, 0..3),
                    proptest::collection::vec(0usize..5, 0..3),
                ),
            ),
            2,
        ),
        proptest::collection::vec(later_case(), LATER.len()),
    )
        .prop_map(
            |(
                version,
                mode,
                prune_delete,
                live_groups,
                live_devices,
                live_geofences,
                groups,
                devices,
                geofences,
                riders,
                live_riders,
                later,
            )| Case {
                version,
                mode,
                prune_delete,
                live_groups,
                live_devices,
                live_geofences,
                groups,
                devices,
                geofences,
                riders,
                live_riders,
                later,
            },
        )
}

impl Case {
    /// The later kinds this case's server has: 5.12's notifications have no description to
    /// name them by (a plan with them is refused: `tests/kinds.rs`).
    fn later_kinds(&self) -> impl Iterator<Item = (&'static Later, &LaterCase)> {
        let version = self.version;
        LATER.iter().zip(&self.later).filter(move |(kind, _)| {
            !(kind.section == "notifications" && version == TraccarVersion::V5_12)
        })
    }

    /// A group's or device's `geofences:` list, when the entry gives one: only geofences the
    /// file lists (the others may be deleted, or be invisible to the billing account).
    fn zones(&self, e: &Entry) -> Option<String> {
        let zones = e.zones.as_ref()?;
        let file = self.file_geofences()?;
        let listed: BTreeSet<&str> = zones
            .iter()
            .filter(|z| file.contains_key(*z))
            .map(|&z| GEOFENCES[z])
            .collect();
        Some(format!(
            "geofences: [{}]",
            listed.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }

    /// The owner of group `i` before the apply (the seeded ones are unmarked).
    fn group_owner(&self, i: usize) -> Owner {
        if i < 2 {
            Owner::Unmarked
        } else {
            self.live_groups[i - 2].0
        }
    }

    fn device_owner(&self, i: usize) -> Owner {
        if i < FIRST_NEW_DEVICE {
            Owner::Unmarked
        } else {
            self.live_devices[i - FIRST_NEW_DEVICE].0
        }
    }

    /// The distinct entries of a section the file may name (never another fleet's objects).
    fn entries(
        &self,
        section: Option<&Vec<Entry>>,
        owner: impl Fn(usize) -> Owner,
    ) -> Option<BTreeMap<usize, Entry>> {
        section.map(|entries| {
            let mut out = BTreeMap::new();
            for e in entries {
                if owner(e.index) != Owner::Other {
                    out.entry(e.index).or_insert_with(|| e.clone());
                }
            }
            out
        })
    }

    fn file_groups(&self) -> Option<BTreeMap<usize, Entry>> {
        self.entries(self.groups.as_ref(), |i| self.group_owner(i))
    }

    fn file_devices(&self) -> Option<BTreeMap<usize, Entry>> {
        self.entries(self.devices.as_ref(), |i| self.device_owner(i))
    }

    fn file_geofences(&self) -> Option<BTreeMap<usize, Entry>> {
        self.entries(self.geofences.as_ref(), |i| self.live_geofences[i])
    }

    /// Whether group `i` may be referenced: with a `groups:` section, the groups it lists (the
    /// loader holds references to it); without one, Vienna and Graz (unmarked, never deleted;
    /// another may be deleted, or may not be visible).
    fn group_stays(&self, i: usize, groups: Option<&BTreeMap<usize, Entry>>) -> bool {
        match groups {
            Some(g) => g.contains_key(&i),
            None => i < 2,
        }
    }

    /// A reference to group `r` from group `own` (parents must be earlier) or from a device.
    /// As the billing account, a group's parent is one of its own groups (Vienna, Graz): a
    /// move elsewhere may take the group out of its sight, which the plan refuses (tested in
    /// `observations::a_group_the_billing_account_would_lose_is_kept_in_it`).
    fn group_ref(
        &self,
        r: Option<usize>,
        own: Option<usize>,
        groups: Option<&BTreeMap<usize, Entry>>,
    ) -> Option<String> {
        if self.mode == Mode::Manager && own.is_some() && r? >= 2 {
            return None;
        }
        match r? {
            usize::MAX => Some("null".into()),
            r if own.is_none_or(|own| r < own) && self.group_stays(r, groups) => {
                Some(GROUPS[r].to_string())
            }
            _ => None,
        }
    }

    fn yaml(&self) -> String {
        let mut out = format!("version: 1\nfleet: {FLEET}\n");
        if self.mode == Mode::AdminForManager {
            out.push_str(&format!("manager: {DEMO_MANAGER}\n"));
        }
        out.push_str(&format!(
            "prune: {}\nsafety:\n  allowRemoveAll: true\n  maxRemovalPercent: 100\n",
            if self.prune_delete { "delete" } else { "keep" }
        ));
        let groups = self.file_groups();
        if let Some(groups) = &groups {
            out.push_str("groups:\n");
            if groups.is_empty() {
                out.truncate(out.len() - 1);
                out.push_str(" {}\n");
            }
            for (i, e) in groups {
                let mut fields = Vec::new();
                if let Some(parent) = self.group_ref(e.reference, Some(*i), Some(groups)) {
                    fields.push(format!("parent: {parent}"));
                }
                if let Some(t) = &e.text {
                    fields.push(format!("attributes: {{ depot: {t} }}"));
                }
                fields.extend(self.zones(e));
                out.push_str(&format!("  {}: {{ {} }}\n", GROUPS[*i], fields.join(", ")));
            }
        }
        if let Some(devices) = self.file_devices() {
            out.push_str("devices:\n");
            if devices.is_empty() {
                out.truncate(out.len() - 1);
                out.push_str(" {}\n");
            }
            for (i, e) in &devices {
                let mut fields = Vec::new();
                if let Some(group) = self.group_ref(e.reference, None, groups.as_ref()) {
                    fields.push(format!("group: {group}"));
                }
                if let Some(t) = &e.text {
                    fields.push(format!("name: Bike {t}"));
                }
                fields.extend(self.zones(e));
                out.push_str(&format!("  {}: {{ {} }}\n", DEVICES[*i], fields.join(", ")));
            }
        }
        let geofences = self.file_geofences();
        if let Some(geofences) = &geofences {
            out.push_str("geofences:\n");
            if geofences.is_empty() {
                out.truncate(out.len() - 1);
                out.push_str(" {}\n");
            }
            for (i, e) in geofences {
                // A new geofence needs an area; an existing one may keep its own.
                let mut fields = Vec::new();
                if e.reference.is_some() || self.live_geofences[*i] == Owner::Absent {
                    fields.push(format!("area: \"CIRCLE (48.2{i} 16.3, {})\"", e.radius));
                }
                if let Some(t) = &e.text {
                    fields.push(format!("description: {t}"));
                }
                out.push_str(&format!(
                    "  {}: {{ {} }}\n",
                    GEOFENCES[*i],
                    fields.join(", ")
                ));
            }
        }
        for (kind, case) in self.later_kinds() {
            let Some(entries) = case.entries() else {
                continue;
            };
            out.push_str(&format!("{}:", kind.section));
            if entries.is_empty() {
                out.push_str(" {}");
            }
            out.push('\n');
            for (i, text) in entries {
                let name = kind.names[i];
                out.push_str(&format!("  {name}: {{ {} }}\n", (kind.entry)(name, &text)));
            }
        }
        out.push_str("users:\n");
        for (rider, (devices, links, zones)) in RIDERS.iter().zip(&self.riders) {
            out.push_str(&format!("  - email: {rider}\n"));
            // Devices the billing account sees after the apply: the seeded ones, and the
            // new ones the file lists (this fleet's or adopted).
            let devices: BTreeSet<&str> = devices
                .iter()
                .filter(|&&d| {
                    d < FIRST_NEW_DEVICE || self.file_devices().is_some_and(|f| f.contains_key(&d))
                })
                .map(|&d| DEVICES[d])
                .collect();
            out.push_str(&format!(
                "    devices: [{}]\n",
                devices.into_iter().collect::<Vec<_>>().join(", ")
            ));
            let picked: BTreeSet<usize> = links
                .iter()
                .copied()
                .filter(|&g| self.group_stays(g, groups.as_ref()))
                .collect();
            let links: BTreeSet<&str> = picked.iter().map(|&g| GROUPS[g]).collect();
            out.push_str(&format!(
                "    groups: [{}]\n",
                links.into_iter().collect::<Vec<_>>().join(", ")
            ));
            let rider_index = RIDERS.iter().position(|r| r == rider).unwrap_or(0);
            for (kind, case) in self.later_kinds() {
                let Some(picks) = &case.riders[rider_index] else {
                    continue;
                };
                // Objects that stay: those the file's section lists.
                let entries = case.entries().unwrap_or_default();
                let listed: BTreeSet<&str> = picks
                    .iter()
                    .filter(|i| entries.contains_key(*i))
                    .map(|&i| kind.names[i])
                    .collect();
                out.push_str(&format!(
                    "    {}: [{}]\n",
                    kind.section,
                    listed.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(zones) = zones {
                // Geofences that stay: those the file lists (the others may be deleted or be
                // invisible to the billing account).
                let zones: BTreeSet<&str> = zones
                    .iter()
                    .filter(|&&z| geofences.as_ref().is_some_and(|g| g.contains_key(&z)))
                    .map(|&z| GEOFENCES[z])
                    .collect();
                out.push_str(&format!(
                    "    geofences: [{}]\n",
                    zones.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        out
    }
}

/// Raw requests as one of the demo's accounts.
struct Caller {
    http: reqwest::Client,
    url: String,
    email: &'static str,
    password: String,
}

impl Caller {
    async fn call(&self, method: Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .basic_auth(self.email, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Json::Null)
    }

    async fn ids(&self, path: &str, key: &str) -> BTreeMap<String, i64> {
        let list = self.call(Method::GET, path, None).await;
        list.as_array()
            .expect("array")
            .iter()
            .filter_map(|o| Some((o[key].as_str()?.to_string(), o["id"].as_i64()?)))
            .collect()
    }
}

fn attributes(owner: Owner) -> Json {
    match owner {
        Owner::Ours => json!({ "fleetform": FLEET, "note": "x" }),
        Owner::Other => json!({ "fleetform": "other" }),
        _ => json!({ "note": "x" }),
    }
}

/// Builds the case's live state through the API: the objects the case holds, created by the
/// billing account (as fleet vendors do; so it sees them), and an administrator's group and
/// geofence outside the billing account.
async fn build_live(admin: &Caller, manager: &Caller, case: &Case) {
    admin
        .call(
            Method::POST,
            "/api/groups",
            Some(json!({"name": "Outside"})),
        )
        .await;
    admin
        .call(
            Method::POST,
            "/api/geofences",
            Some(json!({"name": "Outside-zone", "area": "CIRCLE (10 10, 10)"})),
        )
        .await;
    let mut group_ids = manager.ids("/api/groups", "name").await;
    for (n, (owner, parent)) in case.live_groups.iter().enumerate() {
        let i = n + 2;
        if *owner == Owner::Absent {
            continue;
        }
        let parent = (*parent < i)
            .then(|| group_ids.get(GROUPS[*parent]).copied())
            .flatten();
        let created = manager
            .call(
                Method::POST,
                "/api/groups",
                Some(json!({"name": GROUPS[i], "groupId": parent.unwrap_or(0), "attributes": attributes(*owner)})),
            )
            .await;
        group_ids.insert(GROUPS[i].into(), created["id"].as_i64().expect("id"));
    }
    for (n, (owner, group)) in case.live_devices.iter().enumerate() {
        if *owner == Owner::Absent {
            continue;
        }
        let name = DEVICES[n + FIRST_NEW_DEVICE];
        manager
            .call(
                Method::POST,
                "/api/devices",
                Some(json!({"name": name, "uniqueId": name,
                    "groupId": group_ids.get(GROUPS[*group]).copied().unwrap_or(0),
                    "attributes": attributes(*owner)})),
            )
            .await;
    }
    // The riders that exist: this fleet's, managed by the billing account, linked to
    // devices and groups that exist (as the billing account would link them).
    let device_ids = manager.ids("/api/devices", "uniqueId").await;
    for (rider, live) in RIDERS.iter().zip(&case.live_riders) {
        let Some((devices, groups)) = live else {
            continue;
        };
        let user = manager
            .call(
                Method::POST,
                "/api/users",
                Some(
                    json!({"name": rider, "email": rider, "password": "x-Very-long-1",
                    "attributes": {"fleetform": FLEET}}),
                ),
            )
            .await;
        let id = user["id"].as_i64().expect("id");
        let links = [
            ("deviceId", devices, &device_ids, &DEVICES[..]),
            ("groupId", groups, &group_ids, &GROUPS[..]),
        ];
        for (key, picks, ids, names) in links {
            let targets: BTreeSet<i64> = picks
                .iter()
                .filter_map(|&i| ids.get(names[i]).copied())
                .collect();
            for target in targets {
                manager
                    .call(
                        Method::POST,
                        "/api/permissions",
                        Some(json!({"userId": id, key: target})),
                    )
                    .await;
            }
        }
    }
    for (kind, later) in case.later_kinds() {
        for (i, owner) in later.live.iter().enumerate() {
            if *owner == Owner::Absent {
                continue;
            }
            let mut body = (kind.by_hand)(kind.names[i]);
            body[kind.key] = json!(kind.names[i]);
            let mut attributes = attributes(*owner);
            if let (Some(extra), Some(all)) = (
                body.get("attributes").and_then(Json::as_object).cloned(),
                attributes.as_object_mut(),
            ) {
                all.extend(extra);
            }
            body["attributes"] = attributes;
            manager.call(Method::POST, kind.path, Some(body)).await;
        }
    }
    for (i, owner) in case.live_geofences.iter().enumerate() {
        if *owner == Owner::Absent {
            continue;
        }
        manager
            .call(
                Method::POST,
                "/api/geofences",
                Some(json!({"name": GEOFENCES[i], "area": "CIRCLE (48 16, 100)",
                    "description": "hand-made", "attributes": attributes(*owner)})),
            )
            .await;
    }
    // Links made by hand: the seeded device BT-000101 and group Vienna to every geofence the
    // case holds (a file listing theirs keeps, adds or removes them).
    let zone_ids = manager.ids("/api/geofences", "name").await;
    let device = manager.ids("/api/devices", "uniqueId").await[DEVICES[0]];
    for (i, owner) in case.live_geofences.iter().enumerate() {
        if *owner == Owner::Absent {
            continue;
        }
        let Some(zone) = zone_ids.get(GEOFENCES[i]) else {
            continue;
        };
        for owner in [
            json!({"deviceId": device}),
            json!({"groupId": group_ids["Vienna"]}),
        ] {
            let mut body = owner;
            body["geofenceId"] = json!(zone);
            manager
                .call(Method::POST, "/api/permissions", Some(body))
                .await;
        }
    }
}

/// What the administrator sees of the objects outside the billing account.
async fn outside(admin: &Caller) -> Json {
    let groups = admin.call(Method::GET, "/api/groups?all=true", None).await;
    let geofences = admin
        .call(Method::GET, "/api/geofences?all=true", None)
        .await;
    let pick = |list: &Json, name: &str, not: &BTreeSet<i64>| {
        list.as_array()
            .expect("array")
            .iter()
            .filter(|o| o["name"] == name && !o["id"].as_i64().is_some_and(|id| not.contains(&id)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let none = BTreeSet::new();
    json!({"group": pick(&groups, "Outside", &none), "geofence": pick(&geofences, "Outside-zone", &none)})
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = SandboxConfig {
        version: case.version,
        registration: case.version < TraccarVersion::V6_9,
        ..SandboxConfig::default()
    };
    let sandbox = Arc::new(Sandbox::start(config, listen).await.expect("sandbox"));
    let url = sandbox.url();
    let seeded = demo::seed(&url).await.expect("seed");
    let caller = |email: &'static str, credentials: &Credentials| Caller {
        http: reqwest::Client::new(),
        url: url.clone(),
        email,
        password: password(credentials),
    };
    let admin = caller(DEMO_ADMIN, &seeded.admin);
    let manager = caller(DEMO_MANAGER, &seeded.manager);
    build_live(&admin, &manager, &case).await;

    let text = case.yaml();
    let loaded = config::parse(&text, "prop.yaml")
        .map_err(|p| TestCaseError::fail(format!("{p}\n{text}")))?;
    let credentials = match case.mode {
        Mode::Manager => &seeded.manager,
        Mode::AdminForManager => &seeded.admin,
    };
    let backend = TraccarBackend::connect(&url, credentials, Options::default())
        .await
        .expect("connect");
    let plan = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .map_err(|e| TestCaseError::fail(format!("refused: {e:#}\n{text}")))?;
    let before_apply = crate::property::before(&backend, &loaded.desired, &plan).await?;
    let outside_before = outside(&admin).await;

    let Watched {
        report,
        before,
        seen,
        refused,
    } = apply_watched(&sandbox, &backend, &plan).await;
    prop_assert!(
        report.is_success(),
        "apply failed: {:?}\n{:#?}\n{}",
        report.failed,
        plan.actions,
        text
    );
    prop_assert!(
        refused.is_empty(),
        "the sandbox refused {refused:?}\n{text}"
    );

    let after = sandbox.seed(|store| effective(store));
    let none = BTreeSet::new();
    for (i, state) in seen.iter().enumerate() {
        for rider in RIDERS {
            let now = state.get(rider).unwrap_or(&none);
            let (old, new) = (
                before.get(rider).unwrap_or(&none),
                after.get(rider).unwrap_or(&none),
            );
            let extra: Vec<&String> = now
                .iter()
                .filter(|d| !old.contains(*d) && !new.contains(*d))
                .collect();
            prop_assert!(
                extra.is_empty(),
                "before request {i} {rider} saw {extra:?}, granted neither before ({old:?}) nor \
                 by the file ({new:?})\n{:#?}\n{text}",
                plan.actions
            );
        }
    }

    crate::property::after(
        &backend,
        &loaded.desired,
        &before_apply,
        &BTreeSet::new(),
        &text,
    )
    .await?;
    prop_assert_eq!(
        outside(&admin).await,
        outside_before,
        "outside objects changed\n{}",
        text
    );
    // The billing account sees every object the file lists.
    let seen_by_manager = manager.ids("/api/groups", "name").await;
    for name in loaded
        .desired
        .objects
        .iter()
        .filter(|(kind, _)| kind.0 == "group")
        .flat_map(|(_, objects)| objects.keys())
    {
        prop_assert!(
            seen_by_manager.contains_key(name),
            "the billing account does not see group {name}\n{text}"
        );
    }
    let devices = manager.ids("/api/devices", "uniqueId").await;
    for name in loaded
        .desired
        .objects
        .iter()
        .filter(|(kind, _)| kind.0 == "device")
        .flat_map(|(_, objects)| objects.keys())
    {
        prop_assert!(
            devices.contains_key(name),
            "the billing account does not see device {name}\n{text}"
        );
    }
    drop(backend);
    if let Ok(sandbox) = Arc::try_unwrap(sandbox) {
        sandbox.shutdown().await;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn objects_converge_on_the_sandbox(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_case(case))?;
    }
}
