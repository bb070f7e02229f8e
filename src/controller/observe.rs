//! What a control plane's reconcile pass looks at, read from the shared caches (no API request)
//! except the connection secret's data, which is fetched only when a pass needs it.

use std::{collections::BTreeMap, sync::Arc};

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
    desired_apply, graph,
};

/// The caches the reconcilers read from, filled by the reflectors [`super::run()`] starts.
#[derive(Clone)]
pub struct Stores {
    /// CAPTControlPlanes (the applies they will write join each other's graphs).
    pub control_planes: Store<CAPTControlPlane>,
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

pub use crate::desired_apply::CONNECTION_SECRET_SUFFIX;

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

/// Whether the secret `namespace/name` exists, by the cache.
pub fn secret_cached(stores: &Stores, namespace: &str, name: &str) -> bool {
    stores
        .secrets
        .get(&ObjectRef::new(name).within(namespace))
        .is_some()
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
    let apply_name = desired_apply::name(cp);
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
    fn template(&self, namespace: &str, name: &str) -> Option<graph::Fact<'_, WorkspaceTemplate>> {
        let found = self
            .stores
            .templates
            .get(&ObjectRef::new(name).within(namespace))?;
        Some(graph::Fact::Shared(found))
    }

    fn apply(&self, namespace: &str, name: &str) -> Option<graph::Fact<'_, WorkspaceTemplateApply>> {
        let found = self.stores.applies.get(&ObjectRef::new(name).within(namespace))?;
        Some(graph::Fact::Shared(found))
    }

    fn for_each_apply(&self, namespace: Option<&str>, visit: &mut dyn FnMut(&WorkspaceTemplateApply)) {
        for apply in self.stores.applies.state() {
            if namespace.is_none_or(|ns| apply.metadata.namespace.as_deref() == Some(ns)) {
                visit(&apply);
            }
        }
    }

    fn workspace(&self, namespace: &str, name: &str) -> Option<graph::Fact<'_, WorkspaceView>> {
        let found = self.stores.workspace(self.workspace_api, namespace, name)?;
        match WorkspaceView::from_dynamic(&found) {
            Ok(view) => Some(graph::Fact::Owned(view)),
            Err(e) => {
                // Someone else's Workspace the graph leads to; ours is read with its error.
                tracing::warn!(
                    workspace = %name, namespace, error = %e,
                    "unreadable Workspace left out of the graph"
                );
                None
            }
        }
    }

    fn secret_exists(&self, namespace: &str, name: &str) -> bool {
        secret_cached(self.stores, namespace, name)
    }

    fn control_plane_applying(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<graph::Fact<'_, CAPTControlPlane>> {
        // Asked only for an apply that does not exist yet, while a graph is being validated.
        self.stores
            .control_planes
            .state()
            .into_iter()
            .find(|cp| cp.metadata.namespace.as_deref() == Some(namespace) && desired_apply::name(cp) == name)
            .map(graph::Fact::Shared)
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

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector::store::Writer, watcher};
    use serde_json::json;

    use super::*;
    use crate::graph::{Facts, ObjectKey, Observed};

    const NS: &str = "team-a";

    fn store<K>(dyntype: K::DynamicType, objects: &[K]) -> Store<K>
    where
        K: kube::Resource + Clone + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let mut writer = Writer::new(dyntype);
        for obj in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(obj.clone()));
        }
        writer.as_reader()
    }

    fn object<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> K {
        serde_json::from_value(value).unwrap()
    }

    fn apply(name: &str, template: &str, waits: serde_json::Value) -> WorkspaceTemplateApply {
        let list = |field: &str| waits.get(field).cloned().unwrap_or_else(|| json!([]));
        object(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "WorkspaceTemplateApply",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"templateRef": {"name": template}, "variables": {"cluster_name": "prod"}, "waitForWorkspaces": list("workspaces"), "waitForSecrets": list("secrets")},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Applied", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
    }

    fn workspace(name: &str, ready: bool) -> DynamicObject {
        let status = if ready { "True" } else { "False" };
        object(json!({
            "apiVersion": "tf.m.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": status, "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
    }

    fn secret(name: &str) -> PartialObjectMeta<Secret> {
        object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}}))
    }

    /// The operator's cached lookups and the listed facts of a fixture describe one world, so
    /// they must build one graph. The chain: the control plane's apply waits on Workspace `dns`
    /// (rendered by apply `dns`, found by the naming rule), which waits on secret
    /// `prod-vpc-outputs`, written by the Workspace of `vpc-apply` (found only by scanning);
    /// unrelated objects in the namespace stay out.
    #[test]
    fn cached_facts_build_the_same_graph_as_listed_facts() {
        let cp: CAPTControlPlane = object(json!({
            "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "CAPTControlPlane",
            "metadata": {"name": "prod", "namespace": NS},
            "spec": {"version": "1.31", "workspaceTemplateRef": {"name": "eks"},
                     "workspaceTemplateApplyName": "prod-eks-apply",
                     "dependencies": [{"kind": "Secret", "name": "shared-creds"}, {"kind": "Workspace", "name": "dns"}]}
        }));
        let template = |name: &str, connection: &str| -> WorkspaceTemplate {
            object(json!({
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "WorkspaceTemplate",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"template": {"spec": {"writeConnectionSecretToRef": {"name": connection}}}}
            }))
        };
        let templates = vec![
            template("eks", "${WORKSPACE_NAME}-connection"),
            template("vpc", "${cluster_name}-vpc-outputs"),
        ];
        let applies = vec![
            apply("prod-eks-apply", "eks", json!({"workspaces": [{"name": "dns"}]})),
            apply("vpc-apply", "vpc", json!({})),
            apply("dns", "eks", json!({"secrets": [{"name": "prod-vpc-outputs"}]})),
            apply("unrelated-apply", "eks", json!({})),
        ];
        let workspaces = vec![
            workspace("prod-eks", false),
            workspace("vpc", true),
            workspace("unrelated", true),
        ];
        let secrets = vec![
            secret("prod-vpc-outputs"),
            secret("unrelated-connection"),
            secret("prod-kubeconfig"),
        ];
        let ws_ar = WorkspaceApi::Namespaced.api_resource();
        let cluster_resource = cluster::api_resource("v1beta2");
        let stores = Stores {
            control_planes: store((), &[]),
            templates: store((), &templates),
            applies: store((), &applies),
            workspaces: store(ws_ar, &workspaces),
            secrets: store((), &secrets),
            clusters: store(cluster_resource.clone(), &[]),
            cluster_resource,
        };
        let cached = CachedFacts {
            stores: &stores,
            workspace_api: WorkspaceApi::Namespaced,
        };
        let views: Vec<WorkspaceView> = workspaces
            .iter()
            .map(|w| WorkspaceView::from_dynamic(w).unwrap())
            .collect();
        let secret_keys: Vec<ObjectKey> = secrets.iter().map(|s| ObjectKey::new(NS, s.name_any())).collect();
        let observed = Observed {
            templates: &templates,
            applies: &applies,
            workspaces: &views,
            secrets: &secret_keys,
            ..Observed::new(&cp)
        };
        let subject = graph::Subject {
            control_plane: &cp,
            cluster: None,
            workspace_api: WorkspaceApi::Namespaced,
        };

        let listed = graph::build(&observed);
        let from_caches = graph::build_from(&subject, &cached);
        assert_eq!(from_caches, listed);

        let ids: Vec<&str> = listed.graph.nodes().map(|n| n.id().as_str()).collect();
        for expected in [
            "Workspace/team-a/vpc",
            "WorkspaceTemplateApply/team-a/vpc-apply",
            "WorkspaceTemplateApply/team-a/dns",
            "Secret/team-a/prod-vpc-outputs",
            "Secret/team-a/shared-creds",
        ] {
            assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
        }
        assert!(!ids.iter().any(|id| id.contains("unrelated")), "{ids:?}");
        assert!(cached.template(NS, "eks").is_some() && cached.workspace(NS, "nope").is_none());
    }
}
