//! `fleetform validate`: loads the fleet files and says whether they are valid. Never connects.

use std::path::PathBuf;

use super::{Io, load_files};
use crate::exit;

pub fn run(paths: &[PathBuf], io: &mut Io<'_>) -> anyhow::Result<i32> {
    let loaded = load_files(paths)?;
    writeln!(
        io.out,
        "{}: valid (fleet {}, {}).",
        loaded.source,
        loaded.desired.fleet,
        crate::views::count(loaded.desired.users.len(), "user")
    )?;
    Ok(exit::OK)
}
