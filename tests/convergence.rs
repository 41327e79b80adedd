//! Property test of the whole loop against the sandbox: for random live states (nested groups,
//! a device and a group outside the billing account linked by an administrator, a manager with
//! a user limit) and random fleet files, either the plan is refused at plan time, for a reason
//! the case holds, with no write, or applying it yields exactly the desired state on the
//! managed scope, with exactly the file's *effective* access (the groups a user sees are the
//! file's groups and their descendants), the re-plan is empty, no action is a no-op, nothing
//! outside the managed scope changes, and at no point between requests does a managed user have
//! more effective access than it had before or than the file grants (checked inside the sandbox
//! before every request it receives).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fleetform::apply;
use fleetform::backend::Backend;
use fleetform::backend::traccar::api::Credentials;
use fleetform::backend::traccar::rules::{MANAGER, field_named as tf};
use fleetform::backend::traccar::{Options, TraccarBackend};
use fleetform::cmd::demo::{self, DEMO_ADMIN, DEMO_MANAGER};
use fleetform::config;
use fleetform::core::model::{Action, Scope, UserKey, Value, linked};
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use traccar_sandbox::{FaultHook, ObjectType, Sandbox, SandboxConfig, Store, TraccarVersion};

/// Every user's effective access, by lower-cased email: the uniqueIds of the devices it sees.
type Effective = BTreeMap<String, BTreeSet<String>>;

/// Every user's effective access in the store, by lower-cased email: the uniqueIds of the
/// devices it may see, linked directly or in a linked group or any group below one.
fn effective(store: &Store) -> Effective {
    let mut out = BTreeMap::new();
    for user in store.users() {
        let mut groups = store.linked(ObjectType::User, user.id, ObjectType::Group);
        loop {
            let below: Vec<i64> = store
                .groups()
                .filter(|g| groups.contains(&g.group_id) && !groups.contains(&g.id))
                .map(|g| g.id)
                .collect();
            if below.is_empty() {
                break;
            }
            groups.extend(below);
        }
        let direct = store.linked(ObjectType::User, user.id, ObjectType::Device);
        let devices: BTreeSet<String> = store
            .devices()
            .filter(|d| direct.contains(&d.id) || groups.contains(&d.group_id))
            .filter_map(|d| d.unique_id.clone())
            .collect();
        let email = user.email.clone().unwrap_or_default().to_lowercase();
        out.insert(email, devices);
    }
    out
}

const USERS: [&str; 4] = [
    "ann@fleet.test",
    "Bob@fleet.test",
    "cid@fleet.test",
    "dee@fleet.test",
];
const OUTSIDER: &str = "outsider@fleet.test";
const DEVICES: [&str; 6] = [
    "BT-000101",
    "BT-000102",
    "BT-000103",
    "BT-000107",
    "BT-000108",
    OUT_DEVICE,
];
/// `Vienna-North` is a child of `Vienna`; `Outside` is not the manager's.
const GROUPS: [&str; 4] = ["Vienna", "Graz", "Vienna-North", "Outside"];
/// A device an administrator created: not one of the billing account's.
const OUT_DEVICE: &str = "OUT-1";

/// The groups a user linked to `groups` sees: those and their children (`Vienna-North`).
fn closure(groups: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = groups.into_iter().collect();
    if out.contains("Vienna") {
        out.insert("Vienna-North".into());
    }
    out
}

#[derive(Clone, Debug)]
struct LiveUserSpec {
    /// None: unmarked; Some(true): this fleet; Some(false): another fleet.
    marker: Option<bool>,
    readonly: bool,
    device_readonly: bool,
    disabled: bool,
    devices: BTreeSet<usize>,
    groups: BTreeSet<usize>,
}

#[derive(Clone, Debug)]
struct DesiredUserSpec {
    name: Option<String>,
    readonly: Option<bool>,
    device_readonly: Option<bool>,
    devices: BTreeSet<usize>,
    groups: BTreeSet<usize>,
}

