//! The quick-start stack comes up with `herald up` and goes down cleanly on Ctrl-C (SIGINT),
//! leaving no process behind. It runs from a copy on free ports, so it never mixes with a
//! stack a person runs from `examples/quickstart`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The ports the quick-start stand-ins listen on.
const PORTS: [&str; 3] = ["23790", "16443", "10259"];

/// Copies the quick-start stack into `to`, each of its ports replaced by a free one, so that
/// this test never meets another copy of the stack running on the same machine.
fn copy_quickstart(to: &Path) {
    let free: Vec<String> = PORTS
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port().to_string())
        .collect();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(common::QUICKSTART);
    for entry in std::fs::read_dir(&from).expect("the quick-start folder") {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_file() {
            continue;
        }
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        for (port, free) in PORTS.iter().zip(&free) {
            text = text.replace(port, free);
        }
        std::fs::write(to.join(entry.file_name()), text).unwrap();
    }
}

#[test]
fn the_quickstart_comes_up_and_goes_down_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    copy_quickstart(dir.path());
    let mut up = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("up")
        .current_dir(dir.path())
        .env_remove("HERALD_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herald up runs");
    let names = [
        "containerd",
        "certs",
        "etcd",
        "apiserver",
        "kubelet",
        "scheduler",
    ];
    let mut wait = vec!["wait", "--timeout", "60s"];
    wait.extend(names);
    let mut out = common::herald_in(dir.path(), &wait);
    let answered = common::eventually(Duration::from_secs(60), || {
        out = common::herald_in(dir.path(), &wait);
        out.status.success() || !common::stderr(&out).contains("not running")
    });
    assert!(answered, "the supervisor never answered");
    let logs = common::herald_in(dir.path(), &["logs"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stderr(&out),
        common::stdout(&logs)
    );
    let out = common::herald_in(dir.path(), &["status", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for row in &rows {
        let expected = if row["name"] == "certs" {
            "completed"
        } else {
            "ready"
        };
        assert_eq!(row["state"], expected, "{row}");
    }
    let pids: Vec<u32> = rows
        .iter()
        .filter_map(|r| r["pid"].as_u64())
        .map(|p| p as u32)
        .collect();
    assert_eq!(pids.len(), 5);

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(up.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = up.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(up.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("SIGINT: stopping the stack"), "{err}");
    for pid in pids {
        assert!(
            common::eventually(Duration::from_secs(10), || !common::alive(pid)),
            "pid {pid} outlived herald up\n{err}"
        );
    }
    let stopped = err.lines().filter(|l| l.ends_with(" stopped")).count();
    assert_eq!(stopped, 5, "{err}");
}
