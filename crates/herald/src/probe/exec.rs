//! `exec = ["argv", ...]`: ready once the command exits 0.

use super::{InvalidProbe, io_reason, one_line};
use crate::sys::signals::describe_exit;
use crate::sys::spawn::{Command, Spawned};
use crate::{BoxFuture, CheckKind, Probe, RunAs};
use futures_util::future::{Either, select};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of the end of stdout and stderr an attempt keeps.
const TAIL: usize = 4096;

/// How long output is still read once the command has exited and its group is killed.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// Ready once a command exits 0.
///
/// The command runs directly (no shell unless the argv says `sh -c`), with herald's environment
/// less `NOTIFY_SOCKET` (a check must not speak for herald to its own supervisor), stdin from
/// `/dev/null`, stdout and stderr captured, in a process group of its own, and SIGKILL as its
/// parent-death signal, as a component's process is started. Each attempt is bounded
/// (10 s by default). When an attempt ends — the command exited, the bound passed, or the
/// attempt's future was dropped (as the engine does at the readiness deadline) — the whole
/// process group is killed with `SIGKILL` and the command is reaped, so nothing a check
/// started outlives it.
///
/// The reason on failure is `exited with status N: <last line of stderr>` (stdout's last line
/// when stderr is empty), `killed by SIGSEGV`, `timed out after 10s`, or why the command could
/// not be started.
///
/// ```
/// use herald::probe::ExecProbe;
/// use herald::{CheckKind, Probe};
/// let probe = ExecProbe::new(["pg_isready", "-h", "127.0.0.1"]).unwrap().cwd("/srv/db");
/// assert_eq!((probe.kind(), probe.target()), (CheckKind::Exec, "pg_isready -h 127.0.0.1".to_string()));
/// assert!(ExecProbe::new(Vec::<String>::new()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecProbe {
    argv: Vec<String>,
    cwd: Option<PathBuf>,
    timeout: Duration,
    run_as: Option<RunAs>,
}

impl ExecProbe {
    /// A probe running `argv`; the program (`argv[0]`) must not be empty.
    pub fn new<I, S>(argv: I) -> Result<Self, InvalidProbe>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        match argv.first() {
            None => Err(InvalidProbe::new("the command is empty")),
            Some(program) if program.is_empty() => {
                Err(InvalidProbe::new("the program (the first item) is empty"))
            }
            Some(_) => Ok(Self {
                argv,
                cwd: None,
                timeout: Duration::from_secs(10),
                run_as: None,
            }),
        }
    }

    /// Runs the command in `dir`; a relative program path such as `./check.sh` is taken from
    /// there too. By default the command runs in the current folder.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Bounds each attempt (10 s by default); past it the process group is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the command as `run_as` (herald must be root), as the component it checks runs:
    /// a check sees what its component sees.
    pub fn run_as(mut self, run_as: RunAs) -> Self {
        self.run_as = Some(run_as);
        self
    }

    /// The command, program first.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The folder the command runs in, if one was given.
    pub fn working_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    fn command(&self) -> Command {
        let (program, args) = self
            .argv
            .split_first()
            .expect("ExecProbe::new refuses an empty argv");
        let program = match &self.cwd {
            // A relative path with a slash is relative to the command's own folder, always.
            Some(cwd) if program.contains('/') && Path::new(program).is_relative() => {
                cwd.join(program)
            }
            _ => PathBuf::from(program),
        };
        let mut command = Command::new(program);
        command.args(args).env_remove("NOTIFY_SOCKET");
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        if let Some(run_as) = &self.run_as {
            command.run_as(run_as.clone());
        }
        command
    }

    async fn attempt(&self) -> Result<(), String> {
        let program = &self.argv[0];
        let Spawned {
            mut group,
            stdout,
            stderr,
        } = self
            .command()
            .spawn(None)
            .await
            .map_err(|e| format!("cannot run {program}: {}", io_reason(&e)))?;
        let (mut out, mut err) = (Vec::new(), Vec::new());

        let run = async {
            let reading = std::pin::pin!(async {
                tokio::join!(tail(stdout, &mut out), tail(stderr, &mut err))
            });
            // Whatever the command left in its group dies with it, closing the pipes.
            let waiting = std::pin::pin!(group.finish());
            match select(waiting, reading).await {
                Either::Left((status, reading)) => {
                    // Only a process that left the group can still hold a pipe open: read what
                    // is left, without waiting for it.
                    let _ = tokio::time::timeout(PIPE_GRACE, reading).await;
                    status
                }
                Either::Right((_, waiting)) => waiting.await,
            }
        };
        let finished = tokio::time::timeout(self.timeout, run).await;
        let last = last_line(&err).or_else(|| last_line(&out));
        let with_last = |mut reason: String| {
            if let Some(line) = &last {
                reason.push_str(": ");
                reason.push_str(line);
            }
            reason
        };
        let status = match finished {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(format!("cannot wait for {program}: {}", io_reason(&e))),
            Err(_) => {
                let bound = crate::format_duration(self.timeout);
                return Err(with_last(format!("timed out after {bound}")));
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(with_last(describe_exit(status)))
        }
    }
}

impl Probe for ExecProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::Exec
    }

    fn target(&self) -> String {
        self.argv.join(" ")
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.attempt())
    }
}

/// Reads `reader` to its end into `kept`, keeping only about the last [`TAIL`] bytes. What was
/// read stays in `kept` if the read is cut short.
async fn tail<R: AsyncRead + Unpin>(mut reader: R, kept: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * TAIL {
                    kept.drain(..kept.len() - TAIL);
                }
            }
        }
    }
}

