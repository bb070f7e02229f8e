//! The typestate-encoded control plane state machine of CAPTEP-0002.
//!
//! Each state is its own type, and [`ControlPlane<S>`] offers exactly the moves that are legal from
//! `S`, as methods that consume the value and demand a piece of evidence. An illegal move
//! (`Pending` to `Ready`, say) is a compile error, and a legal move cannot be made without the
//! evidence that justifies it: evidence values have private constructors and are produced only by
//! the functions that check the facts (see [`evidence`]).
//!
//! # Flow
//!
//! ```text
//!            ┌──────────────────────────── spec change ─────────────────────────┐
//!            v                                                                  │
//! Pending ─> Validating ─> Provisioning ─> Configuring ─> Ready <─> Degraded    │
//!               │              │  ^            │           │  └────────────────┘│
//!               │              v  │            v           │         │          │
//!               │           Recovering <───────┴───────────┼─────────┘          │
//!               v              │  (resumes at Provisioning, Configuring or Ready)
//!             Failed <─────────┴── budget spent / action timed out ──── Degraded
//!               └──── retry annotation or spec change ──> Recovering
//! ```
//!
//! The legal table, generated from the one declaration below (see [`TRANSITIONS`]):
//!
//! | from | to | evidence |
//! |---|---|---|
//! | Pending | Validating | [`ClusterResolved`]: the owning Cluster was found and nothing is paused |
//! | Validating | Provisioning | [`DependenciesValidated`]: graph acyclic, dependencies present, template renders |
//! | Validating | Failed | [`ConfigurationInvalid`]: a permanent configuration error |
//! | Provisioning | Configuring | [`WorkspaceProvisioned`]: Workspace Synced and Ready for this generation, with outputs |
//! | Provisioning, Configuring, Degraded | Recovering | [`RecoveryPlanned`]: a failure and budget left |
//! | Provisioning, Configuring, Degraded, Recovering | Failed | [`Escalated`]: no budget left, an action timed out, or a permanent error |
//! | Configuring | Ready | [`ControlPlaneConfigured`]: endpoint written, kubeconfig and CA secrets in place |
//! | Ready | Degraded | [`HealthFailing`]: a failing health report |
//! | Ready | Provisioning | [`SpecChanged`]: the spec or the template changed |
//! | Degraded | Ready | [`HealthRestored`]: the health report is clean again |
//! | Recovering | Provisioning, Configuring, Ready | [`Repaired`]: the action finished; it says where to resume |
//! | Failed | Recovering | [`RetryRequested`]: the retry annotation or a spec change |
//!
//! # Run time
//!
//! A reconciler reads the stored `status.state` with [`AnyControlPlane::from_status`] (absent means
//! Pending, unless upstream CAPT left the control plane Ready: [`adoption`]; an unknown name is an
//! [`UnknownState`] error, never a panic), matches on it to get the
//! typed value, makes at most the moves the facts allow, and writes the result back with
//! [`AnyControlPlane::write_status`]. Every move appends an [`OperationRecord`] to the bounded
//! history and is reported in [`Core::transitions`] so the caller can emit one event per move.
//!
//! # Guarantees
//!
//! - Only the moves in the table exist; the compile-fail suite in `tests/ui` proves a sample of the
//!   others do not compile.
//! - No move without its evidence; no evidence without its check.
//! - Time comes from the caller (`now`), so the machine is deterministic and testable.
//!
//! Deletion is not a state: the finalizer handles it from any state.

pub mod adoption;
mod declare;
pub mod evidence;
pub mod invariants;

use std::{marker::PhantomData, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    api::{CAPTControlPlaneStatus, OperationRecord, Phase, duration},
    progress,
};
pub use evidence::{
    ClusterResolved, ConfigurationInvalid, ControlPlaneConfigured, DependenciesValidated, Escalated,
    Evidence, HealthFailing, HealthRestored, RecoveryPlanned, Repaired, RetryRequested, SpecChanged,
    WorkspaceProvisioned,
};

mod sealed {
    pub trait Sealed {}
}

/// A state of the control plane. Sealed: the states are exactly the eight below.
pub trait State: sealed::Sealed {
    /// The state's runtime name.
    const NAME: StateName;
}

