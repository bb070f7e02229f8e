//! Health checks over observed facts, the verdict they give the state machine, and the measured
//! health metrics of `status.health`.
//!
//! Pure: the caller gathers [`HealthFacts`] (the Workspace, the endpoint, the secrets, the
//! dependency graph's broken paths, and the result of an HTTPS probe it made itself) and gets a
//! [`HealthReport`] back. Nothing here reads the API server or the network.
//!
//! # Expected flow
//!
//! 1. A Ready or Degraded control plane is checked every health interval ([`check_interval`]).
//! 2. [`HealthChecks::configured`] applies `spec.healthChecks` (disabled names, `probeEndpoint`)
//!    to the defaults; [`HealthChecks::evaluate`] runs them in order.
//! 3. [`HealthReport::verdict`] gives the evidence for the move: [`HealthFailing`] takes Ready to
//!    Degraded, [`HealthRestored`] takes Degraded back to Ready.
//! 4. A failing report becomes a [`crate::recovery::Failure`]: the first failing check, and what
//!    can fix it ([`crate::remedy`]), drive the recovery planner.
//! 5. [`metrics`] turns the state history into `status.health`.
//!
//! # The default checks, in order
//!
//! | check | passes when | remedy when it fails ([`crate::remedy`]) |
//! |---|---|---|
//! | `DependenciesReady` | every input the control plane depends on is present and ready (root causes from the graph) | wait: for Cluster API when the Cluster is the root cause, else for the user (the proposal defaults to RecreateWorkspace, which cannot create someone else's object) |
//! | `WorkspaceSynced` | the Workspace is `Synced=True` for its current generation | missing: RecreateWorkspace (re-render); create cut off: ClearCreatePending; a create that never served: RecreateWorkspace; a failed update of a serving Workspace: wait for the provider; a foreign connection secret or a provider config problem: wait for the user |
//! | `WorkspaceReady` | the Workspace is `Ready=True` and not being deleted | missing: RecreateWorkspace (re-render); being deleted or still creating: wait for the provider |
//! | `EndpointValid` | `spec.controlPlaneEndpoint` is present and a well-formed host and port | missing: RefreshKubeconfig; malformed: wait for the user |
//! | `KubeconfigSecret` | the kubeconfig and CA secrets exist and are controlled by this control plane | missing: RefreshKubeconfig; another object's: wait for the user |
//! | `EndpointProbe` | fewer than [`PROBE_FAILURE_THRESHOLD`] of the caller's HTTPS probes in a row went unanswered (an answer is 2xx, 401 or 403) | wait for the network or AWS |
//!
//! Both Workspace conditions are read because provider-terraform leaves `Ready=True` after a
//! failed re-apply and reports the failure only in `Synced`. `EndpointProbe` runs only when probing
//! is enabled and the caller passed a result. It judges a run of probes, not one, so that a lost
//! connection or a slow answer does not flap the control plane to Degraded; an endpoint that
//! does not answer is not something destroying and recreating the control plane would fix.
//!
//! # Metrics
//!
//! Only measured values: how long the control plane has been Ready without interruption, how often
//! it went Ready→Degraded, the share of a window it was serving (Ready or Degraded) as a whole
//! percent (so it does not churn status), and the last provisioning and recovery durations, all
//! read from the transition history. Values the bounded history no longer covers are carried over
//! from the previous metrics, never invented.

use std::{net::IpAddr, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    api::{
        ApiEndpoint, HealthCheckOverrides, HealthCheckResult, HealthMetrics, OperationRecord,
        RecoveryActionType, WorkspaceView, duration,
    },
    graph::{BrokenDependency, Kind, Origin},
    remedy::{self, Fixer, Remedy},
    state::{AnyControlPlane, HISTORY_FIRST, HealthFailing, HealthRestored, StateName, Transition},
};

/// `DependenciesReady`: the inputs the control plane depends on are present and ready.
pub const DEPENDENCIES_READY: &str = "DependenciesReady";
/// `WorkspaceSynced`: the Workspace is Synced for its current generation.
pub const WORKSPACE_SYNCED: &str = "WorkspaceSynced";
/// `WorkspaceReady`: the Workspace is Ready.
pub const WORKSPACE_READY: &str = "WorkspaceReady";
/// `EndpointValid`: the endpoint is present and well-formed.
pub const ENDPOINT_VALID: &str = "EndpointValid";
/// `KubeconfigSecret`: the kubeconfig and CA secrets are present and ours.
pub const KUBECONFIG_SECRET: &str = "KubeconfigSecret";
/// `EndpointProbe`: the API server answers over HTTPS.
pub const ENDPOINT_PROBE: &str = "EndpointProbe";

/// Names of the default checks, in evaluation order.
pub const DEFAULT_CHECKS: &[&str] = &[
    DEPENDENCIES_READY,
    WORKSPACE_SYNCED,
    WORKSPACE_READY,
    ENDPOINT_VALID,
    KUBECONFIG_SECRET,
    ENDPOINT_PROBE,
];

/// How often a Ready control plane is checked when `spec.healthChecks.interval` is absent.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// The longest check interval: EKS tokens live 15 minutes, so a Ready control plane is looked at
/// at least every 10.
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(600);
/// The window `availabilityPercent` covers unless the caller chooses another.
pub const DEFAULT_AVAILABILITY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What can be wrong with `spec.healthChecks`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// `disabled` names a check that does not exist.
    #[error("spec.healthChecks.disabled: unknown check {name:?} (known: {known})")]
    UnknownCheck {
        /// The name as written.
        name: String,
        /// The checks that exist, comma-separated.
        known: String,
    },
    /// `interval` is not a duration.
    #[error(transparent)]
    InvalidInterval(#[from] duration::InvalidDuration),
}

