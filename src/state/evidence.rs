//! Evidence: the proof a transition demands.
//!
//! Every evidence type has private fields, so code outside this crate cannot build one by hand; it
//! gets one only from the function that checks the facts:
//!
//! | evidence | produced by |
//! |---|---|
//! | [`ClusterResolved`] | [`resolve_cluster`] |
//! | [`DependenciesValidated`], [`ConfigurationInvalid`] | [`validate`] |
//! | [`WorkspaceProvisioned`] | [`workspace_provisioned`] |
//! | [`ControlPlaneConfigured`] | [`configured`] |
//! | [`SpecChanged`] | [`spec_changed`] |
//! | [`RetryRequested`] | [`retry_requested`] |
//! | [`HealthFailing`], [`HealthRestored`] | [`crate::health::HealthReport::verdict`] |
//! | [`RecoveryPlanned`], [`Escalated`], [`Repaired`] | [`crate::recovery`] |

use std::marker::PhantomData;

use super::State;
use crate::api::{ClusterView, WorkspaceView};

/// What every piece of evidence tells the history: a CamelCase reason and a message.
pub trait Evidence {
    /// CamelCase reason, used in history, conditions and events.
    fn reason(&self) -> &str;
    /// Human-readable details.
    fn message(&self) -> String;
}

macro_rules! evidence {
    ($( $(#[$doc:meta])* $name:ident; )+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            reason: String,
            message: String,
        }

        impl $name {
            pub(crate) fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
                Self { reason: reason.into(), message: message.into() }
            }
        }

        impl Evidence for $name {
            fn reason(&self) -> &str { &self.reason }
            fn message(&self) -> String { self.message.clone() }
        }
    )+};
}

evidence! {
    /// The owning Cluster exists and neither it nor the control plane is paused.
    ClusterResolved;
    /// The dependency graph is acyclic, every dependency is present, and the template renders.
    DependenciesValidated;
    /// A permanent configuration error: a cycle, an unresolvable placeholder, an invalid reference.
    ConfigurationInvalid;
    /// The Workspace is Synced and Ready for the current generation and has outputs.
    WorkspaceProvisioned;
    /// The endpoint is parsed and written, and the kubeconfig and CA secrets are in place.
    ControlPlaneConfigured;
    /// The spec or the template changed since the control plane became Ready.
    SpecChanged;
    /// A user asked a Failed control plane to try again (annotation or spec change).
    RetryRequested;
    /// A health report with at least one failing check.
    HealthFailing;
    /// A clean health report.
    HealthRestored;
    /// A failure, and a recovery plan with budget left: an action to run now.
    RecoveryPlanned;
    /// No budget left, an action timed out past its deadline, or the failure is permanent.
    Escalated;
}

/// A recovery action finished; `S` is where the control plane resumes (Provisioning when the
/// Workspace had to be rebuilt, Configuring when only secrets were, Ready when nothing else is
/// left to do).
pub struct Repaired<S: State> {
    message: String,
    _resume: PhantomData<S>,
}

// Written by hand: derives would demand the traits of the (uninhabited) state marker.
impl<S: State> std::fmt::Debug for Repaired<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repaired")
            .field("resume", &S::NAME)
            .field("message", &self.message)
            .finish()
    }
}

impl<S: State> Clone for Repaired<S> {
    fn clone(&self) -> Self {
        Self {
            message: self.message.clone(),
            _resume: PhantomData,
        }
    }
}

impl<S: State> PartialEq for Repaired<S> {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl<S: State> Eq for Repaired<S> {}

impl<S: State> Repaired<S> {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            _resume: PhantomData,
        }
    }
}

impl<S: State> Evidence for Repaired<S> {
    fn reason(&self) -> &str {
        "RecoverySucceeded"
    }
    fn message(&self) -> String {
        self.message.clone()
    }
}

/// Why a check did not produce its evidence yet: something to wait for, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// CamelCase reason, for the condition.
    pub reason: &'static str,
    /// What is awaited.
    pub message: String,
}

impl Waiting {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Resolves the owning Cluster: found, and neither it nor the control plane is paused.
pub fn resolve_cluster(
    cluster: Option<&ClusterView>,
    control_plane_paused: bool,
) -> Result<ClusterResolved, Waiting> {
    let Some(cluster) = cluster else {
        return Err(Waiting::new(
            "WaitingForCluster",
            "no Cluster owns this control plane yet (ownerReference or cluster.x-k8s.io/cluster-name label)",
        ));
    };
    if cluster.paused || control_plane_paused {
        return Err(Waiting::new("Paused", "reconciliation is paused"));
    }
    Ok(ClusterResolved::new(
        "ClusterResolved",
        format!("owned by Cluster {}", cluster.name),
    ))
}

/// What validation found, gathered from the dependency graph and the template renderer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationFacts {
    /// A dependency cycle, as the path of node ids in order (first repeated at the end).
    pub cycle: Option<Vec<String>>,
    /// Permanent errors: unresolvable placeholders, invalid references, bad durations.
    pub invalid: Vec<String>,
    /// Dependencies that do not exist yet, or exist but are not ready (a declared dependency
    /// must be ready before provisioning): worth waiting for, not failing on.
    pub missing: Vec<String>,
}

