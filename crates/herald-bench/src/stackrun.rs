//! `herald-bench stack FILE --events PATH`: runs a stack file through herald's library (as
//! `herald up` would) until SIGTERM or SIGINT, then writes each state change with its
//! CLOCK_MONOTONIC time (`Event.at`), and the probes spent on each component.
//!
//! Event lines: `<ns> <component> <state>`; probe lines: `probes <component> <n>`.

use crate::procfs::monotonic_ns;
use herald::{ProcessHost, Stack};
use std::path::Path;
use std::time::Instant;
use tokio::signal::unix::{SignalKind, signal};

/// Runs the stack file at `file`, writing its events to `events` once it has stopped.
pub fn run(file: &Path, events: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(file, events))
}

async fn run_async(file: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stack_file = herald_cli::stackfile::load(file).map_err(|d| {
        let problems: Vec<String> = d.iter().map(|p| p.message.clone()).collect();
        format!("{}: {}", d.file(), problems.join("; "))
    })?;
    let host = ProcessHost::new(&stack_file.state_dir)?;
    let mut stack = Stack::new();
    for spec in &stack_file.components {
        let process = host.process(spec)?;
        stack.add(spec.clone(), process);
    }
    let mut events = stack.subscribe();
    let (anchor, anchor_ns) = (Instant::now(), monotonic_ns());
    let running = stack.start()?;
    let writer = tokio::spawn(async move {
        let mut lines = String::new();
        while let Some(e) = events.recv().await {
            let ns = if e.at >= anchor {
                anchor_ns + (e.at - anchor).as_nanos() as u64
            } else {
                anchor_ns - (anchor - e.at).as_nanos() as u64
            };
            lines.push_str(&format!("{ns} {} {}\n", e.component, e.state));
        }
        lines
    });
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let mut probes = String::new();
    for spec in &stack_file.components {
        let n = running.probes_spent(&spec.name).unwrap_or(0);
        probes.push_str(&format!("probes {} {n}\n", spec.name));
    }
    running.shutdown().await;
    drop(running);
    let lines = writer.await?;
    std::fs::write(out, lines + &probes)?;
    Ok(())
}
