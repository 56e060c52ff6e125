//! The guardian: a tiny `sh` process that kills every process of the stack if herald dies,
//! however it dies (even by SIGKILL, when no cleanup code of ours can run).
//!
//! The direct child of each component gets a parent-death signal, but its own children do
//! not. So herald starts one guardian per [`ProcessHost`](crate::ProcessHost), in its own
//! process group and deaf to terminal signals, with a pipe from herald as its stdin. It is
//! told, one line each:
//! - `C<folder>`: the stack's cgroup (see `cgroup.rs`), killed whole through `cgroup.kill`;
//! - `T<token>`: the stack's run token (see `token.rs`): every process whose environment
//!   carries it is killed;
//! - `+PGID` when a process group starts and `-PGID` once it has ended. The child itself
//!   writes its `+PGID` line, before `execve` (see `spawn/`): the guardian knows a group
//!   before its leader can fork, so herald killed at any instant leaks nothing.
//!
//! When the pipe reaches end of file (the last writer, herald, is gone) the guardian kills
//! the cgroup, every group still listed, and every process with the token, then exits. It
//! does no work and forks nothing while it waits: `read`, `case`, `eval` and `unset` are
//! shell builtins, and each group is a shell variable of its own (`g<PGID>`), so listing or
//! unlisting one costs the same with 1,000 groups as with one. At the end it uses builtins
//! only (`set`, `kill`, `echo`, globbing): nothing it needs then has to be found on disk.
//!
//! The guardian is watched: if it dies (someone killed it), herald starts a new one at once,
//! tells it everything it is to guard again, and says so in its log.
//!
//! It is started as components are, by a clone that shares herald's memory until the shell's
//! `execve` (see [`start_shell`]), not by `fork`: a fork copies herald's page tables, and
//! every page herald writes afterwards faults once more.

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, Weak};

const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
t= c=
while IFS= read -r l; do
  p=${l#?}
  case $l in
    T*) t=$p; continue ;;
    C*) c=$p; continue ;;
    Q) exit 0 ;;
  esac
  case $p in ''|*[!0-9]*) continue ;; esac
  case $l in
    +*) eval "g$p=" ;;
    -*) unset "g$p" ;;
  esac
