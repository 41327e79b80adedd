//! Views of the core's values: the plan rendered as text, JSON or markdown, the drift report,
//! the exported fleet file, saved plans and metrics files. Pure formatting and parsing of
//! formats; the only file I/O is `metrics::write_atomically`.

pub(crate) mod drift;
pub(crate) mod export;
pub(crate) mod metrics;
pub mod render;
pub(crate) mod saved;