declare::state_machine! {
    states {
        /// Created; waiting for its Cluster.
        Pending = 0,
        /// Checking references, dependencies and the template.
        Validating = 5,
        /// The Workspace is being applied.
        Provisioning = 10,
        /// Writing the endpoint, the kubeconfig and CA secrets.
        Configuring = 85,
        /// Serving.
        Ready = 100,
        /// Serving, but a health check fails.
        Degraded = 90,
        /// Stopped: retries spent or the configuration is invalid.
        Failed = 0,
        /// A recovery action is running.
        Recovering = 50,
    }
    transitions {
        Pending => Validating via into_validating(ClusterResolved),
        Validating => Provisioning via into_provisioning(DependenciesValidated),
        Validating => Failed via into_failed(ConfigurationInvalid),
        Provisioning => Configuring via into_configuring(WorkspaceProvisioned),
        Provisioning => Recovering via into_recovering(RecoveryPlanned),
        Provisioning => Failed via into_failed(Escalated),
        Configuring => Ready via into_ready(ControlPlaneConfigured),
        Configuring => Recovering via into_recovering(RecoveryPlanned),
        Configuring => Failed via into_failed(Escalated),
        Ready => Degraded via into_degraded(HealthFailing),
        Ready => Provisioning via into_provisioning(SpecChanged),
        Degraded => Ready via into_ready(HealthRestored),
        Degraded => Recovering via into_recovering(RecoveryPlanned),
        Degraded => Failed via into_failed(Escalated),
        Recovering => Provisioning via into_provisioning(Repaired<Provisioning>),
        Recovering => Configuring via into_configuring(Repaired<Configuring>),
        Recovering => Ready via into_ready(Repaired<Ready>),
        Recovering => Failed via into_failed(Escalated),
        Failed => Recovering via into_recovering(RetryRequested),
    }
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StateName {
    /// Upstream CAPT's coarse phase for this state.
    pub fn phase(self) -> Phase {
        match self {
            StateName::Ready | StateName::Degraded => Phase::Ready,
            StateName::Failed => Phase::Failed,
            _ => Phase::Creating,
        }
    }

    /// Whether a move from `self` to `to` is legal.
    pub fn can_transition_to(self, to: StateName) -> bool {
        TRANSITIONS.iter().any(|&(f, t, _)| f == self && t == to)
    }
}

/// `status.state` holds a name that is not one of the eight states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "status.state {0:?} is not a known state (expected one of Pending, Validating, Provisioning, Configuring, Ready, Degraded, Failed, Recovering)"
)]
pub struct UnknownState(pub String);

/// How many history records are kept.
pub const HISTORY_LIMIT: usize = 20;
/// How many of them are the first ever recorded, kept for good: where the control plane came
/// from (and where a failure began) is never pushed out by a later run of transitions.
pub const HISTORY_FIRST: usize = 5;

/// One move made during this pass, for events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// State left.
    pub from: StateName,
    /// State entered.
    pub to: StateName,
    /// CamelCase reason from the evidence.
    pub reason: String,
    /// Human-readable details from the evidence.
    pub message: String,
}

/// What every state carries: the bounded history, when the current state was entered, and the
/// moves made during this pass.
#[derive(Debug, Clone)]
pub struct Core {
    now: Timestamp,
    entered_at: Timestamp,
    history: Vec<OperationRecord>,
    omitted: u32,
    transitions: Vec<Transition>,
    failure: Option<(String, String)>,
}

impl Core {
    /// No history, entered at `now`.
    fn empty(now: Timestamp) -> Self {
        Core {
            now,
            entered_at: now,
            history: Vec::new(),
            omitted: 0,
            transitions: Vec::new(),
            failure: None,
        }
    }

    /// Appends a history record, dropping the oldest of the latest ones (never the first
    /// [`HISTORY_FIRST`]) beyond [`HISTORY_LIMIT`].
    fn record(&mut self, record: OperationRecord) {
        self.history.push(record);
        while self.history.len() > HISTORY_LIMIT {
            self.history.remove(HISTORY_FIRST);
            self.omitted = self.omitted.saturating_add(1);
        }
    }

    /// How many records were dropped between the first ones and the latest ones.
    pub fn omitted(&self) -> u32 {
        self.omitted
    }

    /// The clock reading this pass runs at.
    pub fn now(&self) -> Timestamp {
        self.now
    }
    /// When the current state was entered.
    pub fn entered_at(&self) -> Timestamp {
        self.entered_at
    }
    /// How long the control plane has been in its current state.
    pub fn time_in_state(&self) -> Duration {
        self.now.duration_since(self.entered_at).unsigned_abs()
    }
    /// The bounded history, newest last.
    pub fn history(&self) -> &[OperationRecord] {
        &self.history
    }
    /// The moves made during this pass, in order.
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }
    /// Reason and message of the terminal failure, when the last move entered Failed.
    pub fn failure(&self) -> Option<(&str, &str)> {
        self.failure.as_ref().map(|(r, m)| (r.as_str(), m.as_str()))
    }
}

