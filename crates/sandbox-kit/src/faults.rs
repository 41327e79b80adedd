//! Fault injection, the service-neutral part: the [`Fault`] a hook may return for one request,
//! one-shot hooks that fault the n-th request of a route ([`nth`], [`first`]), and the pieces of
//! a seeded fault plan ([`roll`], [`Kind`], [`Counts`], [`counting`]). Each sandbox's own
//! `faults` module keeps its `Plan`: which requests a target selects and what a fault of each
//! kind answers are the service's. It owns no server state and changes nothing but the answers.
//!
//! Determinism: whether request number `seq` is faulted by a plan, and with which kind, is a
//! pure function of `(seed, seq)` (a SplitMix64 hash), so the same seed and the same request
//! order give the same faults. Under concurrent requests the order itself may vary between
//! runs; the rate does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::RequestInfo;

/// A fault to inject into one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and body without handling the request (the sandbox picks the
    /// `Content-Type`: plain text, or JSON where its service answers JSON).
    Respond { status: u16, body: String },
    /// `Respond`, with extra headers (e.g. `Retry-After` on a 429).
    RespondWith {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without answering and without handling the request.
    Drop,
    /// Handle the request (its changes are applied), then close the connection without
    /// answering: e.g. a lost registration answer.
    AnswerLost,
}

/// Decides per request whether to inject a fault.
pub type FaultHook = Arc<dyn Fn(&RequestInfo) -> Option<Fault> + Send + Sync>;

/// A hook that injects `fault` into the `nth` (1-based) request of `route` (a route name, as in
/// [`RequestInfo::route`]) and leaves every other request alone.
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

/// One kind of fault a plan may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A 5xx (or the service's transient error) answer; the request is not handled.
    ServerError,
    /// 429; the request is not handled.
    TooManyRequests,
    /// The connection is closed without an answer; the request is not handled.
    Reset,
    /// The answer comes after the plan's `slow` delay (set it above the client's timeout); the
    /// request is handled after the wait.
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

/// Whether request number `seq` is faulted, at `rate` (0.0 to 1.0), and with which of `kinds`
/// (chosen uniformly; none when `kinds` is empty). The second value is a further random number
/// of the same roll, for the plan to choose among a kind's answers.
pub fn roll(seed: u64, rate: f64, kinds: &[Kind], seq: u64) -> Option<(Kind, u64)> {
    if kinds.is_empty() {
        return None;
    }
    let roll = splitmix64(seed ^ splitmix64(seq));
    // The top 53 bits as a uniform fraction in [0, 1).
    let fraction = (roll >> 11) as f64 / (1u64 << 53) as f64;
    if fraction >= rate {
        return None;
    }
    let pick = splitmix64(roll);
    let len = u64::try_from(kinds.len()).unwrap_or(1);
    let kind = kinds[usize::try_from(pick % len).unwrap_or(0)];
    Some((kind, pick))
}

/// The hook of a plan's `decide`, and the counts of what it injected.
pub fn counting(
    decide: impl Fn(&RequestInfo) -> Option<(Kind, Fault)> + Send + Sync + 'static,
) -> (FaultHook, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let seen = counts.clone();
    let hook: FaultHook = Arc::new(move |info: &RequestInfo| {
        let (kind, fault) = decide(info)?;
        seen.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
        Some(fault)
    });
    (hook, counts)
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
        let hook = nth("POST /a", 2, Fault::AnswerLost);
        assert_eq!(hook(&info(1, "POST /a")), None);
        assert_eq!(hook(&info(2, "GET /b")), None);
        assert_eq!(hook(&info(3, "POST /a")), Some(Fault::AnswerLost));
        assert_eq!(hook(&info(4, "POST /a")), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_rolls() {
        let run = |seed: u64| -> Vec<Option<(Kind, u64)>> {
            (1..200).map(|s| roll(seed, 0.3, &Kind::ALL, s)).collect()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_rate_and_every_kind_are_respected() {
        let mut kinds = std::collections::BTreeSet::new();
        let mut faulted = 0;
        for seq in 1..=10_000 {
            if let Some((kind, _)) = roll(42, 0.1, &Kind::ALL, seq) {
                faulted += 1;
                kinds.insert(kind);
            }
        }
        assert!((800..1200).contains(&faulted), "{faulted}");
        assert_eq!(kinds.len(), Kind::ALL.len());
        assert_eq!(roll(42, 1.0, &[], 1), None, "no kinds, no faults");
        assert_eq!(roll(42, 0.0, &Kind::ALL, 1), None, "rate 0, no faults");
    }

    #[test]
    fn a_counting_hook_counts_what_it_injects_by_kind() {
        let (hook, counts) = counting(|info: &RequestInfo| {
            info.seq
                .is_multiple_of(2)
                .then_some((Kind::Reset, Fault::Drop))
        });
        let injected = (1..=6).filter_map(|s| hook(&info(s, "GET /a"))).count();
        assert_eq!(injected, 3);
        assert_eq!(counts.get(Kind::Reset), 3);
        assert_eq!(counts.get(Kind::Slow), 0);
        assert_eq!(counts.total(), 3);
    }
}
