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

/// `herald ARGS` in `dir` (an `up -d`, whose waiting could last for ever if the stack were
/// wrong), bounded by 60 s and killed past them: its exit code (`None` when it did not finish
/// in time) and its standard error.
pub fn bounded(dir: &Path, args: &[&str]) -> (Option<Option<i32>>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_FILE")
        .env_remove("HERALD_PROFILES")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the herald binary runs");
    let mut code = None;
    eventually(Duration::from_secs(60), || {
        code = child.try_wait().expect("a child").map(|s| s.code());
        code.is_some()
    });
    if code.is_none() {
        let _ = child.kill();
    }
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
    }
    let _ = child.wait();
    (code, err)
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

/// The unprivileged user the tests run things as, `herald-other` (uid, gid), created with
/// `useradd` when missing, and a member of the group `herald-extra`; `None` (and why) when
/// not root. Test programs run at once, so a lost race for the user database is retried.
pub fn other_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: creating another user needs root");
        return None;
    }
    let (name, extra) = ("herald-other", "herald-extra");
    let found = |what: &str, args: &[&str]| {
        Command::new(what)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let member = || {
        let out = Command::new("id").args(["-nG", name]).output().unwrap();
        out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|g| g == extra)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !member() {
        assert!(
            Instant::now() < deadline,
            "cannot create {name} in group {extra}"
        );
        if !found("getent", &["group", extra]) {
            let _ = Command::new("groupadd").args(["--system", extra]).output();
        } else if !found("id", &["-u", name]) {
            let args = [
                "--system",
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "-G",
                extra,
                name,
            ];
            let _ = Command::new("useradd").args(args).output();
        } else {
            let _ = Command::new("usermod").args(["-aG", extra, name]).output();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(name).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}
