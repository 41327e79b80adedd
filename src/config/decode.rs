//! Typed decoding of located YAML nodes with the derived serde deserializers of the file types,
//! recovering after errors so that every problem in a mapping is reported, each with the
//! location of the node it is about.
//!
//! Design: `decode_with` runs `T::deserialize` over a mapping node. When it fails, the error names the
//! entry (key) it came from and the node it is about; that entry is recorded as a problem and
//! left out, and deserialization runs again, until it succeeds or fails for a reason no entry
//! explains (a missing required key). A mapping of n entries is read at most n + 1 times, which
//! is cheap because `decode_with` is called per user and per role, not on the whole file.
//!
//! Scalars are typed by the target, like serde-saphyr does: a string field reads the source text
//! of `0664123` or `true`; a boolean field accepts only true/false.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::yaml::{Kind, Node, Pos};
pub use crate::core::suggest::suggest;

/// A decoding error: what went wrong, the node it is about, and the root entry it came from.
#[derive(Debug)]
pub struct DecodeError {
    message: String,
    pos: Option<Pos>,
    entry: Option<usize>,
    missing: Option<&'static str>,
    /// Whether the message already names the key it is about.
    keyed: bool,
}

impl DecodeError {
    fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            message: msg.to_string(),
            pos: None,
            entry: None,
            missing: None,
            keyed: false,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = friendly(&exp.to_string());
        Self::custom(format_args!(
            "expected {expected}, found {}",
            describe(&unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = friendly(&exp.to_string());
        Self::custom(format_args!(
            "expected {expected}, found {}",
            describe(&unexp)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(unknown_key(field, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!(
            "`{variant}` is not allowed here: use one of {}",
            expected.join(", ")
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Self::custom(format_args!(
            "the required key `{field}` is missing: add it"
        ));
        e.missing = Some(field);
        e
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::custom(format_args!("`{field}` is given twice: keep one"))
    }
}

/// "unknown key `x`: did you mean `y`?", or the list of the keys allowed.
pub fn unknown_key(field: &str, allowed: &[&str]) -> String {
    let hint = match suggest(field, allowed) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("the keys allowed here are: {}", allowed.join(", ")),
    };
    format!("unknown key `{field}`: {hint}")
}

/// Decodes one mapping value, the entry `key`, into `T`: what `decode_with` does for a field of a
/// struct, for keys that are not known until a backend names them.
pub fn decode_value<T: DeserializeOwned>(key: &str, value: &Node) -> Result<T, Found> {
    T::deserialize(NodeDe::child(value)).map_err(|e| {
        let message = if e.keyed {
            e.message
        } else {
            format!("`{key}`: {}", e.message)
        };
        (e.pos.unwrap_or(value.pos), message)
    })
}

/// serde's names for what it expected, in the words of a YAML file.
fn friendly(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "a string" | "a boolean" => expected.into(),
        "option" => "a value".into(),
        other if other.starts_with("struct ") => "a mapping".into(),
        other if other.starts_with("enum ") || other.starts_with("variant identifier") => {
            "one of the listed words".into()
        }
        other if other.starts_with("field identifier") => "a key name".into(),
        other => other.into(),
    }
}

fn describe(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Unit | de::Unexpected::Option => "null".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        de::Unexpected::Str(s) => format!("the string {s:?}"),
        de::Unexpected::Signed(i) => format!("the integer {i}"),
        de::Unexpected::Unsigned(i) => format!("the integer {i}"),
        de::Unexpected::Float(x) => format!("the number {x}"),
        de::Unexpected::Bool(b) => format!("the boolean {b}"),
        other => other.to_string(),
    }
}

/// A problem found while decoding: where, and what.
pub type Found = (Pos, String);

/// Decodes `node` (normally a mapping) into `T`, leaving out the entries of `skip` and every
/// entry that fails. Returns the value if one could be built, and every problem found.
/// `reported_missing` names required keys the caller already reported as missing. The mapping's
/// keys are `T`'s fields plus keys the caller decodes itself and leaves out with `skip` (a
/// backend's user key and fields, its object sections): `allowed` lists every key allowed here,
/// in the order an unknown key's message shows them (empty: `T`'s fields).
pub fn decode_with<T: DeserializeOwned>(
    node: &Node,
    skip: &BTreeSet<usize>,
    reported_missing: &[&str],
    allowed: &[&str],
) -> (Option<T>, Vec<Found>) {
    let mut skip = skip.clone();
    // A required key that was reported, or left out for a reason already reported, is not
    // reported again as missing.
    let mut dropped_keys: Vec<String> = reported_missing.iter().map(|k| k.to_string()).collect();
    for i in &skip {
        if let Some(key) = node.entries().get(*i).and_then(|(k, _)| k.as_text()) {
            dropped_keys.push(key.to_string());
        }
    }
    let mut found = Vec::new();
    // Unknown keys are found in one pass up front: dropping them one per round would make a
    // mapping with many unknown keys quadratic. What is left are distinct known keys, so the
    // rounds below are bounded by the number of fields of `T`.
    if let Some(fields) = struct_fields::<T>() {
        let allowed: &[&str] = if allowed.is_empty() { fields } else { allowed };
        for (i, (key, _)) in node.entries().iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let message = match key.as_text() {
                Some(name) if fields.contains(&name) => continue,
                Some(name) => unknown_key(name, allowed),
                None => format!("a key must be a word, not {}", key.describe()),
            };
            found.push((key.pos, message));
            skip.insert(i);
        }
    }
    // Each round either succeeds, stops, or drops one more entry: bounded by the entry count.
    for _ in 0..=node.entries().len() {
        let de = NodeDe {
            node,
            skip: Some(&skip),
        };
        match T::deserialize(de) {
            Ok(value) => return (Some(value), found),
            Err(e) => {
                // A required key that failed to decode is reported once, not again as missing.
                let already = e
                    .missing
                    .is_some_and(|m| dropped_keys.iter().any(|k| k == m));
                if !already {
                    found.push((e.pos.unwrap_or(node.pos), e.message));
                }
                match e.entry {
                    Some(i) if !skip.contains(&i) => {
                        skip.insert(i);
                        if let Some((k, _)) = node.entries().get(i) {
                            dropped_keys.extend(k.as_text().map(str::to_string));
                        }
                    }
                    _ => return (None, found),
                }
            }
        }
    }
    (None, found)
}

/// The keys of a derived struct `T` (empty for anything else), in declaration order: for
/// messages listing the keys allowed where a mapping has more than `T`'s.
pub fn fields_of<T: DeserializeOwned>() -> Vec<&'static str> {
    struct_fields::<T>().map(<[_]>::to_vec).unwrap_or_default()
}

/// The field names of a derived struct `T`, which serde passes to `deserialize_struct`.
fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    match T::deserialize(FieldsProbe) {
        Err(Probed(fields)) => fields,
        Ok(_) => None,
    }
}

/// A deserializer that only records the fields a struct asks for, then stops.
struct FieldsProbe;

#[derive(Debug)]
struct Probed(Option<&'static [&'static str]>);

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed(None)
    }
}

