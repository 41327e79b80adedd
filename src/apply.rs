//! apply: runs a plan through a backend, phase by phase, and reports what was done, what failed
//! (with the server's message) and what was skipped. This is the only place that writes.
//!
//! Rules:
//! - Phases run in plan order (revocations before grants; see plan.rs); the actions inside a
//!   phase are independent and the backend may run them concurrently and in batches.
//! - After a failure, apply goes on with independent actions but never runs an action whose
//!   prerequisite failed. Prerequisites are per subject (`Action::subject`: a user, or an
//!   object such as a device or group) and what an action needs (`Action::needs`: the object a
//!   link points at, the objects an object's references name): once any action about a subject
//!   failed, the later actions about it or needing it are skipped. A failed create therefore
//!   skips the user's links, a failed revocation skips the grants that would otherwise leave
//!   the user with more access than either the old or the new file grants, and a failed group
//!   create skips its child groups, its devices and the links to it.
//! - Nothing is lost: the report lists every action, and a re-run plans exactly what is left.
//! - Cancellation (Ctrl-C) is checked before each slice of at most `SLICE` actions
//!   (`LINK_SLICE` for links and unlinks, which travel in bulk requests), and the backend
//!   checks it again right before each request it starts (`PhaseContext::cancel`): once it is
//!   set, nothing new starts, what is in flight finishes, and every action not started is
//!   reported as skipped. Slices run in order, so revocations still come before grants.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::backend::{Applied, Backend, Failure, PhaseContext, Progress};
use crate::core::model::{Action, Subject};
use crate::core::plan::{Phase, Plan};
use crate::core::secret::Secret;

/// What happened to every action of a plan.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<Action>,
    pub failed: Vec<(Action, Failure)>,
    pub skipped: Vec<(Action, String)>,
    /// Generated passwords of the users created, for `--credentials-out`.
    pub credentials: Vec<(String, Secret)>,
    /// The run was cancelled (Ctrl-C) before every action was started.
    pub interrupted: bool,
}

impl Report {
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }

    /// A human summary: one line per failure or skip, then the counts.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for (action, message) in &self.failed {
            writeln!(out, "failed:  {}: {message}", describe(action))?;
        }
        for (action, reason) in &self.skipped {
            writeln!(out, "skipped: {}: {reason}", describe(action))?;
        }
        if self.interrupted {
            let not_started = self.not_started();
            writeln!(
                out,
                "Apply interrupted: {} done, {} failed, {} skipped, {} not started.",
                self.done.len(),
                self.failed.len(),
                self.skipped.len() - not_started,
                not_started
            )
        } else {
            writeln!(
                out,
                "Apply: {} done, {} failed, {} skipped.",
                self.done.len(),
                self.failed.len(),
                self.skipped.len()
            )
        }
    }

    /// How many of the skipped actions were not started because the run was interrupted.
    pub fn not_started(&self) -> usize {
        let reason = Failure::NotStarted.to_string();
        self.skipped.iter().filter(|(_, r)| *r == reason).count()
    }
}

/// A one-line description of an action, for progress and reports (its `Display`).
pub fn describe(action: &Action) -> String {
    action.to_string()
}

/// The most actions handed to the backend at once: how often cancellation is checked. Large
/// enough to keep link batches big, small enough that Ctrl-C waits for little.
pub const SLICE: usize = 200;

/// Link and unlink phases are sliced larger: their actions travel in bulk requests of hundreds
/// (`--batch-size`), so a slice this size is about 100 requests at the default batch size, a
/// few rounds at the default concurrency. Slices of `SLICE` would cap every bulk request at
/// the slice (21,000 links took 210 requests instead of 42), and every slice boundary splits a
/// batch of each link kind (BENCHMARKS.md).
pub const LINK_SLICE: usize = 50_000;

/// Runs `plan` through `backend`. `progress` receives one line per phase.
pub async fn apply<B: Backend>(backend: &B, plan: &Plan, progress: &mut dyn Write) -> Report {
    apply_with_cancel(backend, plan, progress, &AtomicBool::new(false)).await
}

