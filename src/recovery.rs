//! Self-healing: the recovery strategy, backoff, the planner that decides what to do about a
//! failure, and the retry record that remembers what was tried.
//!
//! Pure: the caller passes the failure, the record, the clock reading and a source of jitter; the
//! planner answers with a [`Plan`] and updates the record, which the caller persists (annotation
//! [`RECOVERY_ANNOTATION`](crate::api::RECOVERY_ANNOTATION), mirrored in `status.recovery`).
//! Carrying out an action (deleting a Workspace, removing an annotation, rewriting secrets) is the
//! controller's job.
//!
//! # Expected flow
//!
//! 1. A failure is seen, with what can fix it ([`crate::remedy`]): a failing health report
//!    ([`Failure::from_report`]), a Workspace that fails while provisioning ([`Failure::new`]), or
//!    a configuration error ([`Failure::permanent`]).
//! 2. [`Planner::plan`] answers, and records its answer:
//!    - [`Plan::Hold`] — no action of ours can fix it; wait for whoever can (nothing is counted);
//!    - [`Plan::Wait`] — not yet; requeue at `until` (the same `until` on every call, because the
//!      jittered time is stored, so waiting causes no writes);
//!    - [`Plan::Act`] — run this action now, count it, and give it until `deadline`; its evidence
//!      takes the control plane to Recovering;
//!    - [`Plan::Escalate`] — stop; its evidence takes the control plane to Failed.
//! 3. While Recovering, the controller watches the action. When it has done its work,
//!    [`Planner::succeeded`] says where to resume ([`Resume`]); if it failed,
//!    [`Planner::failed`] records it and the next [`Planner::plan`] schedules a retry after backoff.
//!    An action still unfinished at its deadline is timed out by the next [`Planner::plan`].
//! 4. While healthy, [`Planner::observe_healthy`] drops a pending schedule, and once the control
//!    plane has been healthy for `minHealthyPeriod` since the last attempt it resets the count: a
//!    later failure is a new sequence with the full budget (Cluster API's KCP does the same).
//! 5. A user retry of a Failed control plane calls [`RetryRecord::restart`].
//!
//! # How the planner decides
//!
//! In this order, first match wins:
//!
//! | # | situation | plan |
//! |---|---|---|
//! | 1 | only a spec or template change can fix it | Escalate `Escalated` |
//! | 2 | no action of ours can fix it | Hold: nothing counted, nothing scheduled (an earlier schedule is dropped) |
//! | 3 | an action is in flight and `now < deadline` | Wait until the deadline |
//! | 4 | an action is in flight past its deadline | record it TimedOut; with no retries left Escalate `RecoveryTimedOut`, else continue |
//! | 5 | `attempts >= maxRetries` | Escalate `RetriesExhausted` |
//! | 6 | `spec.recoveryStrategy.actions` is set and does not list the action | Escalate `Escalated` if it lists Escalate, else Hold |
//! | 7 | RecreateWorkspace, and a Workspace was deleted less than `minHealthyPeriod` ago (and the user has not retried since) | Wait until `minHealthyPeriod` has passed |
//! | 8 | no attempt scheduled | schedule `now + backoff(attempts)` (rounded up to the second) |
//! | 9 | `now <` the scheduled time | Wait until it |
//! | 10 | otherwise | Act: attempts + 1, deadline `now + timeout(action)` |
//!
//! The action is the one the failure's remedy names; `spec.recoveryStrategy.actions`, when set,
//! is the list of actions allowed to run (and their timeouts). Without it every action may run
//! when its failure calls for it: the cheap ones (ClearCreatePending, RefreshKubeconfig) fix what
//! they fix, and RecreateWorkspace runs only for the failures [`crate::remedy`] lets it fix.
//!
//! # Defaults, and why
//!
//! `maxRetries` 3 and `minHealthyPeriod` 1h. Cluster API's KubeadmControlPlane remediates without a
//! retry limit by default, but each of its remediations replaces one machine of several, behind
//! quorum checks, with `minHealthyPeriod` 1h. Here a RecreateWorkspace destroys and recreates the
//! whole EKS control plane (15–20 minutes each way), so the budget is bounded, and a Workspace is
//! deleted at most once per `minHealthyPeriod`: the worst case is three recoveries, at most one
//! of them destructive per hour, then Failed with a Warning, where a user decides.
//!
//! # Guarantees
//!
//! - `attempts` never exceeds `maxRetries`, and at most one action is in flight.
//! - The planner never acts before a time it answered with [`Plan::Wait`], and never for a
//!   failure whose remedy names no action.
//! - RecreateWorkspace runs at most once per `minHealthyPeriod`, unless the user retried since.
//! - Backoff `initialDelay * factor^n` never decreases with `n`, is capped at `maxDelay`, and adds
//!   at most `jitter` of itself at random.
//! - Stored times are whole seconds (deadlines and schedules rounded up), so the record survives
//!   the round trip through its annotation exactly.
//!
//! # Errors
//!
//! [`RecoveryError`]: a strategy field that does not parse (named by its path), an annotation that
//! does not parse (fall back to `status.recovery`), or a finish with no action in flight.

use std::{
    collections::{BTreeMap, hash_map::RandomState},
    hash::{BuildHasher, Hasher},
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{RecoveryAction, RecoveryActionType, RecoveryAttempt, RecoveryInfo, RecoveryStrategy, duration},
    health::HealthReport,
    remedy::{Fixer, Remedy},
    state::{
        Configuring, Escalated, Provisioning, Ready, RecoveryPlanned, Repaired,
        evidence::{ConfigurationFacts, configured},
    },
};

/// Delay before the first attempt when `backoff.initialDelay` is absent.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(30);
/// Upper bound of the delay when `backoff.maxDelay` is absent.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(600);
/// Growth per attempt when `backoff.factor` is absent.
pub const DEFAULT_FACTOR: f64 = 2.0;
/// Random extra delay, as a fraction of the delay, when `backoff.jitter` is absent.
pub const DEFAULT_JITTER: f64 = 0.1;
/// Healthy time after which the attempt count resets, and the least time between two Workspace
/// deletions, when `minHealthyPeriod` is absent (KubeadmControlPlane's default).
pub const DEFAULT_MIN_HEALTHY_PERIOD: Duration = Duration::from_secs(3600);
/// Attempts per failure sequence when `maxRetries` is absent (see the module docs for why).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Time an action may take when its `timeout` is absent. Longer than provider-terraform's
/// default 20 minute apply timeout, so a Workspace still applying is not "recovered".
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(1800);
/// The actions allowed when `actions` is absent, cheapest first; each runs only for the failures
/// it can fix ([`crate::remedy`]).
pub const DEFAULT_ACTIONS: &[RecoveryActionType] = &[
    RecoveryActionType::ClearCreatePending,
    RecoveryActionType::RefreshKubeconfig,
    RecoveryActionType::RecreateWorkspace,
];
/// How many finished attempts the record keeps (newest last).
pub const HISTORY_LIMIT: usize = 10;
/// Attempts past this use its delay: the growth loop stays bounded for any factor.
const MAX_GROWTH_STEPS: u32 = 10_000;

