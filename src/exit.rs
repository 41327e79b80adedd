//! The process exit codes, defined once. Commands return them; `main` hands them to the OS.
//! `fleetform --help` lists them (`cli::EXIT_CODES`).

/// Success; for `plan --detailed-exitcode`, also "no changes"; for `drift`, "in sync".
pub const OK: i32 = 0;
/// An error: bad input, a refused or failed request, a refused or unfinished apply.
pub const ERROR: i32 = 1;
/// `plan --detailed-exitcode`: the plan has changes. `drift`: only pending changes.
pub const CHANGES: i32 = 2;
/// `drift`: the server changed behind the file's back (with or without pending changes).
pub const DRIFT: i32 = 3;
/// A second Ctrl-C: stop at once, as a shell would report it.
pub const INTERRUPTED: i32 = 130;
/// The reader of standard output went away (`fleetform plan | head`): nothing more is said, and
/// the code is the one of a program ended by SIGPIPE, as a shell reports it.
pub const CLOSED_PIPE: i32 = 141;
