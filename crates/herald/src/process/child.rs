//! [`Process`]: a child process as a [`Component`].
//!
//! One run spawns the command in its own process group, reports its pid, captures its output,
//! and waits for it to exit or to be told to stop. Stopping sends `stop_signal` to the whole
//! group, waits up to `stop_timeout`, then sends SIGKILL to the group. Whenever the leader
//! has exited (crash or stop) the rest of its group is killed too, so no grandchild is left.
//! The run returns only once both output pipes are drained and the log file flushed.
//!
//! The child is started by `sys/spawn.rs` and its group looked after by `sys/group.rs`.

use super::ProcessHost;
use super::capture::{Sink, capture};
use super::logs::{LogFile, LogRetention, Stream};
use super::notify::{Listener, Registration};
use super::ready::Gate;
use crate::sys::signals::describe_exit;
use crate::sys::spawn::{Command, Spawned};
use crate::{BoxFuture, CheckKind, Component, Context, Failure, Probe, Readiness};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long to keep reading output after the group was killed, in case a process that left
/// the group still holds a pipe.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

// A stopped run finishes its drain before the engine would abort it.
const _: () = assert!(DRAIN_LIMIT.as_millis() < crate::supervisor::STOP_SLACK.as_millis());

/// The output readers of one run, aborted when dropped: on every path out of a run (its end,
/// an abort of the run itself), nothing is left reading its pipes and writing its log.
struct Readers([tokio::task::JoinHandle<()>; 2]);

impl Drop for Readers {
    fn drop(&mut self) {
        self.0.iter().for_each(|r| r.abort());
    }
}

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
    pub logs: LogRetention,
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
            (true, None) => Some((CheckKind::Notify, address())),
            (false, Some(re)) => Some((CheckKind::Log, re.as_str().to_string())),
            (true, Some(re)) => Some((
                CheckKind::NotifyAndLog,
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

impl Inner {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).env_remove("NOTIFY_SOCKET");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.env("HERALD_COMPONENT", &*self.name);
        if self.notify {
            cmd.env("NOTIFY_SOCKET", self.host.inner.notify.address());
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd
    }

    fn log_file(&self) -> Arc<Mutex<LogFile>> {
        self.file
            .get_or_init(|| {
                let path = self.host.log_path(&self.name);
                Arc::new(Mutex::new(LogFile::open(path, self.logs)))
            })
            .clone()
    }

    async fn run(self: Arc<Self>, ctx: Context) -> Result<(), Failure> {
        let program = self.argv[0].clone();
        let Spawned {
            mut group,
            stdout,
            stderr,
        } = self
            .command()
            .spawn(Some(self.host.inner.containment.clone()))
            .await
            .map_err(|e| Failure::new(CheckKind::Spawn, &program, e.to_string()))?;
        let pid = group.pgid();

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
        let mut readers = Readers([
            tokio::spawn(capture(stdout, Stream::Out, sink.clone())),
            tokio::spawn(capture(stderr, Stream::Err, sink)),
        ]);

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

        let drained = futures_util::future::join_all(readers.0.iter_mut());
        if tokio::time::timeout(DRAIN_LIMIT, drained).await.is_err() {
            tracing::warn!(
                component = %self.name,
                "a process outside the component's group still holds its output; no longer reading it"
            );
        }
        drop(readers);

        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failure::new(
                CheckKind::Exit,
                program,
                describe_exit(status),
            )),
            Err(e) => Err(Failure::new(
                CheckKind::Exit,
                program,
                format!("cannot wait: {e}"),
            )),
        }
    }
}
