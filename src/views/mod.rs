//! Views of the core's values: the plan rendered as text, JSON or markdown, the drift report,
//! the exported fleet file, saved plans and metrics files. Pure formatting and parsing of
//! formats; the only file I/O is `metrics::write_atomically`.

pub(crate) mod drift;
pub(crate) mod export;
pub(crate) mod metrics;
pub mod render;
pub(crate) mod saved;

/// `n` and the noun, singular for one: "1 user", "2 users", "0 links". Nouns here take `s`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(super::count(0, "user"), "0 users");
        assert_eq!(super::count(1, "user"), "1 user");
        assert_eq!(super::count(2, "link"), "2 links");
    }
}