done
if [ -n "$c" ]; then
  echo 1 >"$c/cgroup.kill" 2>/dev/null || for f in "$c"/*/cgroup.procs; do
    while IFS= read -r p; do kill -9 "$p" 2>/dev/null; done <"$f"
  done
fi
set | while IFS= read -r v; do
  p=${v%%=*}; p=${p#g}
  case $v in g*=*) case $p in ''|*[!0-9]*) ;; *) kill -9 "-$p" 2>/dev/null ;; esac ;; esac
done
if [ -n "$t" ]; then
  n=0
  while [ $n -lt 5 ]; do
    k=
    for f in /proc/[0-9]*/environ; do
      m=
      { while IFS= read -r e || [ -n "$e" ]; do
          case $e in *"HERALD_RUN_TOKEN=$t."*) m=1; break ;; esac
        done; } <"$f" 2>/dev/null
      if [ -n "$m" ]; then p=${f#/proc/}; kill -9 "${p%/environ}" 2>/dev/null && k=1; fi
    done
    [ -z "$k" ] && break
    n=$((n+1))
  done
fi
"#;

/// What the guardian is told, kept so that a new one can be told again.
#[derive(Debug, Default)]
struct Duty {
    cgroup: Option<String>,
    token: Option<String>,
    groups: HashSet<u32>,
}

/// The live guardian: its pid and the writing end of its pipe.
#[derive(Debug)]
pub(crate) struct Line {
    pid: u32,
    stdin: std::fs::File,
    /// Answered once the guardian process has exited.
    gone: std::sync::mpsc::Receiver<()>,
}

impl Line {
    /// The pipe's descriptor, which a child writes its `+PGID` line to before `execve`.
    pub(crate) fn fd(&self) -> RawFd {
        self.stdin.as_raw_fd()
    }
}

#[derive(Debug)]
struct State {
    line: Option<Line>,
    duty: Duty,
    /// Whether the guardian is being dropped (its end is then expected).
    closing: bool,
}

/// What the guardian's handle and its watcher thread share.
#[derive(Debug)]
struct Shared {
    /// Held (shared) by every spawn under way, whose child writes to the pipe itself, and
    /// taken alone to replace or close the pipe: spawns run side by side, never while the
    /// pipe changes. Taken before `state`.
    lease: RwLock<()>,
    state: Mutex<State>,
}

/// The guardian of one stack.
#[derive(Debug)]
pub(crate) struct Guardian {
    shared: Arc<Shared>,
}

impl Guardian {
    /// Starts the guardian, to kill the cgroup `cgroup` and the processes with `token`.
    pub(crate) fn start(
        cgroup: Option<String>,
        token: Option<String>,
    ) -> std::io::Result<Guardian> {
        let shared = Arc::new(Shared {
            lease: RwLock::new(()),
            state: Mutex::new(State {
                line: None,
                duty: Duty {
                    cgroup,
                    token,
                    groups: HashSet::new(),
                },
                closing: false,
            }),
        });
        {
            let mut guard = lock(&shared.state);
            let line = launch(&shared, &guard.duty)?;
            guard.line = Some(line);
        }
        Ok(Guardian { shared })
    }

    /// The guardian's pid.
    pub(crate) fn pid(&self) -> u32 {
        lock(&self.shared.state).line.as_ref().map_or(0, |l| l.pid)
    }

    /// Lists a group the guardian must kill if herald dies.
    pub(crate) fn watch(&self, pgid: u32) {
        let mut state = lock(&self.shared.state);
        if state.duty.groups.insert(pgid) {
            send(&mut state, &format!("+{pgid}\n"));
        }
    }

    /// Unlists a group that has ended.
    pub(crate) fn release(&self, pgid: u32) {
        let mut state = lock(&self.shared.state);
        if state.duty.groups.remove(&pgid) {
            send(&mut state, &format!("-{pgid}\n"));
        }
    }

    /// Holds the guardian's pipe while a child is spawned: the child writes `+PGID` to it
    /// itself (so the pipe must not be replaced meanwhile), then [`Spawning::spawned`] notes
    /// the group. Other spawns may hold it at the same time.
    pub(crate) fn spawning(&self) -> Spawning<'_> {
        let lease = self.shared.lease.read().unwrap_or_else(|e| e.into_inner());
        let fd = lock(&self.shared.state).line.as_ref().map(Line::fd);
        Spawning {
            shared: &self.shared,
            fd,
            _lease: lease,
        }
    }
}

/// The guardian's pipe, held while a child is spawned.
pub(crate) struct Spawning<'a> {
    shared: &'a Shared,
    fd: Option<RawFd>,
    _lease: RwLockReadGuard<'a, ()>,
}

impl Spawning<'_> {
    /// The descriptor the child writes its line to, if the guardian runs.
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.fd
    }

    /// The child `pgid` was spawned and has listed itself.
    pub(crate) fn spawned(self, pgid: u32) {
        let mut state = lock(&self.shared.state);
        if state.duty.groups.insert(pgid) && state.line.is_none() {
            tracing::warn!(pgid, "no process guardian runs: the group is not guarded");
        }
    }
}

