//! Fault injection built on [`Sandbox::set_fault_hook`](crate::Sandbox::set_fault_hook): one-shot
//! hooks for the named failure scenarios (a lost registration answer, a 5xx, a 429 on login, a
//! body whose `Status` disagrees with HTTP), and seeded plans that fault a fraction of the
//! requests. It owns no server state and changes nothing but the answers.
//!
//! Determinism: whether request number `seq` is faulted by a [`Plan`], and how, is a pure
//! function of `(seed, seq)` (a SplitMix64 hash), so the same seed and the same request order
//! give the same faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Fault, FaultHook, RequestInfo, route};

/// A hook that injects `fault` into the `nth` (1-based) request of `route` (a [`route`] name)
/// and leaves every other request alone. `nth(route::REGISTER, 1, Fault::AnswerLost)` is the
/// lost registration answer: the user is created, the client hears nothing.
pub fn nth(route: &str, nth: u64, fault: Fault) -> FaultHook {
    let route = route.to_string();
    let seen = AtomicU64::new(0);
    Arc::new(move |info: &RequestInfo| {
        if info.route != route {
            return None;
        }
        (seen.fetch_add(1, Ordering::SeqCst) + 1 == nth).then(|| fault.clone())
    })
}

/// [`nth`] with `nth = 1`.
pub fn first(route: &str, fault: Fault) -> FaultHook {
    nth(route, 1, fault)
}

/// The service's answer to an internal error: 500 with the envelope.
pub fn server_error() -> Fault {
    Fault::Respond {
        status: 500,
        body: r#"{"Status":500,"Title":"An error occurred while processing your request.","Errors":[]}"#
            .into(),
    }
}

/// A gateway in front of the service that is down: 503, plain text.
pub fn unavailable() -> Fault {
    Fault::Respond {
        status: 503,
        body: "Service Unavailable".into(),
    }
}

/// A 429 as the login limit answers it, without counting a login (e.g. for `route::LOGIN`).
pub fn too_many_requests() -> Fault {
    Fault::Respond {
        status: 429,
        body: r#"{"Status":429,"Title":"Too many login attempts from this address; it is blocked for a while.","Errors":[]}"#
            .into(),
    }
}

/// HTTP 200 whose envelope says `Status: 500` (notes §3: a client treats a body `Status` other
/// than 200 as an error even on HTTP 200; UNVERIFIED that the service ever does this).
pub fn status_mismatch() -> Fault {
    Fault::Respond {
        status: 200,
        body: r#"{"Result":null,"Status":500,"Title":"Internal error","Errors":[]}"#.into(),
    }
}

/// One kind of fault a [`Plan`] may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 500 (envelope) or 503 (plain text); the request is not handled.
    ServerError,
    /// 429; the request is not handled.
    TooManyRequests,
    /// The connection is closed without an answer; the request is not handled.
    Reset,
    /// The answer comes after `Plan::slow`; the request is handled after the wait.
    Slow,
    /// The request is handled (its changes are applied), then the connection is closed.
    AnswerLost,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::ServerError,
        Kind::TooManyRequests,
        Kind::Reset,
        Kind::Slow,
        Kind::AnswerLost,
    ];

    fn index(self) -> usize {
        match self {
            Kind::ServerError => 0,
            Kind::TooManyRequests => 1,
            Kind::Reset => 2,
            Kind::Slow => 3,
            Kind::AnswerLost => 4,
        }
    }
}

/// Which requests a plan may fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    All,
    /// `find`, `GetFilteredPage`, the own profile and the Accounts API reads.
    Reads,
    /// Registration, update, delete and change of instance.
    Writes,
    /// Login and refresh.
    Auth,
}

/// The class of a route name.
pub fn target_of(route_name: &str) -> Target {
    match route_name {
        route::LOGIN | route::REFRESH => Target::Auth,
        route::REGISTER
        | route::REGISTER_MANY
        | route::UPDATE
        | route::DELETE
        | route::CHANGE_INSTANCE => Target::Writes,
        _ => Target::Reads,
    }
}

/// A fault plan: which fraction of the requests fail, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    /// The probability, from 0.0 to 1.0, that a request is faulted.
    pub rate: f64,
    /// The kinds to choose from, uniformly. Empty: no faults.
    pub kinds: Vec<Kind>,
    /// How long a `Slow` answer is delayed.
    pub slow: Duration,
    pub target: Target,
}

