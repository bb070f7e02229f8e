//! Building a control plane's graph from what the caller observed.
//!
//! The input, [`Observed`], is a plain struct of facts the caller fills from its caches (reflector
//! stores, a test fixture); nothing here reads the API server. The graph holds what the control
//! plane needs, and only that: applies and Workspaces enter it when something in it leads to them.
//!
//! # Edges ("depends on")
//!
//! | from | to |
//! |---|---|
//! | CAPTControlPlane | its Cluster, its WorkspaceTemplate (`workspaceTemplateRef`, namespace defaulting to the control plane's), its WorkspaceTemplateApply, the Workspace that apply renders, its kubeconfig and CA Secrets, the `spec.tokenCredentialsRef` Secret, each of `spec.dependencies` |
//! | WorkspaceTemplateApply | its WorkspaceTemplate, each `waitForWorkspaces` Workspace, each `waitForSecrets` Secret |
//! | Workspace | the apply that renders it (Workspace name = apply name minus a trailing `-apply`), its ProviderConfig when the template names one |
//! | connection Secret | the Workspace that writes it |
//! | kubeconfig, CA Secret | the connection Secret they are built from (the Workspace when there is none) |
//!
//! A Workspace depends on its apply, not the other way round: applies that wait on each other's
//! Workspaces therefore form a cycle through those Workspaces, which cycle detection reports.
//!
//! # Statuses
//!
//! Control plane: Ready while its status says ready (Ready or Degraded), else NotReady.
//! Cluster: Ready when observed (NotReady while deleting). Template, Secret, ConfigMap: Ready when
//! present. Apply: Ready when it has done its own part, rendered with its waits satisfied
//! (`Rendered` and `DependenciesReady` True); the Workspace it writes is a node of its own, so a
//! deleted Workspace is the root cause of what follows, not the apply that mirrors it. A declared
//! apply dependency is also a dependency on its Workspace ("ready when its Workspace is").
//! Workspace: Ready when Synced and Ready for its current generation. ProviderConfig: Unknown
//! unless the caller observes them, and Unknown is never a root cause. Anything not found is
//! Missing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::api::{
    CAPTControlPlane, ClusterView, DependencyKind, WorkspaceApi, WorkspaceTemplate, WorkspaceTemplateApply,
    WorkspaceView, cluster::cluster_ref, condition,
};
use crate::desired_apply;

use super::{DependencyGraph, Kind, Node, NodeId, NodeStatus, Origin};

/// The suffix an apply's name drops to name its Workspace (upstream CAPT's rule).
pub const APPLY_SUFFIX: &str = "-apply";

/// The name of the Workspace an apply renders: the apply's name minus a trailing `-apply`.
pub fn rendered_workspace_name(apply_name: &str) -> &str {
    apply_name
        .strip_suffix(APPLY_SUFFIX)
        .filter(|s| !s.is_empty())
        .unwrap_or(apply_name)
}

/// The apply a control plane uses when `spec.workspaceTemplateApplyName` is not written yet
/// (upstream CAPT's name).
pub fn default_apply_name(control_plane: &str) -> String {
    format!("{control_plane}-eks-controlplane-apply")
}

/// The status of the control plane's own node: Ready while its status says ready.
pub fn control_plane_status(ready: bool) -> NodeStatus {
    if ready {
        NodeStatus::Ready
    } else {
        NodeStatus::NotReady
    }
}

/// The Cluster API kubeconfig Secret of a cluster.
pub fn kubeconfig_secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// The Cluster API CA Secret of a cluster.
pub fn ca_secret_name(cluster: &str) -> String {
    format!("{cluster}-ca")
}

/// An object by namespace and name (namespace empty for cluster-scoped objects).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ObjectKey {
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// `namespace`/`name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// The facts a control plane's graph is built from.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The control plane.
    pub control_plane: &'a CAPTControlPlane,
    /// Its Cluster, when resolved. When absent the Cluster named by the ownerReference or the
    /// cluster-name label is Missing; with neither, the graph has no Cluster node.
    pub cluster: Option<&'a ClusterView>,
    /// WorkspaceTemplates that exist.
    pub templates: &'a [WorkspaceTemplate],
    /// WorkspaceTemplateApplies that exist (the control plane's and any others; only those the
    /// graph leads to are used).
    pub applies: &'a [WorkspaceTemplateApply],
    /// Workspaces that exist.
    pub workspaces: &'a [WorkspaceView],
    /// Which Workspace API is in use (decides whether Workspaces have a namespace).
    pub workspace_api: WorkspaceApi,
    /// Secrets that exist.
    pub secrets: &'a [ObjectKey],
    /// ConfigMaps that exist.
    pub config_maps: &'a [ObjectKey],
    /// ProviderConfigs and ClusterProviderConfigs that exist, if the caller watches them; `None`
    /// leaves them Unknown.
    pub provider_configs: Option<&'a [ObjectKey]>,
    /// Other control planes: the applies they will write join the graph before they exist, so
    /// that waits on each other's Workspaces are a cycle from the start.
    pub control_planes: &'a [CAPTControlPlane],
}

impl<'a> Observed<'a> {
    /// Facts about `control_plane` alone: nothing else observed, namespaced Workspaces.
    pub fn new(control_plane: &'a CAPTControlPlane) -> Self {
        Self {
            control_plane,
            cluster: None,
            templates: &[],
            applies: &[],
            workspaces: &[],
            workspace_api: WorkspaceApi::Namespaced,
            secrets: &[],
            config_maps: &[],
            provider_configs: None,
            control_planes: &[],
        }
    }
}