/// Whether a secret the control plane writes is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretState {
    /// It does not exist.
    #[default]
    Missing,
    /// It exists but another object controls it: never overwritten.
    NotOwned,
    /// It exists and this control plane controls it.
    Owned,
}

/// Failed probes in a row before `EndpointProbe` fails, as Kubernetes probes' `failureThreshold`
/// defaults to: one lost connection or slow answer is not an outage, and Degraded should not flap.
pub const PROBE_FAILURE_THRESHOLD: u32 = 3;

/// The outcome of an HTTPS probe of the API endpoint, made by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// An HTTP response arrived (TLS completed) with this status code.
    Responded(u16),
    /// No response: connection, TLS or timeout error, in words.
    Failed(String),
}

impl ProbeResult {
    /// Whether the API server answered as a healthy one does: any 2xx, and 401 or 403, since
    /// the probe carries no credentials.
    pub fn is_healthy(&self) -> bool {
        matches!(self, ProbeResult::Responded(code) if (200..300).contains(code) || matches!(code, 401 | 403))
    }
}

/// The facts the checks look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct HealthFacts<'a> {
    /// Root causes of broken dependencies, from
    /// [`DependencyGraph::broken_dependencies`](crate::graph::DependencyGraph::broken_dependencies)
    /// of the control plane's node. Only [`Origin::External`] ones count: the Managed ones (the
    /// Workspace, the secrets) have checks of their own.
    pub broken_dependencies: &'a [BrokenDependency],
    /// The control plane's Workspace, if it exists.
    pub workspace: Option<&'a WorkspaceView>,
    /// `spec.controlPlaneEndpoint`.
    pub endpoint: Option<&'a ApiEndpoint>,
    /// The `<cluster>-kubeconfig` secret.
    pub kubeconfig_secret: SecretState,
    /// The `<cluster>-ca` secret.
    pub ca_secret: SecretState,
    /// The caller's probe of the endpoint, when it made one.
    pub probe: Option<ProbeFacts<'a>>,
}

/// The caller's latest probe of the endpoint, and how many probes have failed in a row up to and
/// including it: the caller keeps the count, across passes.
#[derive(Debug, Clone, Copy)]
pub struct ProbeFacts<'a> {
    /// The latest probe.
    pub latest: &'a ProbeResult,
    /// Failed probes in a row, the latest included; 0 when it was answered.
    pub failures_in_a_row: u32,
}

/// Why a check failed and what can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// What is wrong, in words.
    pub message: String,
    /// What can fix it.
    pub remedy: Remedy,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Healthy.
    Passed,
    /// Unhealthy.
    Failed(CheckFailure),
    /// Had nothing to look at (e.g. no probe was made); left out of the report.
    Skipped,
}

impl Outcome {
    /// A failure, with what can fix it.
    pub fn failed(message: impl Into<String>, remedy: Remedy) -> Self {
        Outcome::Failed(CheckFailure {
            message: message.into(),
            remedy,
        })
    }
}

/// A health check: a name, and an evaluation over the facts that says what can fix a failure.
pub trait HealthCheck: Send + Sync {
    /// The name shown in status and accepted in `spec.healthChecks.disabled`.
    fn name(&self) -> &str;
    /// Looks at the facts.
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome;
}

/// The Workspace is missing: the apply renders it again, and there is nothing to destroy.
const RERENDER: Remedy = Remedy::Act(RecoveryActionType::RecreateWorkspace);

/// [`DEPENDENCIES_READY`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DependenciesReady;

impl HealthCheck for DependenciesReady {
    fn name(&self) -> &str {
        DEPENDENCIES_READY
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let broken: Vec<&BrokenDependency> = facts
            .broken_dependencies
            .iter()
            .filter(|b| b.origin == Origin::External)
            .collect();
        if broken.is_empty() {
            return Outcome::Passed;
        }
        let cluster = Kind::Cluster.as_str();
        let fixer = if broken.iter().any(|b| b.root_cause.kind_str() == cluster) {
            Fixer::ClusterApi
        } else {
            Fixer::User
        };
        let message = broken
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Outcome::failed(message, Remedy::Wait(fixer))
    }
}

/// [`WORKSPACE_SYNCED`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkspaceSynced;

impl HealthCheck for WorkspaceSynced {
    fn name(&self) -> &str {
        WORKSPACE_SYNCED
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let Some(ws) = facts.workspace else {
            return Outcome::failed("the Workspace does not exist", RERENDER);
        };
        if ws.is_synced_current() {
            return Outcome::Passed;
        }
        if let Some((message, remedy)) = remedy::workspace_problem(ws) {
            return Outcome::failed(message, remedy);
        }
        let message = match &ws.synced {
            Some(c) if c.is_true() => format!(
                "Workspace {} is Synced for generation {} but is at generation {}",
                ws.name,
                c.observed_generation
                    .or(ws.observed_generation)
                    .unwrap_or_default(),
                ws.generation.unwrap_or_default()
            ),
            Some(c) => format!("Workspace {} is Synced={} ({})", ws.name, c.status, c.reason),
            None => format!("Workspace {} has not reported Synced", ws.name),
        };
        // Not synced yet, without an error: the provider is working on it.
        Outcome::failed(message, Remedy::Wait(Fixer::Provider))
    }
}

