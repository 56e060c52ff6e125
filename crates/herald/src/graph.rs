//! The dependency graph: built and validated before anything starts.
//!
//! Validation reports every problem at once: duplicate names, unknown dependencies,
//! self-dependencies, and each dependency cycle with its full path. Edges keep their kind.
//! Edges point from a component to what it depends on (`a -> b`: a needs b).
//!
//! ```
//! use herald::{ComponentSpec, Graph};
//! let specs = [
//!     ComponentSpec::new("a").requires(["b"]),
//!     ComponentSpec::new("b").requires(["c"]),
//!     ComponentSpec::new("c").requires(["a"]),
//! ];
//! let err = Graph::new(&specs).unwrap_err();
//! assert_eq!(err.to_string(), "1 problem in the stack\n  dependency cycle: a -> b -> c -> a");
//! ```

use crate::{ComponentSpec, ConfigError, ConfigProblem};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// The kind of a dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Hard: wait for ready; blocked if it fails for good.
    Requires,
    /// Soft: wait for ready or failure.
    Wants,
    /// Ordering only: wait for it to be started.
    After,
    /// Hard, and stopped and restarted with the dependency.
    BindsTo,
    /// Lazy: does not delay the start; the dependent waits for it only where it needs it
    /// ([`Context::need`](crate::Context::need), `herald wait`), and stops before it.
    Uses,
}

impl EdgeKind {
    /// The stack-file field name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Requires => "requires",
            EdgeKind::Wants => "wants",
            EdgeKind::After => "after",
            EdgeKind::BindsTo => "binds_to",
            EdgeKind::Uses => "uses",
        }
    }

    /// Every kind, in the stack file's field order.
    pub const ALL: [EdgeKind; 5] = [
        EdgeKind::Requires,
        EdgeKind::Wants,
        EdgeKind::After,
        EdgeKind::BindsTo,
        EdgeKind::Uses,
    ];

    /// Whether the edge orders the start: every kind but `uses`.
    pub fn orders_start(self) -> bool {
        self != EdgeKind::Uses
    }

    /// Whether the dependent must wait for the dependency to be ready and is blocked by its
    /// failure.
    pub fn is_hard(self) -> bool {
        matches!(self, EdgeKind::Requires | EdgeKind::BindsTo)
    }
}

/// One edge: `from` depends on `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// Index of the dependent.
    pub from: usize,
    /// Index of the dependency.
    pub to: usize,
    /// The kind.
    pub kind: EdgeKind,
}

/// A validated, acyclic dependency graph over components in insertion order.
#[derive(Debug, Clone)]
pub struct Graph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    deps: Vec<Vec<(usize, EdgeKind)>>,
    dependents: Vec<Vec<(usize, EdgeKind)>>,
    /// Cycles that go through a `uses` edge: allowed, and warned about.
    lazy_cycles: Vec<Vec<String>>,
    /// Per component, the strongly connected component (over every edge) it belongs to.
    scc: Vec<usize>,
}

/// The longest chain of start durations through the graph: the lower bound on start-up time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalPath {
    /// The bound: when the last component would be ready with zero overhead.
    pub total: Duration,
    /// The chain, first started first, each with its earliest ready time.
    pub path: Vec<(String, Duration)>,
}