impl Plan {
    /// Every kind, on every request, at `rate`; slow answers take 2 s.
    pub fn new(seed: u64, rate: f64) -> Plan {
        Plan {
            seed,
            rate,
            kinds: Kind::ALL.to_vec(),
            slow: Duration::from_secs(2),
            target: Target::All,
        }
    }

    /// The fault for one request, if any: a pure function of the seed and `info`.
    pub fn decide(&self, info: &RequestInfo) -> Option<(Kind, Fault)> {
        if self.kinds.is_empty() {
            return None;
        }
        if self.target != Target::All && target_of(&info.route) != self.target {
            return None;
        }
        let roll = splitmix64(self.seed ^ splitmix64(info.seq));
        // The top 53 bits as a uniform fraction in [0, 1).
        let fraction = (roll >> 11) as f64 / (1u64 << 53) as f64;
        if fraction >= self.rate {
            return None;
        }
        let pick = splitmix64(roll);
        let len = u64::try_from(self.kinds.len()).unwrap_or(1);
        let kind = self.kinds[usize::try_from(pick % len).unwrap_or(0)];
        let fault = match kind {
            Kind::ServerError if (pick >> 8).is_multiple_of(2) => server_error(),
            Kind::ServerError => unavailable(),
            Kind::TooManyRequests => too_many_requests(),
            Kind::Reset => Fault::Drop,
            Kind::Slow => Fault::Delay(self.slow),
            Kind::AnswerLost => Fault::AnswerLost,
        };
        Some((kind, fault))
    }

    /// The hook to install with `Sandbox::set_fault_hook`, and the counts of what it injected.
    pub fn hook(self) -> (FaultHook, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let seen = counts.clone();
        let hook: FaultHook = Arc::new(move |info: &RequestInfo| {
            let (kind, fault) = self.decide(info)?;
            seen.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
            Some(fault)
        });
        (hook, counts)
    }
}

/// How many faults of each kind a hook injected.
#[derive(Debug, Default)]
pub struct Counts {
    by_kind: [AtomicU64; 5],
}

impl Counts {
    pub fn get(&self, kind: Kind) -> u64 {
        self.by_kind[kind.index()].load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        Kind::ALL.iter().map(|k| self.get(*k)).sum()
    }
}

/// SplitMix64: a tiny, well-mixed 64-bit hash (Steele, Lea, Flood 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: u64, route: &str) -> RequestInfo {
        RequestInfo {
            seq,
            method: route.split(' ').next().unwrap_or_default().into(),
            path: String::new(),
            query: None,
            route: route.into(),
        }
    }

    #[test]
    fn nth_faults_only_that_request_of_that_route() {
        let hook = nth(route::REGISTER, 2, Fault::AnswerLost);
        assert_eq!(hook(&info(1, route::REGISTER)), None);
        assert_eq!(hook(&info(2, route::LIST)), None);
        assert_eq!(hook(&info(3, route::REGISTER)), Some(Fault::AnswerLost));
        assert_eq!(hook(&info(4, route::REGISTER)), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let run = |p: &Plan| -> Vec<Option<Fault>> {
            (1..200)
                .map(|s| p.decide(&info(s, route::FIND)).map(|(_, f)| f))
                .collect()
        };
        assert_eq!(run(&Plan::new(7, 0.3)), run(&Plan::new(7, 0.3)));
        assert_ne!(run(&Plan::new(7, 0.3)), run(&Plan::new(8, 0.3)));
    }

    #[test]
    fn the_rate_and_every_kind_are_respected() {
        let plan = Plan::new(42, 0.1);
        let mut kinds = std::collections::BTreeSet::new();
        let mut faulted = 0;
        for seq in 1..=10_000 {
            if let Some((kind, _)) = plan.decide(&info(seq, route::UPDATE)) {
                faulted += 1;
                kinds.insert(kind);
            }
        }
        assert!((800..1200).contains(&faulted), "{faulted}");
        assert_eq!(kinds.len(), Kind::ALL.len());
    }

    #[test]
    fn targets_select_reads_writes_or_auth() {
        let mut plan = Plan::new(1, 1.0);
        plan.target = Target::Writes;
        assert!(plan.decide(&info(1, route::LIST)).is_none());
        assert!(plan.decide(&info(1, route::REGISTER)).is_some());
        plan.target = Target::Reads;
        assert!(plan.decide(&info(1, route::LIST)).is_some());
        assert!(plan.decide(&info(1, route::DELETE)).is_none());
        plan.target = Target::Auth;
        assert!(plan.decide(&info(1, route::LOGIN)).is_some());
        assert!(plan.decide(&info(1, route::FIND)).is_none());
    }
}
