//! config: reads a fleet file and turns it into the model's `Desired`, reporting every problem
//! at once with its `file:line:column`, before anything is written anywhere. Also owns the
//! fleet file's JSON Schema. This is the only module that knows YAML.
//!
//! The pipeline, one idea per file:
//! - `yaml`: text -> a tree of located nodes (serde-saphyr, with limits against hostile input);
//! - `decode`: nodes -> the file types, with serde, recovering after each error;
//! - `file`: the file types as written (serde + schemars; the schema is generated from them);
//! - `env`: `${VAR}` substitution in string values, and redaction of what was substituted;
//! - `validate`: file types -> `Desired`, checking every rule that spans values and merging
//!   several files into one fleet;
//! - `objects`: the object sections (`devices:`, `groups:`: the backend's object kinds).

mod decode;
mod env;
mod fields;
mod file;
mod objects;
mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use env::Redactions;
pub use file::{
    FLEET_NAME_PATTERN, FileRole, FileSafety, FileUser, FleetFile, PRUNE_AFTER_PATTERN, Server,
    schema_json,
};
pub use validate::{FORMAT_VERSION, MARKER_ATTRIBUTE};
pub use yaml::MAX_DOCUMENT_BYTES;

use crate::core::model::Desired;

/// A validated fleet file.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub desired: Desired,
    /// `server.url` from the file, if given (the caller applies `TRACCAR_URL` / `--url`).
    pub server_url: Option<String>,
    /// `server.instanceId` from the file (lower-cased), for backends with instances.
    pub server_instance: Option<String>,
    /// The file name as given, as used in problem locations and users' `origin` (several files:
    /// their names joined with ", ").
    pub source: String,
    /// Each file read, in order (a directory given on the command line appears as its files).
    pub sources: Vec<String>,
    /// The `${VAR}` values substituted into the files, to keep out of every message.
    pub redactions: Redactions,
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
        write!(f, "{} found", crate::views::count(self.0.len(), "problem"))
    }
}

impl std::error::Error for Problems {}

/// Reads and validates the fleet file at `path` (a directory: every `*.yaml`/`*.yml` in it,
/// merged), substituting `${VAR}` from the process environment.
pub fn load(path: &Path) -> Result<Loaded, Problems> {
    load_many(&[path.to_path_buf()])
}

/// Reads, merges and validates several fleet files, substituting `${VAR}` from the process
/// environment. A directory stands for its `*.yaml` and `*.yml` files, sorted by name (not
/// recursive). Every problem of every file is reported at once.
///
/// Merge rules: the top-level `version`, `fleet`, `server`, `manager`, `prune`, `pruneAfter` and
/// `safety` may be given in any of the files but must agree where given (at least one file
/// gives `version` and `fleet`); `roles` are merged and `users` concatenated, and a role or a
/// user defined twice is a problem naming both places.
pub fn load_many(paths: &[PathBuf]) -> Result<Loaded, Problems> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for path in expand_paths(paths, &mut problems) {
        let source = path.display().to_string();
        match read_file(&path, &source) {
            Ok(text) => files.push((source, text)),
            Err(problem) => problems.push(problem),
        }
    }
    if files.is_empty() && problems.is_empty() {
        problems.push(Problem {
            location: None,
            message: "no fleet file given".into(),
        });
    }
    let env = |name: &str| std::env::var(name).ok();
    let result = if files.is_empty() {
        Err(Problems(Vec::new()))
    } else {
        parse_many(&files, &env)
    };
    match result {
        Ok(loaded) if problems.is_empty() => Ok(loaded),
        Ok(_) => Err(Problems(problems)),
        Err(Problems(more)) => {
            problems.extend(more);
            Err(Problems(problems))
        }
    }
}

/// The files `paths` stand for: a directory's `*.yaml`/`*.yml` files sorted by name (hidden
/// files skipped), other paths as given; each file once.
fn expand_paths(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let source = path.display().to_string();
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(Problem {
                    location: Some(source),
                    message: format!("can't read the directory: {e}"),
                });
                continue;
            }
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| {
                let hidden = p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                !hidden && p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            })
            .collect();
        found.sort();
        if found.is_empty() {
            problems.push(Problem {
                location: Some(source),
                message: "the directory holds no *.yaml or *.yml fleet files".into(),
            });
        }
        files.extend(found);
    }
    // The same file named twice (`-f dir -f dir/a.yaml`) is read once.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|p| seen.insert(p.clone()));
    files
}

/// The text of the file at `relative` (a path in a fleet file: a calendar's iCalendar file),
/// resolved against the directory of the fleet file `source`; size-limited, UTF-8. The one
/// read of the loader besides the fleet files themselves.
pub(crate) fn read_beside(source: &str, relative: &str) -> Result<String, String> {
    let path = Path::new(relative);
    if path.is_absolute() {
        return Err("write the path relative to the fleet file".into());
    }
    // Only files in the fleet file's folder or below: a fleet file under review (a pull
    // request planned in CI) must not make fleetform read, check and show other files of the
    // machine it runs on.
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(
            "the path may not leave the fleet file's folder (`..`): put the file beside the \
             fleet file or below it"
                .into(),
        );
    }
    let base = Path::new(source).parent().unwrap_or(Path::new(""));
    let full = base.join(path);
    let cannot = |e: std::io::Error| format!("can't read {}: {e}", full.display());
    let file = std::fs::File::open(&full).map_err(cannot)?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_DOCUMENT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{} is larger than {MAX_DOCUMENT_BYTES} bytes",
            full.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", full.display()))
}

