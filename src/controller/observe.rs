//! What a control plane's reconcile pass looks at, read from the shared caches (no API request)
//! except the connection secret's data, which is fetched only when a pass needs it.

use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, PartialObjectMeta},
    runtime::reflector::{ObjectRef, Store},
};

use super::{Context, Error, Result};
use crate::{
    api::{
        CAPTControlPlane, ClusterView, WorkspaceApi, WorkspaceTemplate, WorkspaceTemplateApply,
        WorkspaceView, cluster,
    },
    graph,
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
    pub apply: Option<Arc<WorkspaceTemplateApply>>,
    /// Its Workspace.
    pub workspace: Option<WorkspaceView>,
    /// The raw Workspace, for creation times and annotations.
    pub workspace_object: Option<Arc<DynamicObject>>,
    /// The control plane's WorkspaceTemplate.
    pub template: Option<Arc<WorkspaceTemplate>>,
}

impl Observation {
    /// The graph's subject: this control plane and its Cluster.
    pub fn subject<'a>(&'a self, cp: &'a CAPTControlPlane, ctx: &Context) -> graph::Subject<'a> {
        graph::Subject {
            control_plane: cp,
            cluster: self.cluster.as_ref(),
            workspace_api: ctx.config.workspace_api,
        }
    }
}

/// Whether the secret `namespace/name` exists (by the cache) and is controlled by the object
/// with `uid`.
pub fn secret_owned_by(stores: &Stores, namespace: &str, name: &str, uid: &str) -> Option<bool> {
    let meta = stores.secrets.get(&ObjectRef::new(name).within(namespace))?;
    Some(
        meta.owner_references()
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true)),
    )
}

/// Reads the control plane's world from the caches: the objects it names, by name, so a pass
/// costs the same with ten control planes in the namespace or ten thousand.
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
    let workspace_object = stores.workspace(
        ctx.config.workspace_api,
        &namespace,
        graph::rendered_workspace_name(&apply_name),
    );
    let workspace = workspace_object
        .as_deref()
        .map(WorkspaceView::from_dynamic)
        .transpose()
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let tref = &cp.spec.workspace_template_ref;
    let template = stores
        .templates
        .get(&ObjectRef::new(&tref.name).within(tref.namespace_or(&namespace)));
    Ok(Observation {
        cluster,
        apply_name,
        apply,
        workspace,
        workspace_object,
        template,
    })
}

impl Stores {
    /// The cached Workspace `name`: in `namespace` for the namespaced API, cluster-scoped for the
    /// legacy one.
    pub fn workspace(&self, api: WorkspaceApi, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let r = ObjectRef::new_with(name, api.api_resource());
        let r = if api.is_namespaced() {
            r.within(namespace)
        } else {
            r
        };
        self.workspaces.get(&r)
    }
}

/// The caches as [`graph::Facts`]: every lookup is one hash-map read, except the scans the
/// builder asks for when no name leads to an apply (see [`graph::Facts::for_each_apply`]).
pub struct CachedFacts<'a> {
    /// The caches.
    pub stores: &'a Stores,
    /// The Workspace API in use.
    pub workspace_api: WorkspaceApi,
}

impl graph::Facts for CachedFacts<'_> {
    fn template(&self, namespace: &str, name: &str) -> Option<Cow<'_, WorkspaceTemplate>> {
        let found = self
            .stores
            .templates
            .get(&ObjectRef::new(name).within(namespace))?;
        Some(Cow::Owned(WorkspaceTemplate::clone(&found)))
    }

    fn apply(&self, namespace: &str, name: &str) -> Option<Cow<'_, WorkspaceTemplateApply>> {
        let found = self.stores.applies.get(&ObjectRef::new(name).within(namespace))?;
        Some(Cow::Owned(WorkspaceTemplateApply::clone(&found)))
    }

    fn for_each_apply(&self, namespace: Option<&str>, visit: &mut dyn FnMut(&WorkspaceTemplateApply)) {
        for apply in self.stores.applies.state() {
            if namespace.is_none_or(|ns| apply.metadata.namespace.as_deref() == Some(ns)) {
                visit(&apply);
            }
        }
    }

    fn workspace(&self, namespace: &str, name: &str) -> Option<Cow<'_, WorkspaceView>> {
        let found = self.stores.workspace(self.workspace_api, namespace, name)?;
        match WorkspaceView::from_dynamic(&found) {
            Ok(view) => Some(Cow::Owned(view)),
            Err(e) => {
                // Someone else's Workspace the graph leads to; ours is read with its error.
                tracing::warn!(workspace = %name, namespace, error = %e, "unreadable Workspace left out of the graph");
                None
            }
        }
    }

    fn secret_exists(&self, namespace: &str, name: &str) -> bool {
        self.stores
            .secrets
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    }

    fn config_map_exists(&self, _namespace: &str, _name: &str) -> bool {
        // ConfigMaps are not watched; a declared ConfigMap dependency shows as Missing.
        false
    }

    fn provider_config_exists(&self, _namespace: &str, _name: &str) -> Option<bool> {
        None
    }
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