/// [`WORKSPACE_READY`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkspaceReady;

impl HealthCheck for WorkspaceReady {
    fn name(&self) -> &str {
        WORKSPACE_READY
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let Some(ws) = facts.workspace else {
            return Outcome::failed("the Workspace does not exist", RERENDER);
        };
        if ws.is_ready() && !ws.deleting {
            return Outcome::Passed;
        }
        // A reconcile error, a cut-off create or a deletion says what can fix it.
        if let Some((message, remedy)) = remedy::workspace_problem(ws) {
            return Outcome::failed(message, remedy);
        }
        let message = match &ws.ready {
            Some(c) => {
                let detail = if c.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.message)
                };
                format!(
                    "Workspace {} is Ready={} ({}){detail}",
                    ws.name, c.status, c.reason
                )
            }
            None => format!("Workspace {} has not reported Ready", ws.name),
        };
        Outcome::failed(message, Remedy::Wait(Fixer::Provider))
    }
}

/// [`ENDPOINT_VALID`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointValid;

impl HealthCheck for EndpointValid {
    fn name(&self) -> &str {
        ENDPOINT_VALID
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let Some(endpoint) = facts.endpoint else {
            return Outcome::failed(
                "spec.controlPlaneEndpoint is not set",
                Remedy::Act(RecoveryActionType::RefreshKubeconfig),
            );
        };
        match endpoint_problem(endpoint) {
            None => Outcome::Passed,
            Some(why) => Outcome::failed(
                format!(
                    "spec.controlPlaneEndpoint {}:{} is not valid: {why}",
                    endpoint.host, endpoint.port
                ),
                // It comes from the template's output: only the template can change it.
                Remedy::Wait(Fixer::User),
            ),
        }
    }
}

/// What is wrong with an endpoint, if anything: the host must be a DNS name or an IP address
/// (IPv6 without brackets, as Cluster API stores it), without scheme, path or credentials; the
/// port 1 to 65535.
pub fn endpoint_problem(endpoint: &ApiEndpoint) -> Option<&'static str> {
    let host = endpoint.host.as_str();
    if !(1..=65535).contains(&endpoint.port) {
        return Some("port must be 1 to 65535");
    }
    if host.is_empty() {
        return Some("host is empty");
    }
    if host.contains("://") {
        return Some("host must not contain a scheme");
    }
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    if host.len() > 253 {
        return Some("host is longer than 253 characters");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.trim_end_matches('.').split('.').all(label_ok) {
        return Some("host is not a DNS name or an IP address");
    }
    None
}

/// [`KUBECONFIG_SECRET`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KubeconfigSecret;

impl HealthCheck for KubeconfigSecret {
    fn name(&self) -> &str {
        KUBECONFIG_SECRET
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let problems: Vec<&str> = [("kubeconfig", facts.kubeconfig_secret), ("CA", facts.ca_secret)]
            .into_iter()
            .filter_map(|(which, state)| match state {
                SecretState::Owned => None,
                SecretState::Missing if which == "CA" => Some("the CA secret is missing"),
                SecretState::Missing => Some("the kubeconfig secret is missing"),
                SecretState::NotOwned if which == "CA" => {
                    Some("the CA secret belongs to another object and is left alone")
                }
                SecretState::NotOwned => {
                    Some("the kubeconfig secret belongs to another object and is left alone")
                }
            })
            .collect();
        if problems.is_empty() {
            return Outcome::Passed;
        }
        // Another object's secret is never touched; a missing one of ours is written again.
        let foreign = [facts.kubeconfig_secret, facts.ca_secret].contains(&SecretState::NotOwned);
        let remedy = if foreign {
            Remedy::Wait(Fixer::User)
        } else {
            Remedy::Act(RecoveryActionType::RefreshKubeconfig)
        };
        Outcome::failed(problems.join("; "), remedy)
    }
}

/// [`ENDPOINT_PROBE`]. Any HTTP answer proves the API server is up; 401 and 403 are answers too,
/// since the probe carries no credentials. 5xx means it is up but unhealthy.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointProbe;

impl HealthCheck for EndpointProbe {
    fn name(&self) -> &str {
        ENDPOINT_PROBE
    }
    fn evaluate(&self, facts: &HealthFacts<'_>) -> Outcome {
        let Some(probe) = facts.probe else {
            return Outcome::Skipped;
        };
        if probe.latest.is_healthy() || probe.failures_in_a_row < PROBE_FAILURE_THRESHOLD {
            return Outcome::Passed;
        }
        let problem = match probe.latest {
            ProbeResult::Responded(code) => format!("the API server answered HTTP {code}"),
            ProbeResult::Failed(error) => format!("the API server is unreachable: {error}"),
        };
        let message = format!("{problem} ({} probes in a row)", probe.failures_in_a_row);
        Outcome::failed(message, Remedy::Wait(Fixer::Infrastructure))
    }
}

/// The checks to run, in order.
pub struct HealthChecks {
    checks: Vec<Box<dyn HealthCheck>>,
}

impl std::fmt::Debug for HealthChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Default for HealthChecks {
    fn default() -> Self {
        Self::defaults()
    }
}

