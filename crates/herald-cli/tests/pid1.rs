//! herald as a container's init: `herald up` as PID 1 of a new pid namespace (`unshare
//! --pid --fork --mount-proc`) reaps the zombies of orphaned grandchildren, takes SIGTERM as
//! a stop (dependents first), and exits with the stack's outcome.
//!
//! Needs root (a new pid namespace) and `unshare` (util-linux); skipped with the reason
//! otherwise.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const STACK: &str = r#"
[components.db]
# Leaves an orphan behind ten times a second: each becomes herald's zombie when it exits.
command = ["sh", "-c", "while :; do (sleep 0.05 &); sleep 0.1; done"]

[components.web]
command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
requires = ["db"]
"#;

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: cannot make a pid namespace".into());
    }
    let found = Command::new("sh")
        .args(["-c", "command -v unshare"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!found).then(|| "unshare (util-linux) is not installed".into())
}

/// The children of `pid` and whether each is a zombie.
fn children(pid: u32) -> Vec<(u32, bool)> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in list
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            found.push((child, zombie));
        }
    }
    found
}

#[test]
fn herald_as_pid_1_reaps_orphans_and_stops_on_sigterm() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("herald.toml"), STACK).unwrap();
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_herald"))
        .arg("up")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, output) = mpsc::channel();
    let progress = unshare.stderr.take().unwrap(); // herald's progress lines
    std::thread::spawn(move || {
        for line in BufReader::new(progress).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen
        .iter()
        .any(|l: &String| l.contains("web") && l.contains("ready"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match output.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = unshare.kill();
                panic!("the stack never came up: {seen:?}");
            }
        }
    }
    // herald is the only child of unshare, and PID 1 of its namespace.
    let herald = children(unshare.id())[0].0;
    let status = std::fs::read_to_string(format!("/proc/{herald}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");

    // db leaves ten orphans a second; none stays a zombie.
    std::thread::sleep(Duration::from_millis(1500));
    let first: Vec<u32> = children(herald)
        .into_iter()
        .filter(|&(_, zombie)| zombie)
        .map(|(pid, _)| pid)
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let lingering: Vec<u32> = children(herald)
        .into_iter()
        .filter(|&(pid, zombie)| zombie && first.contains(&pid))
        .map(|(pid, _)| pid)
        .collect();
    assert!(lingering.is_empty(), "zombies not reaped: {lingering:?}");

    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(herald as i32, libc::SIGTERM) };
    let status = unshare.wait().unwrap();
    seen.extend(output.try_iter());
    assert!(status.success(), "{status:?}: {seen:?}");
    let at = |what: &str| seen.iter().position(|l| l.contains(what));
    let (web, db) = (at("web stopping"), at("db  stopping"));
    assert!(web.is_some() && db.is_some() && web < db, "{seen:?}");
}
