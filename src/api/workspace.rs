//! Typed read model of a provider-terraform `Workspace`, for both of its APIs.
//!
//! The namespaced `tf.m.upbound.io/v1beta1` Workspace is the default: a control plane can own it
//! through an ownerReference. The legacy cluster-scoped `tf.upbound.io/v1beta1` Workspace is chosen
//! by an operator flag; a namespaced owner cannot own it, so it is tracked by labels.
//!
//! Health needs both conditions: `Ready` is not reset when a re-apply fails, so a Workspace can be
//! `Ready=True` while `Synced=False/ReconcileError`.

use std::collections::BTreeMap;

use kube::{
    core::DynamicObject,
    core::{ApiResource, GroupVersionKind},
};
use serde::Deserialize;

/// Annotation crossplane-runtime sets just before every create (it is never removed).
pub const CREATE_PENDING_ANNOTATION: &str = "crossplane.io/external-create-pending";
/// Annotation crossplane-runtime sets when a create returned successfully.
pub const CREATE_SUCCEEDED_ANNOTATION: &str = "crossplane.io/external-create-succeeded";
/// Annotation the operator sets when it removes a cut-off create's pending annotation. The
/// provider's controllers ignore changes to crossplane's create annotations (crossplane-runtime's
/// `DesiredStateChanged` predicate), so the removal alone would wake the provider only at its next
/// resync (`--sync`, an hour by default); a change to any other annotation wakes it at once.
pub const CREATE_PENDING_CLEARED_ANNOTATION: &str = "controlplane.cluster.x-k8s.io/create-pending-cleared";
/// Annotation crossplane-runtime sets when a create returned an error.
pub const CREATE_FAILED_ANNOTATION: &str = "crossplane.io/external-create-failed";
/// How crossplane-runtime's Synced message starts when it refuses to act on a cut-off create.
pub const CREATE_INCOMPLETE_MESSAGE: &str = "cannot determine creation result";
/// Annotation that pauses a Crossplane managed resource.
pub const CROSSPLANE_PAUSED_ANNOTATION: &str = "crossplane.io/paused";

/// Which Workspace API the operator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum WorkspaceApi {
    /// `tf.m.upbound.io/v1beta1`, namespaced (Crossplane v2 managed resources).
    #[default]
    Namespaced,
    /// `tf.upbound.io/v1beta1`, cluster-scoped (legacy).
    ClusterScoped,
}

impl WorkspaceApi {
    /// The API resource to build a `kube::Api<DynamicObject>` with.
    pub fn api_resource(self) -> ApiResource {
        let group = match self {
            Self::Namespaced => "tf.m.upbound.io",
            Self::ClusterScoped => "tf.upbound.io",
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, "v1beta1", "Workspace"),
            "workspaces",
        )
    }

    /// Whether Workspaces of this API live in a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(self, Self::Namespaced)
    }
}

/// A condition as provider-terraform writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceCondition {
    /// `Ready` or `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// e.g. `Available`, `Creating`, `ReconcileError`.
    #[serde(default)]
    pub reason: String,
    /// The provider's message (Terraform errors land here).
    #[serde(default)]
    pub message: String,
    /// The generation the condition was computed for, when the provider sets it.
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

