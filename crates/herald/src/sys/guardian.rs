//! The guardian: a tiny `sh` process that kills every component's process group if herald
//! dies, however it dies (even by SIGKILL, when no cleanup code of ours can run).
//!
//! The direct child of each component gets a parent-death signal, but its own children do
//! not. So herald starts one guardian per [`ProcessHost`](crate::ProcessHost), in its own
//! process group and deaf to terminal signals, with a pipe from herald as its stdin. Herald
//! writes `+PGID` when a component's group starts and `-PGID` once it has ended. When the pipe
//! reaches end of file (the last writer, herald, is gone) the guardian sends SIGKILL to every
//! group still listed, then exits. It does no work and forks nothing while it waits: `read`,
//! `case`, `eval` and `unset` are shell builtins, and each group is a shell variable of its
//! own (`g<PGID>`), so listing or unlisting one costs the same with 1,000 groups as with one
//! (a single string of groups, searched with patterns, cost seconds of CPU to unlist 1,000).
//! At the end it reads the variables left from `set`, with builtins only: nothing it needs
//! then has to be found on disk.
//!
//! Limits: a process that leaves its group (`setsid`, `setpgid`) escapes the guardian; so
//! does a grandchild forked in the instant between a spawn and its `+PGID` line.

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;

const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
while IFS= read -r l; do
  p=${l#?}
  case $p in ''|*[!0-9]*) continue ;; esac
  case $l in
    +*) eval "g$p=" ;;
    -*) unset "g$p" ;;
  esac
done
set | while IFS= read -r v; do
  p=${v%%=*}; p=${p#g}
  case $v in g*=*) case $p in ''|*[!0-9]*) ;; *) kill -9 "-$p" 2>/dev/null ;; esac ;; esac
done
"#;

/// The writing end of the guardian's pipe.
#[derive(Debug)]
pub(crate) struct Guardian {
    pid: u32,
    stdin: Mutex<ChildStdin>,
}

impl Guardian {
    /// Starts the guardian.
    pub(crate) fn start() -> std::io::Result<Guardian> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .args(["-c", SCRIPT, "herald-guardian"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start /bin/sh: {e}")))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let pid = child.id();
        // The guardian lives as long as herald; a thread waits on it so it is reaped if
        // someone kills it, and says so.
        std::thread::Builder::new()
            .name("herald-guardian".into())
            .spawn(move || {
                let status = child.wait();
                tracing::debug!(pid, ?status, "the process guardian ended");
            })?;
        Ok(Guardian {
            pid,
            stdin: Mutex::new(stdin),
        })
    }

    /// The guardian's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Lists a group the guardian must kill if herald dies.
    pub(crate) fn watch(&self, pgid: u32) {
        self.send(&format!("+{pgid}\n"));
    }

    /// Unlists a group that has ended.
    pub(crate) fn release(&self, pgid: u32) {
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&self, line: &str) {
        // A few bytes into a pipe the guardian drains at once: this does not block.
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = stdin.write_all(line.as_bytes()) {
            tracing::warn!(
                "the process guardian is gone ({e}); children may outlive a crash of herald"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn exited_within(child: &mut std::process::Child, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn listed_groups_die_with_the_pipe_and_released_ones_do_not() {
        let guardian = Guardian::start().unwrap();
        let (mut watched, mut released) = (sleeper(), sleeper());
        guardian.watch(watched.id());
        guardian.watch(released.id());
        guardian.release(released.id());
        drop(guardian); // the pipe closes, as when herald dies
        assert!(exited_within(&mut watched, Duration::from_secs(10)));
        assert!(!exited_within(&mut released, Duration::from_millis(300)));
        released.kill().unwrap();
        released.wait().unwrap();
    }

    #[test]
    fn a_thousand_groups_listed_and_released_in_any_order_leave_the_right_ones() {
        let guardian = Guardian::start().unwrap();
        let (mut first, mut released, mut last) = (sleeper(), sleeper(), sleeper());
        guardian.watch(first.id());
        guardian.watch(released.id());
        // Group ids of no process: listing and unlisting them is all the guardian does.
        let mut others: Vec<u32> = (0..1000).map(|i| 3_000_000 + i * 7).collect();
        for &pgid in &others {
            guardian.watch(pgid);
        }
        guardian.watch(last.id());
        others.push(released.id());
        fastrand::shuffle(&mut others);
        for &pgid in &others {
            guardian.release(pgid);
        }
        drop(guardian);
        assert!(exited_within(&mut first, Duration::from_secs(30)));
        assert!(exited_within(&mut last, Duration::from_secs(30)));
        assert!(!exited_within(&mut released, Duration::from_millis(300)));
        released.kill().unwrap();
        released.wait().unwrap();
    }
}