impl Guardian {
    /// Lets the guardian go once nothing of the stack is left (a clean stop): it exits
    /// without killing or searching anything, and this waits (a moment at most) until it has.
    pub(crate) fn dismiss(&self) {
        let gone = {
            let _lease = self.shared.lease.write().unwrap_or_else(|e| e.into_inner());
            let mut state = lock(&self.shared.state);
            state.closing = true;
            send(&mut state, "Q\n");
            state.line.take()
        };
        if let Some(line) = gone {
            drop(line.stdin);
            let _ = line.gone.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        let _lease = self.shared.lease.write().unwrap_or_else(|e| e.into_inner());
        let mut state = lock(&self.shared.state);
        state.closing = true;
        state.line = None; // closes the pipe: the guardian kills what is left, and ends
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn send(state: &mut State, text: &str) {
    // A few bytes into a pipe the guardian drains at once: this does not block.
    if let Some(line) = state.line.as_mut()
        && let Err(e) = line.stdin.write_all(text.as_bytes())
    {
        tracing::warn!("cannot write to the process guardian: {e}");
    }
}

/// Starts a guardian process told `duty`, and a thread that restarts it if it dies.
fn launch(shared: &Arc<Shared>, duty: &Duty) -> std::io::Result<Line> {
    let (pid, stdin) = start_shell()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start /bin/sh: {e}")))?;
    let mut stdin = std::fs::File::from(stdin);
    let mut told = String::new();
    if let Some(cgroup) = &duty.cgroup {
        told.push_str(&format!("C{cgroup}\n"));
    }
    if let Some(token) = &duty.token {
        told.push_str(&format!("T{token}\n"));
    }
    for pgid in &duty.groups {
        told.push_str(&format!("+{pgid}\n"));
    }
    stdin.write_all(told.as_bytes())?;
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let (exited, gone) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("herald-guardian".into())
        .spawn(move || {
            let status = wait(pid);
            let _ = exited.send(());
            watched(weak, pid, status);
        })?;
    Ok(Line { pid, stdin, gone })
}

/// Starts `/bin/sh -c SCRIPT` in a process group of its own, herald's environment without
/// the run token, the read end of a new pipe as its stdin, stdout and stderr `/dev/null`;
/// gives its pid and the pipe's write end. It is started as components are (see
/// `spawn/`), without their parent-death signal: nothing of herald is copied, and herald's
/// thread waits only until the shell's `execve`.
fn start_shell() -> std::io::Result<(u32, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let stdio = [read, null.try_clone()?, null];
    let pid = super::spawn::Command::new("/bin/sh")
        .args(["-c", SCRIPT, "herald-guardian"])
        .env_remove(super::token::VAR)
        .spawn_detached(stdio)?;
    Ok((pid, write))
}

/// Waits for the guardian `pid` to exit (it is herald's child), and reaps it.
fn wait(pid: u32) -> std::io::Result<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into `status`.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if r == pid as libc::pid_t {
            return Ok(ExitStatus::from_raw(status));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// The guardian `pid` ended: unless herald is letting it go, start a new one.
fn watched(shared: Weak<Shared>, pid: u32, status: std::io::Result<ExitStatus>) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let _lease = shared.lease.write().unwrap_or_else(|e| e.into_inner());
    let mut guard = lock(&shared.state);
    if guard.closing || guard.line.as_ref().is_none_or(|l| l.pid != pid) {
        return;
    }
    tracing::warn!(
        pid,
        ?status,
        "the process guardian died; starting a new one"
    );
    guard.line = None;
    match launch(&shared, &guard.duty) {
        Ok(line) => {
            tracing::warn!(
                pid = line.pid,
                groups = guard.duty.groups.len(),
                "a new process guardian took over"
            );
            guard.line = Some(line);
        }
        Err(e) => tracing::error!(
            "cannot start a new process guardian ({e}); processes may outlive a crash of herald"
        ),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
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
    fn a_dismissed_guardian_is_gone_when_dismiss_returns_and_kills_nothing() {
        let guardian = Guardian::start(None, None).unwrap();
        let pid = guardian.pid();
        let mut listed = sleeper();
        guardian.watch(listed.id());
        guardian.dismiss();
        let gone = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        assert!(gone, "the guardian {pid} still runs");
        drop(guardian);
        assert!(!exited_within(&mut listed, Duration::from_millis(200)));
        let _ = listed.kill();
        let _ = listed.wait();
    }

    #[test]
    fn spawns_hold_the_pipe_side_by_side() {
        let guardian = Arc::new(Guardian::start(None, None).unwrap());
        let first = guardian.spawning();
        assert!(first.fd().is_some());
        let (told, heard) = std::sync::mpsc::channel();
        let other = guardian.clone();
        let second = std::thread::spawn(move || {
            let lease = other.spawning();
            told.send(lease.fd()).unwrap();
        });
        let fd = heard.recv_timeout(Duration::from_secs(10));
        assert_eq!(fd, Ok(first.fd()), "a second spawn waited for the first");
        drop(first);
        second.join().unwrap();
    }

    #[test]
    fn listed_groups_die_with_the_pipe_and_released_ones_do_not() {
        let guardian = Guardian::start(None, None).unwrap();
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
        let guardian = Guardian::start(None, None).unwrap();
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