impl WorkspaceCondition {
    /// Whether the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The parts of a Workspace we act on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkspaceView {
    /// Name.
    pub name: String,
    /// Namespace (empty for cluster-scoped Workspaces).
    pub namespace: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// The `Ready` condition; absent means Unknown.
    pub ready: Option<WorkspaceCondition>,
    /// The `Synced` condition; absent means Unknown.
    pub synced: Option<WorkspaceCondition>,
    /// `status.atProvider`, verbatim.
    pub at_provider: Option<serde_json::Value>,
    /// The Workspace is being deleted.
    pub deleting: bool,
    /// The provider refuses to act because a create was cut off: crossplane-runtime's
    /// `ExternalCreateIncomplete` (the pending annotation is newer than both outcomes) and the
    /// Synced error that says so. The annotations alone also match a create in progress, which
    /// can take the whole of an EKS create: only the provider's refusal tells the two apart.
    pub create_cut_off: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StatusFields {
    #[serde(default)]
    conditions: Vec<WorkspaceCondition>,
    #[serde(default)]
    observed_generation: Option<i64>,
    #[serde(default)]
    at_provider: Option<serde_json::Value>,
}

/// A Workspace whose status does not have provider-terraform's shape.
#[derive(Debug, thiserror::Error)]
#[error("Workspace {name}: unexpected status shape: {source}")]
pub struct MalformedWorkspace {
    name: String,
    source: serde_json::Error,
}

impl WorkspaceView {
    /// Reads a Workspace of either API.
    pub fn from_dynamic(obj: &DynamicObject) -> Result<Self, MalformedWorkspace> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let status: StatusFields = match obj.data.get("status") {
            Some(s) if !s.is_null() => {
                serde_json::from_value(s.clone()).map_err(|source| MalformedWorkspace {
                    name: name.clone(),
                    source,
                })?
            }
            _ => StatusFields::default(),
        };
        let find = |t: &str| status.conditions.iter().find(|c| c.type_ == t).cloned();
        Ok(Self {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            generation: obj.metadata.generation,
            observed_generation: status.observed_generation,
            ready: find("Ready"),
            synced: find("Synced"),
            at_provider: status.at_provider.filter(|v| !v.is_null()),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            create_cut_off: external_create_incomplete(obj.metadata.annotations.as_ref())
                && find("Synced")
                    .is_some_and(|c| c.status == "False" && c.message.starts_with(CREATE_INCOMPLETE_MESSAGE)),
            labels: obj.metadata.labels.clone().unwrap_or_default(),
            name,
        })
    }

