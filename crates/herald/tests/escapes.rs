//! No process escapes: each way a component's processes try to leave it, checked after a
//! normal stop and after SIGKILL of the supervisor (mid-start too, at random instants), with
//! cgroups (where the host has a writable cgroup v2 hierarchy, as root) and without them
//! (`HERALD_CGROUPS=off`: process groups and run tokens).
//!
//! Each case runs this same test binary again as the supervisor (the `stack_host` test, which
//! does nothing unless `HERALD_TEST_ESCAPE_DIR` is set). Every process a case starts has a
//! marker unique to the case in its command line (`sleep 1001.<marker>`), so "no process
//! left" is: no live process with the marker anywhere in `/proc`.

mod common;

use common::eventually;
use herald::{ComponentSpec, ProcessHost, ReadySpec, Stack};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DIR: &str = "HERALD_TEST_ESCAPE_DIR";
const CASE: &str = "HERALD_TEST_ESCAPE_CASE";
const MARK: &str = "HERALD_TEST_ESCAPE_MARK";

/// Sends its arguments up to `--`, one a line, as one datagram to `$NOTIFY_SOCKET`, then runs
/// the command after `--` in its place (so the sender is still there when herald reads the
/// message, as a daemon that notifies is).
const NOTIFY_PY: &str = "import os, socket, sys\n\
    args = sys.argv[1:]\n\
    cut = args.index('--') if '--' in args else len(args)\n\
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
    s.sendto('\\n'.join(args[:cut]).encode(), os.environ['NOTIFY_SOCKET'])\n\
    if args[cut + 1:]:\n    os.execvp(args[cut + 1], args[cut + 1:])\n";

/// Forks a child that leaves for a process group of its own and forks the sleeper, then
/// becomes a sleeper itself.
const DOUBLE_FORK_PY: &str = "import os, sys\n\
    mark = sys.argv[1]\n\
    if os.fork() == 0:\n    os.setpgid(0, 0)\n    if os.fork() == 0:\n        \
    os.execvp('sleep', ['sleep', '1003.' + mark])\n    os._exit(0)\n\
    os.execvp('sleep', ['sleep', '1004.' + mark])\n";

/// The script of each case, `$M` the marker and `$D` the folder of the helpers.
fn script(case: &str) -> (&'static str, bool) {
    match case {
        "setsid" => (
            "( setsid sh -c 'trap \"\" TERM HUP; sleep 1002.$M' & ); exec sleep 1001.$M",
            false,
        ),
        "double-fork" => ("exec python3 $D/double_fork.py $M", false),
        "mainpid-daemon" => (
            "setsid sh -c 'trap \"\" TERM; \
             exec python3 $D/notify.py MAINPID=$$ READY=1 -- sleep 1005.$M' & \
             exec sleep 1006.$M",
            true,
        ),
        "forking-launcher" => (
            "setsid sh -c 'trap \"\" TERM; sleep 0.3; \
             exec python3 $D/notify.py READY=1 -- sleep 1007.$M' & \
             exec python3 $D/notify.py MAINPID=$!",
            true,
        ),
        "many" => ("sleep 3000.$M & exec sleep 3001.$M", false),
        other => panic!("unknown case {other}"),
    }
}

/// The supervisor of one case: starts its stack, says so, and stops it on a line on stdin.
#[test]
fn stack_host() {
    let Some(dir) = std::env::var_os(DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let case = std::env::var(CASE).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = ProcessHost::new(dir.join("state")).unwrap();
        std::fs::write(dir.join("containment"), host.containment()).unwrap();
        let (text, notify) = script(&case);
        let count = if case == "many" { 60 } else { 1 };
        let mut stack = Stack::new();
        for i in 0..count {
            let mut spec = ComponentSpec::new(format!("c{i}")).command(["sh", "-c", text]);
            spec.env.insert("M".into(), std::env::var(MARK).unwrap());
            spec.env.insert("D".into(), dir.display().to_string());
            spec.stop_timeout = Duration::from_millis(500);
            if notify {
                spec = spec.ready(ReadySpec::default().with(herald::Check::Notify));
            }
            stack.add(spec.clone(), host.process(&spec).unwrap());
        }
        std::fs::write(dir.join("starting"), b"").unwrap();
        let running = stack.start().unwrap();
        running.wait_all().await.unwrap();
        std::fs::write(dir.join("up"), b"up").unwrap();
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(line.trim(), "down");
        running.shutdown().await;
        drop(host);
        std::fs::write(dir.join("down"), b"down").unwrap();
    });
}

/// The live processes (zombies do not count) whose command line has `mark`.
fn marked(mark: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(mark) && common::alive(pid) {
            found.push(pid);
        }
    }
    found
}

