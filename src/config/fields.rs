//! fields: the typed values of a fleet file's entries and where their problems are collected.
//! `Context` gathers located problems for one or several files; `Raw`, `raw_value`,
//! `field_value` and `managed_fields` turn an entry's YAML values into the model's typed
//! fields (users, roles and the object sections share them), reserved attribute keys refused.
//! Used by `validate` (users, roles, the top level) and `objects` (the object sections),
//! neither of which this file imports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::decode::{Found, decode_value};
use super::yaml::{Node, Pos};
use super::{Problem, Problems};
use crate::core::model::{DISABLED_AT_ATTRIBUTE, Field, FieldType, MARKER_ATTRIBUTE, Value};

/// Collects problems for one or several files (merged with `-f` repeated or a directory).
/// Positions are relative to the file selected with `select`; problems come out in file order,
/// then position order.
pub struct Context {
    sources: Vec<String>,
    current: usize,
    problems: Vec<(usize, Option<Pos>, Problem)>,
    /// Substituted `${VAR}` values and what to show instead (see `config::env`).
    redactions: Vec<(String, String)>,
    /// Files beside the fleet file given as text (by the path the file names), read instead
    /// of the disk: export checks the file it writes with the calendars it writes with it.
    beside: BTreeMap<String, String>,
}

impl Context {
    /// A context for several files, the first selected.
    pub fn many(sources: &[String]) -> Self {
        Context {
            sources: sources.to_vec(),
            current: 0,
            problems: Vec::new(),
            redactions: Vec::new(),
            beside: BTreeMap::new(),
        }
    }

    /// Reads files the fleet file names from `files` (by path) instead of the disk.
    pub fn with_files(mut self, files: BTreeMap<String, String>) -> Self {
        self.beside = files;
        self
    }

    /// The text of the file at `path` beside the selected fleet file (`config::read_beside`).
    pub fn read_beside(&self, path: &str) -> Result<String, String> {
        match self.beside.get(path) {
            Some(text) => Ok(text.clone()),
            None => super::read_beside(self.source(), path),
        }
    }

    /// Makes positions refer to the `file`-th source.
    pub fn select(&mut self, file: usize) {
        self.current = file;
    }

    /// Never echo these values in a message: show the replacement instead.
    pub fn redact(&mut self, redactions: impl IntoIterator<Item = (String, String)>) {
        self.redactions.extend(redactions);
        // Longest first, so a whole substituted value wins over the variables inside it.
        self.redactions
            .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    }

    /// How many files the context collects problems for.
    pub fn file_count(&self) -> usize {
        self.sources.len()
    }

    /// The name of the selected source (the path it was read from, for `load`).
    pub fn source(&self) -> &str {
        self.sources.get(self.current).map_or("", String::as_str)
    }

    pub fn location(&self, pos: Pos) -> String {
        format!("{}:{pos}", self.source())
    }

    /// `location` in the `file`-th source, whichever is selected.
    pub fn location_in(&self, file: usize, pos: Pos) -> String {
        let source = self.sources.get(file).map_or("", String::as_str);
        format!("{source}:{pos}")
    }

    pub fn report(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        let location = Some(match pos {
            Some(p) => self.location(p),
            None => self.source().to_string(),
        });
        let problem = Problem {
            location,
            message: shorten(super::env::redact(&message.into(), &self.redactions)),
        };
        self.problems.push((self.current, pos, problem));
    }

    pub(super) fn report_all(&mut self, found: Vec<Found>) {
        for (pos, message) in found {
            self.report(Some(pos), message);
        }
    }

    /// The problems in file order (those without a position first, as they concern the file).
    pub fn finish(mut self) -> Result<(), Problems> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|(file, pos, _)| (*file, *pos));
        Err(Problems(
            self.problems.into_iter().map(|(_, _, p)| p).collect(),
        ))
    }
}

/// The longest problem message, in characters. Messages quote the offending value; a hostile
/// file's megabyte-long scalar must not come back as a megabyte-long error.
const MAX_PROBLEM_CHARS: usize = 600;

/// Cuts the middle of an overlong message, keeping its start (what is wrong) and its end (what
/// to do about it).
fn shorten(message: String) -> String {
    let count = message.chars().count();
    if count <= MAX_PROBLEM_CHARS {
        return message;
    }
    let head: String = message.chars().take(MAX_PROBLEM_CHARS / 2).collect();
    let tail: String = message
        .chars()
        .skip(count - MAX_PROBLEM_CHARS / 4)
        .collect();
    format!(
        "{head}[... {} characters cut ...]{tail}",
        count - MAX_PROBLEM_CHARS / 2 - MAX_PROBLEM_CHARS / 4
    )
}

