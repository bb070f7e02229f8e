//! `CAPTControlPlaneTemplate`: the control plane template a ClusterClass refers to.
//!
//! Cluster API derives the kind it stamps out by trimming `Template` from the template's kind, so
//! the template must be `CAPTControlPlaneTemplate` for the control plane to be `CAPTControlPlane`.
//! Upstream's `CaptControlPlaneTemplate` casing yields `CaptControlPlane`, which no CRD serves, and
//! both cannot be served at once: they would share the CRD name
//! `captcontrolplanetemplates.controlplane.cluster.x-k8s.io`.
//!
//! The topology controller sets the stamped-out control plane's `spec.version` from
//! `Cluster.spec.topology.version`, so a template may leave `version` out, or carry upstream's
//! placeholder `${builtin.controlPlane.version}` (kept only so upstream's sample applies).

use std::{borrow::Cow, collections::BTreeMap};

use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, generate::SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _, ser::Error as _};
use serde_json::{Value, json};

use super::CAPTControlPlaneSpec;

/// Upstream's ClusterClass sample puts this in a template's `spec.template.spec.version`.
pub const VERSION_PLACEHOLDER: &str = "${builtin.controlPlane.version}";

/// A template from which ClusterClass topologies stamp out CAPTControlPlanes.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "controlplane.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CAPTControlPlaneTemplate",
    plural = "captcontrolplanetemplates",
    singular = "captcontrolplanetemplate",
    namespaced,
    category = "cluster-api",
    label("cluster.x-k8s.io/v1beta1", "v1beta1"),
    label("cluster.x-k8s.io/v1beta2", "v1beta1"),
    label("cluster.x-k8s.io/provider", "control-plane-capt"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "CAPTControlPlaneTemplate is the control plane template of a ClusterClass."
)]
#[serde(rename_all = "camelCase")]
pub struct CAPTControlPlaneTemplateSpec {
    /// The control plane to create.
    pub template: CAPTControlPlaneTemplateResource,
}

/// The object a template stamps out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CAPTControlPlaneTemplateResource {
    /// Labels and annotations for the created control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The control plane's spec.
    pub spec: TemplateControlPlaneSpec,
}

/// A control plane spec whose `version` may be left out: the Cluster's topology sets it. An absent
/// version reads as the empty string and is written back absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateControlPlaneSpec(pub CAPTControlPlaneSpec);

impl TemplateControlPlaneSpec {
    /// Whether the template names a version of its own (not absent, not the placeholder).
    pub fn version(&self) -> Option<&str> {
        Some(self.0.version.as_str()).filter(|v| !v.is_empty() && *v != VERSION_PLACEHOLDER)
    }
}

impl Serialize for TemplateControlPlaneSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(S::Error::custom)?;
        if let Some(map) = value.as_object_mut()
            && self.0.version.is_empty()
        {
            map.remove("version");
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TemplateControlPlaneSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        if let Some(map) = value.as_object_mut() {
            map.entry("version").or_insert_with(|| json!(""));
        }
        serde_json::from_value(value).map(Self).map_err(D::Error::custom)
    }
}

impl JsonSchema for TemplateControlPlaneSpec {
    fn schema_name() -> Cow<'static, str> {
        "TemplateControlPlaneSpec".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = CAPTControlPlaneSpec::json_schema(generator);
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|field| field != "version");
        }
        if let Some(version) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("version"))
            .and_then(Value::as_object_mut)
        {
            version.insert(
                "description".into(),
                json!(
                    "Kubernetes version of the control plane. Optional in a template: the Cluster's \
                     topology sets it. Upstream's builtin.controlPlane.version placeholder is accepted."
                ),
            );
            // clusterctl reads any dollar-brace in a provider's components as a variable it must
            // substitute, so the placeholder is spelled as a concatenation in the rule.
            version.insert(
                "x-kubernetes-validations".into(),
                json!([{
                    "rule": "self.matches('^v?[0-9]+\\\\.[0-9]+(\\\\.[0-9]+)?$') || self == '$' + '{builtin.controlPlane.version}'",
                    "message": "must be a Kubernetes version such as 1.31 or v1.31.2, or the builtin.controlPlane.version placeholder",
                }]),
            );
        }
        schema
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_without_version_round_trips_without_one() {
        let doc = json!({"workspaceTemplateRef": {"name": "eks"}});
        let spec: TemplateControlPlaneSpec = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(spec.version(), None);
        assert_eq!(serde_json::to_value(&spec).unwrap(), doc);
    }

    #[test]
    fn the_placeholder_is_not_a_version_of_its_own() {
        let with = |v: &str| -> TemplateControlPlaneSpec {
            serde_json::from_value(json!({"version": v, "workspaceTemplateRef": {"name": "eks"}})).unwrap()
        };
        assert_eq!(with(VERSION_PLACEHOLDER).version(), None);
        assert_eq!(with("v1.31.2").version(), Some("v1.31.2"));
    }
}
