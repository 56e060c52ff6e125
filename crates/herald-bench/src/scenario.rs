//! The scenarios of the start-up benchmark: each a dependency graph of fixture components with
//! their ready-after delays (see `benchmarks.md`).

/// The K3s table of the `k3s_embedded` example: (name, delay ms, requires, wants).
#[path = "../../herald/examples/k3s_embedded/graph.rs"]
mod k3s_graph;

use herald::{ComponentSpec, Graph};
use std::time::Duration;

/// One component of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its name (also its file and service name: letters, digits, `-`).
    pub name: String,
    /// How long the fixture takes to become ready once spawned.
    pub delay: Duration,
    /// Hard dependencies, as indexes of earlier nodes.
    pub requires: Vec<usize>,
    /// Soft dependencies, as indexes of earlier nodes (peers without soft dependencies wait
    /// for them like hard ones).
    pub wants: Vec<usize>,
}

impl Node {
    fn new(name: impl Into<String>, delay: Duration) -> Self {
        Self {
            name: name.into(),
            delay,
            requires: Vec::new(),
            wants: Vec::new(),
        }
    }

    /// Every dependency, hard then soft.
    pub fn deps(&self) -> impl Iterator<Item = usize> + '_ {
        self.requires.iter().chain(&self.wants).copied()
    }
}

/// How herald judges readiness in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The fixture sends `READY=1`; nothing is probed.
    Notify,
    /// The fixture listens on a TCP port once ready; herald probes it.
    Tcp,
}

