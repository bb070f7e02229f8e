//! The WorkspaceTemplateApply a control plane asks for: its name, its spec and the variables it
//! hands the template (upstream CAPT's names). One definition, for the controller that writes the
//! apply and for the dependency graph, which must see the waits of an apply before it exists (a
//! control plane that waits on its own Workspace, or two that wait on each other's, is a cycle
//! from the start, not a wait that never ends).
//!
//! Pure: a control plane in, a spec out.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::{
    api::{
        CAPTControlPlane, DependencyKind, SecretReference, WorkspaceReference, WorkspaceTemplateApplySpec,
        WorkspaceTemplateReference,
    },
    graph::default_apply_name,
};

/// Suffix of the connection secret a control plane's Workspace writes: `<control plane>-eks-connection`.
pub const CONNECTION_SECRET_SUFFIX: &str = "-eks-connection";

/// The apply's name: `spec.workspaceTemplateApplyName` once written, else upstream's
/// `<control plane>-eks-controlplane-apply`.
pub fn name(cp: &CAPTControlPlane) -> String {
    cp.spec
        .workspace_template_apply_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_apply_name(&cp.name_any()))
}

/// The variables the control plane hands its template (upstream CAPT's names).
pub fn variables(cp: &CAPTControlPlane, cluster_name: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::from([
        ("cluster_name".to_owned(), cluster_name.to_owned()),
        (
            "kubernetes_version".to_owned(),
            cp.spec.version.trim_start_matches('v').to_owned(),
        ),
    ]);
    if let Some(config) = &cp.spec.control_plane_config {
        vars.insert("region".into(), config.region.clone());
        let access = config.endpoint_access.clone().unwrap_or_default();
        vars.insert(
            "endpoint_public_access".into(),
            access.public.unwrap_or(true).to_string(),
        );
        vars.insert(
            "endpoint_private_access".into(),
            access.private.unwrap_or(false).to_string(),
        );
    }
    for (key, value) in &cp.spec.additional_tags {
        vars.insert(format!("tags_{key}"), value.clone());
    }
    vars
}

/// The spec of the apply the control plane writes, with retention off (the user's to set on
/// the apply).
pub fn spec(cp: &CAPTControlPlane, cluster_name: &str) -> WorkspaceTemplateApplySpec {
    let namespace = cp.namespace().unwrap_or_default();
    let declared = |kind: DependencyKind| cp.spec.dependencies.iter().filter(move |d| d.kind == kind);
    WorkspaceTemplateApplySpec {
        template_ref: WorkspaceTemplateReference {
            name: cp.spec.workspace_template_ref.name.clone(),
            namespace: Some(cp.spec.workspace_template_ref.namespace_or(&namespace).to_owned()),
        },
        write_connection_secret_to_ref: Some(SecretReference {
            name: format!("{}{CONNECTION_SECRET_SUFFIX}", cp.name_any()),
            namespace: Some(namespace.clone()),
        }),
        variables: variables(cp, cluster_name),
        wait_for_secrets: declared(DependencyKind::Secret)
            .map(|d| SecretReference {
                name: d.name.clone(),
                namespace: d.namespace.clone(),
            })
            .collect(),
        wait_for_workspaces: declared(DependencyKind::Workspace)
            .map(|d| WorkspaceReference {
                name: d.name.clone(),
                namespace: d.namespace.clone(),
            })
            .collect(),
        retain_workspace_on_delete: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CAPTControlPlaneSpec, ControlPlaneConfig, DeclaredDependency, EndpointAccess};

    fn cp() -> CAPTControlPlane {
        let mut cp = CAPTControlPlane::new(
            "prod-cp",
            CAPTControlPlaneSpec {
                version: "v1.31".into(),
                workspace_template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                control_plane_config: Some(ControlPlaneConfig {
                    region: "ap-northeast-1".into(),
                    endpoint_access: Some(EndpointAccess {
                        public: Some(true),
                        private: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                additional_tags: [("Environment".to_owned(), "dev".to_owned())].into(),
                dependencies: vec![
                    DeclaredDependency {
                        kind: DependencyKind::Workspace,
                        name: "prod-vpc".into(),
                        namespace: None,
                    },
                    DeclaredDependency {
                        kind: DependencyKind::Secret,
                        name: "aws-creds".into(),
                        namespace: Some("infra".into()),
                    },
                ],
                ..Default::default()
            },
        );
        cp.metadata.namespace = Some("team-a".into());
        cp
    }

    #[test]
    fn variables_use_the_cluster_name_and_upstream_names() {
        let vars = variables(&cp(), "prod");
        assert_eq!(vars["cluster_name"], "prod");
        assert_eq!(vars["kubernetes_version"], "1.31");
        assert_eq!(vars["region"], "ap-northeast-1");
        assert_eq!(vars["endpoint_public_access"], "true");
        assert_eq!(vars["endpoint_private_access"], "true");
        assert_eq!(vars["tags_Environment"], "dev");
    }

    #[test]
    fn the_spec_defaults_the_template_namespace_and_turns_dependencies_into_waits() {
        let spec = spec(&cp(), "prod");
        assert_eq!(spec.template_ref.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            spec.write_connection_secret_to_ref.unwrap().name,
            "prod-cp-eks-connection"
        );
        assert_eq!(
            spec.wait_for_workspaces,
            vec![WorkspaceReference {
                name: "prod-vpc".into(),
                namespace: None
            }]
        );
        assert_eq!(spec.wait_for_secrets[0].namespace.as_deref(), Some("infra"));
    }
}
