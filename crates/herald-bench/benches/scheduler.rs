//! The engine's own cost: 10,000 in-process task components in a random DAG.
//!
//! `ready_at_once`: every task is ready the moment it runs, so the critical path is zero and the
//! whole time is engine overhead; divide by 10,000 for the per-component cost.
//! `with_delays`: every task takes 0 to 3 ms; the bench prints the critical path once, so the
//! overhead is the measured time minus that.

use herald::{ComponentSpec, Graph, Stack, task};
use std::time::Duration;

fn main() {
    divan::main();
}

const N: usize = 10_000;

/// A random DAG in `depth` layers: each component needs up to three components of earlier
/// layers (two hard, one soft), so the longest chain has `depth` links.
fn random_dag(n: usize, depth: usize, seed: u64) -> Vec<(ComponentSpec, Duration)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let per_layer = n.div_ceil(depth);
    (0..n)
        .map(|i| {
            let layer = i / per_layer;
            let mut spec = ComponentSpec::new(format!("c{i}"));
            if layer > 0 {
                let earlier = layer * per_layer;
                let previous = (layer - 1) * per_layer..earlier;
                spec = spec.requires([format!("c{}", rng.usize(previous))]);
                if rng.bool() {
                    spec = spec.requires([format!("c{}", rng.usize(0..earlier))]);
                }
                if rng.u8(0..4) == 0 {
                    spec = spec.wants([format!("c{}", rng.usize(0..earlier))]);
                }
            }
            spec.requires.dedup();
            (spec, Duration::from_micros(rng.u64(0..3_000)))
        })
        .collect()
}

fn stack(dag: &[(ComponentSpec, Duration)], delays: bool) -> Stack {
    let mut stack = Stack::new();
    for (spec, delay) in dag {
        let delay = if delays { *delay } else { Duration::ZERO };
        stack.add(
            spec.clone(),
            task(move |ctx| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                ctx.ready();
                ctx.stopped().await;
                Ok(())
            }),
        );
    }
    stack
}

/// The multi-thread runtime, or a current-thread one with `HERALD_BENCH_RUNTIME=current`.
fn runtime() -> tokio::runtime::Runtime {
    let mut builder = if std::env::var("HERALD_BENCH_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build().expect("runtime")
}

/// Start until every component is ready; the shutdown is outside the measured time.
fn start(bencher: divan::Bencher, delays: bool) {
    let dag = random_dag(N, 20, 7);
    if delays {
        let specs: Vec<ComponentSpec> = dag.iter().map(|(s, _)| s.clone()).collect();
        let graph = Graph::new(&specs).expect("acyclic");
        let by_name: std::collections::HashMap<&str, Duration> =
            dag.iter().map(|(s, d)| (s.name.as_str(), *d)).collect();
        let critical = graph.critical_path(|name| by_name[name]);
        eprintln!(
            "critical path of the delayed DAG: {:.1} ms over {} components",
            critical.total.as_secs_f64() * 1000.0,
            critical.path.len()
        );
    }
    // A fresh runtime per sample, so no earlier sample's shutdown runs during this one.
    bencher
        .with_inputs(|| (runtime(), stack(&dag, delays)))
        .bench_local_values(|(rt, stack)| {
            let running = rt.block_on(async move {
                let running = stack.start().expect("valid graph");
                running.wait_all().await.expect("all ready");
                running
            });
            (rt, running)
        });
}

#[divan::bench(sample_count = 10)]
fn ready_at_once(bencher: divan::Bencher) {
    start(bencher, false);
}

#[divan::bench(sample_count = 10)]
fn with_delays(bencher: divan::Bencher) {
    start(bencher, true);
}
