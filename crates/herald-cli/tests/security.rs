//! The trust rules against the real binary, tried as a hostile user would: a private state
//! folder, no symlink followed, clients that check who listens, bounded requests and
//! connections, retention that says what it dropped, and one supervisor per state folder.
//!
//! The tests that need another user create one with `useradd` when run as root (as CI is);
//! otherwise they say why they are skipped.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A stack in a temporary folder; stopped when dropped.
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

    /// The supervisor's pid, from `status --json`... through the lock file it writes.
    fn supervisor(&self) -> u32 {
        let text = std::fs::read_to_string(self.state_dir().join("herald.lock")).unwrap();
        text.trim().parse().unwrap()
    }

    /// A raw connection to the control socket.
    fn connect(&self) -> UnixStream {
        UnixStream::connect(self.state_dir().join("control.sock")).expect("the control socket")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.herald(&["down"]);
    }
}

const SLEEPER: &str = r#"
[components.c1]
command = ["sh", "-c", "echo up; exec sleep 600"]
stop_timeout = "5s"
"#;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Another user to attack with, created if needed; `None` (and why) when not root.
fn other_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: creating another user needs root");
        return None;
    }
    let name = "herald-other";
    let exists = Command::new("id").arg("-u").arg(name).output().unwrap();
    if !exists.status.success() {
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", name])
            .status()
            .expect("useradd runs");
        assert!(made.success(), "useradd {name}");
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(name).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

/// `sh -c SCRIPT` run as `user` in `dir`.
fn run_as(user: (u32, u32), dir: &Path, script: &str) {
    let status = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .uid(user.0)
        .gid(user.1)
        .status()
        .unwrap();
    assert!(status.success(), "as uid {}: {script}", user.0);
}

#[test]
fn the_state_folder_is_private_whatever_the_umask() {
    let stack = Stack::new(SLEEPER);
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("umask 000; exec {} up -d", env!("CARGO_BIN_EXE_herald")),
        ])
        .current_dir(stack.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let state = stack.state_dir();
    assert!(common::eventually(Duration::from_secs(10), || {
        state.join("logs/c1.log").exists()
    }));
    assert_eq!(mode(&state), 0o711);
    assert_eq!(mode(&state.join("logs")), 0o700);
    for file in [
        "herald.lock",
        "herald.log",
        "events.jsonl",
        "logs/c1.log",
        "control.sock",
    ] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
}

