//! `user` and `group`: a component runs as another user, with that user's groups and
//! `HOME`, and so do its `exec` checks; its notifications still reach herald. A herald that is
//! not root refuses them with exit 2 before it starts anything, and a name the machine does
//! not have is named. The stack file's problems are placed.
//!
//! The tests that switch users need root (CI runs as root); otherwise they say why they are
//! skipped.

mod common;

use common::stack::Stack;
use common::{other_user, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A folder `uid` owns and may write, for a component running as it to leave its findings in.
fn work_dir(stack: &Stack, owner: (u32, u32)) -> std::path::PathBuf {
    let work = stack.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::chown(&work, Some(owner.0), Some(owner.1)).unwrap();
    // The stack's own folder must be passable to reach `work`.
    std::fs::set_permissions(stack.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    work
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_string()
}

/// Whether the test runs as root, which switching users needs; says so when not.
fn root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: switching users needs root");
    }
    root
}

fn gid_of(group: &str) -> u32 {
    let out = Command::new("getent")
        .args(["group", group])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    line.split(':').nth(2).unwrap().trim().parse().unwrap()
}

#[test]
fn a_component_runs_as_its_user_with_its_groups_and_so_do_its_checks() {
    let Some(user) = other_user() else { return };
    let extra = gid_of("herald-extra");
    let uid = user.0;
    let stack = Stack::new(&format!(
        r#"
[defaults]
cwd = "work"

[components.who]
command = ["sh", "-c", "id -u > who.uid; id -g > who.gid; id -G > who.groups; echo \"$HOME $USER $LOGNAME\" > who.env; exec sleep 600"]
user = "herald-other"
ready = {{ exec = ["sh", "-c", "test \"$(id -u)\" = {uid}"], timeout = "20s" }}
live = {{ exec = ["sh", "-c", "id -u > work/live.uid"], period = "100ms" }}

[components.numeric]
command = ["sh", "-c", "id -u > numeric.uid; id -G > numeric.groups; exec sleep 600"]
user = {uid}
group = "herald-extra"
requires = ["who"]

[components.notified]
command = ["/usr/bin/python3", "-c", "import os, socket, time; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET']); time.sleep(600)"]
user = "herald-other:herald-extra"
ready = {{ notify = true, timeout = "20s" }}
"#
    ));
    let work = work_dir(&stack, user);
    stack.expect(0, &["up", "-d"]);

    assert_eq!(read(&work, "who.uid"), uid.to_string());
    assert_eq!(read(&work, "who.gid"), user.1.to_string());
    let groups: Vec<u32> = read(&work, "who.groups")
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert!(
        groups.contains(&user.1) && groups.contains(&extra),
        "{groups:?}"
    );
    assert!(!groups.contains(&0), "root's group is dropped: {groups:?}");
    let passwd = Command::new("getent")
        .args(["passwd", "herald-other"])
        .output()
        .unwrap();
    let home = String::from_utf8_lossy(&passwd.stdout)
        .split(':')
        .nth(5)
        .unwrap()
        .to_string();
    assert_eq!(
        read(&work, "who.env"),
        format!("{home} herald-other herald-other")
    );
    assert!(common::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(work.join("live.uid")).is_ok_and(|t| t.trim() == uid.to_string())
    }));

    assert_eq!(read(&work, "numeric.uid"), uid.to_string());
    assert_eq!(read(&work, "numeric.groups"), extra.to_string());

    let status = stack.expect(0, &["--json", "status"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let notified = status
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "notified")
        .expect("notified in status");
    assert_eq!(notified["state"], "ready", "{status}");
    stack.expect(0, &["down"]);
}

