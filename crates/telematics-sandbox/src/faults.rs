//! Fault injection built on [`Sandbox::set_fault_hook`](crate::Sandbox::set_fault_hook): the
//! service's answers for the named failure scenarios (a 5xx, a 429 on login, a body whose
//! `Status` disagrees with HTTP), one-shot hooks ([`nth`], [`first`]: e.g.
//! `first(route::REGISTER, Fault::AnswerLost)` is the lost registration answer, the user is
//! created and the client hears nothing), and seeded plans that fault a fraction of the
//! requests. The one-shot hooks, the seeded roll, [`Kind`] and [`Counts`] are sandbox-kit's;
//! this file keeps what is the telematics service's: its error answers and which routes a
//! [`Target`] selects. It owns no server state and changes nothing but the answers.
//!
//! Determinism: whether request number `seq` is faulted by a [`Plan`], and how, is a pure
//! function of `(seed, seq)` (a SplitMix64 hash), so the same seed and the same request order
//! give the same faults.

use std::sync::Arc;
use std::time::Duration;

pub use sandbox_kit::faults::{Counts, Kind, first, nth};

use super::{Fault, FaultHook, RequestInfo, route};

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

    /// The fault for one request, if any: a pure function of the seed and `info`. A
    /// `ServerError` is [`server_error`] or [`unavailable`]; a `TooManyRequests` is
    /// [`too_many_requests`].
    pub fn decide(&self, info: &RequestInfo) -> Option<(Kind, Fault)> {
        if self.target != Target::All && target_of(&info.route) != self.target {
            return None;
        }
        let (kind, pick) = sandbox_kit::faults::roll(self.seed, self.rate, &self.kinds, info.seq)?;
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
        sandbox_kit::faults::counting(move |info| self.decide(info))
    }
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

    /// The faults a plan with only `kind` injects into 300 requests, each once.
    fn answers(kind: Kind) -> Vec<Fault> {
        let mut plan = Plan::new(5, 1.0);
        plan.kinds = vec![kind];
        let mut seen: Vec<Fault> = Vec::new();
        for fault in (1..=300).filter_map(|s| plan.decide(&info(s, route::UPDATE)).map(|(_, f)| f))
        {
            if !seen.contains(&fault) {
                seen.push(fault);
            }
        }
        seen
    }

    #[test]
    fn each_kind_answers_as_the_service_and_a_network_do() {
        let server_errors = answers(Kind::ServerError);
        assert_eq!(server_errors.len(), 2, "{server_errors:?}");
        assert!(server_errors.contains(&server_error()));
        assert!(server_errors.contains(&unavailable()));
        assert_eq!(answers(Kind::TooManyRequests), vec![too_many_requests()]);
        assert_eq!(answers(Kind::Reset), vec![Fault::Drop]);
        assert_eq!(
            answers(Kind::Slow),
            vec![Fault::Delay(Duration::from_secs(2))]
        );
        assert_eq!(answers(Kind::AnswerLost), vec![Fault::AnswerLost]);
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