impl Graph {
    /// Builds and validates the graph of `specs`, reporting every problem at once.
    pub fn new(specs: &[ComponentSpec]) -> Result<Graph, ConfigError> {
        let mut problems = Vec::new();
        let mut index = HashMap::new();
        let mut reported = HashSet::new();
        for (i, spec) in specs.iter().enumerate() {
            if index.insert(spec.name.clone(), i).is_some() && reported.insert(&spec.name) {
                problems.push(ConfigProblem::DuplicateName {
                    name: spec.name.clone(),
                });
            }
        }
        // With duplicates, the first definition of a name is the one edges point to.
        for (i, spec) in specs.iter().enumerate().rev() {
            index.insert(spec.name.clone(), i);
        }
        let n = specs.len();
        let mut deps = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        for (i, spec) in specs.iter().enumerate() {
            let mut seen = HashSet::new();
            for (dep, kind) in spec.dependencies() {
                if dep == spec.name {
                    problems.push(ConfigProblem::SelfDependency {
                        component: spec.name.clone(),
                        field: kind.as_str(),
                    });
                    continue;
                }
                let Some(&j) = index.get(dep) else {
                    problems.push(ConfigProblem::UnknownDependency {
                        component: spec.name.clone(),
                        field: kind.as_str(),
                        dependency: dep.to_string(),
                    });
                    continue;
                };
                if seen.insert((j, kind)) {
                    deps[i].push((j, kind));
                    dependents[j].push((i, kind));
                }
            }
        }
        let mut graph = Graph {
            names: specs.iter().map(|s| s.name.clone()).collect(),
            index,
            deps,
            dependents,
            lazy_cycles: Vec::new(),
            scc: vec![0; n],
        };
        let hard = graph.cycles(EdgeKind::orders_start);
        if hard.is_empty() {
            // A cycle only `uses` closes deadlocks only if a component waits before it is
            // ready: a warning, not an error.
            graph.lazy_cycles = graph.cycles(|_| true);
        }
        problems.extend(hard.into_iter().map(|path| ConfigProblem::Cycle { path }));
        graph.scc = graph.sccs(|_| true).1;
        if problems.is_empty() {
            Ok(graph)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The strongly connected components over the edges `keep` admits: the list, and each
    /// node's component.
    fn sccs(&self, keep: impl Fn(EdgeKind) -> bool) -> (Vec<Vec<NodeIndex>>, Vec<usize>) {
        let mut g = DiGraph::<(), ()>::with_capacity(self.len(), 0);
        let nodes: Vec<NodeIndex> = (0..self.len()).map(|_| g.add_node(())).collect();
        for (from, deps) in self.deps.iter().enumerate() {
            for &(to, kind) in deps {
                if keep(kind) {
                    g.add_edge(nodes[from], nodes[to], ());
                }
            }
        }
        let sccs = tarjan_scc(&g);
        let mut of = vec![0; self.len()];
        for (k, scc) in sccs.iter().enumerate() {
            for node in scc {
                of[node.index()] = k;
            }
        }
        (sccs, of)
    }

    /// One cycle per strongly connected component over the edges `keep` admits, each as a
    /// closed path of names that starts at its alphabetically first member and takes the
    /// shortest way back to it.
    fn cycles(&self, keep: impl Fn(EdgeKind) -> bool + Copy) -> Vec<Vec<String>> {
        let mut cycles: Vec<Vec<String>> = self
            .sccs(keep)
            .0
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|scc| {
                let members: HashSet<usize> = scc.iter().map(|n| n.index()).collect();
                let start = *members
                    .iter()
                    .min_by_key(|&&i| &self.names[i])
                    .expect("non-empty");
                self.shortest_cycle(start, &members, keep)
            })
            .collect();
        cycles.sort();
        cycles
    }

    fn shortest_cycle(
        &self,
        start: usize,
        members: &HashSet<usize>,
        keep: impl Fn(EdgeKind) -> bool,
    ) -> Vec<String> {
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            let mut next: Vec<usize> = self.deps[at]
                .iter()
                .filter(|&&(_, kind)| keep(kind))
                .map(|&(to, _)| to)
                .filter(|to| members.contains(to))
                .collect();
            next.sort_by_key(|&i| &self.names[i]);
            for to in next {
                if to == start {
                    let mut path = vec![at];
                    while let Some(&p) = parent.get(path.last().expect("non-empty")) {
                        path.push(p);
                    }
                    path.reverse();
                    path.push(start);
                    return path.into_iter().map(|i| self.names[i].clone()).collect();
                }
                if to != start && !parent.contains_key(&to) {
                    parent.insert(to, at);
                    queue.push_back(to);
                }
            }
        }
        unreachable!("a strongly connected component has a cycle through each member")
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the graph has no components.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Component names, in insertion order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The index of a component.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// What component `idx` depends on, with edge kinds.
    pub fn dependencies(&self, idx: usize) -> &[(usize, EdgeKind)] {
        &self.deps[idx]
    }

    /// What depends on component `idx`, with edge kinds.
    pub fn dependents(&self, idx: usize) -> &[(usize, EdgeKind)] {
        &self.dependents[idx]
    }

    /// The dependents that must be down before component `idx` stops: every dependent,
    /// except one that `uses` it from within a cycle (where waiting both ways would never
    /// end; the hard edges of the cycle still order the stop).
    pub fn stops_after(&self, idx: usize) -> impl Iterator<Item = usize> + '_ {
        self.dependents[idx]
            .iter()
            .filter(move |&&(d, kind)| kind.orders_start() || self.scc[d] != self.scc[idx])
            .map(|&(d, _)| d)
    }

