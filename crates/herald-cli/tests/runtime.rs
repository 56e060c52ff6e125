//! The runtime commands against the real binary and real processes: `up` (foreground and
//! `--detach`), `wait`, `status`, `logs`, `start`, `stop`, `restart`, `down`, the control
//! socket and the event log.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A three-tier stack of shell stand-ins: `db` (ready on a log line), `api` requires db,
/// `web` requires api; each runs until stopped.
const TIERS: &str = r#"
[stack]
name = "tiers"

[defaults]
stop_timeout = "5s"

[components.db]
command = ["sh", "-c", "echo db booting; sleep 0.1; echo db accepting connections; exec sleep 600"]
ready = { log = "accepting connections" }

[components.api]
command = ["sh", "-c", "echo api listening; exec sleep 600"]
requires = ["db"]

[components.web]
command = ["sh", "-c", "echo web serving; exec sleep 600"]
requires = ["api"]
"#;

/// A stack in a temporary folder.
struct Stack {
    dir: tempfile::TempDir,
}

impl Stack {
    fn new(text: &str) -> Stack {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("herald.toml"), text).expect("the stack file");
        Stack { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state_dir(&self) -> PathBuf {
        self.path().join(".herald")
    }

    fn herald(&self, args: &[&str]) -> Output {
        common::herald_in(self.path(), args)
    }

    /// `herald ARGS` started in the stack's folder, its output piped.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .current_dir(self.path())
            .env_remove("HERALD_FILE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("herald runs")
    }

    /// `herald ARGS`, asserting its exit code.
    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.herald(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "herald {args:?}\nstdout: {}\nstderr: {}\nsupervisor log: {}",
            common::stdout(&out),
            common::stderr(&out),
            std::fs::read_to_string(self.state_dir().join("herald.log")).unwrap_or_default()
        );
        out
    }

    fn status(&self) -> Vec<Value> {
        let out = self.expect(0, &["status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status --json is a JSON array")
    }

    fn row(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
    }

    fn pids(&self) -> Vec<u32> {
        self.status()
            .iter()
            .filter_map(|r| r["pid"].as_u64())
            .map(|p| p as u32)
            .collect()
    }

    /// Every line of the event log, parsed.
    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("events.jsonl")).expect("events");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Never leave a stack behind, even when a test fails half-way.
        let _ = self.herald(&["down"]);
    }
}

/// The index of the first event of `component` entering `state`.
fn index_of(events: &[Value], component: &str, state: &str) -> usize {
    events
        .iter()
        .position(|e| e["component"] == component && e["state"] == state)
        .unwrap_or_else(|| panic!("no {component} {state} in {events:#?}"))
}

fn gone(pid: u32) -> bool {
    common::eventually(Duration::from_secs(10), || !common::alive(pid))
}