/// A built graph and its root, the control plane's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltGraph {
    /// The graph.
    pub graph: DependencyGraph,
    /// The control plane's node.
    pub root: NodeId,
}

/// The control plane a graph is built for, and what decides the shape of its ids.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The control plane.
    pub control_plane: &'a CAPTControlPlane,
    /// Its Cluster, when resolved (see [`Observed::cluster`]).
    pub cluster: Option<&'a ClusterView>,
    /// Which Workspace API is in use (decides whether Workspaces have a namespace).
    pub workspace_api: WorkspaceApi,
}

/// What exists, looked up by name: the builder never visits everything except to find the
/// apply behind a Workspace or secret that no name leads to (a cluster-scoped Workspace, a waited
/// or declared secret). [`Observed`] answers from its slices; the operator answers from its
/// caches, so that building a control plane's graph costs what the graph holds rather than what
/// the cluster holds.
///
/// Objects come back as a [`Fact`]: borrowed when the caller holds them, shared with a cache
/// (never copied: a template can hold many kilobytes of Terraform, and a graph of a namespace
/// with a thousand applies asks for it a thousand times), owned when it has to make them (a
/// typed view of a cached Workspace, say).
pub trait Facts {
    /// The WorkspaceTemplate `namespace/name`.
    fn template(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceTemplate>>;
    /// The WorkspaceTemplateApply `namespace/name`.
    fn apply(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceTemplateApply>>;
    /// Calls `visit` with every apply in `namespace`, or in every namespace, in any order.
    fn for_each_apply(&self, namespace: Option<&str>, visit: &mut dyn FnMut(&WorkspaceTemplateApply));
    /// The Workspace `name`; `namespace` is empty for cluster-scoped Workspaces.
    fn workspace(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceView>>;
    /// Whether the Secret `namespace/name` exists.
    fn secret_exists(&self, namespace: &str, name: &str) -> bool;
    /// Whether the ConfigMap `namespace/name` exists.
    fn config_map_exists(&self, namespace: &str, name: &str) -> bool;
    /// Whether the (Cluster)ProviderConfig `namespace/name` exists; `None` when not observed.
    fn provider_config_exists(&self, namespace: &str, name: &str) -> Option<bool>;
    /// The control plane in `namespace` that writes the apply `name`, when none exists yet.
    fn control_plane_applying(&self, namespace: &str, name: &str) -> Option<Fact<'_, CAPTControlPlane>>;
}

/// An object [`Facts`] hand out.
pub enum Fact<'a, T> {
    /// The caller's own.
    Borrowed(&'a T),
    /// A cache's, shared.
    Shared(std::sync::Arc<T>),
    /// Made for the caller.
    Owned(T),
}

impl<T> std::ops::Deref for Fact<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Fact::Borrowed(t) => t,
            Fact::Shared(t) => t,
            Fact::Owned(t) => t,
        }
    }
}

/// The apply `cp` will write, as the graph sees it before it exists: its name and spec (the
/// cluster name only matters to the variables, not to what the apply waits for).
pub fn planned_apply(cp: &CAPTControlPlane) -> WorkspaceTemplateApply {
    let cluster =
        cluster_ref(&cp.metadata).map_or_else(|| cp.metadata.name.clone().unwrap_or_default(), |r| r.name);
    let mut apply = WorkspaceTemplateApply::new(&desired_apply::name(cp), desired_apply::spec(cp, &cluster));
    apply.metadata.namespace.clone_from(&cp.metadata.namespace);
    apply
}

/// Builds the graph of everything the control plane needs.
pub fn build(observed: &Observed<'_>) -> BuiltGraph {
    let subject = Subject {
        control_plane: observed.control_plane,
        cluster: observed.cluster,
        workspace_api: observed.workspace_api,
    };
    build_from(&subject, &Listed::new(observed))
}

/// Builds the graph of everything `subject` needs from facts looked up in `facts`.
pub fn build_from(subject: &Subject<'_>, facts: &dyn Facts) -> BuiltGraph {
    Builder {
        subject,
        facts,
        graph: DependencyGraph::new(),
        queued: BTreeSet::new(),
        queue: VecDeque::new(),
    }
    .run()
}

type Key = (String, String);

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_owned(), name.to_owned())
}

fn meta_key(meta: &kube::core::ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn owned_keys(list: &[ObjectKey]) -> BTreeSet<Key> {
    list.iter().map(|k| key(&k.namespace, &k.name)).collect()
}

/// [`Facts`] over the slices of an [`Observed`], indexed once per build.
struct Listed<'o> {
    control_planes: &'o [CAPTControlPlane],
    secrets: BTreeSet<Key>,
    config_maps: BTreeSet<Key>,
    provider_configs: Option<BTreeSet<Key>>,
    templates: BTreeMap<Key, &'o WorkspaceTemplate>,
    applies: BTreeMap<Key, &'o WorkspaceTemplateApply>,
    workspaces: BTreeMap<Key, &'o WorkspaceView>,
}

impl<'o> Listed<'o> {
    fn new(observed: &Observed<'o>) -> Self {
        Self {
            control_planes: observed.control_planes,
            secrets: owned_keys(observed.secrets),
            config_maps: owned_keys(observed.config_maps),
            provider_configs: observed.provider_configs.map(owned_keys),
            templates: observed
                .templates
                .iter()
                .map(|t| (key_of(&t.metadata), t))
                .collect(),
            applies: observed
                .applies
                .iter()
                .map(|a| (key_of(&a.metadata), a))
                .collect(),
            workspaces: observed
                .workspaces
                .iter()
                .map(|w| (key(&w.namespace, &w.name), w))
                .collect(),
        }
    }
}