/// `apply`, stopping early once `cancel` is set: nothing new starts, actions in flight finish,
/// and the actions not started are reported as skipped with `interrupted` set.
pub async fn apply_with_cancel<B: Backend>(
    backend: &B,
    plan: &Plan,
    progress: &mut dyn Write,
    cancel: &AtomicBool,
) -> Report {
    apply_with(backend, plan, progress, cancel, &Progress::none()).await
}

/// `apply_with_cancel`, counting the actions settled on `bar` (a progress bar on a terminal).
pub async fn apply_with<B: Backend>(
    backend: &B,
    plan: &Plan,
    progress: &mut dyn Write,
    cancel: &AtomicBool,
    bar: &Progress,
) -> Report {
    let mut report = Report::default();
    let mut failed: BTreeSet<Subject> = BTreeSet::new();
    let context = PhaseContext {
        fleet: &plan.fleet,
        now: chrono::Utc::now(),
        cancel,
        progress: bar,
    };
    bar.start("Applying", plan.actions.len() as u64);
    for (phase, actions) in plan.phases() {
        // The actions of one phase are independent: only failures of earlier phases block.
        let blocked_subjects = failed.clone();
        let blocked = |action: &Action| {
            blocked_subjects.contains(&action.subject(plan.backend))
                || action
                    .needs(plan.backend)
                    .iter()
                    .any(|need| blocked_subjects.contains(need))
        };
        let mut announced = false;
        let slice_len = match phase {
            Phase::Link | Phase::Unlink => LINK_SLICE,
            _ => SLICE,
        };
        for slice in actions.chunks(slice_len) {
            if cancel.load(Ordering::SeqCst) {
                if !report.interrupted {
                    let _ = writeln!(
                        progress,
                        "Interrupted: starting nothing new; the requests in flight have finished."
                    );
                }
                report.interrupted = true;
                context.progress.advance(slice.len() as u64);
                for action in slice {
                    report
                        .skipped
                        .push((action.clone(), Failure::NotStarted.to_string()));
                }
                continue;
            }
            let (runnable, held): (Vec<&Action>, Vec<&Action>) =
                slice.iter().partition(|a| !blocked(a));
            for action in held {
                let reason = if action.user().is_some()
                    && blocked_subjects.contains(&action.subject(plan.backend))
                {
                    "an earlier action for this user failed".to_string()
                } else {
                    let what: Vec<String> = std::iter::once(action.subject(plan.backend))
                        .chain(action.needs(plan.backend))
                        .filter(|s| blocked_subjects.contains(s))
                        .map(|s| s.to_string())
                        .collect();
                    format!("an earlier action for {} failed", what.join(", "))
                };
                report.skipped.push((action.clone(), reason));
            }
            let runnable: Vec<Action> = runnable.into_iter().cloned().collect();
            if runnable.is_empty() {
                continue;
            }
            if !announced {
                let _ = writeln!(
                    progress,
                    "{}: {}...",
                    phase_label(phase),
                    crate::views::count(actions.len(), "action")
                );
                announced = true;
            }
            let outcomes = backend.apply_phase(&context, &runnable).await;
            // One outcome per action, in order; an action the backend left unanswered failed,
            // it never counts as done.
            let mut outcomes = outcomes.into_iter();
            for action in runnable {
                match outcomes.next().unwrap_or(Err(Failure::NotAnswered)) {
                    Ok(Applied::Done) => report.done.push(action),
                    Ok(Applied::Created { password }) => {
                        report
                            .credentials
                            .push((action.email().to_string(), password));
                        report.done.push(action);
                    }
                    Err(Failure::NotStarted) => {
                        if !report.interrupted {
                            let _ = writeln!(
                                progress,
                                "Interrupted: starting nothing new; the requests in flight have finished."
                            );
                        }
                        report.interrupted = true;
                        report
                            .skipped
                            .push((action, Failure::NotStarted.to_string()));
                    }
                    Err(message) => {
                        failed.insert(action.subject(plan.backend));
                        report.failed.push((action, message));
                    }
                }
            }
        }
    }
    bar.finish();
    report
}

fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Unlink => "Removing links",
        Phase::Disable => "Disabling users",
        Phase::Delete => "Deleting users",
        Phase::DeleteObject => "Deleting objects",
        Phase::Update => "Updating users",
        Phase::CreateObject => "Creating objects",
        Phase::UpdateObject => "Updating objects",
        Phase::Create => "Creating users",
        Phase::Link => "Adding links",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Outcome;
    use crate::core::model::{Account, Live, Scope};
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, TRACCAR, tf};
    use std::sync::Mutex;

    /// A backend that fails the actions whose description contains a marker string.
    struct Scripted {
        fail: &'static str,
        seen: Mutex<Vec<String>>,
    }

    impl Backend for Scripted {
        fn description(&self) -> &'static crate::core::model::Description {
            TRACCAR
        }
        async fn describe(&self) -> anyhow::Result<Account> {
            anyhow::bail!("not used")
        }
        async fn fetch(&self, _: &Scope) -> anyhow::Result<Live> {
            anyhow::bail!("not used")
        }
        async fn apply_phase(
            &self,
            _context: &crate::backend::PhaseContext<'_>,
            actions: &[Action],
        ) -> Vec<Outcome> {
            actions
                .iter()
                .map(|a| {
                    let d = describe(a);
                    self.seen.lock().unwrap().push(d.clone());
                    if d.contains(self.fail) {
                        Err("boom".into())
                    } else if matches!(a, Action::CreateUser { .. }) {
                        Ok(Applied::Created {
                            password: Secret::new("pw"),
                        })
                    } else {
                        Ok(Applied::Done)
                    }
                })
                .collect()
        }
    }

    fn plan(actions: Vec<Action>) -> Plan {
        Plan::new(
            TRACCAR,
            "f".into(),
            Account {
                backend: "test".into(),
                url: "http://127.0.0.1".into(),
                server_version: "1".into(),
                email: "admin@x".into(),
                role: "admin".into(),
            },
            actions,
        )
    }

    fn link(email: &str, target: &str) -> Action {
        Action::Link {
            email: email.into(),
            kind: DEVICE,
            target: target.into(),
        }
    }

    #[tokio::test]
    async fn a_failed_create_skips_that_users_links_only() {
        let backend = Scripted {
            fail: "create user a@x",
            seen: Mutex::new(vec![]),
        };
        let create = |e: &str| Action::CreateUser {
            email: e.into(),
            fields: Default::default(),
            managed_by: None,
        };
        let p = plan(vec![
            create("a@x"),
            create("b@x"),
            link("a@x", "D1"),
            link("b@x", "D2"),
        ]);
        let report = apply(&backend, &p, &mut Vec::new()).await;
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].0, link("a@x", "D1"));
        assert_eq!(report.done.len(), 2);
        assert_eq!(report.credentials.len(), 1);
        assert!(
            !backend
                .seen
                .lock()
                .unwrap()
                .iter()
                .any(|s| s.contains("D1"))
        );
        assert!(!report.is_success());
    }

    #[tokio::test]
    async fn a_failed_group_create_skips_what_needs_the_group_only() {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        use crate::testing::GROUP;
        let backend = Scripted {
            fail: "create group North",
            seen: Mutex::new(vec![]),
        };
        let group = |key: &str| Action::CreateObject {
            kind: GROUP_OBJECT,
            key: key.into(),
            fields: Default::default(),
        };
        let field = |name: &str| {
            TRACCAR
                .object(DEVICE_OBJECT)
                .and_then(|s| s.field(name))
                .expect("device field")
        };
        let device = |key: &str, group: &str| Action::CreateObject {
            kind: DEVICE_OBJECT,
            key: key.into(),
            fields: [(
                field("group"),
                crate::core::model::Value::Text(group.into()),
            )]
            .into(),
        };
        let mut actions = vec![
            group("North"),
            group("South"),
            device("BT-1", "North"),
            device("BT-2", "South"),
            Action::Link {
                email: "a@x".into(),
                kind: GROUP,
                target: "North".into(),
            },
            link("a@x", "BT-2"),
        ];
        crate::core::plan::sort(TRACCAR, &mut actions);
        let report = apply(&backend, &plan(actions), &mut Vec::new()).await;
        let skipped: Vec<String> = report
            .skipped
            .iter()
            .map(|(a, why)| format!("{a}: {why}"))
            .collect();
        assert_eq!(
            skipped,
            [
                "create device BT-1: an earlier action for group North failed",
                "link group North to a@x: an earlier action for group North failed",
            ]
        );
        assert_eq!(report.done.len(), 3, "{:?}", report.done);
    }

    #[tokio::test]
    async fn a_failed_unlink_skips_that_users_grants() {
        let backend = Scripted {
            fail: "unlink device D1",
            seen: Mutex::new(vec![]),
        };
        let p = plan(vec![
            Action::Unlink {
                email: "a@x".into(),
                kind: DEVICE,
                target: "D1".into(),
            },
            link("a@x", "D2"),
        ]);
        let report = apply(&backend, &p, &mut Vec::new()).await;
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.skipped.len(), 1);
        let mut out = Vec::new();
        report.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("failed:  unlink device D1 from a@x: boom"));
        assert!(text.contains("Apply: 0 done, 1 failed, 1 skipped."));
    }

    /// Sets the cancellation flag while its first phase runs, as Ctrl-C would.
    struct CancelDuringFirstPhase<'a> {
        cancel: &'a AtomicBool,
        calls: Mutex<usize>,
    }

    impl Backend for CancelDuringFirstPhase<'_> {
        fn description(&self) -> &'static crate::core::model::Description {
            TRACCAR
        }
        async fn describe(&self) -> anyhow::Result<Account> {
            anyhow::bail!("not used")
        }
        async fn fetch(&self, _: &Scope) -> anyhow::Result<Live> {
            anyhow::bail!("not used")
        }
        async fn apply_phase(
            &self,
            _context: &crate::backend::PhaseContext<'_>,
            actions: &[Action],
        ) -> Vec<Outcome> {
            *self.calls.lock().unwrap() += 1;
            self.cancel.store(true, Ordering::SeqCst);
            actions.iter().map(|_| Ok(Applied::Done)).collect()
        }
    }

    /// A backend that answers only the first action of each phase.
    struct Short;

    impl Backend for Short {
        fn description(&self) -> &'static crate::core::model::Description {
            TRACCAR
        }
        async fn describe(&self) -> anyhow::Result<Account> {
            anyhow::bail!("not used")
        }
        async fn fetch(&self, _: &Scope) -> anyhow::Result<Live> {
            anyhow::bail!("not used")
        }
        async fn apply_phase(
            &self,
            _context: &crate::backend::PhaseContext<'_>,
            actions: &[Action],
        ) -> Vec<Outcome> {
            actions.iter().take(1).map(|_| Ok(Applied::Done)).collect()
        }
    }

    #[tokio::test]
    async fn an_action_the_backend_did_not_answer_failed() {
        let plan = plan(vec![
            Action::DeleteUser {
                email: "a@x.test".into(),
            },
            Action::DeleteUser {
                email: "b@x.test".into(),
            },
        ]);
        let report = apply(&Short, &plan, &mut Vec::new()).await;
        assert_eq!(report.done.len(), 1);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].1, Failure::NotAnswered);
        assert!(!report.is_success());
    }

    #[tokio::test]
    async fn cancellation_finishes_what_is_in_flight_and_starts_nothing_new() {
        let cancel = AtomicBool::new(false);
        let backend = CancelDuringFirstPhase {
            cancel: &cancel,
            calls: Mutex::new(0),
        };
        let p = plan(vec![
            Action::Unlink {
                email: "a@x".into(),
                kind: DEVICE,
                target: "D1".into(),
            },
            link("a@x", "D2"),
            link("b@x", "D3"),
        ]);
        let mut progress = Vec::new();
        let report = apply_with_cancel(&backend, &p, &mut progress, &cancel).await;
        assert_eq!(*backend.calls.lock().unwrap(), 1);
        assert_eq!(report.done.len(), 1);
        assert_eq!(report.skipped.len(), 2);
        assert!(report.interrupted);
        assert!(!report.is_success());
        let mut out = Vec::new();
        report.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Apply interrupted: 1 done, 0 failed, 0 skipped, 2 not started."),
            "{text}"
        );
        assert!(String::from_utf8(progress).unwrap().contains("Interrupted"));
    }
}