impl HealthChecks {
    /// The default checks (see the module docs), in order.
    pub fn defaults() -> Self {
        Self {
            checks: vec![
                Box::new(DependenciesReady),
                Box::new(WorkspaceSynced),
                Box::new(WorkspaceReady),
                Box::new(EndpointValid),
                Box::new(KubeconfigSecret),
                Box::new(EndpointProbe),
            ],
        }
    }

    /// The defaults with `spec.healthChecks` applied: `disabled` names are removed, and
    /// `probeEndpoint: false` removes `EndpointProbe`. A disabled name that is not a check is an
    /// error naming it, so a typo does not silently leave a check on.
    pub fn configured(overrides: Option<&HealthCheckOverrides>) -> Result<Self, HealthError> {
        let mut checks = Self::defaults();
        let Some(overrides) = overrides else {
            return Ok(checks);
        };
        for name in &overrides.disabled {
            if !checks.names().any(|n| n == name) {
                return Err(HealthError::UnknownCheck {
                    name: name.clone(),
                    known: DEFAULT_CHECKS.join(", "),
                });
            }
        }
        let probe_off = overrides.probe_endpoint == Some(false);
        checks.checks.retain(|c| {
            let disabled = overrides.disabled.iter().any(|d| d == c.name());
            let unprobed = probe_off && c.name() == ENDPOINT_PROBE;
            !(disabled || unprobed)
        });
        Ok(checks)
    }

    /// Adds a check after the others.
    pub fn push(&mut self, check: Box<dyn HealthCheck>) {
        self.checks.push(check);
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.checks.iter().map(|c| c.name())
    }

    /// Whether a check of this name will run.
    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Runs every check, in order.
    pub fn evaluate(&self, facts: &HealthFacts<'_>) -> HealthReport {
        let results = self
            .checks
            .iter()
            .filter_map(|check| {
                let failure = match check.evaluate(facts) {
                    Outcome::Passed => None,
                    Outcome::Failed(failure) => Some(failure),
                    Outcome::Skipped => return None,
                };
                Some(CheckResult {
                    name: check.name().to_owned(),
                    failure,
                })
            })
            .collect();
        HealthReport { results }
    }
}

/// How often to check a Ready control plane: `spec.healthChecks.interval`, default 1m, at most
/// 10m.
pub fn check_interval(overrides: Option<&HealthCheckOverrides>) -> Result<Duration, HealthError> {
    let interval = duration::parse_or(
        "spec.healthChecks.interval",
        overrides.and_then(|o| o.interval.as_deref()),
        DEFAULT_CHECK_INTERVAL,
    )?;
    Ok(interval.min(MAX_CHECK_INTERVAL))
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Why it failed; `None` when it passed.
    pub failure: Option<CheckFailure>,
}

/// Whether a report is clean, as the evidence the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed: Degraded may return to Ready.
    Healthy(HealthRestored),
    /// At least one failed: Ready moves to Degraded.
    Failing(HealthFailing),
}

/// The results of one evaluation, in check order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthReport {
    /// One result per check that ran.
    pub results: Vec<CheckResult>,
}

impl HealthReport {
    /// Whether every check passed.
    pub fn is_healthy(&self) -> bool {
        self.results.iter().all(|r| r.failure.is_none())
    }

    /// The failing checks, in check order.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &CheckFailure)> + '_ {
        self.results
            .iter()
            .filter_map(|r| Some((r.name.as_str(), r.failure.as_ref()?)))
    }

    /// The first failing check: the most fundamental one, since checks run from dependencies up.
    pub fn first_failure(&self) -> Option<(&str, &CheckFailure)> {
        self.failures().next()
    }

    /// The status form: one entry per check, failing ones first, each group in check order.
    pub fn to_status(&self) -> Vec<HealthCheckResult> {
        let entry = |r: &CheckResult| HealthCheckResult {
            name: r.name.clone(),
            healthy: r.failure.is_none(),
            message: r.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default(),
        };
        let failing = self.results.iter().filter(|r| r.failure.is_some());
        let passing = self.results.iter().filter(|r| r.failure.is_none());
        failing.chain(passing).map(entry).collect()
    }

    /// The evidence for the state machine.
    pub fn verdict(&self) -> Verdict {
        let failures: Vec<String> = self
            .failures()
            .map(|(name, f)| format!("{name}: {}", f.message))
            .collect();
        if failures.is_empty() {
            let names: Vec<&str> = self.results.iter().map(|r| r.name.as_str()).collect();
            let message = if names.is_empty() {
                "no health checks are enabled".to_owned()
            } else {
                format!("all health checks pass ({})", names.join(", "))
            };
            Verdict::Healthy(HealthRestored::new("HealthChecksPassing", message))
        } else {
            Verdict::Failing(HealthFailing::new("HealthCheckFailed", failures.join("; ")))
        }
    }
}

/// What [`metrics`] is computed from.
#[derive(Debug, Clone, Copy)]
pub struct MetricsInput<'a> {
    /// The current state.
    pub state: StateName,
    /// When it was entered.
    pub state_since: Timestamp,
    /// The transition history, oldest first (`status.progress.history`).
    pub history: &'a [OperationRecord],
    /// Records were dropped between the first [`HISTORY_FIRST`] and the rest: the timeline is
    /// continuous only from the record after them.
    pub history_omitted: bool,
    /// The moves made in this reconcile pass (already part of `history`).
    pub transitions: &'a [Transition],
    /// The clock reading of this pass.
    pub now: Timestamp,
    /// The window `availabilityPercent` covers.
    pub window: Duration,
    /// The metrics written last time, for what the bounded history no longer covers.
    pub previous: Option<&'a HealthMetrics>,
    /// This pass's health report, if one was made; its results fill `checks`.
    pub report: Option<&'a HealthReport>,
}