/// A fleet file's text, size-limited and checked to be UTF-8.
fn read_file(path: &Path, source: &str) -> Result<String, Problem> {
    let cannot = |e: std::io::Error| Problem {
        location: Some(source.to_string()),
        message: format!("can't read the fleet file: {e}"),
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know the file is too large, without reading it all.
    let limit = u64::try_from(MAX_DOCUMENT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(cannot)?;
    text_of(&bytes, source)
}

/// Validates fleet file bytes, which must be UTF-8 (a leading byte order mark is allowed).
/// `${VAR}` is not substituted (no variable is set).
pub fn parse_bytes(bytes: &[u8], source_name: &str) -> Result<Loaded, Problems> {
    let text = text_of(bytes, source_name).map_err(|p| Problems(vec![p]))?;
    parse(&text, source_name)
}

fn text_of(bytes: &[u8], source_name: &str) -> Result<String, Problem> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Problem {
            location: Some(source_name.to_string()),
            message: format!(
                "the file is larger than {MAX_DOCUMENT_BYTES} bytes, the most a fleet file may have"
            ),
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default())
                .chars()
                .count()
                + 1;
            Err(Problem {
                location: Some(format!("{source_name}:{line}:{column}")),
                message: "the file is not valid UTF-8 text: save it with UTF-8 encoding".into(),
            })
        }
    }
}

/// Validates fleet file text. Pure: `source_name` is only used in locations. No variable is
/// set, so a `${VAR}` is a problem (use `parse_many` to pass an environment).
pub fn parse(text: &str, source_name: &str) -> Result<Loaded, Problems> {
    parse_many(&[(source_name.to_string(), text.to_string())], &|_| None)
}

/// Validates and merges several fleet files, given as (name, text), substituting `${VAR}`
/// through `env`. Pure. See `load_many` for the merge rules.
pub fn parse_many(files: &[(String, String)], env: env::Env<'_>) -> Result<Loaded, Problems> {
    parse_many_as(files, env, crate::backend::DEFAULT)
}

/// `parse_many` for files that name no `server.kind` being for `default` (tests use a
/// backend of their own).
pub(crate) fn parse_many_as(
    files: &[(String, String)],
    env: env::Env<'_>,
    default: &'static crate::core::model::Description,
) -> Result<Loaded, Problems> {
    parse_files(files, env, default, BTreeMap::new())
}

/// Validates one fleet file's `text` as `parse` does, with the files it names beside it
/// (a calendar's `file`) given by path in `beside` instead of read from the disk. Pure.
pub fn parse_with_files(
    text: &str,
    source_name: &str,
    beside: BTreeMap<String, String>,
) -> Result<Loaded, Problems> {
    parse_files(
        &[(source_name.to_string(), text.to_string())],
        &|_| None,
        crate::backend::DEFAULT,
        beside,
    )
}

fn parse_files(
    files: &[(String, String)],
    env: env::Env<'_>,
    default: &'static crate::core::model::Description,
    beside: BTreeMap<String, String>,
) -> Result<Loaded, Problems> {
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    let mut ctx = validate::Context::many(&names).with_files(beside);
    let mut roots = Vec::new();
    let mut substituted = Vec::new();
    for (i, (_, text)) in files.iter().enumerate() {
        ctx.select(i);
        match yaml::parse(text) {
            Ok(mut root) => {
                let (found, redactions) = env::substitute(&mut root, env);
                substituted.extend(redactions.iter().cloned());
                ctx.redact(redactions);
                for (pos, message) in found {
                    ctx.report(Some(pos), message);
                }
                roots.push((i, root));
            }
            Err(e) => ctx.report(e.pos, e.message),
        }
    }
    let docs: Vec<validate::Doc<'_>> = roots.iter().map(|(i, root)| (*i, root)).collect();
    let result = if roots.len() == files.len() {
        validate::validate_docs(&mut ctx, &docs, default)
    } else {
        // Still check the files that parsed, so every problem is reported at once.
        validate::validate_docs(&mut ctx, &docs, default);
        None
    };
    ctx.finish()?;
    match result {
        Some((desired, server)) => Ok(Loaded {
            desired,
            server_url: server.url,
            server_instance: server.instance,
            source: names.join(", "),
            sources: names.clone(),
            redactions: Redactions::new(substituted),
        }),
        // Validation only gives up after reporting why; this guards the invariant anyway.
        None => Err(Problems(vec![Problem {
            location: Some(names.join(", ")),
            message: "the fleet file could not be read (no details available)".into(),
        }])),
    }
}

#[cfg(test)]
mod tests;