#[test]
fn detached_stack_is_driven_through_the_control_socket() {
    let stack = Stack::new(TIERS);
    stack.expect(0, &["up", "--detach"]);
    stack.expect(0, &["wait", "db", "api", "web", "--timeout", "60s"]);

    // status --json: every component ready, with a live pid.
    let rows = stack.status();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["db", "api", "web"]);
    for row in &rows {
        assert_eq!(row["state"], "ready", "{row}");
        let pid = row["pid"].as_u64().expect("a pid") as u32;
        assert!(common::alive(pid), "{row}");
        assert_eq!(row["restarts"], 0);
        assert!(row["error"].is_null());
    }
    let text = common::stdout(&stack.expect(0, &["status"]));
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("web"), "{text}");

    // logs: each line prefixed with its component, names aligned.
    let logs = common::stdout(&stack.expect(0, &["logs"]));
    assert!(logs.contains("db  | db accepting connections"), "{logs}");
    assert!(logs.contains("api | api listening"), "{logs}");
    let db_only = common::stdout(&stack.expect(0, &["logs", "db"]));
    assert!(db_only.lines().all(|l| l.starts_with("db | ")), "{db_only}");

    // restart: a new pid, ready again.
    let api_pid = stack.row("api")["pid"].as_u64().unwrap() as u32;
    stack.expect(0, &["restart", "api"]);
    let api = stack.row("api");
    assert_eq!(api["state"], "ready");
    let new_pid = api["pid"].as_u64().unwrap() as u32;
    assert_ne!(new_pid, api_pid);
    assert!(gone(api_pid), "the old api process is gone");
    assert_eq!(api["restarts"], 0, "a restart asked for is not counted");

    // stop and start one component.
    let web_pid = stack.row("web")["pid"].as_u64().unwrap() as u32;
    stack.expect(0, &["stop", "web"]);
    let web = stack.row("web");
    assert_eq!(web["state"], "stopped");
    assert!(web["pid"].is_null());
    assert!(gone(web_pid));
    stack.expect(0, &["start", "web"]);
    assert_eq!(stack.row("web")["state"], "ready");

    // An unknown name is a usage error naming the components.
    let out = stack.expect(2, &["restart", "nope"]);
    assert!(
        common::stderr(&out).contains("db, api, web"),
        "{}",
        common::stderr(&out)
    );

    // down: everything stopped, dependents first, no process left, the socket gone.
    let pids = stack.pids();
    assert_eq!(pids.len(), 3);
    let down = common::stderr(&stack.expect(0, &["down"]));
    let at = |needle: &str| {
        down.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {down}"))
    };
    assert!(at("web stopped") < at("api stopping"), "{down}");
    assert!(at("api stopped") < at("db  stopping"), "{down}");
    assert!(down.ends_with("stack tiers is down\n"), "{down}");
    for pid in pids {
        assert!(gone(pid), "pid {pid} outlived down");
    }
    assert!(!stack.state_dir().join("control.sock").exists());
    let out = stack.expect(1, &["status"]);
    assert!(common::stderr(&out).contains("stack tiers is not running"));
    let out = stack.expect(0, &["down"]);
    assert!(common::stderr(&out).contains("not running"));

    // The event log: every line parses, has the contract's fields, and tells the story. The
    // run opens with a header that carries the graph; then events, numbered on from it.
    let mut events = stack.events();
    let header = events.remove(0);
    assert_eq!(header["event"], "run", "{header}");
    assert_eq!(header["stack"], "tiers", "{header}");
    assert_eq!(header["graph"]["api"]["requires"][0], "db", "{header}");
    for (k, event) in events.iter().enumerate() {
        assert_eq!(
            event["seq"],
            header["seq"].as_u64().unwrap() + 1 + k as u64,
            "{event}"
        );
        assert_eq!(event["run"], header["run"], "{event}");
    }
    for event in &events {
        let time = event["time"].as_str().expect("a time");
        assert!(time.ends_with('Z') && time.len() == 27, "{time}");
        assert!(event["component"].is_string() && event["state"].is_string());
    }
    let story: Vec<String> = events
        .iter()
        .filter(|e| e["component"] == "api")
        .map(|e| e["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        story,
        [
            "starting",
            "ready",
            "stopping",
            "restarting",
            "waiting",
            "starting",
            "ready",
            "stopping",
            "stopped"
        ]
        .map(String::from),
        "api's states in order: a restart passes through no final state"
    );
    let ready = events
        .iter()
        .find(|e| e["component"] == "db" && e["state"] == "ready")
        .unwrap();
    assert!(ready["pid"].is_u64(), "{ready}");
    // Shutdown order: web before api before db.
    let last_stop = |name: &str| {
        events
            .iter()
            .rposition(|e| e["component"] == name && e["state"] == "stopped")
            .unwrap()
    };
    let last_stopping = |name: &str| {
        events
            .iter()
            .rposition(|e| e["component"] == name && e["state"] == "stopping")
            .unwrap()
    };
    assert!(last_stop("web") < last_stopping("api"));
    assert!(last_stop("api") < last_stopping("db"));
    // Starting order: db ready before api starts, api ready before web starts.
    assert!(index_of(&events, "db", "ready") < index_of(&events, "api", "starting"));
    assert!(index_of(&events, "api", "ready") < index_of(&events, "web", "starting"));
}

