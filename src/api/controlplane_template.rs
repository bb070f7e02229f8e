//! `CaptControlPlaneTemplate` (upstream's casing): the control plane template ClusterClass refers to.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CAPTControlPlaneSpec;

/// A template from which ClusterClass topologies stamp out CAPTControlPlanes.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "controlplane.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CaptControlPlaneTemplate",
    plural = "captcontrolplanetemplates",
    singular = "captcontrolplanetemplate",
    namespaced,
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta1", "v1beta1"),
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("cluster.x-k8s.io/provider", "control-plane-capt"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "CaptControlPlaneTemplate is the control plane template of a ClusterClass."
)]
#[serde(rename_all = "camelCase")]
pub struct CaptControlPlaneTemplateSpec {
    /// The control plane to create.
    pub template: CaptControlPlaneTemplateResource,
}

/// The object a template stamps out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CaptControlPlaneTemplateResource {
    /// Labels and annotations for the created control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The control plane's spec.
    pub spec: CAPTControlPlaneSpec,
}

/// Labels and annotations of a templated object (Cluster API `ObjectMeta`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