/// What can go wrong in recovery bookkeeping.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecoveryError {
    /// A duration field that does not parse.
    #[error(transparent)]
    InvalidDuration(#[from] duration::InvalidDuration),
    /// `maxRetries` below zero.
    #[error("spec.recoveryStrategy.maxRetries: {0} is negative")]
    NegativeMaxRetries(i32),
    /// `backoff.factor` below 1 or not a number.
    #[error("spec.recoveryStrategy.backoff.factor: {0} must be a number of at least 1")]
    InvalidFactor(f64),
    /// `backoff.jitter` outside 0 to 1.
    #[error("spec.recoveryStrategy.backoff.jitter: {0} must be between 0 and 1")]
    InvalidJitter(f64),
    /// `maxDelay` shorter than `initialDelay`.
    #[error("spec.recoveryStrategy.backoff.maxDelay: {max} is shorter than initialDelay {initial}")]
    MaxDelayBelowInitial {
        /// `maxDelay` as formatted.
        max: String,
        /// `initialDelay` as formatted.
        initial: String,
    },
    /// An action timeout of zero.
    #[error("{field}: the timeout must be longer than 0s")]
    ZeroTimeout {
        /// The field path.
        field: String,
    },
    /// The recovery annotation does not parse.
    #[error("annotation {annotation}: {message}")]
    BadAnnotation {
        /// The annotation key.
        annotation: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A finish was reported with no action in flight.
    #[error("no recovery action is in flight")]
    NothingInFlight,
    /// The action in flight is one that never runs (Escalate), so it cannot finish.
    #[error("{0} is not an action that runs")]
    NotRunnable(&'static str),
}

/// A source of randomness for jitter.
pub trait Jitter {
    /// A number in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

/// Always the same draw: deterministic tests and "no jitter" (`FixedJitter(0.0)`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn next_unit(&mut self) -> f64 {
        self.0.clamp(0.0, 1.0 - f64::EPSILON)
    }
}

/// SplitMix64: a small, fast, seedable generator; plenty for spreading retries apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that yields the same sequence for the same seed.
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the process's hash randomness (no extra dependency).
    pub fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        Self::seeded(hasher.finish())
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Jitter for SplitMix64 {
    fn next_unit(&mut self) -> f64 {
        // The top 53 bits as a fraction: exactly representable, uniform in [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Exponential backoff with a cap and jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before attempt 0.
    pub initial_delay: Duration,
    /// Cap of the delay before jitter.
    pub max_delay: Duration,
    /// Growth per attempt (values below 1 count as 1).
    pub factor: f64,
    /// Extra random delay as a fraction of the delay, 0 to 1.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_delay: DEFAULT_INITIAL_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            factor: DEFAULT_FACTOR,
            jitter: DEFAULT_JITTER,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0-based) for the jitter draw `unit` in `[0, 1)`:
    /// `min(initialDelay * factor^attempt, maxDelay) * (1 + jitter * unit)`.
    ///
    /// Grown by repeated multiplication, each step capped, rather than with `powf`: every step
    /// multiplies by at least 1 and IEEE rounding is monotone, so the delay never decreases with
    /// the attempt, which a closed form does not promise.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let cap = self.max_delay.as_secs_f64();
        let factor = if self.factor.is_finite() {
            self.factor.max(1.0)
        } else {
            1.0
        };
        let mut base = self.initial_delay.as_secs_f64().min(cap);
        if factor > 1.0 {
            for _ in 0..attempt.min(MAX_GROWTH_STEPS) {
                if base >= cap {
                    break;
                }
                base = (base * factor).min(cap);
            }
        }
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Duration::from_secs_f64(base + base * self.jitter_fraction() * unit)
    }

    /// The longest delay [`delay`](Self::delay) can give: `maxDelay * (1 + jitter)`.
    pub fn ceiling(&self) -> Duration {
        let cap = self.max_delay.as_secs_f64();
        Duration::from_secs_f64(cap + cap * self.jitter_fraction())
    }

    fn jitter_fraction(&self) -> f64 {
        if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// One action of a strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// What to do.
    pub action: RecoveryActionType,
    /// Its parameters, passed through to the controller.
    pub parameters: BTreeMap<String, String>,
    /// How long it may take.
    pub timeout: Duration,
}

impl ActionSpec {
    /// `action` with no parameters and the default timeout.
    pub fn new(action: RecoveryActionType) -> Self {
        Self {
            action,
            parameters: BTreeMap::new(),
            timeout: DEFAULT_ACTION_TIMEOUT,
        }
    }
}

/// A parsed `spec.recoveryStrategy`, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// Attempts allowed per failure sequence; `None` is unlimited (library users only: the spec's
    /// absent `maxRetries` is [`DEFAULT_MAX_RETRIES`]).
    pub max_retries: Option<u32>,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Healthy time after which the attempt count resets; also the least time between two
    /// Workspace deletions.
    pub min_healthy_period: Duration,
    /// The actions, in order.
    pub actions: Vec<ActionSpec>,
    /// Whether `actions` came from the spec (then it also limits which actions may run).
    pub explicit_actions: bool,
}

impl Default for Strategy {
    fn default() -> Self {
        Self {
            max_retries: Some(DEFAULT_MAX_RETRIES),
            backoff: Backoff::default(),
            min_healthy_period: DEFAULT_MIN_HEALTHY_PERIOD,
            actions: DEFAULT_ACTIONS.iter().copied().map(ActionSpec::new).collect(),
            explicit_actions: false,
        }
    }
}

