//! Go-style durations (`metav1.Duration`), as the proposal's `RecoveryAction.timeout` and Cluster API
//! fields use them. Spec fields hold the string so a bad value is reported by the field that holds
//! it, not by a failed deserialization of the whole object; the CRD rejects most bad values first.

use std::{str::FromStr, time::Duration};

/// What the CRD accepts: one or more `<number><unit>` groups, as Go's `time.ParseDuration` does,
/// without a sign (negative durations make no sense in a spec).
pub const PATTERN: &str = r"^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$";

/// A duration field that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value:?} is not a duration such as 30s, 5m or 1h30m")]
pub struct InvalidDuration {
    /// The field path, e.g. `spec.recoveryStrategy.backoff.initialDelay`.
    pub field: String,
    /// The value as written.
    pub value: String,
}

/// Parses a Go-style duration, naming `field` in the error.
pub fn parse(field: &str, value: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let parsed = kube::core::Duration::from_str(value).map_err(|_| invalid())?;
    if parsed.is_negative() {
        return Err(invalid());
    }
    Ok(parsed.into())
}

/// Parses an optional duration field, falling back to `default` when absent.
pub fn parse_or(field: &str, value: Option<&str>, default: Duration) -> Result<Duration, InvalidDuration> {
    value.map_or(Ok(default), |v| parse(field, v))
}

/// Formats a duration the way Go prints `metav1.Duration`, rounded to whole seconds
/// (`1h2m3s`, `45s`, `0s`).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("f", "30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("f", "1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("f", "1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn rejects_garbage_and_negatives_naming_the_field() {
        let err = parse("spec.x", "soon").unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.x: \"soon\" is not a duration such as 30s, 5m or 1h30m"
        );
        assert!(parse("spec.x", "-5s").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(0)), "0s");
        assert_eq!(format(Duration::from_secs(45)), "45s");
        assert_eq!(format(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format(Duration::from_secs(600)), "10m0s");
    }
}