#[test]
fn a_second_up_is_refused_while_the_stack_runs() {
    let stack = Stack::new(TIERS);
    stack.expect(0, &["up", "-d"]);
    let supervisor = stack.herald(&["status", "--json"]);
    assert!(supervisor.status.success());
    for args in [&["up", "-d"][..], &["up"][..]] {
        let out = stack.expect(1, args);
        let err = common::stderr(&out);
        assert!(
            err.contains("stack tiers is already running (pid "),
            "{err}"
        );
        assert!(err.contains("control.sock)"), "{err}");
    }
    // The first stack is untouched.
    stack.expect(0, &["wait", "web", "--timeout", "60s"]);
    stack.expect(0, &["down"]);
}

#[test]
fn the_detached_supervisor_is_a_fork_of_up_in_a_session_of_its_own() {
    let stack = Stack::new(TIERS);
    stack.expect(0, &["up", "--detach"]);
    let lock = std::fs::read_to_string(stack.state_dir().join("herald.lock")).unwrap();
    let pid: u32 = lock.trim().parse().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    assert!(
        words.contains(&&b"--detach"[..]),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(
        !words.contains(&&b"--supervise-fd"[..]),
        "herald was started again"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], pid.to_string(), "it leads its session: {stat}");
    assert_eq!(stack.row("web")["state"], "ready");
    stack.expect(0, &["down"]);
    assert!(gone(pid));
}

#[test]
fn a_stale_socket_is_replaced() {
    let stack = Stack::new(TIERS);
    std::fs::create_dir_all(stack.state_dir()).unwrap();
    let socket = stack.state_dir().join("control.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists(), "a socket file with no listener");
    let out = stack.expect(1, &["status"]);
    assert!(common::stderr(&out).contains("not running"));
    stack.expect(0, &["up", "--detach"]);
    assert_eq!(stack.row("web")["state"], "ready");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the owner may connect");
    stack.expect(0, &["down"]);
}

#[test]
fn waiting_on_a_blocked_component_names_the_failed_dependency() {
    let stack = Stack::new(
        r#"
[components.migrate]
kind = "oneshot"
command = ["sh", "-c", "echo cannot reach the database; exit 3"]
restart = "no"

[components.app]
command = ["sh", "-c", "exec sleep 600"]
requires = ["migrate"]

[components.slow]
command = ["sh", "-c", "exec sleep 600"]
ready = { file = "never-there", timeout = "10m", interval = { initial = "5ms", max = "20ms" } }
"#,
    );
    let out = stack.expect(1, &["up", "--detach", "migrate", "app"]);
    let err = common::stderr(&out);
    assert!(err.contains("migrate failed"), "{err}");

    let out = stack.expect(1, &["wait", "app"]);
    let err = common::stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0], "app blocked: requires migrate, which failed",
        "{err}"
    );
    assert!(
        lines[1].trim_start().starts_with("migrate failed: "),
        "{err}"
    );
    assert!(lines[1].contains('3'), "the exit code is the reason: {err}");
    let out = stack.expect(1, &["--json", "wait", "app"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("the failure as JSON");
    assert_eq!(report["error"]["component"], "app");
    assert_eq!(report["error"]["check"], "requires");
    assert_eq!(report["error"]["cause"]["component"], "migrate");
    let app = stack.row("app");
    assert_eq!(app["state"], "blocked");
    assert_eq!(app["error"]["cause"]["component"], "migrate");
    assert_eq!(
        app["last_error"],
        "app blocked: requires migrate, which failed"
    );

    // `up NAME` started only what was named and required: `slow` is not part of it.
    let out = stack.expect(1, &["wait", "slow"]);
    assert!(common::stderr(&out).contains("not part of the running stack"));
    stack.expect(0, &["down"]);

    // `up --detach` returns only once what it started is ready; a wait that times out
    // meanwhile says on what.
    let up = stack.spawn(&["up", "--detach", "slow"]);
    let mut err = String::new();
    let timed_out = common::eventually(Duration::from_secs(30), || {
        let out = stack.herald(&["wait", "slow", "--timeout", "200ms"]);
        err = common::stderr(&out);
        out.status.code() == Some(1) && !err.contains("not running")
    });
    assert!(timed_out, "{err}");
    assert_eq!(
        err.trim(),
        "timed out after 200ms waiting for slow (starting)"
    );
    std::fs::write(stack.path().join("never-there"), "").unwrap();
    let out = up.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    stack.expect(0, &["wait", "slow"]);
    stack.expect(0, &["down"]);
}

#[test]
fn up_name_starts_only_it_and_its_requirements() {
    let stack = Stack::new(TIERS);
    stack.expect(0, &["up", "-d", "api"]);
    let rows = stack.status();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["db", "api"]);
    assert!(rows.iter().all(|r| r["state"] == "ready"));
    stack.expect(0, &["down"]);
    let out = stack.expect(2, &["up", "-d", "nope"]);
    assert!(common::stderr(&out).contains("db, api, web"));
}

