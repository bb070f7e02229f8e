//! Property tests of the dependency graph against brute force on small random graphs.

use std::collections::{BTreeMap, BTreeSet};

use capt_controlplane::graph::{DependencyGraph, Format, Kind, Node, NodeId, NodeStatus};
use proptest::prelude::*;

/// A small random graph: node count, edges (self-loops and duplicates allowed) and statuses.
#[derive(Debug, Clone)]
struct Spec {
    n: usize,
    edges: Vec<(usize, usize)>,
    statuses: Vec<NodeStatus>,
}

fn status() -> impl Strategy<Value = NodeStatus> {
    prop_oneof![
        4 => Just(NodeStatus::Ready),
        1 => Just(NodeStatus::NotReady),
        1 => Just(NodeStatus::Missing),
        1 => Just(NodeStatus::Unknown),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..9).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n, 0..n), 0..(n * 3)),
            prop::collection::vec(status(), n),
        )
            .prop_map(|(n, edges, statuses)| Spec { n, edges, statuses })
    })
}

fn id(i: usize) -> NodeId {
    NodeId::new(Kind::ConfigMap, "ns", &format!("n{i}"))
}

fn build(spec: &Spec, node_order: &[usize], edges: &[(usize, usize)]) -> DependencyGraph {
    let mut g = DependencyGraph::new();
    for &i in node_order {
        g.add_node(Node::new(
            Kind::ConfigMap,
            "ns",
            format!("n{i}"),
            spec.statuses[i],
        ));
    }
    for &(a, b) in edges {
        g.add_dependency(&id(a), &id(b)).unwrap();
    }
    g
}

fn graph(spec: &Spec) -> DependencyGraph {
    build(spec, &(0..spec.n).collect::<Vec<_>>(), &spec.edges)
}

/// `reach[a][b]`: a path of one or more edges from a to b.
fn reachability(spec: &Spec) -> Vec<Vec<bool>> {
    let mut reach = vec![vec![false; spec.n]; spec.n];
    for &(a, b) in &spec.edges {
        reach[a][b] = true;
    }
    for k in 0..spec.n {
        for a in 0..spec.n {
            for b in 0..spec.n {
                if reach[a][k] && reach[k][b] {
                    reach[a][b] = true;
                }
            }
        }
    }
    reach
}

