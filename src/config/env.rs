//! `${VAR}` substitution in the fleet file's string values, and the redaction that keeps the
//! substituted values out of every problem message (they may be secrets). Pure: the environment
//! comes in as a lookup function, so only `config::load`/`load_many` read the real one.
//!
//! Rules:
//! - Only string values are substituted, never mapping keys, and only where YAML read a string
//!   (`deviceLimit: ${N}` stays the string it is, and is refused as not a number).
//! - `${NAME}`: NAME is letters, digits and `_`, not starting with a digit. `$${` is a literal
//!   `${`. A `$` not followed by `{` is kept as it is.
//! - A variable that is not set is a problem located at the value, naming the variable (never
//!   "empty": an unset secret must not silently become an empty password or phone).
//! - Every substitution is recorded as (value, what to show instead): the whole substituted
//!   value shows as its `${...}` template, and each variable's value as `${NAME}`. Values
//!   shorter than `MIN_REDACTED_LEN` characters are not recorded: replacing every `1` or `no`
//!   in messages would garble line numbers and words, and so short a value is no secret.
//! - The recorded values travel with the loaded file (`Redactions`), so the commands keep them
//!   out of every message they print after loading too: errors, and the server's answers they
//!   repeat. A server may echo a value cut short (a database quoting the first 80 characters,
//!   fleetform's own 300-character cap), so a run of at least `MIN_ECHO_LEN` characters that
//!   starts a recorded value is replaced as well.

use super::decode::Found;
use super::yaml::{Kind, Node};

/// Substituted values at least this long are kept out of messages.
pub const MIN_REDACTED_LEN: usize = 3;

/// The shortest start of a recorded value that is replaced when the value itself is not there
/// whole (an echo cut short).
pub const MIN_ECHO_LEN: usize = 16;

/// The substituted values of a loaded fleet file and what to show instead of each, longest
/// first. `Debug` shows only how many there are: the values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactions(Vec<(String, String)>);

impl Redactions {
    pub fn new(mut pairs: Vec<(String, String)>) -> Redactions {
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        pairs.dedup();
        Redactions(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `message` with every substituted value (or a cut start of one) replaced.
    pub fn apply(&self, message: &str) -> String {
        redact(message, &self.0)
    }
}

impl std::fmt::Debug for Redactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactions({} values)", self.0.len())
    }
}

/// The environment lookup: the value of a variable, or `None` when it is not set.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Substitutes variables in every string value under `node`, in place. Returns the problems
/// found and the redactions to apply to messages.
pub fn substitute(node: &mut Node, env: Env<'_>) -> (Vec<Found>, Vec<(String, String)>) {
    let mut found = Vec::new();
    let mut redactions = Vec::new();
    walk(node, env, &mut found, &mut redactions);
    (found, redactions)
}

/// Recursion is bounded by the YAML parser's depth limit.
fn walk(
    node: &mut Node,
    env: Env<'_>,
    found: &mut Vec<Found>,
    redactions: &mut Vec<(String, String)>,
) {
    let pos = node.pos;
    match &mut node.kind {
        Kind::Str(text) => {
            if !text.contains('$') {
                return;
            }
            match expand(text, env) {
                Ok((value, vars)) => {
                    if !vars.is_empty() {
                        redactions.push((value.clone(), text.clone()));
                        redactions.extend(
                            vars.into_iter()
                                .map(|(name, v)| (v, format!("${{{name}}}"))),
                        );
                        redactions.retain(|(v, _)| v.chars().count() >= MIN_REDACTED_LEN);
                    }
                    *text = value;
                }
                Err(message) => found.push((pos, message)),
            }
        }
        Kind::Seq(items) => items
            .iter_mut()
            .for_each(|item| walk(item, env, found, redactions)),
        Kind::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, value)| walk(value, env, found, redactions)),
        Kind::Null { .. } | Kind::Bool { .. } | Kind::Int { .. } | Kind::Float { .. } => {}
    }
}

