//! Wiring: the controllers, their watches, and how a change to a watched object is mapped to the
//! control plane or apply it concerns.

use std::{future::Future, sync::Arc};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, PartialObjectMeta},
    core::ApiResource,
    runtime::{
        Controller, WatchStreamExt, controller,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::{broadcast, watch};

use super::{
    APPLY_NAME_LABEL, APPLY_NAMESPACE_LABEL, CONTROLPLANE_LABEL, Config, Context, apply, controlplane,
    template,
};
use crate::api::{
    CAPTControlPlane, CLUSTER_NAME_LABEL, DependencyKind, WorkspaceTemplate, WorkspaceTemplateApply, cluster,
};

/// Label that restricts an operator instance to the objects carrying it (Cluster API convention).
pub const WATCH_FILTER_LABEL: &str = "cluster.x-k8s.io/watch-filter";

fn api_of<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn dynamic_api(
    client: &Client,
    namespace: Option<&str>,
    ar: &ApiResource,
    namespaced: bool,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

/// Finds the Cluster API version the server serves for `Cluster`: v1beta2, else v1beta1.
pub async fn cluster_version(client: &Client) -> Result<&'static str, kube::Error> {
    let group = kube::discovery::group(client, cluster::GROUP).await?;
    let served: Vec<String> = group.versions().map(str::to_owned).collect();
    Ok(if served.iter().any(|v| v == "v1beta2") {
        "v1beta2"
    } else {
        "v1beta1"
    })
}

/// What the controllers need besides their configuration.
pub struct Runtime {
    /// API client.
    pub client: Client,
    /// Who the operator's events say reported them.
    pub reporter: kube::runtime::events::Reporter,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Runtime {
    /// A runtime for `client` with fresh metrics (in their own registry), reporting events as
    /// `capt-controlplane`.
    pub fn new(client: Client) -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(crate::metrics::Metrics::new(&mut registry));
        let reporter = kube::runtime::events::Reporter {
            controller: "capt-controlplane".into(),
            instance: None,
        };
        Self {
            client,
            reporter,
            metrics,
        }
    }
}

/// An operator running in the background of this process: embedded in another program, or in
/// tests. Dropping it does not stop it; [`Running::stop`] does, gracefully.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    ready: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<(), kube::Error>>,
}

impl Running {
    /// Waits until every cache has synced; `false` if the operator stopped first.
    pub async fn ready(&mut self) -> bool {
        self.ready.wait_for(|r| *r).await.is_ok()
    }

    /// Stops reconciling (running passes finish) and waits for the controllers to end.
    pub async fn stop(self) -> Result<(), kube::Error> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result,
            // A panicked or cancelled task has nothing left to stop.
            Err(_) => Ok(()),
        }
    }
}

/// Starts both controllers on the current tokio runtime and returns at once.
pub fn spawn(runtime: Runtime, config: Config) -> Running {
    use futures::FutureExt;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    }
    .boxed()
    .shared();
    let (ready_tx, ready) = watch::channel(false);
    let task = tokio::spawn(run(runtime, config, ready_tx, shutdown));
    Running { stop, ready, task }
}

/// One watch per resource, shared by the cache and both controllers. The reflector applies each
/// event to the cache *before* passing the object on, so a reconcile never reads an older state
/// than the one that woke it; deletions are passed on too.
struct Feed<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    events: broadcast::Sender<Arc<K>>,
}

/// How many events a slow subscriber may lag; past that it misses triggers (and catches up at
/// its next requeue), so it is generous.
const FEED_BUFFER: usize = 16384;