fn index_of(id: &NodeId) -> usize {
    id.parts().2[1..].parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cycle_detection_agrees_with_brute_force(spec in spec()) {
        let g = graph(&spec);
        let reach = reachability(&spec);
        let edges: BTreeSet<(usize, usize)> = spec.edges.iter().copied().collect();
        // Nodes on some cycle, grouped into their strongly connected components.
        let components: BTreeSet<BTreeSet<usize>> = (0..spec.n)
            .filter(|&v| reach[v][v])
            .map(|v| (0..spec.n).filter(|&w| reach[v][w] && reach[w][v]).collect())
            .collect();

        let cycles = g.find_cycles();
        prop_assert_eq!(cycles.is_empty(), components.is_empty());
        prop_assert_eq!(cycles.len(), components.len(), "one cycle per cyclic component");
        let mut seen_components = BTreeSet::new();
        for cycle in &cycles {
            let path: Vec<usize> = cycle.path().iter().map(index_of).collect();
            prop_assert!(path.len() >= 2);
            prop_assert_eq!(path.first(), path.last(), "closed");
            for pair in path.windows(2) {
                prop_assert!(edges.contains(&(pair[0], pair[1])), "edge {:?} is real", pair);
            }
            let distinct: BTreeSet<usize> = cycle.nodes().iter().map(index_of).collect();
            prop_assert_eq!(distinct.len(), cycle.nodes().len(), "a simple cycle");
            let component = components.iter().find(|c| c.contains(&path[0])).cloned();
            prop_assert!(component.is_some());
            let component = component.unwrap_or_default();
            prop_assert!(distinct.is_subset(&component));
            seen_components.insert(component);
        }
        prop_assert_eq!(seen_components, components);
    }

    #[test]
    fn orders_respect_every_edge_and_deletion_is_the_reverse(spec in spec()) {
        let g = graph(&spec);
        let acyclic = g.find_cycles().is_empty();
        match (g.provisioning_order(), g.deletion_order()) {
            (Ok(order), Ok(deletion)) => {
                prop_assert!(acyclic);
                prop_assert_eq!(order.len(), spec.n);
                let position: BTreeMap<usize, usize> =
                    order.iter().enumerate().map(|(p, id)| (index_of(id), p)).collect();
                prop_assert_eq!(position.len(), spec.n, "every node once");
                for &(a, b) in &spec.edges {
                    prop_assert!(position[&b] < position[&a], "{} depends on {}: dependency first", a, b);
                }
                let mut reversed = order.clone();
                reversed.reverse();
                prop_assert_eq!(deletion, reversed);
            }
            (Err(_), Err(_)) => prop_assert!(!acyclic),
            _ => prop_assert!(false, "provisioning and deletion order disagree"),
        }
    }

    #[test]
    fn answers_do_not_depend_on_insertion_order(
        (spec, node_order, edge_order) in spec().prop_flat_map(|s| {
            let nodes = Just((0..s.n).collect::<Vec<_>>()).prop_shuffle();
            let edges = Just(s.edges.clone()).prop_shuffle();
            (Just(s), nodes, edges)
        })
    ) {
        let a = graph(&spec);
        let b = build(&spec, &node_order, &edge_order);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.provisioning_order().ok(), b.provisioning_order().ok());
        prop_assert_eq!(a.find_cycles(), b.find_cycles());
        for format in [Format::Dot, Format::Mermaid, Format::Json, Format::Text] {
            prop_assert_eq!(a.render(format), b.render(format));
        }
        prop_assert_eq!(a.to_status(), b.to_status());
    }

    #[test]
    fn impact_is_reverse_reachability(spec in spec(), target in 0usize..9) {
        let target = target % spec.n;
        let g = graph(&spec);
        let reach = reachability(&spec);
        let impacted: Vec<usize> = g.impact_of(&id(target)).unwrap().iter().map(|i| index_of(i)).collect();
        let expected: BTreeSet<usize> = (0..spec.n).filter(|&u| u != target && reach[u][target]).collect();
        prop_assert_eq!(impacted.iter().copied().collect::<BTreeSet<_>>(), expected);
        prop_assert!(impacted.windows(2).all(|w| id(w[0]) < id(w[1])), "sorted by id");
    }

    #[test]
    fn root_causes_are_the_deepest_unready_nodes(spec in spec(), start in 0usize..9) {
        let start = start % spec.n;
        let g = graph(&spec);
        let reach = reachability(&spec);
        let edges: BTreeSet<(usize, usize)> = spec.edges.iter().copied().collect();
        // Unknown is "not observed", never broken.
        let unready: BTreeSet<usize> = (0..spec.n)
            .filter(|&v| {
                let status = spec.statuses[v];
                v != start && reach[start][v] && !status.is_ready() && status != NodeStatus::Unknown
            })
            .collect();
        // Deepest: nothing unready strictly below it (what it reaches without reaching it back).
        let expected: BTreeSet<usize> = unready
            .iter()
            .copied()
            .filter(|&v| !unready.iter().any(|&w| w != v && reach[v][w] && !reach[w][v]))
            .collect();
        let broken = g.broken_dependencies(&id(start)).unwrap();
        let found: BTreeSet<usize> = broken.iter().map(|b| index_of(&b.root_cause)).collect();
        prop_assert_eq!(found, expected);
        for b in &broken {
            let path: Vec<usize> = b.path.iter().map(index_of).collect();
            prop_assert_eq!(path.first(), Some(&start));
            prop_assert_eq!(path.last(), Some(&index_of(&b.root_cause)));
            for pair in path.windows(2) {
                prop_assert!(edges.contains(&(pair[0], pair[1])));
            }
        }
    }

    #[test]
    fn the_status_form_round_trips(spec in spec()) {
        let g = graph(&spec);
        let status = g.to_status();
        let back = DependencyGraph::from_status(&status).unwrap();
        prop_assert_eq!(back.to_status(), status);
        let json: capt_controlplane::api::DependencyGraphStatus = serde_json::from_str(&g.to_json()).unwrap();
        prop_assert_eq!(json, g.to_status());
    }
}
