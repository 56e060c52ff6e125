//! The bounds, tried as a hostile user would: request lines and names on the control socket,
//! idle connections, stack files that never end or expand without end, NUL bytes and names too
//! long for a file name; and nothing lost silently: retention that says what it dropped, and
//! control characters made visible on a terminal.

mod common;

use common::stack::{SLEEPER, Stack};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

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