#[derive(Clone, Debug)]
struct Case {
    live: Vec<Option<LiveUserSpec>>,
    outsider_devices: BTreeSet<usize>,
    desired: Vec<Option<DesiredUserSpec>>,
    prune: &'static str,
    with_manager: bool,
    /// The manager's `userLimit` (-1: unlimited).
    user_limit: i64,
    /// 6.9 cannot list group links (they are inferred), 6.14 can.
    version: TraccarVersion,
}

fn subset(n: usize) -> impl Strategy<Value = BTreeSet<usize>> {
    proptest::collection::btree_set(0..n, 0..=n)
}

fn live_user() -> impl Strategy<Value = LiveUserSpec> {
    (
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        subset(DEVICES.len()),
        subset(GROUPS.len()),
    )
        .prop_map(
            |(marker, readonly, device_readonly, disabled, devices, groups)| LiveUserSpec {
                marker,
                readonly,
                device_readonly,
                disabled,
                devices,
                groups,
            },
        )
}

fn desired_user() -> impl Strategy<Value = DesiredUserSpec> {
    (
        proptest::option::of(prop_oneof![
            Just("Alpha".to_string()),
            Just("Beta".to_string())
        ]),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        subset(DEVICES.len()),
        subset(GROUPS.len()),
    )
        .prop_map(
            |(name, readonly, device_readonly, devices, groups)| DesiredUserSpec {
                name,
                readonly,
                device_readonly,
                devices,
                groups,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(proptest::option::of(live_user()), USERS.len()),
        subset(DEVICES.len()),
        proptest::collection::vec(proptest::option::of(desired_user()), USERS.len()),
        prop_oneof![Just("delete"), Just("disable"), Just("keep")],
        any::<bool>(),
        prop_oneof![Just(-1i64), 1i64..=4],
        prop_oneof![Just(TraccarVersion::V6_9), Just(TraccarVersion::V6_14)],
    )
        .prop_map(
            |(live, outsider_devices, mut desired, prune, with_manager, user_limit, version)| {
                // A user of another fleet may not be in this file (that is a plan error, tested
                // elsewhere); keep the property about successful plans.
                for (i, l) in live.iter().enumerate() {
                    if matches!(
                        l,
                        Some(LiveUserSpec {
                            marker: Some(false),
                            ..
                        })
                    ) {
                        desired[i] = None;
                    }
                }
                Case {
                    live,
                    outsider_devices,
                    desired,
                    prune,
                    with_manager,
                    user_limit,
                    version,
                }
            },
        )
}

/// Why the plan must be refused, if it must: with `manager:`, an object outside the billing
/// account in the file, or more users than the manager's limit (no user is managed by it
/// before the run, and every file user becomes one).
fn refusal(case: &Case) -> Option<&'static str> {
    if !case.with_manager {
        return None;
    }
    let users: Vec<&DesiredUserSpec> = case.desired.iter().flatten().collect();
    if users.iter().any(|d| d.devices.contains(&5)) {
        return Some("is not one of the manager's devices");
    }
    if users.iter().any(|d| d.groups.contains(&3)) {
        return Some("is not one the manager");
    }
    if case.user_limit > 0 && users.len() as i64 > case.user_limit {
        return Some("over its userLimit");
    }
    None
}

fn yaml(case: &Case) -> String {
    let mut s = format!("version: 1\nfleet: prop\nprune: {}\n", case.prune);
    if case.with_manager {
        s.push_str(&format!("manager: {DEMO_MANAGER}\n"));
    }
    if case.desired.iter().all(Option::is_none) {
        s.push_str("users: []\n");
    } else {
        s.push_str("users:\n");
    }
    for (i, d) in case.desired.iter().enumerate() {
        let Some(d) = d else { continue };
        s.push_str(&format!("  - email: {}\n", USERS[i].to_uppercase()));
        if let Some(n) = &d.name {
            s.push_str(&format!("    name: {n}\n"));
        }
        if let Some(r) = d.readonly {
            s.push_str(&format!("    readonly: {r}\n"));
        }
        if let Some(r) = d.device_readonly {
            s.push_str(&format!("    deviceReadonly: {r}\n"));
        }
        let devices: Vec<&str> = d.devices.iter().map(|&j| DEVICES[j]).collect();
        let groups: Vec<&str> = d.groups.iter().map(|&j| GROUPS[j]).collect();
        s.push_str(&format!("    devices: [{}]\n", devices.join(", ")));
        s.push_str(&format!("    groups: [{}]\n", groups.join(", ")));
    }
    s
}

