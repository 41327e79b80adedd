//! config: reads a fleet file and turns it into the model's `Desired`, reporting every problem
//! at once with its `file:line:column`, before anything is written anywhere. Also owns the
//! fleet file's JSON Schema. This is the only module that knows YAML.
//!
//! The pipeline, one idea per file:
//! - `yaml`: text -> a tree of located nodes (serde-saphyr, with limits against hostile input);
//! - `decode`: nodes -> the file types, with serde, recovering after each error;
//! - `file`: the file types as written (serde + schemars; the schema is generated from them);
//! - `validate`: file types -> `Desired`, checking every rule that spans values.

mod decode;
mod file;
mod validate;
mod yaml;

use std::fmt;
use std::io::Read;
use std::path::Path;

pub use file::{FLEET_NAME_PATTERN, FileRole, FileUser, FleetFile, Server, schema_json};
pub use validate::{FORMAT_VERSION, MARKER_ATTRIBUTE};
pub use yaml::MAX_DOCUMENT_BYTES;

use crate::model::Desired;

/// A validated fleet file.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub desired: Desired,
    /// `server.url` from the file, if given (the caller applies `TRACCAR_URL` / `--url`).
    pub server_url: Option<String>,
    /// The file name as given, as used in problem locations and users' `origin`.
    pub source: String,
}

/// One thing wrong with a fleet file. The message says what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `fleet.yaml:12:7`, or just the file name when there is no better place.
    pub location: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a fleet file, in file order. Never empty when returned as an error.
#[derive(Debug)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            writeln!(f, "{problem}")?;
        }
        write!(f, "{} problem(s) found", self.0.len())
    }
}

impl std::error::Error for Problems {}

impl Problems {
    fn one(location: Option<String>, message: impl Into<String>) -> Problems {
        Problems(vec![Problem {
            location,
            message: message.into(),
        }])
    }
}

/// Reads and validates the fleet file at `path`.
pub fn load(path: &Path) -> Result<Loaded, Problems> {
    let source = path.display().to_string();
    let cannot = |e: std::io::Error| {
        Problems::one(
            Some(source.clone()),
            format!("can't read the fleet file: {e}"),
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know the file is too large, without reading it all.
    let limit = u64::try_from(MAX_DOCUMENT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(cannot)?;
    parse_bytes(&bytes, &source)
}

/// Validates fleet file bytes, which must be UTF-8 (a leading byte order mark is allowed).
pub fn parse_bytes(bytes: &[u8], source_name: &str) -> Result<Loaded, Problems> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Problems::one(
            Some(source_name.to_string()),
            format!(
                "the file is larger than {MAX_DOCUMENT_BYTES} bytes, the most a fleet file may have"
            ),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, source_name),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default())
                .chars()
                .count()
                + 1;
            Err(Problems::one(
                Some(format!("{source_name}:{line}:{column}")),
                "the file is not valid UTF-8 text: save it with UTF-8 encoding",
            ))
        }
    }
}

/// Validates fleet file text. Pure: `source_name` is only used in locations.
pub fn parse(text: &str, source_name: &str) -> Result<Loaded, Problems> {
    let mut ctx = validate::Context::new(source_name);
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            ctx.report(e.pos, e.message);
            return Err(ctx.finish().err().unwrap_or_else(|| Problems(Vec::new())));
        }
    };
    let result = validate::validate(&mut ctx, &root);
    ctx.finish()?;
    match result {
        Some((desired, server_url)) => Ok(Loaded {
            desired,
            server_url,
            source: source_name.to_string(),
        }),
        // Validation only gives up after reporting why; this guards the invariant anyway.
        None => Err(Problems::one(
            Some(source_name.to_string()),
            "the fleet file could not be read (no details available)",
        )),
    }
}

#[cfg(test)]
mod tests;