/// The outcome of [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Go ahead and provision.
    Valid(DependenciesValidated),
    /// A permanent error: fail.
    Invalid(ConfigurationInvalid),
    /// Something is missing: wait.
    Waiting(Waiting),
}

/// Decides validation from its facts: a cycle or an invalid setting is permanent; a missing
/// dependency is waited for.
pub fn validate(facts: &ValidationFacts) -> Validation {
    if let Some(cycle) = &facts.cycle {
        return Validation::Invalid(ConfigurationInvalid::new(
            "DependencyCycle",
            format!("dependency cycle: {}", cycle.join(" -> ")),
        ));
    }
    if !facts.invalid.is_empty() {
        return Validation::Invalid(ConfigurationInvalid::new(
            "InvalidConfiguration",
            facts.invalid.join("; "),
        ));
    }
    if !facts.missing.is_empty() {
        return Validation::Waiting(Waiting::new(
            "WaitingForDependencies",
            format!("waiting for {}", facts.missing.join(", ")),
        ));
    }
    Validation::Valid(DependenciesValidated::new(
        "DependenciesValid",
        "all dependencies are present and valid",
    ))
}

/// The Workspace is provisioned: Synced and Ready for its current generation, with outputs.
pub fn workspace_provisioned(workspace: Option<&WorkspaceView>) -> Result<WorkspaceProvisioned, Waiting> {
    let Some(ws) = workspace else {
        return Err(Waiting::new(
            "WaitingForWorkspace",
            "the Workspace has not been created yet",
        ));
    };
    if let Some(error) = ws.reconcile_error() {
        return Err(Waiting::new("WorkspaceReconcileError", error.to_owned()));
    }
    if !ws.is_provisioned() {
        let why = ws
            .ready
            .as_ref()
            .map(|c| format!("Workspace {} is {} ({})", ws.name, c.reason, c.status))
            .unwrap_or_else(|| format!("Workspace {} has not reported readiness yet", ws.name));
        return Err(Waiting::new("WorkspaceNotReady", why));
    }
    if ws.outputs().is_none_or(|o| o.is_empty()) {
        return Err(Waiting::new(
            "WaitingForOutputs",
            format!("Workspace {} has no outputs yet", ws.name),
        ));
    }
    Ok(WorkspaceProvisioned::new(
        "WorkspaceReady",
        format!("Workspace {} is Synced and Ready", ws.name),
    ))
}

/// What configuring has achieved so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigurationFacts {
    /// The endpoint as written to the spec (`host:port`), when parsed and written.
    pub endpoint: Option<String>,
    /// The kubeconfig secret is in place and ours.
    pub kubeconfig_secret: bool,
    /// The CA secret is in place and ours.
    pub ca_secret: bool,
}

/// The control plane is configured: endpoint written, kubeconfig and CA secrets in place.
pub fn configured(facts: &ConfigurationFacts) -> Result<ControlPlaneConfigured, Waiting> {
    let Some(endpoint) = &facts.endpoint else {
        return Err(Waiting::new(
            "WaitingForEndpoint",
            "the endpoint is not known yet",
        ));
    };
    if !facts.kubeconfig_secret {
        return Err(Waiting::new(
            "WaitingForKubeconfig",
            "the kubeconfig secret is not in place yet",
        ));
    }
    if !facts.ca_secret {
        return Err(Waiting::new(
            "WaitingForCASecret",
            "the CA secret is not in place yet",
        ));
    }
    Ok(ControlPlaneConfigured::new(
        "ControlPlaneReady",
        format!("serving at {endpoint}"),
    ))
}

/// What the spec renders differs from what was provisioned (`spec_outdated`: a new version, new
/// variables or tags), or the template itself changed (`template_changed`).
pub fn spec_changed(spec_outdated: bool, template_changed: bool) -> Option<SpecChanged> {
    if template_changed {
        Some(SpecChanged::new(
            "TemplateChanged",
            "the WorkspaceTemplate changed",
        ))
    } else if spec_outdated {
        Some(SpecChanged::new(
            "SpecChanged",
            "the spec changed what the Workspace must be",
        ))
    } else {
        None
    }
}

/// A Failed control plane may try again: the retry annotation changed, or the spec did.
pub fn retry_requested(annotation_changed: bool, spec_changed: bool) -> Option<RetryRequested> {
    if annotation_changed {
        Some(RetryRequested::new(
            "RetryRequested",
            "retry requested by annotation",
        ))
    } else if spec_changed {
        Some(RetryRequested::new(
            "SpecChanged",
            "the spec changed after a failure",
        ))
    } else {
        None
    }
}

/// Recovering with no action in flight and no failure left (a user retried after fixing the
/// cause): provision again, which re-checks everything on the way to Ready.
pub fn nothing_to_repair(failure_present: bool) -> Option<Repaired<super::Provisioning>> {
    (!failure_present).then(|| Repaired::new("no failure is left to repair; provisioning again"))
}