/// A control plane in state `S`. Its methods are the legal moves out of `S`.
#[derive(Debug)]
pub struct ControlPlane<S: State> {
    core: Core,
    _state: PhantomData<S>,
}

impl<S: State> ControlPlane<S> {
    fn from_core(core: Core) -> Self {
        Self {
            core,
            _state: PhantomData,
        }
    }

    /// The state-independent record.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// This state's name.
    pub fn state(&self) -> StateName {
        S::NAME
    }

    fn transition<T: State>(mut self, evidence: impl Evidence) -> ControlPlane<T> {
        let (from, to, now) = (S::NAME, T::NAME, self.core.now);
        let (reason, message) = (evidence.reason().to_owned(), evidence.message());
        let spent = now.duration_since(self.core.entered_at).unsigned_abs();
        self.core.record(OperationRecord {
            operation: progress::operation_of(from, to).to_owned(),
            from: from.as_str().to_owned(),
            to: to.as_str().to_owned(),
            reason: reason.clone(),
            message: message.clone(),
            time: Time(now),
            duration: Some(duration::format(spent)),
        });
        self.core.failure = (to == StateName::Failed).then(|| (reason.clone(), message.clone()));
        self.core.transitions.push(Transition {
            from,
            to,
            reason,
            message,
        });
        self.core.entered_at = now;
        ControlPlane::from_core(self.core)
    }
}

impl ControlPlane<Pending> {
    /// A brand-new control plane, at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self::from_core(Core::empty(now))
    }
}

impl AnyControlPlane {
    /// Rehydrates the machine from a stored status at time `now`. An absent status or state means
    /// Pending; an unknown state name is an error naming it.
    pub fn from_status(
        status: Option<&CAPTControlPlaneStatus>,
        now: Timestamp,
    ) -> Result<Self, UnknownState> {
        let name = match status.and_then(|s| s.state.as_deref()) {
            None | Some("") => StateName::Pending,
            Some(name) => name.parse()?,
        };
        let progress = status.and_then(|s| s.progress.as_ref());
        let history = progress.map(|p| p.history.clone()).unwrap_or_default();
        let entered_at = progress
            .and_then(|p| p.state_since.as_ref())
            .map(|t| t.0)
            .or_else(|| history.last().map(|r| r.time.0))
            .unwrap_or(now);
        let failure = status.filter(|_| name == StateName::Failed).and_then(|s| {
            Some((
                s.failure_reason.clone()?,
                s.failure_message.clone().unwrap_or_default(),
            ))
        });
        let omitted = progress.map_or(0, |p| u32::try_from(p.history_omitted).unwrap_or(0));
        Ok(Self::from_core(
            name,
            Core {
                now,
                entered_at,
                history,
                omitted,
                transitions: Vec::new(),
                failure,
            },
        ))
    }

    /// Re-enters the state [`invariants::audit`] chose for a stored state that does not hold: a
    /// history record says so (reason `StoredStateInconsistent`), but it is not a transition
    /// (the ordinary checks make every move from there).
    pub fn reenter(self, reentry: &invariants::Reentry) -> AnyControlPlane {
        let mut core = self.into_core();
        let now = core.now;
        let spent = now.duration_since(core.entered_at).unsigned_abs();
        core.record(OperationRecord {
            operation: progress::operation_of(reentry.stored(), reentry.reentered()).to_owned(),
            from: reentry.stored().as_str().to_owned(),
            to: reentry.reentered().as_str().to_owned(),
            reason: invariants::STORED_STATE_INCONSISTENT.to_owned(),
            message: reentry.message(),
            time: Time(now),
            duration: Some(duration::format(spent)),
        });
        core.entered_at = now;
        core.failure = None;
        Self::from_core(reentry.reentered(), core)
    }

    /// Writes the state, the derived phase, the history and the progress of `operation` into
    /// `status`. Terminal failure fields are set on Failed and cleared otherwise.
    pub fn write_status(&self, status: &mut CAPTControlPlaneStatus, operation: &progress::Operation) {
        let core = self.core();
        let state = self.state();
        status.state = Some(state.as_str().to_owned());
        status.phase = Some(state.phase());
        status.progress = Some(progress::info(state, operation, core));
        match core.failure() {
            Some((reason, message)) if state == StateName::Failed => {
                status.failure_reason = Some(reason.to_owned());
                status.failure_message = Some(message.to_owned());
            }
            _ if state != StateName::Failed => {
                status.failure_reason = None;
                status.failure_message = None;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