struct Admin {
    http: reqwest::Client,
    url: String,
    password: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .basic_auth(DEMO_ADMIN, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Json::Null)
    }

    async fn ids(&self, path: &str, key: &str) -> BTreeMap<String, i64> {
        let list = self.call(reqwest::Method::GET, path, None).await;
        list.as_array()
            .expect("array")
            .iter()
            .map(|o| {
                (
                    o[key].as_str().unwrap_or_default().to_string(),
                    o["id"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }
}

/// Everything outside the managed scope, for the "nothing else moves" check.
async fn outside_state(admin: &Admin, managed: &BTreeSet<UserKey>) -> Json {
    let users = admin.call(reqwest::Method::GET, "/api/users", None).await;
    let mut out = Vec::new();
    for u in users.as_array().expect("array") {
        let email = u["email"].as_str().unwrap_or_default();
        if managed.contains(&UserKey::new(email)) {
            continue;
        }
        let id = u["id"].as_i64().unwrap_or(0);
        let devices = admin
            .call(
                reqwest::Method::GET,
                &format!("/api/devices?userId={id}"),
                None,
            )
            .await;
        let groups = admin
            .call(
                reqwest::Method::GET,
                &format!("/api/groups?userId={id}"),
                None,
            )
            .await;
        out.push(json!({"user": u, "devices": devices, "groups": groups}));
    }
    Json::Array(out)
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = SandboxConfig {
        version: case.version,
        ..SandboxConfig::default()
    };
    let sandbox = Arc::new(Sandbox::start(config, listen).await.expect("sandbox"));
    let url = sandbox.url();
    let seeded = demo::seed(&url).await.expect("seed");
    let Credentials::Password { password, .. } = &seeded.admin else {
        unreachable!("demo seeds password credentials")
    };
    let admin = Admin {
        http: reqwest::Client::new(),
        url: url.clone(),
        password: password.expose().to_string(),
    };
    // The world outside the billing account, and a nested group under the manager's Vienna.
    admin
        .call(
            reqwest::Method::POST,
            "/api/devices",
            Some(json!({"name": "Out", "uniqueId": OUT_DEVICE})),
        )
        .await;
    admin
        .call(
            reqwest::Method::POST,
            "/api/groups",
            Some(json!({"name": "Outside"})),
        )
        .await;
    let vienna = admin.ids("/api/groups?all=true", "name").await["Vienna"];
    admin
        .call(
            reqwest::Method::POST,
            "/api/groups",
            Some(json!({"name": "Vienna-North", "groupId": vienna})),
        )
        .await;
    let managers = admin.ids("/api/users", "email").await;
    let manager_id = managers[DEMO_MANAGER];
    let mut manager = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/users/{manager_id}"),
            None,
        )
        .await;
    manager["userLimit"] = json!(case.user_limit);
    admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/users/{manager_id}"),
            Some(manager),
        )
        .await;
    let device_ids = admin.ids("/api/devices?all=true", "uniqueId").await;
    let group_ids = admin.ids("/api/groups?all=true", "name").await;

    // Build the random live state through the API, as an operator would by hand.
    let mut specs: Vec<(&str, LiveUserSpec)> = case
        .live
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.clone().map(|l| (USERS[i], l)))
        .collect();
    specs.push((
        OUTSIDER,
        LiveUserSpec {
            marker: None,
            readonly: false,
            device_readonly: false,
            disabled: false,
            devices: case.outsider_devices.clone(),
            groups: BTreeSet::new(),
        },
    ));
    for (email, spec) in &specs {
        let mut attributes = serde_json::Map::new();
        match spec.marker {
            Some(true) => {
                attributes.insert("fleetform".into(), json!("prop"));
            }
            Some(false) => {
                attributes.insert("fleetform".into(), json!("other"));
            }
            None => {}
        }
        let user = admin
            .call(
                reqwest::Method::POST,
                "/api/users",
                Some(
                    json!({"name": "Live", "email": email, "password": "p-long-enough",
                    "readonly": spec.readonly, "deviceReadonly": spec.device_readonly,
                    "disabled": spec.disabled, "attributes": attributes}),
                ),
            )
            .await;
        let uid = user["id"].as_i64().expect("id");
        for &d in &spec.devices {
            admin
                .call(
                    reqwest::Method::POST,
                    "/api/permissions",
                    Some(json!({"userId": uid, "deviceId": device_ids[DEVICES[d]]})),
                )
                .await;
        }
        for &g in &spec.groups {
            admin
                .call(
                    reqwest::Method::POST,
                    "/api/permissions",
                    Some(json!({"userId": uid, "groupId": group_ids[GROUPS[g]]})),
                )
                .await;
        }
    }

    let text = yaml(&case);
    let loaded =
        config::parse(&text, "prop.yaml").map_err(|p| TestCaseError::fail(p.to_string()))?;
    let backend = TraccarBackend::connect(&url, &seeded.admin, Options::default())
        .await
        .expect("connect");
    let live = backend
        .fetch(&Scope::of(&loaded.desired))
        .await
        .expect("fetch");
    let managed: BTreeSet<UserKey> = live
        .users
        .iter()
        .filter(|(k, u)| {
            loaded.desired.users.contains_key(*k) || u.marker.as_deref() == Some("prop")
        })
        .map(|(k, _)| k.clone())
        .chain(loaded.desired.users.keys().cloned())
        .collect();
    let outside_before = outside_state(&admin, &managed).await;
    let all_before = outside_state(&admin, &BTreeSet::new()).await;

    let plan = match (
        fleetform::make_plan(&backend, &loaded.desired).await,
        refusal(&case),
    ) {
        (Ok(plan), None) => plan,
        (Ok(plan), Some(why)) => {
            return Err(TestCaseError::fail(format!(
                "planned although {why:?}: {:?}\n{text}",
                plan.actions
            )));
        }
        (Err(e), None) => return Err(TestCaseError::fail(format!("{e:#}\n{text}"))),
        (Err(e), Some(why)) => {
            // Refused for the reason the case holds, before any write.
            let shown = format!("{e:#}");
            prop_assert!(shown.contains(why), "{shown}\n{text}");
            let everyone: BTreeSet<UserKey> = BTreeSet::new();
            prop_assert_eq!(
                outside_state(&admin, &everyone).await,
                all_before,
                "a refused plan wrote"
            );
            stop(sandbox).await;
            return Ok(());
        }
    };

    // No action is a no-op: each one changes something that is there (or absent) now.
    for action in &plan.actions {
        let user = live.users.get(&UserKey::new(action.email()));
        let effective = match action {
            Action::CreateUser { .. } => user.is_none(),
            Action::UpdateUser { changes, adopt, .. } => {
                *adopt || changes.iter().any(|c| c.before != c.after)
            }
            Action::Link { kind, target, .. } => {
                user.is_some_and(|u| {
                    if *kind == MANAGER {
                        !u.managed_by.contains(&UserKey::new(target))
                    } else {
                        !linked(&u.links, *kind).contains(target)
                    }
                }) || user.is_none()
            }
            Action::Unlink { kind, target, .. } => user.is_some_and(|u| {
                if *kind == MANAGER {
                    u.managed_by.contains(&UserKey::new(target))
                } else {
                    linked(&u.links, *kind).contains(target)
                }
            }),
            Action::DisableUser { .. } => {
                user.is_some_and(|u| u.fields.get(&tf("disabled")) != Some(&Value::Bool(true)))
            }
            Action::DeleteUser { .. } => user.is_some(),
            // The generated files have no object sections: an object action is a bug.
            Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. } => false,
        };
        prop_assert!(effective, "no-op action {:?}", action);
    }

    // The effective access of every managed user before the apply, then at every request the
    // apply sends (the sandbox calls the hook before handling each one).
    let fleet_emails: BTreeSet<String> = USERS.iter().map(|e| e.to_lowercase()).collect();
    let before = sandbox.seed(|store| effective(store));
    let seen: Arc<Mutex<Vec<Effective>>> = Arc::default();
    let weak = Arc::downgrade(&sandbox);
    let record = seen.clone();
    let hook: FaultHook = Arc::new(move |_| {
        if let Some(sandbox) = weak.upgrade() {
            let now = sandbox.seed(|store| effective(store));
            record.lock().expect("lock").push(now);
        }
        None
    });
    sandbox.set_fault_hook(Some(hook));
    let report = apply::apply(&backend, &plan, &mut Vec::new()).await;
    sandbox.set_fault_hook(None);
    prop_assert!(
        report.is_success(),
        "apply failed: {:?}\n{}",
        report.failed,
        text
    );
    // Never more than the old state or the new file grants: the state after the apply is the
    // file's (asserted below), so each state seen must fit in the one before or the one after.
    let after = sandbox.seed(|store| effective(store));
    let none = BTreeSet::new();
    for (i, state) in seen.lock().expect("lock").iter().enumerate() {
        for email in &fleet_emails {
            let now = state.get(email).unwrap_or(&none);
            let old = before.get(email).unwrap_or(&none);
            let new = after.get(email).unwrap_or(&none);
            prop_assert!(
                now.is_subset(old) || now.is_subset(new),
                "before request {i}, {email} could see {now:?}: more than before ({old:?}) or after ({new:?})\n{text}"
            );
        }
    }

    let again = fleetform::make_plan(&backend, &loaded.desired)
        .await
        .expect("re-plan");
    prop_assert!(
        again.actions.is_empty(),
        "re-plan not empty: {:?}\n{}",
        again.actions,
        text
    );

    // The desired state, read back from the server.
    for (i, d) in case.desired.iter().enumerate() {
        let Some(d) = d else { continue };
        let users = admin.ids("/api/users", "email").await;
        let uid = users
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(USERS[i]))
            .map(|(_, id)| *id)
            .expect("desired user exists");
        let user = admin
            .call(reqwest::Method::GET, &format!("/api/users/{uid}"), None)
            .await;
        if let Some(n) = &d.name {
            prop_assert_eq!(user["name"].as_str(), Some(n.as_str()));
        }
        if let Some(r) = d.readonly {
            prop_assert_eq!(user["readonly"].as_bool(), Some(r));
        }
        if let Some(r) = d.device_readonly {
            prop_assert_eq!(user["deviceReadonly"].as_bool(), Some(r));
        }
        prop_assert_eq!(user["attributes"]["fleetform"].as_str(), Some("prop"));
        let devices: BTreeSet<String> = admin
            .ids(&format!("/api/devices?userId={uid}"), "uniqueId")
            .await
            .into_keys()
            .collect();
        let want: BTreeSet<String> = d.devices.iter().map(|&j| DEVICES[j].to_string()).collect();
        prop_assert_eq!(devices, want);
        // Effective access: the groups the user sees are exactly the file's groups and their
        // descendants, whatever the user was linked to before (directly to a child, say).
        let groups: BTreeSet<String> = admin
            .ids(&format!("/api/groups?userId={uid}"), "name")
            .await
            .into_keys()
            .collect();
        let want = closure(d.groups.iter().map(|&j| GROUPS[j].to_string()));
        prop_assert_eq!(groups, want, "{}", text);
    }
    // Pruned users follow the policy.
    for (i, l) in case.live.iter().enumerate() {
        let Some(l) = l else { continue };
        if case.desired[i].is_some() || l.marker != Some(true) {
            continue;
        }
        let exists = admin
            .ids("/api/users", "email")
            .await
            .keys()
            .any(|e| e.eq_ignore_ascii_case(USERS[i]));
        match case.prune {
            "delete" => prop_assert!(!exists),
            _ => prop_assert!(exists),
        }
    }
    let outside_after = outside_state(&admin, &managed).await;
    prop_assert_eq!(outside_before, outside_after);
    stop(sandbox).await;
    Ok(())
}

/// Stops the sandbox (the hooks hold only weak references to it).
async fn stop(sandbox: Arc<Sandbox>) {
    if let Ok(sandbox) = Arc::try_unwrap(sandbox) {
        sandbox.shutdown().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn apply_converges_on_the_sandbox(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_case(case))?;
    }
}
