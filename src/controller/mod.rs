//! The operator: kube-runtime controllers for CAPTControlPlanes and WorkspaceTemplateApplies, and
//! the WorkspaceTemplate checker.
//!
//! This is the only part of the crate that talks to the API server. Each reconciler observes
//! facts, hands them to the pure core (state machine, graph, health, recovery, rendering) and
//! writes back only what changed: status by server-side apply when it differs, and the two spec
//! fields upstream documents (`controlPlaneEndpoint`, `workspaceTemplateApplyName`).
//!
//! Progress is noticed through watches (control planes, applies, Workspaces of the configured API,
//! Clusters, Secrets); periodic requeues are only a safety net, at most every 10 minutes.

pub mod apply;
pub mod context;
pub mod controlplane;
pub mod effects;
pub mod events;
pub mod finalizer;
pub mod observe;
pub mod probe;
pub mod reasons;
pub mod run;
pub mod status;
pub mod template;

pub use context::{Config, Context};
pub use observe::Stores;
pub use run::{Running, Runtime, run, spawn};

/// Errors of a reconcile pass. Transient ones are retried with backoff by the error policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object we read does not have the shape we expect.
    #[error("malformed object: {0}")]
    Malformed(String),
    /// The object has no namespace or name (never for objects from a watch).
    #[error("object without {0}")]
    Incomplete(&'static str),
}

impl Error {
    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "forbidden",
            Error::Kube(_) => "kube",
            Error::Malformed(_) => "malformed",
            Error::Incomplete(_) => "incomplete",
        }
    }
}

/// Result of a reconcile pass.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "capt-controlplane";

/// Label on objects we create: the control plane they belong to.
pub const CONTROLPLANE_LABEL: &str = "controlplane.cluster.x-k8s.io/name";
/// Labels tying a (cluster-scoped) Workspace to the apply that rendered it.
pub const APPLY_NAME_LABEL: &str = "infrastructure.cluster.x-k8s.io/workspacetemplateapply";
/// See [`APPLY_NAME_LABEL`].
pub const APPLY_NAMESPACE_LABEL: &str = "infrastructure.cluster.x-k8s.io/workspacetemplateapply-namespace";
/// Annotation on a Workspace: the hash of the spec we rendered into it.
pub const SPEC_HASH_ANNOTATION: &str = "infrastructure.cluster.x-k8s.io/spec-hash";
