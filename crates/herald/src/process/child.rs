//! [`Process`]: a child process as a [`Component`].
//!
//! One run spawns the command in its own process group, reports its pid, captures its output,
//! and waits for it to exit or to be told to stop. Stopping sends `stop_signal` to the whole
//! group, waits up to `stop_timeout`, then sends SIGKILL to the group. Whenever the leader
//! has exited (crash or stop) the rest of its group is killed too, so no grandchild is left.
//! The run returns only once both output pipes are drained and the log file flushed.
//!
//! The group is signalled only while its leader is alive or an unreaped zombie (its exit is
//! awaited through a pidfd, and it is reaped after the group is killed), so a group id is
//! never signalled after the kernel could have reused it. On kernels without pidfds (before
//! Linux 5.3) the leader is reaped first and the rest of the group killed right after.

use super::capture::{Sink, capture};
use super::logs::{LogFile, MAX_FILE, Stream};
use super::notify::{Listener, Registration};
use super::ready::Gate;
use super::signals::{describe_exit, kill_group};
use super::{HostInner, ProcessHost};
use crate::{BoxFuture, Component, Context, Failure, Probe, Readiness};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::process::{Child, Command};

/// How long to keep reading output after the group was killed, in case a process that left
/// the group still holds a pipe.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// A child process component, built by [`ProcessHost::process`].
///
/// Its readiness signal is `notify` (`READY=1` on `$NOTIFY_SOCKET`), `log` (a line matching
/// `ready.log`), both (`notify+log`: ready once both happened), or none; the outside probes
/// given to [`ProcessHost::process`] must pass as well.
#[derive(Clone)]
pub struct Process {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub host: ProcessHost,
    pub name: Arc<str>,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub notify: bool,
    pub log: Option<regex::bytes::Regex>,
    pub stop_signal: i32,
    pub probes: Vec<Arc<dyn Probe>>,
    pub file: OnceLock<Arc<Mutex<LogFile>>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.inner.name)
            .field("argv", &self.inner.argv)
            .finish_non_exhaustive()
    }
}

impl Process {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

impl Component for Process {
    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(self.inner.clone().run(ctx))
    }

    fn readiness(&self) -> Readiness {
        let inner = &self.inner;
        let address = || inner.host.notify_socket().display().to_string();
        let signal = match (inner.notify, &inner.log) {
            (true, None) => Some(("notify".to_string(), address())),
            (false, Some(re)) => Some(("log".to_string(), re.as_str().to_string())),
            (true, Some(re)) => Some((
                "notify+log".to_string(),
                format!("{} and /{}/", address(), re.as_str()),
            )),
            (false, None) => None,
        };
        Readiness {
            signal,
            probes: inner.probes.clone(),
        }
    }
}

/// A component's process group while it may have members; killed if dropped early.
struct Group {
    host: Arc<HostInner>,
    pgid: u32,
    child: Child,
    /// The exit status, if it was collected while waiting (no pidfd).
    status: Option<std::io::Result<ExitStatus>>,
    exit: Option<AsyncFd<OwnedFd>>,
    released: bool,
}

impl Group {
    fn enter(host: Arc<HostInner>, child: Child, pgid: u32) -> Self {
        host.guardian.watch(pgid);
        super::reaper::own(pgid);
        let exit = rustix::process::Pid::from_raw(pgid as i32)
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            })
            .and_then(|fd| {
                // SAFETY: an OwnedFd stays open, and the same descriptor, for as long as
                // the AsyncFd owns it.
                unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
            });
        Self {
            host,
            pgid,
            child,
            status: None,
            exit,
            released: false,
        }
    }

    /// Resolves once the leader has exited, without reaping it when a pidfd is available.
    async fn exited(&mut self) {
        if self.status.is_some() {
            return;
        }
        match &self.exit {
            Some(fd) => {
                let _ = fd.readable().await;
            }
            None => self.status = Some(self.child.wait().await),
        }
    }

    fn signal(&self, signal: i32) {
        kill_group(self.pgid, signal);
    }

    /// Kills whatever is left of the group, unlists it, and reaps the leader.
    async fn finish(&mut self) -> std::io::Result<ExitStatus> {
        self.signal(libc::SIGKILL);
        self.host.guardian.release(self.pgid);
        self.released = true;
        let status = match self.status.take() {
            Some(status) => status,
            None => self.child.wait().await,
        };
        super::reaper::disown(self.pgid);
        status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.released {
            self.signal(libc::SIGKILL);
            self.host.guardian.release(self.pgid);
        }
        // Reaped now or by Tokio's orphan queue; either way no longer ours to wait for.
        super::reaper::disown(self.pgid);
    }
}

