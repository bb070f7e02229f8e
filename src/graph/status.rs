//! The graph in the proposal's status shape, `status.dependencyGraph`:
//! `nodes: {id: {type, name, namespace, status}}` and `edges: {id: [ids it depends on]}`.
//!
//! Both maps and every edge list are sorted, so an unchanged graph serializes to the same bytes
//! and never causes a status write. Nodes without dependencies have no `edges` entry. Reading it
//! back checks every id, kind and status and names the first bad one; [`Origin`] is not stored,
//! so it is inferred from the edges the builder draws (see [`DependencyGraph::from_status`]).

use crate::api::{DependencyGraphStatus, ResourceNode};

use super::{DependencyGraph, GraphError, Kind, Node, NodeId, Origin};

impl DependencyGraph {
    /// The status form.
    pub fn to_status(&self) -> DependencyGraphStatus {
        let nodes = self
            .nodes()
            .map(|n| {
                let node = ResourceNode {
                    type_: n.kind().as_str().to_owned(),
                    name: n.name().to_owned(),
                    namespace: n.namespace().to_owned(),
                    status: n.status().as_str().to_owned(),
                };
                (n.id().to_string(), node)
            })
            .collect();
        let edges = self
            .index
            .iter()
            .filter_map(|(id, &ix)| {
                let deps = self.sorted_neighbors(ix, petgraph::Direction::Outgoing);
                (!deps.is_empty())
                    .then(|| (id.to_string(), deps.into_iter().map(NodeId::to_string).collect()))
            })
            .collect();
        DependencyGraphStatus { nodes, edges }
    }

    /// Reads the status form back. Every key must be the id its node's type, namespace and name
    /// make, and every edge must join two listed nodes.
    ///
    /// The origin is inferred as the builder assigns it: a Workspace that depends on a
    /// WorkspaceTemplateApply is rendered by it, a Secret that depends on a Workspace or a Secret
    /// is a connection or derived secret, and an apply is the control plane's own when a
    /// CAPTControlPlane depends both on it and on a Workspace it renders. Everything else is
    /// [`Origin::External`].
    pub fn from_status(status: &DependencyGraphStatus) -> Result<Self, GraphError> {
        let mut graph = DependencyGraph::with_capacity(status.nodes.len(), status.edges.len());
        for (key, node) in &status.nodes {
            let kind: Kind = node.type_.parse()?;
            let parsed = Node::new(
                kind,
                node.namespace.as_str(),
                node.name.as_str(),
                node.status.parse()?,
            );
            if parsed.id().as_str() != key {
                return Err(GraphError::MismatchedId {
                    key: key.clone(),
                    id: parsed.id().to_string(),
                });
            }
            graph.add_node(parsed);
        }
        for (from, deps) in &status.edges {
            let from = NodeId::parse(from)?;
            for to in deps {
                graph.add_dependency(&from, &NodeId::parse(to)?)?;
            }
        }
        graph.infer_origins()?;
        Ok(graph)
    }

    fn infer_origins(&mut self) -> Result<(), GraphError> {
        let kind_of = |g: &Self, id: &NodeId| g.node(id).map(Node::kind);
        let mut managed = Vec::new();
        for node in self.nodes() {
            let deps = self.dependencies_of(node.id())?;
            let depends_on = |kind: Kind| deps.iter().any(|d| kind_of(self, d) == Some(kind));
            let is_managed = match node.kind() {
                Kind::Workspace => depends_on(Kind::WorkspaceTemplateApply),
                Kind::Secret => depends_on(Kind::Workspace) || depends_on(Kind::Secret),
                Kind::WorkspaceTemplateApply => {
                    let dependents = self.dependents_of(node.id())?;
                    let rendered: Vec<&NodeId> = dependents
                        .iter()
                        .copied()
                        .filter(|d| kind_of(self, d) == Some(Kind::Workspace))
                        .collect();
                    let mut owners = dependents
                        .iter()
                        .filter(|d| kind_of(self, d) == Some(Kind::CAPTControlPlane));
                    owners.any(|cp| {
                        self.dependencies_of(cp)
                            .is_ok_and(|cp_deps| rendered.iter().any(|w| cp_deps.contains(w)))
                    })
                }
                _ => false,
            };
            if is_managed {
                managed.push(node.id().clone());
            }
        }
        for id in managed {
            if let Some(&ix) = self.index.get(&id) {
                let node = self.graph[ix].clone().with_origin(Origin::Managed);
                self.graph[ix] = node;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeStatus;

    #[test]
    fn round_trips_in_the_proposal_shape() {
        let mut g = DependencyGraph::new();
        let cp = g.add_node(Node::new(
            Kind::CAPTControlPlane,
            "ns",
            "prod",
            NodeStatus::NotReady,
        ));
        let pc = g.add_node(Node::new(
            Kind::ProviderConfig,
            "",
            "default",
            NodeStatus::Unknown,
        ));
        g.add_dependency(&cp, &pc).unwrap();
        let status = g.to_status();
        assert_eq!(status.nodes["ProviderConfig//default"].namespace, "");
        assert_eq!(
            status.edges["CAPTControlPlane/ns/prod"],
            ["ProviderConfig//default"]
        );
        assert!(!status.edges.contains_key("ProviderConfig//default"));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["nodes"]["CAPTControlPlane/ns/prod"]["type"],
            "CAPTControlPlane"
        );
        assert_eq!(DependencyGraph::from_status(&status).unwrap(), g);
    }

    #[test]
    fn bad_status_is_reported_by_the_offending_entry() {
        let mut status = DependencyGraphStatus::default();
        status.nodes.insert(
            "Secret/ns/a".into(),
            ResourceNode {
                type_: "Secret".into(),
                name: "b".into(),
                namespace: "ns".into(),
                status: "Ready".into(),
            },
        );
        assert_eq!(
            DependencyGraph::from_status(&status),
            Err(GraphError::MismatchedId {
                key: "Secret/ns/a".into(),
                id: "Secret/ns/b".into()
            })
        );
        status.nodes.get_mut("Secret/ns/a").unwrap().name = "a".into();
        status.nodes.get_mut("Secret/ns/a").unwrap().status = "Fine".into();
        assert_eq!(
            DependencyGraph::from_status(&status),
            Err(GraphError::UnknownStatus("Fine".into()))
        );
        status.nodes.get_mut("Secret/ns/a").unwrap().status = "Ready".into();
        status
            .edges
            .insert("Secret/ns/a".into(), vec!["Secret/ns/zzz".into()]);
        assert_eq!(
            DependencyGraph::from_status(&status),
            Err(GraphError::UnknownNode("Secret/ns/zzz".into()))
        );
    }
}
