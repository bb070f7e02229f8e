//! The two provider-terraform Workspace APIs.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};

/// Which provider-terraform Workspace API: they differ in scope and in the shape of
/// `writeConnectionSecretToRef` and `providerConfigRef` (see `notes/capi-contract.md` §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkspaceApi {
    /// `tf.m.upbound.io/v1beta1`: namespaced (Crossplane v2 "modern" managed resource); the
    /// connection secret goes to the Workspace's own namespace. The default.
    Namespaced,
    /// `tf.upbound.io/v1beta1`: cluster-scoped (legacy managed resource); the connection secret
    /// goes to `writeConnectionSecretToRef.namespace`.
    ClusterScoped,
}

impl WorkspaceApi {
    /// Both APIs.
    pub const ALL: [WorkspaceApi; 2] = [WorkspaceApi::Namespaced, WorkspaceApi::ClusterScoped];

    /// The API group.
    pub fn group(self) -> &'static str {
        match self {
            WorkspaceApi::Namespaced => "tf.m.upbound.io",
            WorkspaceApi::ClusterScoped => "tf.upbound.io",
        }
    }

    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        match self {
            WorkspaceApi::Namespaced => "tf.m.upbound.io/v1beta1",
            WorkspaceApi::ClusterScoped => "tf.upbound.io/v1beta1",
        }
    }

    /// The dynamic type of `Workspace` in this API.
    pub fn resource(self) -> ApiResource {
        ApiResource {
            group: self.group().to_owned(),
            version: "v1beta1".to_owned(),
            api_version: self.api_version().to_owned(),
            kind: "Workspace".to_owned(),
            plural: "workspaces".to_owned(),
        }
    }

    /// An `Api` over Workspaces: in `namespace` for the namespaced API (all namespaces when
    /// `None`), cluster-wide for the cluster-scoped one (`namespace` is ignored).
    pub fn api(self, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.resource();
        match (self, namespace) {
            (WorkspaceApi::Namespaced, Some(ns)) => Api::namespaced_with(client, ns, &resource),
            _ => Api::all_with(client, &resource),
        }
    }

    /// Parses `tf.m.upbound.io/v1beta1` / `tf.upbound.io/v1beta1` (or the bare group).
    pub fn from_api_version(api_version: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|api| api_version == api.api_version() || api_version == api.group())
    }
}

impl std::fmt::Display for WorkspaceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.api_version())
    }
}
