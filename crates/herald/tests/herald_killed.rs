//! Children must not outlive herald, even when herald is killed with SIGKILL and a component
//! has grandchildren that ignore SIGTERM.
//!
//! The test runs this same test binary again as "herald" (the `stack_host` test, which does
//! nothing unless `HERALD_TEST_STACK_DIR` is set), kills it with SIGKILL once its stack is up,
//! and checks that every process of the stack dies.

mod common;

use common::{alive, eventually, fixture_cmd, read_pids};
use herald::{ComponentSpec, ProcessHost, Stack};
use std::process::{Command, Stdio};
use std::time::Duration;

const STACK_DIR: &str = "HERALD_TEST_STACK_DIR";

/// The stack host: starts two components with grandchildren, then waits to be killed.
#[test]
fn stack_host() {
    let Some(dir) = std::env::var_os(STACK_DIR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = ProcessHost::new(dir.join("state")).unwrap();
        let mut stack = Stack::new();
        for name in ["a", "b"] {
            let pidfile = dir.join(format!("{name}.pids"));
            let spec = ComponentSpec::new(name).command(fixture_cmd(&[
                "--ignore-sigterm",
                "--grandchildren",
                "2",
                "--pidfile",
                pidfile.to_str().unwrap(),
                "--hang",
            ]));
            stack.add(spec.clone(), host.process(&spec).unwrap());
        }
        let running = stack.start().unwrap();
        running.wait_all().await.unwrap();
        std::fs::write(dir.join("up"), b"up").unwrap();
        std::future::pending::<()>().await;
    });
}

/// The guardian among `herald`'s children, if one runs.
fn guardian_of(herald: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{herald}/task")).ok()?;
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in list
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("herald-guardian") && alive(child) {
                return Some(child);
            }
        }
    }
    None
}

#[test]
fn no_child_outlives_a_killed_herald() {
    killed(false);
}

#[test]
fn a_killed_guardian_is_replaced_and_still_nothing_outlives_herald() {
    killed(true);
}

/// Runs the stack host, kills its guardian first if asked (a new one must take over), then
/// kills the host with SIGKILL: every process of the stack must die.
fn killed(guardian_first: bool) {
    if std::env::var_os(STACK_DIR).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Build the fixture here, so the stack host does not have to.
    common::fixture();
    let mut herald = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stack_host", "--nocapture", "--test-threads=1"])
        .env(STACK_DIR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let up = eventually(Duration::from_secs(30), || dir.path().join("up").exists());
    if !up {
        let _ = herald.kill();
        panic!("the stack never came up");
    }
    let mut pids = read_pids(&dir.path().join("a.pids"), 3);
    pids.extend(read_pids(&dir.path().join("b.pids"), 3));
    assert!(pids.iter().all(|&p| alive(p)));

    if guardian_first {
        let old = guardian_of(herald.id()).expect("a guardian runs");
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(old as i32, libc::SIGKILL) };
        let replaced = eventually(Duration::from_secs(10), || {
            guardian_of(herald.id()).is_some_and(|new| new != old)
        });
        assert!(replaced, "no new guardian took over from {old}");
    }

    herald.kill().unwrap(); // SIGKILL: no cleanup code of herald's runs
    herald.wait().unwrap();
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(10), || !alive(pid)),
            "pid {pid} outlived herald"
        );
    }
}
