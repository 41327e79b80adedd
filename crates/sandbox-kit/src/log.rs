//! The request log and the counters: what a sandbox records of each request (never headers or
//! bodies, so never a token, password or key), what a fault hook sees of it, and the counters
//! every sandbox keeps inside its own `Stats`. [`Recorder`] holds them with the installed fault
//! hook behind short locks that are never held across an await. It decides nothing about
//! answers; the connection loop (`server.rs`) calls it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use crate::faults::{Fault, FaultHook};
use crate::lock;

/// One request as recorded in the log. Never holds headers or bodies, so no token, password or
/// key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The query string as the sandbox logs it ([`Service::logged_query`](crate::Service::logged_query):
    /// the Traccar sandbox replaces `token` and `password` values by `REDACTED`).
    pub query: Option<String>,
    /// The status answered; 0 when the connection was closed without an answer (a
    /// [`Fault::Drop`], a body too large to read, or a [`Fault::AnswerLost`] in a sandbox whose
    /// [`Service::LOST_ANSWER_STATUS`](crate::Service::LOST_ANSWER_STATUS) is false).
    pub status: u16,
    /// The route name, e.g. `"PUT /api/users/{id}"` or `"PUT /v1/Management/users"`.
    pub route: String,
}

/// What a fault hook sees of a request, before it is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// 1-based sequence number of the request since start.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The route name, e.g. `"POST /api/permissions"` or `"POST /v1/Registration/create"`.
    pub route: String,
}

/// The most requests kept in the log (oldest dropped first).
pub const LOG_CAPACITY: usize = 100_000;

/// The counters every sandbox keeps, borrowed from its `Stats`.
pub struct CommonCounts<'a> {
    /// Every request received, including faulted ones.
    pub total: &'a mut u64,
    /// Per route name; unmatched paths count as `"<METHOD> (unmatched)"`.
    pub by_route: &'a mut BTreeMap<String, u64>,
    /// Requests a fault hook answered, delayed, dropped or lost.
    pub faulted: &'a mut u64,
}

/// A sandbox's `Stats`: its own counters plus the common ones the connection loop keeps.
pub trait Counters: Clone + Default + Send + 'static {
    /// The common counters, for the loop to count into.
    fn common(&mut self) -> CommonCounts<'_>;
}

struct Metrics<S> {
    seq: u64,
    stats: S,
    log: VecDeque<LoggedRequest>,
}

/// The request log, the counters and the fault hook of one running sandbox.
pub struct Recorder<S> {
    metrics: Mutex<Metrics<S>>,
    hook: Mutex<Option<FaultHook>>,
}

impl<S: Counters> Default for Recorder<S> {
    fn default() -> Recorder<S> {
        Recorder {
            metrics: Mutex::new(Metrics {
                seq: 0,
                stats: S::default(),
                log: VecDeque::new(),
            }),
            hook: Mutex::new(None),
        }
    }
}

impl<S: Counters> Recorder<S> {
    /// The counters since start or the last [`Recorder::reset`].
    pub fn stats(&self) -> S {
        lock(&self.metrics).stats.clone()
    }

