//! The property test of the whole loop on the telematics sandbox, through the same checks as
//! Traccar's (`crate::property`). For random instances (users this fleet registered, users
//! another fleetform fleet registered, users the app registered, with random profiles, flags
//! and switches, some sharing a clientId, one without a clientId, and a user of another
//! instance with a clientId of the file) and random fleet files (a random subset of the
//! clientIds with random fields, any `prune`), exactly one of these holds:
//!
//! - the plan is refused with no write, and the case holds exactly the problems an oracle here
//!   computes (a file user another fleet registered; a clientId several users share that the
//!   file names or this fleet registered), each named;
//! - the apply succeeds and `crate::property::after` holds (the file's fields and marker, prune
//!   as the file says, nothing else changed, an empty re-plan), and no clientId has more users
//!   than before.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use fleetform::backend::telematics::ownership::new_token;
use proptest::prelude::*;
use proptest::sample::select;
use telematics_sandbox::{AccountStatus, Sandbox, SandboxConfig, User};

use super::{FLEET, TEnv, parse};

/// The clientIds of a case (`C0` is a different user from `c0`).
const IDS: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "C0"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    ThisFleet,
    OtherFleet,
    App,
}

#[derive(Clone, Debug)]
struct LiveSpec {
    origin: Origin,
    first_name: Option<&'static str>,
    city: Option<&'static str>,
    tracking: bool,
    logging: bool,
    enabled: bool,
    deactivated: bool,
    /// An app user with the same clientId.
    duplicate: bool,
}

#[derive(Clone, Debug)]
struct WantSpec {
    first_name: Option<&'static str>,
    city: Option<&'static str>,
    tracking: Option<bool>,
    logging: Option<bool>,
    enabled: Option<bool>,
}

#[derive(Clone, Debug)]
struct Case {
    live: Vec<Option<LiveSpec>>,
    want: Vec<Option<WantSpec>>,
    prune: &'static str,
}

fn name() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(select(vec!["Max", "Erika", ""]))
}

fn live_spec() -> impl Strategy<Value = LiveSpec> {
    (
        select(vec![Origin::ThisFleet, Origin::OtherFleet, Origin::App]),
        name(),
        prop::option::of(select(vec!["Wien", "Graz"])),
        any::<(bool, bool, bool, bool)>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(origin, first_name, city, (tracking, logging, enabled, deactivated), duplicate)| {
                LiveSpec {
                    origin,
                    first_name,
                    city,
                    tracking,
                    logging,
                    enabled,
                    deactivated,
                    duplicate,
                }
            },
        )
}

fn want_spec() -> impl Strategy<Value = WantSpec> {
    (
        prop::option::of(select(vec!["Max", "Erika"])),
        prop::option::of(select(vec!["Wien", "Linz"])),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(first_name, city, tracking, logging, enabled)| WantSpec {
            first_name,
            city,
            tracking,
            logging,
            enabled,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::option::weighted(0.7, live_spec()), IDS.len()),
        prop::collection::vec(prop::option::weighted(0.6, want_spec()), IDS.len()),
        select(vec!["deactivate", "delete", "keep"]),
    )
        .prop_map(|(live, want, prune)| Case { live, want, prune })
}

impl Case {
    /// The clientIds the plan must refuse, by the rules (see the header).
    fn problems(&self) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        for (i, id) in IDS.iter().enumerate() {
            let Some(l) = &self.live[i] else { continue };
            let in_file = self.want[i].is_some();
            if in_file && l.origin == Origin::OtherFleet {
                out.insert(*id);
            }
            if l.duplicate && (in_file || l.origin == Origin::ThisFleet) {
                out.insert(*id);
            }
        }
        out
    }

    fn yaml(&self, env: &TEnv) -> String {
        let mut s = format!("{}prune: {}\n", env.head(FLEET), self.prune);
        s.push_str("safety:\n  allowRemoveAll: true\n  maxRemovalPercent: 100\n");
        let users: Vec<String> = IDS
            .iter()
            .zip(&self.want)
            .filter_map(|(id, w)| {
                let w = w.as_ref()?;
                let mut u = format!("  - clientId: {id}\n");
                if let Some(n) = w.first_name {
                    u.push_str(&format!("    firstName: {n}\n"));
                }
                if let Some(c) = w.city {
                    u.push_str(&format!("    city: {c}\n"));
                }
                if let Some(t) = w.tracking {
                    u.push_str(&format!("    enableTracking: {t}\n"));
                }
                if let Some(l) = w.logging {
                    u.push_str(&format!("    enableLogging: {l}\n"));
                }
                if let Some(e) = w.enabled {
                    u.push_str(&format!("    enabled: {e}\n"));
                }
                Some(u)
            })
            .collect();
        if users.is_empty() {
            s.push_str("users: []\n");
        } else {
            s.push_str("users:\n");
            s.push_str(&users.concat());
        }
        s
    }

    /// Seeds the instance (and a second one) with the case's users.
    fn seed(&self, env: &TEnv) {
        let instance = env.instance.clone();
        env.sandbox.seed(|store| {
            for (i, id) in IDS.iter().enumerate() {
                let Some(l) = &self.live[i] else { continue };
                let mut user = User::new(&instance);
                user.device_token = match l.origin {
                    Origin::ThisFleet => new_token(&instance, FLEET, id),
                    Origin::OtherFleet => new_token(&instance, "other-fleet", id),
                    Origin::App => user.device_token.clone(),
                };
                user.fields.client_id = Some(id.to_string());
                user.profile.first_name = l.first_name.map(str::to_string);
                user.profile.city = l.city.map(str::to_string);
                user.fields.enable_tracking = l.tracking;
                user.fields.enable_logging = l.logging;
                user.fields.enabled = l.enabled;
                if l.deactivated {
                    user.status = AccountStatus::Deactivated;
                }
                store.add_user(user).expect("seeded");
                if l.duplicate {
                    let mut twin = User::new(&instance);
                    twin.fields.client_id = Some(id.to_string());
                    store.add_user(twin).expect("seeded");
                }
            }
            let mut anonymous = User::new(&instance);
            anonymous.profile.first_name = Some("No ClientId".into());
            store.add_user(anonymous).expect("seeded");
            let other = store.add_instance("Other instance");
            let mut elsewhere = User::new(&other.id);
            elsewhere.fields.client_id = Some(IDS[0].to_string());
            store.add_user(elsewhere).expect("seeded");
        });
    }
}

