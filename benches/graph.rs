//! Micro benchmarks of the dependency graph: cycle detection and ordering at 1k, 10k and 100k
//! nodes (about three edges per node), and rendering at 1k nodes. Numbers: `BENCHMARKS.md`.
//!
//! Shapes:
//! - `dag`: node `i` depends on three random earlier nodes (a random DAG, shallow on average);
//! - `chain`: node `i` depends on `i - 1` and two random earlier nodes (depth `n`: a stack-depth
//!   test as much as a speed test);
//! - `cycle`: `chain` plus one edge from the first node to the last, so all `n` nodes form one
//!   strongly connected component (the worst case for reporting the cycle).

use std::hint::black_box;

use capt_controlplane::{
    graph::{DependencyGraph, Kind, Node, NodeId, NodeStatus},
    recovery::{Jitter, SplitMix64},
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[derive(Clone, Copy)]
enum Shape {
    Dag,
    Chain,
    Cycle,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Dag => "dag",
            Shape::Chain => "chain",
            Shape::Cycle => "cycle",
        }
    }
}

fn graph(n: usize, shape: Shape) -> DependencyGraph {
    let mut random = SplitMix64::seeded(0x00c0_ffee);
    let mut pick = |below: usize| ((random.next_unit() * below as f64) as usize).min(below - 1);
    let mut g = DependencyGraph::with_capacity(n, n * 3);
    let statuses = [
        NodeStatus::Ready,
        NodeStatus::Ready,
        NodeStatus::Ready,
        NodeStatus::NotReady,
    ];
    let ids: Vec<NodeId> = (0..n)
        .map(|i| {
            g.add_node(Node::new(
                Kind::Secret,
                "bench",
                format!("node-{i:06}"),
                statuses[i % 4],
            ))
        })
        .collect();
    for i in 1..n {
        let fixed = match shape {
            Shape::Dag => pick(i),
            Shape::Chain | Shape::Cycle => i - 1,
        };
        for j in [fixed, pick(i), pick(i)] {
            // Duplicate picks are ignored by the graph: "about" three edges per node.
            let _ = g.add_dependency(&ids[i], &ids[j]);
        }
    }
    if let (Shape::Cycle, Some(first), Some(last)) = (shape, ids.first(), ids.last()) {
        let _ = g.add_dependency(first, last);
    }
    g
}

fn cycles_and_order(c: &mut Criterion) {
    for shape in [Shape::Dag, Shape::Chain, Shape::Cycle] {
        let mut group = c.benchmark_group(format!("cycles_and_order/{}", shape.name()));
        for n in [1_000usize, 10_000, 100_000] {
            let g = graph(n, shape);
            if n >= 100_000 {
                group.sample_size(10);
            }
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &g, |b, g| {
                b.iter(|| {
                    let cycles = g.find_cycles();
                    let order = g.provisioning_order().map(|o| o.len());
                    black_box((cycles.len(), order.ok()))
                })
            });
        }
        group.finish();
    }
}

fn separate_steps(c: &mut Criterion) {
    let g = graph(100_000, Shape::Dag);
    let mut group = c.benchmark_group("dag_100000");
    group.sample_size(10);
    group.bench_function("find_cycles", |b| b.iter(|| black_box(g.find_cycles().len())));
    group.bench_function("provisioning_order", |b| {
        b.iter(|| black_box(g.provisioning_order().map(|o| o.len()).ok()))
    });
    let leaf = NodeId::new(Kind::Secret, "bench", "node-000000");
    group.bench_function("impact_of_first_node", |b| {
        b.iter(|| black_box(g.impact_of(&leaf).map(|i| i.len()).ok()))
    });
    let top = NodeId::new(Kind::Secret, "bench", "node-099999");
    group.bench_function("broken_dependencies_of_last_node", |b| {
        b.iter(|| black_box(g.broken_dependencies(&top).map(|d| d.len()).ok()))
    });
    group.bench_function("to_status", |b| b.iter(|| black_box(g.to_status().nodes.len())));
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let g = graph(1_000, Shape::Dag);
    let mut group = c.benchmark_group("render_1000");
    group.bench_function("dot", |b| b.iter(|| black_box(g.to_dot().len())));
    group.bench_function("text_tree", |b| b.iter(|| black_box(g.to_text_tree().len())));
    group.bench_function("mermaid", |b| b.iter(|| black_box(g.to_mermaid().len())));
    group.bench_function("json", |b| b.iter(|| black_box(g.to_json().len())));
    group.finish();
}

criterion_group!(benches, cycles_and_order, separate_steps, rendering);
criterion_main!(benches);
