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
//! | `terraform apply` keeps failing for a Workspace that never served | [`Act`](Remedy::Act) RecreateWorkspace, last resort, at most once per `minHealthyPeriod` | a fresh Workspace starts from a clean Terraform state; nothing that serves is destroyed |
//! | Terraform cannot `init` or reach its backend (`observe failed`) | [`Wait`](Remedy::Wait) for the user | a new Workspace fails the same way, and so does its destroy, which would leave it stuck deleting |
//! | any other failure outside an apply, or the provider's refusal of a cut-off create whose annotation is already gone | [`Wait`](Remedy::Wait) for the provider | nothing proves a new Workspace would fare better; the provider retries |
//! | the create was cut off (the provider refuses to act: `crossplane.io/external-create-pending` is newer than the create's outcome) | [`Act`](Remedy::Act) ClearCreatePending | the provider's documented fix; the Terraform workspace name is deterministic |
//! | our kubeconfig or CA secret, or the endpoint in our spec, is missing | [`Act`](Remedy::Act) RefreshKubeconfig | written again from the Workspace's outputs |
//! | a re-apply failed while the Workspace serves (`Ready=True`, `Synced=False`) | [`Wait`](Remedy::Wait) for the provider | destroying a serving control plane cannot fix a failed update; provider-terraform retries, a spec change re-applies |
//! | the Workspace is still being created, or being deleted | [`Wait`](Remedy::Wait) for the provider | it is working; once a deleted Workspace is gone the apply renders it again |
//! | the provider cannot connect (ProviderConfig, credentials) | [`Wait`](Remedy::Wait) for the user | nothing in the Workspace is wrong |
//! | Terraform's state is locked (a run was cut off: no backend expires its lock) | [`Wait`](Remedy::Wait) for the user, who knows whether a run is in progress and can `force-unlock` | a new Workspace shares the state and its lock, and its destroy would need the lock too |
//! | the connection secret is controlled by another object | [`Wait`](Remedy::Wait) for the user | a new Workspace would meet the same secret |
//! | our kubeconfig or CA secret's name is taken by another object | [`Wait`](Remedy::Wait) for the user | it is never overwritten |
//! | a declared dependency (a VPC Workspace, a Secret) is missing or not ready | [`Wait`](Remedy::Wait) for the user | recreating our Workspace cannot create theirs |
//! | the Cluster is missing | [`Wait`](Remedy::Wait) for Cluster API | nothing in the infrastructure is wrong |
//! | the endpoint does not answer | [`Wait`](Remedy::Wait) for the infrastructure | a network or AWS outage; Cluster API's probe sees the same |
//! | the endpoint output is malformed | [`Wait`](Remedy::Wait) for the user | the template's outputs are wrong |
//! | the API server refuses the rendered Workspace, a cycle, an unresolved placeholder, an invalid strategy | [`Reconfigure`](Remedy::Reconfigure): Failed | only a spec or template change can fix it |

use std::fmt;

use crate::api::{RecoveryActionType, WorkspaceView, workspace::CREATE_INCOMPLETE_MESSAGE};

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
    if ws.create_cut_off {
        let message = format!(
            "Workspace {}'s create was cut off: provider-terraform cannot tell whether it finished \
             (crossplane.io/external-create-pending is newer than its outcome)",
            ws.name
        );
        return Some((message, Remedy::Act(RecoveryActionType::ClearCreatePending)));
    }
    let error = ws.reconcile_error()?;
    // What to do comes first: events keep only the first kilobyte, and the error ends in a
    // long base64 command.
    let message = if is_state_locked(error) {
        format!(
            "Workspace {}: Terraform's state is locked, most likely by a run that was cut off; once \
             no run is in progress, release it with `terraform force-unlock <ID>` (the ID is in the \
             full error): {error}",
            ws.name
        )
    } else {
        format!("Workspace {} failed to sync: {error}", ws.name)
    };
    Some((message, reconcile_error_remedy(error, ws.is_ready())))
}

/// The summary Terraform and OpenTofu give when another run holds the state lock.
const STATE_LOCKED: &str = "Error acquiring the state lock";