fn counts(env: &TEnv) -> BTreeMap<(String, Option<String>), usize> {
    let mut out = BTreeMap::new();
    for u in env.users() {
        *out.entry((u.instance_id.clone(), u.fields.client_id.clone()))
            .or_insert(0) += 1;
    }
    out
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = Sandbox::start(
        SandboxConfig {
            login_limit: None,
            ..SandboxConfig::default()
        },
        listen,
    )
    .await
    .expect("sandbox");
    let config = sandbox.config().clone();
    let env = TEnv {
        url: sandbox.url(),
        instance: config.instance.id.clone(),
        key: config.instance.key.clone(),
        email: config.admin.email.clone(),
        password: config.admin.password.clone(),
        sandbox,
    };
    case.seed(&env);
    let text = case.yaml(&env);
    let loaded = parse(&text);
    let counts_before = counts(&env);
    let backend = env.backend().await;
    let writes_from = env.sandbox.requests().len();
    let expected = case.problems();
    let plan = match fleetform::make_plan(&backend, &loaded.desired).await {
        Ok(plan) if expected.is_empty() => plan,
        Ok(plan) => {
            return Err(TestCaseError::fail(format!(
                "planned although {expected:?} must be refused: {:?}\n{text}",
                plan.actions
            )));
        }
        Err(e) => {
            let shown = format!("{e:#}");
            prop_assert!(!expected.is_empty(), "refused: {shown}\n{text}");
            for id in &expected {
                prop_assert!(
                    shown.contains(&format!("user {id}: ")),
                    "{id} is not named: {shown}\n{text}"
                );
            }
            let problems = shown
                .lines()
                .filter(|l| l.contains(": user ") || l.starts_with("user "))
                .count();
            prop_assert_eq!(problems, expected.len(), "{}\n{}", shown, text);
            let writes: Vec<_> = env.sandbox.requests()[writes_from..]
                .iter()
                .filter(|r| r.method != "GET" && !r.path.ends_with("/GetFilteredPage"))
                .cloned()
                .collect();
            prop_assert!(writes.is_empty(), "a refused plan wrote: {writes:?}");
            return Ok(());
        }
    };
    let before = crate::property::before(&backend, &loaded.desired, &plan).await?;
    let report = fleetform::apply::apply(&backend, &plan, &mut Vec::new()).await;
    prop_assert!(
        report.is_success(),
        "apply failed: {:?}\n{}",
        report.failed,
        text
    );
    crate::property::after(&backend, &loaded.desired, &before, &BTreeSet::new(), &text).await?;
    // No registration twice: a clientId has at most the users it had, or one when it had none.
    for ((instance, id), n) in counts(&env) {
        let was = counts_before
            .get(&(instance.clone(), id.clone()))
            .copied()
            .unwrap_or(0);
        prop_assert!(
            n <= was.max(1),
            "{id:?} in {instance}: {n} users, {was} before\n{text}"
        );
    }
    // The other instance's user with a file clientId is never touched.
    let elsewhere: Vec<User> = env
        .users()
        .into_iter()
        .filter(|u| u.instance_id != env.instance)
        .collect();
    prop_assert_eq!(elsewhere.len(), 1);
    prop_assert_eq!(elsewhere[0].fields.client_id.as_deref(), Some(IDS[0]));
    prop_assert!(elsewhere[0].profile.first_name.is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn apply_converges_on_the_telematics_sandbox(case in case()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_case(case))?;
    }
}
