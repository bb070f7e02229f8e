//! Condition types and reasons, in one place so conditions, events and docs agree.

/// Condition types set on a CAPTControlPlane.
pub mod types {
    /// v1beta2 summary: the control plane serves requests (Cluster API copies it to the Cluster).
    pub const AVAILABLE: &str = "Available";
    /// v1beta1 summary, read by Cluster API ≤ v1.10.
    pub const READY: &str = "Ready";
    /// Reconciliation is paused by the Cluster or an annotation.
    pub const PAUSED: &str = "Paused";
    /// The control plane is being deleted.
    pub const DELETING: &str = "Deleting";
    /// The dependency graph is acyclic and every dependency is present.
    pub const DEPENDENCIES_VALID: &str = "DependenciesValid";
    /// The Workspace is Synced and Ready for the current generation.
    pub const WORKSPACE_READY: &str = "WorkspaceReady";
    /// The endpoint is known and written to the spec.
    pub const ENDPOINT_READY: &str = "EndpointReady";
    /// The Cluster API kubeconfig (with a token Cluster API can use) and CA secrets are in place
    /// and ours.
    pub const KUBECONFIG_READY: &str = "KubeconfigReady";
    /// Every health check passes.
    pub const HEALTHY: &str = "Healthy";
    /// A recovery action is running or scheduled.
    pub const REMEDIATING: &str = "Remediating";
}

/// Condition types set on a WorkspaceTemplateApply besides the mirrored `Ready` and `Synced`.
pub mod apply_types {
    /// The template rendered with the given variables.
    pub const RENDERED: &str = "Rendered";
    /// `waitForSecrets` and `waitForWorkspaces` are satisfied.
    pub const DEPENDENCIES_READY: &str = "DependenciesReady";
    /// `Ready` of the Workspace, mirrored.
    pub const READY: &str = "Ready";
    /// `Synced` of the Workspace, mirrored.
    pub const SYNCED: &str = "Synced";
}

/// Reasons: CamelCase words that appear in conditions and events; the names say what they mean.
#[allow(missing_docs)]
pub mod reason {
    pub const AVAILABLE: &str = "Available";
    pub const NOT_AVAILABLE: &str = "NotAvailable";
    pub const PAUSED: &str = "Paused";
    pub const NOT_PAUSED: &str = "NotPaused";
    pub const DELETING: &str = "Deleting";
    pub const WAITING_FOR_WORKSPACE_DELETION: &str = "WaitingForWorkspaceDeletion";
    pub const RENDERED: &str = "Rendered";
    pub const UNRESOLVED_PLACEHOLDERS: &str = "UnresolvedPlaceholders";
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub const INVALID_TEMPLATE: &str = "InvalidTemplate";
    pub const WORKSPACE_ACCEPTED: &str = "WorkspaceAccepted";
    /// A Workspace or control plane upstream CAPT left behind is now managed here, unchanged.
    pub const ADOPTED: &str = "AdoptedFromUpstream";
    pub const WAITING_FOR_SECRETS: &str = "WaitingForSecrets";
    pub const WAITING_FOR_WORKSPACES: &str = "WaitingForWorkspaces";
    pub const DEPENDENCIES_READY: &str = "DependenciesReady";
    pub const NAME_COLLISION: &str = "WorkspaceNameCollision";
    pub const WORKSPACE_MISSING: &str = "WorkspaceMissing";
    pub const WORKSPACE_NOT_REPORTED: &str = "WorkspaceNotReported";
    pub const SECRET_NOT_OWNED: &str = "SecretNotOwned";
    pub const NO_TOKEN_CREDENTIALS: &str = "NoTokenCredentials";
    pub const WAITING_FOR_TOKEN_CREDENTIALS: &str = "WaitingForTokenCredentials";
    pub const INVALID_TOKEN_CREDENTIALS: &str = "InvalidTokenCredentials";
    pub const WORKSPACE_REJECTED: &str = "WorkspaceRejected";
    pub const RETRY_REFUSED: &str = "RetryRefused";
    /// `Remediating` when no action of the operator's can fix the failure and the user must.
    pub const WAITING_FOR_USER: &str = crate::remedy::Fixer::User.reason();
    pub const STORED_STATE_INCONSISTENT: &str = "StoredStateInconsistent";
    pub const DEPENDENCY_CYCLE: &str = "DependencyCycle";
    pub const UNKNOWN_STATE: &str = "UnknownState";

    /// Reasons an apply reports (on `Rendered` or `Ready`) that only a change to the spec or the
    /// template can clear: the control plane fails with them instead of retrying.
    pub const NEEDS_RECONFIGURATION: &[&str] = &[
        WORKSPACE_REJECTED,
        NAME_COLLISION,
        UNRESOLVED_PLACEHOLDERS,
        INVALID_TEMPLATE,
        DEPENDENCY_CYCLE,
    ];

    /// Reasons of a False condition that only the user can clear; each is told once as a
    /// Warning event when a condition turns False for it.
    pub const NEEDS_THE_USER: &[&str] = &[
        WAITING_FOR_USER,
        SECRET_NOT_OWNED,
        NO_TOKEN_CREDENTIALS,
        WAITING_FOR_TOKEN_CREDENTIALS,
        INVALID_TOKEN_CREDENTIALS,
    ];
}
