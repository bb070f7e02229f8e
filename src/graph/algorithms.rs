//! What the graph answers: cycles, provisioning and deletion order, impact, broken dependencies,
//! and the facts the Validating state decides on.
//!
//! Every algorithm is iterative (no recursion, so a deep chain cannot overflow the stack) and
//! linear or `n log n` in the size of the graph; ties are broken by node id, so answers do not
//! depend on the order the graph was built in.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    fmt,
};

use petgraph::{
    Direction::{Incoming, Outgoing},
    algo::kosaraju_scc,
    graph::NodeIndex,
    visit::NodeFiltered,
};

use super::{DependencyGraph, GraphError, Kind, NodeId, NodeStatus, Origin};
use crate::state::evidence::ValidationFacts;

/// A dependency cycle: the path of ids in edge order, closed (the first id repeated at the end).
/// It starts at the smallest id among the nodes its [`summary`](Cycle::summary) names, so the
/// same cycle is always reported the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    path: Vec<NodeId>,
}

impl Cycle {
    /// Builds a closed cycle from its nodes in order (without the repeat), rotated to its
    /// canonical start. `None` when `nodes` is empty.
    fn closed(mut nodes: Vec<NodeId>) -> Option<Self> {
        let summary_start = (0..nodes.len())
            .filter(|&i| !renders_next(&nodes, i))
            .min_by(|&a, &b| nodes[a].cmp(&nodes[b]))
            .or_else(|| (0..nodes.len()).min_by(|&a, &b| nodes[a].cmp(&nodes[b])))?;
        nodes.rotate_left(summary_start);
        let first = nodes[0].clone();
        nodes.push(first);
        Some(Self { path: nodes })
    }

    /// Every id on the cycle in edge order; the first is repeated at the end.
    pub fn path(&self) -> &[NodeId] {
        &self.path
    }

    /// The distinct nodes of the cycle, in edge order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.path[..self.path.len().saturating_sub(1)]
    }

    /// The cycle as a reader thinks of it: a Workspace followed by the WorkspaceTemplateApply that
    /// renders it (a Workspace's only edge to an apply is "rendered by") is folded into that apply,
    /// so applies that wait on each other's Workspaces read `apply a -> apply b -> apply c -> apply
    /// a`. Closed, like [`path`](Cycle::path).
    pub fn summary(&self) -> Vec<&NodeId> {
        let nodes = self.nodes();
        let mut out: Vec<&NodeId> = (0..nodes.len())
            .filter(|&i| !renders_next(nodes, i))
            .map(|i| &nodes[i])
            .collect();
        if let Some(&first) = out.first() {
            out.push(first);
        }
        out
    }

    /// The Workspaces folded away by [`summary`](Cycle::summary), in order.
    pub fn folded(&self) -> Vec<&NodeId> {
        let nodes = self.nodes();
        (0..nodes.len())
            .filter(|&i| renders_next(nodes, i))
            .map(|i| &nodes[i])
            .collect()
    }
}

/// Whether `nodes[i]` is a Workspace whose successor on the cycle is a WorkspaceTemplateApply.
fn renders_next(nodes: &[NodeId], i: usize) -> bool {
    let next = &nodes[(i + 1) % nodes.len()];
    nodes.len() > 1
        && nodes[i].kind_str() == Kind::Workspace.as_str()
        && next.kind_str() == Kind::WorkspaceTemplateApply.as_str()
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary: Vec<String> = self.summary().iter().map(|id| id.describe()).collect();
        f.write_str(&summary.join(" -> "))?;
        let folded = self.folded();
        if !folded.is_empty() {
            let folded: Vec<String> = folded.iter().map(|id| id.describe()).collect();
            write!(f, " (through the Workspaces they render: {})", folded.join(", "))?;
        }
        Ok(())
    }
}

