//! The graph itself: nodes (kind, namespace, name, status), "depends on" edges and their reverse.
//!
//! Storage is a `petgraph::Graph`, whose adjacency lists run both ways: the dependencies of a node
//! (its outgoing edges) and its dependents, "required by" (its incoming edges), are each one index
//! lookup followed by a walk of that node's own list. A `BTreeMap` from id to index keeps every
//! listing in id order, so the same facts always give the same output whatever order they were
//! added in.

use std::{collections::BTreeMap, fmt, str::FromStr};

use petgraph::{
    Direction::{Incoming, Outgoing},
    graph::{DiGraph, NodeIndex},
};

use super::GraphError;

/// The kinds of object a control plane's graph holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A Cluster API `Cluster`.
    Cluster,
    /// A `CAPTControlPlane`.
    CAPTControlPlane,
    /// A `WorkspaceTemplate`.
    WorkspaceTemplate,
    /// A `WorkspaceTemplateApply`.
    WorkspaceTemplateApply,
    /// A provider-terraform `Workspace` (either API).
    Workspace,
    /// A `Secret`.
    Secret,
    /// A `ConfigMap`.
    ConfigMap,
    /// A provider-terraform `ProviderConfig` (namespaced in `tf.m.upbound.io`, cluster-scoped in
    /// the legacy `tf.upbound.io`).
    ProviderConfig,
    /// A provider-terraform `ClusterProviderConfig` (`tf.m.upbound.io`, cluster-scoped).
    ClusterProviderConfig,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [Kind] = &[
        Kind::Cluster,
        Kind::CAPTControlPlane,
        Kind::WorkspaceTemplate,
        Kind::WorkspaceTemplateApply,
        Kind::Workspace,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::ProviderConfig,
        Kind::ClusterProviderConfig,
    ];

    /// The Kubernetes kind name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "Cluster",
            Kind::CAPTControlPlane => "CAPTControlPlane",
            Kind::WorkspaceTemplate => "WorkspaceTemplate",
            Kind::WorkspaceTemplateApply => "WorkspaceTemplateApply",
            Kind::Workspace => "Workspace",
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
            Kind::ProviderConfig => "ProviderConfig",
            Kind::ClusterProviderConfig => "ClusterProviderConfig",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = GraphError;
    fn from_str(s: &str) -> Result<Self, GraphError> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| GraphError::UnknownKind(s.to_owned()))
    }
}

/// What was observed of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeStatus {
    /// Exists and is ready (for objects without readiness: exists).
    Ready,
    /// Exists but is not ready yet, or is being deleted.
    NotReady,
    /// Does not exist.
    Missing,
    /// Not observed (e.g. a kind the caller does not watch).
    Unknown,
}

impl NodeStatus {
    /// The name stored in `status.dependencyGraph`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Ready => "Ready",
            NodeStatus::NotReady => "NotReady",
            NodeStatus::Missing => "Missing",
            NodeStatus::Unknown => "Unknown",
        }
    }

    /// Whether the node is ready.
    pub const fn is_ready(self) -> bool {
        matches!(self, NodeStatus::Ready)
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeStatus {
    type Err = GraphError;
    fn from_str(s: &str) -> Result<Self, GraphError> {
        match s {
            "Ready" => Ok(NodeStatus::Ready),
            "NotReady" => Ok(NodeStatus::NotReady),
            "Missing" => Ok(NodeStatus::Missing),
            "Unknown" => Ok(NodeStatus::Unknown),
            other => Err(GraphError::UnknownStatus(other.to_owned())),
        }
    }
}

/// Who brings a node into existence. Validation waits only for [`Origin::External`] nodes: the
/// [`Origin::Managed`] ones appear as a consequence of provisioning and are missing before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    /// Someone else creates it (the user, Cluster API, another controller): an input.
    #[default]
    External,
    /// Created from other nodes of the graph: the control plane's WorkspaceTemplateApply, a
    /// Workspace rendered by an apply, a connection secret, the kubeconfig and CA secrets.
    Managed,
}

