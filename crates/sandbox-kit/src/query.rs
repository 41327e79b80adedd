//! Query strings and form bodies as both services decode them: `&`-separated pairs, `+` as a
//! space, `%XX` as a byte, a malformed escape kept as written, invalid UTF-8 replaced. How a
//! service then looks keys up (Traccar: exact; ASP.NET: any case) is the sandbox's.

/// The pairs of a query string or form body in order, percent-decoded; a pair without `=` has
/// an empty value and empty pairs are skipped.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `+` and `%XX` (two hex digits); anything else, a lone `%` included, stays as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_plus_are_decoded_and_malformed_ones_kept() {
        assert_eq!(percent_decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
        assert_eq!(percent_decode("100%zz"), "100%zz");
        assert_eq!(percent_decode("%+1x"), "% 1x", "a sign is not a hex digit");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn pairs_keep_order_and_duplicates() {
        assert_eq!(
            query_pairs("userId=1&&all&userId=2&q=a%3Db"),
            vec![
                ("userId".to_string(), "1".to_string()),
                ("all".to_string(), String::new()),
                ("userId".to_string(), "2".to_string()),
                ("q".to_string(), "a=b".to_string()),
            ]
        );
        assert!(query_pairs("").is_empty());
    }
}