/// A dependency that keeps a node from being ready, traced to its root cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenDependency {
    /// The deepest node on the broken path that is not ready.
    pub root_cause: NodeId,
    /// Its status (never [`NodeStatus::Ready`]).
    pub status: NodeStatus,
    /// Who creates it.
    pub origin: Origin,
    /// A shortest path from the node asked about to the root cause, both included.
    pub path: Vec<NodeId>,
}

impl fmt::Display for BrokenDependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.root_cause.describe(), self.status)?;
        if self.path.len() > 2 {
            let via: Vec<String> = self.path[1..self.path.len() - 1]
                .iter()
                .map(|id| id.describe())
                .collect();
            write!(f, " (via {})", via.join(" -> "))?;
        }
        Ok(())
    }
}

impl DependencyGraph {
    /// Every dependency cycle, one per strongly connected component that has one (a component
    /// of several nodes, or a node that depends on itself), in id order. Each is a shortest cycle
    /// through the component's first node, ties broken by id. The graph is acyclic exactly when
    /// this is empty.
    pub fn find_cycles(&self) -> Vec<Cycle> {
        let g = &self.graph;
        // Peeling first makes the common case, an acyclic graph, one linear pass; the components
        // are computed only among what is left: nodes on a cycle or depending on one.
        let waiting_on = self.peel();
        if waiting_on.iter().all(|&w| w == 0) {
            return Vec::new();
        }
        let leftovers = NodeFiltered::from_fn(g, |ix: NodeIndex| waiting_on[ix.index()] > 0);
        let components = kosaraju_scc(&leftovers);
        let rank = self.ranks();
        let mut component = vec![usize::MAX; g.node_count()];
        for (c, members) in components.iter().enumerate() {
            for m in members {
                component[m.index()] = c;
            }
        }
        // Scratch space shared by the searches: each touches only its own component's entries.
        let mut parent: Vec<Option<NodeIndex>> = vec![None; g.node_count()];
        let mut seen = vec![false; g.node_count()];
        let mut cycles: Vec<Cycle> = components
            .iter()
            .enumerate()
            .filter(|(_, members)| members.len() > 1 || g.find_edge(members[0], members[0]).is_some())
            .filter_map(|(c, members)| {
                let start = members.iter().copied().min_by_key(|m| rank[m.index()])?;
                self.cycle_through(
                    start,
                    |v| component[v.index()] == c,
                    &rank,
                    &mut parent,
                    &mut seen,
                )
            })
            .collect();
        cycles.sort_by(|a, b| a.path.cmp(&b.path));
        cycles
    }

    /// Kahn's peel in no particular order: for every node, how many of its dependencies could not
    /// be peeled. All zero exactly when the graph is acyclic; otherwise the non-zero nodes are
    /// those on a cycle or depending on one.
    fn peel(&self) -> Vec<usize> {
        let g = &self.graph;
        let mut waiting_on: Vec<usize> = g
            .node_indices()
            .map(|ix| g.neighbors_directed(ix, Outgoing).count())
            .collect();
        let mut free: Vec<NodeIndex> = g
            .node_indices()
            .filter(|ix| waiting_on[ix.index()] == 0)
            .collect();
        while let Some(ix) = free.pop() {
            for dependent in g.neighbors_directed(ix, Incoming) {
                let count = &mut waiting_on[dependent.index()];
                *count -= 1;
                if *count == 0 {
                    free.push(dependent);
                }
            }
        }
        waiting_on
    }

    /// Position of every node in id order, by node index: ties are broken by rank, which is
    /// cheaper than comparing ids.
    fn ranks(&self) -> Vec<usize> {
        let mut rank = vec![0usize; self.graph.node_count()];
        for (r, ix) in self.index.values().enumerate() {
            rank[ix.index()] = r;
        }
        rank
    }

