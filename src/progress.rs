//! Progress: what the control plane is doing, how far along it is, and how long until Ready.
//!
//! Percent is the state's base (declared with the states) plus the share of the state's span that
//! the current step reports, so it rises monotonically along Pending, Validating, Provisioning,
//! Configuring, Ready:
//!
//! | state | percent |
//! |---|---|
//! | Pending | 0 |
//! | Validating | 5 to 10 |
//! | Provisioning | 10 to 85 |
//! | Configuring | 85 to 100 |
//! | Ready | 100 |
//! | Degraded | 90 |
//! | Recovering | 50 to 85 |
//! | Failed | 0 |
//!
//! The estimated time remaining sums, over the states still ahead on the way to Ready, how long
//! each took on average in this control plane's history, or a documented default when the history
//! has none ([`default_duration`]); the time already spent in the current state is subtracted, and
//! the result is never negative. It is absent when Ready, Failed or Degraded, and while the
//! current operation waits for someone else ([`Operation::blocked`]): then no estimate is honest.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    api::{OperationRecord, ProgressInfo, duration},
    state::{Core, StateName},
};

/// The step inside a state, as the reconciler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What is being done, in words ("Waiting for Workspace prod-eks to become Ready").
    pub description: String,
    /// How far the step is through the state, 0.0 to 1.0.
    pub fraction: f64,
    /// Nothing moves until someone else acts (the user, Cluster API, the network): no estimate
    /// of the time left is honest then.
    pub blocked: bool,
}

impl Operation {
    /// An operation `fraction` of the way through its state.
    pub fn new(description: impl Into<String>, fraction: f64) -> Self {
        Self {
            description: description.into(),
            fraction: fraction.clamp(0.0, 1.0),
            blocked: false,
        }
    }

    /// A wait for someone else, which no estimate can time.
    pub fn blocked(description: impl Into<String>, fraction: f64) -> Self {
        Self {
            blocked: true,
            ..Self::new(description, fraction)
        }
    }
}

/// Default time spent in a state when the history has no measurement: the typical EKS figures.
pub fn default_duration(state: StateName) -> Duration {
    let secs = match state {
        StateName::Pending => 5,
        StateName::Validating => 5,
        StateName::Provisioning => 15 * 60,
        StateName::Configuring => 30,
        StateName::Recovering => 10 * 60,
        StateName::Degraded | StateName::Ready | StateName::Failed => 0,
    };
    Duration::from_secs(secs)
}

/// The operation a transition begins, in words.
pub fn operation_of(from: StateName, to: StateName) -> &'static str {
    use StateName::*;
    match (from, to) {
        (_, Validating) => "Validating dependencies",
        (Ready, Provisioning) => "Updating the control plane",
        (_, Provisioning) => "Provisioning the EKS control plane",
        (_, Configuring) => "Configuring endpoint and secrets",
        (Degraded, Ready) => "Health restored",
        (Recovering, Ready) => "Recovered",
        (_, Ready) => "Control plane ready",
        (_, Degraded) => "Health check failing",
        (_, Recovering) => "Running a recovery action",
        (_, Failed) => "Failed",
        (_, Pending) => "Waiting for the Cluster",
    }
}

/// The states still to pass through from `state` to Ready, in order, including `state` itself.
fn path_to_ready(state: StateName) -> &'static [StateName] {
    use StateName::*;
    match state {
        Pending => &[Pending, Validating, Provisioning, Configuring],
        Validating => &[Validating, Provisioning, Configuring],
        Provisioning => &[Provisioning, Configuring],
        Configuring => &[Configuring],
        Recovering => &[Recovering, Provisioning, Configuring],
        Ready | Degraded | Failed => &[],
    }
}

/// Mean time spent in `state` according to the history, if it was ever left.
fn measured(state: StateName, history: &[OperationRecord]) -> Option<Duration> {
    let spans: Vec<Duration> = history
        .iter()
        .filter(|r| r.from == state.as_str())
        .filter_map(|r| r.duration.as_deref())
        .filter_map(|d| duration::parse("history.duration", d).ok())
        .collect();
    let count = u32::try_from(spans.len()).ok().filter(|&n| n > 0)?;
    Some(spans.iter().sum::<Duration>() / count)
}

