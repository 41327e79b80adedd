//! sandbox-kit: the machinery fleetform's two emulators share, so that the Traccar sandbox
//! (`crates/traccar-sandbox`) and the telematics sandbox (`crates/telematics-sandbox`) keep one
//! request log, one fault injection and one connection loop instead of two copies that drift.
//!
//! It owns: the request log and the counters every sandbox keeps ([`Recorder`], [`LoggedRequest`],
//! [`RequestInfo`], [`Counters`]); the fault a hook may inject ([`Fault`], [`FaultHook`]) and the
//! service-neutral part of fault plans ([`faults`]: one-shot hooks, the seeded roll, the kinds and
//! their counts); the HTTP/1.1 connection loop that applies the latency knob and the faults, can
//! close a connection without answering, and logs every request ([`Server`], [`Service`]); and
//! the query-string decoding both services share ([`query_pairs`]).
//!
//! What it must not do: know a service. Route names, what a route's request looks like, the
//! answers (a fault's `Content-Type`, the error bodies), which requests a plan targets and the
//! counters beyond the common ones belong to each sandbox, which plugs them in through
//! [`Service`] and [`Counters`] and re-exports these types under its own paths. Like the
//! sandboxes, it never persists anything and never depends on fleetform.

pub mod faults;
mod log;
mod query;
mod server;

use std::sync::{Mutex, MutexGuard};

pub use faults::{Fault, FaultHook};
pub use log::{CommonCounts, Counters, LOG_CAPACITY, LoggedRequest, Recorder, RequestInfo};
pub use query::{percent_decode, query_pairs};
pub use server::{Server, Service};

/// Locks `m`, taking over a lock a panicking thread left poisoned.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a sandbox's data half-written in a way that
    // matters more than stopping the server; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