impl Strategy {
    /// Parses `spec.recoveryStrategy`; absent fields take the defaults. Errors name the field.
    pub fn from_spec(spec: Option<&RecoveryStrategy>) -> Result<Self, RecoveryError> {
        let Some(spec) = spec else {
            return Ok(Self::default());
        };
        const BACKOFF: &str = "spec.recoveryStrategy.backoff";
        let backoff = spec.backoff.clone().unwrap_or_default();
        let initial_delay = duration::parse_or(
            &format!("{BACKOFF}.initialDelay"),
            backoff.initial_delay.as_deref(),
            DEFAULT_INITIAL_DELAY,
        )?;
        let max_delay = duration::parse_or(
            &format!("{BACKOFF}.maxDelay"),
            backoff.max_delay.as_deref(),
            DEFAULT_MAX_DELAY,
        )?;
        // Only a maxDelay the user wrote can be "too short"; a small initialDelay under the
        // default cap is fine, and a large one raises the default cap with it.
        let max_delay = match backoff.max_delay {
            Some(_) if max_delay < initial_delay => {
                return Err(RecoveryError::MaxDelayBelowInitial {
                    max: duration::format(max_delay),
                    initial: duration::format(initial_delay),
                });
            }
            Some(_) => max_delay,
            None => max_delay.max(initial_delay),
        };
        let factor = backoff.factor.unwrap_or(DEFAULT_FACTOR);
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(RecoveryError::InvalidFactor(factor));
        }
        let jitter = backoff.jitter.unwrap_or(DEFAULT_JITTER);
        if !(0.0..=1.0).contains(&jitter) {
            return Err(RecoveryError::InvalidJitter(jitter));
        }
        let max_retries = match spec.max_retries {
            Some(n) => Some(u32::try_from(n).map_err(|_| RecoveryError::NegativeMaxRetries(n))?),
            None => Some(DEFAULT_MAX_RETRIES),
        };
        let min_healthy_period = duration::parse_or(
            "spec.recoveryStrategy.minHealthyPeriod",
            spec.min_healthy_period.as_deref(),
            DEFAULT_MIN_HEALTHY_PERIOD,
        )?;
        let actions = spec
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| action_spec(i, a))
            .collect::<Result<Vec<_>, _>>()?;
        let explicit_actions = !actions.is_empty();
        Ok(Self {
            max_retries,
            backoff: Backoff {
                initial_delay,
                max_delay,
                factor,
                jitter,
            },
            min_healthy_period,
            actions: if explicit_actions {
                actions
            } else {
                Self::default().actions
            },
            explicit_actions,
        })
    }

    /// The timeout of `action`: its first listing's, else the default.
    pub fn timeout_for(&self, action: RecoveryActionType) -> Duration {
        self.spec_for(action)
            .map_or(DEFAULT_ACTION_TIMEOUT, |a| a.timeout)
    }

    fn spec_for(&self, action: RecoveryActionType) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.action == action)
    }

    /// Whether `action` may run: every action, unless `spec.recoveryStrategy.actions` is set and
    /// does not list it.
    pub fn allows(&self, action: RecoveryActionType) -> bool {
        !self.explicit_actions || self.spec_for(action).is_some()
    }

    /// Whether the explicit list says to escalate what it does not allow.
    fn escalates_the_rest(&self) -> bool {
        self.explicit_actions && self.spec_for(RecoveryActionType::Escalate).is_some()
    }

    /// Whether `attempts` uses up the budget.
    pub fn exhausted(&self, attempts: u32) -> bool {
        self.max_retries.is_some_and(|max| attempts >= max)
    }
}

fn action_spec(index: usize, action: &RecoveryAction) -> Result<ActionSpec, RecoveryError> {
    let field = format!("spec.recoveryStrategy.actions[{index}].timeout");
    let timeout = duration::parse_or(&field, action.timeout.as_deref(), DEFAULT_ACTION_TIMEOUT)?;
    if timeout.is_zero() {
        return Err(RecoveryError::ZeroTimeout { field });
    }
    Ok(ActionSpec {
        action: action.type_,
        parameters: action.parameters.clone(),
        timeout,
    })
}

/// A failure to plan for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What noticed it: a health check's name, or a reason such as `WorkspaceReconcileError`.
    pub trigger: String,
    /// What can fix it.
    pub remedy: Remedy,
    /// What is wrong.
    pub message: String,
}

impl Failure {
    /// A failure `remedy` can fix (or not).
    pub fn new(trigger: impl Into<String>, remedy: Remedy, message: impl Into<String>) -> Self {
        Self {
            trigger: trigger.into(),
            remedy,
            message: message.into(),
        }
    }

    /// A failure only a change to the spec or template can fix (an invalid configuration).
    pub fn permanent(trigger: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(trigger, Remedy::Reconfigure, message)
    }

    /// The first failing check of a report, with its remedy; `None` when the report is clean.
    pub fn from_report(report: &HealthReport) -> Option<Self> {
        let (name, failure) = report.first_failure()?;
        Some(Self::new(name, failure.remedy, failure.message.clone()))
    }

