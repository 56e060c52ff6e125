//! Property tests of the scheduler and the lifecycle over random DAGs of in-process tasks, with
//! restarts, stops and failures injected at random moments: every component's sequence of
//! states is legal, start order, soft dependencies, blocking with causes, no final state
//! during a restart, and shutdown order. Tokio's paused clock makes every delay exact, so the
//! properties hold regardless of machine load.

use herald::{
    Action, ComponentSpec, EdgeKind, Event, Graph, Kind, RestartPolicy, Stack, State, lifecycle,
    task,
};
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How a generated component behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// A service, ready after its delay.
    Service,
    /// A oneshot that completes after its delay.
    Oneshot,
    /// A service whose start fails, with no restart: failed for good.
    Fails,
    /// A service whose first start fails and second succeeds.
    FailsOnce,
}

#[derive(Debug, Clone)]
struct Node {
    deps: Vec<(Index, EdgeKind)>,
    /// Lazy dependencies, on any other component: earlier or later, so cycles through them
    /// happen.
    uses: Vec<Index>,
    behaviour: Behaviour,
    delay_ms: u64,
}

fn node() -> impl Strategy<Value = Node> {
    let kind = prop_oneof![
        4 => Just(EdgeKind::Requires),
        2 => Just(EdgeKind::Wants),
        1 => Just(EdgeKind::After),
        1 => Just(EdgeKind::BindsTo),
    ];
    let behaviour = prop_oneof![
        12 => Just(Behaviour::Service),
        3 => Just(Behaviour::Oneshot),
        1 => Just(Behaviour::Fails),
        1 => Just(Behaviour::FailsOnce),
    ];
    (
        prop::collection::vec((any::<Index>(), kind), 0..4),
        prop::collection::vec(any::<Index>(), 0..2),
        behaviour,
        0..40u64,
    )
        .prop_map(|(deps, uses, behaviour, delay_ms)| Node {
            deps,
            uses,
            behaviour,
            delay_ms,
        })
}

/// A control injected while the stack runs: at `at_ms` after the start, on one component,
/// a restart, or a stop followed `gap_ms` later by a start.
#[derive(Debug, Clone)]
struct Poke {
    at_ms: u64,
    target: Index,
    stop_for_ms: Option<u64>,
}

fn poke() -> impl Strategy<Value = Poke> {
    (0..150u64, any::<Index>(), prop::option::of(0..60u64)).prop_map(
        |(at_ms, target, stop_for_ms)| Poke {
            at_ms,
            target,
            stop_for_ms,
        },
    )
}

/// Component `i` may depend only on components before it, so the graph of ordering edges is a
/// DAG; `uses` may point anywhere but at itself.
fn specs(nodes: &[Node]) -> Vec<ComponentSpec> {
    let n = nodes.len();
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let uses = node.uses.iter().map(|u| u.index(n)).filter(|&u| u != i);
            let mut spec = ComponentSpec::new(format!("c{i}"))
                .uses(uses.map(|u| format!("c{u}")))
                .restart_backoff(Duration::from_millis(5), Duration::from_millis(50));
            if i > 0 {
                for (index, kind) in &node.deps {
                    let dep = format!("c{}", index.index(i));
                    spec = match kind {
                        EdgeKind::Requires => spec.requires([dep]),
                        EdgeKind::Wants => spec.wants([dep]),
                        EdgeKind::After => spec.after([dep]),
                        EdgeKind::BindsTo => spec.binds_to([dep]),
                        EdgeKind::Uses => spec.uses([dep]),
                    };
                }
            }
            match node.behaviour {
                Behaviour::Oneshot => spec.kind(Kind::Oneshot),
                Behaviour::Fails => spec.restart(RestartPolicy::No),
                _ => spec,
            }
        })
        .collect()
}

fn component(node: &Node) -> herald::Task {
    let delay = Duration::from_millis(node.delay_ms);
    let behaviour = node.behaviour;
    let runs = Arc::new(AtomicU32::new(0));
    task(move |ctx| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            match behaviour {
                Behaviour::Fails => return Err("refused".into()),
                Behaviour::FailsOnce if run == 0 => return Err("first start refused".into()),
                Behaviour::Oneshot => return Ok(()),
                _ => {}
            }
            ctx.ready();
            ctx.stopped().await;
            Ok(())
        }
    })
}

/// What each component must end up as: failed, blocked (by a hard dependency), or up.
fn expected(graph: &Graph, nodes: &[Node]) -> Vec<State> {
    let mut out = vec![State::Waiting; nodes.len()];
    for i in graph.topological_order() {
        let blocked = graph
            .dependencies(i)
            .iter()
            .any(|&(d, kind)| kind.is_hard() && out[d].is_failed());
        out[i] = if blocked {
            State::Blocked
        } else if nodes[i].behaviour == Behaviour::Fails {
            State::Failed
        } else if nodes[i].behaviour == Behaviour::Oneshot {
            State::Completed
        } else {
            State::Ready
        };
    }
    out
}