    /// `Ready=True`.
    pub fn is_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(WorkspaceCondition::is_true)
    }

    /// `Synced=True` and, where the provider says which generation it synced, the current one.
    pub fn is_synced_current(&self) -> bool {
        let Some(synced) = self.synced.as_ref().filter(|c| c.is_true()) else {
            return false;
        };
        let observed = synced.observed_generation.or(self.observed_generation);
        match (observed, self.generation) {
            (Some(observed), Some(generation)) => observed >= generation,
            _ => true,
        }
    }

    /// The Workspace is provisioned: Synced for the current generation and Ready.
    pub fn is_provisioned(&self) -> bool {
        self.is_ready() && self.is_synced_current()
    }

    /// The provider's error, when the last reconcile failed (`Synced=False/ReconcileError`).
    pub fn reconcile_error(&self) -> Option<&str> {
        self.synced
            .as_ref()
            .filter(|c| c.status == "False" && c.reason == "ReconcileError")
            .map(|c| c.message.as_str())
    }

    /// Non-sensitive Terraform outputs (`status.atProvider.outputs`).
    pub fn outputs(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.at_provider.as_ref()?.get("outputs")?.as_object()
    }

    /// An output as a string: JSON strings unquoted, anything else as JSON text.
    pub fn output_string(&self, key: &str) -> Option<String> {
        match self.outputs()?.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// crossplane-runtime's `meta.ExternalCreateIncomplete`: a create started (pending) after the last
/// one that returned (succeeded or failed). Timestamps are RFC 3339 in whole seconds, so a create
/// that returned within the second it started counts as complete, as it does in crossplane.
fn external_create_incomplete(annotations: Option<&BTreeMap<String, String>>) -> bool {
    let time = |key: &str| {
        annotations?
            .get(key)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let Some(pending) = time(CREATE_PENDING_ANNOTATION) else {
        return false;
    };
    let latest = time(CREATE_SUCCEEDED_ANNOTATION).max(time(CREATE_FAILED_ANNOTATION));
    latest.is_none_or(|latest| pending > latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(json: serde_json::Value) -> WorkspaceView {
        WorkspaceView::from_dynamic(&serde_json::from_value(json).unwrap()).unwrap()
    }

    #[test]
    fn a_healthy_namespaced_workspace_is_provisioned_with_outputs() {
        let ws = workspace(serde_json::json!({
            "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "prod-eks-controlplane", "namespace": "team-a", "generation": 2},
            "spec": {"forProvider": {"source": "Inline", "module": "..."}},
            "status": {
                "observedGeneration": 2,
                "atProvider": {"checksum": "abc", "outputs": {"cluster_endpoint": "https://ABC.gr7.ap-northeast-1.eks.amazonaws.com", "port": 443}},
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2}
                ]
            }
        }));
        assert!(ws.is_provisioned());
        assert_eq!(
            ws.output_string("cluster_endpoint").unwrap(),
            "https://ABC.gr7.ap-northeast-1.eks.amazonaws.com"
        );
        assert_eq!(ws.output_string("port").unwrap(), "443");
        assert_eq!(ws.reconcile_error(), None);
    }

    #[test]
    fn ready_but_failed_reapply_is_not_provisioned() {
        let ws = workspace(serde_json::json!({
            "apiVersion": "tf.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "prod-eks-controlplane", "generation": 3},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Available"},
                {"type": "Synced", "status": "False", "reason": "ReconcileError",
                 "message": "update failed: cannot apply Terraform configuration: Terraform encountered an error."}
            ]}
        }));
        assert!(ws.is_ready());
        assert!(!ws.is_provisioned());
        assert!(ws.reconcile_error().unwrap().starts_with("update failed"));
    }

    #[test]
    fn synced_for_an_older_generation_is_not_current() {
        let ws = workspace(serde_json::json!({
            "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "w", "namespace": "n", "generation": 4},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Available"},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "observedGeneration": 3}
            ]}
        }));
        assert!(!ws.is_synced_current());
    }

    fn with_create_annotations(annotations: &[(&str, &str)], synced_message: &str) -> WorkspaceView {
        let annotations: BTreeMap<_, _> = annotations.iter().copied().collect();
        workspace(serde_json::json!({
            "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "w", "namespace": "n", "generation": 1, "annotations": annotations},
            "status": {"conditions": [
                {"type": "Ready", "status": "False", "reason": "Creating"},
                {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": synced_message}
            ]}
        }))
    }

    #[test]
    fn a_create_is_cut_off_only_when_the_provider_says_so_and_the_annotations_agree() {
        let refused = "cannot determine creation result - remove the crossplane.io/external-create-pending annotation if it is safe to proceed";
        let pending = (CREATE_PENDING_ANNOTATION, "2026-01-01T00:00:10Z");
        assert!(with_create_annotations(&[pending], refused).create_cut_off);
        let failed_before = (CREATE_FAILED_ANNOTATION, "2026-01-01T00:00:09Z");
        assert!(with_create_annotations(&[pending, failed_before], refused).create_cut_off);
        // The provider never removes the pending annotation: after a create returned (even
        // within the same second) it is history, and a later failure is an ordinary one.
        for outcome in [
            (CREATE_SUCCEEDED_ANNOTATION, "2026-01-01T00:00:10Z"),
            (CREATE_FAILED_ANNOTATION, "2026-01-01T00:00:11Z"),
        ] {
            assert!(!with_create_annotations(&[pending, outcome], refused).create_cut_off);
        }
        // A create in progress has the same annotations; the provider has not refused anything.
        let update_failed =
            "update failed: cannot apply Terraform configuration: Terraform encountered an error.";
        assert!(!with_create_annotations(&[pending, failed_before], update_failed).create_cut_off);
        assert!(!with_create_annotations(&[(CREATE_PENDING_ANNOTATION, "garbage")], refused).create_cut_off);
    }

    #[test]
    fn a_new_workspace_without_status_is_unknown_not_an_error() {
        let ws = workspace(serde_json::json!({
            "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "w", "namespace": "n"}
        }));
        assert!(ws.ready.is_none() && ws.synced.is_none() && !ws.is_provisioned());
    }
}
