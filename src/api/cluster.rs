//! Typed read model of a Cluster API `Cluster`, and how a control plane finds its Cluster.
//!
//! We read Clusters at `cluster.x-k8s.io/v1beta2` and fall back to `v1beta1` (CAPI ≤ v1.10); only
//! the fields below matter to us, and both generations spell them alike except `spec.paused`
//! (`*bool` vs `bool`), which deserializes the same.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    core::DynamicObject,
    core::{ApiResource, GroupVersionKind},
};
use serde::Deserialize;

use super::CLUSTER_NAME_LABEL;

/// The group of Cluster API core objects.
pub const GROUP: &str = "cluster.x-k8s.io";

/// The API resource of `Cluster` at `version` (`v1beta2` or `v1beta1`).
pub fn api_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, version, "Cluster"), "clusters")
}

/// How a control plane names its Cluster, and how we found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// Name of the Cluster (same namespace as the control plane).
    pub name: String,
    /// Where the name came from.
    pub source: ClusterRefSource,
}

/// Where a [`ClusterRef`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterRefSource {
    /// An ownerReference of kind Cluster in group `cluster.x-k8s.io` (any version).
    OwnerReference,
    /// The `cluster.x-k8s.io/cluster-name` label.
    Label,
}

/// Finds the Cluster that owns an object: by ownerReference first, then by the cluster-name label.
/// Never by equal names: ClusterClass gives control planes generated names.
pub fn cluster_ref(meta: &ObjectMeta) -> Option<ClusterRef> {
    let by_owner = meta.owner_references.iter().flatten().find(|o| {
        o.kind == "Cluster"
            && o.api_version
                .split_once('/')
                .is_some_and(|(group, _)| group == GROUP)
    });
    if let Some(owner) = by_owner {
        return Some(ClusterRef {
            name: owner.name.clone(),
            source: ClusterRefSource::OwnerReference,
        });
    }
    meta.labels
        .as_ref()
        .and_then(|l| l.get(CLUSTER_NAME_LABEL))
        .filter(|n| !n.is_empty())
        .map(|name| ClusterRef {
            name: name.clone(),
            source: ClusterRefSource::Label,
        })
}

/// The parts of a Cluster we act on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `spec.paused`.
    pub paused: bool,
    /// The Cluster is being deleted.
    pub deleting: bool,
    /// `spec.controlPlaneEndpoint.host`, when set.
    pub endpoint_host: Option<String>,
}

/// The fields of a Cluster's `spec` that [`ClusterView`] reads; a cache may drop the rest.
pub const VIEWED_SPEC_FIELDS: &[&str] = &["paused", "controlPlaneEndpoint"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ClusterSpecFields {
    #[serde(default)]
    paused: Option<bool>,
    #[serde(default)]
    control_plane_endpoint: Option<EndpointFields>,
}

#[derive(Deserialize, Default)]
struct EndpointFields {
    #[serde(default)]
    host: Option<String>,
}

/// A Cluster object whose spec does not have the shape Cluster API gives it.
#[derive(Debug, thiserror::Error)]
#[error("Cluster {name}: unexpected spec shape: {source}")]
pub struct MalformedCluster {
    name: String,
    source: serde_json::Error,
}

impl ClusterView {
    /// Reads a Cluster of either contract generation.
    pub fn from_dynamic(obj: &DynamicObject) -> Result<Self, MalformedCluster> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let spec: ClusterSpecFields = match obj.data.get("spec") {
            Some(spec) => serde_json::from_value(spec.clone()).map_err(|source| MalformedCluster {
                name: name.clone(),
                source,
            })?,
            None => ClusterSpecFields::default(),
        };
        Ok(Self {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            paused: spec.paused.unwrap_or(false),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            endpoint_host: spec
                .control_plane_endpoint
                .and_then(|e| e.host)
                .filter(|h| !h.is_empty()),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owner(api_version: &str, kind: &str, name: &str) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
            ..Default::default()
        }
    }

    #[test]
    fn owner_reference_wins_over_label_and_any_version_matches() {
        let meta = ObjectMeta {
            owner_references: Some(vec![
                owner("infrastructure.cluster.x-k8s.io/v1beta1", "Cluster", "not-this"),
                owner("cluster.x-k8s.io/v1beta2", "Cluster", "prod-a1b2c"),
            ]),
            labels: Some([(CLUSTER_NAME_LABEL.to_string(), "other".to_string())].into()),
            ..Default::default()
        };
        let found = cluster_ref(&meta).unwrap();
        assert_eq!(found.name, "prod-a1b2c");
        assert_eq!(found.source, ClusterRefSource::OwnerReference);
    }

    #[test]
    fn label_is_the_fallback_and_equal_names_are_never_assumed() {
        let labelled = ObjectMeta {
            name: Some("cp".into()),
            labels: Some([(CLUSTER_NAME_LABEL.to_string(), "prod".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(cluster_ref(&labelled).unwrap().source, ClusterRefSource::Label);
        let bare = ObjectMeta {
            name: Some("prod".into()),
            ..Default::default()
        };
        assert_eq!(cluster_ref(&bare), None);
    }

    #[test]
    fn reads_v1beta2_and_v1beta1_clusters() {
        let v1beta2: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "prod", "namespace": "team-a"},
            "spec": {
                "paused": true,
                "controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": "prod-cp"},
                "controlPlaneEndpoint": {"host": "abc.eks.amazonaws.com", "port": 443},
                "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}
            }
        }))
        .unwrap();
        let view = ClusterView::from_dynamic(&v1beta2).unwrap();
        assert!(view.paused);
        assert_eq!(view.endpoint_host.as_deref(), Some("abc.eks.amazonaws.com"));

        let v1beta1: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "prod", "namespace": "team-a"},
            "spec": {"controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "CAPTControlPlane", "name": "prod-cp"},
                     "controlPlaneEndpoint": {"host": "", "port": 0}}
        }))
        .unwrap();
        let view = ClusterView::from_dynamic(&v1beta1).unwrap();
        assert!(!view.paused);
        assert_eq!(view.endpoint_host, None);
    }

    #[test]
    fn a_malformed_spec_is_an_error_not_a_panic() {
        let bad: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "prod"}, "spec": {"paused": "yes"}
        }))
        .unwrap();
        assert!(
            ClusterView::from_dynamic(&bad)
                .unwrap_err()
                .to_string()
                .contains("Cluster prod")
        );
    }
}