#[test]
fn a_check_that_cannot_run_as_the_user_fails_the_start_with_the_step_named() {
    if !root() {
        return;
    }
    let stack = Stack::new(
        r#"
[components.locked]
command = ["sleep", "600"]
cwd = "private"
user = "nobody"
ready = { timeout = "5s" }
"#,
    );
    let private = stack.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(stack.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = stack.expect(1, &["up", "-d"]);
    let err = stderr(&out);
    assert!(
        err.contains("cannot enter the working folder") && err.contains("ermission denied"),
        "the folder is entered as the user: {err}"
    );
}

#[test]
fn a_herald_that_is_not_root_refuses_user_and_group_before_starting() {
    let Some(user) = other_user() else { return };
    let stack = Stack::new(
        r#"
[components.db]
command = ["sleep", "600"]
user = "root"

[components.web]
command = ["sleep", "600"]
group = "0"
"#,
    );
    std::os::unix::fs::chown(stack.path(), Some(user.0), Some(user.1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["up", "-d"])
        .current_dir(stack.path())
        .env_remove("HERALD_FILE")
        .env("NO_COLOR", "1")
        .uid(user.0)
        .gid(user.1)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let uid = user.0;
    assert!(
        err.contains(&format!(
            "error: component \"db\": user: running as user \"root\" needs herald to run as root (it runs as uid {uid})"
        )),
        "{err}"
    );
    assert!(
        err.contains("error: component \"web\": group: running as group \"0\" needs herald"),
        "{err}"
    );
    assert!(!stack.state_dir().exists(), "nothing was started");
}

#[test]
fn names_the_machine_does_not_have_are_named_and_nothing_starts() {
    if !root() {
        return;
    }
    let stack = Stack::new(
        r#"
[components.a]
command = ["sleep", "600"]
user = "herald-no-such-user"

[components.b]
command = ["sleep", "600"]
user = "root"
group = "herald-no-such-group"

[components.c]
command = ["sleep", "600"]
user = 4000000000
"#,
    );
    let out = stack.expect(2, &["up", "-d"]);
    let err = stderr(&out);
    for line in [
        "error: component \"a\": user: no user named \"herald-no-such-user\" on this machine",
        "error: component \"b\": user: no group named \"herald-no-such-group\" on this machine",
        "error: component \"c\": user: uid 4000000000 has no entry in the user database, so its group is unknown: set `group` too",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert!(!stack.state_dir().exists(), "nothing was started");
}

#[test]
fn the_stack_file_s_problems_with_user_and_group_are_placed() {
    let stack = Stack::new(
        r#"[components.a]
command = ["true"]
user = -1

[components.b]
command = ["true"]
user = "app:web"
group = "web"

[components.c]
command = ["true"]
user = true
group = ""

[components.d]
command = ["true"]
user = ":0"
"#,
    );
    let out = stack.expect(2, &["check"]);
    let err = stderr(&out);
    for (message, place) in [
        (
            "`user` in component `a`: -1 is not an id (0 to 4294967295)",
            "herald.toml:3:8",
        ),
        (
            "`group` in component `b`: `user` already names the group (\"app:web\"); give it once",
            "herald.toml:8:9",
        ),
        (
            "`user` in component `c` must be a name or a number, found a boolean",
            "herald.toml:12:8",
        ),
        ("`group` in component `c` is empty", "herald.toml:13:9"),
        (
            "`user` in component `d`: write a name or id, or `USER:GROUP`",
            "herald.toml:17:8",
        ),
    ] {
        let expected = format!("error: {message}\n");
        let at = err
            .find(&expected)
            .unwrap_or_else(|| panic!("{expected}\n{err}"));
        let next = err[at + expected.len()..].trim_start();
        assert!(
            next.starts_with(&format!("--> {place}\n")),
            "{place}\n{next}"
        );
    }
    let good = Stack::new("[components.a]\ncommand = [\"true\"]\nuser = 0\ngroup = \"root\"\n");
    let out = good.expect(0, &["--json", "config"]);
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["components"]["a"]["user"], "0", "{}", stdout(&out));
    assert_eq!(config["components"]["a"]["group"], "root");
}
