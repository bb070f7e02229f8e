//! The DOT rendering is accepted by Graphviz itself. Needs `dot` on PATH (package `graphviz`); a
//! missing `dot` fails the test rather than skipping it, so CI cannot pass without checking.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use capt_controlplane::{
    api::{DependencyGraphStatus, ResourceNode},
    graph::{DependencyGraph, Kind, Node, NodeStatus},
};

fn dot_svg(source: &str) -> String {
    // Bounded: a Graphviz layout that runs away must fail the test, not hang CI.
    let child = Command::new("timeout")
        .args(["120", "dot", "-Tsvg"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run Graphviz `dot` ({e}): install graphviz (e.g. `apt-get install -y graphviz`) to run this test"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(source.as_bytes())
        .expect("write DOT to dot");
    let output = child.wait_with_output().expect("dot runs to completion");
    assert_ne!(
        output.status.code(),
        Some(127),
        "cannot run Graphviz `dot`: install graphviz (e.g. `apt-get install -y graphviz`)"
    );
    assert_ne!(
        output.status.code(),
        Some(124),
        "Graphviz `dot` did not finish within 120 s"
    );
    assert!(
        output.status.success(),
        "dot rejected the rendering: {}\n--- DOT ---\n{source}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn graphviz_accepts_a_control_plane_graph() {
    let mut g = DependencyGraph::new();
    let cp = g.add_node(Node::new(
        Kind::CAPTControlPlane,
        "team-a",
        "prod",
        NodeStatus::NotReady,
    ));
    let ws = g.add_node(Node::new(Kind::Workspace, "", "prod-eks", NodeStatus::Missing));
    let apply = g.add_node(Node::new(
        Kind::WorkspaceTemplateApply,
        "team-a",
        "prod-eks-apply",
        NodeStatus::Ready,
    ));
    let pc = g.add_node(Node::new(
        Kind::ProviderConfig,
        "",
        "default",
        NodeStatus::Unknown,
    ));
    for (a, b) in [
        (&cp, &ws),
        (&cp, &apply),
        (&ws, &apply),
        (&ws, &pc),
        (&apply, &cp),
    ] {
        g.add_dependency(a, b).unwrap();
    }
    let svg = dot_svg(&g.to_dot());
    assert!(svg.contains("<svg"), "an SVG document");
    assert!(svg.contains("prod&#45;eks&#45;apply") || svg.contains("prod-eks-apply"));
}

#[test]
fn graphviz_accepts_names_that_need_escaping() {
    // Names read back from a status document are arbitrary text.
    let mut status = DependencyGraphStatus::default();
    for name in [
        "quote\"d",
        "back\\slash",
        "brace{}",
        "semi;colon",
        "ünïcode",
        "new\nline",
    ] {
        let node = ResourceNode {
            type_: "Secret".into(),
            name: name.into(),
            namespace: "ns".into(),
            status: "Ready".into(),
        };
        status.nodes.insert(format!("Secret/ns/{name}"), node);
    }
    status.edges.insert(
        "Secret/ns/quote\"d".into(),
        vec!["Secret/ns/back\\slash".into(), "Secret/ns/new\nline".into()],
    );
    let g = DependencyGraph::from_status(&status).unwrap();
    dot_svg(&g.to_dot());
}

#[test]
fn graphviz_accepts_a_larger_graph() {
    // Layout cost grows fast with size; sixty nodes keep this test well under a second.
    let mut g = DependencyGraph::with_capacity(60, 120);
    let ids: Vec<_> = (0..60)
        .map(|i| {
            g.add_node(Node::new(
                Kind::ConfigMap,
                "ns",
                format!("cm-{i:04}"),
                NodeStatus::Ready,
            ))
        })
        .collect();
    for i in 1..ids.len() {
        for j in [i / 2, i - 1] {
            g.add_dependency(&ids[i], &ids[j]).unwrap();
        }
    }
    dot_svg(&g.to_dot());
}
