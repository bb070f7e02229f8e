//! `WorkspaceTemplate` and `WorkspaceTemplateApply` (`infrastructure.cluster.x-k8s.io/v1beta1`):
//! upstream CAPT's shapes. A template holds a provider-terraform Workspace spec with `${var}`
//! placeholders; an apply renders it with variables into one Workspace, after its waits are met.

// clippy reads the repeated `type_ = "string"` of the printer columns as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{WorkspaceTemplateReference, schema};

/// A reusable provider-terraform Workspace definition.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "WorkspaceTemplate",
    plural = "workspacetemplates",
    singular = "workspacetemplate",
    namespaced,
    status = "WorkspaceTemplateStatusInfo",
    category = "capt",
    category = "terraform",
    label("cluster.x-k8s.io/v1beta1", "v1beta1"),
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("cluster.x-k8s.io/provider", "control-plane-capt"),
    printcolumn(
        name = "Valid",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Valid\")].status"
    ),
    printcolumn(name = "Workspace", type_ = "string", json_path = ".status.workspaceName"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "WorkspaceTemplate is a provider-terraform Workspace definition whose string values hold variable placeholders: a dollar sign and the variable name in braces."
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateSpec {
    /// The Workspace to render.
    pub template: WorkspaceTemplateDefinition,
    /// Kept for upstream compatibility; the one in `template.spec` takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<SecretReference>,
}

/// Template metadata and the Workspace spec.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateDefinition {
    /// Description, version and tags of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<WorkspaceTemplateMetadata>,
    /// A provider-terraform `WorkspaceSpec` (`forProvider`, `providerConfigRef`,
    /// `writeConnectionSecretToRef`, ...). String values may hold placeholders: a dollar sign and
    /// a variable name in braces.
    #[schemars(schema_with = "schema::preserve_unknown_object")]
    pub spec: serde_json::Value,
}

/// Descriptive metadata of a template.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateMetadata {
    /// What the template provisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The template's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Status of a WorkspaceTemplate: upstream's fields, and condition `Valid`, the operator's check
/// of the template against the Workspace API (docs/templates.md).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateStatusInfo {
    /// Name of a Workspace rendered from this template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// Conditions: `Valid` says whether a Workspace rendered from the template (placeholders as
    /// stand-ins) passes the Workspace API's validation, for the generation it names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
}

/// Renders a WorkspaceTemplate into a Workspace once its waits are met.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "WorkspaceTemplateApply",
    plural = "workspacetemplateapplies",
    singular = "workspacetemplateapply",
    shortname = "wtapply",
    namespaced,
    status = "WorkspaceTemplateApplyStatus",
    category = "capt",
    category = "terraform",
    label("cluster.x-k8s.io/v1beta1", "v1beta1"),
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("cluster.x-k8s.io/provider", "control-plane-capt"),
    printcolumn(name = "Workspace", type_ = "string", json_path = ".status.workspaceName"),
    printcolumn(name = "Applied", type_ = "boolean", json_path = ".status.applied"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "WorkspaceTemplateApply renders a WorkspaceTemplate with variables into a Workspace."
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateApplySpec {
    /// The template to render; the namespace defaults to the apply's.
    pub template_ref: WorkspaceTemplateReference,
    /// Where the Workspace writes its connection secret; overrides the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<SecretReference>,
    /// Values of the template's placeholders, by variable name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Secrets that must exist before the Workspace is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wait_for_secrets: Vec<SecretReference>,
    /// Workspaces that must be Ready before this one is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wait_for_workspaces: Vec<WorkspaceReference>,
    /// Keep the Workspace (and what Terraform made) when the apply is deleted.
    #[serde(default)]
    pub retain_workspace_on_delete: bool,
}

/// A Secret by name and namespace (`xpv1.SecretReference`); the namespace defaults to the
/// referring object's.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[x_kube(validation = Rule::new("self != ''").message("secret name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Namespace of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Workspace by name (and namespace, for the namespaced API).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceReference {
    /// Name of the Workspace.
    #[x_kube(validation = Rule::new("self != ''").message("workspace name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
    /// Namespace of the Workspace; defaults to the apply's (ignored for cluster-scoped Workspaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Observed state of a WorkspaceTemplateApply.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateApplyStatus {
    /// Name of the rendered Workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// The Workspace has been created.
    #[serde(default)]
    pub applied: bool,
    /// When the Workspace spec was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<Time>,
    /// Hash of the last rendered Workspace spec, so a change re-renders exactly once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_hash: Option<String>,
    /// Hash of the render the API server refused: not sent again until the render changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_hash: Option<String>,
    /// The template generation the conditions describe: a refusal of an older template's render
    /// says nothing about the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_template_generation: Option<i64>,
    /// Conditions: `Ready` and `Synced` mirror the Workspace; `Rendered` and `Waiting` are ours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The generation this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
