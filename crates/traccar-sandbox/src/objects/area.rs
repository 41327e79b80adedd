//! The geometry check a geofence's `area` passes while Traccar reads it **before 6.9.0**, when
//! `Geofence.setArea` still parsed the geometry eagerly (6.9.0, "Lazy geometry
//! initialization", made the API store any string; observed-objects.md §2). Real 5.12 answered
//! these texts as Jackson errors (400 text/plain): `Unknown geometry type`, `No content`, `Not
//! valid content`, `Too much or less coordinates`, `Here must be two coordinates: <token>`,
//! `<token> is not a double`, and Java's own `begin 1, end -1, length 18` when a parenthesis
//! is missing.
//!
//! The rules, per shape (the text must start with the upper-case keyword):
//! - `CIRCLE`: the text between the first `(` and the first `)` splits on `,` into exactly two
//!   parts; the first splits on single whitespace characters into exactly two coordinates (no
//!   trimming: `CIRCLE ( 1 1, 10)` has three); coordinates and radius parse as Java doubles.
//! - `POLYGON`: the text between `((` and `))` splits on `,` into at least three points,
//!   `LINESTRING`: between `(` and `)`, at least two; each point, trimmed, splits on single
//!   whitespace characters into exactly two Java doubles.
//!
//! Java's `String.split` drops trailing empty parts; `Double.parseDouble` trims, takes a sign,
//! an exponent, a `d`/`f` suffix, `NaN` and `Infinity`.

/// Checks `area` as 5.12's `Geofence.setArea` did; the error is the exception's message.
pub(crate) fn check(area: &str) -> Result<(), String> {
    if area.starts_with("CIRCLE") {
        circle(area)
    } else if area.starts_with("POLYGON") {
        points(area, "((", "))", 3)
    } else if area.starts_with("LINESTRING") {
        points(area, "(", ")", 2)
    } else {
        Err("Unknown geometry type".into())
    }
}

/// `wkt.substring(wkt.indexOf(open) + open.len(), wkt.indexOf(close))` with Java's bounds
/// error (`indexOf` is -1 when absent).
fn between<'a>(wkt: &'a str, open: &str, close: &str) -> Result<&'a str, String> {
    let index = |needle: &str| wkt.find(needle).map_or(-1, |i| i as i64);
    let begin = index(open) + open.len() as i64;
    let end = index(close);
    let length = wkt.chars().count();
    if begin < 0 || end < begin || end as usize > wkt.len() {
        return Err(format!("begin {begin}, end {end}, length {length}"));
    }
    Ok(&wkt[begin as usize..end as usize])
}

/// Java's `String.split(regex)` for a one-character separator: no match gives the whole
/// string, trailing empty parts are dropped.
fn java_split(text: &str, separator: impl Fn(char) -> bool) -> Vec<&str> {
    if !text.contains(&separator) {
        return vec![text];
    }
    let mut parts: Vec<&str> = text.split(separator).collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

fn whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// `String.trim()`: strips characters up to U+0020 at both ends.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// Whether `Double.parseDouble` accepts `text` (decimal forms; hexadecimal ones are not
/// modelled).
fn java_double(text: &str) -> bool {
    let t = java_trim(text);
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "NaN" || unsigned == "Infinity" {
        return true;
    }
    let number = unsigned
        .strip_suffix(['d', 'D', 'f', 'F'])
        .unwrap_or(unsigned);
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(i) => (&number[..i], Some(&number[i + 1..])),
        None => (number, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn double(token: &str) -> Result<(), String> {
    if java_double(token) {
        Ok(())
    } else {
        Err(format!("{token} is not a double"))
    }
}

fn circle(wkt: &str) -> Result<(), String> {
    let content = between(wkt, "(", ")")?;
    if content.is_empty() {
        return Err("No content".into());
    }
    let parts = java_split(content, |c| c == ',');
    if parts.len() != 2 {
        return Err("Not valid content".into());
    }
    let coordinates = java_split(parts[0], whitespace);
    if coordinates.len() != 2 {
        return Err("Too much or less coordinates".into());
    }
    double(coordinates[0])?;
    double(coordinates[1])?;
    double(parts[1])
}

fn points(wkt: &str, open: &str, close: &str, minimum: usize) -> Result<(), String> {
    let content = between(wkt, open, close)?;
    if content.is_empty() {
        return Err("No content".into());
    }
    let parts = java_split(content, |c| c == ',');
    if parts.len() < minimum {
        return Err("Not valid content".into());
    }
    for part in parts {
        let coordinates = java_split(java_trim(part), whitespace);
        if coordinates.len() != 2 {
            return Err(format!("Here must be two coordinates: {part}"));
        }
        double(coordinates[0])?;
        double(coordinates[1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_real_5_12_did() {
        let cases: [(&str, Result<(), &str>); 14] = [
            ("garbage", Err("Unknown geometry type")),
            ("CIRCLE (abc)", Err("Not valid content")),
            ("CIRCLE (1 1, 10)", Ok(())),
            ("CIRCLE (1 1 10)", Err("Not valid content")),
            ("CIRCLE (1 1, x)", Err(" x is not a double")),
            ("CIRCLE(1 1, 10)", Ok(())),
            ("POLYGON ((1 1, 2 2, 3 3, 1 1))", Ok(())),
            ("POLYGON ((1 1, 2 x))", Err("Not valid content")),
            ("POLYGON (1 1, 2 2)", Err("begin 1, end -1, length 18")),
            ("LINESTRING (1 1, 2 2)", Ok(())),
            ("LINESTRING (a b)", Err("Not valid content")),
            ("circle (1 1, 10)", Err("Unknown geometry type")),
            ("CIRCLE (100 200, 10)", Ok(())),
            ("", Err("Unknown geometry type")),
        ];
        for (area, expected) in cases {
            assert_eq!(check(area), expected.map_err(str::to_string), "{area:?}");
        }
    }

    #[test]
    fn java_rules_for_splitting_and_doubles() {
        assert_eq!(
            check("CIRCLE ( 1 1, 10)"),
            Err("Too much or less coordinates".into())
        );
        assert_eq!(
            check("CIRCLE (1 1, 10,)"),
            Ok(()),
            "a trailing empty part is dropped"
        );
        assert_eq!(check("CIRCLE (1e3 -2.5, 10d)"), Ok(()));
        assert_eq!(
            check("CIRCLE (1 1, inf)"),
            Err(" inf is not a double".into())
        );
        assert_eq!(
            check("POLYGON ((1 1, 2  2, 3 3))"),
            Err("Here must be two coordinates:  2  2".into())
        );
        assert_eq!(check("CIRCLE ()"), Err("No content".into()));
    }
}
