//! suggest: the closest allowed word to one that is not allowed, when it is a plausible typo.
//! Pure; shared by the fleet file's loader (unknown keys, names) and the backends' plan-time
//! checks (a Traccar alarm key), which must not import each other.

/// The closest allowed word, if it is a plausible typo (a small edit distance, ignoring case).
pub fn suggest<'a>(got: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let got = got.to_lowercase();
    allowed
        .iter()
        .map(|a| (edit_distance(&got, &a.to_lowercase()), *a))
        // Short keys are close to many others; demand more similarity from them.
        .filter(|(d, _)| *d <= if got.chars().count() <= 5 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
