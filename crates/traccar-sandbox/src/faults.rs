//! Seeded, deterministic fault injection for the sandbox, built on `Sandbox::set_fault_hook`.
//! A `Plan` (seed, rate, kinds) becomes a `FaultHook` that faults a fraction of the requests
//! with the failures a real network and a real Traccar produce: 5xx answers, 429 with
//! `Retry-After`, connection resets, answers slower than the client's timeout, and requests
//! applied on the server whose answer is lost. It owns no server state and changes nothing but
//! the answers. The seeded roll, [`Kind`] and [`Counts`] are sandbox-kit's (shared with the
//! telematics sandbox); this file keeps what is Traccar's: the answers of each kind and which
//! requests a [`Target`] selects.
//!
//! Determinism: whether request number `seq` is faulted, and how, is a pure function of
//! `(seed, seq)` (a SplitMix64 hash), so the same seed and the same request order give the same
//! faults. Under concurrent requests the order itself may vary between runs; the rate does not.

use std::sync::Arc;
use std::time::Duration;

pub use sandbox_kit::faults::{Counts, Kind};

use super::{Fault, FaultHook, RequestInfo};

/// Which requests a plan may fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    All,
    /// GET only.
    Reads,
    /// Everything but GET.
    Writes,
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
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u32,
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
            retry_after_secs: 1,
            target: Target::All,
        }
    }

    /// The fault for one request, if any: a pure function of the seed and `info`. A
    /// `ServerError` is a 500 or 503 with a Java stack trace, or Traccar's transient 400
    /// `StorageException`; a `TooManyRequests` is a 429 with `Retry-After`.
    pub fn decide(&self, info: &RequestInfo) -> Option<(Kind, Fault)> {
        let targeted = match self.target {
            Target::All => true,
            Target::Reads => info.method == "GET",
            Target::Writes => info.method != "GET",
        };
        if !targeted {
            return None;
        }
        let (kind, pick) = sandbox_kit::faults::roll(self.seed, self.rate, &self.kinds, info.seq)?;
        let fault = match kind {
            Kind::ServerError => match (pick >> 8) % 3 {
                0 => Fault::Respond {
                    status: 500,
                    body: java_trace("java.lang.RuntimeException: injected fault"),
                },
                1 => Fault::Respond {
                    status: 503,
                    body: "Service Unavailable".into(),
                },
                _ => Fault::Respond {
                    status: 400,
                    body: java_trace(
                        "org.traccar.storage.StorageException: java.sql.SQLTransientConnectionException: Connection is not available",
                    ),
                },
            },
            Kind::TooManyRequests => Fault::RespondWith {
                status: 429,
                headers: vec![("Retry-After".into(), self.retry_after_secs.to_string())],
                body: "Too Many Requests".into(),
            },
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

fn java_trace(first_line: &str) -> String {
    format!("{first_line}\n\tat org.traccar.api.BaseResource.inject(BaseResource.java:1)\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: u64, method: &str) -> RequestInfo {
        RequestInfo {
            seq,
            method: method.into(),
            path: "/api/users".into(),
            query: None,
            route: format!("{method} /api/users"),
        }
    }

    /// The faults a plan with only `kind` injects into 300 requests, each once.
    fn answers(kind: Kind) -> Vec<Fault> {
        let mut plan = Plan::new(5, 1.0);
        plan.kinds = vec![kind];
        plan.retry_after_secs = 7;
        let mut seen: Vec<Fault> = Vec::new();
        for fault in (1..=300).filter_map(|s| plan.decide(&info(s, "POST")).map(|(_, f)| f)) {
            if !seen.contains(&fault) {
                seen.push(fault);
            }
        }
        seen
    }

    #[test]
    fn each_kind_answers_as_traccar_and_a_network_do() {
        let mut statuses: Vec<u16> = answers(Kind::ServerError)
            .iter()
            .map(|f| match f {
                Fault::Respond { status, .. } => *status,
                other => panic!("{other:?}"),
            })
            .collect();
        statuses.sort_unstable();
        assert_eq!(statuses, vec![400, 500, 503]);
        assert_eq!(
            answers(Kind::TooManyRequests),
            vec![Fault::RespondWith {
                status: 429,
                headers: vec![("Retry-After".into(), "7".into())],
                body: "Too Many Requests".into(),
            }]
        );
        assert_eq!(answers(Kind::Reset), vec![Fault::Drop]);
        assert_eq!(
            answers(Kind::Slow),
            vec![Fault::Delay(Duration::from_secs(2))]
        );
        assert_eq!(answers(Kind::AnswerLost), vec![Fault::AnswerLost]);
    }

    #[test]
    fn targets_select_reads_or_writes() {
        let mut plan = Plan::new(1, 1.0);
        plan.target = Target::Writes;
        assert!(plan.decide(&info(1, "GET")).is_none());
        assert!(plan.decide(&info(1, "PUT")).is_some());
        plan.target = Target::Reads;
        assert!(plan.decide(&info(1, "GET")).is_some());
        assert!(plan.decide(&info(1, "DELETE")).is_none());
    }
}