/// The last line with text in it, as one short line.
fn last_line(bytes: &[u8]) -> Option<String> {
    bytes
        .split(|b| *b == b'\n')
        .map(|line| one_line(line, 200))
        .rfind(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{Pid, Signal};

    fn sh(script: &str) -> ExecProbe {
        ExecProbe::new(["sh", "-c", script]).unwrap()
    }

    /// Whether `pid` is still a live process (a zombie is dead, only not yet reaped).
    fn running(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                // The state follows the parenthesised command name.
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
            }
            Err(_) => false,
        }
    }

    async fn read_pid(path: &Path) -> u32 {
        for _ in 0..1000 {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} never appeared", path.display());
    }

    async fn until_gone(mut gone: impl FnMut() -> bool, what: &str) {
        for _ in 0..3000 {
            if gone() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what} is still there");
    }

    #[tokio::test]
    async fn exit_zero_is_ready() {
        sh("exit 0").probe().await.unwrap();
    }

    #[tokio::test]
    async fn a_failure_names_the_status_and_the_last_line_of_stderr() {
        let probe = sh(
            "echo progress; echo 'first' >&2; echo '  not ready:   still loading ' >&2; echo >&2; exit 3",
        );
        assert_eq!(
            probe.probe().await.unwrap_err(),
            "exited with status 3: not ready: still loading"
        );
        // Without stderr, stdout's last line tells.
        let probe = sh("echo 'waiting for db'; exit 1");
        assert_eq!(
            probe.probe().await.unwrap_err(),
            "exited with status 1: waiting for db"
        );
        assert_eq!(
            sh("exit 1").probe().await.unwrap_err(),
            "exited with status 1"
        );
        assert_eq!(
            sh("kill -TERM $$").probe().await.unwrap_err(),
            "killed by SIGTERM"
        );
    }

    #[tokio::test]
    async fn a_missing_program_says_so() {
        let probe = ExecProbe::new(["/nonexistent/check"]).unwrap();
        assert_eq!(
            probe.probe().await.unwrap_err(),
            "cannot run /nonexistent/check: no such file or directory"
        );
    }

    #[tokio::test]
    async fn runs_in_the_base_dir_with_relative_programs_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("check.sh");
        std::fs::write(&script, "#!/bin/sh\ntest -f marker\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let probe = ExecProbe::new(["./check.sh"]).unwrap().cwd(dir.path());
        assert_eq!(probe.probe().await.unwrap_err(), "exited with status 1");
        std::fs::write(dir.path().join("marker"), b"").unwrap();
        probe.probe().await.unwrap();
    }

    #[tokio::test]
    async fn what_the_command_leaves_behind_is_killed_when_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        // The background sleep holds stdout open: the attempt must not wait for it.
        let probe = sh("sleep 1000 & echo $! > bg.pid; exit 0").cwd(dir.path());
        probe.probe().await.unwrap();
        let bg = read_pid(&dir.path().join("bg.pid")).await;
        until_gone(|| !running(bg), "the background process").await;
    }

    #[tokio::test]
    async fn a_process_that_left_the_group_does_not_hold_the_attempt() {
        let dir = tempfile::tempdir().unwrap();
        // setsid moves the sleep to a session of its own, out of reach of the group kill,
        // while it still holds the pipes open.
        let probe = sh("setsid sleep 1000 & echo $! > escaped.pid; echo done >&2; exit 4")
            .cwd(dir.path())
            .timeout(Duration::from_secs(30));
        let reason = probe.probe().await.unwrap_err();
        let escaped = read_pid(&dir.path().join("escaped.pid")).await;
        let _ = rustix::process::kill_process(Pid::from_raw(escaped as i32).unwrap(), Signal::KILL);
        assert_eq!(reason, "exited with status 4: done");
    }

    #[tokio::test]
    async fn a_hung_attempt_is_killed_with_its_group_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let probe = sh("sleep 1000 & echo $! > bg.pid; echo $$ > sh.pid; wait").cwd(dir.path());
        let attempt = probe.probe();
        let (sh_pid, bg_pid) = tokio::select! {
            result = attempt => panic!("the attempt ended: {result:?}"),
            pids = async {
                (read_pid(&dir.path().join("sh.pid")).await, read_pid(&dir.path().join("bg.pid")).await)
            } => pids,
        };
        // The attempt's future was dropped above, as the engine drops it at the deadline.
        // The command itself is killed and reaped: its pid is gone, not a zombie.
        until_gone(
            || !std::path::Path::new(&format!("/proc/{sh_pid}")).exists(),
            "the command",
        )
        .await;
        // Its child (reparented, so reaped by someone else) is killed too.
        until_gone(|| !running(bg_pid), "the command's child").await;
    }

    #[tokio::test]
    async fn an_attempt_over_its_bound_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let probe = sh("echo $$ > sh.pid; echo 'still waiting' >&2; exec sleep 1000")
            .cwd(dir.path())
            .timeout(Duration::from_secs(1));
        let reason = probe.probe().await.unwrap_err();
        // The output so far is quoted, unless the machine was too busy for the shell to write.
        assert!(
            reason == "timed out after 1s: still waiting" || reason == "timed out after 1s",
            "{reason}"
        );
        // On a very busy machine the shell may not have written its pid before the bound.
        let Ok(pid) = std::fs::read_to_string(dir.path().join("sh.pid")) else {
            return;
        };
        let pid = pid.trim().to_string();
        until_gone(
            || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the command",
        )
        .await;
    }
}