impl<K> Feed<K>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    /// Watches `api`, caching each object as `slim` leaves it.
    fn start(
        api: Api<K>,
        wc: watcher::Config,
        dyntype: K::DynamicType,
        slim: impl FnMut(&mut K) + Send + 'static,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let writer = reflector::store::Writer::new(dyntype);
        let store = writer.as_reader();
        let (events, _) = broadcast::channel(FEED_BUFFER);
        let tx = events.clone();
        let task = watcher(api, wc)
            .default_backoff()
            .modify(slim)
            .reflect(writer)
            .touched_objects()
            .for_each(move |obj| {
                if let Ok(obj) = obj {
                    // No subscriber is not an error: a controller may not have started yet.
                    let _ = tx.send(Arc::new(obj));
                }
                async {}
            });
        (Self { store, events }, task)
    }

    /// A trigger stream for one controller.
    fn subscribe(&self) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        futures::stream::unfold(self.events.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(obj) => return Some((Ok(K::clone(&obj)), rx)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a controller fell behind its watch; missed triggers");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// What no reconcile reads, dropped before caching: `managedFields` and kubectl's
/// last-applied copy are often larger than the rest of the object, and a cache holds every
/// object of its kind.
fn slim_metadata<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A cached Secret is metadata for knowing it exists, whose it is (owner references) and whom it
/// concerns (labels). Annotations are left out: the token's refresh time is read with the data.
fn slim_secret(secret: &mut PartialObjectMeta<Secret>) {
    slim_metadata(secret);
    secret.metadata.annotations = None;
}

/// A cached Cluster keeps what [`cluster::ClusterView`] reads: metadata and the spec fields it
/// names. A Cluster's status (a dozen conditions in v1beta2) and topology are read by no pass.
fn slim_cluster(c: &mut DynamicObject) {
    slim_metadata(c);
    let spec = c.data.get("spec").and_then(|s| s.as_object()).map(|spec| {
        cluster::VIEWED_SPEC_FIELDS
            .iter()
            .filter_map(|f| spec.get(*f).map(|v| ((*f).to_owned(), v.clone())))
            .collect::<serde_json::Map<_, _>>()
    });
    c.data = match spec {
        Some(spec) => serde_json::json!({ "spec": spec }),
        None => serde_json::json!({}),
    };
}

/// A cached Workspace keeps metadata and status: the spec holds the rendered Terraform (inline
/// modules of many kilobytes) and reconcilers that need it read the Workspace itself.
fn slim_workspace(ws: &mut DynamicObject) {
    slim_metadata(ws);
    if let Some(data) = ws.data.as_object_mut() {
        data.remove("spec");
    }
}

/// Runs both controllers until `shutdown` resolves. `ready` turns true once every cache is synced.
pub async fn run(
    runtime: Runtime,
    config: Config,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) -> Result<(), kube::Error> {
    let client = runtime.client.clone();
    let ns = config.namespace.as_deref();
    let filtered = match &config.watch_filter {
        Some(value) => watcher::Config::default().labels(&format!("{WATCH_FILTER_LABEL}={value}")),
        None => watcher::Config::default(),
    };
    let ws_ar = config.workspace_api.api_resource();
    let cluster_ar = cluster::api_resource(cluster_version(&client).await?);
    let ws_namespaced = config.workspace_api.is_namespaced();
    let all = watcher::Config::default;

    let (control_planes, control_planes_task) = Feed::start(
        api_of::<CAPTControlPlane>(&client, ns),
        filtered.clone(),
        (),
        slim_metadata,
    );
    let (applies, applies_task) = Feed::start(
        api_of::<WorkspaceTemplateApply>(&client, ns),
        filtered,
        (),
        slim_metadata,
    );
    let (templates, templates_task) =
        Feed::start(api_of::<WorkspaceTemplate>(&client, ns), all(), (), slim_metadata);
    let (secrets, secrets_task) = Feed::start(
        api_of::<PartialObjectMeta<Secret>>(&client, ns),
        all(),
        (),
        slim_secret,
    );
    let (workspaces, workspaces_task) = Feed::start(
        dynamic_api(&client, ns, &ws_ar, ws_namespaced),
        all(),
        ws_ar.clone(),
        slim_workspace,
    );
    let (clusters, clusters_task) = Feed::start(
        dynamic_api(&client, ns, &cluster_ar, true),
        all(),
        cluster_ar.clone(),
        slim_cluster,
    );
    let stores = super::Stores {
        control_planes: control_planes.store.clone(),
        templates: templates.store.clone(),
        applies: applies.store.clone(),
        workspaces: workspaces.store.clone(),
        secrets: secrets.store.clone(),
        clusters: clusters.store.clone(),
        cluster_resource: cluster_ar.clone(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        reporter: runtime.reporter,
        metrics: runtime.metrics,
        config: config.clone(),
        stores: stores.clone(),
        written: Default::default(),
        status_writes: Default::default(),
        probe_streaks: Default::default(),
        synced: ready.subscribe(),
    });
    let controller_config = controller::Config::default().concurrency(config.concurrency);

    // --- WorkspaceTemplateApply controller ---
    let apply_store = applies.store.clone();
    let apply_controller = Controller::for_stream(applies.subscribe(), apply_store.clone())
        .with_config(controller_config.clone())
        .watches_stream_with(
            workspaces.subscribe(),
            {
                let store = apply_store.clone();
                move |ws| applies_for_workspace(&store, &ws)
            },
            ws_ar.clone(),
        )
        .watches_stream(templates.subscribe(), {
            let store = apply_store.clone();
            move |t| applies_for_template(&store, &t)
        })
        .watches_stream(secrets.subscribe(), {
            let store = apply_store.clone();
            move |s| applies_for_secret(&store, &s)
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(apply::reconcile, apply::error_policy, ctx.clone())
        .for_each(|_| async {});

    // --- WorkspaceTemplate checker ---
    let template_controller = Controller::for_stream(templates.subscribe(), templates.store.clone())
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(template::reconcile, template::error_policy, ctx.clone())
        .for_each(|_| async {});

    // --- CAPTControlPlane controller ---
    let cp_store = control_planes.store.clone();
    let cp_controller = Controller::for_stream(control_planes.subscribe(), cp_store.clone())
        .with_config(controller_config)
        .owns_stream(applies.subscribe())
        .watches_stream_with(
            workspaces.subscribe(),
            {
                let store = cp_store.clone();
                move |ws| controlplanes_for_workspace(&store, &ws)
            },
            ws_ar.clone(),
        )
        .watches_stream(templates.subscribe(), {
            let store = cp_store.clone();
            move |t| controlplanes_for_template(&store, &t)
        })
        .watches_stream_with(
            clusters.subscribe(),
            {
                let store = cp_store.clone();
                move |c| controlplanes_for_cluster(&store, &c)
            },
            cluster_ar.clone(),
        )
        .watches_stream(secrets.subscribe(), {
            let store = cp_store.clone();
            move |s| controlplanes_for_secret(&store, &s)
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(controlplane::reconcile, controlplane::error_policy, ctx.clone())
        .for_each(|_| async {});

    let readiness = async {
        let synced = tokio::join!(
            cp_store.wait_until_ready(),
            stores.templates.wait_until_ready(),
            stores.applies.wait_until_ready(),
            stores.secrets.wait_until_ready(),
            stores.workspaces.wait_until_ready(),
            stores.clusters.wait_until_ready(),
        );
        if [synced.0, synced.1, synced.2, synced.3, synced.4, synced.5]
            .iter()
            .all(Result::is_ok)
        {
            let _ = ready.send(true);
            tracing::info!("caches synced; reconciling");
        }
    };
    let caches = async {
        tokio::join!(
            control_planes_task,
            applies_task,
            templates_task,
            secrets_task,
            workspaces_task,
            clusters_task
        );
    };
    tokio::select! {
        _ = async { tokio::join!(apply_controller, cp_controller, template_controller, readiness) } => {}
        () = caches => tracing::warn!("caches stopped"),
    }
    Ok(())
}

/// A Workspace wakes the apply that rendered it and every apply waiting for it.
fn applies_for_workspace(
    store: &Store<WorkspaceTemplateApply>,
    ws: &DynamicObject,
) -> Vec<ObjectRef<WorkspaceTemplateApply>> {
    let mut refs = Vec::new();
    if let (Some(name), Some(ns)) = (
        ws.labels().get(APPLY_NAME_LABEL),
        ws.labels().get(APPLY_NAMESPACE_LABEL),
    ) {
        refs.push(ObjectRef::new(name).within(ns));
    }
    let ws_name = ws.name_any();
    let ws_ns = ws.namespace();
    for a in store.state() {
        let a_ns = a.namespace().unwrap_or_default();
        let waits = a.spec.wait_for_workspaces.iter().any(|w| {
            w.name == ws_name
                && ws_ns
                    .as_deref()
                    .is_none_or(|ns| w.namespace.as_deref().unwrap_or(&a_ns) == ns)
        });
        if waits {
            refs.push(ObjectRef::from_obj(a.as_ref()));
        }
    }
    refs
}

/// A template wakes every apply that renders it.
fn applies_for_template(
    store: &Store<WorkspaceTemplateApply>,
    t: &WorkspaceTemplate,
) -> Vec<ObjectRef<WorkspaceTemplateApply>> {
    let (name, ns) = (t.name_any(), t.namespace().unwrap_or_default());
    store
        .state()
        .iter()
        .filter(|a| {
            a.spec.template_ref.name == name
                && a.spec
                    .template_ref
                    .namespace_or(&a.namespace().unwrap_or_default())
                    == ns
        })
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// A Secret wakes every apply waiting for it.
fn applies_for_secret(
    store: &Store<WorkspaceTemplateApply>,
    s: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<WorkspaceTemplateApply>> {
    let (name, ns) = (s.name_any(), s.namespace().unwrap_or_default());
    store
        .state()
        .iter()
        .filter(|a| {
            let a_ns = a.namespace().unwrap_or_default();
            a.spec
                .wait_for_secrets
                .iter()
                .any(|w| w.name == name && w.namespace.as_deref().unwrap_or(&a_ns) == ns)
        })
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// A Workspace wakes the control plane it belongs to (our label) and every control plane that
/// declares a dependency on it.
fn controlplanes_for_workspace(
    store: &Store<CAPTControlPlane>,
    ws: &DynamicObject,
) -> Vec<ObjectRef<CAPTControlPlane>> {
    let mut refs = Vec::new();
    let ns = ws
        .labels()
        .get(APPLY_NAMESPACE_LABEL)
        .cloned()
        .or_else(|| ws.namespace());
    if let (Some(name), Some(ns)) = (ws.labels().get(CONTROLPLANE_LABEL), &ns) {
        refs.push(ObjectRef::new(name).within(ns));
    }
    let ws_name = ws.name_any();
    for cp in store.state() {
        let cp_ns = cp.namespace().unwrap_or_default();
        let declared = cp.spec.dependencies.iter().any(|d| {
            d.kind == DependencyKind::Workspace
                && d.name == ws_name
                && ws
                    .namespace()
                    .is_none_or(|wns| d.namespace.as_deref().unwrap_or(&cp_ns) == wns)
        });
        if declared {
            refs.push(ObjectRef::from_obj(cp.as_ref()));
        }
    }
    refs
}

/// A template wakes every control plane that renders it.
fn controlplanes_for_template(
    store: &Store<CAPTControlPlane>,
    t: &WorkspaceTemplate,
) -> Vec<ObjectRef<CAPTControlPlane>> {
    let (name, ns) = (t.name_any(), t.namespace().unwrap_or_default());
    store
        .state()
        .iter()
        .filter(|cp| {
            let r = &cp.spec.workspace_template_ref;
            r.name == name && r.namespace_or(&cp.namespace().unwrap_or_default()) == ns
        })
        .map(|cp| ObjectRef::from_obj(cp.as_ref()))
        .collect()
}

/// A Cluster wakes the control planes it owns.
fn controlplanes_for_cluster(
    store: &Store<CAPTControlPlane>,
    c: &DynamicObject,
) -> Vec<ObjectRef<CAPTControlPlane>> {
    let (name, ns) = (c.name_any(), c.namespace());
    store
        .state()
        .iter()
        .filter(|cp| {
            cp.namespace() == ns && cluster::cluster_ref(&cp.metadata).is_some_and(|r| r.name == name)
        })
        .map(|cp| ObjectRef::from_obj(cp.as_ref()))
        .collect()
}

/// A Secret wakes the control plane it belongs to: by the cluster-name label (kubeconfig, CA) or
/// by name (the connection secret `<control plane>-eks-connection`, written by the provider).
fn controlplanes_for_secret(
    store: &Store<CAPTControlPlane>,
    s: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<CAPTControlPlane>> {
    // Called for every Secret event with every control plane: no allocation per control plane.
    let ns = s.metadata.namespace.as_deref();
    let owner = s
        .metadata
        .name
        .as_deref()
        .and_then(|n| n.strip_suffix(controlplane::CONNECTION_SECRET_SUFFIX));
    let cluster = s.labels().get(CLUSTER_NAME_LABEL);
    store
        .state()
        .iter()
        .filter(|cp| cp.metadata.namespace.as_deref() == ns)
        .filter(|cp| {
            let by_name = owner.is_some() && cp.metadata.name.as_deref() == owner;
            let by_cluster =
                cluster.is_some_and(|c| cluster::cluster_ref(&cp.metadata).is_some_and(|r| &r.name == c));
            by_name || by_cluster
        })
        .map(|cp| ObjectRef::from_obj(cp.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slim_cluster_reads_as_the_whole_one() {
        let whole: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "prod", "namespace": "team-a", "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [{"manager": "capi", "operation": "Update"}]},
            "spec": {
                "paused": true,
                "controlPlaneEndpoint": {"host": "abc.eks.amazonaws.com", "port": 443},
                "controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": "prod-cp"},
                "topology": {"version": "v1.31.0", "variables": [{"name": "region", "value": "eu-west-1"}]}
            },
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "Deleting"}]}
        }))
        .unwrap();
        let mut slim = whole.clone();
        slim_cluster(&mut slim);
        assert_eq!(
            cluster::ClusterView::from_dynamic(&slim).unwrap(),
            cluster::ClusterView::from_dynamic(&whole).unwrap()
        );
        assert!(slim.data.get("status").is_none() && slim.data["spec"].get("topology").is_none());
        assert!(slim.metadata.managed_fields.is_none());
    }
}
