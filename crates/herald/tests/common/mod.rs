//! Shared helpers for the tests: the fixture program, pid checks, bounded waits, and the
//! in-process service task most engine tests use.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `herald-fixture` binary, built once per test binary into its own target folder (so
/// the build never waits on the lock of the build that runs the tests).
pub fn fixture() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|dir| root.join(dir))
            .unwrap_or_else(|| root.join("target"))
            .join("herald-fixture");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--package",
                "herald-fixture",
                "--target-dir",
            ])
            .arg(&target)
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building herald-fixture failed");
        target.join("debug").join("herald-fixture")
    })
    .clone()
}

/// The fixture's argv with `args`.
pub fn fixture_cmd(args: &[&str]) -> Vec<String> {
    std::iter::once(fixture().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
}

/// Whether `pid` is a live process (a zombie counts as dead).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Whether `/proc/<pid>` still exists (alive or a zombie).
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `check` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a pidfile once it lists `count` pids.
pub fn read_pids(path: &Path, count: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    let found = eventually(Duration::from_secs(20), || {
        pids = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() >= count
    });
    assert!(found, "{} never listed {count} pids", path.display());
    pids
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock `Instant` uses on Linux).
pub fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// An `Instant` on the CLOCK_MONOTONIC nanosecond scale.
pub fn instant_ns(at: Instant) -> u128 {
    let (now, ns) = (Instant::now(), monotonic_ns());
    ns - now.duration_since(at).as_nanos()
}

/// Milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A service task that is ready after `delay` and runs until stopped.
pub fn service(delay: Duration) -> herald::Task {
    herald::task(move |ctx| async move {
        tokio::time::sleep(delay).await;
        ctx.ready();
        ctx.stopped().await;
        Ok(())
    })
}
