//! Pictures of the graph: Graphviz DOT, Mermaid, JSON (the status form) and a text tree.
//!
//! Every rendering lists nodes and edges in id order, so the same graph renders to the same text
//! (diff-able in CI, stable in `kubectl capt graph`). Edges point from a node to what it depends
//! on. Colours follow the status: Ready green, NotReady orange, Missing red, Unknown grey.

use std::{fmt::Write as _, str::FromStr};

use petgraph::{Direction::Outgoing, graph::NodeIndex};

use super::{DependencyGraph, GraphError, Node, NodeStatus};

/// An output format of [`DependencyGraph::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
    /// Pretty-printed JSON of the status form.
    Json,
    /// An indented tree from the roots (nodes nothing depends on) down to their dependencies.
    Text,
}

impl FromStr for Format {
    type Err = GraphError;
    fn from_str(s: &str) -> Result<Self, GraphError> {
        match s.to_ascii_lowercase().as_str() {
            "dot" | "graphviz" => Ok(Format::Dot),
            "mermaid" => Ok(Format::Mermaid),
            "json" => Ok(Format::Json),
            "text" | "tree" => Ok(Format::Text),
            _ => Err(GraphError::UnknownFormat(s.to_owned())),
        }
    }
}

fn colour(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Ready => "#2e7d32",
        NodeStatus::NotReady => "#ef6c00",
        NodeStatus::Missing => "#c62828",
        NodeStatus::Unknown => "#757575",
    }
}

fn place(node: &Node) -> String {
    if node.namespace().is_empty() {
        node.name().to_owned()
    } else {
        format!("{}/{}", node.namespace(), node.name())
    }
}

/// A DOT double-quoted string: backslashes and quotes escaped, newlines as `\n`.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Mermaid labels are quoted; quotes and angle brackets become entity codes.
fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