    /// Whether only a change to the spec or template can fix it.
    pub fn is_permanent(&self) -> bool {
        self.remedy == Remedy::Reconfigure
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptResult {
    /// The action did its work.
    Succeeded,
    /// The action failed.
    Failed,
    /// The action was still unfinished at its deadline.
    TimedOut,
}

impl AttemptResult {
    /// The name used in status and the annotation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimedOut => "TimedOut",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Succeeded, Self::Failed, Self::TimedOut]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One recovery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The action.
    pub action: RecoveryActionType,
    /// What triggered it.
    pub trigger: String,
    /// When it started.
    pub started: Timestamp,
    /// When it counts as timed out.
    pub deadline: Timestamp,
    /// When it finished; `None` while in flight.
    pub finished: Option<Timestamp>,
    /// How it ended; `None` while in flight.
    pub result: Option<AttemptResult>,
}

/// The retry bookkeeping of one control plane.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryRecord {
    /// Attempts in the current failure sequence.
    pub attempts: u32,
    /// The action in flight.
    pub current: Option<Attempt>,
    /// Not before this time will the next attempt start.
    pub next_attempt_after: Option<Timestamp>,
    /// Finished attempts, newest last, at most [`HISTORY_LIMIT`].
    pub history: Vec<Attempt>,
    /// When the user last asked a Failed control plane to try again: Workspace deletions before
    /// it no longer hold the next one back.
    pub retried_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct WireRecord {
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    next: Option<Time>,
    #[serde(default)]
    retried: Option<Time>,
    #[serde(default)]
    current: Option<WireAttempt>,
    #[serde(default)]
    history: Vec<WireAttempt>,
}

#[derive(Deserialize)]
struct WireAttempt {
    action: RecoveryActionType,
    #[serde(default)]
    trigger: String,
    started: Time,
    deadline: Time,
    #[serde(default)]
    finished: Option<Time>,
    #[serde(default)]
    result: Option<String>,
}

impl WireAttempt {
    fn into_attempt(self) -> Result<Attempt, String> {
        let result = match self.result.as_deref() {
            None => None,
            Some(r) => Some(AttemptResult::parse(r).ok_or_else(|| format!("unknown result {r:?}"))?),
        };
        Ok(Attempt {
            action: self.action,
            trigger: self.trigger,
            started: self.started.0,
            deadline: self.deadline.0,
            finished: self.finished.map(|t| t.0),
            result,
        })
    }
}

fn attempt_json(a: &Attempt) -> Value {
    let mut v = json!({
        "action": a.action.as_str(),
        "trigger": a.trigger,
        "started": a.started.to_string(),
        "deadline": a.deadline.to_string(),
    });
    if let (Some(finished), Some(map)) = (a.finished, v.as_object_mut()) {
        map.insert("finished".into(), finished.to_string().into());
    }
    if let (Some(result), Some(map)) = (a.result, v.as_object_mut()) {
        map.insert("result".into(), result.as_str().into());
    }
    v
}

impl RetryRecord {
    /// The annotation value: compact JSON, e.g.
    /// `{"attempts":1,"current":{"action":"RecreateWorkspace","trigger":"WorkspaceSynced","started":"2026-01-01T00:00:30Z","deadline":"2026-01-01T00:30:30Z"},"history":[]}`.
    pub fn to_annotation(&self) -> String {
        let mut doc = json!({ "attempts": self.attempts });
        if let Some(map) = doc.as_object_mut() {
            if let Some(next) = self.next_attempt_after {
                map.insert("next".into(), next.to_string().into());
            }
            if let Some(retried) = self.retried_at {
                map.insert("retried".into(), retried.to_string().into());
            }
            if let Some(current) = &self.current {
                map.insert("current".into(), attempt_json(current));
            }
            map.insert("history".into(), self.history.iter().map(attempt_json).collect());
        }
        doc.to_string()
    }

    /// Parses the annotation. On error the caller falls back to [`RetryRecord::from_status`].
    pub fn from_annotation(value: &str) -> Result<Self, RecoveryError> {
        let bad = |message: String| RecoveryError::BadAnnotation {
            annotation: crate::api::RECOVERY_ANNOTATION,
            message,
        };
        let wire: WireRecord = serde_json::from_str(value).map_err(|e| bad(e.to_string()))?;
        let current = wire
            .current
            .map(WireAttempt::into_attempt)
            .transpose()
            .map_err(bad)?;
        let mut history = wire
            .history
            .into_iter()
            .map(WireAttempt::into_attempt)
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let excess = history.len().saturating_sub(HISTORY_LIMIT);
        history.drain(..excess);
        Ok(Self {
            attempts: wire.attempts,
            current,
            next_attempt_after: wire.next.map(|t| t.0),
            history,
            retried_at: wire.retried.map(|t| t.0),
        })
    }

    /// Rebuilds the record from `status.recovery` (when the annotation is missing or bad).
    /// Finish times are not in status; they are taken as the deadline (for timeouts) or unknown.
    pub fn from_status(info: &RecoveryInfo) -> Self {
        let attempt = |a: &RecoveryAttempt| {
            let result = a.result.as_deref().and_then(AttemptResult::parse);
            Attempt {
                action: a.action,
                trigger: a.trigger.clone(),
                started: a.started.0,
                deadline: a.deadline.0,
                finished: (result == Some(AttemptResult::TimedOut)).then_some(a.deadline.0),
                result,
            }
        };
        let mut history: Vec<Attempt> = info.history.iter().map(attempt).collect();
        let excess = history.len().saturating_sub(HISTORY_LIMIT);
        history.drain(..excess);
        Self {
            attempts: u32::try_from(info.attempts).unwrap_or(0),
            current: info.current_action.as_ref().map(attempt),
            next_attempt_after: info.next_attempt_after.as_ref().map(|t| t.0),
            history,
            // Not in status: without it every earlier deletion still counts, which can only delay.
            retried_at: None,
        }
    }

    /// `status.recovery`.
    pub fn to_status(&self, max_retries: Option<u32>) -> RecoveryInfo {
        let attempt = |a: &Attempt| RecoveryAttempt {
            action: a.action,
            trigger: a.trigger.clone(),
            started: Time(a.started),
            deadline: Time(a.deadline),
            result: a.result.map(|r| r.as_str().to_owned()),
        };
        RecoveryInfo {
            attempts: i32::try_from(self.attempts).unwrap_or(i32::MAX),
            max_retries: max_retries.map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
            current_action: self.current.as_ref().map(attempt),
            next_attempt_after: self.next_attempt_after.map(Time),
            success_rate_percent: self.success_rate_percent(),
            history: self.history.iter().map(attempt).collect(),
        }
    }

    /// Whole percent of finished attempts that succeeded; `None` before any finished.
    pub fn success_rate_percent(&self) -> Option<i32> {
        let finished = self.history.iter().filter(|a| a.result.is_some()).count();
        let succeeded = self
            .history
            .iter()
            .filter(|a| a.result == Some(AttemptResult::Succeeded))
            .count();
        (finished > 0).then(|| i32::try_from(succeeded * 100 / finished).unwrap_or(100))
    }

    /// A user asked a Failed control plane to try again, at `now`: a new sequence with the full
    /// budget, and earlier Workspace deletions no longer hold the next one back. History stays.
    pub fn restart(&mut self, now: Timestamp) {
        self.reset();
        self.retried_at = Some(floor_second(now));
    }

    /// A new sequence with the full budget (after a healthy period). History stays.
    fn reset(&mut self) {
        self.attempts = 0;
        self.next_attempt_after = None;
        self.current = None;
    }

    /// When the last Workspace deletion the next one must keep its distance from started.
    fn last_recreate(&self) -> Option<Timestamp> {
        self.current
            .iter()
            .chain(self.history.iter().rev())
            .filter(|a| a.action == RecoveryActionType::RecreateWorkspace)
            .map(|a| a.started)
            .filter(|started| self.retried_at.is_none_or(|retried| *started >= retried))
            .max()
    }

    /// When the last attempt ended (or started, if it is in flight).
    fn last_activity(&self) -> Option<Timestamp> {
        let current = self.current.as_ref().map(|a| a.started);
        let finished = self.history.last().map(|a| a.finished.unwrap_or(a.deadline));
        current.max(finished)
    }

    fn finish_current(&mut self, result: AttemptResult, at: Timestamp) -> Option<Attempt> {
        let mut attempt = self.current.take()?;
        attempt.finished = Some(floor_second(at));
        attempt.result = Some(result);
        self.history.push(attempt.clone());
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
        Some(attempt)
    }
}

/// What to do about a failure now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No action of ours can fix it: wait for whoever can. Nothing is counted or scheduled.
    Hold {
        /// Who can fix it.
        fixer: Fixer,
    },
    /// Run `action` now; it counts as timed out after `deadline`.
    Act {
        /// The action.
        action: RecoveryActionType,
        /// Its parameters from the strategy.
        parameters: BTreeMap<String, String>,
        /// When it counts as timed out.
        deadline: Timestamp,
        /// The evidence for the move to Recovering.
        evidence: RecoveryPlanned,
    },
    /// Nothing now; look again at `until` (requeue then).
    Wait {
        /// When to look again.
        until: Timestamp,
    },
    /// Stop trying: the evidence for the move to Failed.
    Escalate(Escalated),
}

/// Where a control plane resumes after a successful action.
// Only Debug: `Repaired<S>` derives its other traits with bounds on the uninhabited state markers.
#[derive(Debug)]
pub enum Resume {
    /// The Workspace is rebuilt: provision again.
    Provisioning(Repaired<Provisioning>),
    /// Only secrets or the endpoint were repaired and are not all in place yet: configure again.
    Configuring(Repaired<Configuring>),
    /// Everything is in place again.
    Ready(Repaired<Ready>),
}

/// Decides what to do about failures under a [`Strategy`]. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Planner {
    strategy: Strategy,
}