impl Facts for Listed<'_> {
    fn template(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceTemplate>> {
        self.templates
            .get(&key(namespace, name))
            .map(|t| Fact::Borrowed(*t))
    }

    fn apply(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceTemplateApply>> {
        self.applies
            .get(&key(namespace, name))
            .map(|a| Fact::Borrowed(*a))
    }

    fn for_each_apply(&self, namespace: Option<&str>, visit: &mut dyn FnMut(&WorkspaceTemplateApply)) {
        self.applies
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .for_each(|(_, a)| visit(a));
    }

    fn workspace(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceView>> {
        self.workspaces
            .get(&key(namespace, name))
            .map(|w| Fact::Borrowed(*w))
    }

    fn secret_exists(&self, namespace: &str, name: &str) -> bool {
        self.secrets.contains(&key(namespace, name))
    }

    fn config_map_exists(&self, namespace: &str, name: &str) -> bool {
        self.config_maps.contains(&key(namespace, name))
    }

    fn provider_config_exists(&self, namespace: &str, name: &str) -> Option<bool> {
        self.provider_configs
            .as_ref()
            .map(|present| present.contains(&key(namespace, name)))
    }

    fn control_plane_applying(&self, namespace: &str, name: &str) -> Option<Fact<'_, CAPTControlPlane>> {
        self.control_planes
            .iter()
            .find(|cp| cp.metadata.namespace.as_deref() == Some(namespace) && desired_apply::name(cp) == name)
            .map(Fact::Borrowed)
    }
}

struct Builder<'o> {
    subject: &'o Subject<'o>,
    facts: &'o dyn Facts,
    graph: DependencyGraph,
    /// Applies already queued for expansion, by (namespace, name).
    queued: BTreeSet<Key>,
    queue: VecDeque<Key>,
}

