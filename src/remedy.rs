//! What can fix a failure: the one action that can, or nobody the operator can act for.
//!
//! Recovery acts only when its action can fix the failure at hand. A RecreateWorkspace is, with the
//! real provider, a `terraform destroy` and `apply` of an EKS control plane: it never answers a
//! failure it cannot fix, and a failure that only someone else can fix is waited for, with who
//! that is said in the control plane's status and events.
//!
//! Pure: facts in, a [`Remedy`] out.
//!
//! # The table
//!
//! | failure | remedy | why |
//! |---|---|---|
//! | the Workspace is missing (deleted behind our back) | [`Act`](Remedy::Act) RecreateWorkspace | the apply renders it again; there is nothing to destroy |
//! | the Workspace's create keeps failing and it never served | [`Act`](Remedy::Act) RecreateWorkspace, last resort, at most once per `minHealthyPeriod` | a fresh Workspace starts from a clean Terraform state; nothing that serves is destroyed |
//! | the create was cut off (`crossplane.io/external-create-pending` stays) | [`Act`](Remedy::Act) ClearCreatePending | the provider's documented fix; the Terraform workspace name is deterministic |
//! | our kubeconfig or CA secret, or the endpoint in our spec, is missing | [`Act`](Remedy::Act) RefreshKubeconfig | written again from the Workspace's outputs |
//! | a re-apply failed while the Workspace serves (`Ready=True`, `Synced=False`) | [`Wait`](Remedy::Wait) for the provider | destroying a serving control plane cannot fix a failed update; provider-terraform retries, a spec change re-applies |
//! | the Workspace is still being created, or being deleted | [`Wait`](Remedy::Wait) for the provider | it is working; once a deleted Workspace is gone the apply renders it again |
//! | the provider cannot connect (ProviderConfig, credentials) | [`Wait`](Remedy::Wait) for the user | nothing in the Workspace is wrong |
//! | the connection secret is controlled by another object | [`Wait`](Remedy::Wait) for the user | a new Workspace would meet the same secret |
//! | our kubeconfig or CA secret's name is taken by another object | [`Wait`](Remedy::Wait) for the user | it is never overwritten |
//! | a declared dependency (a VPC Workspace, a Secret) is missing or not ready | [`Wait`](Remedy::Wait) for the user | recreating our Workspace cannot create theirs |
//! | the Cluster is missing | [`Wait`](Remedy::Wait) for Cluster API | nothing in the infrastructure is wrong |
//! | the endpoint does not answer | [`Wait`](Remedy::Wait) for the infrastructure | a network or AWS outage; Cluster API's probe sees the same |
//! | the endpoint output is malformed | [`Wait`](Remedy::Wait) for the user | the template's outputs are wrong |
//! | the API server refuses the rendered Workspace, a cycle, an unresolved placeholder, an invalid strategy | [`Reconfigure`](Remedy::Reconfigure): Failed | only a spec or template change can fix it |

use std::fmt;

use crate::api::{RecoveryActionType, WorkspaceView};

/// What can fix a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// Running this action can fix it.
    Act(RecoveryActionType),
    /// No action of the operator's can: the control plane waits, and says for whom.
    Wait(Fixer),
    /// Only a change to the spec or the template can: the control plane fails until then.
    Reconfigure,
}

impl Remedy {
    /// The action, if the operator can act.
    pub fn action(self) -> Option<RecoveryActionType> {
        match self {
            Remedy::Act(action) => Some(action),
            Remedy::Wait(_) | Remedy::Reconfigure => None,
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remedy::Act(action) => write!(f, "{}", action.as_str()),
            Remedy::Wait(fixer) => write!(f, "nothing the operator can do: {fixer}"),
            Remedy::Reconfigure => f.write_str("only a change to the spec or template can fix it"),
        }
    }
}

/// Who can fix a failure the operator cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixer {
    /// The user: a secret, credentials or a dependency they own.
    User,
    /// Cluster API: the Cluster.
    ClusterApi,
    /// provider-terraform, which retries on its own.
    Provider,
    /// The network or AWS.
    Infrastructure,
}

impl Fixer {
    /// A CamelCase word for condition reasons: `WaitingForUser`, ...
    pub const fn reason(self) -> &'static str {
        match self {
            Fixer::User => "WaitingForUser",
            Fixer::ClusterApi => "WaitingForClusterAPI",
            Fixer::Provider => "WaitingForProvider",
            Fixer::Infrastructure => "WaitingForInfrastructure",
        }
    }
}