impl Planner {
    /// A planner for `strategy`.
    pub fn new(strategy: Strategy) -> Self {
        Self { strategy }
    }

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// What to do about `failure` at `now`; updates `record` to match the answer.
    pub fn plan(
        &self,
        failure: &Failure,
        record: &mut RetryRecord,
        now: Timestamp,
        jitter: &mut dyn Jitter,
    ) -> Plan {
        let action = match failure.remedy {
            // The failure's own reason (InvalidConfiguration, WorkspaceRejected, ...) is the
            // reason it failed for.
            Remedy::Reconfigure => {
                return Plan::Escalate(Escalated::new(
                    failure.trigger.clone(),
                    format!(
                        "{} cannot be fixed by recovery, only by a change to the spec or template: {}",
                        failure.trigger, failure.message
                    ),
                ));
            }
            Remedy::Wait(fixer) => {
                // A schedule made for an earlier, fixable failure schedules nothing now.
                if record.current.is_none() {
                    record.next_attempt_after = None;
                }
                return Plan::Hold { fixer };
            }
            Remedy::Act(action) => action,
        };
        if let Some(current) = &record.current {
            if now < current.deadline {
                return Plan::Wait {
                    until: current.deadline,
                };
            }
            let (action, started, deadline) = (current.action, current.started, current.deadline);
            record.finish_current(AttemptResult::TimedOut, deadline);
            if self.strategy.exhausted(record.attempts) {
                return Plan::Escalate(Escalated::new(
                    "RecoveryTimedOut",
                    format!(
                        "{} started at {started} did not finish by its deadline {deadline}, and no retries are left \
                         ({} of {})",
                        action.as_str(),
                        record.attempts,
                        self.budget()
                    ),
                ));
            }
        }
        if self.strategy.exhausted(record.attempts) {
            return Plan::Escalate(Escalated::new(
                "RetriesExhausted",
                format!(
                    "recovery gave up after {} attempts (maxRetries {}); still failing: {}: {}",
                    record.attempts,
                    self.budget(),
                    failure.trigger,
                    failure.message
                ),
            ));
        }
        if !self.strategy.allows(action) {
            if self.strategy.escalates_the_rest() {
                return Plan::Escalate(Escalated::new(
                    "Escalated",
                    format!(
                        "spec.recoveryStrategy.actions does not list {}, which {} calls for, and escalates: {}",
                        action.as_str(),
                        failure.trigger,
                        failure.message
                    ),
                ));
            }
            return Plan::Hold { fixer: Fixer::User };
        }
        if action == RecoveryActionType::RecreateWorkspace
            && let Some(last) = record.last_recreate()
        {
            let allowed = add(last, self.strategy.min_healthy_period);
            if now < allowed {
                // Stored like a backoff schedule: status shows it, and it holds across passes.
                let until = record.next_attempt_after.map_or(allowed, |n| n.max(allowed));
                record.next_attempt_after = Some(until);
                return Plan::Wait { until };
            }
        }
        let scheduled = match record.next_attempt_after {
            Some(scheduled) => scheduled,
            None => {
                let delay = self.strategy.backoff.delay(record.attempts, jitter.next_unit());
                *record.next_attempt_after.insert(ceil_second(add(now, delay)))
            }
        };
        if now < scheduled {
            return Plan::Wait { until: scheduled };
        }
        let deadline = ceil_second(add(now, self.strategy.timeout_for(action)));
        record.attempts = record.attempts.saturating_add(1);
        record.next_attempt_after = None;
        record.current = Some(Attempt {
            action,
            trigger: failure.trigger.clone(),
            started: floor_second(now),
            deadline,
            finished: None,
            result: None,
        });
        let parameters = self
            .strategy
            .spec_for(action)
            .map(|a| a.parameters.clone())
            .unwrap_or_default();
        let evidence = RecoveryPlanned::new(
            "RecoveryStarted",
            format!(
                "attempt {} of {}: {} because {} failed: {}",
                record.attempts,
                self.budget(),
                action.as_str(),
                failure.trigger,
                failure.message
            ),
        );
        Plan::Act {
            action,
            parameters,
            deadline,
            evidence,
        }
    }

    /// The action in flight did its work; records the success and says where to resume.
    /// RecreateWorkspace and ClearCreatePending resume at Provisioning (the Workspace must be
    /// applied again); RefreshKubeconfig resumes at Ready when `facts` show the endpoint written
    /// and both secrets in place, else at Configuring.
    pub fn succeeded(
        &self,
        record: &mut RetryRecord,
        facts: &ConfigurationFacts,
        now: Timestamp,
    ) -> Result<Resume, RecoveryError> {
        let action = record
            .current
            .as_ref()
            .ok_or(RecoveryError::NothingInFlight)?
            .action;
        if action == RecoveryActionType::Escalate {
            return Err(RecoveryError::NotRunnable(action.as_str()));
        }
        let attempt = record
            .finish_current(AttemptResult::Succeeded, now)
            .ok_or(RecoveryError::NothingInFlight)?;
        let done = format!("{} finished (attempt {})", action.as_str(), record.attempts);
        Ok(match attempt.action {
            RecoveryActionType::RefreshKubeconfig => match configured(facts) {
                Ok(_) => Resume::Ready(Repaired::new(format!(
                    "{done}; endpoint and secrets are in place"
                ))),
                Err(waiting) => Resume::Configuring(Repaired::new(format!("{done}; {}", waiting.message))),
            },
            _ => Resume::Provisioning(Repaired::new(format!("{done}; the Workspace is applied again"))),
        })
    }

    /// The action in flight failed; the next [`plan`](Self::plan) schedules a retry after backoff
    /// (or escalates when the budget is spent).
    pub fn failed(&self, record: &mut RetryRecord, now: Timestamp) -> Result<(), RecoveryError> {
        record
            .finish_current(AttemptResult::Failed, now)
            .map(|_| ())
            .ok_or(RecoveryError::NothingInFlight)
    }