struct Run {
    /// The components a stop was injected on.
    stopped: Vec<usize>,
    graph: Graph,
    finals: Vec<State>,
    errors: Vec<Option<herald::ReadinessError>>,
    events: Vec<Event>,
    shutdown_at: usize,
}

fn run(nodes: &[Node], pokes: &[Poke]) -> Run {
    let specs = specs(nodes);
    let stopped = pokes
        .iter()
        .filter(|p| p.stop_for_ms.is_some())
        .map(|p| p.target.index(nodes.len()))
        .collect();
    let graph = Graph::new(&specs).expect("generated graphs are acyclic");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut stack = Stack::new();
        let mut events = stack.subscribe();
        for (spec, node) in specs.into_iter().zip(nodes) {
            stack.add(spec, component(node));
        }
        let running = stack.start().unwrap();
        let poking = futures_util::future::join_all(pokes.iter().map(|p| {
            let name = format!("c{}", p.target.index(nodes.len()));
            let running = &running;
            async move {
                tokio::time::sleep(Duration::from_millis(p.at_ms)).await;
                match p.stop_for_ms {
                    None => running.act(&name, Action::Restart).await.unwrap(),
                    Some(gap) => {
                        running.act(&name, Action::Stop).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(gap)).await;
                        running.act(&name, Action::Start).await.unwrap();
                    }
                }
            }
        }));
        let settled = async {
            poking.await;
            for signal in running.signals() {
                signal
                    .wait_for(|s| s.state.is_up() || s.state.is_failed())
                    .await;
            }
        };
        tokio::time::timeout(Duration::from_secs(3600), settled)
            .await
            .expect("every component settles");
        let statuses = running.statuses();
        let mut all = Vec::new();
        while let Some(event) = events.try_recv() {
            all.push(event);
        }
        let shutdown_at = all.len();
        running.shutdown().await;
        while let Some(event) = events.recv().await {
            all.push(event);
        }
        Run {
            stopped,
            graph,
            finals: statuses.iter().map(|(_, s)| s.state).collect(),
            errors: statuses
                .iter()
                .map(|(_, s)| s.error.as_deref().cloned())
                .collect(),
            events: all,
            shutdown_at,
        }
    })
}

fn idx(name: &str) -> usize {
    name[1..].parse().unwrap()
}

/// The state of each component just before event `k`.
fn states_before(events: &[Event], n: usize) -> Vec<Vec<State>> {
    let mut now = vec![State::Waiting; n];
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        out.push(now.clone());
        now[idx(&event.component)] = event.state;
    }
    out
}