    /// The neighbours of `ix` in `direction`, in id order.
    fn ranked_neighbors(
        &self,
        ix: NodeIndex,
        direction: petgraph::Direction,
        rank: &[usize],
    ) -> Vec<NodeIndex> {
        let mut next: Vec<NodeIndex> = self.graph.neighbors_directed(ix, direction).collect();
        next.sort_unstable_by_key(|n| rank[n.index()]);
        next
    }

    /// A shortest cycle through `start` inside the nodes `within` accepts: breadth-first from it,
    /// neighbours in id order, until an edge leads back.
    fn cycle_through(
        &self,
        start: NodeIndex,
        within: impl Fn(NodeIndex) -> bool,
        rank: &[usize],
        parent: &mut [Option<NodeIndex>],
        seen: &mut [bool],
    ) -> Option<Cycle> {
        let g = &self.graph;
        let mut queue = VecDeque::from([start]);
        seen[start.index()] = true;
        while let Some(u) = queue.pop_front() {
            for v in self.ranked_neighbors(u, Outgoing, rank) {
                if v == start {
                    let mut path = vec![u];
                    let mut at = u;
                    while let Some(p) = parent[at.index()] {
                        path.push(p);
                        at = p;
                    }
                    path.reverse();
                    return Cycle::closed(path.into_iter().map(|n| g[n].id().clone()).collect());
                }
                if within(v) && !seen[v.index()] {
                    seen[v.index()] = true;
                    parent[v.index()] = Some(u);
                    queue.push_back(v);
                }
            }
        }
        None
    }

    /// The order to bring objects up in: every node after everything it depends on. Among nodes
    /// that are free at the same time the smaller id goes first (Kahn's algorithm over a heap), so
    /// the order is a function of the graph alone. A cycle has no such order: the error names one.
    pub fn provisioning_order(&self) -> Result<Vec<&NodeId>, GraphError> {
        let g = &self.graph;
        let by_rank: Vec<NodeIndex> = self.index.values().copied().collect();
        let rank = self.ranks();
        let mut waiting_on: Vec<usize> = g
            .node_indices()
            .map(|ix| g.neighbors_directed(ix, Outgoing).count())
            .collect();
        let mut free: BinaryHeap<Reverse<usize>> = by_rank
            .iter()
            .filter(|ix| waiting_on[ix.index()] == 0)
            .map(|ix| Reverse(rank[ix.index()]))
            .collect();
        let mut order = Vec::with_capacity(g.node_count());
        while let Some(Reverse(r)) = free.pop() {
            let ix = by_rank[r];
            order.push(g[ix].id());
            for dependent in g.neighbors_directed(ix, Incoming) {
                let count = &mut waiting_on[dependent.index()];
                *count -= 1;
                if *count == 0 {
                    free.push(Reverse(rank[dependent.index()]));
                }
            }
        }
        if order.len() == g.node_count() {
            return Ok(order);
        }
        Err(GraphError::Cycle(self.cycle_among_leftovers(&waiting_on)))
    }

    /// The order to tear objects down in: the reverse of [`provisioning_order`](Self::provisioning_order),
    /// so every node goes before what it depends on.
    pub fn deletion_order(&self) -> Result<Vec<&NodeId>, GraphError> {
        let mut order = self.provisioning_order()?;
        order.reverse();
        Ok(order)
    }

    /// Kahn's algorithm left nodes that still wait on a dependency; each such dependency was left
    /// too, so following them from any leftover must come round: that walk is the cycle.
    fn cycle_among_leftovers(&self, waiting_on: &[usize]) -> Cycle {
        let g = &self.graph;
        let leftover = |ix: &NodeIndex| waiting_on[ix.index()] > 0;
        let Some(start) = self.index.values().copied().find(leftover) else {
            return Cycle { path: Vec::new() };
        };
        let mut position: HashMap<NodeIndex, usize> = HashMap::new();
        let mut walk = vec![start];
        let mut at = start;
        loop {
            position.insert(at, walk.len() - 1);
            let next = g
                .neighbors_directed(at, Outgoing)
                .filter(leftover)
                .min_by(|&a, &b| g[a].id().cmp(g[b].id()));
            let Some(next) = next else {
                return Cycle { path: Vec::new() };
            };
            if let Some(&p) = position.get(&next) {
                let nodes = walk[p..].iter().map(|&n| g[n].id().clone()).collect();
                return Cycle::closed(nodes).unwrap_or(Cycle { path: Vec::new() });
            }
            walk.push(next);
            at = next;
        }
    }

