//! The cost of `herald analyze` on a 1,000-component run: a real run of in-process tasks
//! (the suite's layered random DAG, depth 20, each ready 0 to 3 ms after it starts) is made
//! once and written as an event log; each sample reads that log back and analyses it.
//!
//! `read_and_summarise` is `herald analyze time` without the process start: parse every
//! line, build the timeline, the summary (with the critical chain), blame and the chain of
//! the last component. `trace` and `plot` add the Chrome trace and the SVG.

use herald::{BlameOrder, Record, RunHeader, Timeline};
use herald_bench::scenario::Scenario;
use herald_bench::suite;
use std::sync::OnceLock;
use std::time::Duration;

fn main() {
    divan::main();
}

const N: usize = 1_000;

/// The event log of one real run of `N` components, as `events.jsonl` holds it.
fn log() -> &'static str {
    static LOG: OnceLock<String> = OnceLock::new();
    LOG.get_or_init(|| {
        let specs = Scenario::dag(N, 20, Duration::ZERO, 7).specs();
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..N)
            .map(|_| Duration::from_micros(rng.u64(0..3_000)))
            .collect();
        let mut stack = suite::tasks(specs, |i| delays[i]);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let header = RunHeader::new("bench", &stack.graph().expect("valid"), 1, 0);
            let mut events = stack.subscribe();
            let running = stack.start().expect("valid");
            running.wait_all().await.expect("all ready");
            running.shutdown().await;
            // The whole run, its stop included, as the log has it.
            let mut text = serde_json::to_string(&Record::Run(header)).unwrap() + "\n";
            while let Some(event) = events.recv().await {
                text.push_str(&serde_json::to_string(&Record::Event(event)).unwrap());
                text.push('\n');
            }
            text
        })
    })
}

fn timeline(text: &str) -> Timeline {
    let records: Vec<Record> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Timeline::from_records(&records, None).expect("one run")
}

#[divan::bench]
fn read_and_summarise(bencher: divan::Bencher) {
    let text = log();
    let lines = text.lines().count();
    assert!(
        lines > 4 * N,
        "every component started, was ready and stopped: {lines} lines"
    );
    bencher.bench(|| {
        let timeline = timeline(divan::black_box(text));
        let summary = timeline.summary();
        let blame = timeline.blame(BlameOrder::Total);
        let last = summary.last.clone().expect("a last component");
        let chain = timeline.chain(&last).expect("known");
        (summary, blame.len(), chain.links.len())
    });
}

#[divan::bench]
fn trace(bencher: divan::Bencher) {
    let timeline = timeline(log());
    bencher.bench(|| serde_json::to_string(&timeline.trace()).unwrap().len());
}

#[divan::bench]
fn plot(bencher: divan::Bencher) {
    let timeline = timeline(log());
    bencher.bench(|| timeline.plot_svg().len());
}
