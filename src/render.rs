//! render: to be written.