/// One field's value as the file holds it, typed by its description.
pub(super) fn raw_value(name: &str, field: &Field, value: &Node) -> Result<Raw, Found> {
    let Some(spec) = field.spec() else {
        return Err((value.pos, format!("`{name}` is not a declared field")));
    };
    Ok(match spec.ty {
        FieldType::Bool => Raw::Bool(decode_value::<bool>(name, value)?),
        FieldType::Int { .. } => Raw::Int(decode_value::<i64>(name, value)?),
        FieldType::Text | FieldType::Time => {
            Raw::Text(decode_value::<Option<String>>(name, value)?)
        }
        FieldType::List => Raw::List(decode_value::<Vec<String>>(name, value)?),
    })
}

/// A value as the file holds it, decoded by the field's type, before the field's rules apply.
#[derive(Clone, Debug)]
pub(super) enum Raw {
    /// A string, or `None` for an explicit `null`.
    Text(Option<String>),
    Bool(bool),
    Int(i64),
    /// The words of a list, as written.
    List(Vec<String>),
}

/// Types one file value as the field's description says, reporting what does not fit.
pub(super) fn field_value(
    ctx: &mut Context,
    node: &Node,
    field: &Field,
    raw: &Raw,
) -> Option<Value> {
    let spec = field.spec()?;
    let name = spec.name;
    match (spec.ty, raw) {
        (_, Raw::Text(None)) if spec.nullable => Some(Value::Null),
        (FieldType::Text, Raw::Text(Some(text))) => Some(Value::Text(text.clone())),
        (FieldType::Bool, Raw::Bool(b)) => Some(Value::Bool(*b)),
        (FieldType::List, Raw::List(words)) => {
            let mut seen = std::collections::BTreeSet::new();
            for word in words {
                let wrong = if word.trim().is_empty() {
                    Some("an empty word: remove it".to_string())
                } else if word.contains(',') || word.trim() != word {
                    Some(format!(
                        "{word:?} holds a comma or spaces around it: write each word as an item"
                    ))
                } else if !seen.insert(word.as_str()) {
                    Some(format!("{word:?} is listed twice: remove one"))
                } else {
                    None
                };
                if let Some(wrong) = wrong {
                    ctx.report(Some(value_pos(node, name)), format!("`{name}`: {wrong}"));
                    return None;
                }
            }
            Some(Value::list(words.iter().cloned()))
        }
        (FieldType::Int { min, max }, Raw::Int(n)) => {
            let n = *n;
            if (min..=max).contains(&n) {
                return Some(Value::Int(n));
            }
            let hint = if min == -1 {
                format!("use -1 for unlimited, 0 for none, or a number up to {max}")
            } else {
                format!("use a number from {min} to {max}")
            };
            ctx.report(
                Some(value_pos(node, name)),
                format!("`{name}` is {n}: {hint}"),
            );
            None
        }
        (FieldType::Time, Raw::Text(Some(text))) => {
            match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(t) => Some(Value::time(t.with_timezone(&Utc))),
                Err(e) => {
                    let never = if spec.nullable {
                        ", or null for never"
                    } else {
                        ""
                    };
                    ctx.report(
                        Some(value_pos(node, name)),
                        format!(
                            "`{name}` {text:?} is not an RFC 3339 timestamp ({e}): write e.g. 2027-06-30T00:00:00Z{never}"
                        ),
                    );
                    None
                }
            }
        }
        _ => {
            ctx.report(
                Some(value_pos(node, name)),
                format!("`{name}` has the wrong type for a {:?} field", spec.ty),
            );
            None
        }
    }
}

/// Converts a role's or user's fields; `node` is its mapping, for locations.
pub(super) fn managed_fields(
    ctx: &mut Context,
    node: &Node,
    raw: &[(Field, Raw)],
    attributes: Option<&BTreeMap<String, serde_json::Value>>,
) -> BTreeMap<Field, Value> {
    let mut out = BTreeMap::new();
    for (field, raw) in raw {
        if let Some(value) = field_value(ctx, node, field, raw) {
            out.insert(field.clone(), value);
        }
    }
    if let Some(attributes) = attributes {
        for (key, value) in attributes {
            let why = match key.as_str() {
                MARKER_ATTRIBUTE => "fleetform keeps its ownership marker there",
                DISABLED_AT_ATTRIBUTE => {
                    "fleetform records there when it disabled the user (for `pruneAfter`)"
                }
                crate::core::record::APPLIED_ATTRIBUTE => {
                    "fleetform records what it last applied there (for `fleetform drift`)"
                }
                _ => "",
            };
            if !why.is_empty() {
                let pos = node
                    .get("attributes")
                    .and_then(|(_, attrs)| attrs.get(key))
                    .map_or(node.pos, |(k, _)| k.pos);
                ctx.report(
                    Some(pos),
                    format!("the attribute `{key}` is reserved: {why}; use another key"),
                );
                continue;
            }
            out.insert(Field::Attribute(key.clone()), Value::from_json(value));
        }
    }
    out
}

/// Where `key`'s value is in the mapping `node` (or the mapping itself).
pub(super) fn value_pos(node: &Node, key: &str) -> Pos {
    node.get(key).map_or(node.pos, |(_, v)| v.pos)
}
