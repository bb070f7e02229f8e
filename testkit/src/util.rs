//! Small helpers shared by the harness and the simulator.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The repository this code runs from: the nearest ancestor of the running package's directory
/// that holds `manifests/crds`.
///
/// Found at run time from `CARGO_MANIFEST_DIR`, which `cargo test` and `cargo run` set, and only
/// then from the compile-time value: two checkouts that share one target directory (as `.ci/run`
/// and `hack/` scripts do) can reuse a build made in the other checkout, whose compile-time path
/// would read the other checkout's manifests.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| dir.join("manifests/crds").is_dir())
        .map_or(start.clone(), Path::to_path_buf)
}

/// A random lowercase alphanumeric string of `len` characters, usable in Kubernetes names.
///
/// Randomness from std's per-instance random hasher keys: enough to keep test names apart, with
/// no dependency on a random number crate.
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bits = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        for _ in 0..8 {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[(bits % ALPHABET.len() as u64) as usize]));
            bits /= ALPHABET.len() as u64;
        }
    }
    out
}

/// Parses a Go-style duration such as `30s`, `1m30s`, `500ms` or `1.5h` (units ns, us, µs, ms, s,
/// m, h), the format of `metav1.Duration` and of the simulator's annotations. Negative durations
/// are rejected.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "soon", "5", "-1s", "1d", "s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn random_suffixes_are_names() {
        let a = random_suffix(6);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(random_suffix(12), random_suffix(12));
    }
}
