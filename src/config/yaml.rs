//! The YAML edge of config: turns text into a tree of located nodes (`Node`) with serde-saphyr,
//! under limits that make hostile input (alias bombs, deep nesting, huge scalars) fail with a
//! problem instead of exhausting memory. Nothing here knows the fleet file's shape.
//!
//! Why a tree and not direct typed deserialization: serde stops at the first error, but the
//! fleet file must report every problem at once. serde-saphyr gives each node its location
//! through `Spanned<T>`; reading the document once into located nodes lets `decode` run the
//! typed (derived) deserializers entry by entry and keep going after an error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// The largest fleet file accepted, in bytes. A real fleet of thousands of users is well below
/// a megabyte; the limit only bounds the memory an accidental or hostile input can take.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// A 1-based line and column (in characters), as editors count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One YAML node and where it is. For an alias, `pos` is where the alias is used, so problems
/// point at the line the reader is looking at.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
    /// The byte range of the node's definition, used to recover scalars' source spelling.
    source: Option<(usize, usize)>,
}

/// A node's content, typed the way YAML 1.2's core schema (with strict booleans) infers it.
/// Non-string scalars keep their source text in `raw` so that a string-typed field reads
/// `phone: 0043664123` or `name: 1e3` the way it is written, not as a reformatted number.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null { raw: String },
    Bool { value: bool, raw: String },
    Int { value: i128, raw: String },
    Float { value: f64, raw: String },
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What the node is, for messages ("a list", "a string", ...).
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null { .. } => "null",
            Kind::Bool { .. } => "a boolean",
            Kind::Int { .. } => "an integer",
            Kind::Float { .. } => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar as a string-typed field would read it.
    pub fn as_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            Kind::Bool { raw, .. } | Kind::Int { raw, .. } | Kind::Float { raw, .. } => Some(raw),
            Kind::Null { .. } | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null { .. })
    }

    /// The entries of a mapping (empty for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a list (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entry of a mapping whose key is the string `key`.
    pub fn get(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries()
            .iter()
            .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == key))
    }
}

/// A failure to read YAML at all: syntax, limits, encoding. Reported as a single problem,
/// since nothing after it can be trusted.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub pos: Option<Pos>,
    pub message: String,
}

/// The serde-saphyr settings for fleet files.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // The Norway problem: `yes`, `no`, `on` stay strings; only true/false are booleans.
        strict_booleans: true,
        // Phone numbers and ids such as 0664123 stay strings in attributes.
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        // Our problems carry their own location; a snippet would repeat the file.
        with_snippet: false,
        budget: serde_saphyr::budget! {
            // The fleet file is at most 4 levels deep; attribute values may nest JSON a bit.
            max_depth: 32,
            max_documents: 1,
            // ~40 nodes per user leaves room for tens of thousands of users.
            max_nodes: 2_000_000,
            max_events: 4_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_total_scalar_bytes: MAX_DOCUMENT_BYTES,
            // Anchors are for sharing a list or a few fields; a billion laughs records and
            // replays exponentially many events and hits these limits long before memory runs out.
            max_recorded_anchor_events: 100_000,
            // The ratio heuristic refuses one anchor shared by thousands of users (a common
            // list of devices); the replay limits below bound the real cost instead.
            enforce_alias_anchor_ratio: false,
        },
        alias_limits: serde_saphyr::alias_limits! {
            // A shared device list used by every user is fine; a billion laughs is not.
            max_total_replayed_events: 250_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 100_000,
        },
    }
}

/// Reads one YAML document into a located tree. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SyntaxError {
            pos: None,
            message: format!(
                "the file is {} bytes, more than the {MAX_DOCUMENT_BYTES} bytes a fleet file may have",
                text.len()
            ),
        });
    }
    if text.trim().is_empty() || only_comments(text) {
        return Ok(Node::new(Pos { line: 1, column: 1 }, Kind::Map(Vec::new())));
    }
    match serde_saphyr::from_str_with_options::<Node>(text, options()) {
        Ok(mut node) => {
            node.fill_raw(text);
            Ok(node)
        }
        Err(err) => Err(point_at_unclosed_flow(syntax_error(&err), text)),
    }
}

impl Node {
    pub fn new(pos: Pos, kind: Kind) -> Node {
        Node {
            pos,
            kind,
            source: None,
        }
    }

    /// Replaces the canonical spelling of plain non-string scalars with the source text.
    /// Recursion is bounded by the parser's `max_depth`.
    fn fill_raw(&mut self, text: &str) {
        let plain = self
            .source
            .and_then(|(start, len)| text.get(start..start.checked_add(len)?))
            .filter(|s| !s.is_empty() && !s.starts_with(['"', '\'', '!', '&', '*', '|', '>']));
        match &mut self.kind {
            Kind::Null { raw }
            | Kind::Bool { raw, .. }
            | Kind::Int { raw, .. }
            | Kind::Float { raw, .. } => {
                if let Some(p) = plain {
                    *raw = p.to_string();
                }
            }
            Kind::Str(_) => {}
            Kind::Seq(items) => items.iter_mut().for_each(|n| n.fill_raw(text)),
            Kind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.fill_raw(text);
                v.fill_raw(text);
            }),
        }
    }
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

