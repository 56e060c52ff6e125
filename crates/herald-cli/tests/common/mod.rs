//! Running the real `herald` binary from the crate's folder.

#![allow(dead_code)]

pub mod stack;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The quickstart stack, relative to the crate's folder.
pub const QUICKSTART: &str = "../../examples/quickstart";

/// `herald ARGS` run in the crate's folder, with no stack file from the environment.
pub fn herald(args: &[&str]) -> Output {
    herald_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// `herald ARGS` run in `dir`.
pub fn herald_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_FILE")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .expect("the herald binary runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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

/// Checks `check` until it holds or `limit` passes; whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