    /// The control plane has been healthy since `healthy_since`: drops a scheduled attempt that is
    /// no longer needed, and once `minHealthyPeriod` has passed both since `healthy_since` and
    /// since the last attempt ended, starts a new sequence (attempts to 0). Returns whether the
    /// record changed, so the caller writes only then.
    pub fn observe_healthy(
        &self,
        record: &mut RetryRecord,
        healthy_since: Timestamp,
        now: Timestamp,
    ) -> bool {
        let mut changed = record.next_attempt_after.take().is_some();
        if record.attempts > 0 || record.current.is_some() {
            let since = record
                .last_activity()
                .map_or(healthy_since, |t| t.max(healthy_since));
            if now.duration_since(since).unsigned_abs() >= self.strategy.min_healthy_period && now >= since {
                record.reset();
                changed = true;
            }
        }
        changed
    }

    /// `status.recovery` for `record`.
    pub fn status(&self, record: &RetryRecord) -> RecoveryInfo {
        record.to_status(self.strategy.max_retries)
    }

    fn budget(&self) -> String {
        self.strategy
            .max_retries
            .map_or_else(|| "unlimited".to_owned(), |m| m.to_string())
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    t.saturating_add(d).unwrap_or(Timestamp::MAX)
}

/// Rounds up to a whole second: stored schedules and deadlines must not move earlier when the
/// annotation (whole seconds) is read back.
fn ceil_second(t: Timestamp) -> Timestamp {
    let up = if t.subsec_nanosecond() > 0 {
        t.as_second().saturating_add(1)
    } else {
        t.as_second()
    };
    Timestamp::from_second(up).unwrap_or(Timestamp::MAX)
}

fn floor_second(t: Timestamp) -> Timestamp {
    let down = if t.subsec_nanosecond() < 0 {
        t.as_second().saturating_sub(1)
    } else {
        t.as_second()
    };
    Timestamp::from_second(down).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{api::Backoff as BackoffSpec, state::Evidence};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A failure a cheap action can fix (the guard on Workspace deletions does not apply).
    fn failure() -> Failure {
        Failure::new(
            "WorkspaceSynced",
            Remedy::Act(RecoveryActionType::ClearCreatePending),
            "create cut off",
        )
    }

    /// A failure only a new Workspace can fix.
    fn failed_create() -> Failure {
        Failure::new(
            "WorkspaceSynced",
            Remedy::Act(RecoveryActionType::RecreateWorkspace),
            "create failed",
        )
    }

    /// The default strategy with a short healthy period, so tests read in seconds.
    fn planner(max_retries: Option<u32>) -> Planner {
        Planner::new(Strategy {
            max_retries,
            min_healthy_period: secs(600),
            ..Strategy::default()
        })
    }

    #[test]
    fn defaults_are_documented_values() {
        let s = Strategy::from_spec(None).unwrap();
        assert_eq!(s.max_retries, Some(3));
        assert_eq!(
            s.backoff,
            Backoff {
                initial_delay: secs(30),
                max_delay: secs(600),
                factor: 2.0,
                jitter: 0.1
            }
        );
        assert_eq!(s.min_healthy_period, secs(3600));
        assert_eq!(
            s.actions,
            [
                ActionSpec::new(RecoveryActionType::ClearCreatePending),
                ActionSpec::new(RecoveryActionType::RefreshKubeconfig),
                ActionSpec::new(RecoveryActionType::RecreateWorkspace),
            ]
        );
        assert!(!s.explicit_actions && s.allows(RecoveryActionType::RecreateWorkspace));
        assert_eq!(s.timeout_for(RecoveryActionType::RefreshKubeconfig), secs(1800));
        assert_eq!(
            Strategy::from_spec(Some(&RecoveryStrategy::default())).unwrap(),
            s
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let with_backoff = |b: BackoffSpec| RecoveryStrategy {
            backoff: Some(b),
            ..Default::default()
        };
        let err = |spec: RecoveryStrategy| Strategy::from_spec(Some(&spec)).unwrap_err().to_string();
        assert_eq!(
            err(with_backoff(BackoffSpec {
                initial_delay: Some("soon".into()),
                ..Default::default()
            })),
            "spec.recoveryStrategy.backoff.initialDelay: \"soon\" is not a duration such as 30s, 5m or 1h30m"
        );
        assert_eq!(
            err(with_backoff(BackoffSpec {
                initial_delay: Some("1m".into()),
                max_delay: Some("30s".into()),
                ..Default::default()
            })),
            "spec.recoveryStrategy.backoff.maxDelay: 30s is shorter than initialDelay 1m0s"
        );
        assert!(
            err(with_backoff(BackoffSpec {
                factor: Some(0.5),
                ..Default::default()
            }))
            .contains("factor")
        );
        assert!(
            err(with_backoff(BackoffSpec {
                jitter: Some(1.5),
                ..Default::default()
            }))
            .contains("jitter")
        );
        assert!(
            err(RecoveryStrategy {
                max_retries: Some(-1),
                ..Default::default()
            })
            .contains("maxRetries")
        );
        let actions = vec![
            RecoveryAction {
                type_: RecoveryActionType::ClearCreatePending,
                parameters: BTreeMap::new(),
                timeout: None,
            },
            RecoveryAction {
                type_: RecoveryActionType::RecreateWorkspace,
                parameters: BTreeMap::new(),
                timeout: Some("0s".into()),
            },
        ];
        assert_eq!(
            err(RecoveryStrategy {
                actions,
                ..Default::default()
            }),
            "spec.recoveryStrategy.actions[1].timeout: the timeout must be longer than 0s"
        );
        // A large initialDelay with no maxDelay raises the cap instead of failing.
        let s = Strategy::from_spec(Some(&with_backoff(BackoffSpec {
            initial_delay: Some("20m".into()),
            ..Default::default()
        })));
        assert_eq!(s.unwrap().backoff.max_delay, secs(1200));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|n| b.delay(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(b.delay(0, 0.5), Duration::from_millis(31_500));
        assert_eq!(
            b.delay(u32::MAX, 0.999),
            Duration::from_secs_f64(600.0 + 600.0 * 0.1 * 0.999)
        );
        assert_eq!(b.ceiling(), secs(660));
        let flat = Backoff { factor: 1.0, ..b };
        assert_eq!(flat.delay(1_000_000, 0.0), secs(30));
    }

    #[test]
    fn the_planner_waits_acts_retries_and_gives_up() {
        let planner = planner(Some(2));
        let mut record = RetryRecord::default();
        let mut jitter = FixedJitter(0.0);

        // First sight of the failure: wait the initial delay.
        assert_eq!(
            planner.plan(&failure(), &mut record, at(0), &mut jitter),
            Plan::Wait { until: at(30) }
        );
        assert_eq!(
            planner.plan(&failure(), &mut record, at(10), &mut FixedJitter(0.9)),
            Plan::Wait { until: at(30) }
        );

        let Plan::Act {
            action,
            deadline,
            evidence,
            ..
        } = planner.plan(&failure(), &mut record, at(30), &mut jitter)
        else {
            panic!("expected to act")
        };
        assert_eq!(
            (action, deadline),
            (RecoveryActionType::ClearCreatePending, at(30 + 1800))
        );
        assert_eq!(evidence.reason(), "RecoveryStarted");
        assert_eq!(
            evidence.message(),
            "attempt 1 of 2: ClearCreatePending because WorkspaceSynced failed: create cut off"
        );
        assert_eq!(record.attempts, 1);

        // One action at a time.
        assert_eq!(
            planner.plan(&failure(), &mut record, at(100), &mut jitter),
            Plan::Wait { until: deadline }
        );

        planner.failed(&mut record, at(200)).unwrap();
        assert_eq!(
            planner.plan(&failure(), &mut record, at(200), &mut jitter),
            Plan::Wait { until: at(260) }
        );
        assert!(matches!(
            planner.plan(&failure(), &mut record, at(260), &mut jitter),
            Plan::Act { .. }
        ));
        planner.failed(&mut record, at(300)).unwrap();

        let Plan::Escalate(escalated) = planner.plan(&failure(), &mut record, at(400), &mut jitter) else {
            panic!("expected to escalate")
        };
        assert_eq!(escalated.reason(), "RetriesExhausted");
        assert_eq!(record.attempts, 2);
        assert_eq!(record.success_rate_percent(), Some(0));
    }

    #[test]
    fn an_action_past_its_deadline_times_out() {
        let mut jitter = FixedJitter(0.0);
        let mut record = RetryRecord::default();
        let unlimited = planner(None);
        record.next_attempt_after = Some(at(0));
        let Plan::Act { deadline, .. } = unlimited.plan(&failure(), &mut record, at(0), &mut jitter) else {
            panic!()
        };
        // With retries left the timed-out attempt is recorded and the next one scheduled.
        assert_eq!(
            unlimited.plan(&failure(), &mut record, deadline, &mut jitter),
            Plan::Wait {
                until: add(deadline, secs(60))
            }
        );
        assert_eq!(
            record.history.last().unwrap().result,
            Some(AttemptResult::TimedOut)
        );

        let mut record = RetryRecord {
            next_attempt_after: Some(at(0)),
            ..Default::default()
        };
        let last_chance = planner(Some(1));
        let Plan::Act { deadline, .. } = last_chance.plan(&failure(), &mut record, at(0), &mut jitter) else {
            panic!()
        };
        let Plan::Escalate(escalated) = last_chance.plan(&failure(), &mut record, deadline, &mut jitter)
        else {
            panic!()
        };
        assert_eq!(escalated.reason(), "RecoveryTimedOut");
    }

    #[test]
    fn permanent_failures_and_the_escalate_action_escalate() {
        let mut record = RetryRecord::default();
        let Plan::Escalate(e) = planner(None).plan(
            &Failure::permanent("Validation", "bad"),
            &mut record,
            at(0),
            &mut FixedJitter(0.0),
        ) else {
            panic!()
        };
        assert_eq!(
            (e.reason(), e.message()),
            (
                "Validation",
                "Validation cannot be fixed by recovery, only by a change to the spec or template: bad"
                    .to_owned()
            )
        );
        assert_eq!(record, RetryRecord::default(), "nothing counted");

        let listed = |actions: &[RecoveryActionType]| {
            let spec = RecoveryStrategy {
                actions: actions
                    .iter()
                    .map(|&type_| RecoveryAction {
                        type_,
                        parameters: BTreeMap::new(),
                        timeout: Some("5m".into()),
                    })
                    .collect(),
                ..Default::default()
            };
            Planner::new(Strategy::from_spec(Some(&spec)).unwrap())
        };
        let mut record = RetryRecord {
            next_attempt_after: Some(at(0)),
            ..Default::default()
        };
        // An explicit list allows what it lists, with its timeouts.
        let cheap_only = listed(&[RecoveryActionType::ClearCreatePending]);
        let Plan::Act { action, deadline, .. } =
            cheap_only.plan(&failure(), &mut record, at(0), &mut FixedJitter(0.0))
        else {
            panic!()
        };
        assert_eq!(
            (action, deadline),
            (RecoveryActionType::ClearCreatePending, at(300))
        );
        // What it does not list never runs: held for the user, or escalated when it says so.
        let mut record = RetryRecord::default();
        assert_eq!(
            cheap_only.plan(&failed_create(), &mut record, at(0), &mut FixedJitter(0.0)),
            Plan::Hold { fixer: Fixer::User }
        );
        let escalating = listed(&[
            RecoveryActionType::ClearCreatePending,
            RecoveryActionType::Escalate,
        ]);
        let Plan::Escalate(e) = escalating.plan(&failed_create(), &mut record, at(0), &mut FixedJitter(0.0))
        else {
            panic!()
        };
        assert_eq!(e.reason(), "Escalated");
        assert_eq!(record.attempts, 0);
    }

    #[test]
    fn what_no_action_can_fix_is_held_without_counting() {
        let planner = planner(Some(1));
        let mut record = RetryRecord::default();
        for fixer in [
            Fixer::User,
            Fixer::ClusterApi,
            Fixer::Provider,
            Fixer::Infrastructure,
        ] {
            let waiting = Failure::new("EndpointProbe", Remedy::Wait(fixer), "unreachable");
            for minute in 0..100 {
                assert_eq!(
                    planner.plan(&waiting, &mut record, at(minute * 60), &mut FixedJitter(0.0)),
                    Plan::Hold { fixer }
                );
            }
        }
        assert_eq!(
            record,
            RetryRecord::default(),
            "no attempt, no schedule, no escalation"
        );
    }

    #[test]
    fn a_hold_drops_the_schedule_an_earlier_fixable_failure_made() {
        let planner = planner(Some(3));
        let mut record = RetryRecord::default();
        let plan = planner.plan(&failed_create(), &mut record, at(0), &mut FixedJitter(0.0));
        assert!(matches!(plan, Plan::Wait { .. }), "{plan:?}");
        assert!(record.next_attempt_after.is_some());
        let locked = Failure::new("Workspace", Remedy::Wait(Fixer::User), "state locked");
        assert_eq!(
            planner.plan(&locked, &mut record, at(1), &mut FixedJitter(0.0)),
            Plan::Hold { fixer: Fixer::User }
        );
        assert_eq!(
            record.next_attempt_after, None,
            "status no longer promises an attempt"
        );
        assert_eq!(record.attempts, 0);
    }

    #[test]
    fn a_workspace_is_deleted_at_most_once_per_healthy_period_unless_the_user_retries() {
        let planner = planner(Some(5));
        let mut jitter = FixedJitter(0.0);
        let mut record = RetryRecord {
            next_attempt_after: Some(at(0)),
            ..Default::default()
        };
        let Plan::Act { action, .. } = planner.plan(&failed_create(), &mut record, at(0), &mut jitter) else {
            panic!()
        };
        assert_eq!(action, RecoveryActionType::RecreateWorkspace);
        planner
            .succeeded(&mut record, &ConfigurationFacts::default(), at(60))
            .unwrap();
        // The new Workspace fails too, well within minHealthyPeriod (600 s here) of the deletion.
        assert_eq!(
            planner.plan(&failed_create(), &mut record, at(120), &mut jitter),
            Plan::Wait { until: at(600) }
        );
        assert_eq!(record.next_attempt_after, Some(at(600)), "shown in status");
        // A cheap action is not held back by it.
        record.next_attempt_after = Some(at(120));
        assert!(matches!(
            planner.plan(&failure(), &mut record, at(120), &mut jitter),
            Plan::Act {
                action: RecoveryActionType::ClearCreatePending,
                ..
            }
        ));
        planner.failed(&mut record, at(130)).unwrap();
        // A user's retry lifts it.
        record.restart(at(200));
        record.next_attempt_after = Some(at(200));
        assert!(matches!(
            planner.plan(&failed_create(), &mut record, at(200), &mut jitter),
            Plan::Act {
                action: RecoveryActionType::RecreateWorkspace,
                ..
            }
        ));
        // And the restart survives the annotation.
        let back = RetryRecord::from_annotation(&record.to_annotation()).unwrap();
        assert_eq!(back.retried_at, Some(at(200)));
    }

    #[test]
    fn a_finished_action_says_where_to_resume() {
        let planner = planner(None);
        let start = |action| RetryRecord {
            attempts: 1,
            current: Some(Attempt {
                action,
                trigger: "t".into(),
                started: at(0),
                deadline: at(1800),
                finished: None,
                result: None,
            }),
            ..Default::default()
        };
        let complete = ConfigurationFacts {
            endpoint: Some("h:443".into()),
            kubeconfig_secret: true,
            ca_secret: true,
        };
        let partial = ConfigurationFacts {
            ca_secret: false,
            ..complete.clone()
        };

        let mut record = start(RecoveryActionType::RecreateWorkspace);
        assert!(matches!(
            planner.succeeded(&mut record, &complete, at(60)),
            Ok(Resume::Provisioning(_))
        ));
        assert_eq!(record.success_rate_percent(), Some(100));
        assert!(matches!(
            planner.succeeded(&mut record, &complete, at(60)),
            Err(RecoveryError::NothingInFlight)
        ));

        let mut record = start(RecoveryActionType::ClearCreatePending);
        assert!(matches!(
            planner.succeeded(&mut record, &complete, at(60)),
            Ok(Resume::Provisioning(_))
        ));
        let mut record = start(RecoveryActionType::RefreshKubeconfig);
        let Ok(Resume::Ready(repaired)) = planner.succeeded(&mut record, &complete, at(60)) else {
            panic!()
        };
        assert_eq!(repaired.reason(), "RecoverySucceeded");
        let mut record = start(RecoveryActionType::RefreshKubeconfig);
        let Ok(Resume::Configuring(repaired)) = planner.succeeded(&mut record, &partial, at(60)) else {
            panic!()
        };
        assert_eq!(
            repaired.message(),
            "RefreshKubeconfig finished (attempt 1); the CA secret is not in place yet"
        );
    }

    #[test]
    fn the_count_resets_after_a_healthy_period() {
        let planner = planner(Some(3));
        let mut record = RetryRecord {
            attempts: 2,
            next_attempt_after: Some(at(1000)),
            history: vec![Attempt {
                action: RecoveryActionType::RecreateWorkspace,
                trigger: "t".into(),
                started: at(0),
                deadline: at(1800),
                finished: Some(at(100)),
                result: Some(AttemptResult::Succeeded),
            }],
            ..Default::default()
        };
        assert!(
            planner.observe_healthy(&mut record, at(200), at(300)),
            "the stale schedule is dropped"
        );
        assert_eq!((record.attempts, record.next_attempt_after), (2, None));
        assert!(
            !planner.observe_healthy(&mut record, at(200), at(700)),
            "not healthy for 10m yet: no write"
        );
        assert!(planner.observe_healthy(&mut record, at(200), at(800)));
        assert_eq!(record.attempts, 0);
        assert_eq!(record.history.len(), 1, "history stays");
        assert!(
            !planner.observe_healthy(&mut record, at(200), at(900)),
            "steady state writes nothing"
        );
    }

    #[test]
    fn the_record_round_trips_through_its_annotation_and_status() {
        let planner = planner(Some(5));
        let mut record = RetryRecord::default();
        let mut jitter = SplitMix64::seeded(7);
        for i in 0..12 {
            let now = at(i * 10_000);
            record.next_attempt_after = Some(now);
            assert!(matches!(
                planner.plan(&failure(), &mut record, now, &mut jitter),
                Plan::Act { .. }
            ));
            if i % 3 == 0 {
                planner
                    .succeeded(&mut record, &ConfigurationFacts::default(), add(now, secs(5)))
                    .unwrap();
            } else {
                planner.failed(&mut record, add(now, secs(5))).unwrap();
            }
            record.attempts = record.attempts.min(4);
        }
        planner.plan(&failure(), &mut record, at(200_000), &mut jitter);
        assert_eq!(record.history.len(), HISTORY_LIMIT);
        assert!(record.next_attempt_after.is_some());

        let annotation = record.to_annotation();
        assert!(
            !annotation.contains(' ') && !annotation.contains('\n'),
            "compact: {annotation}"
        );
        assert_eq!(RetryRecord::from_annotation(&annotation).unwrap(), record);

        let status = planner.status(&record);
        assert_eq!(status.max_retries, Some(5));
        assert_eq!(status.success_rate_percent, record.success_rate_percent());
        let back = RetryRecord::from_status(&status);
        assert_eq!(
            (back.attempts, back.next_attempt_after, back.history.len()),
            (record.attempts, record.next_attempt_after, HISTORY_LIMIT)
        );

        let err = RetryRecord::from_annotation("{not json").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("annotation controlplane.cluster.x-k8s.io/recovery: "),
            "{err}"
        );
        let err = RetryRecord::from_annotation(
            r#"{"attempts":1,"history":[{"action":"RecreateWorkspace","started":"2026-01-01T00:00:00Z","deadline":"2026-01-01T00:30:00Z","result":"Meh"}]}"#,
        );
        assert!(matches!(err, Err(RecoveryError::BadAnnotation { .. })));
    }

    #[test]
    fn jitter_sources_stay_in_range() {
        let mut a = SplitMix64::seeded(42);
        let mut b = SplitMix64::seeded(42);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, b.next_unit());
        }
        assert!(FixedJitter(5.0).next_unit() < 1.0);
        let _ = SplitMix64::from_entropy().next_unit();
    }
}
