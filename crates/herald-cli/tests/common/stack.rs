//! A stack in a temporary folder, driven through the real binary, for the trust-rule tests.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A stack in a temporary folder; stopped when dropped.
pub struct Stack {
    dir: tempfile::TempDir,
}

impl Stack {
    pub fn new(text: &str) -> Stack {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("herald.toml"), text).expect("the stack file");
        Stack { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join(".herald")
    }

    pub fn herald(&self, args: &[&str]) -> Output {
        super::herald_in(self.path(), args)
    }

    /// `herald ARGS`, asserting its exit code.
    pub fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.herald(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "herald {args:?}\nstdout: {}\nstderr: {}\nsupervisor log: {}",
            super::stdout(&out),
            super::stderr(&out),
            std::fs::read_to_string(self.state_dir().join("herald.log")).unwrap_or_default()
        );
        out
    }

    /// `herald ARGS --json`, which must exit 0, as data.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.expect(0, &args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", super::stdout(&out)))
    }

    /// The standard output of `herald ARGS`, which must exit 0.
    pub fn text(&self, args: &[&str]) -> String {
        super::stdout(&self.expect(0, args))
    }

    /// The event log's records.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state_dir().join("events.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The supervisor's pid, from `status --json`... through the lock file it writes.
    pub fn supervisor(&self) -> u32 {
        let text = std::fs::read_to_string(self.state_dir().join("herald.lock")).unwrap();
        text.trim().parse().unwrap()
    }

    /// A raw connection to the control socket.
    pub fn connect(&self) -> UnixStream {
        UnixStream::connect(self.state_dir().join("control.sock")).expect("the control socket")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.herald(&["down"]);
    }
}

pub const SLEEPER: &str = r#"
[components.c1]
command = ["sh", "-c", "echo up; exec sleep 600"]
stop_timeout = "5s"
"#;

pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}