impl<'a> MetricsInput<'a> {
    /// The input for a control plane after this pass's moves.
    pub fn new(control_plane: &'a AnyControlPlane, previous: Option<&'a HealthMetrics>) -> Self {
        let core = control_plane.core();
        Self {
            state: control_plane.state(),
            state_since: core.entered_at(),
            history: core.history(),
            history_omitted: core.omitted() > 0,
            transitions: core.transitions(),
            now: core.now(),
            window: DEFAULT_AVAILABILITY_WINDOW,
            previous,
            report: None,
        }
    }
}

/// `status.health` from the history: see the module docs for what each value measures.
///
/// `degradations` is the previous count plus this pass's Ready→Degraded moves (with no previous
/// metrics, the count in the history). `lastProvisioningDuration` runs from creation (the start of
/// Pending) or an update (Ready→Provisioning) to the next entry into Ready; `lastRecoveryDuration`
/// from entering Degraded or Recovering to the next entry into Ready.
pub fn metrics(input: &MetricsInput<'_>) -> HealthMetrics {
    let previous = input.previous.cloned().unwrap_or_default();
    let degradations = match input.previous {
        Some(p) => p
            .degradations
            .saturating_add(count(input.transitions.iter().map(|t| (t.from, t.to)))),
        None => count(
            input
                .history
                .iter()
                .filter_map(|r| Some((r.from.parse().ok()?, r.to.parse().ok()?))),
        ),
    };
    let (provisioning, recovery) = last_durations(input.history);
    let availability = availability(input);
    HealthMetrics {
        ready_since: (input.state == StateName::Ready).then_some(Time(input.state_since)),
        degradations,
        availability_percent: availability.map(|(percent, _)| percent),
        availability_window: Some(duration::format(availability.map_or(
            input.window,
            |(_, span)| {
                // Whole seconds: the span is measured as of a transition, so it does not churn status.
                Duration::from_secs(span.as_secs()).min(input.window)
            },
        ))),
        last_provisioning_duration: provisioning
            .map(duration::format)
            .or(previous.last_provisioning_duration),
        last_recovery_duration: recovery.map(duration::format).or(previous.last_recovery_duration),
        checks: input.report.map(HealthReport::to_status).unwrap_or_default(),
    }
}