impl DependencyGraph {
    /// Renders in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Dot => self.to_dot(),
            Format::Mermaid => self.to_mermaid(),
            Format::Json => self.to_json(),
            Format::Text => self.to_text_tree(),
        }
    }

    /// Graphviz DOT: one box per node (kind, place, status), one arrow per dependency.
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph dependencies {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        for node in self.nodes() {
            let label = format!("{}\n{}\n{}", node.kind(), place(node), node.status());
            let _ = writeln!(
                out,
                "  {} [label={}, color=\"{}\"];",
                dot_quote(node.id().as_str()),
                dot_quote(&label),
                colour(node.status())
            );
        }
        for (from, to) in self.edges() {
            let _ = writeln!(
                out,
                "  {} -> {};",
                dot_quote(from.as_str()),
                dot_quote(to.as_str())
            );
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart. Mermaid ids cannot hold `/`, so nodes are `n0`, `n1`, ... in id order.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let mut short = vec![0usize; self.graph.node_count()];
        for (i, (_, &ix)) in self.index.iter().enumerate() {
            short[ix.index()] = i;
            let node = &self.graph[ix];
            let label = format!(
                "{}<br/>{}<br/>{}",
                node.kind(),
                mermaid_text(&place(node)),
                node.status()
            );
            let _ = writeln!(
                out,
                "  n{i}[\"{label}\"]:::{}",
                node.status().as_str().to_ascii_lowercase()
            );
        }
        for &ix in self.index.values() {
            let mut deps: Vec<usize> = self
                .graph
                .neighbors_directed(ix, Outgoing)
                .map(|d| short[d.index()])
                .collect();
            deps.sort_unstable();
            for d in deps {
                let _ = writeln!(out, "  n{} --> n{d}", short[ix.index()]);
            }
        }
        for status in [
            NodeStatus::Ready,
            NodeStatus::NotReady,
            NodeStatus::Missing,
            NodeStatus::Unknown,
        ] {
            let _ = writeln!(
                out,
                "  classDef {} stroke:{},stroke-width:2px",
                status.as_str().to_ascii_lowercase(),
                colour(status)
            );
        }
        out
    }

    /// The status form as pretty JSON (what `status.dependencyGraph` holds).
    pub fn to_json(&self) -> String {
        let status = self.to_status();
        let nodes: serde_json::Map<String, serde_json::Value> = status
            .nodes
            .into_iter()
            .map(|(id, n)| {
                let mut node = serde_json::Map::new();
                node.insert("type".into(), n.type_.into());
                node.insert("name".into(), n.name.into());
                if !n.namespace.is_empty() {
                    node.insert("namespace".into(), n.namespace.into());
                }
                node.insert("status".into(), n.status.into());
                (id, node.into())
            })
            .collect();
        let edges: serde_json::Map<String, serde_json::Value> = status
            .edges
            .into_iter()
            .map(|(id, deps)| (id, deps.into()))
            .collect();
        let doc = serde_json::json!({ "nodes": nodes, "edges": edges });
        format!("{doc:#}\n")
    }

    /// An indented tree: each root (a node nothing depends on), then its dependencies below it.
    /// A node already drawn is shown again with `(see above)` instead of its subtree, and a
    /// dependency back onto the current branch with `(cycle)`, so the text stays linear in the
    /// size of the graph. Nodes reachable from no root (they sit on cycles) start trees of their own.
    pub fn to_text_tree(&self) -> String {
        let g = &self.graph;
        let mut out = String::new();
        let mut drawn = vec![false; g.node_count()];
        let mut on_branch = vec![false; g.node_count()];
        let roots = self
            .index
            .values()
            .copied()
            .filter(|&ix| g.neighbors_directed(ix, petgraph::Incoming).next().is_none());
        let rest: Vec<NodeIndex> = self.index.values().copied().collect();
        for root in roots.chain(rest) {
            if drawn[root.index()] {
                continue;
            }
            // Depth-first with an explicit stack: (node, prefix for its children, line to print).
            enum Step {
                Enter(NodeIndex, String, String),
                Leave(NodeIndex),
            }
            let mut stack = vec![Step::Enter(root, String::new(), String::new())];
            while let Some(step) = stack.pop() {
                let (ix, child_prefix, line_prefix) = match step {
                    Step::Leave(ix) => {
                        on_branch[ix.index()] = false;
                        continue;
                    }
                    Step::Enter(ix, child_prefix, line_prefix) => (ix, child_prefix, line_prefix),
                };
                let node = &g[ix];
                let _ = write!(
                    out,
                    "{line_prefix}{} {} [{}]",
                    node.kind(),
                    place(node),
                    node.status()
                );
                if on_branch[ix.index()] {
                    out.push_str(" (cycle)\n");
                    continue;
                }
                if drawn[ix.index()] {
                    out.push_str(" (see above)\n");
                    continue;
                }
                out.push('\n');
                drawn[ix.index()] = true;
                on_branch[ix.index()] = true;
                stack.push(Step::Leave(ix));
                let mut deps: Vec<NodeIndex> = g.neighbors_directed(ix, Outgoing).collect();
                deps.sort_unstable_by(|&a, &b| g[a].id().cmp(g[b].id()));
                let last = deps.len().saturating_sub(1);
                // Pushed in reverse so the smallest id is drawn first.
                for (i, dep) in deps.into_iter().enumerate().rev() {
                    let (branch, indent) = if i == last {
                        ("└── ", "    ")
                    } else {
                        ("├── ", "│   ")
                    };
                    stack.push(Step::Enter(
                        dep,
                        format!("{child_prefix}{indent}"),
                        format!("{child_prefix}{branch}"),
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Kind, NodeStatus::*};

    fn sample() -> DependencyGraph {
        let mut g = DependencyGraph::new();
        let cp = g.add_node(Node::new(Kind::CAPTControlPlane, "team-a", "prod", NotReady));
        let ws = g.add_node(Node::new(Kind::Workspace, "team-a", "prod-eks", NotReady));
        let wta = g.add_node(Node::new(
            Kind::WorkspaceTemplateApply,
            "team-a",
            "prod-eks-apply",
            Ready,
        ));
        let tpl = g.add_node(Node::new(Kind::WorkspaceTemplate, "team-a", "eks", Missing));
        let pc = g.add_node(Node::new(Kind::ProviderConfig, "", "default", Unknown));
        for (a, b) in [(&cp, &ws), (&cp, &wta), (&ws, &wta), (&wta, &tpl), (&ws, &pc)] {
            g.add_dependency(a, b).unwrap();
        }
        g
    }

    #[test]
    fn text_tree_draws_shared_nodes_once() {
        assert_eq!(
            sample().to_text_tree(),
            "\
CAPTControlPlane team-a/prod [NotReady]
├── Workspace team-a/prod-eks [NotReady]
│   ├── ProviderConfig default [Unknown]
│   └── WorkspaceTemplateApply team-a/prod-eks-apply [Ready]
│       └── WorkspaceTemplate team-a/eks [Missing]
└── WorkspaceTemplateApply team-a/prod-eks-apply [Ready] (see above)
"
        );
    }

    #[test]
    fn text_tree_marks_cycles() {
        let mut g = DependencyGraph::new();
        let a = g.add_node(Node::new(Kind::Secret, "ns", "a", Ready));
        let b = g.add_node(Node::new(Kind::Secret, "ns", "b", Ready));
        g.add_dependency(&a, &b).unwrap();
        g.add_dependency(&b, &a).unwrap();
        assert_eq!(
            g.to_text_tree(),
            "Secret ns/a [Ready]\n└── Secret ns/b [Ready]\n    └── Secret ns/a [Ready] (cycle)\n"
        );
    }

    #[test]
    fn dot_and_mermaid_are_sorted_and_escaped() {
        let dot = sample().to_dot();
        assert!(dot.starts_with("digraph dependencies {\n"));
        assert!(dot.contains(
            "  \"CAPTControlPlane/team-a/prod\" [label=\"CAPTControlPlane\\nteam-a/prod\\nNotReady\", color=\"#ef6c00\"];"
        ));
        assert!(dot.contains("  \"Workspace/team-a/prod-eks\" -> \"ProviderConfig//default\";"));
        let mermaid = sample().to_mermaid();
        assert!(mermaid.contains("  n0[\"CAPTControlPlane<br/>team-a/prod<br/>NotReady\"]:::notready\n"));
        assert!(mermaid.contains("  n0 --> n2\n"));
        assert_eq!(dot_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(mermaid_text("a\"<b>"), "a#quot;#lt;b#gt;");
    }

    #[test]
    fn json_is_the_status_form() {
        let g = sample();
        let parsed: crate::api::DependencyGraphStatus = serde_json::from_str(&g.to_json()).unwrap();
        assert_eq!(parsed, g.to_status());
        assert_eq!("TREE".parse::<Format>().unwrap(), Format::Text);
        assert!("svg".parse::<Format>().is_err());
    }
}