impl Builder<'_> {
    fn namespaced_workspaces(&self) -> bool {
        self.subject.workspace_api.is_namespaced()
    }

    fn workspace_id(&self, namespace: &str, name: &str) -> NodeId {
        NodeId::new(
            Kind::Workspace,
            if self.namespaced_workspaces() {
                namespace
            } else {
                ""
            },
            name,
        )
    }

    fn run(mut self) -> BuiltGraph {
        let cp = self.subject.control_plane;
        let (namespace, name) = meta_key(&cp.metadata);
        let status = control_plane_status(cp.status.as_ref().is_some_and(|s| s.ready));
        let root = self
            .graph
            .add_node(Node::new(Kind::CAPTControlPlane, namespace, name, status));

        let cluster_name = self.add_cluster(&root, namespace);

        let template_ns = cp.spec.workspace_template_ref.namespace_or(namespace);
        let template = self.template_node(template_ns, &cp.spec.workspace_template_ref.name);
        self.depend(&root, &template);

        let apply_name = cp
            .spec
            .workspace_template_apply_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_apply_name(name));
        let apply = self.apply_node(namespace, &apply_name, Origin::Managed);
        let workspace = self.workspace_node(namespace, rendered_workspace_name(&apply_name), Origin::Managed);
        self.depend(&root, &apply);
        self.depend(&root, &workspace);
        self.depend(&workspace, &apply);
        let connection = match self.facts.apply(namespace, &apply_name) {
            Some(found) => self.connection_secret(&found),
            None => {
                // Not created yet: what it will wait for is already known, and joins the graph.
                self.depend(&apply, &template);
                let planned = planned_apply(cp);
                self.enqueue(namespace, &apply_name);
                self.connection_secret(&planned)
            }
        };

        if let Some(cluster) = cluster_name {
            let built_from = match connection {
                Some(secret) => {
                    let (_, secret_ns, secret_name) = secret.parts();
                    self.presence_node(Kind::Secret, secret_ns, secret_name, Origin::Managed)
                }
                None => workspace,
            };
            for secret_name in [kubeconfig_secret_name(&cluster), ca_secret_name(&cluster)] {
                let secret = self.presence_node(Kind::Secret, namespace, &secret_name, Origin::Managed);
                self.depend(&root, &secret);
                self.depend(&secret, &built_from);
            }
        }

        if let Some(credentials) = &cp.spec.token_credentials_ref {
            let node = self.presence_node(Kind::Secret, namespace, &credentials.name, Origin::External);
            self.depend(&root, &node);
        }

        for dependency in &cp.spec.dependencies {
            let dep_ns = dependency
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            let node = match dependency.kind {
                DependencyKind::Workspace => self.workspace_node(dep_ns, &dependency.name, Origin::External),
                DependencyKind::WorkspaceTemplateApply => {
                    let workspace = self.workspace_node(
                        dep_ns,
                        rendered_workspace_name(&dependency.name),
                        Origin::External,
                    );
                    self.depend(&root, &workspace);
                    self.apply_node(dep_ns, &dependency.name, Origin::External)
                }
                DependencyKind::Secret => {
                    self.presence_node(Kind::Secret, dep_ns, &dependency.name, Origin::External)
                }
                DependencyKind::ConfigMap => {
                    self.presence_node(Kind::ConfigMap, dep_ns, &dependency.name, Origin::External)
                }
            };
            self.depend(&root, &node);
        }

        while let Some((namespace, name)) = self.queue.pop_front() {
            let facts = self.facts;
            if let Some(apply) = facts.apply(&namespace, &name) {
                self.expand_apply(&apply);
            } else if let Some(planned) = self.planned(&namespace, &name) {
                self.expand_apply(&planned);
            }
        }
        BuiltGraph {
            graph: self.graph,
            root,
        }
    }

    /// The Cluster node, and the cluster's name for the kubeconfig and CA secrets.
    fn add_cluster(&mut self, root: &NodeId, namespace: &str) -> Option<String> {
        let (name, status) = match self.subject.cluster {
            Some(c) => (
                c.name.clone(),
                if c.deleting {
                    NodeStatus::NotReady
                } else {
                    NodeStatus::Ready
                },
            ),
            None => (
                cluster_ref(&self.subject.control_plane.metadata)?.name,
                NodeStatus::Missing,
            ),
        };
        let cluster = self
            .graph
            .add_node(Node::new(Kind::Cluster, namespace, name.as_str(), status));
        self.depend(root, &cluster);
        Some(name)
    }

    /// An apply node; an existing apply is queued so that what it leads to joins the graph.
    fn apply_node(&mut self, namespace: &str, name: &str, origin: Origin) -> NodeId {
        let found = self.facts.apply(namespace, name);
        let status = match &found {
            Some(apply) => {
                let conditions = apply
                    .status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default();
                if condition::is_true(conditions, "Rendered")
                    && condition::is_true(conditions, "DependenciesReady")
                {
                    NodeStatus::Ready
                } else {
                    NodeStatus::NotReady
                }
            }
            None => NodeStatus::Missing,
        };
        let id = self
            .graph
            .add_node(Node::new(Kind::WorkspaceTemplateApply, namespace, name, status).with_origin(origin));
        if found.is_some() || self.planned(namespace, name).is_some() {
            self.enqueue(namespace, name);
        }
        id
    }

    /// The apply `namespace/name`, or the one a control plane will write under that name.
    fn apply_or_planned(&self, namespace: &str, name: &str) -> Option<Fact<'_, WorkspaceTemplateApply>> {
        self.facts
            .apply(namespace, name)
            .or_else(|| self.planned(namespace, name).map(Fact::Owned))
    }

    /// The apply a control plane (this one, or another in the namespace) will write as
    /// `namespace/name`, before it exists.
    fn planned(&self, namespace: &str, name: &str) -> Option<WorkspaceTemplateApply> {
        let own = self.subject.control_plane;
        if own.metadata.namespace.as_deref() == Some(namespace) && desired_apply::name(own) == name {
            return Some(planned_apply(own));
        }
        self.facts
            .control_plane_applying(namespace, name)
            .map(|cp| planned_apply(&cp))
    }

    fn enqueue(&mut self, namespace: &str, name: &str) {
        if self.queued.insert(key(namespace, name)) {
            self.queue.push_back(key(namespace, name));
        }
    }

    /// Everything an existing apply leads to.
    fn expand_apply(&mut self, apply: &WorkspaceTemplateApply) {
        let (namespace, name) = meta_key(&apply.metadata);
        // Reached through a Workspace or a secret it writes, the apply may not be a node yet.
        let apply_id = self.apply_node(namespace, name, Origin::External);

        let template_ns = apply.spec.template_ref.namespace_or(namespace);
        let template = self.template_node(template_ns, &apply.spec.template_ref.name);
        self.depend(&apply_id, &template);

        for wait in &apply.spec.wait_for_workspaces {
            let ns = wait
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            let workspace = self.workspace_node(ns, &wait.name, Origin::External);
            self.depend(&apply_id, &workspace);
        }
        for wait in &apply.spec.wait_for_secrets {
            let ns = wait
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            let secret = self.presence_node(Kind::Secret, ns, &wait.name, Origin::External);
            self.depend(&apply_id, &secret);
        }

        let workspace = self.workspace_node(namespace, rendered_workspace_name(name), Origin::Managed);
        self.depend(&workspace, &apply_id);

        if let Some(secret) = self.connection_secret(apply) {
            let (_, secret_ns, secret_name) = secret.parts();
            let secret = self.presence_node(Kind::Secret, secret_ns, secret_name, Origin::Managed);
            self.depend(&secret, &workspace);
        }
        if let Some((kind, pc_ns, pc_name)) = self.provider_config(apply, namespace) {
            let status = match self.facts.provider_config_exists(&pc_ns, &pc_name) {
                None => NodeStatus::Unknown,
                Some(true) => NodeStatus::Ready,
                Some(false) => NodeStatus::Missing,
            };
            let pc = self.graph.add_node(Node::new(kind, pc_ns, pc_name, status));
            self.depend(&workspace, &pc);
        }
    }

    /// A Workspace node, Ready when Synced and Ready for its generation. If an observed apply
    /// renders it, it is Managed and that apply joins the graph.
    fn workspace_node(&mut self, namespace: &str, name: &str, origin: Origin) -> NodeId {
        let id = self.workspace_id(namespace, name);
        let (_, namespace, _) = id.parts();
        let status = match self.facts.workspace(namespace, name).as_deref() {
            Some(ws) if ws.is_provisioned() && !ws.deleting => NodeStatus::Ready,
            Some(_) => NodeStatus::NotReady,
            None => NodeStatus::Missing,
        };
        let renderer = self.renderer_of(namespace, name);
        let origin = if renderer.is_some() {
            Origin::Managed
        } else {
            origin
        };
        let node = Node::new(Kind::Workspace, namespace, name, status).with_origin(origin);
        self.graph.add_node(node);
        if let Some((apply_ns, apply_name)) = renderer {
            self.enqueue(&apply_ns, &apply_name);
        }
        id
    }

    /// The apply that renders Workspace `name`: first in (namespace, name) order when several
    /// claim it. A namespaced Workspace's apply is in its namespace and named by the naming rule
    /// (`<name>` or `<name>-apply`), so it is two lookups; a cluster-scoped one may come from
    /// any namespace, so all applies are looked at.
    fn renderer_of(&self, namespace: &str, name: &str) -> Option<Key> {
        if self.namespaced_workspaces() {
            // `name` sorts before `name-apply`.
            return [name.to_owned(), format!("{name}{APPLY_SUFFIX}")]
                .into_iter()
                .filter(|candidate| rendered_workspace_name(candidate) == name)
                .find(|candidate| self.apply_or_planned(namespace, candidate).is_some())
                .map(|candidate| key(namespace, &candidate));
        }
        self.first_apply(None, |apply| {
            rendered_workspace_name(meta_key(&apply.metadata).1) == name
        })
    }

    /// A node whose status is its presence (Secret, ConfigMap). A Secret reached from outside
    /// (a wait, a declared dependency) that some observed apply's Workspace writes is Managed,
    /// and brings that apply into the graph. Secrets the graph itself names (connection,
    /// kubeconfig, CA) already have their writer, so no apply is looked for.
    fn presence_node(&mut self, kind: Kind, namespace: &str, name: &str, origin: Origin) -> NodeId {
        let present = match kind {
            Kind::Secret => self.facts.secret_exists(namespace, name),
            _ => self.facts.config_map_exists(namespace, name),
        };
        let status = if present {
            NodeStatus::Ready
        } else {
            NodeStatus::Missing
        };
        let id = NodeId::new(kind, namespace, name);
        let writer = (kind == Kind::Secret && origin == Origin::External)
            .then(|| self.writer_of(&id))
            .flatten();
        let origin = if writer.is_some() { Origin::Managed } else { origin };
        self.graph
            .add_node(Node::new(kind, namespace, name, status).with_origin(origin));
        if let Some((apply_ns, apply_name)) = writer {
            self.enqueue(&apply_ns, &apply_name);
        }
        id
    }

    /// The apply whose Workspace writes connection secret `secret`: first in (namespace, name)
    /// order. Namespaced Workspaces write into their own namespace, so only that namespace's
    /// applies can.
    fn writer_of(&self, secret: &NodeId) -> Option<Key> {
        let (_, namespace, _) = secret.parts();
        let scope = self.namespaced_workspaces().then_some(namespace);
        self.first_apply(scope, |apply| {
            self.connection_secret(apply).as_ref() == Some(secret)
        })
    }

    /// The first apply in (namespace, name) order, in `namespace` or anywhere, that `matches`.
    fn first_apply(
        &self,
        namespace: Option<&str>,
        matches: impl Fn(&WorkspaceTemplateApply) -> bool,
    ) -> Option<Key> {
        let mut first: Option<Key> = None;
        self.facts.for_each_apply(namespace, &mut |apply| {
            let (ns, name) = meta_key(&apply.metadata);
            let earlier = first
                .as_ref()
                .is_none_or(|(f_ns, f_name)| (ns, name) < (f_ns, f_name));
            if earlier && matches(apply) {
                first = Some(key(ns, name));
            }
        });
        first
    }

    fn template_node(&mut self, namespace: &str, name: &str) -> NodeId {
        let status = if self.facts.template(namespace, name).is_some() {
            NodeStatus::Ready
        } else {
            NodeStatus::Missing
        };
        self.graph
            .add_node(Node::new(Kind::WorkspaceTemplate, namespace, name, status))
    }

    fn depend(&mut self, dependent: &NodeId, dependency: &NodeId) {
        // Both ends are added before their edge; an unknown id here is a bug in this builder
        // (caught by the tests), and in release dropping the edge is the harmless outcome.
        let added = self.graph.add_dependency(dependent, dependency);
        debug_assert!(added.is_ok(), "edge {dependent} -> {dependency}: {added:?}");
    }

    /// A field of the apply's template's `spec`, e.g. `writeConnectionSecretToRef`.
    fn template_field(&self, apply: &WorkspaceTemplateApply, field: &str) -> Option<serde_json::Value> {
        let (namespace, _) = meta_key(&apply.metadata);
        let template_ns = apply.spec.template_ref.namespace_or(namespace);
        let template = self.facts.template(template_ns, &apply.spec.template_ref.name)?;
        template.spec.template.spec.get(field).cloned()
    }

    /// Where an apply's Workspace writes its connection secret: the apply's override, else the
    /// template's `writeConnectionSecretToRef` with `${WORKSPACE_NAME}` and the apply's variables
    /// substituted. Namespaced Workspaces write into their own namespace. `None` when unknown or
    /// still holding a placeholder.
    fn connection_secret(&self, apply: &WorkspaceTemplateApply) -> Option<NodeId> {
        let (namespace, apply_name) = meta_key(&apply.metadata);
        let workspace = rendered_workspace_name(apply_name);
        let (name, ref_ns) = match &apply.spec.write_connection_secret_to_ref {
            Some(r) => (r.name.clone(), r.namespace.clone()),
            None => {
                let reference = self.template_field(apply, "writeConnectionSecretToRef")?;
                let field = |f: &str| {
                    reference
                        .get(f)
                        .and_then(|v| v.as_str())
                        .map(|s| substitute(s, workspace, apply))
                };
                (field("name")?, field("namespace"))
            }
        };
        let namespace = match ref_ns.filter(|n| !n.is_empty() && !self.namespaced_workspaces()) {
            Some(ns) => ns,
            None => namespace.to_owned(),
        };
        let resolved = !name.is_empty() && !name.contains("${") && !namespace.contains("${");
        resolved.then(|| NodeId::new(Kind::Secret, &namespace, &name))
    }

    /// The template's `providerConfigRef`: a namespaced ProviderConfig next to a namespaced
    /// Workspace unless it names a `ClusterProviderConfig`; cluster-scoped for legacy Workspaces.
    fn provider_config(
        &self,
        apply: &WorkspaceTemplateApply,
        namespace: &str,
    ) -> Option<(Kind, String, String)> {
        let reference = self.template_field(apply, "providerConfigRef")?;
        let workspace = rendered_workspace_name(meta_key(&apply.metadata).1);
        let name = substitute(reference.get("name")?.as_str()?, workspace, apply);
        if name.is_empty() || name.contains("${") {
            return None;
        }
        let cluster_kind =
            reference.get("kind").and_then(|k| k.as_str()) == Some(Kind::ClusterProviderConfig.as_str());
        Some(match (self.namespaced_workspaces(), cluster_kind) {
            (true, false) => (Kind::ProviderConfig, namespace.to_owned(), name),
            (true, true) => (Kind::ClusterProviderConfig, String::new(), name),
            (false, _) => (Kind::ProviderConfig, String::new(), name),
        })
    }
}