#[test]
fn foreground_up_stops_in_reverse_order_on_sigterm() {
    let stack = Stack::new(TIERS);
    let mut up = stack.spawn(&["up"]);
    // `wait` needs the socket: retry until the supervisor answers (it exits 1 before).
    let ready = common::eventually(Duration::from_secs(30), || {
        stack
            .herald(&["wait", "web", "--timeout", "60s"])
            .status
            .success()
    });
    assert!(ready, "the stack came up");
    let pids = stack.pids();
    assert_eq!(pids.len(), 3);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(up.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = up.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(up.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    for pid in pids {
        assert!(gone(pid), "pid {pid} outlived herald up");
    }
    // Off a terminal: one plain line per event, no escape codes.
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(err.contains("web ready (pid "), "{err}");
    assert!(err.contains("SIGTERM: stopping the stack"), "{err}");
    let events = stack.events();
    assert!(index_of(&events, "web", "stopped") < index_of(&events, "api", "stopping"));
    assert!(index_of(&events, "api", "stopped") < index_of(&events, "db", "stopping"));
    assert_eq!(events.last().unwrap()["component"], "db");
    assert!(!stack.state_dir().join("control.sock").exists());
}

#[test]
fn a_second_signal_stops_at_once_and_leaves_no_process() {
    // A component that ignores SIGTERM with a long grace: the first signal would wait it out.
    let stack = Stack::new(
        r#"
[components.stubborn]
command = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
stop_timeout = "10m"
"#,
    );
    let mut up = stack.spawn(&["up"]);
    let ready = common::eventually(Duration::from_secs(30), || {
        stack.herald(&["wait", "stubborn"]).status.success()
    });
    assert!(ready, "the stack came up");
    let pids = stack.pids();
    let term = || {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(up.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap()
    };
    term();
    let stopping = common::eventually(Duration::from_secs(30), || {
        stack.events().iter().any(|e| e["state"] == "stopping")
    });
    assert!(stopping, "the first signal began the stop");
    term();
    let status = up.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(up.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("SIGTERM again: stopping at once"), "{err}");
    for pid in pids {
        assert!(
            common::eventually(Duration::from_secs(10), || gone(pid)),
            "pid {pid} outlived herald up"
        );
    }
}

#[test]
fn process_problems_exit_2_with_their_place() {
    let stack = Stack::new("[components.a]\ncommand = [\"true\"]\nstop_signal = \"SIGNOPE\"\n");
    for args in [&["check"][..], &["up"][..], &["status"][..]] {
        let out = stack.expect(2, args);
        let err = common::stderr(&out);
        assert!(err.contains("unknown signal \"SIGNOPE\""), "{err}");
        assert!(err.contains("herald.toml:3:15"), "{err}");
    }
}

#[test]
fn logs_follow_prints_what_was_captured_then_live_lines() {
    let stack = Stack::new(
        r#"
[components.ticker]
command = ["sh", "-c", "echo first; while [ ! -e go ]; do sleep 0.02; done; echo second; exec sleep 600"]
"#,
    );
    stack.expect(0, &["up", "-d"]);
    let mut follow = stack.spawn(&["logs", "--follow"]);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "ticker | first");
    std::fs::write(stack.path().join("go"), "").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ticker | second");
    stack.expect(0, &["down"]);
    assert!(lines.next().is_none(), "follow ends with the stack");
    assert!(follow.wait().unwrap().success());
    // Not running: what was captured is still there.
    let out = stack.expect(0, &["logs"]);
    assert_eq!(common::stdout(&out), "ticker | first\nticker | second\n");
}

#[test]
fn logs_follow_behind_a_flood_skips_nothing() {
    // About 12 MB of log: more than the live feed holds for a reader that does not read, and
    // past the log file's size limit, so the file is rotated under the reader too.
    const LINES: usize = 300_000;
    let stack = Stack::new(&format!(
        r#"
[components.flood]
command = ["sh", "-c", "echo ready; while [ ! -e go ]; do sleep 0.02; done; seq 1 {LINES}; exec sleep 600"]
"#
    ));
    stack.expect(0, &["up", "-d"]);
    let mut follow = stack.spawn(&["logs", "--follow"]);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "flood | ready");
    // The follower is subscribed; nobody reads what it prints until the flood is over, so
    // it falls far behind.
    std::fs::write(stack.path().join("go"), "").unwrap();
    let logs = stack.state_dir().join("logs");
    let last = format!("out | {LINES}\n");
    let flooded = common::eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(logs.join("flood.log")).is_ok_and(|t| t.ends_with(&last))
    });
    assert!(flooded, "the flood reached the log file");
    for n in 1..=LINES {
        let line = lines.next().expect("a line").unwrap();
        assert_eq!(line, format!("flood | {n}"), "line {n} of the flood");
    }
    stack.expect(0, &["down"]);
    assert!(
        lines.next().is_none(),
        "no line twice, and follow ends with the stack"
    );
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(common::stderr(&out), "", "nothing to warn about");
}