impl Inner {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .env_remove("NOTIFY_SOCKET")
            .envs(&self.env)
            .env("HERALD_COMPONENT", &*self.name)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        if self.notify {
            cmd.env("NOTIFY_SOCKET", self.host.inner.notify.address());
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        let parent = std::process::id() as libc::pid_t;
        let nofile = super::limits::child_nofile();
        // SAFETY: the closure only makes async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(limit) = &nofile {
                    libc::setrlimit(libc::RLIMIT_NOFILE, limit);
                }
                // Herald died before the death signal was armed: do not run orphaned.
                if libc::getppid() != parent {
                    libc::_exit(127);
                }
                Ok(())
            });
        }
        cmd
    }

    /// Why a spawn failed, naming the working folder when it is the culprit.
    fn spawn_error(&self, e: std::io::Error) -> String {
        match &self.cwd {
            Some(cwd) if !cwd.is_dir() => {
                format!("cannot enter the working folder {}: {e}", cwd.display())
            }
            _ => e.to_string(),
        }
    }

    fn log_file(&self) -> Arc<Mutex<LogFile>> {
        self.file
            .get_or_init(|| {
                let path = self.host.log_path(&self.name);
                Arc::new(Mutex::new(LogFile::open(path, MAX_FILE)))
            })
            .clone()
    }

    async fn run(self: Arc<Self>, ctx: Context) -> Result<(), Failure> {
        let program = self.argv[0].clone();
        let mut child = self
            .command()
            .spawn()
            .map_err(|e| Failure::new("spawn", &program, self.spawn_error(e)))?;
        let Some(pid) = child.id() else {
            return Err(Failure::new("spawn", &program, "no pid after spawn"));
        };
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let mut group = Group::enter(self.host.inner.clone(), child, pid);

        let gate = Arc::new(Gate::new(ctx.clone(), self.notify, self.log.is_some()));
        let registration: Option<Registration> = self.notify.then(|| {
            let listener = Listener {
                ctx: ctx.clone(),
                gate: gate.clone(),
            };
            self.host.inner.notify.register(pid, listener)
        });
        ctx.spawned(Some(pid));

        let sink = Arc::new(Sink {
            name: self.name.clone(),
            file: self.log_file(),
            hub: self.host.inner.hub.clone(),
            matcher: self.log.clone().map(|re| (re, gate.clone())),
            ctx: ctx.clone(),
        });
        let mut readers = Vec::with_capacity(2);
        if let Some(out) = stdout {
            readers.push(tokio::spawn(capture(out, Stream::Out, sink.clone())));
        }
        if let Some(err) = stderr {
            readers.push(tokio::spawn(capture(err, Stream::Err, sink)));
        }

        let stopped = tokio::select! {
            _ = group.exited() => false,
            _ = ctx.stopped() => true,
        };
        if stopped {
            group.signal(self.stop_signal);
            let grace = ctx.stop_timeout();
            if tokio::time::timeout(grace, group.exited()).await.is_err() {
                group.signal(libc::SIGKILL);
                group.exited().await;
            }
        }
        let status = group.finish().await;
        drop(registration);

        let drained = futures_util::future::join_all(readers.iter_mut());
        if tokio::time::timeout(DRAIN_LIMIT, drained).await.is_err() {
            tracing::warn!(
                component = %self.name,
                "a process outside the component's group still holds its output; no longer reading it"
            );
            readers.iter().for_each(|r| r.abort());
        }

        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failure::new("exit", program, describe_exit(status))),
            Err(e) => Err(Failure::new("exit", program, format!("cannot wait: {e}"))),
        }
    }
}