    /// The cycles that go through a `uses` edge, each as a closed path of names: allowed (a
    /// component that waits for what it uses only after it is ready cannot deadlock), and
    /// warned about by `herald check`.
    pub fn lazy_cycles(&self) -> &[Vec<String>] {
        &self.lazy_cycles
    }

    /// Every edge.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        self.deps
            .iter()
            .enumerate()
            .flat_map(|(from, deps)| deps.iter().map(move |&(to, kind)| Edge { from, to, kind }))
    }

    /// Components in layers: each layer depends (by any kind) only on earlier layers, so a
    /// layer's members can start in parallel once the layers before it are up.
    pub fn layers(&self) -> Vec<Vec<String>> {
        let depth = self.depths();
        let max = depth.iter().copied().max().map_or(0, |d| d + 1);
        let mut layers = vec![Vec::new(); max];
        for (i, &d) in depth.iter().enumerate() {
            layers[d].push(self.names[i].clone());
        }
        layers
    }

    /// A topological order: dependencies before dependents.
    pub fn topological_order(&self) -> Vec<usize> {
        let depth = self.depths();
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| (depth[i], i));
        order
    }

    /// Each component's depth along the edges that order the start (`uses` does not).
    fn depths(&self) -> Vec<usize> {
        let mut depth = vec![0usize; self.len()];
        let mut remaining: Vec<usize> = self
            .deps
            .iter()
            .map(|deps| deps.iter().filter(|(_, k)| k.orders_start()).count())
            .collect();
        let mut queue: VecDeque<usize> = (0..self.len()).filter(|&i| remaining[i] == 0).collect();
        while let Some(at) = queue.pop_front() {
            for &(dependent, kind) in &self.dependents[at] {
                if !kind.orders_start() {
                    continue;
                }
                depth[dependent] = depth[dependent].max(depth[at] + 1);
                remaining[dependent] -= 1;
                if remaining[dependent] == 0 {
                    queue.push_back(dependent);
                }
            }
        }
        depth
    }

    /// The critical path when each component takes `duration(name)` from its start to ready.
    ///
    /// A component starts once its `requires`, `binds_to` and `wants` dependencies are ready
    /// and its `after` dependencies have started, so an `after` edge adds its dependency's
    /// start time, not its duration.
    pub fn critical_path(&self, mut duration: impl FnMut(&str) -> Duration) -> CriticalPath {
        let n = self.len();
        let mut start = vec![Duration::ZERO; n];
        let mut ready = vec![Duration::ZERO; n];
        let mut via: Vec<Option<usize>> = vec![None; n];
        for i in self.topological_order() {
            for &(dep, kind) in self.deps[i].iter().filter(|(_, k)| k.orders_start()) {
                let at = if kind == EdgeKind::After {
                    start[dep]
                } else {
                    ready[dep]
                };
                if via[i].is_none() || at > start[i] {
                    start[i] = at;
                    via[i] = Some(dep);
                }
            }
            ready[i] = start[i] + duration(&self.names[i]);
        }
        let Some(last) = (0..n).max_by_key(|&i| (ready[i], std::cmp::Reverse(i))) else {
            return CriticalPath {
                total: Duration::ZERO,
                path: Vec::new(),
            };
        };
        let mut path = vec![last];
        while let Some(prev) = via[*path.last().expect("non-empty")] {
            path.push(prev);
        }
        path.reverse();
        CriticalPath {
            total: ready[last],
            path: path
                .into_iter()
                .map(|i| (self.names[i].clone(), ready[i]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ComponentSpec {
        ComponentSpec::new(name)
    }

    #[test]
    fn two_separate_cycles_are_both_named_in_full() {
        let specs = [
            spec("a").requires(["b"]),
            spec("b").wants(["c"]),
            spec("c").after(["a"]),
            spec("x").requires(["y"]),
            spec("y").binds_to(["x"]),
            spec("ok").requires(["a"]),
        ];
        let err = Graph::new(&specs).unwrap_err();
        let cycles: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            cycles,
            [
                "dependency cycle: a -> b -> c -> a",
                "dependency cycle: x -> y -> x"
            ]
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let specs = [
            spec("a").requires(["ghost"]),
            spec("a"),
            spec("b").wants(["b"]),
            spec("c").requires(["d"]),
            spec("d").requires(["c"]),
        ];
        let err = Graph::new(&specs).unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                ConfigProblem::DuplicateName { name: "a".into() },
                ConfigProblem::UnknownDependency {
                    component: "a".into(),
                    field: "requires",
                    dependency: "ghost".into()
                },
                ConfigProblem::SelfDependency {
                    component: "b".into(),
                    field: "wants"
                },
                ConfigProblem::Cycle {
                    path: vec!["c".into(), "d".into(), "c".into()]
                },
            ]
        );
    }

    #[test]
    fn cycle_takes_the_shortest_way_back() {
        let specs = [
            spec("a").requires(["b", "z"]),
            spec("b").requires(["c"]),
            spec("c").requires(["a"]),
            spec("z").requires(["a"]),
        ];
        let err = Graph::new(&specs).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].to_string(), "dependency cycle: a -> z -> a");
    }

    #[test]
    fn layers_and_order_respect_every_edge() {
        let specs = [
            spec("kubelet")
                .requires(["containerd"])
                .wants(["apiserver"]),
            spec("apiserver").requires(["etcd"]),
            spec("etcd").requires(["containerd"]),
            spec("containerd"),
            spec("proxy").after(["kubelet"]),
        ];
        let g = Graph::new(&specs).unwrap();
        assert_eq!(
            g.layers(),
            vec![
                vec!["containerd"],
                vec!["etcd"],
                vec!["apiserver"],
                vec!["kubelet"],
                vec!["proxy"]
            ]
        );
        let order = g.topological_order();
        let pos = |i: usize| order.iter().position(|&x| x == i).unwrap();
        for e in g.edges() {
            assert!(pos(e.to) < pos(e.from));
        }
    }

    #[test]
    fn critical_path_follows_the_longest_chain() {
        let specs = [
            spec("a"),
            spec("b").requires(["a"]),
            spec("c").wants(["a"]),
            spec("d").requires(["b", "c"]),
            spec("e").after(["d"]),
        ];
        let g = Graph::new(&specs).unwrap();
        let ms = |n: &str| {
            Duration::from_millis(match n {
                "a" => 10,
                "b" => 50,
                "c" => 20,
                "d" => 5,
                _ => 1,
            })
        };
        let cp = g.critical_path(ms);
        assert_eq!(cp.total, Duration::from_millis(65));
        let names: Vec<&str> = cp.path.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "d"]);
        // e starts with d (ordering only) and takes 1 ms: ready at 61 ms, not on the path.
    }
}