    /// Everything that transitively depends on `id` (reverse reachability), in id order, without
    /// `id` itself.
    pub fn impact_of(&self, id: &NodeId) -> Result<Vec<&NodeId>, GraphError> {
        let start = self.index_of(id)?;
        let mut seen = vec![false; self.graph.node_count()];
        let mut queue = VecDeque::from([start]);
        seen[start.index()] = true;
        let mut impacted = Vec::new();
        while let Some(u) = queue.pop_front() {
            for v in self.graph.neighbors_directed(u, Incoming) {
                if !seen[v.index()] {
                    seen[v.index()] = true;
                    impacted.push(self.graph[v].id());
                    queue.push_back(v);
                }
            }
        }
        impacted.sort_unstable();
        Ok(impacted)
    }

    /// What keeps `id` from being ready, by root cause.
    ///
    /// A root cause is a node reachable from `id` that is not [`NodeStatus::Ready`] and from
    /// which no other unready node is reachable (other than ones on a cycle with it): the deepest
    /// unready node on a broken path. A Workspace that is not ready because its template is
    /// missing reports the template, not the Workspace. Each comes with a shortest path from `id`.
    /// In id order of the root cause.
    pub fn broken_dependencies(&self, id: &NodeId) -> Result<Vec<BrokenDependency>, GraphError> {
        let g = &self.graph;
        let start = self.index_of(id)?;
        // Breadth-first along "depends on": what `id` needs, with parents for the paths.
        let mut parent: Vec<Option<NodeIndex>> = vec![None; g.node_count()];
        let mut reached = vec![false; g.node_count()];
        reached[start.index()] = true;
        let mut queue = VecDeque::from([start]);
        let rank = self.ranks();
        while let Some(u) = queue.pop_front() {
            for v in self.ranked_neighbors(u, Outgoing, &rank) {
                if !reached[v.index()] {
                    reached[v.index()] = true;
                    parent[v.index()] = Some(u);
                    queue.push_back(v);
                }
            }
        }
        // Unknown is "not observed" (a ProviderConfig the operator does not watch), not broken: it
        // must not stand in as the root cause of what really is.
        let broken = |ix: NodeIndex| {
            let status = g[ix].status();
            ix != start && reached[ix.index()] && !status.is_ready() && status != NodeStatus::Unknown
        };
        if !g.node_indices().any(broken) {
            return Ok(Vec::new());
        }
        // Components come out dependencies first, so one pass knows, for every component, whether
        // something unready lies strictly below it.
        let components = kosaraju_scc(g);
        let mut component = vec![0usize; g.node_count()];
        for (c, members) in components.iter().enumerate() {
            for ix in members {
                component[ix.index()] = c;
            }
        }
        let has_unready: Vec<bool> = components
            .iter()
            .map(|members| members.iter().any(|&m| broken(m)))
            .collect();
        let mut unready_below = vec![false; components.len()];
        for (c, members) in components.iter().enumerate() {
            unready_below[c] = members.iter().any(|&m| {
                g.neighbors_directed(m, Outgoing)
                    .map(|d| component[d.index()])
                    .filter(|&dc| dc != c)
                    .any(|dc| has_unready[dc] || unready_below[dc])
            });
        }
        let mut causes: Vec<BrokenDependency> = g
            .node_indices()
            .filter(|&ix| broken(ix) && !unready_below[component[ix.index()]])
            .map(|ix| {
                let mut path = vec![g[ix].id().clone()];
                let mut at = ix;
                while let Some(p) = parent[at.index()] {
                    path.push(g[p].id().clone());
                    at = p;
                }
                path.reverse();
                let node = &g[ix];
                BrokenDependency {
                    root_cause: node.id().clone(),
                    status: node.status(),
                    origin: node.origin(),
                    path,
                }
            })
            .collect();
        causes.sort_by(|a, b| a.root_cause.cmp(&b.root_cause));
        Ok(causes)
    }