fn syntax_error(err: &serde_saphyr::Error) -> SyntaxError {
    let err = err.without_snippet();
    let pos = err.location().filter(|l| l.line() > 0).map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let mut message = err.to_string();
    // serde-saphyr prefixes "line L column C: "; ours comes from `pos` in the usual form.
    if let Some(p) = pos {
        let prefix = format!("line {} column {}: ", p.line, p.column);
        if let Some(rest) = message.strip_prefix(&prefix) {
            message = rest.to_string();
        }
    }
    let mut message = message.trim_start_matches("error: ").to_string();
    if message.starts_with("budget breached") {
        message = format!(
            "the file exceeds fleetform's safety limits (aliases, nodes, nesting or size); simplify it ({message})"
        );
    }
    // The parser repeats the location in some messages; ours is already in front.
    if let Some(p) = pos {
        let suffix = format!(" at line {}, column {}", p.line, p.column);
        if let Some(rest) = message.strip_suffix(&suffix) {
            message = rest.to_string();
        }
    }
    // serde-saphyr's advice is for programmers; ours is for the file's author.
    if let Some((head, _)) = message.split_once(", set DuplicateKeyPolicy") {
        message = format!("{head} (a key may appear once in a mapping: keep one)");
    }
    SyntaxError {
        pos,
        message: format!("invalid YAML: {message}"),
    }
}

/// A flow collection (`[` or `{`) may span lines, so the parser notices a missing `]` only
/// where the next line stops making sense (the `:` of the next `- email:`), one line or more
/// after the mistake. Its location is right for what it saw; the author needs the bracket. When
/// the error lies inside a flow collection opened on an earlier line, the problem points at
/// the opening bracket and says where the parser stopped.
fn point_at_unclosed_flow(error: SyntaxError, text: &str) -> SyntaxError {
    let Some(at) = error.pos else {
        return error;
    };
    match open_flow_at(text, at) {
        Some((opened, bracket)) if opened.line < at.line => SyntaxError {
            pos: Some(opened),
            message: format!(
                "invalid YAML: this `{bracket}` is not closed (the parser stopped at line {}, \
                 column {}: {})",
                at.line,
                at.column,
                error
                    .message
                    .strip_prefix("invalid YAML: ")
                    .unwrap_or(&error.message)
            ),
        },
        _ => error,
    }
}

/// The innermost flow collection still open at `at`, and its bracket: a rough scan that skips
/// quoted strings and comments and counts `[`/`{` only where a flow collection may start (after
/// `:`, `-`, `,`, another bracket, or at the start of a line), so a bracket inside plain text
/// (`name: Bike [old]`) does not count.
fn open_flow_at(text: &str, at: Pos) -> Option<(Pos, char)> {
    let mut open: Vec<(Pos, char)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line_no > at.line {
            break;
        }
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        let mut last_token = ':'; // the start of a line may open a collection
        let mut escaped = false;
        for (col, c) in line.chars().enumerate() {
            let column = col as u64 + 1;
            if line_no == at.line && column >= at.column {
                break;
            }
            if let Some(q) = quote {
                if q == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == q && !escaped {
                    quote = None;
                    last_token = 'x';
                }
                escaped = false;
                continue;
            }
            match c {
                '#' if previous.is_whitespace() => break,
                '"' | '\'' if matches!(last_token, ':' | '-' | ',' | '[' | '{') => quote = Some(c),
                '[' | '{' if matches!(last_token, ':' | '-' | ',' | '[' | '{') => {
                    open.push((
                        Pos {
                            line: line_no,
                            column,
                        },
                        c,
                    ));
                    last_token = c;
                }
                ']' | '}' if !open.is_empty() => {
                    open.pop();
                    last_token = c;
                }
                ':' | '-' | ',' => last_token = c,
                c if c.is_whitespace() => {}
                _ => last_token = 'x',
            }
            previous = c;
        }
    }
    open.pop()
}

/// Deserializes a node's content (the part `Spanned` wraps) with `deserialize_any`.
struct Content(Kind);

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor).map(Content)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Content>::deserialize(d)?;
        let span = spanned.defined.span();
        let source = match (span.byte_offset(), span.byte_len()) {
            (Some(start), Some(len)) => usize::try_from(start).ok().zip(usize::try_from(len).ok()),
            _ => None,
        };
        Ok(Node {
            pos: Pos {
                line: spanned.referenced.line(),
                column: spanned.referenced.column(),
            },
            kind: spanned.value.0,
            source,
        })
    }
}

struct ContentVisitor;

/// Scalars get their canonical spelling as `raw` here; `Node::fill_raw` later replaces it with
/// the source text, which `deserialize_any` visitors are not given.
impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null { raw: "null".into() })
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        self.visit_unit()
    }
    fn visit_bool<E>(self, value: bool) -> Result<Kind, E> {
        Ok(Kind::Bool {
            value,
            raw: value.to_string(),
        })
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int {
            value: v.into(),
            raw: v.to_string(),
        })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Int {
            value: v.into(),
            raw: v.to_string(),
        })
    }
    fn visit_i128<E>(self, v: i128) -> Result<Kind, E> {
        Ok(Kind::Int {
            value: v,
            raw: v.to_string(),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        match i128::try_from(v) {
            Ok(value) => Ok(Kind::Int {
                value,
                raw: v.to_string(),
            }),
            Err(_) => Ok(Kind::Str(v.to_string())),
        }
    }
    fn visit_f64<E>(self, value: f64) -> Result<Kind, E> {
        Ok(Kind::Float {
            value,
            raw: value.to_string(),
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        String::from_utf8(v.to_vec())
            .map(Kind::Str)
            .map_err(|_| E::custom("binary data is not valid UTF-8 text"))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(Kind::Map(entries))
    }
}