struct Case {
    dir: tempfile::TempDir,
    mark: String,
    host: Child,
}

impl Case {
    fn start(case: &str, cgroups: bool) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notify.py"), NOTIFY_PY).unwrap();
        std::fs::write(dir.path().join("double_fork.py"), DOUBLE_FORK_PY).unwrap();
        let mark = format!("{:09}", fastrand::u32(..1_000_000_000));
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "stack_host", "--nocapture", "--test-threads=1"])
            .env(DIR, dir.path())
            .env(CASE, case)
            .env(MARK, &mark)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        if cgroups {
            command.env_remove("HERALD_CGROUPS");
        } else {
            command.env("HERALD_CGROUPS", "off");
        }
        let host = command.spawn().unwrap();
        Case { dir, mark, host }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn wait_for(&mut self, name: &str) {
        let path = self.path(name);
        if !eventually(Duration::from_secs(60), || path.exists()) {
            let _ = self.host.kill();
            panic!("{} never appeared", path.display());
        }
    }

    fn containment(&self) -> String {
        std::fs::read_to_string(self.path("containment")).unwrap_or_default()
    }

    fn down(&mut self) {
        let mut stdin = self.host.stdin.take().unwrap();
        stdin.write_all(b"down\n").unwrap();
        self.wait_for("down");
        assert!(self.host.wait().unwrap().success());
    }

    fn kill(&mut self) {
        self.host.kill().unwrap(); // SIGKILL: no cleanup code of the supervisor runs
        self.host.wait().unwrap();
    }

    fn assert_nothing_left(&self, what: &str) {
        let clean = eventually(Duration::from_secs(10), || marked(&self.mark).is_empty());
        let left = marked(&self.mark);
        for &pid in &left {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        assert!(
            clean,
            "{what} ({}): processes left: {left:?}",
            self.containment()
        );
    }
}

/// Whether the cgroup path can be tried here; the reason when not.
fn cgroups_here() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: no cgroup can be created".into());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if !mountinfo.contains(" - cgroup2 ") {
        return Err("no cgroup v2 hierarchy is mounted".into());
    }
    Ok(())
}

fn escape(case: &str, cgroups: bool) {
    if cgroups && let Err(reason) = cgroups_here() {
        eprintln!("skipped with cgroups: {reason}");
        return;
    }
    common::fixture(); // not needed by the cases, but keeps the build out of the timings
    for stop in ["down", "SIGKILL"] {
        let mut run = Case::start(case, cgroups);
        run.wait_for("up");
        let expected = if cgroups { "cgroup" } else { "process-group" };
        assert_eq!(run.containment(), expected);
        let least = if case == "forking-launcher" { 1 } else { 2 };
        let ran = eventually(Duration::from_secs(10), || marked(&run.mark).len() >= least);
        assert!(
            ran,
            "{case}: the escapees never ran: {:?}",
            marked(&run.mark)
        );
        match stop {
            "down" => run.down(),
            _ => run.kill(),
        }
        run.assert_nothing_left(&format!("{case} after {stop}"));
    }
}

#[test]
fn setsid_with_term_and_hup_ignored_with_cgroups() {
    escape("setsid", true);
}

#[test]
fn setsid_with_term_and_hup_ignored_without_cgroups() {
    escape("setsid", false);
}

#[test]
fn double_fork_and_setpgid_with_cgroups() {
    escape("double-fork", true);
}

#[test]
fn double_fork_and_setpgid_without_cgroups() {
    escape("double-fork", false);
}

#[test]
fn mainpid_daemon_in_its_own_session_with_cgroups() {
    escape("mainpid-daemon", true);
}

#[test]
fn mainpid_daemon_in_its_own_session_without_cgroups() {
    escape("mainpid-daemon", false);
}

#[test]
fn forking_launcher_with_cgroups() {
    escape("forking-launcher", true);
}

#[test]
fn forking_launcher_without_cgroups() {
    escape("forking-launcher", false);
}

/// SIGKILL of the supervisor at a random instant of the start of 60 components that each
/// leave a grandchild in their group.
fn killed_mid_start(cgroups: bool) {
    if cgroups && let Err(reason) = cgroups_here() {
        eprintln!("skipped with cgroups: {reason}");
        return;
    }
    for _ in 0..4 {
        let mut run = Case::start("many", cgroups);
        run.wait_for("starting");
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..150)));
        run.kill();
        run.assert_nothing_left("killed mid-start");
    }
}

#[test]
fn killed_mid_start_at_random_instants_with_cgroups() {
    killed_mid_start(true);
}

#[test]
fn killed_mid_start_at_random_instants_without_cgroups() {
    killed_mid_start(false);
}
