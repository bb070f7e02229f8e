//! The Kubernetes API: the custom resources this crate owns and typed read models of the objects it
//! reads but does not own.
//!
//! | Kind | Group/version | Owned | Module |
//! |---|---|---|---|
//! | `CAPTControlPlane` | `controlplane.cluster.x-k8s.io/v1beta1` | yes | [`controlplane`] |
//! | `CAPTControlPlaneTemplate` | `controlplane.cluster.x-k8s.io/v1beta1` | yes | [`controlplane_template`] |
//! | `WorkspaceTemplate` | `infrastructure.cluster.x-k8s.io/v1beta1` | yes | [`workspace_template`] |
//! | `WorkspaceTemplateApply` | `infrastructure.cluster.x-k8s.io/v1beta1` | yes | [`workspace_template`] |
//! | `Cluster` | `cluster.x-k8s.io/v1beta2`, `v1beta1` | read | [`cluster`] |
//! | `Workspace` | `tf.m.upbound.io/v1beta1`, `tf.upbound.io/v1beta1` | read | [`workspace`] |
//!
//! Field and JSON names follow upstream CAPT so existing manifests apply unchanged; everything new
//! from CAPTEP-0002 is optional with documented defaults.

pub mod cluster;
pub mod condition;
pub mod controlplane;
pub mod controlplane_template;
pub mod duration;
pub mod schema;
pub mod workspace;
pub mod workspace_template;

pub use cluster::{ClusterRef, ClusterView};
pub use controlplane::*;
pub use controlplane_template::*;
pub use workspace::{WorkspaceApi, WorkspaceView};
pub use workspace_template::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Label that names the Cluster API provider on every object we install.
pub const PROVIDER_LABEL: (&str, &str) = ("cluster.x-k8s.io/provider", "control-plane-capt");
/// Label Cluster API sets on objects that belong to a cluster; also our fallback for finding it.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Annotation that pauses reconciliation of one object (Cluster API convention).
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// Annotation a user sets to ask a Failed control plane to try again (`kubectl capt retry`).
pub const RETRY_ANNOTATION: &str = "controlplane.cluster.x-k8s.io/retry";
/// Annotation that keeps the retry record, since `clusterctl move` does not carry status.
pub const RECOVERY_ANNOTATION: &str = "controlplane.cluster.x-k8s.io/recovery";
/// Finalizer on a control plane: its Workspaces are destroyed before it goes.
pub const CONTROLPLANE_FINALIZER: &str = "controlplane.cluster.x-k8s.io/captcontrolplane";
/// Finalizer on a WorkspaceTemplateApply: its Workspace is destroyed (or retained) before it goes.
pub const APPLY_FINALIZER: &str = "infrastructure.cluster.x-k8s.io/finalizer";

/// Every CRD this crate owns, in a stable order: what `crd-gen` writes and the tests install.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        CAPTControlPlane::crd(),
        CAPTControlPlaneTemplate::crd(),
        WorkspaceTemplate::crd(),
        WorkspaceTemplateApply::crd(),
    ]
}