/// Estimated time until Ready from `state`, after `elapsed` in it. `None` when Ready, Failed or
/// Degraded (which returns to Ready only when the failure clears, at no time anyone can tell).
pub fn estimate_remaining(
    state: StateName,
    elapsed: Duration,
    history: &[OperationRecord],
) -> Option<Duration> {
    let path = path_to_ready(state);
    if path.is_empty() {
        return None;
    }
    let total: Duration = path
        .iter()
        .map(|&s| measured(s, history).unwrap_or_else(|| default_duration(s)))
        .sum();
    Some(total.saturating_sub(elapsed))
}

/// Percent complete of `state` at `fraction` of the way through it.
pub fn percent(state: StateName, fraction: f64) -> i32 {
    let span = match state {
        StateName::Validating => 5,
        StateName::Provisioning => 75,
        StateName::Configuring => 15,
        StateName::Recovering => 35,
        _ => 0,
    };
    let within = (f64::from(span) * fraction.clamp(0.0, 1.0)).round() as i32;
    (state.base_percent() + within).clamp(0, 100)
}

/// The status' progress block for `state` at `operation`. No estimate while the operation waits
/// for someone else, or in a state that only moves when something changes (Degraded).
pub fn info(state: StateName, operation: &Operation, core: &Core) -> ProgressInfo {
    let remaining = estimate_remaining(state, core.time_in_state(), core.history())
        .filter(|_| !operation.blocked && state != StateName::Degraded);
    ProgressInfo {
        current_operation: operation.description.clone(),
        percent_complete: percent(state, operation.fraction),
        // Rounded to the minute so the estimate does not change the status on every pass.
        estimated_time_remaining: remaining.map(|d| duration::format(round_up_to_minute(d))),
        state_since: Some(Time(core.entered_at())),
        history: core.history().to_vec(),
        history_omitted: i32::try_from(core.omitted()).unwrap_or(i32::MAX),
    }
}

fn round_up_to_minute(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().div_ceil(60) * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(from: StateName, secs: u64) -> OperationRecord {
        OperationRecord {
            operation: String::new(),
            from: from.as_str().into(),
            to: String::new(),
            reason: String::new(),
            message: String::new(),
            time: Time(jiff::Timestamp::UNIX_EPOCH),
            duration: Some(duration::format(Duration::from_secs(secs))),
        }
    }

    #[test]
    fn percent_rises_along_the_happy_path() {
        let path = [
            percent(StateName::Pending, 0.0),
            percent(StateName::Validating, 0.5),
            percent(StateName::Provisioning, 0.0),
            percent(StateName::Provisioning, 0.6),
            percent(StateName::Configuring, 0.5),
            percent(StateName::Ready, 0.0),
        ];
        assert!(path.windows(2).all(|w| w[0] <= w[1]), "{path:?}");
        assert_eq!(path.last(), Some(&100));
    }

    #[test]
    fn eta_uses_defaults_without_history_and_history_when_present() {
        let default = estimate_remaining(StateName::Provisioning, Duration::ZERO, &[]).unwrap();
        assert_eq!(default, Duration::from_secs(15 * 60 + 30));
        let history = [
            record(StateName::Provisioning, 600),
            record(StateName::Provisioning, 400),
        ];
        let measured = estimate_remaining(StateName::Provisioning, Duration::ZERO, &history).unwrap();
        assert_eq!(measured, Duration::from_secs(500 + 30));
    }

    #[test]
    fn eta_is_never_negative_and_absent_when_done() {
        let late = estimate_remaining(StateName::Configuring, Duration::from_secs(3600), &[]).unwrap();
        assert_eq!(late, Duration::ZERO);
        assert_eq!(estimate_remaining(StateName::Ready, Duration::ZERO, &[]), None);
        assert_eq!(estimate_remaining(StateName::Failed, Duration::ZERO, &[]), None);
    }
}
