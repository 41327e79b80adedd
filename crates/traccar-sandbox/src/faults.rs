//! Seeded, deterministic fault injection for the sandbox, built on `Sandbox::set_fault_hook`.
//! A `Plan` (seed, rate, kinds) becomes a `FaultHook` that faults a fraction of the requests
//! with the failures a real network and a real Traccar produce: 5xx answers, 429 with
//! `Retry-After`, connection resets, answers slower than the client's timeout, and requests
//! applied on the server whose answer is lost. It owns no server state and changes nothing but
//! the answers.
//!
//! Determinism: whether request number `seq` is faulted, and how, is a pure function of
//! `(seed, seq)` (a SplitMix64 hash), so the same seed and the same request order give the same
//! faults. Under concurrent requests the order itself may vary between runs; the rate does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Fault, FaultHook, RequestInfo};

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 500 or 503 with a Java stack trace, or Traccar's transient 400 `StorageException`; the
    /// request is not handled.
    ServerError,
    /// 429 with `Retry-After`; the request is not handled.
    TooManyRequests,
    /// The connection is closed without an answer; the request is not handled.
    Reset,
    /// The answer comes after `Plan::slow` (set it above the client's timeout); the request is
    /// handled after the wait.
    Slow,
    /// The request is handled (its changes are applied), then the connection is closed without
    /// an answer.
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

    /// The fault for one request, if any: a pure function of the seed and `info`.
    pub fn decide(&self, info: &RequestInfo) -> Option<(Kind, Fault)> {
        if self.kinds.is_empty() {
            return None;
        }
        let targeted = match self.target {
            Target::All => true,
            Target::Reads => info.method == "GET",
            Target::Writes => info.method != "GET",
        };
        if !targeted {
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

fn java_trace(first_line: &str) -> String {
    format!("{first_line}\n\tat org.traccar.api.BaseResource.inject(BaseResource.java:1)\n")
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

    fn info(seq: u64, method: &str) -> RequestInfo {
        RequestInfo {
            seq,
            method: method.into(),
            path: "/api/users".into(),
            query: None,
            route: format!("{method} /api/users"),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let a = Plan::new(7, 0.3);
        let b = Plan::new(7, 0.3);
        let c = Plan::new(8, 0.3);
        let run = |p: &Plan| -> Vec<Option<Fault>> {
            (1..200)
                .map(|s| p.decide(&info(s, "GET")).map(|(_, f)| f))
                .collect()
        };
        assert_eq!(run(&a), run(&b));
        assert_ne!(run(&a), run(&c));
    }

    #[test]
    fn the_rate_and_every_kind_are_respected() {
        let plan = Plan::new(42, 0.1);
        let mut kinds = std::collections::BTreeSet::new();
        let mut faulted = 0;
        for seq in 1..=10_000 {
            if let Some((kind, _)) = plan.decide(&info(seq, "POST")) {
                faulted += 1;
                kinds.insert(kind);
            }
        }
        assert!((800..1200).contains(&faulted), "{faulted}");
        assert_eq!(kinds.len(), Kind::ALL.len());
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