impl fmt::Display for Fixer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fixer::User => "it waits for a change only the user can make",
            Fixer::ClusterApi => "it waits for Cluster API",
            Fixer::Provider => "provider-terraform retries on its own",
            Fixer::Infrastructure => "it waits for the network or AWS",
        })
    }
}

/// A Workspace problem and what can fix it, when the Workspace shows one: a reconcile error, a
/// cut-off create, or a deletion in progress.
pub fn workspace_problem(ws: &WorkspaceView) -> Option<(String, Remedy)> {
    if ws.deleting {
        let message = format!("Workspace {} is being deleted", ws.name);
        return Some((message, Remedy::Wait(Fixer::Provider)));
    }
    if ws.create_pending && !ws.is_synced_current() {
        let message = format!(
            "Workspace {}'s create was cut off (crossplane.io/external-create-pending is set)",
            ws.name
        );
        return Some((message, Remedy::Act(RecoveryActionType::ClearCreatePending)));
    }
    let error = ws.reconcile_error()?;
    let message = format!("Workspace {} failed to sync: {error}", ws.name);
    Some((message, reconcile_error_remedy(error, ws.is_ready())))
}

/// What can fix a provider-terraform reconcile error, given whether the Workspace serves
/// (`Ready=True`, which the provider keeps after a failed re-apply).
pub fn reconcile_error_remedy(error: &str, serving: bool) -> Remedy {
    // crossplane-runtime's connection secret publisher refuses a secret another object controls.
    if error.contains("not controlled by") {
        return Remedy::Wait(Fixer::User);
    }
    // ProviderConfig or credentials: the provider never got to Terraform.
    if error.starts_with("connect failed") {
        return Remedy::Wait(Fixer::User);
    }
    if serving {
        return Remedy::Wait(Fixer::Provider);
    }
    Remedy::Act(RecoveryActionType::RecreateWorkspace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::workspace::WorkspaceCondition as Condition;

    fn workspace(ready: Option<(&str, &str)>, synced_error: Option<&str>) -> WorkspaceView {
        let condition = |type_: &str, status: &str, reason: &str, message: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: Some(1),
        };
        WorkspaceView {
            name: "prod-eks".into(),
            generation: Some(1),
            ready: ready.map(|(status, reason)| condition("Ready", status, reason, "")),
            synced: Some(match synced_error {
                Some(error) => condition("Synced", "False", "ReconcileError", error),
                None => condition("Synced", "True", "ReconcileSuccess", ""),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_failed_update_of_a_serving_workspace_is_never_answered_by_destroying_it() {
        let ws = workspace(
            Some(("True", "Available")),
            Some("update failed: cannot apply Terraform configuration: InvalidParameterException"),
        );
        let (_, remedy) = workspace_problem(&ws).unwrap();
        assert_eq!(remedy, Remedy::Wait(Fixer::Provider));
    }

    #[test]
    fn a_create_that_never_served_may_be_recreated() {
        let ws = workspace(
            Some(("False", "Creating")),
            Some("create failed: cannot apply Terraform configuration: ResourceInUseException"),
        );
        let (message, remedy) = workspace_problem(&ws).unwrap();
        assert_eq!(remedy, Remedy::Act(RecoveryActionType::RecreateWorkspace));
        assert!(message.contains("ResourceInUseException"), "{message}");
    }

    #[test]
    fn a_foreign_connection_secret_or_a_provider_config_waits_for_the_user() {
        for error in [
            "cannot publish connection details: existing secret is not controlled by UID \"abc\"",
            "connect failed: failed to resolve provider config: cannot get provider config: not found",
        ] {
            let ws = workspace(Some(("False", "Creating")), Some(error));
            assert_eq!(
                workspace_problem(&ws).unwrap().1,
                Remedy::Wait(Fixer::User),
                "{error}"
            );
        }
    }

    #[test]
    fn a_cut_off_create_is_cleared_and_a_deletion_is_waited_for() {
        let mut ws = workspace(
            Some(("False", "Creating")),
            Some("cannot determine creation result"),
        );
        ws.create_pending = true;
        assert_eq!(
            workspace_problem(&ws).unwrap().1,
            Remedy::Act(RecoveryActionType::ClearCreatePending)
        );
        ws.deleting = true;
        assert_eq!(workspace_problem(&ws).unwrap().1, Remedy::Wait(Fixer::Provider));
    }

    #[test]
    fn a_healthy_workspace_has_no_problem() {
        assert_eq!(
            workspace_problem(&workspace(Some(("True", "Available")), None)),
            None
        );
    }
}