/// Expands one string. Returns the result and the variables used, with their values.
pub fn expand(text: &str, env: Env<'_>) -> Result<(String, Vec<(String, String)>), String> {
    let mut out = String::with_capacity(text.len());
    let mut vars = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err(
                    "`${` without a closing `}`: write `${NAME}`, or `$${` for a literal `${`"
                        .into(),
                );
            };
            let name = &tail[..end];
            if !valid_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a variable: a name is letters, digits and `_`, not \
                     starting with a digit (write `$${{` for a literal `${{`)"
                ));
            }
            let Some(value) = env(name) else {
                return Err(format!(
                    "the environment variable {name} is not set (used as `${{{name}}}`): set it, \
                     or write `$${{` for a literal `${{`"
                ));
            };
            out.push_str(&value);
            vars.push((name.to_string(), value));
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok((out, vars))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `message` with every recorded value replaced by what to show instead, longest match first
/// at each position, in one pass (a replacement is never rewritten again). Where no whole value
/// starts at a position, the longest run of at least `MIN_ECHO_LEN` characters that starts a
/// value is replaced (an echo cut short).
pub fn redact(message: &str, redactions: &[(String, String)]) -> String {
    if redactions.is_empty() {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    'scan: while let Some(c) = rest.chars().next() {
        // `redactions` is sorted longest first by `Context::redact` and `Redactions::new`.
        for (value, shown) in redactions {
            if !value.is_empty() && rest.starts_with(value.as_str()) {
                out.push_str(shown);
                rest = &rest[value.len()..];
                continue 'scan;
            }
        }
        let echo = redactions
            .iter()
            .map(|(value, shown)| (common_prefix(rest, value), shown))
            .filter(|((chars, _), _)| *chars >= MIN_ECHO_LEN)
            .max_by_key(|((_, bytes), _)| *bytes);
        if let Some(((_, bytes), shown)) = echo {
            out.push_str(shown);
            rest = &rest[bytes..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// How long the common start of `a` and `b` is, in characters and in bytes.
fn common_prefix(a: &str, b: &str) -> (usize, usize) {
    a.chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .fold((0, 0), |(chars, bytes), (x, _)| {
            (chars + 1, bytes + x.len_utf8())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("traccar.example.com".into()),
            "PHONE" => Some("+43 1".into()),
            "EMPTY" => Some(String::new()),
            "_X1" => Some("x".into()),
            _ => None,
        }
    }

    #[test]
    fn expand_table() {
        let table: Vec<(&str, Result<&str, &str>)> = vec![
            ("plain", Ok("plain")),
            ("https://${HOST}/", Ok("https://traccar.example.com/")),
            ("${PHONE}${_X1}", Ok("+43 1x")),
            ("${EMPTY}", Ok("")),
            ("$${HOST}", Ok("${HOST}")),
            ("$$${HOST}", Ok("$${HOST}")),
            ("cost $5 and $ {x}", Ok("cost $5 and $ {x}")),
            (
                "${MISSING}",
                Err("the environment variable MISSING is not set"),
            ),
            ("a ${HOST", Err("`${` without a closing `}`")),
            ("${1A}", Err("`${1A}` is not a variable")),
            ("${}", Err("`${}` is not a variable")),
        ];
        for (text, want) in table {
            let got = expand(text, &env).map(|(v, _)| v);
            match want {
                Ok(v) => assert_eq!(got.as_deref(), Ok(v), "case: {text}"),
                Err(prefix) => {
                    let e = got.expect_err(text);
                    assert!(e.starts_with(prefix), "case {text}: {e}");
                }
            }
        }
    }

    #[test]
    fn redaction_replaces_values_longest_first_once() {
        let mut r = vec![
            (
                "https://traccar.example.com/".to_string(),
                "https://${HOST}/".to_string(),
            ),
            ("traccar.example.com".to_string(), "${HOST}".to_string()),
            ("x".to_string(), "${X}".to_string()),
        ];
        r.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        assert_eq!(
            redact(
                "bad url \"https://traccar.example.com/\" or traccar.example.com",
                &r
            ),
            "bad url \"https://${HOST}/\" or ${HOST}"
        );
        assert_eq!(redact("x and ${X}", &r), "${X} and ${X}");
    }

    #[test]
    fn echoes_cut_short_are_redacted_and_debug_shows_no_value() {
        let long = "Ünïcode-secret-".repeat(10);
        let r = Redactions::new(vec![
            (long.clone(), "${LONG}".into()),
            ("who-is-it".into(), "${WHO}".into()),
        ]);
        let cut: String = long.chars().take(80).collect();
        assert_eq!(
            r.apply(&format!(
                "Value too long: \"'{cut}...' (150)\"; who-is-it here"
            )),
            "Value too long: \"'${LONG}...' (150)\"; ${WHO} here"
        );
        // Starts shorter than MIN_ECHO_LEN are ordinary text.
        let short: String = long.chars().take(MIN_ECHO_LEN - 1).collect();
        assert_eq!(r.apply(&short), short);
        let at_min: String = long.chars().take(MIN_ECHO_LEN).collect();
        assert_eq!(r.apply(&format!("[{at_min}]")), "[${LONG}]");
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("who"),
            "{debug}"
        );
    }
}
