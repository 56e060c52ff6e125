//! The trust rules of the state folder, tried as a hostile user would: a private folder
//! whatever the umask, no symlink followed, clients that check who listens on the control
//! socket, one supervisor per state folder even when the folder is removed, and no socket left
//! behind by a second signal.
//!
//! The tests that need another user create one with `useradd` when run as root (as CI is);
//! otherwise they say why they are skipped.

mod common;

use common::other_user;
use common::stack::{SLEEPER, Stack, mode};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("skipped: the other user's listener needs /usr/bin/python3");
        return;
    }
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
    // Started means spawned: the shell may not have exec'd sleep yet.
    assert!(common::eventually(Duration::from_secs(10), || copies(
        &marker
    ) == 1));
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
        assert!(common::eventually(Duration::from_secs(10), || copies(
            &marker
        ) == 1));
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

#[test]
fn an_up_right_after_down_is_not_taken_for_a_running_stack() {
    let stack = Stack::new(SLEEPER);
    // The identity and the lock are let go before `down` answers, never after.
    for _ in 0..20 {
        stack.expect(0, &["up", "-d"]);
        stack.expect(0, &["down"]);
    }
}
