//! The engine's own cost: 10,000 in-process task components in a random DAG.
//!
//! `ready_at_once`: every task is ready the moment it runs, so the critical path is zero and the
//! whole time is engine overhead; divide by 10,000 for the per-component cost.
//! `with_delays`: every task takes 0 to 3 ms; the bench prints the critical path once, so the
//! overhead is the measured time minus that.

use herald::{ComponentSpec, Graph, Stack};
use herald_bench::scenario::Scenario;
use herald_bench::suite;
use std::time::Duration;

fn main() {
    divan::main();
}

const N: usize = 10_000;

/// The layered random DAG of the suite's tasks10k (depth 20), with a start delay of 0 to 3 ms
/// per component for `with_delays`.
fn random_dag(n: usize, depth: usize, seed: u64) -> (Vec<ComponentSpec>, Vec<Duration>) {
    let specs = Scenario::dag(n, depth, Duration::ZERO, seed).specs();
    let mut rng = fastrand::Rng::with_seed(seed);
    let delays = (0..n)
        .map(|_| Duration::from_micros(rng.u64(0..3_000)))
        .collect();
    (specs, delays)
}

fn stack(dag: &(Vec<ComponentSpec>, Vec<Duration>), delays: bool) -> Stack {
    let (specs, by_index) = dag;
    suite::tasks(specs.clone(), |i| {
        if delays { by_index[i] } else { Duration::ZERO }
    })
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
        let (specs, delays) = &dag;
        let graph = Graph::new(specs).expect("acyclic");
        let by_name: std::collections::HashMap<&str, Duration> = specs
            .iter()
            .zip(delays)
            .map(|(s, d)| (s.name.as_str(), *d))
            .collect();
        let critical = graph.critical_path(|name| by_name[name]);
        eprintln!(
            "critical path of the delayed DAG: {:.1} ms over {} components",
            critical.total.as_secs_f64() * 1000.0,
            critical.path.len()
        );
    }
    // A fresh runtime per sample, so no earlier sample's shutdown runs during this one.
    // Counting the components makes divan report the cost per component too.
    bencher
        .counter(divan::counter::ItemsCount::new(N))
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
