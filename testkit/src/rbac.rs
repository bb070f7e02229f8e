//! Running a component as a user bound only to its own ClusterRole, as in a real cluster: the
//! operator under `manifests/rbac/role.yaml`, the Cluster API manager under its module's role.

use std::path::Path;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    crds::load_documents,
    error::{Error, Result},
    util::repo_root,
};

/// The operator's ClusterRole, as `manifests/rbac/role.yaml` ships it.
pub fn operator_role() -> Result<serde_json::Value> {
    cluster_role_from(&repo_root().join("manifests/rbac/role.yaml"))
}

/// The first ClusterRole in the YAML file `path`.
pub fn cluster_role_from(path: &Path) -> Result<serde_json::Value> {
    load_documents(path)?
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole")
        .ok_or_else(|| Error::Manifest {
            path: path.to_owned(),
            message: "no ClusterRole in the file".into(),
        })
}

/// Applies `role` (a ClusterRole manifest) and binds it to `user` with a ClusterRoleBinding named
/// after the user; returns the role's name.
pub async fn bind_cluster_role(admin: &Client, role: &serde_json::Value, user: &str) -> Result<String> {
    let name = role["metadata"]["name"]
        .as_str()
        .ok_or_else(|| Error::Serialize {
            what: "ClusterRole",
            message: "the manifest has no metadata.name".into(),
        })?
        .to_owned();
    let params = PatchParams::apply("capt-testkit").force();
    Api::<ClusterRole>::all(admin.clone())
        .patch(&name, &params, &Patch::Apply(role))
        .await?;
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    });
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(user, &params, &Patch::Apply(&binding))
        .await?;
    Ok(name)
}
