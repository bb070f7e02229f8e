//! Terraform outputs of a simulated Workspace, and the cluster they describe.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kube::api::DynamicObject;

use crate::harness::TestControlPlane;

/// One Terraform output.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The value, as `terraform output -json` gives it.
    pub value: serde_json::Value,
    /// Sensitive outputs go to the connection secret only, never to `status.atProvider.outputs`.
    pub sensitive: bool,
}

impl Output {
    /// A non-sensitive output.
    pub fn plain(value: impl Into<serde_json::Value>) -> Self {
        Self {
            value: value.into(),
            sensitive: false,
        }
    }

    /// A sensitive output.
    pub fn sensitive(value: impl Into<serde_json::Value>) -> Self {
        Self {
            value: value.into(),
            sensitive: true,
        }
    }

    /// The connection-secret encoding: strings as their bytes, anything else as JSON (as
    /// provider-terraform's `op2cd` does).
    pub fn connection_detail(&self) -> Vec<u8> {
        match &self.value {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }
    }
}

/// The "EKS cluster" every simulated Workspace reports: in tests, the test API server itself, so
/// that an endpoint probe, or a kubeconfig built from the outputs with an EKS token (which the
/// test API server accepts through [`crate::eks`]), really connects.
#[derive(Clone, Debug)]
pub struct SimulatedCluster {
    /// API server URL, reported as output `cluster_endpoint`.
    pub server: String,
    /// CA certificate PEM; output `cluster_certificate_authority_data` is its base64, as EKS
    /// reports it.
    pub ca_pem: String,
}

impl SimulatedCluster {
    /// The test control plane as the simulated cluster.
    pub fn from_plane(plane: &TestControlPlane) -> Self {
        Self {
            server: plane.server_url().to_owned(),
            ca_pem: plane.ca_pem().to_owned(),
        }
    }
}

/// The outputs of `workspace` after a successful apply: what the real EKS module outputs
/// (`cluster_endpoint`, `cluster_certificate_authority_data`, `cluster_name`, and
/// `cluster_version` when the Workspace has a `kubernetes_version` variable; no `kubeconfig`),
/// then the script's, which win (a script can add a `kubeconfig` output).
///
/// `cluster_name` and `cluster_version` echo the Workspace's `cluster_name` and
/// `kubernetes_version` variables, so a test sees a spec change (an upgrade) come back out.
pub fn outputs_for(
    workspace: &DynamicObject,
    cluster: &SimulatedCluster,
    scripted: &BTreeMap<String, Output>,
) -> BTreeMap<String, Output> {
    let vars = variables(workspace);
    let name = vars
        .get("cluster_name")
        .cloned()
        .unwrap_or_else(|| workspace.metadata.name.clone().unwrap_or_default());
    let mut outputs = BTreeMap::from([
        (
            "cluster_endpoint".to_owned(),
            Output::plain(cluster.server.clone()),
        ),
        (
            "cluster_certificate_authority_data".to_owned(),
            Output::plain(BASE64.encode(&cluster.ca_pem)),
        ),
        ("cluster_name".to_owned(), Output::plain(name)),
    ]);
    if let Some(version) = vars.get("kubernetes_version") {
        outputs.insert("cluster_version".to_owned(), Output::plain(version.clone()));
    }
    outputs.extend(scripted.iter().map(|(k, v)| (k.clone(), v.clone())));
    outputs
}

/// `status.atProvider.outputs`: the non-sensitive outputs, values as JSON.
pub fn status_outputs(outputs: &BTreeMap<String, Output>) -> serde_json::Map<String, serde_json::Value> {
    outputs
        .iter()
        .filter(|(_, o)| !o.sensitive)
        .map(|(k, o)| (k.clone(), o.value.clone()))
        .collect()
}

/// `spec.forProvider.vars` as a map.
fn variables(workspace: &DynamicObject) -> BTreeMap<String, String> {
    workspace
        .data
        .pointer("/spec/forProvider/vars")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|var| {
            Some((
                var.get("key")?.as_str()?.to_owned(),
                var.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}
