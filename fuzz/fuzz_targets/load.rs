//! Fuzzes the fleet file loader: any bytes must give a `Loaded` or located problems, never a
//! panic, a hang or unbounded memory (libFuzzer's `-rss_limit_mb` and `-timeout` catch those).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(problems) = fleetform::config::parse_bytes(data, "fuzz.yaml") {
        // Every problem names the file, and none is empty.
        assert!(!problems.0.is_empty());
        for p in &problems.0 {
            assert!(p.location.as_deref().is_some_and(|l| l.starts_with("fuzz.yaml")));
        }
    }
});