/// A scenario: nodes in topological order (dependencies first).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in the report.
    pub name: String,
    /// The components, dependencies before dependents.
    pub nodes: Vec<Node>,
    /// How herald judges readiness.
    pub check: Check,
    /// For the idle scenario: the window at rest measured once everything is up and settled.
    pub idle: Option<Duration>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Scenario {
    fn new(name: impl Into<String>, nodes: Vec<Node>) -> Self {
        Self {
            name: name.into(),
            nodes,
            check: Check::Notify,
            idle: None,
        }
    }

    /// `n` components in a chain, each requiring the previous, each ready after `delay`.
    pub fn chain(n: usize, delay: Duration) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let mut node = Node::new(format!("c{i}"), delay);
                if i > 0 {
                    node.requires.push(i - 1);
                }
                node
            })
            .collect();
        Self::new(format!("chain{n}-{}ms", delay.as_millis()), nodes)
    }

    /// The K3s graph (as in the `k3s_embedded` example), delays scaled down from a real node.
    pub fn k3s() -> Self {
        const K3S: &[(&str, u64, &[&str], &[&str])] = k3s_graph::COMPONENTS;
        let index = |name: &str| K3S.iter().position(|c| c.0 == name).expect("known");
        let nodes = K3S
            .iter()
            .map(|&(name, delay, requires, wants)| Node {
                name: name.to_string(),
                delay: ms(delay),
                requires: requires.iter().map(|d| index(d)).collect(),
                wants: wants.iter().map(|d| index(d)).collect(),
            })
            .collect();
        Self::new("k3s", nodes)
    }

    /// One dependency ready after `dep_delay`, `n` dependents requiring it; every component is
    /// judged by a TCP probe (the probe economy scenario).
    pub fn fan(n: usize, dep_delay: Duration) -> Self {
        let mut nodes = vec![Node::new("hub", dep_delay)];
        for i in 0..n {
            let mut node = Node::new(format!("f{i}"), Duration::ZERO);
            node.requires.push(0);
            nodes.push(node);
        }
        let mut s = Self::new(format!("fan{n}"), nodes);
        s.check = Check::Tcp;
        s
    }

    /// `n` independent components, each ready after `delay`.
    pub fn wide(n: usize, delay: Duration) -> Self {
        let nodes = (0..n).map(|i| Node::new(format!("w{i}"), delay)).collect();
        Self::new(format!("wide{n}"), nodes)
    }

    /// `n` components in `depth` layers; each component past the first layer requires one to
    /// three components of the layer right before it, so the longest chain is `depth` long.
    pub fn dag(n: usize, depth: usize, delay: Duration, seed: u64) -> Self {
        assert!(
            depth >= 1 && n >= depth,
            "a DAG needs at least one node per layer"
        );
        let mut rng = fastrand::Rng::with_seed(seed);
        let layer_of = |i: usize| i * depth / n;
        let mut nodes: Vec<Node> = Vec::with_capacity(n);
        let mut layer_start = 0;
        for i in 0..n {
            let layer = layer_of(i);
            if i > 0 && layer != layer_of(i - 1) {
                layer_start = i;
            }
            let mut node = Node::new(format!("d{i}"), delay);
            if layer > 0 {
                let prev_start = (0..layer_start)
                    .find(|&j| layer_of(j) == layer - 1)
                    .expect("a previous layer");
                let prev = prev_start..layer_start;
                let wanted = rng.usize(1..=3).min(prev.len());
                while node.requires.len() < wanted {
                    let dep = rng.usize(prev.clone());
                    if !node.requires.contains(&dep) {
                        node.requires.push(dep);
                    }
                }
                node.requires.sort_unstable();
            }
            nodes.push(node);
        }
        Self::new(format!("dag{n}"), nodes)
    }

    /// `n` independent components kept up, measured at rest over `rest`.
    pub fn idle(n: usize, rest: Duration) -> Self {
        let mut s = Self::new(
            format!("idle{n}"),
            (0..n).map(|i| Node::new(format!("i{i}"), ms(0))).collect(),
        );
        s.idle = Some(rest);
        s
    }

    /// The components as herald specs (dependencies only), for the graph and critical path.
    pub fn specs(&self) -> Vec<ComponentSpec> {
        self.nodes
            .iter()
            .map(|node| {
                let names = |deps: &[usize]| {
                    deps.iter()
                        .map(|&d| self.nodes[d].name.clone())
                        .collect::<Vec<_>>()
                };
                ComponentSpec::new(node.name.clone())
                    .requires(names(&node.requires))
                    .wants(names(&node.wants))
            })
            .collect()
    }

    /// The validated graph.
    pub fn graph(&self) -> Graph {
        Graph::new(&self.specs()).expect("scenarios are acyclic")
    }

    /// The longest chain of ready-after delays: the lower bound on start-up time.
    pub fn critical_path(&self) -> Duration {
        let graph = self.graph();
        graph
            .critical_path(|name| {
                let idx = graph.index_of(name).expect("a node");
                self.nodes[idx].delay
            })
            .total
    }

    /// The number of components on the longest chain of dependencies.
    pub fn depth(&self) -> usize {
        let mut depth = vec![1usize; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for dep in node.deps() {
                depth[i] = depth[i].max(depth[dep] + 1);
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// Each node's layer: 0 without dependencies, else one more than its deepest dependency.
    pub fn layers(&self) -> Vec<usize> {
        let mut layer = vec![0usize; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for dep in node.deps() {
                layer[i] = layer[i].max(layer[dep] + 1);
            }
        }
        layer
    }
}

/// The suite of `benchmarks.md`, with the chains of 1 and 20 ready at once beside chain5-0ms
/// for each tool's fixed cost and cost per link (`chaincost`). `quick` scales the
/// 1,000-process scenarios down to 200 processes and measures idle100 over 10 s instead of 60.
pub fn suite(quick: bool) -> Vec<Scenario> {
    let many = if quick { 200 } else { 1000 };
    vec![
        Scenario::chain(1, ms(0)),
        Scenario::chain(5, ms(0)),
        Scenario::chain(20, ms(0)),
        Scenario::chain(5, ms(200)),
        Scenario::k3s(),
        Scenario::fan(50, ms(300)),
        Scenario::wide(many, ms(0)),
        Scenario::dag(many, 20, ms(10), 7),
        Scenario::idle(100, Duration::from_secs(if quick { 10 } else { 60 })),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topological(s: &Scenario) -> bool {
        s.nodes
            .iter()
            .enumerate()
            .all(|(i, n)| n.deps().all(|d| d < i))
    }

    #[test]
    fn chains_are_chains() {
        let s = Scenario::chain(5, ms(200));
        assert_eq!(s.name, "chain5-200ms");
        assert_eq!(s.nodes.len(), 5);
        assert_eq!(s.depth(), 5);
        assert!(topological(&s));
        assert_eq!(s.nodes[3].requires, vec![2]);
        assert_eq!(s.critical_path(), ms(1000));
        assert_eq!(Scenario::chain(5, ms(0)).critical_path(), Duration::ZERO);
    }

    #[test]
    fn k3s_has_its_shape() {
        let s = Scenario::k3s();
        assert_eq!(s.nodes.len(), 11);
        assert!(topological(&s));
        let kubelet = s.nodes.iter().find(|n| n.name == "kubelet").unwrap();
        assert_eq!(s.nodes[kubelet.requires[0]].name, "containerd");
        assert_eq!(s.nodes[kubelet.wants[0]].name, "apiserver");
        // containerd 40 + etcd 60 + apiserver 80 + kubelet 50 + cni 25 + helm 10.
        assert_eq!(s.critical_path(), ms(265));
    }

    #[test]
    fn fans_share_one_dependency_and_are_probed() {
        let s = Scenario::fan(50, ms(300));
        assert_eq!(s.nodes.len(), 51);
        assert_eq!(s.check, Check::Tcp);
        assert!(s.nodes[1..].iter().all(|n| n.requires == vec![0]));
        assert_eq!(s.depth(), 2);
        assert_eq!(s.critical_path(), ms(300));
    }

    #[test]
    fn wide_is_flat() {
        let s = Scenario::wide(1000, ms(0));
        assert_eq!(s.nodes.len(), 1000);
        assert_eq!(s.depth(), 1);
        assert!(s.nodes.iter().all(|n| n.requires.is_empty()));
    }

    #[test]
    fn dags_have_the_depth_they_claim_and_are_acyclic() {
        for seed in 0..5 {
            let s = Scenario::dag(1000, 20, ms(10), seed);
            assert_eq!(s.nodes.len(), 1000);
            assert!(topological(&s));
            assert_eq!(s.depth(), 20);
            let layers = s.layers();
            for (i, n) in s.nodes.iter().enumerate() {
                assert!((0..=3).contains(&n.requires.len()));
                assert_eq!(n.requires.is_empty(), layers[i] == 0);
                assert!(n.requires.iter().all(|&d| layers[d] + 1 == layers[i]));
            }
            assert_eq!(layers.iter().filter(|&&l| l == 0).count(), 50);
            assert_eq!(s.critical_path(), ms(200));
            s.graph();
        }
        assert_eq!(
            Scenario::dag(100, 20, ms(1), 3).nodes,
            Scenario::dag(100, 20, ms(1), 3).nodes
        );
    }

    #[test]
    fn the_suite_names_every_scenario() {
        let names: Vec<String> = suite(false).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "chain1-0ms",
                "chain5-0ms",
                "chain20-0ms",
                "chain5-200ms",
                "k3s",
                "fan50",
                "wide1000",
                "dag1000",
                "idle100"
            ]
        );
        assert_eq!(suite(false)[8].idle, Some(Duration::from_secs(60)));
        let quick = suite(true);
        assert_eq!(
            (quick[6].name.as_str(), quick[7].name.as_str()),
            ("wide200", "dag200")
        );
        assert_eq!(quick[7].depth(), 20);
        assert_eq!(quick[8].idle, Some(Duration::from_secs(10)));
        assert_eq!(quick[2].depth(), 20);
    }
}