#[test]
fn a_killed_supervisor_leaves_nothing_running_and_a_new_up_works() {
    let stack = Stack::new(TIERS);
    stack.expect(0, &["up", "-d"]);
    let pids = stack.pids();
    let lock = std::fs::read_to_string(stack.state_dir().join("herald.lock")).unwrap();
    let supervisor: i32 = lock.trim().parse().expect("the lock file holds the pid");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(supervisor).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    for pid in pids {
        assert!(gone(pid), "pid {pid} outlived its supervisor");
    }
    assert!(
        stack.state_dir().join("control.sock").exists(),
        "left behind"
    );
    let out = stack.expect(1, &["status"]);
    assert!(common::stderr(&out).contains("not running"));
    // At once: a supervisor still being torn down is waited for, not called running.
    stack.expect(0, &["up", "-d"]);
    assert_eq!(stack.row("db")["state"], "ready");
    stack.expect(0, &["down"]);
}

#[test]
fn foreground_up_ends_by_itself_once_nothing_is_left_running() {
    let done = Stack::new(
        "[components.a]\nkind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"echo hi\"]\n\n\
         [components.b]\nkind = \"oneshot\"\ncommand = [\"true\"]\nrequires = [\"a\"]\n",
    );
    let out = done.expect(0, &["up"]);
    let err = common::stderr(&out);
    assert!(err.contains("b completed"), "{err}");
    assert!(err.contains("nothing is left running"), "{err}");

    let broken = Stack::new(
        "[components.a]\ncommand = [\"sh\", \"-c\", \"echo disk full >&2; exit 4\"]\nrestart = \"no\"\n\
         ready = { file = \"never-there\" }\n\n\
         [components.b]\ncommand = [\"sleep\", \"600\"]\nrequires = [\"a\"]\n",
    );
    let out = broken.expect(1, &["up"]);
    let err = common::stderr(&out);
    assert!(err.contains("b blocked: requires a, which failed"), "{err}");
    assert!(err.contains("last output of a:\n    | disk full"), "{err}");
    let out = broken.expect(1, &["--json", "up"]);
    let events: Vec<Value> = common::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one event per line"))
        .collect();
    let blocked = events
        .iter()
        .find(|e| e["state"] == "blocked")
        .expect("b blocked");
    assert_eq!(blocked["component"], "b");
    assert_eq!(blocked["error"]["cause"]["component"], "a");
}

