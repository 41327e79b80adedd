//! The pure core: the backend-neutral model, diff, plan (ordering and refusals), risk, safety
//! limits and `--target`. Nothing here does I/O, prints, reads the clock or knows about the
//! command line, YAML or HTTP; everything is a function of its arguments.

pub mod description;
pub mod diff;
pub mod model;
pub mod plan;
pub mod record;
pub mod risk;
pub mod safety;
pub mod secret;
pub mod target;