fn check(nodes: &[Node], pokes: &[Poke]) {
    let run = run(nodes, pokes);
    let n = nodes.len();
    let g = &run.graph;

    // Every component's sequence of states is a walk through the lifecycle table.
    for i in 0..n {
        let name = format!("c{i}");
        let states: Vec<State> = run
            .events
            .iter()
            .filter(|e| *e.component == *name)
            .map(|e| e.state)
            .collect();
        if let Err((from, to)) = lifecycle::check_sequence(&states) {
            panic!("{name}: {from} -> {to} in {states:?}");
        }
    }

    // Events are numbered in order, from 1, with no gap.
    for (k, event) in run.events.iter().enumerate() {
        assert_eq!(event.seq, k as u64 + 1, "{event:?}");
    }

    // No final state during a restart: a service that cannot fail (nor any of its hard
    // dependencies) and was never stopped shows none until the stack shuts down, however
    // often it or its dependencies were restarted.
    let sound = sound(g, nodes);
    for event in &run.events[..run.shutdown_at] {
        let i = idx(&event.component);
        if sound[i] && !run.stopped.contains(&i) && nodes[i].behaviour == Behaviour::Service {
            assert!(
                !event.state.is_down(),
                "c{i} was {} before the shutdown",
                event.state
            );
        }
    }

    // Final states: failures are final, hard dependents blocked, soft ones never.
    let want = expected(g, nodes);
    let wrong: Vec<String> = (0..n)
        .filter(|&i| run.finals[i] != want[i])
        .map(|i| format!("c{i} is {} but should be {}", run.finals[i], want[i]))
        .collect();
    assert!(wrong.is_empty(), "final states: {wrong:?}");

    // Blocked carries its cause: a hard dependency that failed or is blocked, down to a root
    // that really failed.
    for (i, error) in run.errors.iter().enumerate() {
        if run.finals[i] != State::Blocked {
            continue;
        }
        let error = error.as_ref().expect("blocked has an error");
        let dep = g.index_of(&error.target).expect("cause names a component");
        assert!(
            g.dependencies(i).contains(&(dep, EdgeKind::Requires))
                || g.dependencies(i).contains(&(dep, EdgeKind::BindsTo)),
            "c{i} blocked by c{dep}, which is not a hard dependency"
        );
        assert!(run.finals[dep].is_failed());
        let root = error.root();
        assert_eq!(nodes[idx(&root.component)].behaviour, Behaviour::Fails);
        assert_eq!(root.reason, "refused");
    }

    // Start order: at each start, hard deps are up, soft deps settled, ordering deps started.
    let before = states_before(&run.events, n);
    for (k, event) in run.events.iter().enumerate() {
        if event.state != State::Starting {
            continue;
        }
        let i = idx(&event.component);
        for &(d, kind) in g.dependencies(i) {
            let s = before[k][d];
            let ok = match kind {
                EdgeKind::Requires | EdgeKind::BindsTo => s.is_up(),
                EdgeKind::Wants => !matches!(s, State::Waiting | State::Starting),
                EdgeKind::After => s != State::Waiting,
                EdgeKind::Uses => true,
            };
            assert!(
                ok,
                "c{i} started while its {kind:?} dependency c{d} was {s}"
            );
        }
    }

    // A component whose only dependencies are lazy starts at once.
    for event in &run.events {
        let i = idx(&event.component);
        let lazy_only = g.dependencies(i).iter().all(|&(_, k)| k == EdgeKind::Uses);
        if event.state == State::Starting && lazy_only && event.seq == first_start(&run.events, i) {
            assert_eq!(event.waited, Some(Duration::ZERO), "c{i} waited: {event:?}");
            assert_eq!(event.released_by, None, "c{i}: {event:?}");
        }
    }

    // Shutdown order: a component begins to stop only after every dependent is down, users
    // of it included (but for a user within a cycle, where the wait would never end).
    for (k, event) in run.events.iter().enumerate().skip(run.shutdown_at) {
        if !matches!(event.state, State::Stopping | State::Stopped) {
            continue;
        }
        let i = idx(&event.component);
        let must_wait = g
            .dependents(i)
            .iter()
            .filter(|&&(d, kind)| kind != EdgeKind::Uses || !reaches(g, i, d))
            .map(|&(d, _)| d);
        for dependent in must_wait {
            let s = before[k][dependent];
            assert!(
                s.is_down(),
                "c{i} {} while its dependent c{dependent} was {s}",
                event.state
            );
        }
    }
    // And everything ends down.
    let mut last = run.finals.clone();
    for event in &run.events[run.shutdown_at..] {
        last[idx(&event.component)] = event.state;
    }
    for (i, s) in last.iter().enumerate() {
        assert!(s.is_down(), "c{i} ended {s}");
    }
}

/// The `seq` of component `i`'s first `starting` event.
fn first_start(events: &[Event], i: usize) -> u64 {
    let name = format!("c{i}");
    events
        .iter()
        .find(|e| *e.component == *name && e.state == State::Starting)
        .map_or(0, |e| e.seq)
}

/// Whether `to` can be reached from `from` along dependencies of any kind.
fn reaches(graph: &Graph, from: usize, to: usize) -> bool {
    let mut seen = vec![false; graph.len()];
    let mut todo = vec![from];
    while let Some(at) = todo.pop() {
        if at == to {
            return true;
        }
        if !std::mem::replace(&mut seen[at], true) {
            todo.extend(graph.dependencies(at).iter().map(|&(d, _)| d));
        }
    }
    false
}

/// Whether each component can never fail, nor be blocked: no failing behaviour in it or in
/// any of its hard dependencies, transitively.
fn sound(graph: &Graph, nodes: &[Node]) -> Vec<bool> {
    let mut out = vec![false; nodes.len()];
    for i in graph.topological_order() {
        let fails = matches!(nodes[i].behaviour, Behaviour::Fails | Behaviour::FailsOnce);
        out[i] = !fails
            && graph
                .dependencies(i)
                .iter()
                .all(|&(d, kind)| !kind.is_hard() || out[d]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn small_random_dags(nodes in prop::collection::vec(node(), 1..40)) {
        check(&nodes, &[]);
    }

    #[test]
    fn small_random_dags_with_restarts_and_stops(
        nodes in prop::collection::vec(node(), 1..30),
        pokes in prop::collection::vec(poke(), 1..8),
    ) {
        check(&nodes, &pokes);
    }

    #[test]
    fn large_random_dags(nodes in prop::collection::vec(node(), 150..300)) {
        check(&nodes, &[]);
    }
}