#[test]
fn a_stack_deep_in_the_tree_still_gets_its_socket() {
    let root = tempfile::tempdir().unwrap();
    let deep = root
        .path()
        .join("a-folder-name-long-enough-to-matter")
        .join("another-folder-name-just-as-long-as-that")
        .join("and-a-third-one");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("herald.toml"), TIERS).unwrap();
    assert!(deep.join(".herald/control.sock").as_os_str().len() > 108);
    let run = |args: &[&str]| common::herald_in(&deep, args);
    assert!(run(&["up", "-d"]).status.success());
    let out = run(&["status", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(run(&["up", "-d"]).status.code(), Some(1));
    assert!(run(&["down"]).status.success());
    assert_eq!(run(&["status"]).status.code(), Some(1));
}

/// Polls `herald wait NAMES` until the stack answers (its socket is up) and they are ready.
fn wait_up(stack: &Stack, names: &[&str]) {
    let mut args = vec!["wait", "--timeout", "20s"];
    args.extend_from_slice(names);
    let up = common::eventually(Duration::from_secs(30), || {
        stack.herald(&args).status.success()
    });
    assert!(up, "{names:?} never became ready");
}

/// Asserts that the foreground supervisor `up` is still running.
fn still_up(up: &mut std::process::Child, after: &str) {
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = up.try_wait().unwrap() {
        let mut err = String::new();
        use std::io::Read;
        up.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        panic!("the foreground up ended ({status}) after {after}:\n{err}");
    }
}

#[test]
fn a_foreground_up_survives_restarts_and_stops_until_told_to_stop() {
    let stack = Stack::new(
        "[components.web]\ncommand = [\"sh\", \"-c\", \"echo serving; exec sleep 600\"]\n",
    );
    let mut up = stack.spawn(&["up"]);
    wait_up(&stack, &["web"]);
    // The one component is down for an instant: the stack is still up.
    stack.expect(0, &["restart", "web"]);
    still_up(&mut up, "a restart");
    assert_eq!(stack.row("web")["state"], "ready");
    // Stopped by hand, it can be started again: still up.
    stack.expect(0, &["stop", "web"]);
    still_up(&mut up, "a stop");
    stack.expect(0, &["start", "web"]);
    assert_eq!(stack.row("web")["state"], "ready");
    stack.expect(0, &["down"]);
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_foreground_up_survives_a_bound_pair_restarting() {
    let stack = Stack::new(
        "[components.db]\ncommand = [\"sh\", \"-c\", \"exec sleep 600\"]\n\n\
         [components.api]\ncommand = [\"sh\", \"-c\", \"exec sleep 600\"]\nbinds_to = [\"db\"]\n",
    );
    let mut up = stack.spawn(&["up"]);
    wait_up(&stack, &["api"]);
    let before = stack.row("api")["pid"].as_u64();
    stack.expect(0, &["restart", "db"]);
    // api follows db through its restart, and the stack stays up throughout.
    wait_up(&stack, &["api"]);
    assert_ne!(
        stack.row("api")["pid"].as_u64(),
        before,
        "api was not restarted"
    );
    still_up(&mut up, "a binds_to restart");
    stack.expect(0, &["down"]);
    assert!(up.wait().unwrap().success());
}

#[test]
fn a_wait_that_lands_during_a_restart_waits_for_the_new_run() {
    // A slow stop: the trap runs within 0.1 s of SIGTERM and takes 0.8 s more.
    let stack = Stack::new(
        "[components.web]\n\
         command = [\"sh\", \"-c\", \"trap 'sleep 0.8; exit 0' TERM; while :; do sleep 0.1; done\"]\n",
    );
    stack.expect(0, &["up", "-d"]);
    let first = stack.row("web")["pid"].as_u64();
    let restart = stack.spawn(&["restart", "web"]);
    assert!(common::eventually(Duration::from_secs(10), || {
        stack.row("web")["state"] == "stopping"
    }));
    let out = stack.expect(0, &["wait", "web", "--timeout", "20s"]);
    assert!(common::stdout(&out).is_empty());
    assert_eq!(stack.row("web")["state"], "ready");
    assert_ne!(
        stack.row("web")["pid"].as_u64(),
        first,
        "the wait saw the old run"
    );
    let restarted = restart.wait_with_output().unwrap();
    assert!(restarted.status.success(), "{}", common::stderr(&restarted));
    stack.expect(0, &["down"]);
}

#[test]
fn a_start_script_waits_for_what_it_uses_and_stops_first() {
    let herald = env!("CARGO_BIN_EXE_herald");
    let stack = Stack::new(&format!(
        "[components.apiserver]\n\
         command = [\"sh\", \"-c\", \"sleep 0.5; echo serving; exec sleep 600\"]\n\
         ready = {{ log = \"serving\" }}\n\n\
         [components.kubelet]\n\
         command = [\"sh\", \"-c\", \"echo collecting; '{herald}' wait apiserver && echo registered && exec sleep 600\"]\n\
         uses = [\"apiserver\"]\n\
         ready = {{ log = \"registered\" }}\n\
         cwd = \"/\"\n"
    ));
    // It runs in `/`, far from its stack file: herald tells it where that is.
    let out = stack.expect(0, &["check"]);
    assert!(common::stderr(&out).is_empty(), "{}", common::stderr(&out));
    stack.expect(0, &["up", "-d"]);
    stack.expect(0, &["down"]);
    let events = stack.events();
    let at = |name: &str, state: &str| {
        events
            .iter()
            .position(|e| e["component"] == name && e["state"] == state)
            .unwrap_or_else(|| panic!("{name} never {state}: {events:?}"))
    };
    // kubelet started at once (no wait on a lazy dependency), was ready only once the API
    // server was, and stopped before it.
    assert!(at("kubelet", "starting") < at("apiserver", "ready"));
    assert!(at("apiserver", "ready") < at("kubelet", "ready"));
    assert!(at("kubelet", "stopped") < at("apiserver", "stopping"));
}

#[test]
fn check_warns_of_a_cycle_through_uses_and_refuses_a_hard_one() {
    let lazy = Stack::new(
        "[components.a]\ncommand = [\"true\"]\nrequires = [\"b\"]\n\n\
         [components.b]\ncommand = [\"true\"]\nuses = [\"a\"]\n",
    );
    let out = lazy.expect(0, &["check"]);
    let err = common::stderr(&out);
    assert!(
        err.contains("warning: a cycle goes through `uses`: a -> b -> a"),
        "{err}"
    );
    let hard = Stack::new(
        "[components.a]\ncommand = [\"true\"]\nrequires = [\"b\"]\n\n\
         [components.b]\ncommand = [\"true\"]\nrequires = [\"a\"]\n",
    );
    let out = hard.expect(2, &["check"]);
    assert!(common::stderr(&out).contains("a -> b -> a"));
}