#[test]
fn a_symlink_in_the_state_folder_is_refused_never_followed() {
    let stack = Stack::new(SLEEPER);
    let secret = stack.path().join("secret");
    std::fs::write(&secret, "2026-01-01T00:00:00.000000Z out | the secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let logs = stack.state_dir().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::os::unix::fs::symlink(&secret, logs.join("c1.log")).unwrap();

    let out = stack.expect(1, &["logs", "c1"]);
    assert!(!common::stdout(&out).contains("the secret"));
    let err = common::stderr(&out);
    assert!(
        err.contains("logs/c1.log") && err.contains("symlink"),
        "{err}"
    );

    let out = stack.expect(1, &["up", "-d"]);
    let err = common::stderr(&out);
    assert!(
        err.contains("logs/c1.log") && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "2026-01-01T00:00:00.000000Z out | the secret\n",
        "the target is untouched"
    );
}

#[test]
fn a_state_folder_made_by_another_user_is_refused() {
    let Some(user) = other_user() else { return };
    let stack = Stack::new(SLEEPER);
    // A world-writable parent, as /tmp is: the other user makes the state folder first, with
    // links to files of ours.
    std::fs::set_permissions(stack.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = stack.path().join("victim");
    std::fs::write(&victim, "root's own\n").unwrap();
    run_as(
        user,
        stack.path(),
        "mkdir -m 755 .herald .herald/logs && ln -s ../victim .herald/herald.lock \
         && ln -s ../victim .herald/herald.log && ln -s ../../victim .herald/logs/c1.log",
    );
    let out = stack.expect(1, &["up", "-d"]);
    let err = common::stderr(&out);
    assert!(
        err.contains(&stack.state_dir().display().to_string()) && err.contains("owned by uid"),
        "{err}"
    );
    let out = stack.expect(1, &["logs", "c1"]);
    assert!(common::stderr(&out).contains("owned by uid"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's own\n");
}

#[test]
fn a_client_refuses_a_listener_of_another_user() {
    let Some(user) = other_user() else { return };
    let stack = Stack::new(SLEEPER);
    std::fs::set_permissions(stack.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lair = stack.path().join("lair");
    std::fs::create_dir(&lair).unwrap();
    std::os::unix::fs::chown(&lair, Some(user.0), Some(user.1)).unwrap();
    // The other user's listener answers every request with forged rows.
    let forged = r#"{"reply":"status","stack":"forged","pid":1,"components":[{"name":"c1","state":"ready","pid":1,"uptime_ms":1,"waited_ms":0,"time_to_ready_ms":1,"restarts":0,"last_error":null,"error":null}]}"#;
    let script = format!(
        "import socket,os\ns=socket.socket(socket.AF_UNIX)\ns.bind('evil.sock')\ns.listen(8)\n\
         open('ready','w').close()\nwhile True:\n c,_=s.accept()\n try:\n  c.recv(65536)\n  \
         c.sendall(b'{forged}\\n')\n except OSError:\n  pass\n c.close()\n"
    );
    let mut listener = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .current_dir(&lair)
        .uid(user.0)
        .gid(user.1)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    assert!(common::eventually(Duration::from_secs(10), || {
        lair.join("ready").exists()
    }));
    // Our own private state folder, the other user's socket moved into it.
    let state = stack.state_dir();
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::rename(lair.join("evil.sock"), state.join("control.sock")).unwrap();
    let out = stack.herald(&["status"]);
    let _ = listener.kill();
    let _ = listener.wait();
    let _ = std::fs::remove_file(state.join("control.sock"));
    assert_eq!(out.status.code(), Some(1), "{}", common::stdout(&out));
    assert!(!common::stdout(&out).contains("forged"));
    let err = common::stderr(&out);
    assert!(
        err.contains("control.sock") && err.contains(&format!("uid {}", user.0)),
        "{err}"
    );
}

#[test]
fn a_request_line_over_one_mib_is_refused_not_buffered() {
    let stack = Stack::new(SLEEPER);
    stack.expect(0, &["up", "-d"]);
    let mut conn = stack.connect();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    // The server stops reading after 1 MiB: later writes may fail.
    for _ in 0..32 {
        if conn.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut reply = String::new();
    BufReader::new(&conn)
        .read_line(&mut reply)
        .expect("a reply");
    assert!(reply.contains("at most 1 MiB"), "{reply}");
    let mut rest = Vec::new();
    assert_eq!(conn.read_to_end(&mut rest).unwrap_or(0), 0, "then closed");
}

#[test]
fn wait_on_many_copies_of_one_name_waits_once() {
    let stack = Stack::new(SLEEPER);
    stack.expect(0, &["up", "-d"]);
    let names = vec!["\"c1\""; 200_000].join(",");
    let request = format!("{{\"op\":\"wait\",\"names\":[{names}],\"timeout_ms\":1000}}\n");
    let mut conn = stack.connect();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&conn).read_line(&mut reply).unwrap();
    assert_eq!(reply.trim(), r#"{"reply":"done"}"#);
}

/// How many file descriptors `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn idle_connections_are_bounded_and_keep_no_one_out() {
    let stack = Stack::new(SLEEPER);
    stack.expect(0, &["up", "-d"]);
    let supervisor = stack.supervisor();
    let before = open_fds(supervisor);
    // This process needs a descriptor per connection: the soft limit may be 1024.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = rustix::process::Rlimit {
        current: Some(hard),
        maximum: limit.maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    let count = 1500.min(hard.saturating_sub(100) as usize);
    assert!(
        count > 600,
        "a hard limit of {hard} descriptors is too low for this test"
    );
    let idle: Vec<UnixStream> = (0..count).map(|_| stack.connect()).collect();
    // Every one of them accepted (the last ones evicting the oldest idle ones)...
    let mut last = idle.last().unwrap().try_clone().unwrap();
    last.write_all(b"{\"op\":\"status\"}\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&mut last).read_line(&mut reply).unwrap();
    assert!(reply.contains("\"reply\":\"status\""), "{reply}");
    // ... and herald holds a bounded number of them.
    let during = open_fds(supervisor);
    assert!(
        during < before + 400,
        "{during} descriptors open with {count} idle connections ({before} before)"
    );
    let out = stack.expect(0, &["status"]);
    assert!(common::stdout(&out).contains("c1"));
    drop(idle);
}

#[test]
fn retention_is_a_setting_and_logs_say_what_was_rotated_away() {
    let stack = Stack::new(
        r#"
[stack]
logs = { max_size = "8KB", keep = 1 }

[components.flood]
kind = "oneshot"
command = ["seq", "30000"]
"#,
    );
    stack.expect(0, &["up", "-d"]);
    stack.expect(0, &["wait", "flood"]);
    let out = stack.expect(0, &["logs", "flood"]);
    let text = common::stdout(&out);
    let first = text.lines().next().unwrap();
    let gone: u64 = first
        .strip_prefix("flood | -- ")
        .and_then(|r| r.strip_suffix(" earlier lines rotated away --"))
        .unwrap_or_else(|| panic!("no notice first: {first:?}"))
        .replace(',', "")
        .parse()
        .unwrap();
    let shown = text.lines().count() as u64 - 1;
    assert_eq!(gone + shown, 30000, "{gone} rotated away, {shown} shown");
    assert!(text.ends_with("flood | 30000\n"));
    let logs = stack.state_dir().join("logs");
    assert!(logs.join("flood.log.1").exists() && !logs.join("flood.log.2").exists());
}

#[test]
fn control_characters_are_made_visible_on_a_terminal() {
    let stack = Stack::new(
        r#"
[components.noisy]
kind = "oneshot"
command = ["printf", "a\u001b[2Jb\rc\td\n"]
"#,
    );
    stack.expect(0, &["up", "-d"]);
    stack.expect(0, &["wait", "noisy"]);
    let command = format!("{} logs noisy", env!("CARGO_BIN_EXE_herald"));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(stack.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a^[[2Jb^Mc\td"), "{text:?}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    // Not on a terminal: the bytes as they were.
    let out = stack.expect(0, &["logs", "noisy"]);
    assert!(common::stdout(&out).contains("a\u{1b}[2Jb\rc\td"));
}

/// How many processes run `sleep 600` with `marker` in their environment.
fn copies(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            cmdline.starts_with(b"sleep\x00600")
                && environ
                    .split(|&b| b == 0)
                    .any(|v| v == format!("MARK={marker}").as_bytes())
        })
        .count()
}

#[test]
fn removing_the_state_folder_never_leads_to_two_supervisors() {
    let marker = format!("m{}", std::process::id());
    let stack = Stack::new(&format!(
        "[components.c1]\ncommand = [\"sh\", \"-c\", \"exec sleep 600\"]\nenv = {{ MARK = \"{marker}\" }}\n"
    ));
    stack.expect(0, &["up", "-d"]);
    let first = stack.supervisor();
    assert_eq!(copies(&marker), 1);
    std::fs::remove_dir_all(stack.state_dir()).unwrap();
    let again = stack.herald(&["up", "-d"]);
    let both = copies(&marker);
    assert!(both <= 1, "{both} copies of c1 run after rm -rf and up -d");
    // The first supervisor said why, in the folder made afresh.
    assert!(common::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(stack.state_dir().join("herald.log"))
            .is_ok_and(|log| log.contains("was removed while the stack ran"))
    }));
    assert!(common::eventually(Duration::from_secs(20), || {
        !common::alive(first)
    }));
    if again.status.success() {
        assert_eq!(copies(&marker), 1);
    } else {
        assert!(common::stderr(&again).contains("already running"));
    }
}

#[test]
fn a_second_sigterm_leaves_no_socket_behind() {
    let stack = Stack::new(
        r#"
[components.stubborn]
command = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
stop_timeout = "10m"
"#,
    );
    let mut up = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("up")
        .current_dir(stack.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(common::eventually(Duration::from_secs(30), || {
        stack.herald(&["wait", "stubborn"]).status.success()
    }));
    let term = || {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(up.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap()
    };
    term();
    assert!(common::eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(stack.state_dir().join("events.jsonl"))
            .is_ok_and(|e| e.contains("\"stopping\""))
    }));
    term();
    assert_eq!(up.wait().unwrap().code(), Some(1));
    for socket in ["control.sock", "notify.sock"] {
        assert!(
            !stack.state_dir().join(socket).exists(),
            "{socket} left behind"
        );
    }
}

/// `herald check` on `text` written as `name`: exit 2; its stderr.
fn check_fails(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = common::herald(&["-f", path.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    common::stderr(&out)
}

#[test]
fn an_endless_stack_file_is_refused_after_16_mib() {
    let out = common::herald(&["-f", "/dev/zero", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("at most 16 MiB"), "{err}");
}

#[test]
fn nul_bytes_are_refused_at_check_with_their_place() {
    let err = check_fails(
        "nul.toml",
        "[components.a]\ncommand = [\"x\"]\nenv = { K = \"a\\u0000b\" }\n",
    );
    assert!(
        err.contains("NUL byte") && err.contains("nul.toml:3:"),
        "{err}"
    );
    let err = check_fails(
        "argv.yaml",
        "components:\n  a:\n    command: [\"x\", \"a\\0b\"]\n",
    );
    assert!(
        err.contains("NUL byte") && err.contains("argv.yaml:3:"),
        "{err}"
    );
}

#[test]
fn a_name_too_long_for_its_log_file_is_refused_at_check() {
    let long = "n".repeat(252);
    let err = check_fails(
        "long.toml",
        &format!("[components.{long}]\ncommand = [\"x\"]\n"),
    );
    assert!(
        err.contains("252 bytes long") && err.contains("long.toml:1:"),
        "{err}"
    );
}

#[test]
fn a_yaml_alias_bomb_is_refused_by_its_bytes() {
    let mut bomb = format!(
        "big: &big \"{}\"\ncomponents:\n  a:\n    command: [x]\nmany:\n",
        "x".repeat(1 << 20)
    );
    for _ in 0..1000 {
        bomb.push_str("  - *big\n");
    }
    let err = check_fails("bomb.yaml", &bomb);
    assert!(err.contains("aliases expand to more than"), "{err}");
}