impl<'de> de::Deserializer<'de> for FieldsProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probed> {
        Err(Probed(Some(fields)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A serde deserializer over one node. `skip` is set only for the root mapping being decoded:
/// it lists the entries to leave out, and errors from its entries are tagged with the entry.
#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    skip: Option<&'a BTreeSet<usize>>,
}

impl<'a> NodeDe<'a> {
    fn child(node: &'a Node) -> Self {
        NodeDe { node, skip: None }
    }

    fn err(&self, e: DecodeError) -> DecodeError {
        e.at(self.node.pos)
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match &self.node.kind {
            Kind::Null { .. } => visitor.visit_unit(),
            Kind::Bool { value, .. } => visitor.visit_bool(*value),
            Kind::Int { value, .. } => match i64::try_from(*value) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => match u64::try_from(*value) {
                    Ok(u) => visitor.visit_u64(u),
                    Err(_) => visitor.visit_i128(*value),
                },
            },
            Kind::Float { value, .. } => visitor.visit_f64(*value),
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
            }),
            Kind::Map(entries) => visitor.visit_map(MapDe {
                entries,
                next: 0,
                skip: self.skip,
                value: None,
            }),
        };
        result.map_err(|e| self.err(e))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.as_text() {
            Some(text) => visitor.visit_str(text).map_err(|e| self.err(e)),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.err(e))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        // Only unit variants written as plain words (`prune: delete`) occur in fleet files.
        match self.node.as_text() {
            Some(word) => visitor
                .visit_enum(word.into_deserializer())
                .map_err(|e| self.err(e)),
            None => Err(self.err(de::Error::custom(format_args!(
                "expected one of {}, found {}",
                variants.join(", "),
                self.node.describe()
            )))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct ignored_any
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            Some(node) => seed.deserialize(NodeDe::child(node)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: &'a [(Node, Node)],
    next: usize,
    skip: Option<&'a BTreeSet<usize>>,
    value: Option<(usize, &'a Node)>,
}

impl MapDe<'_> {
    fn tag(&self, index: usize, e: DecodeError, pos: Pos) -> DecodeError {
        let mut e = e.at(pos);
        if self.skip.is_some() {
            e.entry = Some(index);
        }
        e
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        while let Some((key, value)) = self.entries.get(self.next) {
            let index = self.next;
            self.next += 1;
            if self.skip.is_some_and(|s| s.contains(&index)) {
                continue;
            }
            self.value = Some((index, value));
            return seed
                .deserialize(NodeDe::child(key))
                .map(Some)
                .map_err(|e| self.tag(index, e, key.pos));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        match self.value.take() {
            Some((index, node)) => seed.deserialize(NodeDe::child(node)).map_err(|mut e| {
                // The innermost key names the value: "`readonly`: expected a boolean, ...".
                if !e.keyed {
                    let key = self.entries.get(index).and_then(|(k, _)| k.as_text());
                    if let Some(key) = key {
                        e.message = format!("`{key}`: {}", e.message);
                    }
                    e.keyed = true;
                }
                self.tag(index, e, node.pos)
            }),
            None => Err(de::Error::custom("a mapping value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len().saturating_sub(self.next))
    }
}