fn is_state_locked(error: &str) -> bool {
    error.contains(STATE_LOCKED)
}

/// How provider-terraform words a failed `terraform apply`, after crossplane-runtime's
/// `create failed: ` or `update failed: `.
const APPLY_FAILED: &str = "cannot apply Terraform configuration";

/// What can fix a provider-terraform reconcile error, given whether the Workspace serves
/// (`Ready=True`, which the provider keeps after a failed re-apply).
///
/// RecreateWorkspace is proven only for a failed apply of a Workspace that never served: a fresh
/// Workspace starts from a fresh Terraform state. Anything that fails before or around the apply
/// (connecting, `init`, the backend, the state lock, publishing the secret) fails the same way for
/// the new Workspace, and its destroy too, which would leave it stuck deleting.
pub fn reconcile_error_remedy(error: &str, serving: bool) -> Remedy {
    // crossplane-runtime's connection secret publisher refuses a secret another object controls.
    if error.contains("not controlled by") {
        return Remedy::Wait(Fixer::User);
    }
    // ProviderConfig or credentials: the provider never got to Terraform.
    if error.starts_with("connect failed") {
        return Remedy::Wait(Fixer::User);
    }
    // A stale lock outlives the run that took it: only someone who knows that no run is in
    // progress may break it. A new Workspace would meet the same state and lock.
    if is_state_locked(error) {
        return Remedy::Wait(Fixer::User);
    }
    // `init`, the backend, a module source: Terraform never got to apply, and a destroy needs
    // all of them too.
    if error.starts_with("observe failed") {
        return Remedy::Wait(Fixer::User);
    }
    // The refusal of a cut-off create whose annotation is gone already (ours, or the user's
    // ClearCreatePending): the provider acts on the edit at its next reconcile.
    if error.starts_with(CREATE_INCOMPLETE_MESSAGE) {
        return Remedy::Wait(Fixer::Provider);
    }
    let apply_failed = ["create failed: ", "update failed: "].iter().any(|verb| {
        error
            .strip_prefix(verb)
            .is_some_and(|rest| rest.starts_with(APPLY_FAILED))
    });
    if serving || !apply_failed {
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
    fn only_a_failed_apply_of_a_workspace_that_never_served_may_be_recreated() {
        let apply = "cannot apply Terraform configuration: Terraform encountered an error. Summary: ResourceInUseException";
        for (error, serving, expected) in [
            (format!("create failed: {apply}"), false, Remedy::Act(RecoveryActionType::RecreateWorkspace)),
            // The retries of a failed create are updates, once its partial apply is in the state.
            (format!("update failed: {apply}"), false, Remedy::Act(RecoveryActionType::RecreateWorkspace)),
            (format!("update failed: {apply}"), true, Remedy::Wait(Fixer::Provider)),
            (
                "observe failed: cannot run terraform init: Error: Failed to query available provider packages".to_owned(),
                false,
                Remedy::Wait(Fixer::User),
            ),
            (
                "cannot determine creation result - remove the crossplane.io/external-create-pending annotation if it is safe to proceed".to_owned(),
                false,
                Remedy::Wait(Fixer::Provider),
            ),
            ("create failed: context deadline exceeded".to_owned(), false, Remedy::Wait(Fixer::Provider)),
        ] {
            assert_eq!(reconcile_error_remedy(&error, serving), expected, "{error}");
        }
    }

    #[test]
    fn a_locked_state_is_never_answered_by_a_new_workspace_and_says_how_to_unlock() {
        let error = "create failed: cannot apply Terraform configuration: Terraform encountered an error. \
                     Summary: Error acquiring the state lock. To see the full error run: echo \"H4sI\" | base64 -d | gunzip";
        let ws = workspace(Some(("False", "Creating")), Some(error));
        let (message, remedy) = workspace_problem(&ws).unwrap();
        assert_eq!(remedy, Remedy::Wait(Fixer::User));
        assert!(message.contains("terraform force-unlock"), "{message}");
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
        ws.create_cut_off = true;
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
