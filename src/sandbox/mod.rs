//! sandbox: to be written.
