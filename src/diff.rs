//! diff: to be written.
