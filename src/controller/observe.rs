//! What a control plane's reconcile pass looks at, read from the shared caches (no API request)
//! except the connection secret's data, which is fetched only when a pass needs it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, PartialObjectMeta},
    runtime::reflector::{ObjectRef, Store},
};

use super::{Context, Error, Result};
use crate::{
    api::{CAPTControlPlane, ClusterView, WorkspaceTemplate, WorkspaceTemplateApply, WorkspaceView, cluster},
    graph::{self, ObjectKey},
};

/// The caches the reconcilers read from, filled by the reflectors [`super::run()`] starts.
#[derive(Clone)]
pub struct Stores {
    /// WorkspaceTemplates.
    pub templates: Store<WorkspaceTemplate>,
    /// WorkspaceTemplateApplies.
    pub applies: Store<WorkspaceTemplateApply>,
    /// Workspaces of the configured API.
    pub workspaces: Store<DynamicObject>,
    /// Secrets, metadata only.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Clusters.
    pub clusters: Store<DynamicObject>,
    /// The Cluster version the clusters store holds (the key type of dynamic lookups).
    pub cluster_resource: kube::core::ApiResource,
}

/// Suffix of the connection secret a control plane's Workspace writes: `<control plane>-eks-connection`.
pub const CONNECTION_SECRET_SUFFIX: &str = "-eks-connection";

/// Everything a pass knows about one control plane's world.
pub struct Observation {
    /// The Cluster, when resolved.
    pub cluster: Option<ClusterView>,
    /// The name the control plane's apply has (or will have).
    pub apply_name: String,
    /// The control plane's apply.
    pub apply: Option<std::sync::Arc<WorkspaceTemplateApply>>,
    /// Its Workspace.
    pub workspace: Option<WorkspaceView>,
    /// The raw Workspace, for creation times and annotations.
    pub workspace_object: Option<std::sync::Arc<DynamicObject>>,
    /// Templates in the caches.
    pub templates: Vec<WorkspaceTemplate>,
    /// Applies in the control plane's namespace.
    pub applies: Vec<WorkspaceTemplateApply>,
    /// Workspaces (views) the graph may lead to.
    pub workspaces: Vec<WorkspaceView>,
    /// Secrets that exist, by key.
    pub secrets: Vec<ObjectKey>,
    /// Secrets' metadata in the namespace, by name, for ownership checks.
    pub secret_meta: BTreeMap<String, std::sync::Arc<PartialObjectMeta<Secret>>>,
}

impl Observation {
    /// The graph's view of these facts.
    pub fn observed<'a>(&'a self, cp: &'a CAPTControlPlane, ctx: &Context) -> graph::Observed<'a> {
        graph::Observed {
            control_plane: cp,
            cluster: self.cluster.as_ref(),
            templates: &self.templates,
            applies: &self.applies,
            workspaces: &self.workspaces,
            workspace_api: ctx.config.workspace_api,
            secrets: &self.secrets,
            config_maps: &[],
            provider_configs: None,
        }
    }

    /// Whether the secret `name` exists and is controlled by the object with `uid`.
    pub fn secret_owned_by(&self, name: &str, uid: &str) -> Option<bool> {
        let meta = self.secret_meta.get(name)?;
        Some(
            meta.owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true)),
        )
    }
}

/// Reads the control plane's world from the caches.
pub fn observe(cp: &CAPTControlPlane, ctx: &Context, stores: &Stores) -> Result<Observation> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let cluster = match cluster::cluster_ref(&cp.metadata) {
        Some(r) => {
            let key = ObjectRef::new_with(&r.name, stores.cluster_resource.clone()).within(&namespace);
            stores
                .clusters
                .get(&key)
                .map(|c| ClusterView::from_dynamic(&c))
                .transpose()
                .map_err(|e| Error::Malformed(e.to_string()))?
        }
        None => None,
    };
    let apply_name = cp
        .spec
        .workspace_template_apply_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| graph::default_apply_name(&cp.name_any()));
    let apply = stores
        .applies
        .get(&ObjectRef::new(&apply_name).within(&namespace));

    let in_scope =
        |ns: Option<String>| !ctx.config.workspace_api.is_namespaced() || ns.as_deref() == Some(&namespace);
    let mut workspaces = Vec::new();
    let mut workspace = None;
    let mut workspace_object = None;
    let ws_name = graph::rendered_workspace_name(&apply_name).to_owned();
    for obj in stores.workspaces.state() {
        if !in_scope(obj.namespace()) {
            continue;
        }
        let view = WorkspaceView::from_dynamic(&obj).map_err(|e| Error::Malformed(e.to_string()))?;
        if view.name == ws_name {
            workspace = Some(view.clone());
            workspace_object = Some(obj.clone());
        }
        workspaces.push(view);
    }
    let templates = stores.templates.state().iter().map(|t| (**t).clone()).collect();
    let applies = stores
        .applies
        .state()
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(&namespace))
        .map(|a| (**a).clone())
        .collect();
    let mut secrets = Vec::new();
    let mut secret_meta = BTreeMap::new();
    for s in stores.secrets.state() {
        let ns = s.namespace().unwrap_or_default();
        if ns == namespace {
            secret_meta.insert(s.name_any(), s.clone());
        }
        secrets.push(ObjectKey::new(ns, s.name_any()));
    }
    Ok(Observation {
        cluster,
        apply_name,
        apply,
        workspace,
        workspace_object,
        templates,
        applies,
        workspaces,
        secrets,
        secret_meta,
    })
}

/// Reads the data of the connection secret `<control plane>-eks-connection`.
pub async fn connection_data(
    cp: &CAPTControlPlane,
    ctx: &Context,
) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
    let namespace = cp.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = format!("{}{CONNECTION_SECRET_SUFFIX}", cp.name_any());
    Ok(api.get_opt(&name).await?.map(|s| {
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }))
}
