//! traccar backend: to be written.
