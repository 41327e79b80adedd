//! The check that a computed attribute's `expression` at least parses (the
//! `computedAttributes:` section). Traccar stores any text (observed-objects.md §6: `"1 +* ("`
//! was accepted) and evaluates it with Apache Commons JEXL on every position, where a broken
//! expression only logs an error; fleetform refuses it when the file is loaded. Pure.
//!
//! Design: a recursive-descent recogniser of the JEXL expression syntax Traccar's attributes
//! use, not an evaluator: literals (numbers, strings in `'` or `"`, `true`, `false`, `null`),
//! names with `.field`, `[index]` and calls `f(a, b)` (also `ns:f(...)`), arrays `[a, b]`,
//! parentheses, prefix `!`, `-`, `~`, `not`, `empty`, `size`, the binary operators (symbols and
//! the word forms `and`, `or`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `div`, `mod`), the
//! conditional `a ? b : c` and `a ?: b`. Operator precedence does not matter for whether a
//! text parses, so binary operators are taken left to right. Anything else is an error naming
//! the column (counted from 1, in characters).

/// Whether `text` parses as an expression, or why not.
pub fn check(text: &str) -> Result<(), String> {
    let tokens = tokens(text)?;
    let mut parser = Parser { tokens, at: 0 };
    if parser.tokens.is_empty() {
        return Err("the expression is empty".into());
    }
    parser.expression()?;
    match parser.tokens.get(parser.at) {
        None => Ok(()),
        Some(token) => Err(unexpected(token)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Number,
    Text,
    Name(String),
    Symbol(&'static str),
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    column: usize,
    shown: String,
}

fn unexpected(token: &Token) -> String {
    format!("unexpected `{}` at column {}", token.shown, token.column)
}

/// Longest first, so `<=` wins over `<`.
const SYMBOLS: [&str; 30] = [
    "?:", "==", "!=", "<=", ">=", "&&", "||", "=~", "!~", "=^", "=$", "+", "-", "*", "/", "%", "<",
    ">", "!", "~", "&", "|", "^", "?", ":", "(", ")", "[", "]", ",",
];

const WORD_OPERATORS: [&str; 10] = [
    "and", "or", "eq", "ne", "lt", "le", "gt", "ge", "div", "mod",
];
const BINARY_SYMBOLS: [&str; 18] = [
    "==", "!=", "<=", ">=", "&&", "||", "=~", "!~", "=^", "=$", "+", "-", "*", "/", "%", "<", ">",
    "&",
];

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            {
                // An exponent's sign belongs to the number: `1e-3`.
                if matches!(chars.get(i), Some('e' | 'E'))
                    && matches!(chars.get(i + 1), Some('+' | '-'))
                {
                    i += 1;
                }
                i += 1;
            }
            Kind::Number
        } else if c == '\'' || c == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("the string opened at column {column} never ends")),
                    Some('\\') => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            Kind::Text
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            {
                i += 1;
            }
            Kind::Name(chars[start..i].iter().collect())
        } else {
            let rest: String = chars[i..].iter().take(2).collect();
            let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                return Err(format!("unexpected `{c}` at column {column}"));
            };
            i += symbol.chars().count();
            Kind::Symbol(symbol)
        };
        // `.` between names: a field access (`position.speed`), written as its own symbol.
        out.push(Token {
            kind,
            column,
            shown: chars[start..i].iter().collect(),
        });
        if chars.get(i) == Some(&'.') && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            out.push(Token {
                kind: Kind::Symbol("."),
                column: i + 1,
                shown: ".".into(),
            });
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.at).map(|t| &t.kind)
    }

    fn next_is(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Kind::Symbol(s)) if *s == symbol)
    }

    fn expect(&mut self, symbol: &str) -> Result<(), String> {
        if self.next_is(symbol) {
            self.at += 1;
            return Ok(());
        }
        Err(match self.tokens.get(self.at) {
            Some(token) => format!("{}; expected `{symbol}`", unexpected(token)),
            None => format!("the expression ends where `{symbol}` was expected"),
        })
    }

    fn expression(&mut self) -> Result<(), String> {
        self.binary()?;
        if self.next_is("?:") {
            self.at += 1;
            return self.expression();
        }
        if self.next_is("?") {
            self.at += 1;
            self.expression()?;
            self.expect(":")?;
            self.expression()?;
        }
        Ok(())
    }

    fn binary(&mut self) -> Result<(), String> {
        self.unary()?;
        loop {
            let operator = match self.peek() {
                Some(Kind::Symbol(s)) => BINARY_SYMBOLS.contains(s) || *s == "|" || *s == "^",
                Some(Kind::Name(word)) => WORD_OPERATORS.contains(&word.as_str()),
                _ => false,
            };
            if !operator {
                return Ok(());
            }
            self.at += 1;
            self.unary()?;
        }
    }

    fn unary(&mut self) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(Kind::Symbol("!" | "-" | "~")) => self.at += 1,
                Some(Kind::Name(word)) if ["not", "empty", "size"].contains(&word.as_str()) => {
                    // `size(x)` is also a plain call: leave it to `primary`.
                    if word != "not"
                        && self
                            .tokens
                            .get(self.at + 1)
                            .is_some_and(|t| t.kind == Kind::Symbol("("))
                    {
                        break;
                    }
                    self.at += 1;
                }
                _ => break,
            }
        }
        self.primary()?;
        // Postfix: `.name`, `[index]`, `(arguments)`.
        loop {
            if self.next_is(".") {
                self.at += 1;
                match self.peek() {
                    Some(Kind::Name(_)) => self.at += 1,
                    _ => return Err(self.unexpected_here("a name after `.`")),
                }
            } else if self.next_is("[") {
                self.at += 1;
                self.expression()?;
                self.expect("]")?;
            } else if self.next_is("(") {
                self.at += 1;
                self.list(")")?;
            } else {
                return Ok(());
            }
        }
    }

    fn primary(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(Kind::Number | Kind::Text) => self.at += 1,
            Some(Kind::Name(word)) if WORD_OPERATORS.contains(&word.as_str()) => {
                return Err(self.unexpected_here("a value"));
            }
            Some(Kind::Name(_)) => {
                self.at += 1;
                // A namespaced function: `math:abs(x)`.
                if self.next_is(":")
                    && matches!(
                        self.tokens.get(self.at + 1).map(|t| &t.kind),
                        Some(Kind::Name(_))
                    )
                    && self
                        .tokens
                        .get(self.at + 2)
                        .is_some_and(|t| t.kind == Kind::Symbol("("))
                {
                    self.at += 2;
                }
            }
            Some(Kind::Symbol("(")) => {
                self.at += 1;
                self.expression()?;
                self.expect(")")?;
            }
            Some(Kind::Symbol("[")) => {
                self.at += 1;
                self.list("]")?;
            }
            _ => return Err(self.unexpected_here("a value")),
        }
        Ok(())
    }

    /// Comma-separated expressions up to `close` (which may come at once).
    fn list(&mut self, close: &str) -> Result<(), String> {
        if self.next_is(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.expression()?;
            if self.next_is(",") {
                self.at += 1;
                continue;
            }
            return self.expect(close);
        }
    }

    fn unexpected_here(&self, wanted: &str) -> String {
        match self.tokens.get(self.at) {
            Some(token) => format!("{}; expected {wanted}", unexpected(token)),
            None => format!("the expression ends where {wanted} was expected"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn expressions_traccar_users_write_parse() {
        for text in [
            "speed * 1.852",
            "ignition ? \"sos\" : null",
            "true",
            "(fuel1 + fuel2) / 2",
            "!ignition && speed > 5",
            "io200 == 1 ? 'on' : 'off'",
            "power < 12.5 and not charge",
            "math:abs(temp1 - temp2) > 1e-3",
            "alarm ?: 'none'",
            "position.speed * 3.6",
            "battery != null ? battery[0] : -1",
            "size(driverUniqueId) > 0",
            "rssi mod 2 eq 0",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn broken_expressions_are_refused_with_the_column() {
        let table = [
            ("1 +* (", "unexpected `*` at column 4; expected a value"),
            ("", "the expression is empty"),
            ("speed *", "the expression ends where a value was expected"),
            ("(speed", "the expression ends where `)` was expected"),
            ("a ? b", "the expression ends where `:` was expected"),
            ("speed 2", "unexpected `2` at column 7"),
            ("'open", "the string opened at column 1 never ends"),
            ("speed # 2", "unexpected `#` at column 7"),
        ];
        for (text, expected) in table {
            assert_eq!(check(text), Err(expected.to_string()), "{text}");
        }
    }
}