fn key_of(meta: &kube::core::ObjectMeta) -> Key {
    let (namespace, name) = meta_key(meta);
    key(namespace, name)
}

/// Substitutes `${WORKSPACE_NAME}` and the apply's variables in one reference string; enough to
/// name a secret or a ProviderConfig (the Workspace itself is rendered by `render`).
fn substitute(value: &str, workspace: &str, apply: &WorkspaceTemplateApply) -> String {
    let mut out = value.replace("${WORKSPACE_NAME}", workspace);
    for (key, v) in &apply.spec.variables {
        out = out.replace(&format!("${{{key}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::{
            CAPTControlPlaneSpec, CAPTControlPlaneStatus, DeclaredDependency, SecretReference,
            WorkspaceReference, WorkspaceTemplateApplySpec, WorkspaceTemplateDefinition,
            WorkspaceTemplateReference, WorkspaceTemplateSpec, workspace::WorkspaceCondition,
        },
        graph::GraphError,
        state::evidence::{Validation, validate},
    };

    const NS: &str = "team-a";

    fn control_plane(apply: &str, dependencies: Vec<DeclaredDependency>) -> CAPTControlPlane {
        let mut cp = CAPTControlPlane::new(
            "prod",
            CAPTControlPlaneSpec {
                version: "1.31".into(),
                workspace_template_ref: WorkspaceTemplateReference {
                    name: "eks".into(),
                    namespace: None,
                },
                workspace_template_apply_name: Some(apply.into()),
                dependencies,
                ..Default::default()
            },
        );
        cp.metadata.namespace = Some(NS.into());
        cp
    }

    fn template(name: &str, spec: serde_json::Value) -> WorkspaceTemplate {
        let mut t = WorkspaceTemplate::new(
            name,
            WorkspaceTemplateSpec {
                template: WorkspaceTemplateDefinition { metadata: None, spec },
                ..Default::default()
            },
        );
        t.metadata.namespace = Some(NS.into());
        t
    }

    fn apply(name: &str, template: &str, waits_for: &[&str]) -> WorkspaceTemplateApply {
        let mut a = WorkspaceTemplateApply::new(
            name,
            WorkspaceTemplateApplySpec {
                template_ref: WorkspaceTemplateReference {
                    name: template.into(),
                    namespace: None,
                },
                wait_for_workspaces: waits_for
                    .iter()
                    .map(|w| WorkspaceReference {
                        name: (*w).into(),
                        namespace: None,
                    })
                    .collect(),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some(NS.into());
        a
    }

    fn ready_workspace(namespace: &str, name: &str) -> WorkspaceView {
        let condition = |t: &str| WorkspaceCondition {
            type_: t.into(),
            status: "True".into(),
            ..Default::default()
        };
        WorkspaceView {
            name: name.into(),
            namespace: namespace.into(),
            ready: Some(condition("Ready")),
            synced: Some(condition("Synced")),
            ..Default::default()
        }
    }

    fn cluster() -> ClusterView {
        ClusterView {
            name: "prod".into(),
            namespace: NS.into(),
            ..Default::default()
        }
    }

    fn id(kind: Kind, namespace: &str, name: &str) -> NodeId {
        NodeId::new(kind, namespace, name)
    }

    /// Acceptance: three applies that wait on each other's Workspaces are a cycle, and the error
    /// names the three applies in cycle order.
    #[test]
    fn three_applies_waiting_on_each_others_workspaces_are_a_named_cycle() {
        let cp = control_plane("a-apply", vec![]);
        let applies = [
            apply("a-apply", "eks", &["b"]),
            apply("b-apply", "eks", &["c"]),
            apply("c-apply", "eks", &["a"]),
        ];
        let built = build(&Observed {
            applies: &applies,
            ..Observed::new(&cp)
        });
        let wta = |n: &str| format!("WorkspaceTemplateApply/{NS}/{n}");

        let facts = built.graph.validation_facts();
        assert_eq!(
            facts.cycle,
            Some(vec![
                wta("a-apply"),
                wta("b-apply"),
                wta("c-apply"),
                wta("a-apply")
            ])
        );
        let Validation::Invalid(invalid) = validate(&facts) else {
            panic!("a cycle must fail validation")
        };
        use crate::state::Evidence;
        assert_eq!(
            invalid.message(),
            format!(
                "dependency cycle: {} -> {} -> {} -> {}",
                wta("a-apply"),
                wta("b-apply"),
                wta("c-apply"),
                wta("a-apply")
            )
        );

        let Err(GraphError::Cycle(cycle)) = built.graph.provisioning_order() else {
            panic!("no order with a cycle")
        };
        assert_eq!(
            GraphError::Cycle(cycle.clone()).to_string(),
            "dependency cycle: WorkspaceTemplateApply team-a/a-apply -> WorkspaceTemplateApply team-a/b-apply -> \
             WorkspaceTemplateApply team-a/c-apply -> WorkspaceTemplateApply team-a/a-apply \
             (through the Workspaces they render: Workspace team-a/b, Workspace team-a/c, Workspace team-a/a)"
        );
        assert_eq!(
            cycle.path().len(),
            7,
            "the full path passes through the three Workspaces"
        );
        assert_eq!(built.graph.find_cycles(), vec![cycle]);
    }

    #[test]
    fn a_provisioned_control_plane_has_every_edge_and_orders_cleanly() {
        let mut cp = control_plane("prod-eks-apply", vec![]);
        cp.status = Some(CAPTControlPlaneStatus {
            ready: true,
            ..Default::default()
        });
        let templates = [template(
            "eks",
            serde_json::json!({
                "providerConfigRef": {"name": "aws", "kind": "ClusterProviderConfig"},
                "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-connection"}
            }),
        )];
        let mut main = apply("prod-eks-apply", "eks", &["vpc"]);
        main.status = Some(crate::api::WorkspaceTemplateApplyStatus {
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "Available".into(),
                message: String::new(),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ),
                observed_generation: None,
            }],
            ..Default::default()
        });
        let applies = [
            main,
            apply("vpc-apply", "vpc", &[]),
            apply("unrelated-apply", "eks", &[]),
        ];
        let workspaces = [ready_workspace(NS, "prod-eks"), ready_workspace(NS, "vpc")];
        let secrets: Vec<ObjectKey> = [
            "prod-eks-connection",
            "prod-kubeconfig",
            "prod-ca",
            "vpc-connection",
        ]
        .into_iter()
        .map(|s| ObjectKey::new(NS, s))
        .collect();
        let cluster = cluster();
        let observed = Observed {
            cluster: Some(&cluster),
            templates: &templates,
            applies: &applies,
            workspaces: &workspaces,
            secrets: &secrets,
            provider_configs: Some(&[]),
            ..Observed::new(&cp)
        };
        let BuiltGraph { graph, root } = build(&observed);

        let deps: Vec<String> = graph
            .dependencies_of(&root)
            .unwrap()
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            deps,
            [
                "Cluster/team-a/prod",
                "Secret/team-a/prod-ca",
                "Secret/team-a/prod-kubeconfig",
                "Workspace/team-a/prod-eks",
                "WorkspaceTemplate/team-a/eks",
                "WorkspaceTemplateApply/team-a/prod-eks-apply",
            ]
        );
        let kubeconfig = id(Kind::Secret, NS, "prod-kubeconfig");
        assert_eq!(
            graph.dependencies_of(&kubeconfig).unwrap(),
            [&id(Kind::Secret, NS, "prod-eks-connection")]
        );
        let workspace = id(Kind::Workspace, NS, "prod-eks");
        assert_eq!(
            graph.dependencies_of(&workspace).unwrap(),
            [
                &id(Kind::ClusterProviderConfig, "", "aws"),
                &id(Kind::WorkspaceTemplateApply, NS, "prod-eks-apply")
            ]
        );
        // The waited-for VPC Workspace is rendered by an observed apply, which joins the graph;
        // the unrelated apply does not.
        assert!(graph.contains(&id(Kind::WorkspaceTemplateApply, NS, "vpc-apply")));
        assert!(!graph.contains(&id(Kind::WorkspaceTemplateApply, NS, "unrelated-apply")));
        assert_eq!(
            graph.node(&id(Kind::Workspace, NS, "vpc")).unwrap().origin(),
            Origin::Managed
        );

        // Only the template of the VPC (absent) and the ClusterProviderConfig (not found) are missing.
        let facts = graph.validation_facts();
        assert_eq!(facts.cycle, None);
        assert_eq!(
            facts.missing,
            ["ClusterProviderConfig//aws", "WorkspaceTemplate/team-a/vpc"]
        );
        let order: Vec<String> = graph
            .provisioning_order()
            .unwrap()
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            order.last().unwrap(),
            root.as_str(),
            "the control plane comes up last"
        );
        assert_eq!(order.first().unwrap(), "Cluster/team-a/prod");
        let broken: Vec<String> = graph
            .broken_dependencies(&root)
            .unwrap()
            .iter()
            .map(|b| b.root_cause.to_string())
            .collect();
        assert_eq!(
            broken,
            ["ClusterProviderConfig//aws", "WorkspaceTemplate/team-a/vpc"]
        );

        // The status form reads back to the same graph, origins included.
        assert_eq!(DependencyGraph::from_status(&graph.to_status()).unwrap(), graph);
    }

    #[test]
    fn before_anything_exists_only_inputs_are_waited_for() {
        let cp = control_plane(
            "prod-eks-apply",
            vec![
                DeclaredDependency {
                    kind: DependencyKind::Secret,
                    name: "aws-creds".into(),
                    namespace: None,
                },
                DeclaredDependency {
                    kind: DependencyKind::Workspace,
                    name: "vpc".into(),
                    namespace: Some("net".into()),
                },
            ],
        );
        let workspaces = [WorkspaceView {
            name: "vpc".into(),
            namespace: "net".into(),
            ..Default::default()
        }];
        let cluster = cluster();
        let built = build(&Observed {
            cluster: Some(&cluster),
            workspaces: &workspaces,
            ..Observed::new(&cp)
        });
        let facts = built.graph.validation_facts();
        assert_eq!(
            facts.missing,
            [
                "Secret/team-a/aws-creds",
                "Workspace/net/vpc (NotReady)",
                "WorkspaceTemplate/team-a/eks"
            ]
        );
        let apply = built
            .graph
            .node(&id(Kind::WorkspaceTemplateApply, NS, "prod-eks-apply"))
            .unwrap();
        assert_eq!(
            (apply.status(), apply.origin()),
            (NodeStatus::Missing, Origin::Managed)
        );
        // Before the apply exists, what it will render and wait for is already in the graph.
        assert_eq!(
            built.graph.dependencies_of(apply.id()).unwrap(),
            [
                &id(Kind::Secret, NS, "aws-creds"),
                &id(Kind::Workspace, "net", "vpc"),
                &id(Kind::WorkspaceTemplate, NS, "eks"),
            ]
        );
    }

    #[test]
    fn legacy_workspaces_are_cluster_scoped_and_waited_secrets_pull_in_their_writer() {
        let cp = control_plane("prod-eks-apply", vec![]);
        let mut main = apply("prod-eks-apply", "eks", &[]);
        main.spec.wait_for_secrets = vec![SecretReference {
            name: "vpc-out".into(),
            namespace: None,
        }];
        let mut vpc = apply("vpc-apply", "vpc", &[]);
        vpc.spec.write_connection_secret_to_ref = Some(SecretReference {
            name: "vpc-out".into(),
            namespace: Some("default".into()),
        });
        vpc.spec.wait_for_secrets = vec![SecretReference {
            name: "vpc-out".into(),
            namespace: Some("default".into()),
        }];
        main.spec.wait_for_secrets[0].namespace = Some("default".into());
        let applies = [main, vpc];
        let built = build(&Observed {
            applies: &applies,
            workspace_api: WorkspaceApi::ClusterScoped,
            ..Observed::new(&cp)
        });
        let graph = &built.graph;
        assert!(graph.contains(&id(Kind::Workspace, "", "prod-eks")));
        let secret = id(Kind::Secret, "default", "vpc-out");
        assert_eq!(
            graph.dependencies_of(&secret).unwrap(),
            [&id(Kind::Workspace, "", "vpc")]
        );
        // The VPC apply waits for its own connection secret: a cycle through its Workspace.
        let cycle = graph.validation_facts().cycle.unwrap();
        assert_eq!(
            cycle,
            [
                "Secret/default/vpc-out",
                "WorkspaceTemplateApply/team-a/vpc-apply",
                "Secret/default/vpc-out"
            ]
        );
    }

    #[test]
    fn workspace_names_drop_a_trailing_apply() {
        assert_eq!(
            rendered_workspace_name("prod-eks-controlplane-apply"),
            "prod-eks-controlplane"
        );
        assert_eq!(rendered_workspace_name("plain"), "plain");
        assert_eq!(rendered_workspace_name("-apply"), "-apply");
    }

    #[test]
    fn a_control_plane_waiting_on_its_own_workspace_is_a_cycle_before_its_apply_exists() {
        let own = DeclaredDependency {
            kind: DependencyKind::Workspace,
            name: "prod-eks".into(),
            namespace: None,
        };
        let cp = control_plane("prod-eks-apply", vec![own]);
        let templates = [template("eks", serde_json::json!({"forProvider": {}}))];
        let built = build(&Observed {
            templates: &templates,
            ..Observed::new(&cp)
        });
        let facts = built.graph.validation_facts();
        let cycle = facts.cycle.expect("a cycle, not a wait");
        assert!(cycle.iter().any(|n| n.contains("prod-eks-apply")), "{cycle:?}");
    }

    #[test]
    fn two_control_planes_waiting_on_each_other_are_a_cycle_before_either_apply_exists() {
        let on = |name: &str| {
            vec![DeclaredDependency {
                kind: DependencyKind::Workspace,
                name: name.into(),
                namespace: None,
            }]
        };
        let a = control_plane("a-eks-apply", on("b-eks"));
        let mut b = control_plane("b-eks-apply", on("a-eks"));
        b.metadata.name = Some("other".into());
        let templates = [template("eks", serde_json::json!({"forProvider": {}}))];
        let others = [b];
        let built = build(&Observed {
            templates: &templates,
            control_planes: &others,
            ..Observed::new(&a)
        });
        let cycle = built.graph.validation_facts().cycle.expect("a cycle, not a wait");
        let joined = cycle.join(" -> ");
        assert!(
            joined.contains("a-eks-apply") && joined.contains("b-eks-apply"),
            "{joined}"
        );
        // Without the other control plane it is only a wait for b-eks.
        let alone = build(&Observed {
            templates: &templates,
            ..Observed::new(&a)
        });
        let facts = alone.graph.validation_facts();
        assert_eq!(facts.cycle, None);
        assert_eq!(facts.missing, ["Workspace/team-a/b-eks"]);
    }
}