    /// The request log, oldest first (at most [`LOG_CAPACITY`] entries).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.metrics).log.iter().cloned().collect()
    }

    /// Clears the counters and the request log (not the sequence numbers hooks see).
    pub fn reset(&self) {
        let mut metrics = lock(&self.metrics);
        metrics.stats = S::default();
        metrics.log.clear();
    }

    /// Changes the sandbox's own counters, e.g. a refused login.
    pub fn count(&self, f: impl FnOnce(&mut S)) {
        f(&mut lock(&self.metrics).stats);
    }

    /// Installs (or removes) the fault hook.
    pub fn set_hook(&self, hook: Option<FaultHook>) {
        *lock(&self.hook) = hook;
    }

    /// Numbers and counts a request that has just arrived.
    pub(crate) fn arrive(
        &self,
        method: String,
        path: String,
        query: Option<String>,
        route: String,
    ) -> RequestInfo {
        let mut metrics = lock(&self.metrics);
        metrics.seq += 1;
        let seq = metrics.seq;
        let common = metrics.stats.common();
        *common.total += 1;
        *common.by_route.entry(route.clone()).or_insert(0) += 1;
        RequestInfo {
            seq,
            method,
            path,
            query,
            route,
        }
    }

    /// Asks the hook (called without any lock held) and counts a fault it returns.
    pub(crate) fn fault_for(&self, info: &RequestInfo) -> Option<Fault> {
        let hook = lock(&self.hook).clone();
        let fault = hook.and_then(|h| h(info));
        if fault.is_some() {
            *lock(&self.metrics).stats.common().faulted += 1;
        }
        fault
    }

    /// Logs a request once its outcome is known.
    pub(crate) fn record(&self, info: &RequestInfo, status: u16) {
        let mut metrics = lock(&self.metrics);
        if metrics.log.len() >= LOG_CAPACITY {
            metrics.log.pop_front();
        }
        metrics.log.push_back(LoggedRequest {
            method: info.method.clone(),
            path: info.path.clone(),
            query: info.query.clone(),
            status,
            route: info.route.clone(),
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;

    /// A sandbox's `Stats`, for the kit's tests: the common counters and one of its own.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub(crate) struct Stats {
        pub(crate) total: u64,
        pub(crate) by_route: BTreeMap<String, u64>,
        pub(crate) faulted: u64,
        pub(crate) own: u64,
    }

    impl Counters for Stats {
        fn common(&mut self) -> CommonCounts<'_> {
            CommonCounts {
                total: &mut self.total,
                by_route: &mut self.by_route,
                faulted: &mut self.faulted,
            }
        }
    }

    fn arrive(recorder: &Recorder<Stats>, route: &str) -> RequestInfo {
        recorder.arrive("GET".into(), "/x".into(), None, route.into())
    }

    #[test]
    fn requests_are_numbered_counted_and_logged_with_their_status() {
        let recorder = Recorder::<Stats>::default();
        let a = arrive(&recorder, "GET /a");
        let b = arrive(&recorder, "GET /b");
        let c = arrive(&recorder, "GET /a");
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        recorder.record(&a, 200);
        recorder.record(&b, 0);
        recorder.count(|s| s.own += 1);
        let stats = recorder.stats();
        assert_eq!(stats.total, 3);
        assert_eq!(stats.by_route.get("GET /a"), Some(&2));
        assert_eq!(stats.own, 1);
        let statuses: Vec<u16> = recorder.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![200, 0]);
        recorder.reset();
        assert_eq!(recorder.stats(), Stats::default());
        assert!(recorder.requests().is_empty());
        assert_eq!(arrive(&recorder, "GET /a").seq, 4, "numbering goes on");
    }

    #[test]
    fn only_faults_the_hook_returns_are_counted() {
        let recorder = Recorder::<Stats>::default();
        recorder.set_hook(Some(Arc::new(|info: &RequestInfo| {
            (info.route == "GET /bad").then_some(Fault::Drop)
        })));
        let good = arrive(&recorder, "GET /good");
        let bad = arrive(&recorder, "GET /bad");
        assert_eq!(recorder.fault_for(&good), None);
        assert_eq!(recorder.fault_for(&bad), Some(Fault::Drop));
        assert_eq!(recorder.stats().faulted, 1);
        recorder.set_hook(None);
        assert_eq!(recorder.fault_for(&bad), None);
    }

    #[test]
    fn the_log_keeps_the_newest_entries() {
        let recorder = Recorder::<Stats>::default();
        let info = arrive(&recorder, "GET /a");
        for _ in 0..LOG_CAPACITY {
            recorder.record(&info, 200);
        }
        recorder.record(&info, 404);
        let log = recorder.requests();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log.last().map(|r| r.status), Some(404));
    }
}
