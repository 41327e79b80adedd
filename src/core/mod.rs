//! The pure core: the backend-neutral model, diff, plan (ordering and refusals), risk, safety
//! limits and `--target`. Nothing here does I/O, prints, reads the clock or knows about the
//! command line, YAML or HTTP; everything is a function of its arguments.

pub(crate) mod cascade;
pub(crate) mod diff;
pub mod model;
pub(crate) mod objects;
pub mod phase;
pub mod plan;
pub(crate) mod record;
pub(crate) mod risk;
pub(crate) mod safety;
pub mod secret;
pub(crate) mod suggest;
pub(crate) mod target;