/// A node id: `Kind/namespace/name`. Cluster-scoped objects keep the empty namespace, so their id
/// is `Kind//name`: every id has exactly three parts and parses back without knowing which kinds
/// are namespaced. Kubernetes names and namespaces cannot contain `/`, so the split is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// The id of `kind` `namespace`/`name` (empty namespace for cluster-scoped objects).
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self(format!("{}/{namespace}/{name}", kind.as_str()))
    }

    /// Parses `Kind/namespace/name`, checking the kind.
    pub fn parse(id: &str) -> Result<Self, GraphError> {
        let (kind, namespace, name) = split(id).ok_or_else(|| GraphError::InvalidId(id.to_owned()))?;
        Ok(Self::new(kind.parse()?, namespace, name))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind part, as written.
    pub fn kind_str(&self) -> &str {
        self.parts().0
    }

    /// `(kind, namespace, name)` as written.
    pub fn parts(&self) -> (&str, &str, &str) {
        // Every NodeId is built by `new`, which writes three parts.
        split(&self.0).unwrap_or((&self.0, "", ""))
    }

    /// `Kind namespace/name`, or `Kind name` when cluster-scoped: for messages.
    pub fn describe(&self) -> String {
        match self.parts() {
            (kind, "", name) => format!("{kind} {name}"),
            (kind, namespace, name) => format!("{kind} {namespace}/{name}"),
        }
    }
}

fn split(id: &str) -> Option<(&str, &str, &str)> {
    let (kind, rest) = id.split_once('/')?;
    let (namespace, name) = rest.split_once('/')?;
    (!kind.is_empty() && !name.is_empty() && !name.contains('/')).then_some((kind, namespace, name))
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An object of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    id: NodeId,
    kind: Kind,
    namespace: String,
    name: String,
    status: NodeStatus,
    origin: Origin,
}

impl Node {
    /// A node of [`Origin::External`].
    pub fn new(
        kind: Kind,
        namespace: impl Into<String>,
        name: impl Into<String>,
        status: NodeStatus,
    ) -> Self {
        let (namespace, name) = (namespace.into(), name.into());
        Self {
            id: NodeId::new(kind, &namespace, &name),
            kind,
            namespace,
            name,
            status,
            origin: Origin::External,
        }
    }

    /// The same node with another origin.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// `Kind/namespace/name`.
    pub fn id(&self) -> &NodeId {
        &self.id
    }
    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The namespace; empty for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What was observed.
    pub fn status(&self) -> NodeStatus {
        self.status
    }
    /// Who creates it.
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

/// A dependency graph: edges point from a node to what it depends on.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    pub(super) graph: DiGraph<Node, ()>,
    pub(super) index: BTreeMap<NodeId, NodeIndex>,
}