    fn is_required(&self, id: &NodeId) -> bool {
        self.index
            .get(id)
            .is_some_and(|&ix| self.graph.neighbors_directed(ix, Incoming).next().is_some())
    }

    fn is_required_by_control_plane(&self, id: &NodeId) -> bool {
        self.index.get(id).is_some_and(|&ix| {
            self.graph
                .neighbors_directed(ix, Incoming)
                .any(|d| self.graph[d].kind() == Kind::CAPTControlPlane)
        })
    }

    /// What the Validating state needs from the graph: the first cycle (as its
    /// [`summary`](Cycle::summary), so a cycle of applies names the applies), and the inputs to
    /// wait for. An input is an [`Origin::External`] node that something depends on (so not the
    /// control plane itself). Missing inputs are listed by id. Inputs a CAPTControlPlane depends on
    /// directly (declared dependencies, its Cluster and template) that exist but are NotReady are
    /// listed as `id (NotReady)`: declared dependencies must be ready before provisioning; deeper
    /// readiness waits belong to the applies' own `waitFor*`. Unknown nodes (not observed) and
    /// [`Origin::Managed`] nodes (they appear as provisioning goes) are not waited for. `invalid`
    /// is left empty for the caller's own checks.
    pub fn validation_facts(&self) -> ValidationFacts {
        let cycle = self
            .find_cycles()
            .into_iter()
            .next()
            .map(|c| c.summary().into_iter().map(|id| id.to_string()).collect());
        let missing = self
            .nodes()
            .filter(|n| n.origin() == Origin::External && self.is_required(n.id()))
            .filter_map(|n| match n.status() {
                NodeStatus::Missing => Some(n.id().to_string()),
                NodeStatus::NotReady if self.is_required_by_control_plane(n.id()) => {
                    Some(format!("{} (NotReady)", n.id()))
                }
                NodeStatus::NotReady | NodeStatus::Ready | NodeStatus::Unknown => None,
            })
            .collect();
        ValidationFacts {
            cycle,
            invalid: Vec::new(),
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Node, NodeStatus::*};

    fn graph(nodes: &[(&str, NodeStatus)], edges: &[(&str, &str)]) -> DependencyGraph {
        let mut g = DependencyGraph::new();
        for &(name, status) in nodes {
            g.add_node(Node::new(Kind::ConfigMap, "ns", name, status));
        }
        for &(a, b) in edges {
            g.add_dependency(&id(a), &id(b)).unwrap();
        }
        g
    }

    fn id(name: &str) -> NodeId {
        NodeId::new(Kind::ConfigMap, "ns", name)
    }

    fn names(ids: &[&NodeId]) -> Vec<String> {
        ids.iter().map(|i| i.parts().2.to_owned()).collect()
    }

    #[test]
    fn orders_dependencies_first_with_ties_by_id() {
        let g = graph(
            &[("cp", Ready), ("ws", Ready), ("tpl", Ready), ("cluster", Ready)],
            &[("cp", "ws"), ("cp", "cluster"), ("ws", "tpl")],
        );
        assert_eq!(
            names(&g.provisioning_order().unwrap()),
            ["cluster", "tpl", "ws", "cp"]
        );
        assert_eq!(
            names(&g.deletion_order().unwrap()),
            ["cp", "ws", "tpl", "cluster"]
        );
    }

    #[test]
    fn a_cycle_has_no_order_and_is_named() {
        let g = graph(
            &[("a", Ready), ("b", Ready), ("c", Ready), ("d", Ready)],
            &[("b", "c"), ("c", "a"), ("a", "b"), ("d", "a")],
        );
        let Err(GraphError::Cycle(cycle)) = g.provisioning_order() else {
            panic!("expected a cycle")
        };
        assert_eq!(cycle.path(), [id("a"), id("b"), id("c"), id("a")]);
        assert_eq!(g.find_cycles(), vec![cycle]);
    }

    #[test]
    fn a_self_dependency_is_a_cycle() {
        let g = graph(&[("a", Ready)], &[("a", "a")]);
        assert_eq!(g.find_cycles()[0].path(), [id("a"), id("a")]);
        assert!(g.provisioning_order().is_err());
    }

    #[test]
    fn impact_is_everything_that_depends_transitively() {
        let g = graph(
            &[("cp", Ready), ("ws", Ready), ("tpl", Ready), ("other", Ready)],
            &[("cp", "ws"), ("ws", "tpl"), ("other", "cp")],
        );
        assert_eq!(names(&g.impact_of(&id("tpl")).unwrap()), ["cp", "other", "ws"]);
        assert!(g.impact_of(&id("other")).unwrap().is_empty());
    }

    #[test]
    fn the_root_cause_is_the_deepest_unready_node() {
        // cp -> ws (NotReady) -> wta (Ready) -> tpl (Missing); cp -> secret (Missing)
        let g = graph(
            &[
                ("cp", NotReady),
                ("ws", NotReady),
                ("wta", Ready),
                ("tpl", Missing),
                ("secret", Missing),
                ("pc", Ready),
            ],
            &[
                ("cp", "ws"),
                ("ws", "wta"),
                ("wta", "tpl"),
                ("cp", "secret"),
                ("ws", "pc"),
            ],
        );
        let broken = g.broken_dependencies(&id("cp")).unwrap();
        assert_eq!(broken.len(), 2);
        assert_eq!(broken[0].root_cause, id("secret"));
        assert_eq!(broken[1].root_cause, id("tpl"));
        assert_eq!(broken[1].path, [id("cp"), id("ws"), id("wta"), id("tpl")]);
        assert_eq!(
            broken[1].to_string(),
            "ConfigMap ns/tpl is Missing (via ConfigMap ns/ws -> ConfigMap ns/wta)"
        );
        assert!(g.broken_dependencies(&id("pc")).unwrap().is_empty());
    }

    #[test]
    fn an_unready_cycle_is_its_own_root_cause() {
        let g = graph(
            &[("cp", Ready), ("a", NotReady), ("b", NotReady)],
            &[("cp", "a"), ("a", "b"), ("b", "a")],
        );
        let causes: Vec<_> = g
            .broken_dependencies(&id("cp"))
            .unwrap()
            .into_iter()
            .map(|b| b.root_cause)
            .collect();
        assert_eq!(causes, [id("a"), id("b")]);
    }

    #[test]
    fn validation_waits_only_for_external_inputs() {
        let mut g = graph(
            &[
                ("declared", NotReady),
                ("deep", NotReady),
                ("input", Missing),
                ("unwatched", Unknown),
            ],
            &[("declared", "deep")],
        );
        let cp = g.add_node(Node::new(Kind::CAPTControlPlane, "ns", "cp", NotReady));
        let kubeconfig =
            g.add_node(Node::new(Kind::Secret, "ns", "kubeconfig", Missing).with_origin(Origin::Managed));
        for dep in [id("declared"), id("input"), id("unwatched"), kubeconfig] {
            g.add_dependency(&cp, &dep).unwrap();
        }
        let facts = g.validation_facts();
        assert_eq!(facts.cycle, None);
        assert_eq!(
            facts.missing,
            ["ConfigMap/ns/declared (NotReady)", "ConfigMap/ns/input"]
        );
    }
}
