//! Detection latency: from the moment a component is truly ready (as the fixture records it,
//! CLOCK_MONOTONIC) to the moment herald's event says `ready`, for the notify and tcp checks,
//! with the probes herald spent. The tcp check is measured for a component ready 20 ms after
//! its start and for one ready after 300 ms (the shared dependency of fan50), since probe
//! spacing grows with the time already waited.
//!
//! ```sh
//! cargo build --release -p herald-fixture
//! cargo run --release -p herald-bench --example detection -- 100
//! ```

use herald::probe::TcpProbe;
use herald::{Check, ComponentSpec, ProcessHost, ReadySpec, Stack, State};
use herald_bench::procfs::monotonic_ns;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100);
    let fixture = fixture()?;
    let rt = tokio::runtime::Runtime::new()?;
    println!("| check | ready after | runs | median | p99 | worst | probes per start |");
    println!("|---|---|---|---|---|---|---|");
    for (via, after) in [("notify", 20), ("tcp", 20), ("tcp", 300)] {
        let after = Duration::from_millis(after);
        let mut latencies = Vec::with_capacity(runs);
        let mut probes = 0u64;
        for _ in 0..runs {
            let (latency, spent) = rt.block_on(measure(&fixture, via, after))?;
            latencies.push(latency);
            probes += u64::from(spent);
        }
        let ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let summary = herald_bench::stats::Summary::of(&ms).ok_or("no runs")?;
        println!(
            "| {via} | {} | {runs} | {} | {} | {} | {:.1} |",
            herald::format_duration(after),
            us(summary.p50),
            us(summary.p99),
            us(summary.max),
            probes as f64 / runs as f64
        );
    }
    Ok(())
}

/// One start of one fixture component: (truly ready -> herald knows, probes spent).
async fn measure(
    fixture: &Path,
    via: &str,
    after: Duration,
) -> Result<(Duration, u32), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let record = dir.path().join("ready.ns");
    let host = ProcessHost::new(dir.path().join("state"))?;
    let mut ready = ReadySpec::default();
    let via_arg = if via == "notify" {
        ready.add(Check::Notify);
        "notify".to_string()
    } else {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        ready.add(Check::Tcp(TcpProbe::new(format!("127.0.0.1:{port}"))?));
        format!("tcp:{port}")
    };
    let spec = ComponentSpec::new("fixture")
        .command([
            fixture.display().to_string(),
            "--ready-after".into(),
            format!("{}us", after.as_micros()),
            "--via".into(),
            via_arg,
            "--record".into(),
            record.display().to_string(),
        ])
        .ready(ready)
        .stop_timeout(Duration::from_secs(2));
    let component = host.process(&spec).map_err(|p| p.to_string())?;
    let mut stack = Stack::new();
    let mut events = stack.subscribe();
    stack.add(spec, component);
    // Both clocks at once, to place `Event::at` (an Instant) on the fixture's clock.
    let (base, base_ns) = (Instant::now(), u128::from(monotonic_ns()));
    let running = stack.start()?;
    let ready_at = loop {
        let event = events
            .recv()
            .await
            .ok_or("the stack ended before it was ready")?;
        match event.state {
            State::Ready => break event.at,
            State::Failed | State::Restarting => return Err(format!("{:?}", event.error).into()),
            _ => {}
        }
    };
    let spent = running.probes_spent("fixture").unwrap_or(0);
    // The fixture writes its record just after it signals, so herald may know first.
    for _ in 0..500 {
        if record.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    running.shutdown().await;
    let known_ns = base_ns + ready_at.duration_since(base).as_nanos();
    let truly_ns: u128 = std::fs::read_to_string(&record)?.trim().parse()?;
    let latency = Duration::from_nanos(known_ns.saturating_sub(truly_ns).try_into()?);
    Ok((latency, spent))
}

/// The fixture built by `cargo build --release -p herald-fixture`, beside this example's folder.
fn fixture() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("herald-fixture"))
        .filter(|p| p.exists())
        .ok_or("herald-fixture not found: run `cargo build --release -p herald-fixture` first")?;
    Ok(path)
}

fn us(ms: f64) -> String {
    format!("{:.0} µs", ms * 1000.0)
}