impl DependencyGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `nodes` and `edges`.
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        Self {
            graph: DiGraph::with_capacity(nodes, edges),
            index: BTreeMap::new(),
        }
    }

    /// Adds a node, or updates the one with the same id: the status is replaced, and the origin
    /// becomes [`Origin::Managed`] if either says so (an object someone in the graph creates stays
    /// created by them, however else it is referenced). Returns the id.
    pub fn add_node(&mut self, node: Node) -> NodeId {
        let id = node.id.clone();
        match self.index.get(&id) {
            Some(&ix) => {
                let existing = &mut self.graph[ix];
                existing.status = node.status;
                existing.origin = existing.origin.max(node.origin);
            }
            None => {
                let ix = self.graph.add_node(node);
                self.index.insert(id.clone(), ix);
            }
        }
        id
    }

    /// Records that `dependent` depends on `dependency`. Both must be nodes already. Adding an edge
    /// twice is a no-op; returns whether the edge is new.
    pub fn add_dependency(&mut self, dependent: &NodeId, dependency: &NodeId) -> Result<bool, GraphError> {
        let (from, to) = (self.index_of(dependent)?, self.index_of(dependency)?);
        if self.graph.find_edge(from, to).is_some() {
            return Ok(false);
        }
        self.graph.add_edge(from, to, ());
        Ok(true)
    }

    /// The node with this id.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.index.get(id).map(|&ix| &self.graph[ix])
    }

    /// Whether the graph holds this id.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.index.contains_key(id)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Number of "depends on" edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.index.values().map(|&ix| &self.graph[ix])
    }

    /// Every edge as `(dependent, dependency)`, in id order.
    pub fn edges(&self) -> impl Iterator<Item = (&NodeId, &NodeId)> + '_ {
        self.index.values().flat_map(move |&ix| {
            self.sorted_neighbors(ix, petgraph::Direction::Outgoing)
                .into_iter()
                .map(move |d| (&self.graph[ix].id, d))
        })
    }

    /// What `id` depends on, in id order ("depends on").
    pub fn dependencies_of(&self, id: &NodeId) -> Result<Vec<&NodeId>, GraphError> {
        Ok(self.sorted_neighbors(self.index_of(id)?, Outgoing))
    }

    /// What depends on `id`, in id order ("required by").
    pub fn dependents_of(&self, id: &NodeId) -> Result<Vec<&NodeId>, GraphError> {
        Ok(self.sorted_neighbors(self.index_of(id)?, Incoming))
    }

    pub(super) fn index_of(&self, id: &NodeId) -> Result<NodeIndex, GraphError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| GraphError::UnknownNode(id.to_string()))
    }

    pub(super) fn sorted_neighbors(&self, ix: NodeIndex, direction: petgraph::Direction) -> Vec<&NodeId> {
        let mut ids: Vec<&NodeId> = self
            .graph
            .neighbors_directed(ix, direction)
            .map(|n| &self.graph[n].id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Two graphs are equal when they hold the same nodes (id, status, origin) and the same edges,
/// whatever order they were built in.
impl PartialEq for DependencyGraph {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.edge_count() == other.edge_count()
            && self.nodes().eq(other.nodes())
            && self.edges().eq(other.edges())
    }
}

impl Eq for DependencyGraph {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_three_parts_even_when_cluster_scoped() {
        let id = NodeId::new(Kind::ProviderConfig, "", "default");
        assert_eq!(id.as_str(), "ProviderConfig//default");
        assert_eq!(id.parts(), ("ProviderConfig", "", "default"));
        assert_eq!(NodeId::parse("ProviderConfig//default").unwrap(), id);
        assert_eq!(id.describe(), "ProviderConfig default");
        assert_eq!(NodeId::new(Kind::Secret, "ns", "s").describe(), "Secret ns/s");
    }

    #[test]
    fn bad_ids_are_errors_not_panics() {
        for bad in ["", "Secret", "Secret/ns", "Secret/ns/", "Secret/ns/a/b", "/ns/a"] {
            assert_eq!(
                NodeId::parse(bad),
                Err(GraphError::InvalidId(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            NodeId::parse("Pod/ns/a"),
            Err(GraphError::UnknownKind("Pod".into()))
        );
    }

    #[test]
    fn both_directions_are_one_lookup_and_sorted() {
        let mut g = DependencyGraph::new();
        let a = g.add_node(Node::new(Kind::Secret, "ns", "a", NodeStatus::Ready));
        let b = g.add_node(Node::new(Kind::Secret, "ns", "b", NodeStatus::Ready));
        let c = g.add_node(Node::new(Kind::Secret, "ns", "c", NodeStatus::Ready));
        assert!(g.add_dependency(&c, &b).unwrap());
        assert!(g.add_dependency(&a, &b).unwrap());
        assert!(!g.add_dependency(&a, &b).unwrap(), "duplicate edges are ignored");
        assert_eq!(g.dependents_of(&b).unwrap(), vec![&a, &c]);
        assert_eq!(g.dependencies_of(&a).unwrap(), vec![&b]);
        assert_eq!(g.edge_count(), 2);
        let missing = NodeId::new(Kind::Secret, "ns", "zzz");
        assert_eq!(
            g.add_dependency(&a, &missing),
            Err(GraphError::UnknownNode(missing.to_string()))
        );
    }

    #[test]
    fn re_adding_a_node_updates_status_and_managed_wins() {
        let mut g = DependencyGraph::new();
        let id =
            g.add_node(Node::new(Kind::Secret, "ns", "a", NodeStatus::Missing).with_origin(Origin::Managed));
        g.add_node(Node::new(Kind::Secret, "ns", "a", NodeStatus::Ready));
        let node = g.node(&id).unwrap();
        assert_eq!(
            (node.status(), node.origin()),
            (NodeStatus::Ready, Origin::Managed)
        );
        assert_eq!(g.len(), 1);
    }
}