fn count(moves: impl Iterator<Item = (StateName, StateName)>) -> i32 {
    let n = moves
        .filter(|&(from, to)| from == StateName::Ready && to == StateName::Degraded)
        .count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn is_serving(state: StateName) -> bool {
    matches!(state, StateName::Ready | StateName::Degraded)
}

/// When the state recorded by `record` began: its time minus the time spent in `from`.
fn began(record: &OperationRecord) -> Timestamp {
    let spent = record
        .duration
        .as_deref()
        .and_then(|d| duration::parse("duration", d).ok())
        .unwrap_or_default();
    record.time.0.checked_sub(spent).unwrap_or(record.time.0)
}

/// Whole percent of the covered part of the window spent serving. The window is cut to what the
/// history knows (from the start of the oldest record's `from` state); `None` when that is empty.
/// The share of the window the control plane served, as a whole percent, and the span that share
/// is of: the window, or the control plane's known lifetime when that is shorter (a 70-second-old
/// object's availability is over 70 seconds, not over a day).
fn availability(input: &MetricsInput<'_>) -> Option<(i32, Duration)> {
    // The timeline is continuous from the first record after a gap the bound left.
    let history = if input.history_omitted {
        input.history.get(HISTORY_FIRST..).unwrap_or_default()
    } else {
        input.history
    };
    let window_start = input.now.checked_sub(input.window).unwrap_or(Timestamp::MIN);
    let known_start = history.first().map(began).unwrap_or(input.state_since);
    let start = window_start.max(known_start);
    if start >= input.now {
        return None;
    }
    // Segments (state, from, to), oldest first, ending with the current state until now.
    let mut segments = Vec::with_capacity(history.len() + 1);
    let mut cursor = known_start;
    for record in history {
        let (Ok(from), time) = (record.from.parse::<StateName>(), record.time.0) else {
            continue;
        };
        segments.push((from, cursor, time));
        cursor = time;
    }
    segments.push((input.state, cursor, input.now));
    let millis = |a: Timestamp, b: Timestamp| b.duration_since(a).as_millis().max(0);
    let serving: i128 = segments
        .into_iter()
        .filter(|&(state, _, _)| is_serving(state))
        .map(|(_, from, to)| millis(from.max(start), to.min(input.now)))
        .sum();
    let covered = millis(start, input.now);
    let span = input.now.duration_since(start).unsigned_abs();
    (covered > 0).then(|| {
        let percent = i32::try_from(serving.clamp(0, covered) * 100 / covered).unwrap_or(100);
        (percent, span)
    })
}

/// The last complete provisioning and recovery runs found in the history.
fn last_durations(history: &[OperationRecord]) -> (Option<Duration>, Option<Duration>) {
    let (mut provisioning, mut recovery) = (None, None);
    let (mut provisioning_start, mut recovery_start): (Option<Timestamp>, Option<Timestamp>) = (None, None);
    let elapsed = |from: Timestamp, to: Timestamp| to.duration_since(from).unsigned_abs();
    for record in history {
        let (Ok(from), Ok(to)) = (record.from.parse::<StateName>(), record.to.parse::<StateName>()) else {
            continue;
        };
        let at = record.time.0;
        match (from, to) {
            (StateName::Pending, _) => provisioning_start = Some(began(record)),
            (StateName::Ready, StateName::Provisioning) => provisioning_start = Some(at),
            (_, StateName::Degraded | StateName::Recovering) if recovery_start.is_none() => {
                recovery_start = Some(at)
            }
            (_, StateName::Ready) => {
                if let Some(start) = provisioning_start.take() {
                    provisioning = Some(elapsed(start, at));
                }
                if let Some(start) = recovery_start.take() {
                    recovery = Some(elapsed(start, at));
                }
            }
            _ => {}
        }
    }
    (provisioning, recovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::{CAPTControlPlaneStatus, ProgressInfo, workspace::WorkspaceCondition},
        graph::{Kind, NodeId, NodeStatus},
        state::Evidence,
    };

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> WorkspaceCondition {
        WorkspaceCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
        }
    }

    fn healthy_workspace() -> WorkspaceView {
        WorkspaceView {
            name: "prod-eks".into(),
            namespace: "team-a".into(),
            generation: Some(2),
            observed_generation: Some(2),
            ready: Some(condition("Ready", "True", "Available", "")),
            synced: Some(condition("Synced", "True", "ReconcileSuccess", "")),
            ..Default::default()
        }
    }

    fn endpoint() -> ApiEndpoint {
        ApiEndpoint {
            host: "abc.gr7.ap-northeast-1.eks.amazonaws.com".into(),
            port: 443,
        }
    }

    fn healthy_facts<'a>(
        ws: &'a WorkspaceView,
        endpoint: &'a ApiEndpoint,
        probe: &'a ProbeResult,
    ) -> HealthFacts<'a> {
        HealthFacts {
            broken_dependencies: &[],
            workspace: Some(ws),
            endpoint: Some(endpoint),
            kubeconfig_secret: SecretState::Owned,
            ca_secret: SecretState::Owned,
            probe: Some(ProbeFacts {
                latest: probe,
                failures_in_a_row: 0,
            }),
        }
    }

    #[test]
    fn a_healthy_control_plane_passes_every_default_check() {
        let (ws, ep, probe) = (healthy_workspace(), endpoint(), ProbeResult::Responded(401));
        let report = HealthChecks::defaults().evaluate(&healthy_facts(&ws, &ep, &probe));
        assert!(report.is_healthy());
        assert_eq!(report.results.len(), DEFAULT_CHECKS.len());
        let Verdict::Healthy(restored) = report.verdict() else {
            panic!("expected healthy")
        };
        assert_eq!(restored.reason(), "HealthChecksPassing");
        assert!(restored.message().contains("EndpointProbe"));
    }

    #[test]
    fn ready_with_a_failed_reapply_fails_synced_and_waits_for_the_provider() {
        let mut ws = healthy_workspace();
        ws.synced = Some(condition(
            "Synced",
            "False",
            "ReconcileError",
            "update failed: cannot apply",
        ));
        let (ep, probe) = (endpoint(), ProbeResult::Responded(200));
        let report = HealthChecks::defaults().evaluate(&healthy_facts(&ws, &ep, &probe));
        let (name, failure) = report.first_failure().unwrap();
        assert_eq!(name, WORKSPACE_SYNCED);
        // It still serves: destroying it cannot fix a failed update.
        assert_eq!(failure.remedy, Remedy::Wait(Fixer::Provider));
        assert_eq!(
            failure.message,
            "Workspace prod-eks failed to sync: update failed: cannot apply"
        );
        assert_eq!(report.failures().count(), 1, "Ready stays True and passes");
        let Verdict::Failing(failing) = report.verdict() else {
            panic!("expected failing")
        };
        assert_eq!(failing.reason(), "HealthCheckFailed");
        assert_eq!(
            failing.message(),
            "WorkspaceSynced: Workspace prod-eks failed to sync: update failed: cannot apply"
        );
        let status = report.to_status();
        assert_eq!(
            (status[0].name.as_str(), status[0].healthy),
            (WORKSPACE_SYNCED, false)
        );
        assert!(status[1..].iter().all(|r| r.healthy && r.message.is_empty()));

        ws.create_cut_off = true;
        let report = HealthChecks::defaults().evaluate(&healthy_facts(&ws, &ep, &probe));
        assert_eq!(
            report.first_failure().unwrap().1.remedy,
            Remedy::Act(RecoveryActionType::ClearCreatePending)
        );
    }

    #[test]
    fn an_older_generation_is_not_synced() {
        let mut ws = healthy_workspace();
        ws.generation = Some(3);
        let outcome = WorkspaceSynced.evaluate(&HealthFacts {
            workspace: Some(&ws),
            ..Default::default()
        });
        let Outcome::Failed(failure) = outcome else {
            panic!("expected a failure")
        };
        assert_eq!(
            failure.message,
            "Workspace prod-eks is Synced for generation 2 but is at generation 3"
        );
    }

    #[test]
    fn only_external_root_causes_fail_dependencies_ready() {
        let broken = |kind, name: &str, origin| BrokenDependency {
            root_cause: NodeId::new(kind, "team-a", name),
            status: NodeStatus::Missing,
            origin,
            path: vec![
                NodeId::new(Kind::CAPTControlPlane, "team-a", "prod"),
                NodeId::new(kind, "team-a", name),
            ],
        };
        let managed = [broken(Kind::Secret, "prod-kubeconfig", Origin::Managed)];
        assert_eq!(
            DependenciesReady.evaluate(&HealthFacts {
                broken_dependencies: &managed,
                ..Default::default()
            }),
            Outcome::Passed
        );
        let external = [broken(Kind::Secret, "aws-creds", Origin::External)];
        let Outcome::Failed(failure) = DependenciesReady.evaluate(&HealthFacts {
            broken_dependencies: &external,
            ..Default::default()
        }) else {
            panic!("expected a failure")
        };
        assert_eq!(failure.message, "Secret team-a/aws-creds is Missing");
        // Recreating our Workspace cannot create someone else's Secret.
        assert_eq!(failure.remedy, Remedy::Wait(Fixer::User));
        let cluster = [broken(Kind::Cluster, "prod", Origin::External)];
        let Outcome::Failed(failure) = DependenciesReady.evaluate(&HealthFacts {
            broken_dependencies: &cluster,
            ..Default::default()
        }) else {
            panic!("expected a failure")
        };
        assert_eq!(failure.remedy, Remedy::Wait(Fixer::ClusterApi));
    }

    #[test]
    fn secrets_must_exist_and_be_ours() {
        let facts = HealthFacts {
            kubeconfig_secret: SecretState::NotOwned,
            ca_secret: SecretState::Missing,
            ..Default::default()
        };
        let Outcome::Failed(failure) = KubeconfigSecret.evaluate(&facts) else {
            panic!("expected a failure")
        };
        assert_eq!(
            failure.message,
            "the kubeconfig secret belongs to another object and is left alone; the CA secret is missing"
        );
        assert_eq!(
            failure.remedy,
            Remedy::Wait(Fixer::User),
            "another object's secret is never touched"
        );
        let Outcome::Failed(failure) = KubeconfigSecret.evaluate(&HealthFacts {
            kubeconfig_secret: SecretState::Owned,
            ca_secret: SecretState::Missing,
            ..Default::default()
        }) else {
            panic!("expected a failure")
        };
        assert_eq!(failure.remedy, Remedy::Act(RecoveryActionType::RefreshKubeconfig));
    }

    #[test]
    fn endpoints_must_be_host_and_port() {
        let problem = |host: &str, port| {
            endpoint_problem(&ApiEndpoint {
                host: host.into(),
                port,
            })
        };
        assert_eq!(problem("abc.eks.amazonaws.com", 443), None);
        assert_eq!(problem("10.0.0.1", 6443), None);
        assert_eq!(problem("fd00::1", 443), None);
        assert_eq!(
            problem("https://abc.eks.amazonaws.com", 443),
            Some("host must not contain a scheme")
        );
        assert_eq!(
            problem("abc.eks.amazonaws.com/path", 443),
            Some("host is not a DNS name or an IP address")
        );
        assert_eq!(
            problem("-bad.example", 443),
            Some("host is not a DNS name or an IP address")
        );
        assert_eq!(problem("abc", 0), Some("port must be 1 to 65535"));
        assert_eq!(problem("", 443), Some("host is empty"));
        let missing = EndpointValid.evaluate(&HealthFacts::default());
        assert!(matches!(missing, Outcome::Failed(f) if f.message == "spec.controlPlaneEndpoint is not set"));
    }

    #[test]
    fn the_probe_is_interpreted_not_made() {
        let probe = |result: Option<ProbeResult>| {
            let probe = result.as_ref().map(|latest| ProbeFacts {
                latest,
                failures_in_a_row: if latest.is_healthy() {
                    0
                } else {
                    PROBE_FAILURE_THRESHOLD
                },
            });
            EndpointProbe.evaluate(&HealthFacts {
                probe,
                ..Default::default()
            })
        };
        assert_eq!(probe(None), Outcome::Skipped);
        assert_eq!(probe(Some(ProbeResult::Responded(200))), Outcome::Passed);
        assert_eq!(probe(Some(ProbeResult::Responded(403))), Outcome::Passed);
        assert!(
            matches!(probe(Some(ProbeResult::Responded(503))), Outcome::Failed(f) if f.message == "the API server answered HTTP 503 (3 probes in a row)")
        );
        assert!(matches!(
            probe(Some(ProbeResult::Failed("connection refused".into()))),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn a_failed_probe_fails_the_check_only_at_the_threshold() {
        let refused = ProbeResult::Failed("connection refused".into());
        let after = |failures| {
            EndpointProbe.evaluate(&HealthFacts {
                probe: Some(ProbeFacts {
                    latest: &refused,
                    failures_in_a_row: failures,
                }),
                ..Default::default()
            })
        };
        for failures in 1..PROBE_FAILURE_THRESHOLD {
            assert_eq!(after(failures), Outcome::Passed, "{failures} in a row");
        }
        let Outcome::Failed(failure) = after(PROBE_FAILURE_THRESHOLD) else {
            panic!("the threshold is reached");
        };
        assert_eq!(failure.remedy, Remedy::Wait(Fixer::Infrastructure));
        assert!(
            failure.message.contains("connection refused"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn overrides_disable_checks_and_typos_are_errors() {
        let overrides = HealthCheckOverrides {
            disabled: vec![ENDPOINT_VALID.into()],
            probe_endpoint: Some(false),
            interval: Some("30m".into()),
        };
        let checks = HealthChecks::configured(Some(&overrides)).unwrap();
        assert_eq!(
            checks.names().collect::<Vec<_>>(),
            [
                DEPENDENCIES_READY,
                WORKSPACE_SYNCED,
                WORKSPACE_READY,
                KUBECONFIG_SECRET
            ]
        );
        assert_eq!(check_interval(Some(&overrides)).unwrap(), MAX_CHECK_INTERVAL);
        assert_eq!(check_interval(None).unwrap(), DEFAULT_CHECK_INTERVAL);

        let typo = HealthCheckOverrides {
            disabled: vec!["EndpointProb".into()],
            ..Default::default()
        };
        let err = HealthChecks::configured(Some(&typo)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.healthChecks.disabled: unknown check \"EndpointProb\""),
            "{err}"
        );
        let bad = HealthCheckOverrides {
            interval: Some("often".into()),
            ..Default::default()
        };
        assert!(
            check_interval(Some(&bad))
                .unwrap_err()
                .to_string()
                .starts_with("spec.healthChecks.interval")
        );
    }

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + minutes * 60).unwrap()
    }

    fn record(from: &str, to: &str, minute: i64, spent: &str) -> OperationRecord {
        OperationRecord {
            operation: String::new(),
            from: from.into(),
            to: to.into(),
            reason: String::new(),
            message: String::new(),
            time: Time(at(minute)),
            duration: Some(spent.into()),
        }
    }

    fn lifecycle() -> Vec<OperationRecord> {
        vec![
            record("Pending", "Validating", 1, "1m0s"),
            record("Validating", "Provisioning", 2, "1m0s"),
            record("Provisioning", "Configuring", 15, "13m0s"),
            record("Configuring", "Ready", 16, "1m0s"),
            record("Ready", "Degraded", 60, "44m0s"),
            record("Degraded", "Recovering", 61, "1m0s"),
            record("Recovering", "Provisioning", 62, "1m0s"),
            record("Provisioning", "Configuring", 70, "8m0s"),
            record("Configuring", "Ready", 71, "1m0s"),
        ]
    }

    #[test]
    fn metrics_are_measured_from_the_history() {
        let history = lifecycle();
        let input = MetricsInput {
            state: StateName::Ready,
            state_since: at(71),
            history: &history,
            history_omitted: false,
            transitions: &[],
            now: at(120),
            window: DEFAULT_AVAILABILITY_WINDOW,
            previous: None,
            report: None,
        };
        let m = metrics(&input);
        assert_eq!(m.ready_since, Some(Time(at(71))));
        assert_eq!(m.degradations, 1);
        // Serving: Ready 16..60 (44m), Degraded 60..61 (1m), Ready 71..120 (49m) of 0..120: the
        // two hours it has existed, not the day of the window.
        assert_eq!(m.availability_percent, Some(94 * 100 / 120));
        assert_eq!(m.availability_window.as_deref(), Some("2h0m0s"));
        assert_eq!(m.last_provisioning_duration.as_deref(), Some("16m0s"));
        assert_eq!(m.last_recovery_duration.as_deref(), Some("11m0s"));

        // A one-hour window sees only 60..120: Degraded 60..61 and Ready 71..120.
        let m = metrics(&MetricsInput {
            window: Duration::from_secs(3600),
            ..input
        });
        assert_eq!(m.availability_percent, Some(50 * 100 / 60));
        assert_eq!(m.availability_window.as_deref(), Some("1h0m0s"));

        // Records dropped after the first ones leave a gap: the timeline starts after it.
        let m = metrics(&MetricsInput {
            history_omitted: true,
            ..input
        });
        // From history[5] (Recovering -> Provisioning at 62, began 61): Recovering 61..62,
        // Provisioning 62..70, Configuring 70..71, Ready 71..120: 49 of 59 minutes serving.
        assert_eq!(m.availability_percent, Some(49 * 100 / 59));

        // Values the history no longer covers are carried over, not invented.
        let previous = HealthMetrics {
            degradations: 7,
            last_provisioning_duration: Some("20m0s".into()),
            ..Default::default()
        };
        let m = metrics(&MetricsInput {
            history: &history[4..],
            previous: Some(&previous),
            ..input
        });
        assert_eq!(m.degradations, 7, "no move this pass");
        assert_eq!(m.last_provisioning_duration.as_deref(), Some("20m0s"));
        assert_eq!(m.last_recovery_duration.as_deref(), Some("11m0s"));
    }

    #[test]
    fn degradations_count_this_pass_moves_on_top_of_the_previous_total() {
        let status = CAPTControlPlaneStatus {
            state: Some("Ready".into()),
            progress: Some(ProgressInfo {
                state_since: Some(Time(at(71))),
                history: lifecycle(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cp = match AnyControlPlane::from_status(Some(&status), at(100)).unwrap() {
            AnyControlPlane::Ready(cp) => cp.into_degraded(HealthFailing::new("HealthCheckFailed", "x")),
            other => panic!("expected Ready, got {:?}", other.state()),
        };
        let cp: AnyControlPlane = cp.into();
        let previous = HealthMetrics {
            degradations: 3,
            ..Default::default()
        };
        let m = metrics(&MetricsInput::new(&cp, Some(&previous)));
        assert_eq!(m.degradations, 4);
        assert_eq!(m.ready_since, None);
        let no_history = metrics(&MetricsInput::new(&cp, None));
        assert_eq!(no_history.degradations, 2, "counted from the history");
    }
}
