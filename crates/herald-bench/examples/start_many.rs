//! Starts N in-process components in a chain of layers and stops them: a workload for
//! profilers (`valgrind --tool=callgrind`), where wall-clock benchmarks are too noisy.
//!
//! `cargo run --release -p herald-bench --example start_many -- 2000`

use herald::{ComponentSpec, Stack, task};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut stack = Stack::new();
        for i in 0..n {
            let mut spec = ComponentSpec::new(format!("c{i}"));
            if i >= 100 {
                spec = spec.requires([format!("c{}", i - 100)]);
            }
            stack.add(
                spec,
                task(|ctx| async move {
                    ctx.ready();
                    ctx.stopped().await;
                    Ok(())
                }),
            );
        }
        let began = std::time::Instant::now();
        let running = stack.start().expect("valid graph");
        running.wait_all().await.expect("all ready");
        let up = began.elapsed();
        running.shutdown().await;
        eprintln!(
            "{n} components up in {up:?}, stopped after {:?}",
            began.elapsed()
        );
    });
}
